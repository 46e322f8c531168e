"""`python -m donkey_saliency ...` does what `donkey saliency ...` does."""
from donkey_saliency.cli import console

console()
