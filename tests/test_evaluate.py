"""Can a map be trusted: deletion and insertion against a random order, with known answers on the sample road,
an independent per-step loop, maps made elsewhere, and .tflite pilots."""
import json
import subprocess
import sys

import numpy as np
import pytest

import donkey_saliency as ds
from donkey_saliency import sample
from donkey_saliency.core import metrics

FRAMES = range(0, 400, 16)


@pytest.fixture(scope='module')
def road():
    import cv2
    images = np.stack([cv2.cvtColor(cv2.imread(f'{sample.TUB}/images/{i}_cam_image_array_.jpg'), cv2.COLOR_BGR2RGB)
                       for i in FRAMES])
    pilot = ds.load_pilot(sample.MODEL)
    return pilot, images, ds.saliency(pilot, images, method='vbp').raw


def test_known_answers_on_the_sample_road(road):
    """The pilot steers by the lane lines, which VBP finds: its maps beat a random order by far; the same maps
    turned upside down lose to it; random maps tie with it (the verdict does not take a tie for a win)."""
    pilot, images, raw = road
    noise = np.random.default_rng(5).random(raw.shape)
    found = ds.evaluate(pilot, images, {'vbp': raw, 'inverted': raw.max() - raw, 'noise': noise})['outputs']['angle']
    vbp, inverted, tie = found['vbp'], found['inverted'], found['noise']
    assert vbp['beats_random'] and vbp['deletion_auc'] < 0.5 * vbp['random_deletion_auc']
    assert vbp['insertion_auc'] > 1.3 * vbp['random_insertion_auc']
    assert not inverted['beats_random']
    assert inverted['deletion_auc'] > inverted['random_deletion_auc']
    assert inverted['insertion_auc'] < inverted['random_insertion_auc']
    # two random orders differ by chance only: measured 0.001-0.006 on these 25 frames
    assert abs(tie['deletion_auc'] - tie['random_deletion_auc']) < 0.05 and not tie['beats_random']


def test_the_curves_equal_a_plain_loop_over_steps(road):
    """Written separately: one image per step, pixels replaced one index at a time, the output one at a time."""
    pilot, images, raw = road
    frames = images[:3].astype(np.float32) / 255
    score = pilot.score('angle', np)
    base = metrics.substrate_of(frames, 'blur')
    steps = 8
    got = metrics.curves(lambda inputs: score(pilot.predict(inputs)), frames, metrics.pixel_order(raw[:3]), base,
                         steps)
    for i in range(3):
        order = np.argsort(-np.abs(raw[i]).ravel(), kind='stable')
        total = order.size
        outputs = []
        for k in range(steps + 1):
            image = frames[i].reshape(total, 3).copy()
            for index in order[:int(round(k * total / steps))]:
                image[index] = base[i].reshape(total, 3)[index]
            outputs.append(float(score(pilot.predict([image.reshape(frames[i].shape)[None]]))[0]))
        original, empty = outputs[0], outputs[-1]
        expected = [1 - min(1, abs(o - original) / (abs(empty - original) + 1e-6)) for o in outputs]
        np.testing.assert_allclose(got.deletion[i], expected, atol=1e-5)
        assert expected[0] == 1 and expected[-1] == pytest.approx(0, abs=1e-5)


def test_randomisation_flags_the_model_free_control_and_not_gradients(road):
    """Maps that survive re-initialising the pilot are not about it: the spectral residual (which never looks at
    the pilot) keeps a rank correlation of 1, gradients fall to about 0 (measured 0.00 on 10 frames); VBP keeps
    its map while only the dense head is randomised (it ignores the head) and loses it with the convs."""
    from donkey_saliency.core import randomisation
    from donkey_saliency.core.engine import Engine, requests_for
    pilot, images, _ = road
    x = [images[:8].astype(np.float32) / 255]
    requests = [requests_for(m)[0][0] for m in ('gradients', 'spectral-residual', 'vbp')]
    _, original = Engine(pilot, requests, {})(x)
    found = randomisation.check(pilot, x, requests, {}, original)
    assert found['spectral-residual']['flagged'] and found['spectral-residual']['rank_correlation'] > 0.99
    assert not found['gradients']['flagged'] and found['gradients']['rank_correlation'] < 0.3
    vbp = found['vbp']
    first_conv = vbp['layers'].index('conv2d_5')  # the deepest conv: the stages before it touch only the head
    assert min(vbp['stages'][:first_conv]) > 0.99 and vbp['rank_correlation'] < randomisation.FLAG_AT


def plain_average_ranks(values):
    """Ranks 1..n, equal values sharing the mean of the ranks they span: a loop, written from the definition."""
    flat = list(np.ravel(values))
    order = sorted(range(len(flat)), key=lambda i: flat[i])
    ranks = [0.0] * len(flat)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and flat[order[end + 1]] == flat[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return np.array(ranks)


def test_spearman_matches_a_plain_rank_correlation_with_ties():
    """Maps have wide areas of exact zeros: tied values share their rank (not broken by pixel position)."""
    from donkey_saliency.core.randomisation import spearman
    rng = np.random.default_rng(3)
    a, b = rng.random((20, 30)), rng.random((20, 30))
    b[:10] = a[:10] * 2 + 1  # half of it monotone in a
    a[a < 0.6] = 0.0  # most of a is exactly zero
    expected = np.corrcoef(plain_average_ranks(a), plain_average_ranks(b))[0, 1]
    assert spearman(a, b) == pytest.approx(expected, abs=1e-9)
    assert spearman(a, a) == pytest.approx(1.0) and spearman(a, np.zeros_like(a)) == 0.0


def evaluate(*args):
    return subprocess.run([sys.executable, '-m', 'donkey_saliency', 'evaluate', *map(str, args)],
                          capture_output=True, text=True, timeout=600)


def test_the_command_with_maps_made_elsewhere_and_its_json(small_tub, tmp_path):
    made = subprocess.run([sys.executable, '-m', 'donkey_saliency', '--no-progress', '--tub', str(small_tub),
                           '--model', sample.MODEL, '--out', str(tmp_path / 'v.mp4'), '--save-maps',
                           str(tmp_path / 'elsewhere.npz')], capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr
    result = evaluate('--tub', small_tub, '--model', sample.MODEL, '--method', 'vbp,gradcam', '--maps',
                      tmp_path / 'elsewhere.npz', '--frames', 10, '--steps', 8, '--json', tmp_path / 'r.json',
                      '--no-randomisation')
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / 'r.json').read_text())
    assert saved['frames'] == 10 and saved['steps'] == 8 and saved['substrate'] == 'blur'
    found = saved['outputs']['angle']
    assert set(found) == {'maps', 'vbp', 'gradcam'}
    for scores in found.values():
        assert set(scores) == {'deletion_auc', 'insertion_auc', 'random_deletion_auc', 'random_insertion_auc',
                               'beats_random'}
    assert found['maps']['deletion_auc'] == pytest.approx(found['vbp']['deletion_auc'], abs=0.02)  # the same VBP
    assert any(line.startswith('angle    vbp') and line.endswith('ok') for line in result.stdout.splitlines())


def test_a_tflite_pilot_is_evaluated_through_its_outputs(small_tub, sample_files, tmp_path):
    result = evaluate('--tub', small_tub, '--model', sample_files['plain'], '--method', 'vbp,occlusion',
                      '--frames', 6, '--steps', 4, '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / 'r.json').read_text())
    assert set(saved['outputs']['angle']) == {'vbp', 'occlusion'} and saved['randomisation'] is None
    assert 'randomisation check: not run' in result.stdout and 'needs the Keras file' in result.stdout


@pytest.mark.parametrize('flags, phrase', [(['--substrate', 'grey'], 'unknown --substrate'),
                                           (['--method', 'magic'], "unknown method 'magic'"),
                                           (['--maps', 'missing.npz'], 'maps file not found')])
def test_bad_input_is_one_line(small_tub, tmp_path, flags, phrase):
    result = evaluate('--tub', small_tub, '--model', sample.MODEL, '--json', tmp_path / 'r.json', *flags)
    assert result.returncode == 2 and phrase in result.stderr and 'Traceback' not in result.stderr
    assert not (tmp_path / 'r.json').exists()
