"""Train the bundled sample pilot (KerasLinear) on the sample tub, with fixed seeds and deterministic ops.

Usage: python scripts/train_sample.py [--tub donkey_saliency/sample_data/tub] [--out donkey_saliency/sample_data/pilot.h5]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from donkey_saliency import sample, training  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--tub', default=sample.TUB)
    parser.add_argument('--out', default=sample.MODEL)
    parser.add_argument('--epochs', type=int, default=15)
    args = parser.parse_args()
    _, history = training.train('linear', args.tub, args.out, epochs=args.epochs, seed=0)
    print(f'best val_loss {min(history["val_loss"]):.4f}; saved {args.out}')


if __name__ == '__main__':
    main()
