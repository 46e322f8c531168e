"""`python -m donkey_saliency ...` does what `donkey saliency ...` does."""
from donkey_saliency.cli import console

if __name__ == '__main__':  # not when a --jobs worker process is spawned, which imports this module again
    console()
