"""crossmodal_lib: the small, tested library behind the executable textbook on cross-modal learning.

One module per idea, each naming the book section it implements:

=================  ==================================================================
``data``           one import for all the data below (re-exports them)
``pairs``          the paired-dataset container every modality uses (Part 1)
``digits``         the handwritten digits and attributes measured from pixels (Part 1)
``captions``       English/Chinese captions: write, parse, zero-shot prompts (Part 1)
``speech``         spoken digits as log-mel spectrograms, Griffin-Lim (Part 5.2), connected digits (5.2b)
``ctc``            connectionist temporal classification: forward recursion, decoding (Part 5.2b)
``video``          moving-digit clips (Part 5.3)
``history``        the milestones of the Part 1 timeline
``text``           tokenizer and vocabulary for captions
``encoders``       per-modality encoders
``fusion``         early and late fusion (Part 2)
``cca``            canonical correlation analysis (Part 3.1)
``embedding``      shared spaces: InfoNCE, triplet, the dual encoder (Part 3.1)
``gan_theory``     the GAN game on a grid, the ring of Gaussians (Part 3.2)
``gan``            generative adversarial networks, text-to-image (Part 3.2)
``gaussians``      Gaussian KL, reparameterisation, product of experts (Part 3.3)
``likelihoods``    pixel and feature likelihoods, density baselines (Part 3.3)
``vae``            the image VAE and the conditional VAE (Part 3.3)
``multimodal_vae`` the multimodal VAE and the caption decoder (Part 3.3b)
``pipeline``       the five steps end to end: data, shared space, GAN, VAE, evaluation (Part 3.4)
``minimal``        the source's three code examples rebuilt, smallest correct versions (Part 4)
``attention``      attention, multi-head attention, Transformer blocks and text tower (Part 7.1)
``decoding``       beam search for any caption decoder (Parts 3.3b, 7.1)
``diffusion``      noise schedules, DDPM and DDIM sampling, classifier-free guidance (Part 7.2)
``challenges``     the challenges measured: scarce pairs, cost, new combinations (Parts 7.3-7.3c)
``composition``    the three generators asked for combinations never seen in training (Part 7.3g)
``unpaired``       the multimodal VAE on a few pairs plus unpaired inputs and captions (Part 7.3d)
``robustness``     shifted test images and augmentation against them (Part 7.3e)
``crosslingual``   queries in another language: image pivot, bilingual spaces (Part 7.3f)
``tools``          optional heavy dependencies, imported inside functions (Keras: Part 4)
``metrics``        accuracy, Recall@K, median rank
``training``       seed, device, the training loop and step, checkpoints
``config``         trainer configs with overrides, checked string options
``plotting``       figures readable in light and dark mode
``prose``          numbers glued from cells into the text (myst-nb)
``exercises``      auto-checkers for the exercises
=================  ==================================================================
"""

from . import (
    attention, captions, cca, challenges, composition, config, crosslingual, ctc, data, decoding, diffusion, digits, embedding, encoders, exercises, fusion, gan, gan_theory, gaussians, history,
    likelihoods, metrics, minimal, multimodal_vae, pairs, pipeline, plotting, prose, robustness, speech, text, training, unpaired, vae, video,
)
from .data import PairedDataset, load_digit_pairs
from .text import Vocabulary, tokenize
from .prose import glue
from .training import fit, get_device, load_checkpoint, save_checkpoint, set_seed, train

__version__ = "0.1.0"

__all__ = [
    "PairedDataset", "Vocabulary", "attention", "captions", "cca", "challenges", "composition", "config", "crosslingual", "ctc", "data", "decoding", "diffusion", "digits", "embedding", "encoders",
    "exercises", "fit", "fusion", "gan", "gan_theory", "gaussians", "get_device", "glue", "history", "likelihoods",
    "load_checkpoint", "load_digit_pairs", "metrics", "multimodal_vae", "pairs", "plotting", "prose", "robustness", "save_checkpoint",
    "set_seed", "speech", "text", "tokenize", "train", "training", "unpaired", "vae", "video",
]
