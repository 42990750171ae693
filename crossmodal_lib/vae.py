"""Variational autoencoders on images: the VAE and the conditional VAE (book: Part 3.3).

The source chapter writes the bound as "log p(x) ≈ ELBO" and then maximises
"E[log p(x)] - beta * KL". This module implements what Part 3.3 derives instead:

    log p(x) >= E_q[log p(x|z)] - KL(q(z|x) || p(z))        (the ELBO, eq-elbo)
    beta-VAE: E_q[log p(x|z)] - beta * KL(q(z|x) || p(z))     (eq-beta-vae)

* :class:`ImageVAE` with :meth:`ImageVAE.elbo` and :meth:`ImageVAE.iwae` (eq-iwae; Burda et
  al., 2016), trained by :func:`train_vae` with a :class:`VAEConfig`.
* :class:`ConditionalVAE`: q(z|x,c) and p(x|z,c) with c a frozen caption embedding (eq-cvae),
  trained by :func:`train_conditional_vae` with a :class:`ConditionalVAEConfig`.

Both trainers share :func:`fit_elbo`. The pieces live in modules of their own and are
re-exported here, so ``vae.X`` keeps working for all of them:
:mod:`crossmodal_lib.gaussians` (KL, reparameterisation, product of experts),
:mod:`crossmodal_lib.likelihoods` (binomial and Gaussian likelihoods, density baselines) and
:mod:`crossmodal_lib.multimodal_vae` (the MVAE/MMVAE and the caption decoder).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .config import resolve_config
from .data import PairedDataset
from .embedding import DualEncoder, train_dual_encoder
from .encoders import MLP
from .gaussians import GaussianEncoder, gaussian_kl, log_normal, product_of_experts, reparameterize
from .likelihoods import (PIXEL_COUNTS, binomial_log_likelihood, check_inputs, fit_binomial_mixture,
                          gaussian_log_likelihood, likelihood_for, mixture_log_likelihood, pixel_baseline)
from .multimodal_vae import (BagOfWords, CaptionDecoder, InputFeatures, MultimodalVAE, MultimodalVAEConfig,
                             train_multimodal_vae)
from .training import optimizer_step, resolve_device, seeded_loader, set_seed, train_model

__all__ = [
    "PIXEL_COUNTS",
    "BagOfWords",
    "CaptionDecoder",
    "ConditionalVAE",
    "ConditionalVAEConfig",
    "GaussianEncoder",
    "ImageVAE",
    "InputFeatures",
    "MultimodalVAE",
    "MultimodalVAEConfig",
    "VAEConfig",
    "binomial_log_likelihood",
    "fit_binomial_mixture",
    "fit_elbo",
    "gaussian_kl",
    "gaussian_log_likelihood",
    "likelihood_for",
    "log_normal",
    "mixture_log_likelihood",
    "pixel_baseline",
    "product_of_experts",
    "reparameterize",
    "train_conditional_vae",
    "train_multimodal_vae",
    "train_vae",
]


# --------------------------------------------------------------------------------------
# The image VAE (book: "A VAE on the digits")
# --------------------------------------------------------------------------------------
class ImageVAE(nn.Module):
    """q(z|x) = N(mu(x), diag sigma^2(x)), p(z) = N(0, I), p(x|z) = prod_j Binomial(16, sigmoid(f_j(z))).

    Images ``[N, 1, 8, 8]`` with values k/16. ``elbo`` and ``iwae`` return nats per image ``[N]``.
    """

    def __init__(self, latent_dim: int = 16, hidden: int = 256, image_shape: Sequence[int] = (1, 8, 8)) -> None:
        super().__init__()
        self.latent_dim, self.image_shape = latent_dim, tuple(image_shape)
        d = math.prod(self.image_shape)
        self.encoder = GaussianEncoder(MLP(d, hidden, (hidden,)), hidden, latent_dim)
        self.decoder = MLP(latent_dim, d, (hidden, hidden))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, *image_shape]``; ``sigmoid`` of them is the mean image."""
        return self.decoder(z).view(len(z), *self.image_shape)

    def elbo(self, x: torch.Tensor, beta: float = 1.0, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One-sample estimate of the (beta-)ELBO: returns (elbo, log-likelihood term, KL), each ``[N]``."""
        mu, logvar = self.encoder(x)
        rec = binomial_log_likelihood(self.decode(reparameterize(mu, logvar, generator)), x)
        kl = gaussian_kl(mu, logvar)
        return rec - beta * kl, rec, kl

    @torch.no_grad()
    def iwae(self, x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """The importance-weighted bound log (1/k) sum_i p(x, z_i) / q(z_i | x), ``[N]`` (eq-iwae).

        k = 1 is the ELBO; the bound rises towards log p(x) as k grows.
        """
        mu, logvar = self.encoder(x)
        n = len(x)
        z = reparameterize(mu.repeat(k, 1), logvar.repeat(k, 1), generator)           # [k*N, d]
        log_q = log_normal(z, mu.repeat(k, 1), logvar.repeat(k, 1))
        log_p = log_normal(z, torch.zeros_like(z), torch.zeros_like(z)) + binomial_log_likelihood(self.decode(z), x.repeat(k, 1, 1, 1))
        return torch.logsumexp((log_p - log_q).view(k, n), dim=0) - math.log(k)



@dataclass(frozen=True)
class VAEConfig:
    """Hyperparameters of :func:`train_vae`; the defaults are the book's (Part 3.3)."""

    latent_dim: int = 16              # dimension of z
    beta: float = 1.0                 # weight of the KL term (1 = the ELBO, eq-beta-vae)
    hidden: int = 256                 # width of the encoder's and decoder's hidden layers
    epochs: int = 60                  # passes over the training images
    batch_size: int = 64              # images per batch
    lr: float = 2e-3                  # Adam learning rate


def train_vae(inputs: torch.Tensor, config: VAEConfig | None = None, *, seed: int = 0,
              device: torch.device | str | None = None, progress: bool | str = True, **overrides: Any) -> ImageVAE:
    """Train an :class:`ImageVAE` on images ``[N, 1, H, W]`` by maximising the beta-ELBO (eq-beta-vae).

    Returns it on the CPU, in eval mode, with ``.config``, ``.history`` (per-epoch ``loss`` =
    -ELBO/image, ``rec``, ``kl``) and ``.train_seconds``.
    """
    config = resolve_config(VAEConfig, config, overrides)
    check_inputs(inputs, dims=4)
    set_seed(seed)
    model = ImageVAE(config.latent_dim, config.hidden, inputs.shape[1:])
    return fit_elbo(model, (inputs,), lambda x: model.elbo(x, config.beta), config, seed=seed, device=device,
                    progress=progress, desc=f"VAE (beta={config.beta:g})")


def fit_elbo(model: nn.Module, tensors: tuple[torch.Tensor, ...],
             elbo_fn: Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
             config: VAEConfig | ConditionalVAEConfig, *, seed: int, device: torch.device | str | None,
             progress: bool | str, desc: str) -> nn.Module:
    """Adam on -mean(elbo) over batches of ``tensors``; ``elbo_fn(*batch)`` returns (elbo, rec, kl),
    each ``[B]``. Sets ``.config``, ``.history`` and ``.train_seconds``; returns the model on the CPU."""
    device = resolve_device(device)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, foreach=True)
    loader = seeded_loader(*tensors, batch_size=config.batch_size, seed=seed)

    def step(batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        value, rec, kl = elbo_fn(*batch)
        return {"loss": optimizer_step(opt, -value.mean()), "rec": rec.mean(), "kl": kl.mean()}

    return train_model(model, step, loader, config, device=device, progress=progress, desc=desc)


# --------------------------------------------------------------------------------------
# The conditional VAE (book: "Conditioning on a caption")
# --------------------------------------------------------------------------------------
class ConditionalVAE(nn.Module):
    """q(z|x,c), p(x|z,c), p(z) = N(0, I), with c the frozen caption embedding of a dual encoder.

    ``elbo(x, c)`` bounds log p(x | c) (eq-cvae); ``generate(captions, seed)`` draws z from the
    prior and returns the decoder's mean images ``[N, *image_shape]`` in [0, 1] on the CPU.
    """

    def __init__(self, text_model: DualEncoder, latent_dim: int = 8, hidden: int = 256,
                 image_shape: Sequence[int] = (1, 8, 8)) -> None:
        super().__init__()
        self.text_model = copy.deepcopy(text_model).cpu().eval().requires_grad_(False)  # the caller's stays as it was
        self.latent_dim, self.image_shape = latent_dim, tuple(image_shape)
        d, c = math.prod(self.image_shape), text_model.dim
        self.encoder = GaussianEncoder(MLP(d + c, hidden, (hidden,)), hidden, latent_dim)
        self.decoder = MLP(latent_dim + c, d, (hidden, hidden))

    def decode(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, *image_shape]`` from latents ``z [N, latent_dim]`` and conditions ``c [N, d]``."""
        return self.decoder(torch.cat([z, c], 1)).view(len(z), *self.image_shape)

    def elbo(self, x: torch.Tensor, c: torch.Tensor, beta: float = 1.0,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(elbo, log-likelihood term, KL), each ``[N]``, for images x and conditions c ``[N, d]``."""
        mu, logvar = self.encoder(torch.cat([x.flatten(1), c], 1))
        rec = binomial_log_likelihood(self.decode(reparameterize(mu, logvar, generator), c), x)
        kl = gaussian_kl(mu, logvar)
        return rec - beta * kl, rec, kl

    @torch.no_grad()
    def generate(self, captions: Sequence[str], seed: int | None = None) -> torch.Tensor:
        """One mean image per caption, ``[N, *image_shape]`` in [0, 1] on the CPU; ``seed`` fixes z."""
        c = self.text_model.encode_texts(captions)  # checks the list and every word
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        z = torch.randn(len(c), self.latent_dim, generator=gen)
        device = next(self.decoder.parameters()).device
        return torch.sigmoid(self.decode(z.to(device), c.to(device))).cpu()


@dataclass(frozen=True)
class ConditionalVAEConfig:
    """Hyperparameters of :func:`train_conditional_vae`; the defaults are the book's (Part 3.3)."""

    latent_dim: int = 8               # dimension of z (the caption already fixes digit and attributes)
    beta: float = 1.0                 # weight of the KL term
    hidden: int = 256                 # width of the encoder's and decoder's hidden layers
    epochs: int = 60                  # passes over the training pairs
    batch_size: int = 64              # pairs per batch
    lr: float = 2e-3                  # Adam learning rate


def train_conditional_vae(pairs: PairedDataset, config: ConditionalVAEConfig | None = None, *, seed: int = 0,
                          device: torch.device | str | None = None, text_model: DualEncoder | None = None,
                          progress: bool | str = True, **overrides: Any) -> ConditionalVAE:
    """Train a :class:`ConditionalVAE` on image-caption pairs, with :class:`ConditionalVAEConfig`.

    Captions are embedded once by the frozen text tower of ``text_model`` (trained on ``pairs``
    with the same seed if not given; the caller's model is copied, not changed).
    """
    config = resolve_config(ConditionalVAEConfig, config, overrides)
    check_inputs(pairs.inputs, dims=4)
    set_seed(seed)
    if text_model is None:
        text_model = train_dual_encoder(pairs, seed=seed, device=device, progress=bool(progress))
    model = ConditionalVAE(text_model, config.latent_dim, config.hidden, pairs.inputs.shape[1:])
    cond = model.text_model.encode_texts(pairs.captions)
    return fit_elbo(model, (pairs.inputs.float(), cond), lambda x, c: model.elbo(x, c, config.beta), config,
                    seed=seed, device=device, progress=progress, desc=f"conditional VAE (beta={config.beta:g})")
