"""The advice as what to paste: the lines for myconfig.py, the mirror command with the tub's own path, the
`donkey train` command that trains on the advice, and the report that compares the new pilot with this one.

Paths are the user's own (the tubs as given, the model's folder), so that each line runs as it stands from the
car's folder; the mirror goes beside the first tub, under a name no file has yet.
"""
import os
import shlex

TRAINED_SUFFIXES = ('.h5', '.keras')  # what `donkey train --model` writes (5.3: .h5; 5.4: .keras)


def fix(advice, model, kind, tubs, transformations, exists=os.path.exists):
    """{'myconfig': lines, 'commands': {name: command}} for a pilot's advice (empty when it suggests nothing).
    `kind`: the pilot's donkeycar type, which the new one is trained as (donkey train's default is the car's
    DEFAULT_MODEL_TYPE); `transformations`: the car's TRANSFORMATIONS today, which the crop joins."""
    myconfig, commands = [], {}
    if advice['roi_crop_top'] is not None:
        steps = list(transformations) + ([] if 'CROP' in transformations else ['CROP'])
        myconfig = [f'ROI_CROP_TOP = {advice["roi_crop_top"]}', f'TRANSFORMATIONS = {steps!r}']
    if not myconfig and not advice['flip_augmentation']:
        return {'myconfig': [], 'commands': {}}
    train_on = list(tubs)
    if advice['flip_augmentation']:
        mirror = free_name(tubs[0].rstrip('/\\') + '_mirror', exists)
        commands['mirror'] = ' '.join(['donkey saliency mirror'] + [f'--tub {shlex.quote(t)}' for t in tubs] +
                                      [f'--out {shlex.quote(mirror)}'])
        train_on.append(mirror)
    stem, suffix = os.path.splitext(model.rstrip('/\\'))
    new = free_name(stem + ('_cropped' if myconfig else '') + ('_mirrored' if advice['flip_augmentation'] else '') +
                    (suffix if suffix in TRAINED_SUFFIXES else '.h5'), exists)
    commands['train'] = (f'donkey train --tub {shlex.quote(",".join(train_on))} --model {shlex.quote(new)} '
                         f'--type {kind}')
    commands['compare'] = ' '.join(['donkey saliency report'] + [f'--tub {shlex.quote(t)}' for t in tubs] +
                                   [f'--model {shlex.quote(model)} {shlex.quote(new)}'])
    return {'myconfig': myconfig, 'commands': commands}


def free_name(path, exists=os.path.exists):
    """`path`, or with _2, _3, ... before its suffix: the first name nothing has."""
    stem, suffix = os.path.splitext(path) if os.path.splitext(path)[1] in TRAINED_SUFFIXES else (path, '')
    candidate, n = path, 1
    while exists(candidate):
        n += 1
        candidate = f'{stem}_{n}{suffix}'
    return candidate
