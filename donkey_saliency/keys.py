"""Names shared by the laptop side and the car side, kept in one place so neither imports the other.

- the memory / tub keys of the overlay the car part draws and of its health numbers (core/health.py, its alarm
  among them), which the report reads back;
- the output names under which an exported .tflite twin carries its maps.
"""
OVERLAY_KEY = 'saliency/image_array'  # recorded on the car by the SalientPilot part (SALIENCY_RECORD)
HEALTH_KEYS = ('saliency/above_edge', 'saliency/change', 'saliency/strength', 'saliency/alarm')  # SALIENCY_HEALTH
HEALTH_TYPES = ('float', 'float', 'float', 'boolean')  # as donkeycar's TubWriter records them
ALARM_KEY = HEALTH_KEYS[-1]  # the numbers past their limits
MAP_OUTPUT_PREFIX = 'saliency'


def map_output(request_key):
    """The exported output name of a map: `saliency` for VisualBackProp, `saliency_<method>_<output>` else."""
    return MAP_OUTPUT_PREFIX if request_key == 'vbp' else f'{MAP_OUTPUT_PREFIX}_{request_key}'


def is_map_output(name):
    return name == MAP_OUTPUT_PREFIX or name.startswith(MAP_OUTPUT_PREFIX + '_')
