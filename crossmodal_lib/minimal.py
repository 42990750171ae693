"""The source's three "best practice" models, rebuilt as the smallest correct PyTorch versions (Part 4).

The source chapter ends with three short Keras classes: an embedding model, a "GAN model" and a
"VAE model". Part 4 of the book shows what is wrong with each; this module holds the corrected
versions, written as plainly as possible (``nn.Sequential`` of ``nn.Linear`` layers, every loss
from its formula) so that a reader can hold each in their head and compare it line by line with
the Keras versions in :mod:`crossmodal_lib.tools.keras_models`:

- :class:`TwoTowers` and :func:`contrastive_loss`: one encoder *per modality*, ``x @ W + b`` on
  batches, trained with symmetric InfoNCE (Part 3.1, eq-infonce);
- :class:`GAN` with its two losses and :func:`gan_step`: a generator G(z, c) that takes noise
  *and* a condition, a discriminator D(x, c), and alternating updates (Part 3.2, eq-gan-value);
- :class:`VAE`: a Gaussian encoder that *predicts* mean and log-variance, the reparameterisation
  trick with noise shaped like the latent, and the ELBO with its KL term (Part 3.3, eq-elbo).

The unit tests check each loss against the library's general implementation on the same
weights (:func:`~crossmodal_lib.embedding.info_nce`, :mod:`~crossmodal_lib.gan`,
:class:`~crossmodal_lib.vae.ImageVAE`) and train each briefly to the quality the book states.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .config import resolve_config
from .likelihoods import PIXEL_COUNTS
from .training import optimizer_step, resolve_device, seeded_loader, set_seed, train_model

__all__ = ["TwoTowers", "contrastive_loss", "GAN", "discriminator_loss", "generator_loss", "gan_step", "VAE",
           "binomial_log_likelihood", "MinimalConfig", "train_minimal"]


# --------------------------------------------------------------------------------------
# 1. A shared embedding space: two towers and InfoNCE
# --------------------------------------------------------------------------------------
class TwoTowers(nn.Module):
    """One small MLP per modality into a shared ``dim``-dimensional space, rows L2-normalised.

    ``forward(x [N, input_dim], counts [N, vocab_size]) -> (u [N, dim], v [N, dim])``; the caption
    side reads word counts (:meth:`~crossmodal_lib.text.Vocabulary.bag_of_words`). Each layer
    computes ``x @ W + b`` with ``W`` of shape ``[in, out]`` (``nn.Linear`` stores ``W`` transposed),
    so a batch of row vectors works; the source wrote ``W @ x``, which fails on a batch.
    """

    def __init__(self, input_dim: int, vocab_size: int, dim: int = 32, hidden: int = 128) -> None:
        super().__init__()
        self.image_tower = nn.Sequential(nn.Linear(input_dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        self.text_tower = nn.Sequential(nn.Linear(vocab_size, hidden), nn.ReLU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if len(x) != len(counts):
            raise ValueError(f"mismatched pairs: {len(x)} inputs but {len(counts)} captions")
        return F.normalize(self.image_tower(x), dim=-1), F.normalize(self.text_tower(counts), dim=-1)

    def loss(self, x: torch.Tensor, counts: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
        """Symmetric InfoNCE on a batch of pairs (a scalar)."""
        return contrastive_loss(*self(x, counts), temperature)


def contrastive_loss(u: torch.Tensor, v: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Symmetric InfoNCE, eq-infonce: pair i is the right answer in row i and in column i.

    ``u``, ``v``: ``[B, d]`` unit rows; logits ``u @ v.T / temperature``; the mean of the two
    cross-entropies (image -> text over rows, text -> image over columns).
    """
    if u.shape != v.shape or len(u) < 2:
        raise ValueError(f"need two [B, d] batches with B >= 2, got {tuple(u.shape)} and {tuple(v.shape)}")
    logits = u @ v.T / temperature
    target = torch.arange(len(u), device=u.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


# --------------------------------------------------------------------------------------
# 2. A conditional GAN: G(z, c), D(x, c), alternating updates
# --------------------------------------------------------------------------------------
class GAN(nn.Module):
    """G(z, c) -> data in [0, 1] ``[N, data_dim]`` and D(x, c) -> logit ``[N]``.

    The generator keeps the source's 128-64 layer widths and final sigmoid, but takes noise
    ``z ~ N(0, I)`` next to the condition ``c`` (without z, one condition gives one output), and
    a discriminator that sees the condition judges whether x is real *and* matches c.
    """

    def __init__(self, data_dim: int, cond_dim: int, z_dim: int = 16, hidden: tuple[int, int] = (128, 64)) -> None:
        super().__init__()
        h1, h2 = hidden
        self.z_dim = z_dim
        self.generator = nn.Sequential(nn.Linear(z_dim + cond_dim, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU(),
                                       nn.Linear(h2, data_dim), nn.Sigmoid())
        self.discriminator = nn.Sequential(nn.Linear(data_dim + cond_dim, h1), nn.LeakyReLU(0.2),
                                           nn.Linear(h1, h2), nn.LeakyReLU(0.2), nn.Linear(h2, 1))

    def generate(self, c: torch.Tensor, z: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """G(z, c) ``[N, data_dim]``; ``z`` is drawn from N(0, I) when not given."""
        if z is None:
            z = torch.randn(len(c), self.z_dim, generator=generator, device=c.device)
        return self.generator(torch.cat([z, c], dim=1))

    def critic(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """D's logit ``[N]``: D(x, c) = sigmoid(logit) is the probability that x is real for c."""
        if len(x) != len(c):
            raise ValueError(f"mismatched pairs: {len(x)} inputs but {len(c)} conditions")
        return self.discriminator(torch.cat([x, c], dim=1)).squeeze(1)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """D minimises -log D(x) - log(1 - D(G(z))) (eq-gan-value), a batch mean. With D = sigmoid(l),
    -log sigmoid(l) = softplus(-l) and -log(1 - sigmoid(l)) = softplus(l)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """G minimises -log D(G(z)) = softplus(-l), the non-saturating loss (a batch mean)."""
    return F.softplus(-fake_logits).mean()


def gan_step(model: GAN, x: torch.Tensor, c: torch.Tensor,
             optimizers: tuple[torch.optim.Optimizer, torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
    """One alternating update: D on real vs detached fakes, then G on fresh D logits."""
    opt_g, opt_d = optimizers
    fake = model.generate(c)
    d_loss = optimizer_step(opt_d, discriminator_loss(model.critic(x, c), model.critic(fake.detach(), c)))
    g_loss = optimizer_step(opt_g, generator_loss(model.critic(fake, c)))  # D's gradients from this are zeroed next step
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}


# --------------------------------------------------------------------------------------
# 3. A VAE: predicted log-variance, reparameterisation, the ELBO with its KL term
# --------------------------------------------------------------------------------------
def binomial_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | z) ``[N]`` for pixels k/16 ~ Binomial(16, sigmoid(logit)), written out (eq-binomial)."""
    k = (x * PIXEL_COUNTS).round()
    log_choose = torch.lgamma(torch.tensor(PIXEL_COUNTS + 1.0)) - torch.lgamma(k + 1) - torch.lgamma(PIXEL_COUNTS - k + 1)
    return (log_choose + k * F.logsigmoid(logits) + (PIXEL_COUNTS - k) * F.logsigmoid(-logits)).flatten(1).sum(1)


class VAE(nn.Module):
    """q(z|x) = N(mu(x), diag exp(logvar(x))), p(z) = N(0, I), p(x|z) binomial; flat inputs ``[N, input_dim]``.

    The layer sizes equal :class:`~crossmodal_lib.vae.ImageVAE`'s, so :meth:`from_library` can copy
    a trained library model's weights in and the tests can compare the two ELBOs exactly.
    """

    def __init__(self, input_dim: int = 64, latent_dim: int = 16, hidden: int = 256) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(nn.Linear(input_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, 2 * latent_dim))  # predicts mu and logvar
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, input_dim))       # pixel logits

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar), each ``[N, latent_dim]``."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def elbo(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One-sample (ELBO, log p(x|z), KL), each ``[N]`` in nats (eq-elbo, eq-reparam, eq-gauss-kl)."""
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device)  # shaped like z, not like x
        z = mu + (0.5 * logvar).exp() * eps                                # differentiable in mu and logvar
        rec = binomial_log_likelihood(self.decoder(z), x)
        kl = 0.5 * (logvar.exp() + mu ** 2 - 1 - logvar).sum(1)
        return rec - kl, rec, kl

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """-mean ELBO of a batch (a scalar)."""
        return -self.elbo(x)[0].mean()

    @classmethod
    def from_library(cls, model: nn.Module) -> VAE:
        """A :class:`VAE` with the weights of a :class:`~crossmodal_lib.vae.ImageVAE` (same sizes)."""
        enc, dec = model.encoder.features.net, model.decoder.net
        out = cls(enc[0].in_features, model.latent_dim, enc[0].out_features)
        pairs = [(out.encoder[0], enc[0]), (out.encoder[2], enc[2]), (out.encoder[4], model.encoder.head),
                 (out.decoder[0], dec[0]), (out.decoder[2], dec[2]), (out.decoder[4], dec[4])]
        with torch.no_grad():
            for mine, theirs in pairs:
                mine.weight.copy_(theirs.weight)
                mine.bias.copy_(theirs.bias)
        return out


# --------------------------------------------------------------------------------------
# Training, the same few lines for all three
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MinimalConfig:
    """Hyperparameters of :func:`train_minimal`. The defaults are Part 4's for :class:`TwoTowers`;
    Part 4 trains the GAN with ``epochs=100, batch_size=64`` and the VAE with
    ``epochs=60, batch_size=64, lr=2e-3`` (the settings of :class:`~crossmodal_lib.vae.VAEConfig`)."""

    epochs: int = 30          # passes over the data
    batch_size: int = 128     # examples per batch (the two towers' negatives are the rest of it)
    lr: float = 1e-3          # Adam learning rate (both players of the GAN)


def train_minimal(model: nn.Module, tensors: tuple[torch.Tensor, ...], config: MinimalConfig | None = None, *,
                  seed: int = 0, device: torch.device | str | None = None, progress: bool | str = True,
                  **overrides: Any) -> nn.Module:
    """Train a :class:`TwoTowers` ``(x, counts)``, :class:`VAE` ``(x,)`` or :class:`GAN` ``(x, c)``
    with Adam and the library's seeded loader and training step; returns the model on the CPU
    in eval mode with ``.history``, ``.train_seconds`` and ``.config``."""
    config = resolve_config(MinimalConfig, config, overrides)
    set_seed(seed)
    device = resolve_device(device)
    model = model.to(device).train()
    loader = seeded_loader(*tensors, batch_size=config.batch_size, seed=seed, drop_last=isinstance(model, TwoTowers))
    if isinstance(model, GAN):
        optimizers = (torch.optim.Adam(model.generator.parameters(), lr=config.lr, betas=(0.5, 0.999)),
                      torch.optim.Adam(model.discriminator.parameters(), lr=config.lr, betas=(0.5, 0.999)))
        step = lambda batch: gan_step(model, *batch, optimizers)  # noqa: E731
    else:
        opt = torch.optim.Adam(model.parameters(), lr=config.lr)
        step = lambda batch: {"loss": optimizer_step(opt, model.loss(*batch)).detach()}  # noqa: E731
    return train_model(model, step, loader, config, device=device, progress=progress,
                       desc=f"minimal {type(model).__name__}")

