"""donkey-saliency: see README.md. The build copies donkey_saliency_hook.pth into site-packages (see _donkey_saliency_hook.py)."""
import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
HOOK_PTH = 'donkey_saliency_hook.pth'


class BuildWithHook(build_py):
    """build_py that also places the start-up hook's .pth file at the top of the wheel (= site-packages).

    An editable wheel ignores build_lib and is assembled in install.install_lib, so the file goes there instead.
    """

    def run(self):
        super().run()
        folder = self.build_lib
        if getattr(self, 'editable_mode', False):
            folder = self.get_finalized_command('install').install_lib
        self.copy_file(os.path.join(HERE, HOOK_PTH), os.path.join(folder, HOOK_PTH))


setup(
    name='donkey-saliency',
    version='0.1.0',
    description='Saliency maps for donkeycar pilots: `donkey saliency` videos from tubs, live on the car, and a '
                'Python API',
    long_description=open(os.path.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    license='MIT',
    python_requires='>=3.11,<3.14',
    packages=find_packages(include=['donkey_saliency', 'donkey_saliency.*']),
    py_modules=['_donkey_saliency_hook'],
    package_data={'donkey_saliency': ['sample_data/pilot.h5', 'sample_data/tub/*.json', 'sample_data/tub/*.catalog*',
                                      'sample_data/tub/images/*.jpg', 'offline/report/template.html']},
    # the core and the Python API: no donkeycar, so they install on upstream donkeycar's newer Pythons too
    install_requires=[
        'numpy>=1.25',
        'opencv-contrib-python-headless',
        'moviepy>=2,<3',
        'tqdm',
    ],
    extras_require={
        # the `donkey saliency` command on donkeycar 5.3 (Python 3.11): donkeycar[pc] minus albumentations, which
        # would pull in a second OpenCV distribution
        'pc': ['donkeycar==5.3.*', 'numpy<2', 'tensorflow==2.15.*', 'opencv-contrib-python-headless==4.9.*'],
        # tflite-runtime: the Pi's TFLite runtime (as in donkeycar[pi]), for the tests of the TensorFlow-free path
        'test': ['pytest', 'pytest-timeout', 'tflite-runtime'],
    },
    entry_points={'console_scripts': ['donkey-saliency = donkey_saliency.cli:console']},
    cmdclass={'build_py': BuildWithHook},
)
