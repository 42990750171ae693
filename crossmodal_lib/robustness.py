"""Domain shift (Part 7.3e): test images that differ from the training images in a known way,
and the training-time augmentation that prepares a model for it.

* :func:`add_noise`, :func:`rotate_images` and :func:`translate_images` -- three shifts of an
  image batch ``[N, 1, H, W]`` in ``[0, 1]``, each with one severity parameter;
  :func:`perturb` applies one by name (:data:`PERTURBATIONS`).
* :class:`Augmentation` -- random noise and rotation drawn per training image, passed to
  :func:`~crossmodal_lib.embedding.train_dual_encoder` as ``augment`` (eq-augmentation).
* :func:`shift_curve` -- zero-shot accuracy of dual encoders trained several ways (the arms),
  on the test images at every severity of every shift, as plain rows
  (summarise them with :func:`~crossmodal_lib.challenges.summarise`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .config import check_choice
from .embedding import train_dual_encoder
from .metrics import accuracy, zero_shot_classify
from .pairs import PairedDataset
from .text import Vocabulary
from .training import progress_bar

__all__ = ["PERTURBATIONS", "Augmentation", "add_noise", "perturb", "rotate_images", "shift_curve", "translate_images"]

#: The shifts :func:`perturb` knows, and the unit of each one's severity.
PERTURBATIONS: dict[str, str] = {"noise": "standard deviation", "rotation": "degrees", "shift": "pixels"}


def _check_images(images: torch.Tensor) -> None:
    if images.dim() != 4:
        raise ValueError(f"expected images [N, C, H, W], got shape {tuple(images.shape)}")
    if len(images) == 0:
        raise ValueError("got an empty batch of images")


def add_noise(images: torch.Tensor, sigma: float | torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``clamp(x + sigma * eps, 0, 1)`` with ``eps ~ N(0, I)``, ``[N, C, H, W]``; ``sigma`` is one
    number or one per image ``[N]``. The clamp keeps pixels in the range the towers were trained on."""
    _check_images(images)
    sigma = torch.as_tensor(sigma, dtype=images.dtype, device=images.device)
    if (sigma < 0).any():
        raise ValueError(f"the noise level must be >= 0, got {sigma.min().item()}")
    eps = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
    return (images + sigma.reshape(-1, 1, 1, 1) * eps).clamp(0, 1)


def rotate_images(images: torch.Tensor, degrees: float | torch.Tensor) -> torch.Tensor:
    """Rotate each image about its centre, counter-clockwise by ``degrees`` (one number or one per
    image ``[N]``), with bilinear interpolation and zeros where nothing maps in, ``[N, C, H, W]``.
    A rotation moves ink along arcs, so it also changes the slant that the captions describe
    (Part 1's measure ``crossmodal_lib.digits.slant``)."""
    _check_images(images)
    angle = torch.as_tensor(degrees, dtype=images.dtype, device=images.device).reshape(-1) * math.pi / 180
    angle = angle.expand(len(images))
    cos, sin = torch.cos(angle), torch.sin(angle)
    zero = torch.zeros_like(cos)
    # affine_grid maps output coordinates to input ones (x right, y down): rotating the image by
    # +angle counter-clockwise on screen means sampling the input at the output point rotated back
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)  # [N, 2, 3]
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def translate_images(images: torch.Tensor, pixels: float) -> torch.Tensor:
    """Move every image ``pixels`` columns to the right (left if negative), filling with zeros;
    ink pushed past the edge is lost. ``[N, C, H, W]``. ``pixels`` must be a whole number."""
    _check_images(images)
    if int(pixels) != pixels:
        raise ValueError(f"pixels must be a whole number, got {pixels}")
    p, width = int(pixels), images.shape[-1]
    if abs(p) >= width:
        return torch.zeros_like(images)
    if p == 0:
        return images.clone()
    out = torch.zeros_like(images)
    if p > 0:
        out[..., p:] = images[..., : width - p]
    else:
        out[..., : width + p] = images[..., -p:]
    return out


def perturb(images: torch.Tensor, kind: str, level: float, seed: int = 0) -> torch.Tensor:
    """Apply the shift ``kind`` (one of :data:`PERTURBATIONS`) at severity ``level``; the noise is
    drawn from a generator seeded with ``seed``, so a test set is perturbed the same way every time."""
    check_choice("kind", kind, tuple(PERTURBATIONS))
    if kind == "noise":
        return add_noise(images, level, torch.Generator(device=images.device).manual_seed(seed))
    if kind == "rotation":
        return rotate_images(images, level)
    return translate_images(images, level)


@dataclass(frozen=True)
class Augmentation:
    """Random changes of each training image, drawn anew at every step (eq-augmentation): noise with a
    standard deviation uniform in ``[0, noise]`` and a rotation uniform in ``[-rotation, rotation]``
    degrees. Draws from torch's global generator, which the trainer seeds. Callable on ``[B, C, H, W]``."""

    noise: float = 0.0        # largest noise standard deviation
    rotation: float = 0.0     # largest rotation, degrees

    def __post_init__(self) -> None:
        if self.noise < 0 or self.rotation < 0:
            raise ValueError(f"augmentation strengths must be >= 0, got noise={self.noise}, rotation={self.rotation}")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.rotation:
            x = rotate_images(x, (2 * torch.rand(len(x), device=x.device) - 1) * self.rotation)
        if self.noise:
            x = add_noise(x, torch.rand(len(x), device=x.device) * self.noise)
        return x


def shift_curve(train: PairedDataset, test: PairedDataset, prompts: Sequence[Sequence[str]],
                arms: Mapping[str, Mapping[str, Any]], levels: Mapping[str, Iterable[float]], seeds: Iterable[int], *,
                epochs: int = 10, device: torch.device | str | None = None, progress: bool = True) -> list[dict[str, Any]]:
    """One row per (arm, seed, shift, severity): ``{"method", "seed", "kind", "level", "zero-shot",
    "seconds"}``. Each arm is a dual encoder trained on all of ``train`` for ``epochs`` with the
    overrides ``arms[name]`` (e.g. ``{"shift": 0}`` or ``{"augment": Augmentation(0.3, 20)}``), one
    vocabulary for all; it is scored by zero-shot accuracy with ``prompts`` on ``test`` perturbed by
    every ``kind`` in ``levels`` at every level (:func:`perturb`, noise seeded with the level's index)."""
    for kind in levels:
        check_choice("kind", kind, tuple(PERTURBATIONS))
    vocab = Vocabulary.build(train.captions, train.lang)
    jobs = [(name, seed) for name in arms for seed in seeds]
    rows = []
    for name, seed in progress_bar(jobs, "domain-shift curves", progress):
        model = train_dual_encoder(train, seed=seed, device=device, vocab=vocab, progress=False, epochs=epochs,
                                   **dict(arms[name]))
        classes = [model.encode_texts(list(p)) for p in prompts]           # the prompts once per model
        for kind, values in levels.items():
            for i, level in enumerate(values):
                predicted = zero_shot_classify(model.encode_inputs(perturb(test.inputs, kind, level, seed=i)), classes)
                rows.append({"method": name, "seed": seed, "kind": kind, "level": level, "seconds": model.train_seconds,
                             "zero-shot": accuracy(predicted, test.labels)})
    return rows
