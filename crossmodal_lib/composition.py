"""Part 7.3g: the book's three caption-to-image models asked to draw attribute combinations that
training never showed them (the held-out combinations of Part 7.3c, :data:`~crossmodal_lib.challenges.HELD_OUT`).

* :class:`GenerationBudget` and :func:`train_generators` -- the GAN, the multimodal VAE and the
  diffusion model trained on one set of pairs with the same number of optimiser steps whatever its size;
* :func:`combination_hits` and :func:`generation_scores` -- each generated image scored part by part:
  the judge's digit, and the thickness and slant levels measured on the dataset's own scale
  (:func:`~crossmodal_lib.data.dataset_thresholds`);
* :func:`novelty_cost` -- what never seeing a combination costs, against a control trained on all
  of them (eq-generation-cost).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .challenges import combination_prompts
from .embedding import train_dual_encoder
from .pairs import PairedDataset

__all__ = ["GENERATORS", "GenerationBudget", "combination_hits", "generation_scores", "novelty_cost", "train_generators"]

#: The caption-to-image models of Part 7.3g, as :func:`train_generators` names them.
GENERATORS: tuple[str, ...] = ("GAN", "MVAE", "diffusion")


@dataclass(frozen=True)
class GenerationBudget:
    """Optimiser steps of each model in :func:`train_generators` (Part 7.3g), the same whatever
    the number of pairs (:func:`~crossmodal_lib.training.epochs_for_steps`): a fraction of what the
    library defaults give on 1,437 pairs (dual encoder 275, GAN 2,200, MVAE 480, diffusion 1,200),
    with faster learning rates for the GAN and the MVAE, so that two of each train in a page."""

    text_steps: int = 60              # the dual encoder (batches of 128) whose text tower the GAN and diffusion read
    gan_steps: int = 270              # batches of 64
    gan_lr: float = 2e-3              # both players (library default 4e-4)
    mvae_steps: int = 230             # batches of 64
    mvae_lr: float = 4e-3             # library default 2e-3 (Part 7.3d uses 4e-3 too)
    diffusion_steps: int = 130        # batches of 128, library learning rate
    diffusion_sample_steps: int = 25  # DDIM steps per image (library default 50)


def train_generators(pairs: PairedDataset, budget: GenerationBudget = GenerationBudget(), *, seed: int = 0,
                     device: torch.device | str | None = None) -> dict[str, Any]:
    """The three caption-to-image models of :data:`GENERATORS`, trained on ``pairs`` with ``seed``,
    each for its ``budget`` of steps: the GAN and the diffusion model condition on the frozen text
    tower of one dual encoder trained first on the same pairs; the MVAE reads inputs and captions
    with its own experts (inputs alone, as in Part 7.3d). Returns ``{name: model}``; every model
    has ``generate(captions, seed) -> [N, 1, H, W]``."""
    from .diffusion import train_text_diffusion
    from .gan import train_conditional_gan
    from .multimodal_vae import train_multimodal_vae
    from .training import epochs_for_steps

    n, b, common = len(pairs), budget, {"seed": seed, "device": device, "progress": False}
    text = train_dual_encoder(pairs, epochs=epochs_for_steps(n, 128, b.text_steps, drop_last=True), **common)
    return {"GAN": train_conditional_gan(pairs, text_model=text, epochs=epochs_for_steps(n, 64, b.gan_steps, drop_last=True),
                                         lr=b.gan_lr, **common),
            "MVAE": train_multimodal_vae(pairs, dual_encoder=False, epochs=epochs_for_steps(n, 64, b.mvae_steps),
                                         batch_size=64, lr=b.mvae_lr, **common),
            "diffusion": train_text_diffusion(pairs, text_model=text, epochs=epochs_for_steps(n, 128, b.diffusion_steps),
                                              sample_steps=b.diffusion_sample_steps, **common)}


def combination_hits(images: torch.Tensor, combos: torch.Tensor, judge: Any, thresholds: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Did each image ``[N, 1, H, W]`` come out as its requested combination ``combos [N]`` (as in
    :func:`~crossmodal_lib.challenges.combination_labels`)? ``[N]`` bool per part: ``"digit"`` (the judge's class),
    ``"thickness"`` and ``"slant"`` (the measured ink and slant cut at the *requested* digit's
    real-data terciles ``thresholds[name] [10, 2]``, whatever digit the image shows), and
    ``"combination"`` (all three). A blank image has no slant: it misses every part but the digit."""
    from .digits import attribute_levels, ink, slant

    combos = torch.as_tensor(combos, dtype=torch.int64)
    if len(images) != len(combos):
        raise ValueError(f"got {len(images)} images for {len(combos)} requested combinations")
    digit, inked = combos // 9, images.flatten(1).sum(1) > 0
    leaning = torch.zeros(len(images))                  # slant is undefined without ink; those images miss anyway
    if inked.any():
        leaning[inked] = slant(images[inked])
    hits = {"digit": judge.predict(images) == digit,
            "thickness": (attribute_levels(ink(images), digit, thresholds["thickness"]) == combos // 3 % 3) & inked,
            "slant": (attribute_levels(leaning, digit, thresholds["slant"]) == combos % 3) & inked}
    hits["combination"] = hits["digit"] & hits["thickness"] & hits["slant"]
    return hits


def generation_scores(model: Any, judge: Any, thresholds: dict[str, torch.Tensor], per_combination: int = 8,
                      seed: int = 0) -> dict[str, np.ndarray]:
    """``per_combination`` images for each of the 90 combinations, asked for with that many
    captions of :func:`~crossmodal_lib.challenges.combination_prompts` (``seed``) in one call of ``model.generate``; returns
    ``[90]`` arrays, the share of each combination's images that :func:`combination_hits` accepts."""
    captions = combination_prompts(per_combination, seed)
    images = model.generate([c for per in captions for c in per], seed=seed)
    combos = torch.arange(90).repeat_interleave(per_combination)
    hits = combination_hits(images, combos, judge, thresholds)
    return {name: h.view(90, per_combination).double().mean(1).numpy() for name, h in hits.items()}


def novelty_cost(held: np.ndarray, control: np.ndarray, novel: np.ndarray) -> tuple[float, float]:
    """eq-generation-cost for per-combination scores ``[90]`` of the held-out arm and of the control,
    ``novel [90]`` (bool, the held-out combinations), blocked by digit (index ``c // 9``): for each
    digit, the mean of ``control - held`` over its novel combinations minus the mean over its seen
    ones; returns (the mean of the ten digit costs, their standard error over the digits). Every
    digit needs novel and seen combinations."""
    delta, novel = np.asarray(control, dtype=float) - np.asarray(held, dtype=float), np.asarray(novel, dtype=bool)
    if delta.shape != (90,) or novel.shape != (90,):
        raise ValueError(f"expected scores and a mask of shape (90,), got {delta.shape} and {novel.shape}")
    delta, novel = delta.reshape(10, 9), novel.reshape(10, 9)
    if not (novel.any(1) & (~novel).any(1)).all():
        raise ValueError("every digit needs held-out and seen combinations")
    per_digit = np.array([d[n].mean() - d[~n].mean() for d, n in zip(delta, novel)])
    return float(per_digit.mean()), float(per_digit.std(ddof=1) / np.sqrt(len(per_digit)))
