"""Whether `donkey saliency` reaches this package here, and how to repair it when it does not.

donkeycar's `donkey` gains `saliency` only through donkey_saliency_hook.pth, which Python runs at start-up from
site-packages. An install route that skipped the file (pip's old `setup.py develop`) or a deleted file leaves
`donkey saliency` printing donkeycar's command list; `donkey-saliency` and `python -m donkey_saliency` still work,
so they are where the user can be told.
"""
import importlib.util
import sys

HOOK_MODULE = '_donkey_saliency_hook'  # what donkey_saliency_hook.pth imports


def missing_hook_line(prog):
    """One line when donkeycar is installed but the hook did not run at this interpreter's start, else None."""
    if HOOK_MODULE in sys.modules or importlib.util.find_spec('donkeycar') is None:
        return None
    return (f'{prog}: note: `donkey saliency` will not run this tool in this environment (donkey_saliency_hook.pth '
            f'is missing from site-packages); repair it with: {repair_command()}')


def repair_command():
    """Reinstall from where this package was installed from: pip and uv record it in direct_url.json (PEP 610).
    A source folder's own egg-info (first on sys.path when run from there) records nothing, so it is passed over.
    Its imports live here, so a run with the hook in place never pays for importlib.metadata."""
    import importlib.metadata
    import json
    import shlex
    import urllib.parse
    import urllib.request
    python = shlex.quote(sys.executable)
    pip = f'{python} -m pip install --force-reinstall --no-deps'
    if importlib.util.find_spec('pip') is None:  # a venv that uv made has no pip
        pip = f'uv pip install --python {python} --reinstall --no-deps'
    origins = (dist.read_text('direct_url.json') for dist in importlib.metadata.distributions(name='donkey-saliency'))
    origin = json.loads(next(filter(None, origins), '{}'))
    url = origin.get('url', '')
    if not url.startswith('file:'):
        return f'(in the donkey-saliency folder) {pip} .'
    folder = urllib.request.url2pathname(urllib.parse.urlparse(url).path)
    editable = '-e ' if origin.get('dir_info', {}).get('editable') else ''
    return f'{pip} {editable}{shlex.quote(folder)}'
