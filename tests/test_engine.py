"""The one engine: a pilot file answers the same methods on every entry point (video, car part, API), and says
which ones when asked for another; the method registry is the one source of the CLI, the car keys and the docs."""
import numpy as np
import pytest

from conftest import ROOT, CarConfig, car_pilot, run_cli, run_main

pytest.importorskip('donkeycar')  # the pilots here are donkeycar's parts; the Keras 3 run has no donkeycar

import donkey_saliency as ds  # noqa: E402
from donkey_saliency import sample, synthetic  # noqa: E402
from donkey_saliency.car.part import SalientPilot, method_settings  # noqa: E402
from donkey_saliency.core import methods  # noqa: E402
from donkey_saliency.core.engine import Engine, MapRequest, answerable  # noqa: E402
from donkey_saliency.core.pilot import load_pilot  # noqa: E402
from donkey_saliency.errors import UserError  # noqa: E402
from donkey_saliency.draw import overlay  # noqa: E402

FRAMES = [s.image for s in synthetic.drive(4, seed=33)]


@pytest.fixture(scope='module')
def files(sample_files):
    return sample_files


def kl_for(path):
    return car_pilot('tflite_linear' if str(path).endswith('.tflite') else 'linear', path)


def test_every_file_answers_what_the_engine_says_on_every_entry_point(files):
    """For each file and method: the engine builds exactly when `answerable` lists the method, and the car part
    starts exactly then too (else it stops at start-up naming the choices)."""
    model_free = {'spectral-residual'}
    expected = {'h5': set(methods.METHODS), 'plain': {'vbp', 'occlusion'} | model_free,
                'twin': {'vbp', 'occlusion', 'gradcam'} | model_free}
    for name, path in files.items():
        pilot = load_pilot(path)
        assert set(answerable(pilot)) == expected[name], name
        for method in methods.METHODS:
            (request,) = [MapRequest(method, 'angle', True) if methods.get(method).per_output else MapRequest(method)]
            if method in expected[name]:
                Engine(pilot, [request])
                SalientPilot(kl_for(path), CarConfig(SALIENCY_METHOD=method), path)
            else:
                with pytest.raises(UserError, match=', '.join(sorted(expected[name], key=list(methods.METHODS).index))):
                    Engine(pilot, [request])
                with pytest.raises(UserError, match='it answers'):
                    SalientPilot(kl_for(path), CarConfig(SALIENCY_METHOD=method), path)


def test_gradcam_offline_from_a_twin_exported_with_gradcam(files, small_tub, tmp_path):
    """Regression: `--method gradcam` was refused on the twin the car part reads Grad-CAM from. Its map is the
    Keras file's Grad-CAM of the same frames."""
    for name in ('twin', 'h5'):
        result = run_main('--tub', small_tub, '--model', files[name], '--method', 'gradcam', '--end', 6,
                         '--out', tmp_path / f'{name}.mp4', '--save-maps', tmp_path / f'{name}.npz')
        assert result.returncode == 0, result.stderr
    twin, keras = np.load(tmp_path / 'twin.npz'), np.load(tmp_path / 'h5.npz')
    assert np.abs(twin['maps']).max() > 0.99  # a signed map scaled to its peak, not a blank one
    np.testing.assert_allclose(twin['maps'], keras['maps'], atol=2e-3)
    np.testing.assert_allclose(twin['angle'], keras['angle'], atol=1e-4)


def test_a_twin_does_not_pass_off_its_grad_cam_as_another_layers(files, small_tub, tmp_path):
    result = run_cli('--tub', small_tub, '--model', files['twin'], '--method', 'gradcam', '--layer', 2,
                     '--out', tmp_path / 'v.mp4')
    assert result.returncode == 2 and 'Traceback' not in result.stderr
    assert 'it answers vbp, gradcam, occlusion' in result.stderr and not (tmp_path / 'v.mp4').exists()


def test_the_car_shows_occlusion_when_asked_for_it_on_a_plain_tflite(files):
    """Regression: a .tflite pilot with SALIENCY_METHOD = 'occlusion' silently showed VisualBackProp."""
    path = files['plain']
    part = SalientPilot(kl_for(path), CarConfig(SALIENCY_METHOD='occlusion'), path)
    overlays = [part.run(frame)[2] for frame in FRAMES[:2]]
    pilot = load_pilot(path)
    occlusion = ds.saliency(pilot, np.stack(FRAMES[:2]), method='occlusion').maps  # as the video draws them
    vbp = ds.saliency(pilot, np.stack(FRAMES[:2]), method='vbp').maps
    for shown, frame, expected, other in zip(overlays, FRAMES, occlusion, vbp):
        assert np.abs(shown.astype(int) - overlay(frame, expected, 0.5, signed=True)).max() <= 1
        assert np.abs(shown.astype(int) - overlay(frame, other, 0.5)).mean() > 5


@pytest.mark.parametrize('method', ['occlusoin', 'gradcam'])
def test_the_car_stops_at_start_up_on_a_method_the_file_cannot_answer(files, method):
    """Never a silent substitute, never an error mid-drive: one clear line before the car drives."""
    path = files['plain']
    with pytest.raises(UserError) as raised:
        SalientPilot(kl_for(path), CarConfig(SALIENCY_METHOD=method), path)
    assert 'vbp' in str(raised.value) and 'occlusion' in str(raised.value) and '\n' not in str(raised.value)


def test_cli_flags_help_and_car_keys_come_from_the_registry():
    from donkey_saliency.cli import build_parser, methods_help
    parser = build_parser('donkey saliency')
    flags = {option for action in parser._actions for option in action.option_strings}
    settings = methods.all_settings()
    assert {f'--{name}' for name in settings} <= flags
    text = parser.format_help()
    for method in methods.METHODS.values():
        assert method.name in methods_help() and method.answers in text
        for setting in method.settings:
            assert method_settings(CarConfig(**{f'SALIENCY_{setting.name.upper()}': 7}), method.name)[setting.name] == 7
    args = parser.parse_args(['--window', '9', '--layer', 'conv2d_2'])
    assert methods.settings_for('occlusion', vars(args)) == {'window': 9, 'stride': 12}
    assert methods.settings_for('gradcam', vars(args)) == {'layer': 'conv2d_2'}


def test_the_docs_method_table_is_the_registry():
    """docs/video.md's table of methods (under --method) is made from the registry: the page and the code agree."""
    page = '\n'.join(line.strip() for line in (ROOT / 'docs' / 'video.md').read_text().splitlines())
    assert methods.markdown_table() in page


def test_grad_cam_target_layer_by_number_and_by_name():
    pilot = load_pilot(sample.MODEL)
    x = [np.stack(FRAMES).astype(np.float32) / 255]

    def gradcam(layer):
        return Engine(pilot, [MapRequest('gradcam', 'angle', True)], {'layer': layer})(x)[1][0]
    np.testing.assert_allclose(gradcam(2), gradcam('conv2d_2'), atol=1e-6)
    np.testing.assert_allclose(gradcam(-1), gradcam(5), atol=1e-6)
    np.testing.assert_allclose(gradcam(None), gradcam(3), atol=1e-6)  # the default: conv 3 of 5, from the geometry
    first, last = (m / np.abs(m).max(axis=(1, 2), keepdims=True) for m in (gradcam(1), gradcam(-1)))
    assert np.abs(first - last).mean() > 0.05


def test_an_earlier_layer_finds_the_thin_lane_lines():
    """On the 120x160 sample pilot the last conv stage is a few cells across: measured on 48 frames (two seeds),
    Grad-CAM puts 1.4x the lines' area share of its mass on them at the last stage, 3.6-4.7x at stage 2."""
    pilot = load_pilot(sample.MODEL)
    scenes = list(synthetic.drive(24, seed=9))
    x = [np.stack([s.image for s in scenes]).astype(np.float32) / 255]
    lines = np.stack([s.lines for s in scenes])

    def on_lines(layer):
        maps = np.abs(Engine(pilot, [MapRequest('gradcam', 'angle', True)], {'layer': layer})(x)[1][0])
        return np.median(maps[lines].sum() / maps.sum()) / lines.mean()
    assert on_lines(2) > 2 * on_lines(-1)


@pytest.mark.parametrize('layer, message', [('9', 'has 5 conv stages'), ('0', 'counts conv stages from 1'),
                                            ('dense_1', 'no spatial output'), ('nope', 'no layer of that name')])
def test_a_bad_layer_is_one_line(small_tub, tmp_path, layer, message):
    result = run_cli('--tub', small_tub, '--model', sample.MODEL, '--method', 'gradcam', '--layer', layer,
                     '--out', tmp_path / 'v.mp4')
    assert result.returncode == 2 and message in result.stderr and 'Traceback' not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / 'v.mp4').exists()


def test_the_car_key_chooses_the_layer():
    kl = kl_for(sample.MODEL)
    part = SalientPilot(kl, CarConfig(SALIENCY_METHOD='gradcam', SALIENCY_LAYER=2))
    shown = part.run(FRAMES[0])[2]
    expected = ds.saliency(load_pilot(sample.MODEL), FRAMES[0], method='gradcam', layer=2).maps[0]
    assert np.abs(shown.astype(int) - overlay(FRAMES[0], expected, 0.5, signed=True)).max() <= 1
