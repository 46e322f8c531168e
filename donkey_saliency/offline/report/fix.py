"""The advice as what to paste: the lines for myconfig.py, the mirror command with the tub's own path, the
`donkey train` command that trains on the advice, and the report that compares the new pilot with this one.

Paths are the user's own (the tubs and the config as given, the model's folder), so that each line runs as it
stands from where the report ran; the mirror goes beside the first tub, under a name no file has yet. A crop
changes the car's config, which the old pilot must not be read with: its config is copied aside first, and the
comparison gives each pilot its own.
"""
import os
import shlex

TRAINED_SUFFIXES = ('.h5', '.keras')  # what `donkey train --model` writes (5.3: .h5; 5.4: .keras)
KEPT = 'before_crop'  # the folder beside the car's config that keeps the config the old pilot was trained with


def fix(advice, model, kind, run, exists=os.path.exists):
    """{'myconfig', 'myconfig_alternative', 'commands'} for a pilot's advice (empty when it suggests nothing, or
    when its crop rests on a doubtful edge). `kind`: the pilot's donkeycar type, which the new one is trained as;
    `run`: the report's own settings the commands repeat: tubs, config (the car's config.py or None),
    transformations (its TRANSFORMATIONS today, which the crop joins), type, imu_lateral, start, end."""
    crop = advice['roi_crop_top'] is not None and not advice.get('edge_doubtful')
    if not crop and not advice['flip_augmentation']:
        return {'myconfig': [], 'myconfig_alternative': [], 'commands': {}}
    tubs, config = list(run['tubs']), run['config']
    steps = list(run['transformations']) + ([] if 'CROP' in run['transformations'] else ['CROP'])
    lines = [[f'ROI_CROP_TOP = {row}', f'TRANSFORMATIONS = {steps!r}'] for row in
             ((advice.get('crop_choices') or [advice['roi_crop_top']]) if crop else [])]
    commands = {}
    if crop and config:
        folder = os.path.dirname(config) or '.'
        kept = [name for name in ('config.py', 'myconfig.py') if exists(os.path.join(folder, name))]
        aside = _q(os.path.join(folder, KEPT))
        commands['keep'] = (f'mkdir -p {aside} && cp ' + ' '.join(_q(os.path.join(folder, name)) for name in kept) +
                            f' {aside}/')
    train_on = list(tubs)
    if advice['flip_augmentation']:
        mirror = free_name(tubs[0].rstrip('/\\') + '_mirror', exists)
        commands['mirror'] = ' '.join(['donkey saliency mirror'] + [f'--tub {_q(t)}' for t in tubs] +
                                      [f'--out {_q(mirror)}'] + _same(run, 'config', 'imu_lateral'))
        train_on.append(mirror)
    stem, suffix = os.path.splitext(model.rstrip('/\\'))
    new = free_name(stem + ('_cropped' if crop else '') + ('_mirrored' if advice['flip_augmentation'] else '') +
                    (suffix if suffix in TRAINED_SUFFIXES else '.h5'), exists)
    commands['train'] = ' '.join([f'donkey train --tub {_q(",".join(train_on))} --model {_q(new)} --type {kind}'] +
                                 _same(run, 'config'))
    configs = ([f'--config {_q(os.path.join(os.path.dirname(config) or ".", KEPT, "config.py"))}',
                f'--config {_q(config)}'] if crop and config else _same(run, 'config'))
    commands['compare'] = ' '.join(['donkey saliency report'] + [f'--tub {_q(t)}' for t in tubs] +
                                   [f'--model {_q(model)} {_q(new)}'] + configs +
                                   _same(run, 'type', 'imu_lateral', 'start', 'end'))
    return {'myconfig': lines[0] if lines else [], 'myconfig_alternative': lines[1] if len(lines) > 1 else [],
            'commands': commands}


DEFAULTS = {'config': None, 'type': None, 'imu_lateral': 'y', 'start': 0, 'end': -1}


def _same(run, *keys):
    """The report's own flags among `keys` that differ from their defaults, to repeat in a command (every command
    here reads ./config.py by default)."""
    def default(key):
        value = run.get(key)
        return value == DEFAULTS[key] or key == 'config' and os.path.abspath(value) == os.path.abspath('config.py')
    return [f'--{key.replace("_", "-")} {_q(str(run[key]))}' for key in keys if not default(key)]


def _q(text):
    return shlex.quote(str(text))


def free_name(path, exists=os.path.exists):
    """`path`, or with _2, _3, ... before its suffix: the first name nothing has."""
    stem, suffix = os.path.splitext(path) if os.path.splitext(path)[1] in TRAINED_SUFFIXES else (path, '')
    candidate, n = path, 1
    while exists(candidate):
        n += 1
        candidate = f'{stem}_{n}{suffix}'
    return candidate
