"""Packaging: the built wheel carries the `donkey` hook; the environment holds exactly one OpenCV."""
import importlib.metadata
import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT


def test_exactly_one_opencv_distribution():
    names = {dist.metadata['Name'].lower() for dist in importlib.metadata.distributions()}
    assert sorted(n for n in names if n.startswith('opencv')) == ['opencv-contrib-python-headless']


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    folder = tmp_path_factory.mktemp('wheel')
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q',
                    '-w', str(folder), str(ROOT)], check=True, timeout=300)
    return next(folder.glob('donkey_saliency-*.whl'))


def test_wheel_puts_the_hook_at_the_top_of_site_packages(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert 'donkey_saliency_hook.pth' in names and '_donkey_saliency_hook.py' in names
    assert 'donkey_saliency/sample_data/pilot.h5' in names
    assert sum(n.startswith('donkey_saliency/sample_data/tub/images/') for n in names) == 400
    pth = zipfile.ZipFile(wheel).read('donkey_saliency_hook.pth').decode()
    assert pth.strip() == 'import _donkey_saliency_hook'


def test_hook_from_the_wheel_routes_only_saliency(wheel, tmp_path):
    """A site dir holding just the unpacked wheel: its .pth runs, and donkey's dispatcher gains `saliency`."""
    site = tmp_path / 'site'
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        'import site, sys\n'
        f'site.addsitedir({str(site)!r})\n'
        'from donkeycar.management import base\n'
        'sys.argv = ["donkey", "saliency", "--help"]\n'
        'try:\n'
        '    base.execute_from_command_line()\n'
        'except SystemExit as exit:\n'
        '    print("exit", exit.code)\n'
        'import donkey_saliency\n'
        f'assert donkey_saliency.__file__.startswith({str(site)!r}), donkey_saliency.__file__\n'
        'sys.argv = ["donkey", "no-such-command"]\n'
        'base.execute_from_command_line()\n'
    )
    result = subprocess.run([sys.executable, '-S', '-c', probe], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env={'PYTHONPATH': ':'.join(p for p in sys.path if 'site-packages' in p)})
    assert result.returncode == 0, result.stderr
    assert 'usage: donkey saliency' in result.stdout and 'exit 0' in result.stdout
    assert 'The available commands are' in result.stderr  # other words still go to donkeycar


def test_help_imports_nothing_heavy():
    probe = ('import sys\nfrom donkey_saliency.cli import main\n'
             'try:\n    main(["--help"])\nexcept SystemExit:\n    pass\n'
             'heavy = [m for m in ("tensorflow", "keras", "donkeycar", "moviepy", "cv2") if m in sys.modules]\n'
             'print("heavy:", heavy)\n')
    result = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True, timeout=60)
    assert 'heavy: []' in result.stdout, result.stdout + result.stderr
