"""Where manage.py files written for earlier releases import the car part from; it lives in `car.part`."""
from donkey_saliency.car.part import SalientPilot, add_saliency, record_saliency  # noqa: F401
