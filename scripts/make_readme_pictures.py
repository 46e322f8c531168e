"""Remake the pictures of the README and docs/report.md from the current code, through the commands a user runs:

- docs/demo_frame.png: two frames (a right bend, a left bend) of
  `donkey-saliency --demo --layout panels --method gradcam`, decoded back from the video, one above the other;
- docs/report_top.png: the top of `donkey-saliency report` (the advice, and what the pilot uses) on the real
  tub shimoda_realcar_v2 (MIT; public at github.com/yuki-shimoda-crypto/Donkey_Car, branch
  model_26_1445_small_camera_v1) with its own pilot and config.py, every 4th record, as docs/report.md says,
  screenshot in the headless Chromium the tests use (tests/browser.py) and cut at the end of that section.

Usage (in the main environment, Python 3.11 with donkeycar): python scripts/make_readme_pictures.py
    [--real-tub ../shared/data/shimoda_realcar_v2] [--only demo|report]
The report on the whole real tub takes a few minutes on 2 cores; the demo picture about half a minute.
"""
import argparse
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, 'docs')
DEMO_FRAMES = (20, 95)  # the road bends right at record 20 and left at 95: red, then blue
PAGE_WIDTH = 1000  # wide enough for the report's picture beside its bars, as on a laptop


def command(*args):
    """`donkey-saliency ARGS` from this checkout (python -m: the same code as `donkey saliency`)."""
    subprocess.run([sys.executable, '-m', 'donkey_saliency', *map(str, args), '--no-progress'], check=True, cwd=ROOT)


def write_png(path, image_bgr):
    import cv2
    cv2.imwrite(path, image_bgr, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f'wrote {os.path.relpath(path, ROOT)}: {image_bgr.shape[1]}x{image_bgr.shape[0]}, '
          f'{os.path.getsize(path) / 1000:.0f} kB')


def demo_picture(folder):
    import cv2
    import numpy as np
    video = os.path.join(folder, 'demo.mp4')
    command('--demo', '--layout', 'panels', '--method', 'gradcam', '--out', video)
    capture = cv2.VideoCapture(video)
    frames = []
    while len(frames) <= max(DEMO_FRAMES):
        ok, frame = capture.read()
        if not ok:
            raise SystemExit(f'{video} holds only {len(frames)} frames')
        frames.append(frame)
    capture.release()
    first, second = (frames[i] for i in DEMO_FRAMES)
    gap = np.full((8,) + first.shape[1:], 255, np.uint8)  # white, as the README's page: two frames, not one
    write_png(os.path.join(DOCS, 'demo_frame.png'), np.vstack([first, gap, second]))


def report_picture(folder, real_tub):
    if not os.path.isdir(real_tub):
        raise SystemExit(f'{real_tub} is not there: pass --real-tub (docs/report.md\'s picture is of that tub)')
    page = os.path.join(folder, 'report.html')
    command('report', '--tub', os.path.join(real_tub, 'data'), '--model',
            os.path.join(real_tub, 'models', 'final_1.tflite'), '--config', os.path.join(real_tub, 'config.py'),
            '--every', '4', '--out', page)
    sys.path.insert(0, os.path.join(ROOT, 'tests'))
    from browser import CHROMIUM, Browser
    import cv2
    import numpy as np
    if CHROMIUM is None:
        raise SystemExit('no Chromium found (apt-get install chromium)')
    browser = Browser(os.path.join(folder, 'profile'), size=(PAGE_WIDTH, 800))
    try:
        browser.open('file://' + page)
        # the page down to the end of the section after the advice ("What the pilot uses": its evidence)
        bottom = browser.evaluate("Math.ceil(document.querySelector('#advice').nextElementSibling"
                                  ".getBoundingClientRect().bottom + window.scrollY)")
        browser.call('Emulation.setDeviceMetricsOverride', browser.session, width=PAGE_WIDTH, height=bottom,
                     deviceScaleFactor=1, mobile=False)
        shot = browser.screenshot()
    finally:
        browser.close()
    image = cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_COLOR)[:bottom]
    write_png(os.path.join(DOCS, 'report_top.png'), image)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--real-tub', default=os.path.join(ROOT, '..', 'shared', 'data', 'shimoda_realcar_v2'))
    parser.add_argument('--only', choices=('demo', 'report'))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.only in (None, 'demo'):
            demo_picture(folder)
        if args.only in (None, 'report'):
            report_picture(folder, os.path.abspath(args.real_tub))


if __name__ == '__main__':
    main()
