"""The car's image transformations without donkeycar (upstream's Python 3.12 stack, where it does not install).

Each class does what its donkeycar 5.3 namesake in donkeycar/parts/cv.py does, to the pixel (tests/test_transforms.py
runs both on the same images): CROP and TRAPEZE are masks that keep the image's shape (a convex polygon filled by
OpenCV, the pixels outside it set to 0), RESIZE is cv2.resize with its default interpolation, RGB2BGR and BGR2RGB
swap the channels. `transformer(cfg)` builds them from the same config keys, in the same order
(TRANSFORMATIONS, then POST_TRANSFORMATIONS), as donkeycar's ImageTransformations; any other name is refused.
"""
import numpy as np

from donkey_saliency.errors import UserError


class PolygonMask:
    """Keep the pixels inside a convex polygon, black out the rest (ImgCropMask, ImgTrapezoidalMask)."""

    def __init__(self, corners):
        self.corners = corners  # function of (height, width) -> four [x, y] points, as donkeycar computes them
        self.masks = {}

    def run(self, image):
        import cv2
        key = image.shape
        if key not in self.masks:
            mask = np.zeros(image.shape, dtype=np.int32)
            cv2.fillConvexPoly(mask, np.array(self.corners(*image.shape[:2]), dtype=np.int32), [255, 255, 255])
            self.masks[key] = mask.astype(bool)
        return np.multiply(image, self.masks[key])


def crop(left, top, right, bottom):
    """ImgCropMask(ROI_CROP_LEFT, ROI_CROP_TOP, ROI_CROP_RIGHT, ROI_CROP_BOTTOM); None means 0, as there."""
    def corners(height, width):
        x0, y0 = left or 0, top or 0
        x1 = width - right if right is not None else width
        y1 = height - bottom if bottom is not None else height
        return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
    return PolygonMask(corners)


def trapeze(left, right, bottom_left, bottom_right, top, bottom):
    """ImgTrapezoidalMask(ROI_TRAPEZE_UL, _UR, _LL, _LR, _MIN_Y, _MAX_Y): corners in absolute pixels."""
    return PolygonMask(lambda height, width: [[left, top], [right, top], [bottom_right, bottom], [bottom_left, bottom]])


class SwapRedBlue:
    """ImgRGB2BGR and ImgBGR2RGB: cv2.cvtColor with COLOR_RGB2BGR / COLOR_BGR2RGB, both a swap of channels 0 and 2."""

    def run(self, image):
        import cv2
        return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)


class Resize:
    """ImageResize(RESIZE_WIDTH, RESIZE_HEIGHT): cv2.resize with OpenCV's default (bilinear) interpolation."""

    def __init__(self, width, height):
        if not width or width <= 0 or not height or height <= 0:
            raise UserError(f'RESIZE needs RESIZE_WIDTH and RESIZE_HEIGHT above 0, not {width} x {height}; '
                            'fix them in the car config')
        self.size = (int(width), int(height))

    def run(self, image):
        import cv2
        return cv2.resize(image, self.size)


BUILDERS = {  # name -> (config keys, builder), as donkeycar's image_transformer() reads them
    'CROP': (('ROI_CROP_LEFT', 'ROI_CROP_TOP', 'ROI_CROP_RIGHT', 'ROI_CROP_BOTTOM'), crop),
    'TRAPEZE': (('ROI_TRAPEZE_UL', 'ROI_TRAPEZE_UR', 'ROI_TRAPEZE_LL', 'ROI_TRAPEZE_LR', 'ROI_TRAPEZE_MIN_Y',
                 'ROI_TRAPEZE_MAX_Y'), trapeze),
    'RGB2BGR': ((), SwapRedBlue),
    'BGR2RGB': ((), SwapRedBlue),
    'RESIZE': (('RESIZE_WIDTH', 'RESIZE_HEIGHT'), Resize),
}


class Transformations:
    """The car's transformations in order, run on one uint8 image (ImageTransformations.run)."""

    def __init__(self, steps):
        self.steps = steps

    def run(self, image):
        for step in self.steps:
            image = step.run(image)
        return image


def transformer(names, cfg):
    """The Transformations for `names` with their settings from `cfg`; a UserError naming what cannot be built."""
    steps = []
    for name in names:
        if name not in BUILDERS:
            raise UserError(f'the car config asks for the transformation {name}, which this tool applies only '
                            f'with donkeycar installed; without it: {", ".join(BUILDERS)}')
        keys, build = BUILDERS[name]
        missing = [key for key in keys if not hasattr(cfg, key)]
        if missing:
            raise UserError(f'the car config asks for {name} but does not set {", ".join(missing)}; add '
                            f'{"them" if len(missing) > 1 else "it"} to its myconfig.py')
        steps.append(build(*(getattr(cfg, key) for key in keys)))
    return Transformations(steps)
