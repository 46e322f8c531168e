"""The car's config and transformations without donkeycar (core/carconfig.py, core/transforms.py): read and applied
as donkeycar 5.3 reads and applies them, checked against donkeycar itself where it is installed (Python 3.11)."""
import numpy as np
import pytest

from donkey_saliency import synthetic
from donkey_saliency.core import carconfig, transforms
from donkey_saliency.errors import UserError

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)

# config.py as `donkey createcar` writes it (the keys each transformation reads), and the myconfig.py over it
CONFIG = """
IMAGE_W = 160
IMAGE_H = 120
DRIVE_LOOP_HZ = 20
TRANSFORMATIONS = []
POST_TRANSFORMATIONS = []
ROI_CROP_TOP = 0
ROI_CROP_BOTTOM = 0
ROI_CROP_LEFT = 0
ROI_CROP_RIGHT = 0
ROI_TRAPEZE_LL = 0
ROI_TRAPEZE_LR = 160
ROI_TRAPEZE_UL = 20
ROI_TRAPEZE_UR = 140
ROI_TRAPEZE_MIN_Y = 60
ROI_TRAPEZE_MAX_Y = 120
RESIZE_WIDTH = 160
RESIZE_HEIGHT = 120
HALF_WIDTH = IMAGE_W // 2  # a value computed from another: the file is executed, not parsed
lower_case = 'not a setting'
"""

CASES = {  # myconfig.py lines -> what the car does with them
    'crop top': "TRANSFORMATIONS = ['CROP']\nROI_CROP_TOP = 45\n",
    'crop all sides': "TRANSFORMATIONS = ['CROP']\nROI_CROP_TOP = 10\nROI_CROP_BOTTOM = 7\nROI_CROP_LEFT = 13\n"
                      "ROI_CROP_RIGHT = 21\n",
    'crop with None': "TRANSFORMATIONS = ['CROP']\nROI_CROP_TOP = None\nROI_CROP_BOTTOM = None\nROI_CROP_LEFT = 20\n",
    'trapeze': "TRANSFORMATIONS = ['TRAPEZE']\n",
    'colour swaps': "TRANSFORMATIONS = ['RGB2BGR']\nPOST_TRANSFORMATIONS = ['BGR2RGB', 'RGB2BGR']\n",
    'resize': "TRANSFORMATIONS = ['RESIZE']\nRESIZE_WIDTH = 128\nRESIZE_HEIGHT = 96\n",
    'crop then resize up': "TRANSFORMATIONS = ['CROP', 'RESIZE']\nROI_CROP_TOP = 40\nRESIZE_WIDTH = 200\n"
                           "RESIZE_HEIGHT = 150\n",
    'all five': "TRANSFORMATIONS = ['TRAPEZE', 'CROP']\nROI_CROP_TOP = 30\n"
                "POST_TRANSFORMATIONS = ['RGB2BGR', 'RESIZE', 'BGR2RGB']\nRESIZE_WIDTH = 100\nRESIZE_HEIGHT = 70\n",
}


def car(tmp_path, myconfig):
    (tmp_path / 'config.py').write_text(CONFIG)
    (tmp_path / 'myconfig.py').write_text(myconfig)
    return str(tmp_path / 'config.py')


def frames():
    """Camera frames of the synthetic road, and one of noise: every pixel differs from its neighbours."""
    scenes = [scene.image for scene in synthetic.drive(3, seed=4)]
    return scenes + [np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)]


def settings(cfg):
    return {key: getattr(cfg, key) for key in dir(cfg) if key.isupper()}


@pytest.mark.parametrize('case', sorted(CASES))
def test_transformations_are_donkeycars_to_the_pixel(tmp_path, case):
    """Our twins and donkeycar's own ImageTransformations, built from the same car config, on the same frames."""
    pytest.importorskip('donkeycar')
    import donkeycar
    from donkeycar.parts.image_transformations import ImageTransformations
    path = car(tmp_path, CASES[case])
    theirs = donkeycar.load_config(path)
    ours = carconfig.read_config(path)
    assert settings(ours) == settings(theirs)
    names = carconfig.transformation_names(ours)
    twin = transforms.transformer(names, ours)
    own = ImageTransformations(theirs, 'TRANSFORMATIONS', 'POST_TRANSFORMATIONS')
    for image in frames():
        expected = own.run(image.copy())
        got = twin.run(image.copy())
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
    assert not np.array_equal(twin.run(frames()[-1]), frames()[-1])  # every case changes the picture


def test_config_is_read_as_donkeycar_reads_it(tmp_path):
    """config.py executed, myconfig.py over it; upper-case names only (works with or without donkeycar)."""
    cfg = carconfig.read_config(car(tmp_path, 'DRIVE_LOOP_HZ = 12\nTRANSFORMATIONS = ["CROP"]\n'))
    assert cfg.DRIVE_LOOP_HZ == 12 and cfg.TRANSFORMATIONS == ['CROP'] and cfg.IMAGE_W == 160
    assert cfg.HALF_WIDTH == 80 and not hasattr(cfg, 'lower_case')
    (tmp_path / 'myconfig.py').unlink()
    assert carconfig.read_config(str(tmp_path / 'config.py')).DRIVE_LOOP_HZ == 20  # myconfig.py is optional


def test_crop_masks_the_rows_and_keeps_the_shape():
    """Known by construction: ROI_CROP_TOP = 45 blacks out rows 0-44 and leaves the rest untouched."""
    image = frames()[-1]
    cfg = carconfig.Config()
    cfg.ROI_CROP_LEFT, cfg.ROI_CROP_TOP, cfg.ROI_CROP_RIGHT, cfg.ROI_CROP_BOTTOM = 0, 45, 0, 0
    masked = transforms.transformer(['CROP'], cfg).run(image)
    assert masked.shape == image.shape and not masked[:45].any()
    np.testing.assert_array_equal(masked[45:], image[45:])


@pytest.mark.parametrize('name', ['CANNY', 'BLUR', 'SCALE', 'TRAPEZE_EDGE', 'RGB2GRAY', 'CUSTOM_MINE'])
def test_other_transformations_are_refused_in_one_line_naming_them(name):
    with pytest.raises(UserError) as error:
        transforms.transformer(['RGB2BGR', name], carconfig.Config())
    assert name in str(error.value) and '\n' not in str(error.value)


def test_a_missing_key_is_named():
    with pytest.raises(UserError, match='ROI_TRAPEZE_MIN_Y'):
        cfg = carconfig.Config()
        cfg.ROI_TRAPEZE_UL = cfg.ROI_TRAPEZE_UR = cfg.ROI_TRAPEZE_LL = cfg.ROI_TRAPEZE_LR = 0
        transforms.transformer(['TRAPEZE'], cfg)
