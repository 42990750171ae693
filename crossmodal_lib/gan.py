"""Generative adversarial networks, from the minimax game to text-to-image (book: Part 3.2).

The source chapter states the GAN value function (Goodfellow et al., 2014)

    V(D, G) = E_{x~p_data}[log D(x)] + E_{z~p_z}[log(1 - D(G(z)))]            (eq-gan-value)

and stops there. This module has what the book derives and trains (the theory that needs no
training -- the optimal discriminator, the Jensen-Shannon identity, the ring of Gaussians --
is in :mod:`crossmodal_lib.gan_theory` and re-exported here):

* The three losses of Part 3.2: the original minimax loss, the non-saturating generator loss
  and the hinge loss (:func:`discriminator_loss`, :func:`generator_loss`).
* The two terms the text-to-image GAN adds, each a public function:
  :func:`matching_aware_discriminator_loss` (D also rejects real images with another
  example's caption; Reed et al., 2016) and :func:`mode_seeking_penalty` (eq-mode-seeking;
  Mao et al., 2019: G may not ignore its noise).
* :class:`Generator` G(z, c) and :class:`Discriminator` D(x, c): small MLPs, conditioned on a
  caption embedding c by concatenation or by projection (eq-projection; Miyato & Koyama, 2018),
  with spectral normalisation on D (Miyato et al., 2018). Both also work unconditionally
  (``cond_dim=0``) for the 2-D toy problem (:func:`train_toy_gan`, :class:`ToyGANConfig`).
* :func:`train_conditional_gan` with :class:`GANConfig`: the text-to-image GAN of the book.
  Captions are embedded by the frozen text tower of a Part 3.1 dual encoder; samples come from
  an exponential moving average of G's weights. One D step and one G step alternate on each
  batch (:func:`gan_step`).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .config import check_choice, resolve_config
from .data import PairedDataset
from .embedding import DualEncoder, train_dual_encoder
from .gan_theory import jensen_shannon, mode_coverage, optimal_discriminator, ring_of_gaussians, value_function
from .training import optimizer_step, resolve_device, seeded_loader, set_seed, train

__all__ = [
    "LOSSES",
    "ConditionalGAN",
    "Discriminator",
    "GANConfig",
    "Generator",
    "ToyGANConfig",
    "discriminator_loss",
    "gan_step",
    "generator_loss",
    "jensen_shannon",
    "matching_aware_discriminator_loss",
    "mode_coverage",
    "mode_seeking_penalty",
    "optimal_discriminator",
    "ring_of_gaussians",
    "train_conditional_gan",
    "train_toy_gan",
    "value_function",
]

LOSSES = ("minimax", "nonsaturating", "hinge")
Loss = Literal["minimax", "nonsaturating", "hinge"]
#: Slope of the LeakyReLU for negative inputs in G and D (Radford et al.'s DCGAN value).
LEAKY_SLOPE = 0.2
#: Adam's (beta1, beta2) for both players: a short momentum memory suits the moving target of
#: a game (DCGAN's setting), where the default beta1 = 0.9 oscillates.
ADAM_BETAS = (0.5, 0.999)
#: Added to the mode-seeking ratio so that two identical samples give a large, finite penalty.
MODE_SEEKING_EPS = 1e-5


# --------------------------------------------------------------------------------------
# Losses (book: "Three losses"). All take raw logits, D(x) = sigmoid(logit).
# --------------------------------------------------------------------------------------
def _check_loss(loss: str) -> None:
    check_choice("loss", loss, LOSSES)


def _real_term(logits: torch.Tensor, loss: str) -> torch.Tensor:
    return F.relu(1 - logits).mean() if loss == "hinge" else F.softplus(-logits).mean()


def _fake_term(logits: torch.Tensor, loss: str) -> torch.Tensor:
    return F.relu(1 + logits).mean() if loss == "hinge" else F.softplus(logits).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, loss: Loss = "hinge") -> torch.Tensor:
    """The discriminator's loss (to minimise), averaged over the batch.

    ``"minimax"`` and ``"nonsaturating"`` share the same D loss, -V(D, G) of (eq-gan-value):
    ``softplus(-l_real) + softplus(l_fake)`` = -log D(x) - log(1 - D(G(z))).
    ``"hinge"``: ``relu(1 - l_real) + relu(1 + l_fake)``.
    """
    _check_loss(loss)
    if real_logits.numel() == 0 or fake_logits.numel() == 0:
        raise ValueError("empty batch of discriminator logits")
    return _real_term(real_logits, loss) + _fake_term(fake_logits, loss)


def generator_loss(fake_logits: torch.Tensor, loss: Loss = "hinge") -> torch.Tensor:
    """The generator's loss (to minimise), averaged over the batch.

    ``"minimax"``: log(1 - D(G(z))) = -softplus(l), the game's own term; its gradient vanishes
    when D confidently rejects the fakes (eq-gan-saturate). ``"nonsaturating"``: -log D(G(z)) =
    softplus(-l). ``"hinge"``: -l (Lim & Ye, 2017; Miyato et al., 2018).
    """
    _check_loss(loss)
    if fake_logits.numel() == 0:
        raise ValueError("empty batch of discriminator logits")
    if loss == "minimax":
        return -F.softplus(fake_logits).mean()
    if loss == "nonsaturating":
        return F.softplus(-fake_logits).mean()
    return -fake_logits.mean()


def matching_aware_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                                      wrong_logits: torch.Tensor, loss: Loss = "hinge",
                                      mismatch: float = 0.5) -> torch.Tensor:
    """D's loss when it must also reject *real* images paired with the wrong caption (Reed et al., 2016).

    ``real_logits``: D(x, c) on matching pairs; ``fake_logits``: D(G(z, c), c);
    ``wrong_logits``: D(x, c') with another example's caption c'; each ``[B]``. The negative
    term of :func:`discriminator_loss` is split: a share ``mismatch`` goes to the mismatched
    real pairs, ``1 - mismatch`` to the fakes. Without it, D can score image realism and
    caption plausibility separately, and G is never told that its image must fit *its* caption.
    ``mismatch = 0`` is :func:`discriminator_loss`.
    """
    _check_loss(loss)
    if not 0 <= mismatch < 1:
        raise ValueError(f"mismatch must be in [0, 1), got {mismatch}")
    if wrong_logits.numel() == 0:
        raise ValueError("empty batch of discriminator logits")
    return (_real_term(real_logits, loss) + (1 - mismatch) * _fake_term(fake_logits, loss)
            + mismatch * _fake_term(wrong_logits, loss))


def mode_seeking_penalty(fake_a: torch.Tensor, fake_b: torch.Tensor, z_a: torch.Tensor, z_b: torch.Tensor,
                         weight: float = 1.0) -> torch.Tensor:
    """The mode-seeking term (eq-mode-seeking; MSGAN, Mao et al., 2019), added to G's loss.

    ``fake_a = G(z_a, c)`` and ``fake_b = G(z_b, c)``: two samples ``[B, ...]`` for the same
    conditions from noise ``z_a``, ``z_b`` ``[B, z_dim]``. With ratio = mean|fake_a - fake_b| /
    mean|z_a - z_b|, returns ``weight / (ratio + MODE_SEEKING_EPS)``: large when G maps
    different noise to the same image (conditional mode collapse), small when it spreads it out.
    """
    if fake_a.shape != fake_b.shape or z_a.shape != z_b.shape or len(fake_a) != len(z_a):
        raise ValueError(f"expected two samples and two noise batches of matching shapes, got "
                         f"{tuple(fake_a.shape)}, {tuple(fake_b.shape)}, {tuple(z_a.shape)}, {tuple(z_b.shape)}")
    ratio = (fake_a - fake_b).abs().mean() / (z_a - z_b).abs().mean()
    return weight / (ratio + MODE_SEEKING_EPS)


# --------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------
class Generator(nn.Module):
    """G(z, c): ``z [B, z_dim]`` and ``c [B, cond_dim]`` -> samples ``[B, *out_shape]``.

    A two-hidden-layer MLP on the concatenation [z, c]. ``output="sigmoid"`` keeps pixels
    in [0, 1]; ``"linear"`` is for real-valued toy data.
    """

    def __init__(self, z_dim: int, cond_dim: int, out_shape: Sequence[int], hidden: int = 256,
                 output: Literal["sigmoid", "linear"] = "sigmoid") -> None:
        super().__init__()
        check_choice("output", output, ("sigmoid", "linear"))
        self.z_dim, self.cond_dim, self.out_shape, self.output = z_dim, cond_dim, tuple(out_shape), output
        self.net = nn.Sequential(nn.Linear(z_dim + cond_dim, hidden), nn.LeakyReLU(LEAKY_SLOPE),
                                 nn.Linear(hidden, hidden), nn.LeakyReLU(LEAKY_SLOPE),
                                 nn.Linear(hidden, math.prod(self.out_shape)))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = z if self.cond_dim == 0 else torch.cat([z, _check_cond(c, len(z), self.cond_dim)], 1)
        out = self.net(h).view(len(z), *self.out_shape)
        return torch.sigmoid(out) if self.output == "sigmoid" else out


class Discriminator(nn.Module):
    """D(x, c) -> one logit per example, ``[B]``.

    Features h = phi(x) from an MLP; unconditional score w.h; with ``conditioning="projection"``
    the score adds the inner product <h, W c> (Miyato & Koyama, 2018); with ``"concat"`` c is
    appended to the flattened input instead. ``spectral_norm=True`` divides every weight matrix
    by its largest singular value (one power iteration per step), making D 1-Lipschitz per layer.
    """

    def __init__(self, in_shape: Sequence[int], cond_dim: int = 0, hidden: int = 256,
                 conditioning: Literal["projection", "concat"] = "projection", spectral_norm: bool = True) -> None:
        super().__init__()
        check_choice("conditioning", conditioning, ("projection", "concat"))
        sn = _spectral_norm if spectral_norm else (lambda m: m)
        self.in_shape, self.cond_dim, self.conditioning = tuple(in_shape), cond_dim, conditioning
        in_dim = math.prod(self.in_shape) + (cond_dim if conditioning == "concat" else 0)
        self.features = nn.Sequential(sn(nn.Linear(in_dim, hidden)), nn.LeakyReLU(LEAKY_SLOPE),
                                      sn(nn.Linear(hidden, hidden)), nn.LeakyReLU(LEAKY_SLOPE))
        self.score = sn(nn.Linear(hidden, 1))
        self.project = sn(nn.Linear(cond_dim, hidden, bias=False)) if cond_dim and conditioning == "projection" else None

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"expected inputs of shape [B, {', '.join(map(str, self.in_shape))}], got {tuple(x.shape)}")
        h = x.flatten(1)
        if self.cond_dim:
            c = _check_cond(c, len(x), self.cond_dim)
            if self.project is None:
                h = torch.cat([h, c], 1)
        h = self.features(h)
        out = self.score(h).squeeze(1)
        if self.project is not None:
            out = out + (h * self.project(c)).sum(1)
        return out


def _check_cond(c: torch.Tensor | None, n: int, dim: int) -> torch.Tensor:
    if c is None or c.shape != (n, dim):
        got = None if c is None else tuple(c.shape)
        raise ValueError(f"expected a condition of shape [{n}, {dim}], got {got}")
    return c


# --------------------------------------------------------------------------------------
# Configurations and the shared training loop
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GANConfig:
    """Hyperparameters of :func:`train_conditional_gan`; the defaults are the book's (Part 3.2b)."""

    loss: Loss = "hinge"              # minimax, non-saturating or hinge (discriminator_loss, generator_loss)
    conditioning: Literal["projection", "concat"] = "projection"  # how D reads the caption (eq-projection)
    spectral_norm: bool = True        # spectrally normalise every weight matrix of D
    mismatch: float = 0.5             # share of D's negatives that are real images with a wrong caption
    mode_seeking: float = 0.02        # weight of the mode-seeking penalty (eq-mode-seeking); 0 = off
    ema_decay: float = 0.995          # samples come from this exponential moving average of G's weights
    z_dim: int = 32                   # dimension of the noise z
    hidden: int = 256                 # width of the hidden layers of G and D
    epochs: int = 100                 # passes over the training pairs
    batch_size: int = 64              # pairs per batch (one D step and one G step each)
    lr: float = 4e-4                  # Adam learning rate of both players (betas ADAM_BETAS)


@dataclass(frozen=True)
class ToyGANConfig:
    """Hyperparameters of :func:`train_toy_gan` (the unconditional 2-D ring of Part 3.2)."""

    loss: Loss = "nonsaturating"      # minimax, non-saturating or hinge
    spectral_norm: bool = False       # spectrally normalise every weight matrix of D
    z_dim: int = 2                    # dimension of the noise z
    hidden: int = 128                 # width of the hidden layers of G and D
    epochs: int = 60                  # passes over the data
    batch_size: int = 256             # points per batch
    lr: float = 1e-3                  # Adam learning rate of both players (betas ADAM_BETAS)
    ema_decay: float = 0.99           # decay of the moving average of G's weights (0 = the last G)


def gan_step(g: Generator, d: Discriminator, optimizers: tuple[torch.optim.Optimizer, torch.optim.Optimizer],
             real: torch.Tensor, cond: torch.Tensor | None, *, loss: Loss = "hinge", mismatch: float = 0.0,
             mode_seeking: float = 0.0) -> dict[str, torch.Tensor]:
    """One round of the game on a batch: a D step, then a G step (``optimizers`` = (G's, D's)).

    D minimises :func:`discriminator_loss` -- or, with a condition and ``mismatch > 0``,
    :func:`matching_aware_discriminator_loss` with each real image paired with the next
    example's caption. G minimises :func:`generator_loss` plus, if ``mode_seeking > 0``, the
    :func:`mode_seeking_penalty` of a second sample drawn for the same conditions. Returns the
    losses and the mean of D(real) and D(fake) (sigmoid of the logits).
    """
    opt_g, opt_d = optimizers
    z = torch.randn(len(real), g.z_dim, device=real.device)
    fake = g(z, cond)
    real_logits, fake_logits = d(real, cond), d(fake.detach(), cond)
    if cond is not None and mismatch > 0 and len(real) > 1:
        wrong_logits = d(real, cond.roll(1, dims=0))  # real image, another example's caption
        loss_d = matching_aware_discriminator_loss(real_logits, fake_logits, wrong_logits, loss, mismatch)
    else:
        loss_d = discriminator_loss(real_logits, fake_logits, loss)
    optimizer_step(opt_d, loss_d)
    loss_g = generator_loss(d(fake, cond), loss)
    if mode_seeking > 0:
        z2 = torch.randn_like(z)
        loss_g = loss_g + mode_seeking_penalty(fake, g(z2, cond), z, z2, mode_seeking)
    optimizer_step(opt_g, loss_g)
    return {"loss_d": loss_d, "loss_g": loss_g,
            "D(real)": torch.sigmoid(real_logits).mean(), "D(fake)": torch.sigmoid(fake_logits).mean()}


def _fit_gan(g: Generator, d: Discriminator, tensors: tuple[torch.Tensor, ...], config: GANConfig | ToyGANConfig,
             *, seed: int, device: torch.device, progress: bool | str, desc: str) -> tuple[nn.Module, dict[str, list[float]]]:
    """Alternate :func:`gan_step` over ``tensors`` = (x,) or (x, c); returns (EMA of G, per-epoch history)."""
    g.to(device).train()
    d.to(device).train()
    ema = AveragedModel(g, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
    optimizers = (torch.optim.Adam(g.parameters(), lr=config.lr, betas=ADAM_BETAS, foreach=True),
                  torch.optim.Adam(d.parameters(), lr=config.lr, betas=ADAM_BETAS, foreach=True))
    loader = seeded_loader(*tensors, batch_size=config.batch_size, seed=seed, drop_last=len(tensors[0]) > config.batch_size)
    terms = {"loss": config.loss, "mismatch": getattr(config, "mismatch", 0.0),
             "mode_seeking": getattr(config, "mode_seeking", 0.0)}

    def step(batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        real, cond = batch if len(batch) == 2 else (batch[0], None)
        values = gan_step(g, d, optimizers, real, cond, **terms)
        if torch.isfinite(values["loss_g"]):
            ema.update_parameters(g)
        return values

    history = train(step, loader, epochs=config.epochs, device=device, progress=progress, desc=desc)
    g.eval()
    d.eval()
    return ema.module.eval(), history


def train_toy_gan(data: torch.Tensor, config: ToyGANConfig | None = None, *, seed: int = 0,
                  device: torch.device | str | None = None, progress: bool | str = True, **overrides: Any) -> Generator:
    """An unconditional GAN on real-valued data ``[N, dim]`` (book: the 2-D ring), with :class:`ToyGANConfig`.

    Returns the EMA generator on the CPU with ``.config`` and ``.history`` (per-epoch ``loss_d``,
    ``loss_g``, ``D(real)``, ``D(fake)``); ``g(torch.randn(n, z_dim))`` draws n samples.
    """
    config = resolve_config(ToyGANConfig, config, overrides)
    _check_loss(config.loss)
    if data.dim() != 2 or len(data) == 0:
        raise ValueError(f"expected data of shape [N, dim] with N > 0, got {tuple(data.shape)}")
    set_seed(seed)
    g = Generator(config.z_dim, 0, data.shape[1:], config.hidden, output="linear")
    d = Discriminator(data.shape[1:], 0, config.hidden, spectral_norm=config.spectral_norm)
    ema, history = _fit_gan(g, d, (data.float(),), config, seed=seed, device=resolve_device(device), progress=progress,
                            desc=f"toy GAN ({config.loss}{', SN' if config.spectral_norm else ''})")
    ema = ema.cpu()
    ema.history, ema.config = history, config
    return ema


# --------------------------------------------------------------------------------------
# Text-to-image (book: "A GAN that reads captions")
# --------------------------------------------------------------------------------------
class ConditionalGAN(nn.Module):
    """A caption-conditioned GAN: frozen text tower -> c, then G(z, c) (the EMA generator).

    ``generate(captions, seed)`` returns images ``[len(captions), *input_shape]`` in [0, 1] on
    the CPU. ``embed(captions)`` gives the conditions c ``[N, d]``; ``generate_from(c, z)`` draws
    from given conditions and noise (for interpolation). Unknown words raise ``ValueError``.
    The text model is kept as a frozen copy (eval mode, no gradients), so a model rebuilt from a
    checkpoint computes exactly the conditions the trained one does.
    """

    def __init__(self, text_model: DualEncoder, generator: Generator, discriminator: Discriminator) -> None:
        super().__init__()
        self.text_model = copy.deepcopy(text_model).cpu().eval().requires_grad_(False)  # the caller's stays as it was
        self.generator, self.discriminator = generator, discriminator
        self.history: dict[str, list[float]] = {}

    @property
    def z_dim(self) -> int:
        return self.generator.z_dim

    def embed(self, captions: Sequence[str]) -> torch.Tensor:
        """Captions -> conditions ``[N, d]`` on the CPU (the dual encoder's text embeddings)."""
        return self.text_model.encode_texts(captions)

    @torch.no_grad()
    def generate_from(self, c: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Images from conditions ``c [N, d]`` and noise ``z [N, z_dim]``, on the CPU."""
        if len(c) != len(z):
            raise ValueError(f"got {len(c)} conditions but {len(z)} noise vectors")
        device = next(self.generator.parameters()).device
        self.generator.eval()
        return self.generator(z.to(device), c.to(device)).cpu()

    def generate(self, captions: Sequence[str], seed: int | None = None) -> torch.Tensor:
        """One image per caption, ``[N, *input_shape]`` in [0, 1], CPU. ``seed`` fixes the noise."""
        c = self.embed(captions)  # checks the list, its length and every word
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        return self.generate_from(c, torch.randn(len(c), self.z_dim, generator=gen))


def train_conditional_gan(pairs: PairedDataset, config: GANConfig | None = None, *, seed: int = 0,
                          device: torch.device | str | None = None, text_model: DualEncoder | None = None,
                          progress: bool | str = True, **overrides: Any) -> ConditionalGAN:
    """Train the book's text-to-image GAN on paired data (Part 3.2b), with :class:`GANConfig`.

    Captions are embedded once by ``text_model``'s frozen text tower (a copy: the caller's model
    is not changed); if none is given, a dual encoder is trained on ``pairs`` with
    :func:`~crossmodal_lib.embedding.train_dual_encoder` (same seed). Then G and D play the
    conditional game (eq-cgan-value), one :func:`gan_step` per batch. Sampling uses the EMA of
    G's weights. Returns a :class:`ConditionalGAN` on the CPU in eval mode with ``.config``,
    ``.history`` and ``.train_seconds`` (GAN training only).
    """
    config = resolve_config(GANConfig, config, overrides)
    _check_loss(config.loss)
    if not 0 <= config.mismatch < 1:
        raise ValueError(f"mismatch must be in [0, 1), got {config.mismatch}")
    set_seed(seed)
    device = resolve_device(device)
    if text_model is None:
        text_model = train_dual_encoder(pairs, seed=seed, device=device, progress=bool(progress))
    shape = pairs.inputs.shape[1:]
    g = Generator(config.z_dim, text_model.dim, shape, config.hidden)
    d = Discriminator(shape, text_model.dim, config.hidden, config.conditioning, config.spectral_norm)
    model = ConditionalGAN(text_model, g, d)  # keeps a frozen copy: the caller's model stays as it was
    cond = model.embed(pairs.captions)
    start = time.perf_counter()
    ema, history = _fit_gan(g, d, (pairs.inputs.float(), cond), config, seed=seed, device=device,
                            progress=progress, desc=f"conditional GAN ({config.loss})")
    model.generator, model.discriminator = ema.cpu(), d.cpu()
    model.train_seconds = time.perf_counter() - start
    model.history, model.config = history, config
    return model.eval()
