"""The one build step pyproject.toml cannot say: copy donkey_saliency_hook.pth to the top of the wheel (see
_donkey_saliency_hook.py). Every install goes through it, as pyproject.toml makes pip and uv use PEP 517/660."""
import os

from setuptools import setup
from setuptools.command.build_py import build_py

HOOK_PTH = 'donkey_saliency_hook.pth'


class BuildWithHook(build_py):
    """build_py that also places the start-up hook's .pth file at the top of the wheel (= site-packages).

    An editable wheel (PEP 660) ignores build_lib and is assembled in install.install_lib, so the file goes there.
    """

    def run(self):
        super().run()
        folder = self.build_lib
        if getattr(self, 'editable_mode', False):
            folder = self.get_finalized_command('install').install_lib
        self.copy_file(os.path.join(os.path.dirname(os.path.abspath(__file__)), HOOK_PTH),
                       os.path.join(folder, HOOK_PTH))


setup(cmdclass={'build_py': BuildWithHook})
