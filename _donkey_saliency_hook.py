"""Adds `saliency` to donkeycar's `donkey` command without changing any donkeycar file.

Python runs this at start-up from `donkey_saliency_hook.pth`. It only puts one finder on sys.meta_path; when
(and only when) donkeycar.management.base is imported, the finder wraps its `execute_from_command_line` so that
`donkey saliency ...` goes to this package and every other command to donkeycar. When the process is
`donkey saliency`, the finder also imports the donkeycar package with its ASCII banner kept off stdout, so that
`donkey saliency --help` shows this command's help alone. Reinstalling donkeycar keeps it; uninstalling this
package removes the .pth and this module together.
"""
import importlib.abc
import importlib.util
import os
import sys

TARGET = 'donkeycar.management.base'
SUMMARY = 'where a pilot looks: saliency videos of tubs, maps on the car (donkey saliency --help)'


def _is_donkey_saliency():
    """`donkey saliency ...`: the `donkey` script (donkey-script.py, donkey.exe on Windows) with `saliency`."""
    script = os.path.basename(sys.argv[0]).split('.')[0] if sys.argv else ''
    return script in ('donkey', 'donkey-script') and sys.argv[1:2] == ['saliency']


def _route_saliency(loader, module):
    loader.exec_module(module)
    donkey = getattr(module, 'execute_from_command_line', None)
    if donkey is None:  # a donkeycar whose `donkey` dispatches otherwise: leave it as it is, say so once
        if sys.argv[1:2] == ['saliency']:
            version = getattr(sys.modules.get('donkeycar'), '__version__', '?')
            print(f'donkey saliency: donkeycar {version} has no execute_from_command_line to plug into; run '
                  f'`donkey-saliency {" ".join(sys.argv[2:])}` instead', file=sys.stderr)
            sys.exit(2)
        return

    def execute_from_command_line():
        if len(sys.argv) > 1 and sys.argv[1] == 'saliency':
            from donkey_saliency.cli import main
            return main(sys.argv[2:], prog='donkey saliency')
        result = donkey()
        if len(sys.argv) < 2 or sys.argv[1] in ('-h', '--help', 'help'):  # donkeycar printed its command list
            print(f"and from donkey-saliency: ['saliency']  {SUMMARY}", file=sys.stderr)
        return result
    execute_from_command_line.__doc__ = donkey.__doc__
    module.execute_from_command_line = execute_from_command_line


def _without_banner(loader, module):
    """donkeycar prints its banner to stdout on import; errors (stderr, exceptions) still show."""
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        loader.exec_module(module)


class _WrappingLoader(importlib.abc.Loader):
    def __init__(self, inner, execute):
        self.inner, self.execute = inner, execute

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        self.execute(self.inner, module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == TARGET:
            execute = _route_saliency
        elif name == 'donkeycar' and _is_donkey_saliency():
            execute = _without_banner
        else:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is not None and spec.loader is not None:
            spec.loader = _WrappingLoader(spec.loader, execute)
        return spec


if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
    sys.meta_path.insert(0, _Finder())
