"""Reproducibility, devices, the training loop and checkpoints (book: "How to use this book").

Every training function in the library goes through this module, so that the same
notebook runs on a CUDA GPU, an Apple GPU (MPS) or a CPU without edits:

* :func:`set_seed` -- the one seed helper (Python, NumPy, PyTorch).
* :func:`get_device` -- CUDA, then MPS, then CPU.
* :func:`train` -- an explicit loop: move each batch to the device, call a step function,
  keep a per-epoch history, show a :func:`progress_bar`, and stop with a clear
  :class:`NonFiniteLossError` the moment a loss becomes NaN or infinite.
* :func:`progress_bar` -- the one progress bar: plain-text ``tqdm``, live everywhere, final in built pages.
* :func:`optimizer_step` -- the one optimiser update every trainer uses (zero the gradients,
  back-propagate, step), skipped when the loss is not finite so that :func:`train` can stop
  and say why.
* :func:`seeded_loader` -- a shuffled ``DataLoader`` whose order depends only on a seed;
  :func:`epochs_for_steps` -- how many passes over it give a budget of optimiser steps.
* :func:`resolve_device` -- the device a trainer runs on (``None`` means :func:`get_device`).
* :func:`fit` -- the common case of :func:`train`: one model, one loss, one Adam optimiser.
* :func:`save_checkpoint` / :func:`load_checkpoint` / :func:`checkpoint_metadata` -- safetensors
  files: tensors and a JSON header only, so loading never unpickles (and never runs) arbitrary code.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset
from tqdm.std import tqdm

__all__ = [
    "NonFiniteLossError",
    "checkpoint_metadata",
    "epochs_for_steps",
    "fit",
    "get_device",
    "load_checkpoint",
    "optimizer_step",
    "progress_bar",
    "resolve_device",
    "save_checkpoint",
    "seeded_loader",
    "set_seed",
    "to_device",
    "train",
    "train_model",
]


def set_seed(seed: int = 0) -> None:
    """Seed Python's ``random``, NumPy's global generator and PyTorch (CPU and all GPUs).

    Call it once at the top of a notebook: on the same machine the notebook then prints
    the same numbers every time. (Bit-for-bit equality *across* machines or between CPU and
    GPU is not promised by PyTorch, and not by this helper either.)
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def get_device(prefer: str | None = None) -> torch.device:
    """The device to train on: CUDA if available, else Apple's MPS, else the CPU.

    ``prefer`` (``"cpu"``, ``"cuda"``, ``"mps"``) overrides the choice; so does the
    environment variable ``CROSSMODAL_DEVICE``. Asking for a device that is not there
    raises a ``RuntimeError`` instead of silently falling back.
    """
    name = prefer or os.environ.get("CROSSMODAL_DEVICE")
    if name:
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' was requested but torch.cuda.is_available() is False")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError("device 'mps' was requested but torch.backends.mps.is_available() is False")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_device(device: torch.device | str | None) -> torch.device:
    """``torch.device(device)``, or :func:`get_device` when ``device`` is ``None``."""
    return torch.device(device) if device is not None else get_device()


def seeded_loader(*tensors: torch.Tensor, batch_size: int, seed: int, drop_last: bool = False) -> DataLoader:
    """A shuffled ``DataLoader`` over ``TensorDataset(*tensors)`` (aligned ``[N, ...]`` tensors).

    The order of the batches depends only on ``seed`` (its own ``torch.Generator``), not on
    how much of the global random stream the model's initialisation used up. ``drop_last``
    drops a last, smaller batch (contrastive losses prefer equal batch sizes).
    """
    if not tensors or len(tensors[0]) == 0:
        raise ValueError("seeded_loader needs at least one non-empty tensor")
    if any(len(t) != len(tensors[0]) for t in tensors):
        raise ValueError(f"mismatched tensors: lengths {[len(t) for t in tensors]}")
    dataset, generator = TensorDataset(*tensors), torch.Generator().manual_seed(seed)
    # whole batches by fancy indexing: the same order and values as DataLoader(shuffle=True)
    # with this generator, without collating one example at a time
    batches = BatchSampler(RandomSampler(dataset, generator=generator), batch_size, drop_last)
    return DataLoader(dataset, sampler=batches, batch_size=None, generator=generator)


def epochs_for_steps(n: int, batch_size: int, steps: int, drop_last: bool = False) -> int:
    """The fewest whole epochs over ``n`` examples in batches of ``batch_size`` that give at least
    ``steps`` optimiser steps (one per batch; with ``drop_last`` and ``n > batch_size`` a last,
    smaller batch is dropped, as :func:`seeded_loader` does), so that models trained on different
    amounts of data can get the same budget."""
    if min(n, batch_size, steps) < 1:
        raise ValueError(f"n, batch_size and steps must be >= 1, got {n}, {batch_size}, {steps}")
    batches = n // batch_size if drop_last and n > batch_size else math.ceil(n / batch_size)
    return math.ceil(steps / batches)


def progress_bar(iterable: Iterable, desc: str, enabled: bool = True) -> tqdm:
    """Wrap ``iterable`` in the book's progress bar: a plain-text ``tqdm`` bar on stderr.

    Text, not a widget: it updates in place in a terminal, JupyterLab and Colab, and its final
    state is what the built website shows. A widget bar would show its first frame (0 %) there,
    because drawing its last one needs JavaScript from a CDN, which the offline site does not load.
    """
    return tqdm(iterable, desc=desc, disable=not enabled, leave=True, file=sys.stderr)


def optimizer_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> torch.Tensor:
    """One update: zero the gradients, back-propagate ``loss`` (a scalar), step; returns ``loss``.

    A NaN or infinite loss is *not* back-propagated (it would write NaNs into every weight);
    the step is skipped and the value is returned unchanged, so that :func:`train`, which
    checks every value a step reports, stops with a :class:`NonFiniteLossError` naming it.
    """
    if loss.dim() != 0:
        raise ValueError(f"the loss must be a scalar, got shape {tuple(loss.shape)}")
    optimizer.zero_grad(set_to_none=True)
    if torch.isfinite(loss):
        loss.backward()
        optimizer.step()
    return loss


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor in a (nested) tuple / list / dict batch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


class NonFiniteLossError(RuntimeError):
    """Raised by :func:`train` when a loss becomes NaN or infinite.

    Continuing would only propagate NaNs into every weight; the error names the epoch,
    the step and the offending value so the cause (learning rate, a ``log(0)``, bad data)
    can be found.
    """


StepFn = Callable[[Any], Mapping[str, torch.Tensor | float]]


def train(
    step: StepFn,
    loader: Iterable,
    *,
    epochs: int,
    device: torch.device | None = None,
    progress: bool | str = True,
    desc: str = "training",
) -> dict[str, list[float]]:
    """Run ``step`` over ``loader`` for ``epochs`` epochs and return the per-epoch history.

    ``step(batch)`` receives the batch already moved to ``device``; it does the forward
    pass, the backward pass and the optimiser update, and returns a dict of scalar
    losses/metrics (tensors or floats). The first entry is the one watched by the NaN
    guard and shown in the progress bar; every entry is averaged over the epoch
    (weighted equally per step) into ``history[name]``.

    ``progress``: show a ``tqdm`` bar labelled ``desc`` (``True``), labelled by the string
    given, or none (``False``).

    Raises :class:`NonFiniteLossError` on the first NaN/inf value, and ``ValueError``
    for ``epochs < 1`` or an empty loader.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    device = device or get_device()
    history: dict[str, list[float]] = {}
    label = progress if isinstance(progress, str) else desc
    bar = progress_bar(range(epochs), label, enabled=progress is not False)
    global_step = 0
    for epoch in bar:
        sums: dict[str, float] = {}
        n_steps = 0
        for batch in loader:
            values = step(to_device(batch, device))
            if not values:
                raise ValueError("the step function must return a non-empty dict of losses")
            for name, value in values.items():
                v = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
                if not math.isfinite(v):
                    raise NonFiniteLossError(
                        f"{name} became {v} at epoch {epoch + 1}, step {n_steps + 1} "
                        f"(global step {global_step + 1}); training stopped. Common causes: "
                        "a learning rate that is too high, log(0) in the loss, or NaNs in the data."
                    )
                sums[name] = sums.get(name, 0.0) + v
            n_steps += 1
            global_step += 1
        if n_steps == 0:
            raise ValueError("the data loader produced no batches (is the dataset empty?)")
        for name, total in sums.items():
            history.setdefault(name, []).append(total / n_steps)
        bar.set_postfix({k: f"{v[-1]:.4f}" for k, v in history.items()})
    return history


def fit(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor],
    loader: Iterable,
    *,
    epochs: int,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    device: torch.device | None = None,
    progress: bool | str = True,
    desc: str = "training",
) -> dict[str, list[float]]:
    """Train ``model`` with Adam on ``loss_fn(model, batch)``; returns ``{"loss": [...]}``.

    The model is moved to ``device`` (default :func:`get_device`) and left there in
    ``eval()`` mode when training ends.
    """
    device = device or get_device()
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay, foreach=True)

    def step(batch: Any) -> dict[str, torch.Tensor]:
        return {"loss": optimizer_step(opt, loss_fn(model, batch))}

    try:
        return train(step, loader, epochs=epochs, device=device, progress=progress, desc=desc)
    finally:
        model.eval()


def train_model(model: torch.nn.Module, step: StepFn, loader: Iterable, config: Any, *,
                device: torch.device, progress: bool | str = True, desc: str = "training") -> torch.nn.Module:
    """The end of every trainer: :func:`train` for ``config.epochs`` epochs, then record on the model
    ``.history``, ``.train_seconds`` (wall time of the loop) and ``.config``, and return it on the
    CPU in eval mode. ``step`` closes over ``model`` and its optimiser."""
    model.train()
    start = time.perf_counter()
    model.history = train(step, loader, epochs=config.epochs, device=device, progress=progress, desc=desc)
    model.train_seconds = time.perf_counter() - start
    model.config = config
    return model.cpu().eval()


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, metadata: Mapping[str, Any] | None = None) -> Path:
    """Save ``model.state_dict()`` (and JSON-serialisable ``metadata``) as a safetensors file.

    safetensors stores raw tensors and a JSON header only, so a checkpoint cannot carry
    code. Tensors are saved from the CPU and made contiguous; shared tensors are copied.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    meta = {"crossmodal_lib": json.dumps(dict(metadata or {}))}
    save_file(tensors, str(path), metadata=meta)
    return path


def load_checkpoint(
    path: str | os.PathLike, model: torch.nn.Module, device: torch.device | str | None = None
) -> dict[str, Any]:
    """Load weights saved by :func:`save_checkpoint` into ``model``; returns the metadata.

    Keys must match exactly (``strict`` loading): a checkpoint of another architecture
    raises a ``RuntimeError`` naming the missing/unexpected keys instead of half-loading.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    state = load_file(str(path), device=str(device) if device is not None else "cpu")
    model.load_state_dict(state, strict=True)
    return checkpoint_metadata(path)


def checkpoint_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata a :func:`save_checkpoint` file carries, read without loading its tensors
    (e.g. the config needed to build the model before loading the weights into it)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        raw = (f.metadata() or {}).get("crossmodal_lib", "{}")
    return json.loads(raw)
