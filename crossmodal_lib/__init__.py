"""crossmodal_lib: the small, tested library behind the executable textbook on cross-modal learning.

One module per idea, each naming the book section it implements:

=================  ==================================================================
``data``           paired digits with English/Chinese captions, measured attributes
``text``           tokenizer and vocabulary for captions
``encoders``       per-modality encoders
``fusion``         early and late fusion (Part 2)
``embedding``      shared spaces: CCA, InfoNCE, triplet, the dual encoder (Part 3.1)
``gan``            generative adversarial networks, text-to-image (Part 3.2)
``vae``            variational autoencoders, the multimodal VAE (Part 3.3)
``metrics``        accuracy, Recall@K, median rank
``training``       seed, device, training loop with a NaN guard, checkpoints
``plotting``       figures readable in light and dark mode
``exercises``      auto-checkers for the exercises
=================  ==================================================================
"""

from . import data, embedding, encoders, exercises, fusion, gan, metrics, plotting, text, training, vae
from .data import PairedDataset, load_digit_pairs
from .text import Vocabulary, tokenize
from .training import fit, get_device, load_checkpoint, save_checkpoint, set_seed, train

__version__ = "0.1.0"

__all__ = [
    "PairedDataset", "Vocabulary", "data", "embedding", "encoders", "exercises", "fit", "fusion", "gan",
    "get_device", "load_checkpoint", "load_digit_pairs", "metrics", "plotting", "save_checkpoint",
    "set_seed", "text", "tokenize", "train", "training", "vae",
]
