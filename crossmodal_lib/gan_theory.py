"""GAN theory that needs no training: the game on a grid, and the ring of Gaussians (book: Part 3.2).

The GAN value function (Goodfellow et al., 2014) is

    V(D, G) = E_{x~p_data}[log D(x)] + E_{z~p_z}[log(1 - D(G(z)))]            (eq-gan-value)

On a grid of points the book checks what the paper proves:

* :func:`optimal_discriminator` -- D* = p_data / (p_data + p_g) (eq-gan-dstar);
* :func:`value_function` and :func:`jensen_shannon` -- so that V(D*, G) = -log 4 + 2 JSD
  (eq-gan-jsd) can be checked by numerical integration;
* :func:`ring_of_gaussians` and :func:`mode_coverage` -- the 2-D toy data on which mode
  collapse is seen, and how to count the modes a generator covers.

:mod:`crossmodal_lib.gan` re-exports every name here.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["jensen_shannon", "mode_coverage", "optimal_discriminator", "ring_of_gaussians", "value_function"]


# --------------------------------------------------------------------------------------
# Theory on a grid (eq-gan-value, eq-gan-dstar, eq-gan-jsd)
# --------------------------------------------------------------------------------------
def _densities(p_data: np.ndarray, p_g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, q = np.asarray(p_data, dtype=float), np.asarray(p_g, dtype=float)
    if p.shape != q.shape:
        raise ValueError(f"p_data and p_g must have the same shape, got {p.shape} and {q.shape}")
    if (p < 0).any() or (q < 0).any():
        raise ValueError("densities must be non-negative")
    return p, q


def optimal_discriminator(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)) (eq-gan-dstar), pointwise on a grid or a support.

    Where both densities are zero D* is not determined; it is set to 1/2 there.
    """
    p, q = _densities(p_data, p_g)
    total = p + q
    return np.divide(p, total, out=np.full_like(p, 0.5), where=total > 0)


def value_function(d: np.ndarray, p_data: np.ndarray, p_g: np.ndarray, dx: float = 1.0) -> float:
    """V(D, G) of (eq-gan-value) by quadrature: sum_x [p_data log D + p_g log(1 - D)] * dx.

    ``d``, ``p_data``, ``p_g``: values on the same grid (``dx`` its spacing; 1 for a discrete
    support). Terms with zero density contribute zero, as their limits do.
    """
    p, q = _densities(p_data, p_g)
    d = np.asarray(d, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        real = np.where(p > 0, p * np.log(d), 0.0)
        fake = np.where(q > 0, q * np.log1p(-d), 0.0)
    return float((real + fake).sum() * dx)


def jensen_shannon(p_data: np.ndarray, p_g: np.ndarray, dx: float = 1.0) -> float:
    """JSD(p || q) = KL(p || m)/2 + KL(q || m)/2 with m = (p + q)/2, in nats (between 0 and log 2)."""
    p, q = _densities(p_data, p_g)
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0).sum() * dx
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0).sum() * dx
    return float((kl_p + kl_q) / 2)


# --------------------------------------------------------------------------------------
# The 2-D toy problem: a ring of Gaussians (book: "Mode collapse")
# --------------------------------------------------------------------------------------
def ring_of_gaussians(n: int, modes: int = 8, radius: float = 2.0, std: float = 0.05,
                      seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points ``[n, 2]`` from an equal mixture of ``modes`` Gaussians on a circle, and the
    centres ``[modes, 2]``."""
    if n < 1 or modes < 1:
        raise ValueError(f"need n >= 1 and modes >= 1, got n={n}, modes={modes}")
    gen = torch.Generator().manual_seed(seed)
    angles = torch.arange(modes) * (2 * math.pi / modes)
    centres = radius * torch.stack([angles.cos(), angles.sin()], 1)
    which = torch.randint(modes, (n,), generator=gen)
    return centres[which] + std * torch.randn(n, 2, generator=gen), centres


def mode_coverage(samples: torch.Tensor, centres: torch.Tensor, std: float, *, min_share: float = 0.01) -> dict[str, float]:
    """How many modes a sampler covers, and how many of its samples are good.

    A sample is *good* if it lies within 3 ``std`` of its nearest centre; a mode is *covered*
    if it receives at least ``min_share`` of all samples as good ones (the criterion of
    Srivastava et al., 2017, on the same ring). Returns ``{"modes": covered, "good": fraction}``.
    """
    if samples.dim() != 2 or samples.shape[1] != centres.shape[1] or len(samples) == 0:
        raise ValueError(f"expected samples [N, {centres.shape[1]}] with N > 0, got {tuple(samples.shape)}")
    dist = torch.cdist(samples.float(), centres.float())
    nearest, which = dist.min(1)
    good = nearest < 3 * std
    counts = torch.bincount(which[good], minlength=len(centres))
    return {"modes": int((counts >= min_share * len(samples)).sum()), "good": float(good.float().mean())}
