"""Make the bundled sample tub: 400 frames of the synthetic winding road, recorded at 20 Hz with donkeycar's Tub.

Usage: python scripts/make_sample.py [--out donkey_saliency/sample_data/tub]
The images are the same on every run (fixed seed); only the recorded timestamps differ.
"""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from donkey_saliency import sample, synthetic  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default=sample.TUB)
    parser.add_argument('--frames', type=int, default=400)
    args = parser.parse_args()
    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    synthetic.write_tub(args.out, synthetic.drive(args.frames, seed=2026), hz=20.0)
    print(f'wrote {args.frames} records to {args.out}')


if __name__ == '__main__':
    main()
