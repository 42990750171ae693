"""Likelihoods p(x | z) and density baselines, in nats (book: Part 3.3 and Part 5.2).

A VAE's bound is only comparable with other models if its likelihood is a real distribution
over the data. The digit pixels are counts: each is the number of "on" pixels of a 4 x 4 block
(0..16), so ``p(x_j | z) = Binomial(16, sigmoid(logit_j))`` (eq-binomial;
:func:`binomial_log_likelihood`), and log-likelihoods are nats per image, comparable with the
baselines :func:`pixel_baseline` (independent pixels) and :func:`fit_binomial_mixture`
(a mixture fitted by EM). Spectrograms are continuous: :func:`gaussian_log_likelihood`.
:func:`likelihood_for` picks the one that fits a modality; :func:`check_inputs` rejects empty
or non-finite batches before any likelihood sees them.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

from .config import check_choice

__all__ = [
    "PIXEL_COUNTS",
    "binomial_log_likelihood",
    "check_inputs",
    "fit_binomial_mixture",
    "gaussian_log_likelihood",
    "likelihood_for",
    "mixture_log_likelihood",
    "pixel_baseline",
]

#: Each pixel of the digits counts "on" pixels in a 4 x 4 block: 0..16.
PIXEL_COUNTS = 16
Likelihood = Literal["binomial", "gaussian"]


def _counts(x: torch.Tensor) -> torch.Tensor:
    k = x.reshape(len(x), -1) * PIXEL_COUNTS
    if (k - k.round()).abs().max() > 1e-4 or k.min() < 0 or k.max() > PIXEL_COUNTS:
        raise ValueError("pixel values must be counts / 16 in [0, 1] (the digits' 17 levels)")
    return k.round()


def binomial_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | logits) in nats per image ``[N]``, pixels i.i.d. Binomial(16, sigmoid(logit)).

    ``logits`` ``[N, ...]`` and ``x`` (values k/16) flatten to ``[N, D]``. Uses
    log C(16, k) + k log p + (16 - k) log(1 - p), with the log-sigmoids computed stably.
    """
    k = _counts(x)
    logits = logits.reshape(len(logits), -1)
    if logits.shape != k.shape:
        raise ValueError(f"logits and x must have the same number of pixels, got {tuple(logits.shape)} and {tuple(k.shape)}")
    n = torch.tensor(float(PIXEL_COUNTS), device=k.device)
    log_choose = torch.lgamma(n + 1) - torch.lgamma(k + 1) - torch.lgamma(n - k + 1)
    return (log_choose + k * F.logsigmoid(logits) + (n - k) * F.logsigmoid(-logits)).sum(1)


def gaussian_log_likelihood(mean: torch.Tensor, log_sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log N(x | mean, sigma^2) in nats per example ``[N]``, features independent.

    ``mean`` and ``x`` flatten to ``[N, D]``; ``log_sigma`` is ``[D]`` (one learned scale per
    feature) or broadcastable to it. For continuous features such as log-mel spectrograms,
    where the binomial count model of the digits does not apply (Part 5.2). A density, so
    the nats are not comparable with those of a discrete likelihood.
    """
    mean, x = mean.reshape(len(mean), -1), x.reshape(len(x), -1)
    if mean.shape != x.shape:
        raise ValueError(f"mean and x must have the same number of features, got {tuple(mean.shape)} and {tuple(x.shape)}")
    z = (x - mean) / log_sigma.exp()
    return (-0.5 * z ** 2 - log_sigma - 0.5 * math.log(2 * math.pi)).sum(1)


def likelihood_for(modality: str) -> Likelihood:
    """``"binomial"`` for digit images and moving-digit clips (pixel counts k/16),
    ``"gaussian"`` for spectrograms."""
    check_choice("modality", modality, ("image", "video", "spectrogram"))
    return "gaussian" if modality == "spectrogram" else "binomial"


def pixel_baseline(train_x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """The independent-pixel model: logits ``[D]`` of each pixel's mean intensity (maximum likelihood,
    clipped to [eps, 1 - eps] so that unseen ink does not cost infinite nats)."""
    p = train_x.reshape(len(train_x), -1).mean(0).clamp(eps, 1 - eps)
    return torch.logit(p)


def fit_binomial_mixture(x: torch.Tensor, k: int, *, iters: int = 100, seed: int = 0,
                         eps: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
    """A mixture of k independent-binomial images, fitted by EM. Returns (log weights ``[k]``,
    logits ``[k, D]``); score it with :func:`mixture_log_likelihood`."""
    gen = torch.Generator().manual_seed(seed)
    flat = x.reshape(len(x), -1).double()
    probs = flat[torch.randperm(len(x), generator=gen)[:k]].clamp(0.05, 0.95)  # k data points as seeds
    log_w = torch.full((k,), -math.log(k), dtype=torch.float64)
    for _ in range(iters):
        resp = (log_w + _component_ll(torch.logit(probs), x)).softmax(1)      # E step: [N, k]
        log_w = (resp.mean(0) + 1e-12).log()                                     # M step
        probs = ((resp.T @ flat) / resp.sum(0)[:, None]).clamp(eps, 1 - eps)
    return log_w.float(), torch.logit(probs).float()


def _component_ll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``[k, D]`` logits, ``[N, ...]`` x -> log-likelihood of each image under each component ``[N, k]``."""
    n, k = len(x), len(logits)
    xs = x.reshape(n, 1, -1).expand(n, k, -1).reshape(n * k, -1).to(logits.dtype)
    ls = logits[None].expand(n, k, -1).reshape(n * k, -1)
    return binomial_log_likelihood(ls, xs).view(n, k)


def mixture_log_likelihood(log_weights: torch.Tensor, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log sum_c w_c p(x | c) in nats per image ``[N]``."""
    return torch.logsumexp(log_weights + _component_ll(logits, x), dim=1)



def check_inputs(x: torch.Tensor, dims: int | None = None) -> None:
    """Raise ``ValueError`` for an empty batch, one with NaN/inf values, or (with ``dims``) one of
    another number of dimensions. Inputs are ``[N, ...]``: images, spectrograms or clips."""
    if (dims is not None and x.dim() != dims) or x.dim() < 2 or len(x) == 0:
        wanted = f" with {dims} dimensions" if dims is not None else ""
        raise ValueError(f"expected a non-empty batch of inputs [N, ...]{wanted}, got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("inputs contain NaN or infinite values")

