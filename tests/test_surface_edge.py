"""The far edge of the drivable surface on the places cars drive (synthetic sceneries whose edge is known by
construction, as drawn and after the JPEG round trip a tub puts them through), the doubt about it, the share of the
floor a crop removes, against a plain count on a floor built by hand, and the word for the place."""
import io

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import SHARED, SHARED_ABSENT, SHARED_READY
from donkey_saliency import synthetic
from donkey_saliency.core import attention

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)

# rows within which the edge is found at 160 x 120, measured on seeds 0-5 and 10-15 as drawn and after JPEG: exact
# but once (the outdoor path after JPEG, one row); the plain floor exactly (the bundled sample's tests need row 40)
TOLERANCE = {None: 0, 'simulator': 1, 'outdoor': 1, 'carpet': 1}
SCENERIES = (None, 'simulator', 'outdoor', 'carpet')


def jpeg(frames):
    """Frames as a tub gives them back: saved by PIL at its default quality, as donkeycar's Tub saves them."""
    out = []
    for frame in frames:
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format='JPEG')
        out.append(np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert('RGB')))
    return np.stack(out)


def scenes(scenery, count=40, seed=3):
    return list(synthetic.drive(count, seed=seed, scenery=scenery))


def flat(edges, seed=0):
    """One frame per edge: a grey textured floor from that row down under a blue sky (each frame's edge is its
    own, exactly)."""
    rng = np.random.default_rng(seed)
    frames = np.empty((len(edges), 120, 160, 3), np.uint8)
    for frame, edge in zip(frames, edges):
        frame[:edge] = np.clip(rng.normal((100, 130, 190), 3, (edge, 160, 3)), 0, 255)
        frame[edge:] = np.clip(rng.normal(70, 8, (120 - edge, 160, 3)), 0, 255)
    return frames


@pytest.mark.parametrize('scenery', SCENERIES)
@pytest.mark.parametrize('compressed', [False, True], ids=['drawn', 'jpeg'])
def test_the_edge_is_found_on_every_scenery(scenery, compressed):
    frames = np.stack([scene.image for scene in scenes(scenery)])
    frames = jpeg(frames) if compressed else frames
    edge = attention.surface_edge(frames)
    assert abs(edge - synthetic.true_edge(scenery)) <= TOLERANCE[scenery]
    assert attention.edge_doubt(frames, edge) is None


def test_a_few_frames_whose_ground_takes_in_the_hills_do_not_move_the_edge():
    """After JPEG the simulator's hills take the grass's hue in a few frames of this drive, which then count some
    of the hills or the sky as ground too: averaged over the frames, they do not move the edge."""
    frames = jpeg(np.stack([scene.image for scene in scenes('simulator', seed=15)]))
    assert (attention.frame_edges(frames) < 40).sum() >= 2
    assert abs(attention.surface_edge(frames) - synthetic.true_edge('simulator')) <= TOLERANCE['simulator']


def test_what_lies_above_a_floor_low_in_the_frame_is_not_beside_it():
    """A floor in the bottom sixth only: the sky above it in the bottom third holds no floor in its rows, so it is
    not a surface beside the floor (as grass beside a road is), and the edge stays at the floor's top."""
    frames = flat([100] * 8)
    assert attention.surface_edge(frames) == 100
    assert attention.edge_doubt(frames, 100) is None


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_the_simulators_sky_is_what_one_colour_distance_takes_in_and_the_edge_is_still_the_grass_line(seed):
    """The trap by construction: the grey-blue sky lies within the textured road's tolerance of one RGB distance
    (the floor's colour and FLOOR_SPREAD times its spread, the rule that put the edge at row 0 there), and the
    edge is where the road and the grass beside it end, on frames of another size too."""
    frames = np.stack([scene.image for scene in scenes('simulator', seed=seed)])
    near = frames[:, 96:].reshape(len(frames), -1, 3).astype(float)
    colour = np.median(near, axis=1)
    spread = np.median(np.linalg.norm(near - colour[:, None], axis=2), axis=1)
    sky = frames[:, :20].reshape(len(frames), -1, 3).mean(axis=1)
    assert (np.linalg.norm(sky - colour, axis=1) < attention.FLOOR_SPREAD * spread).all()
    assert attention.surface_edge(frames) == synthetic.true_edge('simulator')
    small = np.stack([s.image for s in synthetic.drive(30, seed=seed, scenery='simulator', height=60, width=80)])
    # measured: exact as drawn, one row off after JPEG
    assert abs(attention.surface_edge(small) - synthetic.true_edge('simulator', 60)) <= 1


def test_default_drawing_is_unchanged_by_the_sceneries():
    """The bundled sample and the tests draw the plain road: its pixels are those of a frame drawn step by step
    as it always was, and its floor is every row from the horizon down but the distractors."""
    rng, again = np.random.default_rng(5), np.random.default_rng(5)
    scene = synthetic.draw(0.3, rng, distractors=0)
    expected = np.empty((120, 160, 3), np.uint8)
    sky = np.linspace(150, 210, 40)[:, None, None] * np.array([0.6, 0.75, 1.0])
    expected[:40] = np.clip(sky + again.normal(0, 3, (40, 160, 3)), 0, 255).astype(np.uint8)
    expected[40:] = np.clip(again.normal(70, 8, (80, 160, 3)), 0, 255).astype(np.uint8)
    expected[scene.lines] = (235, 235, 235)
    assert (scene.image == expected).all()
    assert (scene.floor == (np.arange(120)[:, None] >= 40)).all()


@pytest.mark.parametrize('scenery', SCENERIES)
def test_the_share_of_floor_above_a_row_follows_the_drawn_floor(scenery):
    """Against the floor as drawn (lines in, distractors out): within 0.05 (measured: 0.01 on the plain floor and
    the carpet, 0.04 on the simulator, whose road far away is mostly its lines), under 1% above the edge."""
    drawn = scenes(scenery)
    frames = np.stack([scene.image for scene in drawn])
    edge = synthetic.true_edge(scenery)
    assert attention.floor_above(frames, edge) < 0.01
    for row in (edge + 6, edge + 16, 80, 100):
        truth = np.mean([scene.floor[:row].sum() / scene.floor.sum() for scene in drawn])
        assert attention.floor_above(frames, row) == pytest.approx(truth, abs=0.05)


def hand_floor(seed=0, count=6):
    """Frames of a uniform grey floor whose outline is drawn by hand, reaching rows 44-50 in the centre and 55-75
    at the sides, under a lighter grey twice FLOOR_TOLERANCE brighter (so that the 5-column smoothing keeps the
    outline to the pixel: a floor pixel with 2 of 5 neighbours not floor is 0.8 tolerance away, a pixel beside
    the floor with 2 of 5 that are is 1.2), with their floor masks."""
    rng = np.random.default_rng(seed)
    frames, masks = [], []
    for _ in range(count):
        centre, left, right = rng.integers(44, 51), rng.integers(55, 76), rng.integers(55, 76)
        middle = int(rng.integers(60, 100))
        outline = np.array([[0, left], [4, left], [middle - 20, centre], [middle + 20, centre], [155, right],
                            [159, right], [159, 119], [0, 119]], np.int32)  # flat at the sides: no 1-pixel tips
        mask = np.zeros((120, 160), np.uint8)
        cv2.fillPoly(mask, [outline], 1)
        step = round(2 * attention.FLOOR_TOLERANCE / np.sqrt(3))  # per channel: twice the tolerance in brightness
        frames.append(np.where(mask[..., None] > 0, 90, 90 + step).astype(np.uint8).repeat(3, axis=2))
        masks.append(mask.astype(bool))
    return np.stack(frames), np.stack(masks)


def test_floor_above_is_the_plain_count_on_a_floor_drawn_by_hand():
    frames, masks = hand_floor()
    top = int(np.argmax(masks.any(axis=(0, 2))))  # the highest floor row of any frame
    for row in (0, top - 5, top, top + 1, 51, 60, 80, 119, 120):
        expected = np.mean([mask[:row].sum() / mask.sum() for mask in masks])
        assert attention.floor_above(frames, row) == pytest.approx(expected, abs=1e-12), row
    assert attention.floor_above(frames, top) == 0.0  # a crop at or above the floor's top removes none of it
    assert 0 < attention.floor_above(frames, 51) < 0.1  # a crop at 51 removes the lanes' far ends, a few percent
    assert attention.floor_above(frames, 119) > 0.98  # all but the bottom row
    assert attention.floor_above(frames, 120) == 1.0
    assert np.isnan(attention.floor_above(np.zeros((0, 120, 160, 3), np.uint8), 10))  # no frame, no floor


def test_an_edge_in_the_top_or_bottom_tenth_is_doubtful_just_there():
    frames = flat([40] * 8)  # frames that agree: only the edge given decides
    for edge in (0, 5, 11):
        assert 'top 10%' in attention.edge_doubt(frames, edge)
    for edge in (12, 40, 107):
        assert attention.edge_doubt(frames, edge) is None
    for edge in (108, 119, 120):
        assert 'bottom 10%' in attention.edge_doubt(frames, edge)
    for floor_top in (11, 12):  # found on frames, on both sides of the tenth
        found = flat([floor_top] * 8)
        assert attention.surface_edge(found) == floor_top
        assert (attention.edge_doubt(found, floor_top) is None) == (floor_top == 12)


def test_frames_that_disagree_make_the_edge_doubtful():
    split = flat([30] * 20 + [80] * 20)
    assert list(attention.frame_edges(split)) == [30] * 20 + [80] * 20
    doubt = attention.edge_doubt(split, attention.surface_edge(split))
    assert 'disagree' in doubt and 'rows 30 and 80' in doubt
    spread = round(120 * attention.EDGE_SPREAD)  # 30 rows: over it is doubtful, at it not
    assert attention.edge_doubt(flat([40] * 20 + [40 + spread] * 20), 40) is None
    assert 'disagree' in attention.edge_doubt(flat([40] * 20 + [41 + spread] * 20), 40)
    assert attention.edge_doubt(flat([40] * 40), 40) is None


def test_the_kind_of_place_from_the_picture():
    for scenery, kind in (('simulator', 'road'), ('outdoor', 'road'), ('carpet', 'walls'), (None, 'open')):
        frames = np.stack([scene.image for scene in scenes(scenery, count=20)])
        edge = attention.surface_edge(frames)
        assert attention.scenery_kind(frames, edge, attention.skyline(frames, edge)) == kind, scenery
    walled = np.stack([scene.image for scene in scenes(None, count=20)])
    walled[:, 16:40] = (200, 200, 210)
    assert attention.scenery_kind(walled, 40, attention.skyline(walled, 40)) == 'walls'


@pytest.mark.skipif(not SHARED_READY, reason=SHARED_ABSENT)
def test_the_real_carpet_tubs_edge_stays_where_its_walls_stand():
    """The report's sample of the real tub (200 frames spread over it): the edge at 45, where its owner crops,
    not doubtful though its frames see the walls near and far; 7% of its floor lies above it."""
    from donkey_saliency.tub.read import TubReader, spread_records
    reader = TubReader([SHARED / 'data'])
    total = sum(1 for _ in reader.records(0, 10 ** 9))
    frames = np.stack([image for image, _ in spread_records(TubReader([SHARED / 'data']), 0, total, 200)])
    edge = attention.surface_edge(frames)
    assert edge == 45
    assert attention.edge_doubt(frames, edge) is None
    assert attention.floor_above(frames, edge) == pytest.approx(0.07, abs=0.01)
    assert attention.scenery_kind(frames, edge, attention.skyline(frames, edge)) == 'walls'


@pytest.fixture(scope='module')
def place_reports(tmp_path_factory, sample_pilot_path):
    """The report on a simulator road and on frames that are floor from top to bottom (uniform grey: the edge
    found at row 0), with the bundled pilot."""
    import json
    from conftest import run_main
    folder = tmp_path_factory.mktemp('places')
    simulator = synthetic.write_tub(folder / 'simulator', synthetic.drive(60, seed=3, scenery='simulator'), hz=1000)
    rng = np.random.default_rng(0)
    grey = [synthetic.Scene(np.clip(rng.normal(120, 4, (120, 160, 3)), 0, 255).astype(np.uint8), 0.0, 0.3, None,
                            None) for _ in range(60)]
    floor = synthetic.write_tub(folder / 'floor', grey, hz=1000)
    found = {}
    for name, tub in (('simulator', simulator), ('floor', floor)):
        result = run_main('report', '--tub', tub, '--model', sample_pilot_path, '--out', folder / f'{name}.html',
                          '--json', folder / f'{name}.json')
        assert result.returncode == 0, result.stderr
        found[name] = json.loads((folder / f'{name}.json').read_text()), result.stdout
    return found


def test_the_report_finds_the_simulator_roads_edge_and_calls_it_a_road(place_reports):
    found, stdout = place_reports['simulator']
    model = found['models'][0]
    assert abs(model['lines']['surface_edge'] - synthetic.EDGES['simulator']) <= TOLERANCE['simulator']
    assert found['scenery'] == 'road' and found['surface_edge_doubt'] is None and 'warning' not in stdout
    assert model['advice']['not_tested'] == []
    edge_point = next(p for p in model['crop_curve'] if p['row'] == model['lines']['surface_edge'])
    assert 0 <= edge_point['floor_above'] < 0.05  # the road narrows to its edge: little of it above


def test_an_edge_at_the_top_is_doubtful_and_the_crop_not_tested(place_reports):
    found, stdout = place_reports['floor']
    model = found['models'][0]
    assert model['lines']['surface_edge'] == 0
    assert 'top 10%' in found['surface_edge_doubt'] and '--horizon ROW' in found['surface_edge_doubt']
    assert f'warning: {found["surface_edge_doubt"]}' in stdout
    [crop] = [t for t in model['advice']['not_tested'] if t['test'] == 'crop']
    assert '--horizon ROW' in crop['why'] and 'crop not tested' in stdout and 'no change suggested' not in stdout
