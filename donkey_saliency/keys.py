"""Names shared by the laptop side and the car side, kept in one place so neither imports the other.

- the memory / tub key of the overlay the car part draws;
- the output names under which an exported .tflite twin carries its maps;
- the memory / tub keys of the health numbers (core/health.py), which the report reads back.
"""
OVERLAY_KEY = 'saliency/image_array'  # recorded on the car by the SalientPilot part (SALIENCY_RECORD)
MAP_OUTPUT_PREFIX = 'saliency'


def map_output(request_key):
    """The exported output name of a map: `saliency` for VisualBackProp, `saliency_<method>_<output>` else."""
    return MAP_OUTPUT_PREFIX if request_key == 'vbp' else f'{MAP_OUTPUT_PREFIX}_{request_key}'


def is_map_output(name):
    return name == MAP_OUTPUT_PREFIX or name.startswith(MAP_OUTPUT_PREFIX + '_')


HEALTH_KEYS = ('saliency/above_edge', 'saliency/change', 'saliency/strength', 'saliency/alarm')  # SALIENCY_HEALTH
HEALTH_TYPES = ('float', 'float', 'float', 'boolean')  # as donkeycar's TubWriter records them
