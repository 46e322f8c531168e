# donkey-saliency: add to your car's myconfig.py (these are the defaults).
SALIENCY_METHOD = 'vbp'       # any method the pilot file answers (`donkey saliency --help`); another stops the car
                              # at start-up naming the choices. A .tflite answers vbp and occlusion, and gradcam
                              # when exported with `donkey saliency export --gradcam`
SALIENCY_LAYER = 'auto'       # gradcam's layer: auto (a middle conv stage), a stage number (1 first, -1 last) or a name;
                              # other method settings likewise: SALIENCY_WINDOW, SALIENCY_SAMPLES, ...
SALIENCY_EVERY = 1            # compute the map every N drive loops; the overlay holds in between
SALIENCY_ALPHA = 0.5          # overlay opacity
SALIENCY_THREADED = False     # True: maps in a background thread, the pilot never waits for them
SALIENCY_STREAM_PORT = 8891   # MJPEG stream of the overlay at http://<car>:8891/ (None: no stream)
SALIENCY_RECORD = False       # True: record the overlay into the tub as saliency/image_array. A tub keeps the
                              # inputs it was created with: after changing this, drive into a new tub folder
                              # (AUTO_CREATE_NEW_TUB = True), or the car stops at start-up saying so
SALIENCY_HEALTH = None        # 'health.json' from `donkey saliency calibrate --tub TUB --model MODEL`: then
                              # outputs saliency/above_edge, change, strength and alarm (recorded with
                              # SALIENCY_RECORD); a file for another pilot is refused in one line, the car drives
SALIENCY_GUARD_THROTTLE = None  # 0.5: the pilot's throttle halved while the alarm is on (never in user mode)
