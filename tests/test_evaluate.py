"""Can a map be trusted: deletion and insertion against a random order, with known answers on the sample road,
an independent per-step loop, maps made elsewhere, and .tflite pilots."""
import json
import subprocess
import sys

import numpy as np
import pytest

import donkey_saliency as ds
from conftest import run_cli, run_main
from donkey_saliency import sample
from donkey_saliency.core import metrics
from donkey_saliency.core.methods import METHODS

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)

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
                         steps, chunk=2)  # (chunks that do not divide the frames)
    plain = []
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
        plain.append(expected)
    # the AUC: the mean over the steps 0..steps (the unchanged frame's 1 included) and the frames
    assert got.deletion_auc == pytest.approx(sum(map(sum, plain)) / (3 * (steps + 1)), abs=1e-5)


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


def linear_road(frames=60, seed=0):
    """A pilot known by construction: its output is the weighted sum of the pixels (weights > 0, frames > 0, a
    black substrate), so any pixel taken moves it the same way and a random order has a known expectation.
    (frames, substrate, predict, weights)."""
    rng = np.random.default_rng(seed)
    images = rng.random((frames, 12, 16, 3)).astype(np.float32)
    weights = rng.random((12, 16, 1)).astype(np.float32)
    return (images, metrics.substrate_of(images, 'black'), lambda inputs: (inputs[0] * weights).sum(axis=(1, 2, 3)),
            weights)


def test_one_unlucky_seed_says_beats_and_five_orders_do_not():
    """A map that is itself a random order cannot beat random. Per frame the unluckiest of 40 random orders (the
    highest deletion minus insertion) makes a single baseline it seems to beat by far; among five orders that
    one's spread shows, and the verdict does not hang on it. A map by the true contributions beats all five."""
    images, base, predict, weights = linear_road()
    steps, shape = 8, images.shape[1:3]
    candidates = [metrics.curves(predict, images, metrics.random_order(len(images), shape, 100 + j), base, steps)
                  for j in range(40)]
    candidate_orders = [metrics.random_order(len(images), shape, 100 + j) for j in range(40)]
    luck = np.array([c.deletion.mean(axis=1) - c.insertion.mean(axis=1) for c in candidates])  # (40, frames)
    frames = np.arange(len(images))
    unlucky_order = np.stack([candidate_orders[j][i] for i, j in zip(frames, luck.argmax(axis=0))])
    typical_order = np.stack([candidate_orders[j][i] for i, j in zip(frames, np.argsort(luck, axis=0)[20])])
    unlucky = metrics.curves(predict, images, unlucky_order, base, steps)
    typical = metrics.curves(predict, images, typical_order, base, steps)
    others = [metrics.curves(predict, images, order, base, steps)
              for order in metrics.random_orders(len(images), shape, 4)]
    assert metrics.beats(typical, [unlucky])  # what one unlucky seed says
    assert not metrics.beats(typical, [unlucky] + others)  # five orders, the unlucky one among them
    truth = weights[..., 0] * images.sum(axis=3)  # each pixel's share of the output
    ideal = metrics.curves(predict, images, metrics.pixel_order(truth), base, steps)
    assert metrics.beats(ideal, [unlucky] + others) and metrics.beats(ideal, others)


def xplique_deletion_scores(predict, images, explanations, baseline, steps):
    """Xplique's CausalFidelity.detailed_evaluate (deletion), rewritten from its source: per step
    linspace(0, H*W, steps + 1) as int32, the first pixels of argsort(explanation)[::-1] take the baseline's
    values (all channels), the raw prediction kept; (frames, steps + 1). Its AUC is the trapezoid rule."""
    flat = images.reshape(len(images), -1, images.shape[-1])
    ends = baseline.reshape(flat.shape)
    ranked = np.argsort(explanations.reshape(len(images), -1), axis=-1)[:, ::-1]
    scores = []
    for step in np.linspace(0, flat.shape[1], steps + 1, dtype=np.int32):
        batch = flat.copy()
        for i, ids in enumerate(ranked[:, :step]):
            batch[i, ids] = ends[i, ids]
        scores.append(predict([batch.reshape(images.shape)]))
    return np.array(scores).T


def test_the_curves_agree_with_xplique_deletion_on_a_known_pilot():
    """On the linear pilot with positive maps (|map| = map, 192 pixels in 8 equal steps, no ties), our score is
    Xplique's raw prediction rescaled, s = 1 - |f - f(x)| / |f(x_full) - f(x)|: so is the trapezoid AUC, and ours
    (the mean over the steps 0..8) is the trapezoid's, with the two ends' half weights made whole."""
    images, base, predict, weights = linear_road(frames=6, seed=3)
    maps = np.random.default_rng(8).random(images.shape[:3]) + 0.1
    steps = 8
    ours = metrics.curves(predict, images, metrics.pixel_order(maps), base, steps)
    theirs = xplique_deletion_scores(predict, images, maps, base, steps)
    start, end = theirs[:, :1], theirs[:, -1:]
    np.testing.assert_allclose(ours.deletion, 1 - np.abs(theirs - start) / (np.abs(end - start) + metrics.EPS),
                               atol=1e-5)
    theirs_back = xplique_deletion_scores(predict, base, maps, images, steps)  # insertion: their start and end swap
    np.testing.assert_allclose(ours.insertion, 1 - np.abs(theirs_back - start) / (np.abs(end - start) + metrics.EPS),
                               atol=1e-5)
    for curve, auc in ((ours.deletion, ours.deletion_auc), (ours.insertion, ours.insertion_auc)):
        trapezoid = np.mean(curve[:, :-1] + curve[:, 1:], axis=1) * 0.5
        whole = (steps * trapezoid + (curve[:, 0] + curve[:, -1]) / 2) / (steps + 1)
        assert auc == pytest.approx(whole.mean(), abs=1e-9)


def test_pixels_go_by_magnitude_ties_in_index_order():
    signed = np.array([[[-3.0, 1.0, 2.0, -2.0, 0.0]]])
    assert metrics.pixel_order(signed).tolist() == [[0, 2, 3, 1, 4]]


def test_the_random_orders_are_distinct_and_the_first_is_the_former_baseline():
    orders = metrics.random_orders(3, (4, 5))
    assert len(orders) == metrics.RANDOM_ORDERS and len({o.tobytes() for o in orders}) == metrics.RANDOM_ORDERS
    assert np.array_equal(orders[0], metrics.random_order(3, (4, 5), metrics.RANDOM_SEED))
    assert all(sorted(row) == list(range(20)) for o in orders for row in o)


def test_a_plain_model_is_scored_against_the_mean_of_its_random_orders():
    """ds.evaluate on a plain Keras model (a linear map of the pixels): the random AUCs are the mean of the five
    orders' curves computed here, the verdict is `beats` on them, and blank maps are counted."""
    from donkey_saliency.quiet import import_tensorflow
    tf = import_tensorflow()
    images, _, _, weights = linear_road(frames=10, seed=5)
    model = tf.keras.Sequential([tf.keras.Input((12, 16, 3)), tf.keras.layers.Flatten(),
                                 tf.keras.layers.Dense(1, use_bias=False)])
    model.layers[-1].set_weights([np.repeat(weights, 3, axis=2).reshape(-1, 1)])
    truth = weights[..., 0] * images.sum(axis=3)
    truth[3] = 0.0
    found = ds.evaluate(model, (images * 255).astype(np.uint8), {'truth': truth}, substrate='black', steps=8)
    scores = found['outputs'][0]['truth']
    frames = (images * 255).astype(np.uint8).astype(np.float32) / 255
    base = metrics.substrate_of(frames, 'black')

    def predict(inputs):
        return np.asarray(model(inputs[0]))[:, 0]
    chances = [metrics.curves(predict, frames, order, base, 8) for order in metrics.random_orders(10, (12, 16))]
    assert found['random_orders'] == 5 and scores['blank_frames'] == 1
    assert scores['random_deletion_auc'] == pytest.approx(np.mean([c.deletion_auc for c in chances]), abs=1e-5)
    assert scores['random_insertion_auc'] == pytest.approx(np.mean([c.insertion_auc for c in chances]), abs=1e-5)
    measured = metrics.curves(predict, frames, metrics.pixel_order(truth), base, 8)
    assert scores['deletion_auc'] == pytest.approx(measured.deletion_auc, abs=1e-5)
    assert scores['beats_random'] == metrics.beats(measured, chances) is True


def test_costly_methods_are_checked_on_fewer_frames_within_a_budget():
    from donkey_saliency.core.randomisation import EVALUATIONS, FEWEST, frames_for
    assert frames_for(1, 32) == 32 and frames_for(25, 32) == EVALUATIONS // 25 == 10
    assert frames_for(109, 32) == FEWEST == 8 and frames_for(109, 5) == 5 and frames_for(32, 32) == 8


def test_the_margin_is_two_standard_errors_with_the_orders_spread_and_strict():
    """SE = sqrt(s_f^2 / N + s_o^2 / K) against a plain computation; a difference of exactly two SE is a tie."""
    import statistics
    differences, orders = [3.5, 1.5, 2.0, 4.0], [0.41, 0.47, 0.44, 0.52, 0.40]
    expected = (statistics.stdev(differences) ** 2 / 4 + statistics.stdev(orders) ** 2 / 5) ** 0.5
    assert metrics.standard_error(differences, orders) == pytest.approx(expected, rel=1e-12)
    # [3, 1]: mean 2, frames' SE exactly 1; equal orders add nothing
    assert not metrics.clearly_positive([3.0, 1.0], [0.5, 0.5])
    assert metrics.clearly_positive([3.0 + 1e-9, 1.0 + 1e-9], [0.5, 0.5])
    # the orders' spread counts: 2.5 > 2 x 1, but not > 2 x sqrt(1 + 1)
    assert metrics.clearly_positive([3.5, 1.5], [0.5, 0.5]) and not metrics.clearly_positive([3.5, 1.5], [0, 2])
    # the mean difference (1.78 > 2 x 0.70), not the median (0)
    assert metrics.clearly_positive([0.0] * 5 + [4.0] * 4, [0.5, 0.5])


def test_a_step_past_the_whole_change_scores_zero_not_below():
    """f = 3 p0 - 2 p1 on a frame of two white pixels, black substrate: f(x) = 1, f(x_full) = 0; deleting p0
    first moves f to -2, three times the whole change: the score there is 0 (clipped), and 1 - 1 = 0 at the end."""
    image = np.ones((1, 1, 2, 1), np.float32)
    got = metrics.curves(lambda inputs: 3 * inputs[0][:, 0, 0, 0] - 2 * inputs[0][:, 0, 1, 0], image,
                         np.array([[0, 1]]), np.zeros_like(image), steps=2)
    np.testing.assert_allclose(got.deletion, [[1, 0, 0]], atol=1e-5)
    np.testing.assert_allclose(got.insertion, [[0, 0, 1]], atol=1e-5)  # p0 back alone: f = 3, past it too


def test_beating_random_takes_deletion_and_insertion_both():
    """Deletion far below random with insertion at random (or the reverse) is not a win."""
    rng = np.random.default_rng(4)
    chances = [metrics.Curves(rng.random((30, 9)) * 0.1 + 0.45, rng.random((30, 9)) * 0.1 + 0.45) for _ in range(5)]
    mean = metrics.Curves(np.mean([c.deletion for c in chances], axis=0), np.mean([c.insertion for c in chances],
                                                                                   axis=0))
    assert metrics.beats(metrics.Curves(mean.deletion - 0.3, mean.insertion + 0.3), chances)
    assert not metrics.beats(metrics.Curves(mean.deletion - 0.3, mean.insertion), chances)
    assert not metrics.beats(metrics.Curves(mean.deletion, mean.insertion + 0.3), chances)
    assert not metrics.beats(metrics.Curves(mean.deletion + 0.3, mean.insertion - 0.3), chances)


def test_randomisation_cascades_from_the_top_and_keeps_what_it_changed(road):
    """Stage i: the top i + 1 weighted layers hold new weights, all below them the pilot's own; afterwards the
    pilot is whole again."""
    from donkey_saliency.core import randomisation
    pilot = road[0]
    weighted = [layer for layer in pilot.model.layers if layer.weights]
    own = {layer.name: layer.get_weights() for layer in weighted}

    def same(layer):
        return all(np.array_equal(a, b) for a, b in zip(own[layer.name], layer.get_weights()))
    stages = 0
    for stage, (name, model) in enumerate(randomisation.cascade(pilot.model)):
        assert name == weighted[-1 - stage].name
        for depth, layer in enumerate(reversed(weighted)):
            assert same(model.get_layer(layer.name)) == (depth > stage), (stage, layer.name)
        stages += 1
    assert stages == len(weighted) and all(same(layer) for layer in weighted)


def test_the_check_takes_the_median_over_frames_and_flags_from_its_threshold(road):
    """The spectral residual never changes with the pilot: given as the original maps on two frames of three and
    reversed on the third, the frames' correlations are 1, 1 and -1: the median 1 (flagged), not the mean 1/3."""
    from donkey_saliency.core import randomisation
    from donkey_saliency.core.engine import Engine, requests_for
    pilot, images, _ = road
    x = [images[:3].astype(np.float32) / 255]
    request = requests_for('spectral-residual')[0][0]
    _, (maps,) = Engine(pilot, [request], {})(x)
    original = maps.copy()
    original[2] = -original[2]
    found = randomisation.check(pilot, x, [request], {}, [original])['spectral-residual']
    assert found['stages'] == pytest.approx([1.0] * len(found['layers'])) and found['flagged']


def test_flagged_from_the_threshold_on():
    from donkey_saliency.core import randomisation
    assert randomisation.flagged(randomisation.FLAG_AT)
    assert not randomisation.flagged(np.nextafter(randomisation.FLAG_AT, 0))


def test_the_stages_built_once_equal_methods_built_anew_for_each(road):
    """The check builds its methods once and changes the pilot's weights in place (gradient methods, on a copy of
    their own, follow): each stage's maps equal those of methods built afresh on that stage's model; afterwards
    the pilot's maps are its own again."""
    from donkey_saliency.core import randomisation
    from donkey_saliency.core.engine import Engine, requests_for
    from donkey_saliency.core.pilot import Pilot
    pilot, images, _ = road
    x = [images[:4].astype(np.float32) / 255]
    requests = [requests_for(m)[0][0] for m in ('gradients', 'gradcam')]
    engines = [Engine(pilot, [request], {}) for request in requests]
    original = [engine(x)[1][0] for engine in engines]
    found = randomisation.check(pilot, x, requests, {}, original, engines)
    for engine, before in zip(engines, original):  # the caller's engines: the pilot's own weights again
        np.testing.assert_allclose(engine(x)[1][0], before, atol=1e-6)
    for stage, (name, model) in enumerate(randomisation.cascade(pilot.model)):
        if stage not in (0, 3, len(found['gradients']['layers']) - 1):
            continue
        _, fresh = Engine(Pilot(pilot.kind, pilot.path, keras=model), requests, {})(x)
        for request, before, after in zip(requests, original, fresh):
            expected = randomisation.summary([randomisation.spearman(a, b) for a, b in zip(before, after)])
            assert found[request.method]['stages'][stage] == pytest.approx(expected, abs=1e-6), (name, request)
    for before, after in zip(original, Engine(pilot, requests, {})(x)[1]):
        np.testing.assert_allclose(after, before, atol=1e-6)


def test_the_table_says_each_flag_with_digits_that_read_true():
    from donkey_saliency.offline.evaluation import table
    scores = {'deletion_auc': 0.21234, 'insertion_auc': 0.61234, 'random_deletion_auc': 0.41234,
              'random_insertion_auc': 0.45678, 'beats_random': True, 'blank_frames': 0}
    result = {'frames': 20, 'steps': 16, 'substrate': 'blur', 'random_orders': 5, 'skipped': {}, 'warnings': [],
              'outputs': {'angle': {'vbp': scores, 'spectral-residual': scores,
                                    'gradients': dict(scores, blank_frames=3),
                                    'gradcam': dict(scores, beats_random=False)}},
              'randomisation': {'vbp': {'rank_correlation': 0.89996, 'flagged': False},
                                'spectral-residual': {'rank_correlation': 1.0, 'flagged': True}}}
    lines = {line.split()[1]: line for line in table(result) if line.startswith('angle ')}
    assert lines['vbp'].endswith('  ok') and ' 0.89996 ' in lines['vbp'] and '0.2123 (0.4123)' in lines['vbp']
    assert ' 1.0000 ' in lines['spectral-residual']
    assert lines['spectral-residual'].endswith('FLAGGED: survives randomising the pilot')
    assert lines['gradients'].endswith('FLAGGED: blank map on 3 of 20 frames')
    assert lines['gradcam'].endswith('FLAGGED: not better than the random orders')
    assert 'the mean of 5 random orders' in table(result)[0]


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
    assert saved['random_orders'] == metrics.RANDOM_ORDERS == 5
    found = saved['outputs']['angle']
    assert set(found) == {'maps', 'vbp', 'gradcam'}
    for scores in found.values():
        assert set(scores) == {'deletion_auc', 'insertion_auc', 'random_deletion_auc', 'random_insertion_auc',
                               'beats_random', 'blank_frames'}
        assert scores['blank_frames'] == 0
    assert found['maps']['deletion_auc'] == pytest.approx(found['vbp']['deletion_auc'], abs=0.02)  # the same VBP
    assert any(line.startswith('angle    vbp') and line.endswith('ok') for line in result.stdout.splitlines())


def test_a_tflite_pilot_is_evaluated_through_its_outputs(small_tub, sample_files, tmp_path):
    result = evaluate('--tub', small_tub, '--model', sample_files['plain'], '--method', 'vbp,occlusion',
                      '--frames', 6, '--steps', 4, '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / 'r.json').read_text())
    assert set(saved['outputs']['angle']) == {'vbp', 'occlusion'} and saved['randomisation'] is None
    assert 'randomisation check: not run' in result.stdout and 'needs the Keras file' in result.stdout


SCORES = {'deletion_auc', 'insertion_auc', 'random_deletion_auc', 'random_insertion_auc', 'beats_random',
          'blank_frames'}
KEYS = {'frames', 'steps', 'substrate', 'random_orders', 'skipped', 'skipped_tubs', 'warnings', 'outputs',
        'randomisation'}  # every key the JSON had before `left_out`, which scripts read


def assert_left_out_said(result, saved, path, expected):
    """`expected` {(method, output)} are the JSON's left_out, each with the engine's reason (naming the method,
    the output and the file), and each has its line on stdout saying the same."""
    assert {(item['method'], item['output']) for item in saved['left_out']} == expected
    lines = result.stdout.splitlines()
    for item in saved['left_out']:
        method, output, why = item['method'], item['output'], item['why']
        assert why.startswith(f'{method} for {output} cannot be computed from {path}, a .tflite pilot'), why
        assert f'left out {method} ({output}): {why}' in lines, result.stdout
    assert sum(line.startswith('left out ') for line in lines) == len(expected)


def test_all_on_a_plain_tflite_runs_what_it_answers_and_names_the_rest(small_tub, sample_files, tmp_path):
    """A plain .tflite answers the methods with a numpy twin (VisualBackProp from its intermediate tensors,
    occlusion from its outputs, the model-free control); each other one is left out, said with why, exit 0."""
    plain = sample_files['plain']
    result = run_cli('evaluate', '--tub', small_tub, '--model', plain, '--method', 'all', '--frames', 4,
                     '--steps', 4, '--random-orders', 2, '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / 'r.json').read_text())
    assert KEYS < set(saved) and saved['frames'] == 4 and saved['randomisation'] is None
    answered = {'vbp', 'occlusion', 'spectral-residual'}
    assert set(saved['outputs']['angle']) == answered
    assert all(set(scores) == SCORES for scores in saved['outputs']['angle'].values())
    assert {line.split()[1] for line in result.stdout.splitlines() if line.startswith('angle ')} == answered
    assert_left_out_said(result, saved, plain, {(m, 'angle') for m in set(METHODS) - answered})


def test_all_on_an_exported_twin_takes_the_maps_it_carries_for_their_output_only(small_tub, sample_files, tmp_path):
    """The twin exported with --gradcam carries signed Grad-CAM for steering: answered for angle, left out for
    throttle (it carries none), beside what a plain .tflite answers on both."""
    twin = sample_files['twin']
    result = run_main('evaluate', '--tub', small_tub, '--model', twin, '--method', 'all', '--output', 'all',
                      '--frames', 3, '--steps', 2, '--random-orders', 2, '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / 'r.json').read_text())
    plain = {'vbp', 'occlusion', 'spectral-residual'}
    assert set(saved['outputs']['angle']) == plain | {'gradcam'} and set(saved['outputs']['throttle']) == plain
    assert_left_out_said(result, saved, twin, {(m, 'angle') for m in set(METHODS) - plain - {'gradcam'}} |
                         {(m, 'throttle') for m in set(METHODS) - plain})


@pytest.mark.parametrize('method', ['gradcam', 'vbp,gradients'])
def test_a_named_method_a_tflite_cannot_answer_is_one_line(small_tub, sample_files, tmp_path, method):
    result = run_cli('evaluate', '--tub', small_tub, '--model', sample_files['plain'], '--method', method,
                     '--frames', 2, '--json', tmp_path / 'r.json')
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and 'Traceback' not in result.stderr, result.stderr
    unanswered = method.split(',')[-1]
    assert f'{unanswered} for angle cannot be computed from {sample_files["plain"]}' in lines[0]
    assert 'pass the Keras file' in lines[0] and not (tmp_path / 'r.json').exists()


def test_a_tflite_that_answers_none_of_the_methods_is_one_error(sample_files):
    """--method all keeps going without what the file cannot answer, but not with nothing left."""
    from donkey_saliency.errors import UserError
    from donkey_saliency.offline.evaluation import _engines
    pilot = ds.load_pilot(sample_files['plain'])
    with pytest.raises(UserError, match='no method can be computed from .* for angle: every one was left out '
                                        r'\(gradcam, gradients\); gradcam: gradcam for angle cannot be computed'):
        _engines(pilot, ['gradcam', 'gradients'], 'angle', {}, every=True)
    with pytest.raises(UserError, match='gradients for angle cannot be computed'):  # named: refused as it is
        _engines(pilot, ['vbp', 'gradients'], 'angle', {})


def test_all_on_a_keras_pilot_is_every_method_with_nothing_left_out(small_tub, tmp_path):
    result = run_main('evaluate', '--tub', small_tub, '--model', sample.MODEL, '--method', 'all', '--frames', 2,
                      '--steps', 2, '--random-orders', 2, '--no-randomisation', '--samples', 2, '--window', 40,
                      '--stride', 40, '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / 'r.json').read_text())
    assert list(saved['outputs']['angle']) == list(METHODS) and saved['left_out'] == []
    assert KEYS < set(saved) and 'left out' not in result.stdout


@pytest.fixture(scope='module')
def dead_pilot(tmp_path_factory):
    """The sample pilot with its last conv dead (bias -1e4 before the ReLU): nothing reaches the head, so its
    VisualBackProp and its gradients are zero on every frame, by construction."""
    from donkey_saliency.quiet import import_tensorflow
    tf = import_tensorflow()
    model = tf.keras.models.load_model(sample.MODEL, compile=False)
    last = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.Conv2D)][-1]
    kernel, bias = last.get_weights()
    last.set_weights([kernel, np.full_like(bias, -1e4)])
    path = tmp_path_factory.mktemp('dead') / 'dead.h5'
    model.save(path)
    return path


def test_blank_maps_are_said_in_the_table_the_json_the_video_and_the_report(dead_pilot, small_tub, tmp_path,
                                                                            capsys):
    result = evaluate('--tub', small_tub, '--model', dead_pilot, '--method', 'vbp,gradients,spectral-residual',
                      '--frames', 6, '--steps', 4, '--json', tmp_path / 'r.json', '--no-randomisation')
    assert result.returncode == 0, result.stderr
    found = json.loads((tmp_path / 'r.json').read_text())['outputs']['angle']
    assert found['vbp']['blank_frames'] == found['gradients']['blank_frames'] == 6
    assert found['spectral-residual']['blank_frames'] == 0  # it never looks at the pilot
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if line.startswith('angle ')}
    assert 'blank map on 6 of 6 frames' in lines['vbp'] and 'blank map on 6 of 6 frames' in lines['gradients']
    assert 'blank' not in lines['spectral-residual'].split('  ')[-1]
    video = subprocess.run([sys.executable, '-m', 'donkey_saliency', '--no-progress', '--tub', str(small_tub),
                            '--model', str(dead_pilot), '--end', '12', '--out', str(tmp_path / 'v.mp4')],
                           capture_output=True, text=True, timeout=600)
    assert video.returncode == 0, video.stderr
    assert '12 of 12 frames with a blank map (all zero), drawn without it: vbp' in video.stdout
    videos = subprocess.run([sys.executable, '-m', 'donkey_saliency', '--no-progress', '--tub', str(small_tub),
                             '--model', str(dead_pilot), '--end', '12', '--per-tub', '--out', str(tmp_path / 'videos')],
                            capture_output=True, text=True, timeout=600)
    assert videos.returncode == 0, videos.stderr
    assert any(line.startswith('  12 of 12 frames with a blank map (all zero), drawn without it: vbp')
               for line in videos.stdout.splitlines()), videos.stdout  # under its video's line, as its warnings
    from donkey_saliency import cli
    capsys.readouterr()
    assert cli.main(['report', '--no-progress', '--tub', str(small_tub), '--model', str(dead_pilot), '--model',
                     sample.MODEL, '--end', '10', '--out', str(tmp_path / 'r.html'),
                     '--json', str(tmp_path / 'report.json')]) == 0
    report = json.loads((tmp_path / 'report.json').read_text())
    assert [m['blank_frames'] for m in report['models']] == [10, 0]
    said = [line for line in capsys.readouterr().out.splitlines() if 'all zero' in line]
    assert said == ['dead.h5: the map was blank (all zero) on 10 of 10 frames; they are left out of every share']
    page = (tmp_path / 'r.html').read_text()
    assert 'the map was blank (all zero) on 10 of 10 frames' in page and 'id="blank-1"' not in page


@pytest.mark.parametrize('flags, phrase', [(['--substrate', 'grey'], 'unknown --substrate'),
                                           (['--method', 'magic'], "unknown method 'magic'"),
                                           (['--maps', 'missing.npz'], 'maps file not found'),
                                           (['--random-orders', '1'], '--random-orders must be at least 2')])
def test_bad_input_is_one_line(small_tub, tmp_path, flags, phrase):
    result = evaluate('--tub', small_tub, '--model', sample.MODEL, '--json', tmp_path / 'r.json', *flags)
    assert result.returncode == 2 and phrase in result.stderr and 'Traceback' not in result.stderr
    assert not (tmp_path / 'r.json').exists()
