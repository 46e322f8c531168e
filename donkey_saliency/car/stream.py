"""The car's saliency stream: donkeycar's own WebFpv page and MJPEG server, whose frames are the overlay with its
label, the pilot's steering line, and a band below with the pilot's steering and throttle in words, the health
alarm's state in words, and the colour bar. A frame is drawn only when a viewer asks for one (and once per new
overlay), so a car nobody watches pays nothing for it.
"""
from donkeycar.parts.controller import WebFpv


class SaliencyStream(WebFpv):
    """WebFpv serving `stream_picture` of the latest (overlay, angle, throttle, alarm) from the drive loop."""

    def __init__(self, port, title, signed, ends):
        self.title, self.signed, self.ends = title, signed, ends
        self._latest = self._drawn = self._drawn_for = None
        super().__init__(port=port)

    @property
    def img_arr(self):
        """What WebFpv's video handler sends: the picture of the latest loop, drawn on a viewer's request."""
        latest = self._latest
        if latest is None:
            return None
        if latest is not self._drawn_for:
            from donkey_saliency.draw import stream_picture
            overlay, angle, throttle, alarm = latest
            self._drawn = stream_picture(overlay, angle, throttle, self.title, self.signed, self.ends, alarm=alarm)
            self._drawn_for = latest
        return self._drawn

    @img_arr.setter
    def img_arr(self, value):  # WebFpv's own constructor clears it
        self._latest = None if value is None else (value, None, None, None)

    def run_threaded(self, overlay, angle=None, throttle=None, alarm=None):
        self._latest = None if overlay is None else (overlay, angle, throttle, alarm)
