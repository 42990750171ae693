"""Part 7.2's cross-check: the library's noise schedule and sampler steps against ``diffusers``.

``diffusers``' schedulers need no weights, so they run offline. They keep their schedule in
float32, where ``1 - abar_t`` loses most of its digits at small ``t``; to compare the *formulas*,
:func:`compare_with_diffusers` gives both sides the same schedule in float64 (after checking that
the two schedules' own formulas agree).
"""

from __future__ import annotations

from typing import Any

import torch

from ..diffusion import NoiseSchedule


def _schedulers(schedule: NoiseSchedule, clip: bool) -> tuple[Any, Any]:
    """diffusers' DDPM and DDIM schedulers configured like ``schedule`` (their own float32 betas)."""
    try:
        from diffusers import DDIMScheduler, DDPMScheduler
    except ImportError as err:
        raise ImportError("the diffusers cross-check needs the PyPI package 'diffusers': pip install diffusers") from err
    kw: dict[str, Any] = {"num_train_timesteps": schedule.steps, "clip_sample": clip,
                          "beta_schedule": "linear" if schedule.kind == "linear" else "squaredcos_cap_v2"}
    if schedule.kind == "linear":
        kw.update(beta_start=1e-4 * 1000 / schedule.steps, beta_end=0.02 * 1000 / schedule.steps)
    return DDPMScheduler(**kw), DDIMScheduler(**kw)


def _in_float64(scheduler: Any, schedule: NoiseSchedule) -> Any:
    scheduler.betas = schedule.betas.clone()
    scheduler.alphas = 1 - scheduler.betas
    scheduler.alphas_cumprod = torch.cumprod(scheduler.alphas, 0)
    scheduler.final_alpha_cumprod = torch.tensor(1.0, dtype=torch.float64)
    return scheduler


def compare_with_diffusers(schedule: NoiseSchedule, clip: bool = False, seed: int = 0) -> dict[str, float]:
    """Largest absolute differences, on random ``[4, 1, 8, 8]`` inputs, between the library and
    diffusers: ``"betas"`` (each side's own schedule), ``"add_noise (float32)"``, and in float64
    ``"add_noise"``, ``"ddpm_step"`` (steps T-1, 150, 37, 1, 0, the same noise) and ``"ddim_step"``
    (all 20 steps of a 20-step run; ``"ddim timesteps differ"`` is 1.0 if the step lists differ)."""
    ddpm, ddim = _schedulers(schedule, clip)
    gen = torch.Generator().manual_seed(seed)
    x0, noise, eps, x_t = (torch.randn(4, 1, 8, 8, generator=gen, dtype=torch.float64) for _ in range(4))
    t = torch.tensor([0, 10, schedule.steps // 2, schedule.steps - 1])
    gap = lambda a, b: (a - b).abs().max().item()  # noqa: E731
    out = {"betas": gap(ddpm.betas.double(), schedule.betas),
           "add_noise (float32)": gap(ddpm.add_noise(x0.float(), noise.float(), t), schedule.add_noise(x0, noise, t))}
    ddpm, ddim = _in_float64(ddpm, schedule), _in_float64(ddim, schedule)
    out["add_noise"] = gap(ddpm.add_noise(x0, noise, t), schedule.add_noise(x0, noise, t))
    steps = [s for s in (schedule.steps - 1, 150, 37, 1, 0) if s < schedule.steps]
    out["ddpm_step"] = max(gap(ddpm.step(eps, s, x_t, generator=torch.Generator().manual_seed(5)).prev_sample,
                               schedule.ddpm_step(eps, s, x_t, torch.randn(x_t.shape, generator=torch.Generator().manual_seed(5),
                                                                             dtype=torch.float64), clip)) for s in steps)
    ddim.set_timesteps(20)
    times = schedule.timesteps(20)
    out["ddim timesteps differ"] = float(ddim.timesteps.tolist() != times)
    out["ddim_step"] = max(gap(ddim.step(eps, s, x_t, eta=0.0, use_clipped_model_output=clip).prev_sample,
                               schedule.ddim_step(eps, s, times[i + 1] if i + 1 < len(times) else -1, x_t, clip))
                           for i, s in enumerate(times))
    return out
