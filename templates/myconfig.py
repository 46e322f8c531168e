# donkey-saliency: add to your car's myconfig.py (these are the defaults).
SALIENCY_METHOD = 'vbp'       # 'vbp', or 'gradcam' (Keras pilots, or a .tflite exported with --gradcam)
SALIENCY_EVERY = 1            # compute the map every N drive loops; the overlay holds in between
SALIENCY_ALPHA = 0.5          # overlay opacity
SALIENCY_THREADED = False     # True: maps in a background thread, the pilot never waits for them
SALIENCY_STREAM_PORT = 8891   # MJPEG stream of the overlay at http://<car>:8891/ (None: no stream)
SALIENCY_RECORD = False       # True: record the overlay into the tub as saliency/image_array
