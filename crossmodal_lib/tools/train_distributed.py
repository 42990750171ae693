"""Data-parallel contrastive training under ``torchrun`` (Part 6b).

Every process (rank) holds a full copy of the dual encoder of Part 3.1 and sees its own share
of each global batch: a ``DistributedSampler`` deals every epoch's shuffled pairs out to the
ranks (``drop_last``, so every rank gets the same number of equal batches), the loss is
:func:`~crossmodal_lib.tools.distributed.distributed_info_nce` over the *global* batch, and
``DistributedDataParallel`` averages the gradients, so every copy takes the same step. Rank 0
shows the progress bar, prints the summary and writes the safetensors checkpoint. Launch::

    torchrun --standalone --nproc_per_node=2 -m crossmodal_lib.tools.train_distributed --epochs 5 --out run.safetensors

On GPUs each rank uses ``cuda:LOCAL_RANK`` and the NCCL backend; on CPUs, gloo. Two choices
make a run on ``R`` ranks with ``batch_per_rank=B`` compute the same model as one process with
``batch_per_rank=R*B`` (up to rounding): the sampler's order depends only on the seed and the
epoch, and training images are not augmented (a random shift would draw different noise on
each rank).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import Any
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, TensorDataset

from .. import training
from ..config import check_choice
from ..embedding import DualEncoder, DualEncoderConfig, _dual_encoder_for, group_ids
from ..pipeline import load_pairs
from ..text import Vocabulary
from .distributed import distributed_info_nce


@dataclass(frozen=True)
class DistributedConfig:
    """Hyperparameters of :func:`train`; every field is also a command-line flag (``--batch-per-rank``)."""

    batch_per_rank: int = 64        # pairs per rank and step: the global batch is world_size times this
    epochs: int = 10                # passes over the training pairs
    lr: float = 2e-3                # AdamW learning rate
    weight_decay: float = 1e-4      # AdamW weight decay
    dim: int = 32                   # dimension of the shared space
    hidden: int = 128               # width of each tower
    temperature: float = 0.3        # fixed InfoNCE temperature
    positives: str = "caption"      # which pairs of the global batch are not negatives (embedding.group_ids)
    modality: str = "image"         # "image", "speech" or "video" (pipeline.load_pairs)
    seed: int = 0                   # initialisation and the sampler's order
    dtype: str = "float32"          # "float64" to compare runs without float32 rounding (section 2 of Part 6b)
    out: str = ""                   # checkpoint written by rank 0 ("" for none)

    def model_config(self) -> DualEncoderConfig:
        return DualEncoderConfig(dim=self.dim, hidden=self.hidden, temperature=self.temperature,
                                 positives=self.positives, shift=0)


class _Towers(nn.Module):
    """Both towers in one ``forward``, so that ``DistributedDataParallel`` sees every parameter used."""

    def __init__(self, model: DualEncoder) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.forward_inputs(x), self.model.forward_ids(ids)


class _EpochLoader:
    """A loader that tells its ``DistributedSampler`` the epoch, so each epoch has its own order."""

    def __init__(self, loader: DataLoader, sampler: DistributedSampler) -> None:
        self.loader, self.sampler, self.epoch = loader, sampler, 0

    def __iter__(self) -> Iterator:
        self.sampler.set_epoch(self.epoch)
        self.epoch += 1
        return iter(self.loader)

    def __len__(self) -> int:
        return len(self.loader)


def build_model(config: DistributedConfig) -> DualEncoder:
    """A fresh dual encoder for ``config``, with the vocabulary of the training captions."""
    pairs = load_pairs(config.modality, "train")
    return _dual_encoder_for(pairs, config.model_config(), Vocabulary.build(pairs.captions, pairs.lang))


def data_loader(model: DualEncoder, config: DistributedConfig, rank: int, world: int) -> _EpochLoader:
    """Rank ``rank``'s batches ``(inputs [B, ...], ids [B, T], groups [B, k])`` of the training pairs.

    Every epoch one permutation (seed + epoch) is dealt out: rank r gets positions r, r + R,
    r + 2R, ... and cuts them into batches of B, so step k of all ranks together covers positions
    kRB ... (k+1)RB - 1, the k-th batch of one process with batches of RB. Works without a
    process group (``DistributedSampler`` takes ``num_replicas`` and ``rank``)."""
    pairs = load_pairs(config.modality, "train")
    dataset = TensorDataset(pairs.inputs, model.vocab.encode(pairs.captions), group_ids(pairs, config.positives))
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=config.seed, drop_last=True)
    batches = BatchSampler(sampler, config.batch_per_rank, drop_last=True)
    if len(batches) == 0:
        raise ValueError(f"{len(dataset)} training pairs cannot fill one global batch of {world} ranks x "
                         f"{config.batch_per_rank} = {world * config.batch_per_rank} pairs; lower batch_per_rank")
    return _EpochLoader(DataLoader(dataset, sampler=batches, batch_size=None), sampler)


def _device(local_rank: int) -> torch.device:
    if not torch.cuda.is_available():
        return torch.device("cpu")
    torch.cuda.set_device(local_rank)  # NCCL's collectives (barrier included) use the current device
    return torch.device("cuda", local_rank)


def train(config: DistributedConfig) -> DualEncoder:
    """Train inside an initialised process group (one call per rank); returns this rank's copy on the CPU.

    Each step: this rank's ``[B, ...]`` inputs and ``[B, T]`` ids -> embeddings -> InfoNCE over
    the ``world_size * B`` pairs of the global batch -> DDP's all-reduce of the gradients -> AdamW.
    The logged loss is the mean over ranks, the same number on every rank, so that a NaN stops
    every rank at the same step (training.NonFiniteLossError) instead of leaving one waiting.
    """
    rank, world = dist.get_rank(), dist.get_world_size()
    device = _device(int(os.environ.get("LOCAL_RANK", 0)))
    training.set_seed(config.seed)
    dtype = getattr(torch, check_choice("dtype", config.dtype, ("float32", "float64")))
    model = build_model(config).to(device, dtype)
    ddp = nn.parallel.DistributedDataParallel(_Towers(model), device_ids=[device.index] if device.type == "cuda" else None)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                            weight_decay=config.weight_decay)

    def step(batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        x, ids, groups = batch
        u, v = ddp(x.to(dtype), ids)
        loss = distributed_info_nce(u, v, model.scale.detach(), groups)
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        if torch.isfinite(mean):
            training.optimizer_step(opt, loss)
        return {"loss": mean / world}

    loader = data_loader(model, config, rank, world)
    model = training.train_model(model, step, loader, config, device=device, progress="rank 0" if rank == 0 else False)
    model.world_size, model.global_batch, model.steps_per_epoch = world, world * config.batch_per_rank, len(loader)
    return model


def load_trained(path: str | os.PathLike) -> DualEncoder:
    """The model a run saved, rebuilt from the config in the checkpoint's metadata; the metadata
    (``config``, ``world_size``, ``global_batch``, ``history``, ``train_seconds``) is on ``model.run``."""
    meta = training.checkpoint_metadata(path)
    model = build_model(DistributedConfig(**meta["config"])).to(getattr(torch, meta["config"]["dtype"]))
    training.load_checkpoint(path, model)
    model.run = meta
    return model.eval()


def _save(model: DualEncoder, config: DistributedConfig) -> None:
    meta = {"config": dataclasses.asdict(config), "world_size": model.world_size, "global_batch": model.global_batch,
            "steps_per_epoch": model.steps_per_epoch, "history": model.history, "train_seconds": model.train_seconds}
    training.save_checkpoint(config.out, model, meta)


def _save_on_rank_zero(model: DualEncoder, config: DistributedConfig, device: torch.device) -> None:
    """Rank 0 writes the checkpoint (if ``config.out``); every rank learns whether that worked, so
    that none waits forever for a rank 0 that failed."""
    ok, error = torch.ones((), device=device), None
    if dist.get_rank() == 0 and config.out:
        try:
            _save(model, config)
        except Exception as exc:  # noqa: BLE001 -- re-raised below, once the other ranks know
            ok.zero_()
            error = exc
    dist.all_reduce(ok, op=dist.ReduceOp.MIN)
    if error is not None:
        raise error
    if ok.item() == 0:
        raise RuntimeError(f"rank 0 could not write the checkpoint {config.out!r}; see its traceback")


def parse_args(argv: Sequence[str] | None = None) -> DistributedConfig:
    """A :class:`DistributedConfig` from flags named after its fields (``--batch-per-rank 32``)."""
    parser = argparse.ArgumentParser(prog="torchrun --nproc_per_node=N -m crossmodal_lib.tools.train_distributed",
                                     description=__doc__.split("\n\n")[0])
    for f in dataclasses.fields(DistributedConfig):
        parser.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default)
    return DistributedConfig(**vars(parser.parse_args(argv)))


def command(nproc: int, config: DistributedConfig, *, launcher: Sequence[str] = ("torchrun", "--standalone")) -> list[str]:
    """The launch command of a run of ``config`` on ``nproc`` processes of this machine, every
    field that differs from the defaults given as a flag. ``launcher``: e.g. ``(sys.executable,
    "-m", "torch.distributed.run", "--standalone")`` for the current Python."""
    flags = [item for f in dataclasses.fields(config) if getattr(config, f.name) != f.default
             for item in ("--" + f.name.replace("_", "-"), str(getattr(config, f.name)))]
    return [*launcher, f"--nproc_per_node={nproc}", "-m", __name__, *flags]


def launch(nproc: int, config: DistributedConfig, *, timeout: float = 300, attempts: int = 2) -> dict[str, Any]:
    """Run ``config`` on ``nproc`` local processes in a subprocess (the current Python's torchrun) and
    return rank 0's summary (``world_size``, ``global_batch``, ``steps_per_epoch``, ``final_loss``,
    ``train_seconds``, ``out``). A failed launch is retried (gloo on an overloaded CPU occasionally
    aborts a process at start-up) and, if every attempt fails, raises ``RuntimeError`` with the log's tail."""
    cmd = command(nproc, config, launcher=(sys.executable, "-m", "torch.distributed.run", "--standalone"))
    for attempt in range(1, attempts + 1):
        code, out, err = _run(cmd, timeout)
        if code == 0:
            return json.loads(out.strip().splitlines()[-1])
        print(f"launch attempt {attempt} of {attempts} failed with exit status {code}", file=sys.stderr)
    raise RuntimeError(f"{shlex.join(cmd)} failed:\n{err[-3000:]}")


def _run(cmd: list[str], timeout: float) -> tuple[int, str, str]:
    """Run ``cmd`` in its own process group; on a timeout kill the group (torchrun *and* its workers)."""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return proc.returncode, out, err


def main(argv: Sequence[str] | None = None) -> None:
    """The ``torchrun`` entry point: join the process group, train, and let rank 0 report and save."""
    if "RANK" not in os.environ:
        raise SystemExit("launch with torchrun, e.g. torchrun --standalone --nproc_per_node=2 "
                         "-m crossmodal_lib.tools.train_distributed (one process: --nproc_per_node=1)")
    config = parse_args(argv)
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    try:
        model = train(config)
        _save_on_rank_zero(model, config, _device(int(os.environ.get("LOCAL_RANK", 0))))
        if dist.get_rank() == 0:
            print(json.dumps({"world_size": model.world_size, "global_batch": model.global_batch,
                              "steps_per_epoch": model.steps_per_epoch,
                              "final_loss": round(model.history["loss"][-1], 4),
                              "train_seconds": round(model.train_seconds, 2), "out": config.out}))
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
