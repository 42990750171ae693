"""Diffusion models: destroy data with noise step by step, and learn to undo it (book: Part 7.2).

* :class:`NoiseSchedule` -- the forward process ``q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1},
  beta_t I)`` with a ``"linear"`` or ``"cosine"`` schedule of ``beta_t``; its closed form
  ``q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)`` (eq-forward-closed, :meth:`NoiseSchedule.add_noise`);
  the ancestral sampler step (:meth:`NoiseSchedule.ddpm_step`, eq-ddpm-step) and the deterministic
  DDIM step (:meth:`NoiseSchedule.ddim_step`). Both are checked against ``diffusers``' schedulers.
* :class:`Denoiser` -- an MLP that predicts the noise ``eps`` in ``x_t`` from ``x_t``, a sinusoidal
  embedding of ``t`` and a caption embedding (or a learned "no caption" embedding), as a correction
  to the Gaussian skip (eq-gauss-skip), the noise estimate for independent Gaussian features.
* :func:`train_text_diffusion` -- the noise-prediction loss (eq-eps-loss) on captioned data, the
  caption dropped for a share of the steps so that one network learns both the conditional and
  the unconditional model; :class:`TextDiffusion` samples with classifier-free guidance
  (eq-cfg), ``generate(captions, seed, guidance, steps)``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from .config import check_choice, resolve_config
from .data import PairedDataset
from .embedding import DualEncoder, train_dual_encoder
from .training import optimizer_step, resolve_device, seeded_loader, set_seed, train_model

__all__ = ["Denoiser", "DiffusionConfig", "NoiseSchedule", "TextDiffusion", "beta_schedule", "timestep_embedding",
           "train_text_diffusion"]

SCHEDULES = ("linear", "cosine")


def beta_schedule(kind: str, steps: int) -> torch.Tensor:
    """``beta_1 .. beta_T`` (float64 ``[T]``). ``"linear"``: evenly from 1e-4 to 0.02, scaled by
    1000 / T so that any T destroys the data as much as DDPM's T = 1000 does (Ho et al. 2020);
    ``"cosine"``: ``abar_t = f(t) / f(0)`` with ``f(t) = cos^2(pi/2 (t/T + 0.008) / 1.008)``, each
    ``beta_t = 1 - abar_t / abar_{t-1}`` capped at 0.999 (Nichol & Dhariwal 2021)."""
    check_choice("schedule", kind, SCHEDULES)
    if steps < 1:
        raise ValueError(f"a schedule needs at least one step, got {steps}")
    if kind == "linear":
        scale = 1000 / steps
        return torch.linspace(1e-4 * scale, 0.02 * scale, steps, dtype=torch.float64)
    f = lambda t: math.cos((t / steps + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    return torch.tensor([min(1 - f(t + 1) / f(t), 0.999) for t in range(steps)], dtype=torch.float64)


class NoiseSchedule:
    """The forward process and the two samplers' steps; ``t`` indexes ``0 .. T-1`` (diffusers' convention:
    index t holds beta_{t+1}), all tensors ``[N, ...]`` with ``t`` an int or an int64 ``[N]``."""

    def __init__(self, kind: str = "cosine", steps: int = 200) -> None:
        self.kind, self.steps = kind, steps
        self.betas = beta_schedule(kind, steps)
        self.alphas = 1 - self.betas
        self.alpha_bars = torch.cumprod(self.alphas, 0)

    def _at(self, values: torch.Tensor, t: torch.Tensor | int, like: torch.Tensor) -> torch.Tensor:
        """``values[t]`` shaped to broadcast against ``like`` ``[N, ...]``."""
        v = values.to(like.device)[torch.as_tensor(t, device=like.device)]
        return v.reshape(-1, *([1] * (like.dim() - 1))).to(like.dtype)

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        """eq-forward-closed: ``sqrt(abar_t) x0 + sqrt(1 - abar_t) noise``."""
        abar = self._at(self.alpha_bars, t, x0)
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    def predict_x0(self, eps: torch.Tensor, t: torch.Tensor | int, x_t: torch.Tensor) -> torch.Tensor:
        """The clean sample that ``x_t`` and the noise estimate ``eps`` imply: eq-forward-closed solved for x0."""
        abar = self._at(self.alpha_bars, t, x_t)
        return (x_t - (1 - abar).sqrt() * eps) / abar.sqrt()

    def ddpm_step(self, eps: torch.Tensor, t: int, x_t: torch.Tensor, noise: torch.Tensor | None = None,
                  clip: bool = False) -> torch.Tensor:
        """One ancestral step x_t -> x_{t-1} (eq-ddpm-step): the posterior mean, written with the
        estimate ``x0`` of :meth:`predict_x0` as ``sqrt(abar_{t-1}) beta_t / (1 - abar_t) x0 +
        sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) x_t`` (equal to the eps form; ``clip`` first
        clamps ``x0`` to the data range [-1, 1]), plus ``sigma_t noise`` with
        ``sigma_t^2 = beta_t (1 - abar_{t-1}) / (1 - abar_t)``; no noise at the last step (t = 0)."""
        beta, alpha, abar = (self._at(v, t, x_t) for v in (self.betas, self.alphas, self.alpha_bars))
        abar_prev = self._at(self.alpha_bars, t - 1, x_t) if t > 0 else torch.ones_like(abar)
        x0 = self.predict_x0(eps, t, x_t)
        x0 = x0.clamp(-1, 1) if clip else x0
        mean = (abar_prev.sqrt() * beta * x0 + alpha.sqrt() * (1 - abar_prev) * x_t) / (1 - abar)
        if t == 0:
            return mean
        sigma = (beta * (1 - abar_prev) / (1 - abar)).sqrt()
        return mean + sigma * (torch.randn_like(x_t) if noise is None else noise)

    def ddim_step(self, eps: torch.Tensor, t: int, t_prev: int, x_t: torch.Tensor, clip: bool = False) -> torch.Tensor:
        """One deterministic DDIM step x_t -> x_{t_prev} (Song et al. 2021, eta = 0): predict x0, then
        re-noise it to the level of ``t_prev`` with the same ``eps``; ``t_prev = -1`` means x0 itself.
        ``clip`` clamps x0 to [-1, 1] and recomputes ``eps`` from it, so that the two stay consistent
        (diffusers' ``clip_sample`` with ``use_clipped_model_output``)."""
        x0 = self.predict_x0(eps, t, x_t)
        if clip:
            x0 = x0.clamp(-1, 1)
            abar = self._at(self.alpha_bars, t, x_t)
            eps = (x_t - abar.sqrt() * x0) / (1 - abar).sqrt()
        abar_prev = self._at(self.alpha_bars, t_prev, x_t) if t_prev >= 0 else torch.ones_like(x_t[:1])
        return abar_prev.sqrt() * x0 + (1 - abar_prev).sqrt() * eps

    def timesteps(self, steps: int) -> list[int]:
        """``steps`` evenly spaced indices from high noise to low, ending at 0 (diffusers' "leading" spacing)."""
        if not 1 <= steps <= self.steps:
            raise ValueError(f"steps must be in 1..{self.steps}, got {steps}")
        return list(range(0, self.steps, self.steps // steps))[:steps][::-1]


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding ``[N, dim]`` of integer steps ``t [N]`` (Vaswani et al. 2017): sines and
    cosines of ``t`` at geometrically spaced frequencies from 1 to 1/10000."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class Denoiser(nn.Module):
    """``eps_theta(x_t, t, c)``: ``[N, *shape]``, ``[N]``, ``[N, cond_dim]`` (or ``None`` for the
    unconditional model, which uses a learned null embedding) -> predicted noise ``[N, *shape]``.
    An MLP on the flattened input, the time embedding and the condition, with residual blocks.

    ``skip = (alpha_bars [T], mean [*shape], var [*shape])`` adds the Gaussian skip (eq-gauss-skip):
    the noise estimate that would be exact if each feature were an independent Gaussian with this
    mean and variance, ``k_t (x_t - sqrt(abar_t) mean)`` with ``k_t = s_t / (abar_t var + s_t^2)``,
    ``s_t = sqrt(1 - abar_t)``; the MLP then learns only the correction. Without it, an MLP
    narrower than the input cannot even copy ``x_t`` to the output at high noise."""

    def __init__(self, shape: Sequence[int], cond_dim: int, hidden: int = 512, time_dim: int = 64, blocks: int = 3,
                 skip: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> None:
        super().__init__()
        self.shape, self.time_dim, n = tuple(shape), time_dim, math.prod(shape)
        self.null = nn.Parameter(torch.zeros(cond_dim))
        self.inp = nn.Linear(n + time_dim + cond_dim, hidden)
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.SiLU(),
                                                  nn.Linear(hidden, hidden)) for _ in range(blocks))
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, n))
        self.skip = skip is not None
        if skip is not None:
            for name, value in zip(("alpha_bars", "mean", "var"), skip):
                self.register_buffer(name, value.float().clone())

    def gaussian_skip(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """eq-gauss-skip: ``E[eps | x_t]`` for independent Gaussian features, ``[N, *shape]``."""
        abar = self.alpha_bars[t].view(-1, *([1] * len(self.shape)))
        s = (1 - abar).sqrt()
        return s / (abar * self.var + s**2) * (x - abar.sqrt() * self.mean)

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        c = self.null.expand(len(x), -1) if c is None else c
        h = self.inp(torch.cat([x.flatten(1), timestep_embedding(t, self.time_dim), c], dim=1))
        for block in self.blocks:
            h = h + block(h)
        eps = self.out(h).view(len(x), *self.shape)
        return eps + self.gaussian_skip(x, t) if self.skip else eps


@dataclass(frozen=True)
class DiffusionConfig:
    """Hyperparameters of :func:`train_text_diffusion`; the defaults are the book's (Part 7.2)."""

    schedule: Literal["linear", "cosine"] = "cosine"  # the noise schedule (beta_schedule)
    steps: int = 200              # T, the number of noise levels
    hidden: int = 512             # width of the denoiser's residual MLP
    blocks: int = 3               # residual blocks of the denoiser
    epochs: int = 100             # passes over the training pairs (one random noise level per example)
    batch_size: int = 128         # pairs per batch
    lr: float = 1e-3              # AdamW learning rate
    weight_decay: float = 0.0     # AdamW weight decay
    p_uncond: float = 0.1         # share of training examples whose caption is dropped (the null embedding)
    guidance: float = 2.0         # default guidance scale w of generate (eq-cfg); 0 = no guidance
    sample_steps: int = 50        # default number of sampler steps of generate
    sampler: Literal["ddim", "ddpm"] = "ddim"  # default sampler of generate
    clip: bool = True             # clamp each step's estimate of x0 to the data range [-1, 1] when sampling
    skip: bool = True             # add the Gaussian skip (eq-gauss-skip) to the denoiser; needed when hidden < input size


class TextDiffusion(nn.Module):
    """Caption -> input by diffusion: a frozen copy of a dual encoder's text tower gives the
    condition ``c``; the :class:`Denoiser` predicts noise; data live in [-1, 1] (inputs ``2x - 1``).

    ``generate(captions, seed=None, guidance=None, steps=None, sampler=None, clip=None) -> [N, *shape]``
    in [0, 1] on the CPU (``None``: the config's default). Guidance ``w`` mixes the conditional and unconditional noise estimates,
    ``eps_u + w (eps_c - eps_u)`` (eq-cfg): ``w = 1`` is the plain conditional model, ``w = 0``
    ignores the caption. Unknown words, an empty list, ``guidance < 0`` or ``steps < 1`` raise.
    """

    def __init__(self, text_model: DualEncoder, denoiser: Denoiser, config: DiffusionConfig) -> None:
        super().__init__()
        self.text_model = copy.deepcopy(text_model).cpu().eval().requires_grad_(False)
        self.denoiser, self.config = denoiser, config
        self.schedule = NoiseSchedule(config.schedule, config.steps)
        self.history: dict[str, list[float]] = {}

    def embed(self, captions: Sequence[str]) -> torch.Tensor:
        """Captions -> conditions ``[N, d]`` (the dual encoder's text embeddings)."""
        return self.text_model.encode_texts(captions)

    def guided_eps(self, x: torch.Tensor, t: int, c: torch.Tensor, guidance: float) -> torch.Tensor:
        """eq-cfg: ``eps_u + w (eps_c - eps_u)`` at step ``t`` for the batch ``x``, conditions ``c``."""
        steps = torch.full((len(x),), t, device=x.device, dtype=torch.int64)
        eps_c = self.denoiser(x, steps, c)
        if guidance == 1:
            return eps_c
        eps_u = self.denoiser(x, steps, None)
        return eps_u + guidance * (eps_c - eps_u)

    @torch.no_grad()
    def generate(self, captions: Sequence[str], seed: int | None = None, guidance: float | None = None,
                 steps: int | None = None, sampler: str | None = None, clip: bool | None = None) -> torch.Tensor:
        w = self.config.guidance if guidance is None else guidance
        clip = self.config.clip if clip is None else clip
        if w < 0:
            raise ValueError(f"guidance must be >= 0, got {w}")
        sampler = check_choice("sampler", sampler or self.config.sampler, ("ddim", "ddpm"))
        n_steps = steps or (self.config.steps if sampler == "ddpm" else self.config.sample_steps)
        times = self.schedule.timesteps(n_steps)          # raises for steps outside 1..T
        if sampler == "ddpm" and n_steps != self.config.steps:
            raise ValueError(f"the ancestral sampler runs all {self.config.steps} steps; use sampler='ddim' for fewer")
        device = next(self.denoiser.parameters()).device
        c = self.embed(captions).to(device)
        gen = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
        x = torch.randn(len(c), *self.denoiser.shape, generator=gen, device=device)
        self.denoiser.eval()
        for i, t in enumerate(times):
            eps = self.guided_eps(x, t, c, w)
            if sampler == "ddim":
                x = self.schedule.ddim_step(eps, t, times[i + 1] if i + 1 < len(times) else -1, x, clip)
            else:
                noise = torch.randn(x.shape, generator=gen, device=device)
                x = self.schedule.ddpm_step(eps, t, x, noise, clip)
        return ((x.clamp(-1, 1) + 1) / 2).cpu()


def train_text_diffusion(pairs: PairedDataset, config: DiffusionConfig | None = None, *, seed: int = 0,
                         device: torch.device | str | None = None, text_model: DualEncoder | None = None,
                         progress: bool | str = True, **overrides: Any) -> TextDiffusion:
    """Train a caption-conditioned diffusion model (Part 7.2) with the noise-prediction loss (eq-eps-loss):
    for each example a random step ``t``, ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps``, and the
    squared error of the denoiser's estimate of ``eps``; the caption is replaced by the null embedding
    for a share ``p_uncond`` of the examples. Captions are embedded once by a frozen copy of
    ``text_model`` (default: a dual encoder trained on ``pairs`` with the same seed), as the GAN does.
    Returns the model on the CPU in eval mode with ``.history``, ``.train_seconds`` and ``.config``."""
    config = resolve_config(DiffusionConfig, config, overrides)
    check_choice("schedule", config.schedule, SCHEDULES)
    if not 0 <= config.p_uncond < 1:
        raise ValueError(f"p_uncond must be in [0, 1), got {config.p_uncond}")
    set_seed(seed)
    device = resolve_device(device)
    if text_model is None:
        text_model = train_dual_encoder(pairs, seed=seed, device=device, progress=bool(progress))
    x0 = pairs.inputs.float() * 2 - 1
    schedule = NoiseSchedule(config.schedule, config.steps)
    skip = (schedule.alpha_bars, x0.mean(0), x0.var(0) + 1e-4) if config.skip else None
    model = TextDiffusion(text_model, Denoiser(x0.shape[1:], text_model.dim, config.hidden, blocks=config.blocks,
                                               skip=skip), config)
    denoiser = model.denoiser.to(device)
    opt = torch.optim.AdamW(denoiser.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    loader = seeded_loader(x0, model.embed(pairs.captions), batch_size=config.batch_size, seed=seed)

    def step(batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x0, c = batch
        t = torch.randint(0, config.steps, (len(x0),), device=x0.device)
        noise = torch.randn_like(x0)
        drop = torch.rand(len(x0), 1, device=x0.device) < config.p_uncond
        c = torch.where(drop, denoiser.null.expand_as(c), c)
        loss = F.mse_loss(denoiser(schedule.add_noise(x0, noise, t), t, c), noise)
        return {"loss": optimizer_step(opt, loss)}

    train_model(denoiser, step, loader, config, device=device, progress=progress, desc="text diffusion")
    model.history, model.train_seconds = denoiser.history, denoiser.train_seconds
    return model.eval()
