"""Generative adversarial networks, from the minimax game to text-to-image (book: Part 3.2).

The source chapter states the GAN value function (Goodfellow et al., 2014)

    V(D, G) = E_{x~p_data}[log D(x)] + E_{z~p_z}[log(1 - D(G(z)))]            (eq. 3.2.1)

and stops there. This module has what the book derives and trains:

* Theory on a grid: :func:`optimal_discriminator` (D* = p_data / (p_data + p_g), eq. 3.2.2),
  :func:`value_function` and :func:`jensen_shannon`, so that V(D*, G) = -log 4 + 2 JSD
  (eq. 3.2.3) can be checked by numerical integration.
* The three losses of Part 3.2: the original minimax loss, the non-saturating generator loss
  and the hinge loss (:func:`discriminator_loss`, :func:`generator_loss`).
* :class:`Generator` G(z, c) and :class:`Discriminator` D(x, c): small MLPs, conditioned on a
  caption embedding c by concatenation or by projection (Miyato & Koyama, 2018), with spectral
  normalisation on D (Miyato et al., 2018). Both also work unconditionally (``cond_dim=0``)
  for the 2-D toy problem (:func:`ring_of_gaussians`, :func:`train_toy_gan`).
* :func:`train_conditional_gan`: the text-to-image GAN of the book. Captions are embedded by
  the frozen text tower of a Part 3.1 dual encoder; D also sees real images with mismatched
  captions (the matching-aware loss of Reed et al., 2016); a mode-seeking term (Mao et al.,
  2019) keeps G from ignoring its noise; samples come from an exponential moving average of
  G's weights.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, TensorDataset

from .data import PairedDataset
from .embedding import DualEncoder, train_dual_encoder
from .training import get_device, set_seed, train

__all__ = [
    "LOSSES",
    "ConditionalGAN",
    "Discriminator",
    "Generator",
    "discriminator_loss",
    "generator_loss",
    "jensen_shannon",
    "mode_coverage",
    "optimal_discriminator",
    "ring_of_gaussians",
    "train_conditional_gan",
    "train_toy_gan",
    "value_function",
]

LOSSES = ("minimax", "nonsaturating", "hinge")


# --------------------------------------------------------------------------------------
# Theory on a grid (eqs. 3.2.1-3.2.3)
# --------------------------------------------------------------------------------------
def _densities(p_data: np.ndarray, p_g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, q = np.asarray(p_data, dtype=float), np.asarray(p_g, dtype=float)
    if p.shape != q.shape:
        raise ValueError(f"p_data and p_g must have the same shape, got {p.shape} and {q.shape}")
    if (p < 0).any() or (q < 0).any():
        raise ValueError("densities must be non-negative")
    return p, q


def optimal_discriminator(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)) (eq. 3.2.2), pointwise on a grid or a support.

    Where both densities are zero D* is not determined; it is set to 1/2 there.
    """
    p, q = _densities(p_data, p_g)
    total = p + q
    return np.divide(p, total, out=np.full_like(p, 0.5), where=total > 0)


def value_function(d: np.ndarray, p_data: np.ndarray, p_g: np.ndarray, dx: float = 1.0) -> float:
    """V(D, G) of eq. 3.2.1 by quadrature: sum_x [p_data log D + p_g log(1 - D)] * dx.

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
# Losses (book: "Three losses"). All take raw logits, D(x) = sigmoid(logit).
# --------------------------------------------------------------------------------------
def _check_loss(loss: str) -> None:
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


def _real_term(logits: torch.Tensor, loss: str) -> torch.Tensor:
    return F.relu(1 - logits).mean() if loss == "hinge" else F.softplus(-logits).mean()


def _fake_term(logits: torch.Tensor, loss: str) -> torch.Tensor:
    return F.relu(1 + logits).mean() if loss == "hinge" else F.softplus(logits).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, loss: str = "hinge") -> torch.Tensor:
    """The discriminator's loss (to minimise), averaged over the batch.

    ``"minimax"`` and ``"nonsaturating"`` share the same D loss, -V(D, G) of eq. 3.2.1:
    ``softplus(-l_real) + softplus(l_fake)`` = -log D(x) - log(1 - D(G(z))).
    ``"hinge"``: ``relu(1 - l_real) + relu(1 + l_fake)``.
    """
    _check_loss(loss)
    if real_logits.numel() == 0 or fake_logits.numel() == 0:
        raise ValueError("empty batch of discriminator logits")
    return _real_term(real_logits, loss) + _fake_term(fake_logits, loss)


def generator_loss(fake_logits: torch.Tensor, loss: str = "hinge") -> torch.Tensor:
    """The generator's loss (to minimise), averaged over the batch.

    ``"minimax"``: log(1 - D(G(z))) = -softplus(l), the game's own term; its gradient vanishes
    when D confidently rejects the fakes (eq. 3.2.4). ``"nonsaturating"``: -log D(G(z)) =
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


# --------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------
class Generator(nn.Module):
    """G(z, c): ``z [B, z_dim]`` and ``c [B, cond_dim]`` -> samples ``[B, *out_shape]``.

    A two-hidden-layer MLP on the concatenation [z, c]. ``output="sigmoid"`` keeps pixels
    in [0, 1]; ``"linear"`` is for real-valued toy data.
    """

    def __init__(self, z_dim: int, cond_dim: int, out_shape: Sequence[int], hidden: int = 256,
                 output: str = "sigmoid") -> None:
        super().__init__()
        if output not in ("sigmoid", "linear"):
            raise ValueError(f"output must be 'sigmoid' or 'linear', got {output!r}")
        self.z_dim, self.cond_dim, self.out_shape, self.output = z_dim, cond_dim, tuple(out_shape), output
        self.net = nn.Sequential(nn.Linear(z_dim + cond_dim, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
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
                 conditioning: str = "projection", spectral_norm: bool = True) -> None:
        super().__init__()
        if conditioning not in ("projection", "concat"):
            raise ValueError(f"conditioning must be 'projection' or 'concat', got {conditioning!r}")
        sn = _spectral_norm if spectral_norm else (lambda m: m)
        self.in_shape, self.cond_dim, self.conditioning = tuple(in_shape), cond_dim, conditioning
        in_dim = math.prod(self.in_shape) + (cond_dim if conditioning == "concat" else 0)
        self.features = nn.Sequential(sn(nn.Linear(in_dim, hidden)), nn.LeakyReLU(0.2),
                                      sn(nn.Linear(hidden, hidden)), nn.LeakyReLU(0.2))
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
# The shared training loop
# --------------------------------------------------------------------------------------
def _fit_gan(g: Generator, d: Discriminator, x: torch.Tensor, c: torch.Tensor | None, *, loss: str,
             mismatch: float, epochs: int, batch_size: int, lr: float, ema_decay: float, seed: int,
             device: torch.device, progress: bool, desc: str, mode_seeking: float = 0.0) -> tuple[nn.Module, dict[str, list[float]]]:
    """Alternate one D step and one G step per batch; returns (EMA of G, per-epoch history).

    With a condition and ``mismatch > 0``, D's fake term is split: a fraction ``mismatch`` of it
    scores real images paired with another example's caption (Reed et al., 2016). With
    ``mode_seeking > 0`` G's loss adds ``mode_seeking / ratio``, where ratio is the mean absolute
    difference between two images drawn for the same condition divided by that between their
    noise vectors (eq. 3.2.7; MSGAN, Mao et al., 2019): noise that G ignores is penalised.
    """
    _check_loss(loss)
    if not 0 <= mismatch < 1:
        raise ValueError(f"mismatch must be in [0, 1), got {mismatch}")
    g.to(device).train()
    d.to(device).train()
    ema = AveragedModel(g, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
    opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=(0.5, 0.999))
    tensors = (x,) if c is None else (x, c)
    loader = DataLoader(TensorDataset(*tensors), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed), drop_last=len(x) > batch_size)

    def step(batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        real, cond = batch if c is not None else (batch[0], None)
        z = torch.randn(len(real), g.z_dim, device=real.device)
        fake = g(z, cond)
        real_logits = d(real, cond)
        fake_logits = d(fake.detach(), cond)
        loss_d = discriminator_loss(real_logits, fake_logits, loss)
        if cond is not None and mismatch > 0 and len(real) > 1:
            wrong_logits = d(real, cond.roll(1, dims=0))  # real image, another example's caption
            loss_d = (_real_term(real_logits, loss) + (1 - mismatch) * _fake_term(fake_logits, loss)
                      + mismatch * _fake_term(wrong_logits, loss))
        opt_d.zero_grad(set_to_none=True)
        if torch.isfinite(loss_d):
            loss_d.backward()
            opt_d.step()
        loss_g = generator_loss(d(fake, cond), loss)
        if mode_seeking > 0:  # MSGAN: penalise noise vectors that map to the same image
            z2 = torch.randn_like(z)
            ratio = (fake - g(z2, cond)).abs().mean() / (z - z2).abs().mean()
            loss_g = loss_g + mode_seeking / (ratio + 1e-5)
        opt_g.zero_grad(set_to_none=True)
        if torch.isfinite(loss_g):
            loss_g.backward()
            opt_g.step()
            ema.update_parameters(g)
        return {"loss_d": loss_d, "loss_g": loss_g,
                "D(real)": torch.sigmoid(real_logits).mean(), "D(fake)": torch.sigmoid(fake_logits).mean()}

    history = train(step, loader, epochs=epochs, device=device, progress=progress, desc=desc)
    g.eval()
    d.eval()
    return ema.module.eval(), history


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


def train_toy_gan(data: torch.Tensor, *, loss: str = "nonsaturating", spectral_norm: bool = False, z_dim: int = 2,
                  hidden: int = 128, epochs: int = 60, batch_size: int = 256, lr: float = 1e-3,
                  ema_decay: float = 0.99, seed: int = 0, device: torch.device | str | None = None, progress: bool = True) -> Generator:
    """An unconditional GAN on real-valued data ``[N, dim]`` (book: the 2-D ring).

    Returns the EMA generator on the CPU with ``.history`` (per-epoch ``loss_d``, ``loss_g``,
    ``D(real)``, ``D(fake)``); ``g(torch.randn(n, z_dim))`` draws n samples.
    """
    if data.dim() != 2 or len(data) == 0:
        raise ValueError(f"expected data of shape [N, dim] with N > 0, got {tuple(data.shape)}")
    set_seed(seed)
    device = torch.device(device) if device is not None else get_device()
    g = Generator(z_dim, 0, data.shape[1:], hidden, output="linear")
    d = Discriminator(data.shape[1:], 0, hidden, spectral_norm=spectral_norm)
    ema, history = _fit_gan(g, d, data.float(), None, loss=loss, mismatch=0.0, epochs=epochs,
                            batch_size=batch_size, lr=lr, ema_decay=ema_decay, seed=seed, device=device,
                            progress=progress, desc=f"toy GAN ({loss}{', SN' if spectral_norm else ''})")
    ema = ema.cpu()
    ema.history = history
    return ema


# --------------------------------------------------------------------------------------
# Text-to-image (book: "A GAN that reads captions")
# --------------------------------------------------------------------------------------
class ConditionalGAN(nn.Module):
    """A caption-conditioned GAN: frozen text tower -> c, then G(z, c) (the EMA generator).

    ``generate(captions, seed)`` returns images ``[len(captions), *input_shape]`` in [0, 1] on
    the CPU. ``embed(captions)`` gives the conditions c ``[N, d]``; ``generate_from(c, z)`` draws
    from given conditions and noise (for interpolation). Unknown words raise ``ValueError``.
    """

    def __init__(self, text_model: DualEncoder, generator: Generator, discriminator: Discriminator) -> None:
        super().__init__()
        self.text_model, self.generator, self.discriminator = text_model, generator, discriminator
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


def train_conditional_gan(pairs: PairedDataset, *, seed: int = 0, device: torch.device | str | None = None,
                          text_model: DualEncoder | None = None, loss: str = "hinge",
                          conditioning: str = "projection", spectral_norm: bool = True, mismatch: float = 0.5,
                          mode_seeking: float = 0.02, ema_decay: float = 0.995, z_dim: int = 32, hidden: int = 256, epochs: int = 100,
                          batch_size: int = 64, lr: float = 4e-4, progress: bool = True) -> ConditionalGAN:
    """Train the book's text-to-image GAN on paired data (Part 3.2).

    Captions are embedded once by ``text_model``'s frozen text tower; if none is given, a
    dual encoder is trained on ``pairs`` with :func:`~crossmodal_lib.embedding.train_dual_encoder`
    (same seed). Then G and D play the game of eq. 3.2.1 with the chosen ``loss`` (``"hinge"``,
    ``"nonsaturating"`` or ``"minimax"``), D conditioned by ``conditioning`` and optionally
    spectrally normalised, a fraction ``mismatch`` of D's negatives being real images with
    another example's caption, and ``mode_seeking`` weighting the MSGAN term that stops G from
    ignoring its noise (conditional mode collapse). Sampling uses the EMA of G's weights
    (decay ``ema_decay``).
    Returns a :class:`ConditionalGAN` on the CPU in eval mode with ``.history`` and
    ``.train_seconds`` (GAN training only).
    """
    _check_loss(loss)
    set_seed(seed)
    device = torch.device(device) if device is not None else get_device()
    if text_model is None:
        text_model = train_dual_encoder(pairs, seed=seed, device=device, progress=progress)
    text_model = copy.deepcopy(text_model).cpu().eval().requires_grad_(False)  # the caller's model stays as it was
    cond = text_model.encode_texts(pairs.captions)
    shape = pairs.inputs.shape[1:]
    g = Generator(z_dim, cond.shape[1], shape, hidden)
    d = Discriminator(shape, cond.shape[1], hidden, conditioning, spectral_norm)
    start = time.perf_counter()
    ema, history = _fit_gan(g, d, pairs.inputs.float(), cond, loss=loss, mismatch=mismatch, epochs=epochs,
                            batch_size=batch_size, lr=lr, ema_decay=ema_decay, seed=seed, device=device,
                            progress=progress, desc=f"conditional GAN ({loss})", mode_seeking=mode_seeking)
    model = ConditionalGAN(text_model, ema.cpu(), d.cpu())
    model.train_seconds = time.perf_counter() - start
    model.history = history
    return model.eval()
