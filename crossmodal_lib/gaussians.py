"""Gaussian building blocks of every VAE in the book (book: Part 3.3).

* :func:`gaussian_kl` -- KL between diagonal Gaussians in closed form (eq-gauss-kl).
* :func:`reparameterize` -- z = mu + sigma * eps, a sample differentiable in mu and sigma (eq-reparam).
* :func:`product_of_experts` -- precision-weighted fusion of Gaussian posteriors (eq-poe).
* :func:`log_normal` -- log N(z | mu, diag e^logvar), the density the importance-weighted and
  mixture bounds need.
* :class:`GaussianEncoder` -- any feature network followed by a head that outputs (mu, logvar).

Shapes: means and log-variances are ``[N, d]`` (``[E, N, d]`` for E experts); every density
is per row, ``[N]``, in nats.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LOGVAR_LIMIT", "GaussianEncoder", "gaussian_kl", "log_normal", "product_of_experts", "reparameterize"]

#: Encoders clamp log-variances to [-LOGVAR_LIMIT, LOGVAR_LIMIT] (sigma between e^-4 and e^4):
#: an unbounded head can drive exp(logvar) to 0 or infinity in the first steps and give NaNs.
LOGVAR_LIMIT = 8.0


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor, mu_p: torch.Tensor | None = None,
                logvar_p: torch.Tensor | None = None) -> torch.Tensor:
    """KL(N(mu, diag e^logvar) || N(mu_p, diag e^logvar_p)) per row, ``[N, d] -> [N]`` (eq-gauss-kl).

    The prior defaults to N(0, I): then KL = 1/2 sum(mu^2 + e^logvar - 1 - logvar).
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    mu_p = torch.zeros_like(mu) if mu_p is None else mu_p
    logvar_p = torch.zeros_like(logvar) if logvar_p is None else logvar_p
    return 0.5 * (logvar_p - logvar + (logvar.exp() + (mu - mu_p) ** 2) / logvar_p.exp() - 1).sum(-1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mu + sigma * eps with eps ~ N(0, I) (eq-reparam): a sample that is differentiable in mu and logvar."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + (0.5 * logvar).exp() * eps


def product_of_experts(mus: torch.Tensor, logvars: torch.Tensor, prior: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Product of Gaussian experts ``[E, N, d]`` -> one Gaussian ``[N, d]`` (eq-poe).

    Precisions add, and the mean is the precision-weighted mean of the experts' means. With
    ``prior=True`` the prior N(0, I) is included once, as one more expert (MVAE).
    """
    if mus.shape != logvars.shape or mus.dim() != 3:
        raise ValueError(f"expected experts' means and log-variances [E, N, d], got {tuple(mus.shape)} and {tuple(logvars.shape)}")
    precision = (-logvars).exp()
    total = precision.sum(0) + (1.0 if prior else 0.0)
    mu = (mus * precision).sum(0) / total
    return mu, -total.log()



def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z | mu, diag e^logvar), summed over the last dimension: ``[N, d] -> [N]``."""
    return -0.5 * (logvar + (z - mu) ** 2 / logvar.exp() + math.log(2 * math.pi)).sum(-1)


class GaussianEncoder(nn.Module):
    """Any feature network -> (mu, logvar), each ``[B, latent_dim]``; logvar is clamped to ``[-LOGVAR_LIMIT, LOGVAR_LIMIT]``."""

    def __init__(self, features: nn.Module, feature_dim: int, latent_dim: int) -> None:
        super().__init__()
        self.features, self.head = features, nn.Linear(feature_dim, 2 * latent_dim)

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(F.relu(self.features(inputs))).chunk(2, dim=-1)
        return mu, logvar.clamp(-LOGVAR_LIMIT, LOGVAR_LIMIT)

