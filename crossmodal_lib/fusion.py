"""Early and late fusion of two modalities (book: Part 2, "Fusion: early or late?").

The task: recognise the digit from two *unreliable* views of the same item -- a noisy
image and a caption that sometimes names the wrong digit. Each view alone makes
mistakes; because their mistakes are independent, combining them helps.

* **Early fusion** (feature level) concatenates the two feature vectors and trains one
  classifier on ``[x_image ; x_text]``.
* **Late fusion** (decision level) trains one classifier per modality and combines their
  predictions. With class posteriors p_img(y|x) and p_txt(y|t) from independent views
  and a uniform prior, Bayes' rule gives the *product rule*

      p(y | x, t)  ∝  p_img(y | x) · p_txt(y | t),

  i.e. add log-probabilities (Kittler et al., 1998): :func:`late_fusion`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import resolve_config
from .data import PairedDataset, describe
from .encoders import MLP
from .training import fit, get_device, seeded_loader

__all__ = ["ClassifierConfig", "EarlyFusion", "corrupt_pairs", "late_fusion", "predict_logits", "train_classifier"]


def corrupt_pairs(ds: PairedDataset, *, image_noise: float, caption_swap: float, seed: int = 0) -> PairedDataset:
    """A copy of ``ds`` with Gaussian pixel noise and captions that sometimes lie.

    Each pixel gets N(0, ``image_noise``²) noise (clamped to [0, 1]). With probability
    ``caption_swap`` a caption is rewritten for a *different* digit (uniform over the other
    nine) with the same attribute levels. Labels are unchanged: they are the truth. Every other
    field (``indices``, ``modality``, ``lang``, ``speakers``...) is kept as it is.
    """
    if not 0.0 <= caption_swap <= 1.0:
        raise ValueError(f"caption_swap is a probability, got {caption_swap}")
    if image_noise < 0:
        raise ValueError(f"image_noise must be >= 0, got {image_noise}")
    gen = torch.Generator().manual_seed(seed)
    noisy = (ds.inputs + image_noise * torch.randn(ds.inputs.shape, generator=gen)).clamp(0, 1)
    rng = np.random.default_rng(seed)
    captions = list(ds.captions)
    for i in np.flatnonzero(rng.random(len(ds)) < caption_swap):
        wrong = (int(ds.labels[i]) + rng.integers(1, 10)) % 10
        captions[i] = describe(wrong, int(ds.attributes["thickness"][i]), int(ds.attributes["slant"][i]), ds.lang, rng)
    return dataclasses.replace(ds, inputs=noisy, captions=captions, labels=ds.labels.clone(),
                               attributes={k: v.clone() for k, v in ds.attributes.items()})


class EarlyFusion(nn.Module):
    """One MLP on the concatenated features: ``([B, d_img], [B, d_txt]) -> [B, classes]``."""

    def __init__(self, d_img: int, d_txt: int, num_classes: int = 10, hidden: int = 64) -> None:
        super().__init__()
        self.mlp = MLP(d_img + d_txt, num_classes, hidden=(hidden,))

    def forward(self, x_img: torch.Tensor, x_txt: torch.Tensor) -> torch.Tensor:
        if len(x_img) != len(x_txt):
            raise ValueError(f"mismatched pairs: {len(x_img)} images but {len(x_txt)} captions")
        return self.mlp(torch.cat([x_img.flatten(1), x_txt.flatten(1)], dim=1))


def late_fusion(logits_img: torch.Tensor, logits_txt: torch.Tensor) -> torch.Tensor:
    """Product-rule fusion: normalised log p(y|x,t) = log_softmax(log p_img + log p_txt), ``[B, C]``."""
    if logits_img.shape != logits_txt.shape:
        raise ValueError(f"both experts must score the same classes: {tuple(logits_img.shape)} vs {tuple(logits_txt.shape)}")
    return torch.log_softmax(F.log_softmax(logits_img, dim=1) + F.log_softmax(logits_txt, dim=1), dim=1)


@dataclass(frozen=True)
class ClassifierConfig:
    """Hyperparameters of :func:`train_classifier` (the fusion experiments of Part 2)."""

    epochs: int = 40                  # passes over the training examples
    lr: float = 3e-3                  # Adam learning rate
    batch_size: int = 64              # examples per batch
    weight_decay: float = 1e-4        # L2 penalty (Adam's weight_decay)


def train_classifier(model: nn.Module, inputs: tuple[torch.Tensor, ...], labels: torch.Tensor,
                     config: ClassifierConfig | None = None, *, seed: int = 0, progress: bool | str = True,
                     **overrides: Any) -> dict[str, list[float]]:
    """Train ``model(*inputs) -> logits`` with cross-entropy on the library's device
    (:func:`~crossmodal_lib.training.fit`); ``inputs`` are aligned ``[N, ...]`` tensors,
    ``labels`` ``[N]``. Returns the per-epoch history; the model is left in eval mode."""
    config = resolve_config(ClassifierConfig, config, overrides)
    loader = seeded_loader(*inputs, labels, batch_size=config.batch_size, seed=seed)

    def loss_fn(m: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        *xs, y = batch
        return F.cross_entropy(m(*xs), y)

    return fit(model, loss_fn, loader, epochs=config.epochs, lr=config.lr, weight_decay=config.weight_decay,
               progress=progress)


@torch.no_grad()
def predict_logits(model: nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
    """``model(*inputs)`` in eval mode on the model's device; logits returned on the CPU."""
    model.eval()
    device = next(model.parameters(), torch.empty(0, device=get_device())).device
    return model(*(x.to(device) for x in inputs)).cpu()
