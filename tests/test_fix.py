"""The advice as what to paste (offline/report/fix.py), on hand-made advice: every command names this run's own
paths and settings, a crop keeps the old config aside and gives each pilot its own in the comparison, a doubtful
edge gets nothing to paste, and no name is taken twice."""
import pytest

from donkey_saliency.offline.report.fix import fix, free_name

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)

RUN = {'tubs': ['data/tub_1'], 'config': None, 'transformations': [], 'type': None, 'imu_lateral': 'y', 'start': 0,
       'end': -1}


def advice(crop=None, flip=False, choices=None, doubtful=False):
    return {'roi_crop_top': crop, 'flip_augmentation': flip, 'crop_choices': choices, 'edge_doubtful': doubtful}


def test_nothing_suggested_nothing_to_paste():
    assert fix(advice(), 'models/p.h5', 'linear', RUN) == {'myconfig': [], 'myconfig_alternative': [], 'commands': {}}


def test_the_flip_mirrors_this_tub_beside_it_and_trains_this_type_on_both():
    found = fix(advice(flip=True), 'models/p.h5', 'categorical', dict(RUN, tubs=['data/tub_1', 'data/tub_2']),
                exists=lambda path: False)
    assert found['myconfig'] == []
    assert found['commands'] == {
        'mirror': 'donkey saliency mirror --tub data/tub_1 --tub data/tub_2 --out data/tub_1_mirror',
        'train': 'donkey train --tub data/tub_1,data/tub_2,data/tub_1_mirror --model models/p_mirrored.h5 '
                 '--type categorical',
        'compare': 'donkey saliency report --tub data/tub_1 --tub data/tub_2 --model models/p.h5 '
                   'models/p_mirrored.h5'}


def test_a_crop_keeps_the_old_config_and_compares_each_pilot_with_its_own():
    run = dict(RUN, config='car/config.py', transformations=['TRAPEZE'])
    found = fix(advice(crop=45), 'car/models/p.keras', 'linear', run, exists=lambda path: path == 'car/config.py')
    assert found['myconfig'] == ['ROI_CROP_TOP = 45', "TRANSFORMATIONS = ['TRAPEZE', 'CROP']"]
    commands = found['commands']
    assert commands['keep'] == 'mkdir -p car/before_crop && cp car/config.py car/before_crop/'  # no myconfig.py there
    assert commands['train'] == ('donkey train --tub data/tub_1 --model car/models/p_cropped.keras --type linear '
                                 '--config car/config.py')
    assert commands['compare'].endswith('--model car/models/p.keras car/models/p_cropped.keras --config '
                                        'car/before_crop/config.py --config car/config.py')
    assert list(commands) == ['keep', 'train', 'compare']


def test_both_crops_of_the_walls_line_get_their_lines():
    found = fix(advice(crop=45, choices=[45, 17]), 'p.h5', 'linear', dict(RUN, transformations=['CROP']))
    assert found['myconfig'] == ['ROI_CROP_TOP = 45', "TRANSFORMATIONS = ['CROP']"]
    assert found['myconfig_alternative'] == ['ROI_CROP_TOP = 17', "TRANSFORMATIONS = ['CROP']"]


def test_a_crop_on_a_doubtful_edge_has_nothing_to_paste_but_the_flip():
    assert fix(advice(crop=110, doubtful=True), 'p.h5', 'linear', RUN)['commands'] == {}
    found = fix(advice(crop=110, flip=True, doubtful=True), 'p.h5', 'linear', RUN, exists=lambda path: False)
    assert found['myconfig'] == [] and found['commands']['train'].startswith('donkey train --tub '
                                                                             'data/tub_1,data/tub_1_mirror --model '
                                                                             'p_mirrored.h5')


def test_the_runs_own_settings_are_repeated_and_defaults_left_out():
    run = dict(RUN, config='config.py', type='tflite_linear', imu_lateral='x', start=100, end=900)
    commands = fix(advice(flip=True), 'p.tflite', 'linear', run, exists=lambda path: False)['commands']
    assert commands['mirror'] == 'donkey saliency mirror --tub data/tub_1 --out data/tub_1_mirror --imu-lateral x'
    assert commands['train'] == 'donkey train --tub data/tub_1,data/tub_1_mirror --model p_mirrored.h5 --type linear'
    assert commands['compare'] == ('donkey saliency report --tub data/tub_1 --model p.tflite p_mirrored.h5 --type '
                                   'tflite_linear --imu-lateral x --start 100 --end 900')


def test_a_name_already_taken_gets_the_next_number():
    taken = {'data/tub_1_mirror', 'data/tub_1_mirror_2', 'models/p_mirrored.h5'}
    assert free_name('data/tub_1_mirror', taken.__contains__) == 'data/tub_1_mirror_3'
    assert free_name('models/p_mirrored.h5', taken.__contains__) == 'models/p_mirrored_2.h5'
    assert free_name('models/p_new.h5', taken.__contains__) == 'models/p_new.h5'
    assert "'my tubs/a'" in fix(advice(flip=True), 'p.h5', 'linear', dict(RUN, tubs=['my tubs/a']))['commands'][
        'mirror']  # quoted for the shell
