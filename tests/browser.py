"""A real headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe): clicks,
script and screenshots with the standard library alone, no websocket or browser-automation package."""
import base64
import json
import os
import shutil
import subprocess

CHROMIUM = next((path for path in ('/usr/lib/chromium/chromium', shutil.which('chromium') or '')
                 if path and os.path.isfile(path)), None)


class Browser:
    """One page in a headless Chromium; every network request it makes is recorded in `requests`, every uncaught
    script error in `errors`."""

    def __init__(self, profile, size=(1300, 1000)):
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()

        def on_pipe_fds():  # Chromium reads commands on fd 3 and answers on fd 4
            read, write = os.dup(commands_read), os.dup(replies_write)
            os.dup2(read, 3)
            os.dup2(write, 4)

        self.process = subprocess.Popen(
            [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--remote-debugging-pipe',
             f'--user-data-dir={profile}', f'--window-size={size[0]},{size[1]}', 'about:blank'],
            preexec_fn=on_pipe_fds, close_fds=False, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(commands_read)
        os.close(replies_write)
        self._buffer, self._id, self.requests, self.errors = b'', 0, [], []
        target = self.call('Target.createTarget', url='about:blank')['targetId']
        self.session = self.call('Target.attachToTarget', targetId=target, flatten=True)['sessionId']
        for domain in ('Network', 'Page', 'Runtime'):
            self.call(f'{domain}.enable', self.session)

    def call(self, method, session=None, **params):
        self._id += 1
        message = {'id': self._id, 'method': method, 'params': params}
        if session:
            message['sessionId'] = session
        os.write(self._commands, json.dumps(message).encode() + b'\0')
        while True:
            reply = self._next()
            if reply.get('id') == self._id:
                if 'error' in reply:
                    raise RuntimeError(f'{method}: {reply["error"]}')
                return reply['result']

    def _next(self):
        while b'\0' not in self._buffer:
            chunk = os.read(self._replies, 1 << 16)
            if not chunk:
                raise RuntimeError('Chromium closed the pipe')
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b'\0', 1)
        message = json.loads(raw)
        if message.get('method') == 'Network.requestWillBeSent':
            self.requests.append(message['params']['request']['url'])
        elif message.get('method') == 'Runtime.exceptionThrown':
            self.errors.append(message['params']['exceptionDetails'].get('text', 'an uncaught error'))
        return message

    def open(self, url):
        """Navigate and wait for the load event."""
        self.call('Page.navigate', self.session, url=url)
        while self._next().get('method') != 'Page.loadEventFired':
            pass

    def evaluate(self, expression):
        result = self.call('Runtime.evaluate', self.session, expression=expression, returnByValue=True,
                           awaitPromise=True)
        if 'exceptionDetails' in result:
            raise RuntimeError(f'{expression}: {result["exceptionDetails"]}')
        return result['result'].get('value')

    def click(self, x, y):
        for kind in ('mousePressed', 'mouseReleased'):
            self.call('Input.dispatchMouseEvent', self.session, type=kind, x=x, y=y, button='left', clickCount=1)

    def screenshot(self):
        """The visible page as PNG bytes."""
        return base64.b64decode(self.call('Page.captureScreenshot', self.session, format='png')['data'])

    def close(self):
        try:
            self.call('Browser.close')
        except RuntimeError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        os.close(self._commands)
        os.close(self._replies)
