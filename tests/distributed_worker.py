"""Worker processes for tests/test_distributed.py (spawned, so they must live in an importable module)."""

from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from crossmodal_lib.tools import distributed

GLOBAL_BATCH, FEATURES, DIM, SCALE = 8, 6, 4, 5.0


def towers_and_batch() -> tuple[torch.nn.Module, torch.nn.Module, torch.Tensor, torch.Tensor]:
    """The same two towers and global batch in every process (seed 0)."""
    torch.manual_seed(0)
    image_tower, text_tower = torch.nn.Linear(FEATURES, DIM), torch.nn.Linear(FEATURES, DIM)
    return image_tower, text_tower, torch.randn(GLOBAL_BATCH, FEATURES), torch.randn(GLOBAL_BATCH, FEATURES)


def worker(rank: int, world: int, init_file: str, out_dir: str, variant: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        image_tower, text_tower, x, t = towers_and_batch()
        b = GLOBAL_BATCH // world
        u = F.normalize(image_tower(x[rank * b:(rank + 1) * b]), dim=1)
        v = F.normalize(text_tower(t[rank * b:(rank + 1) * b]), dim=1)
        loss_fn = distributed.distributed_info_nce if variant == "gather" else distributed.naive_distributed_info_nce
        loss = loss_fn(u, v, SCALE)
        loss.backward()
        params = list(image_tower.parameters()) + list(text_tower.parameters())
        for p in params:  # what DistributedDataParallel does: average the gradients over ranks
            dist.all_reduce(p.grad)
            p.grad /= world
        mean_loss = loss.detach().clone()
        dist.all_reduce(mean_loss)
        if rank == 0:
            torch.save({"loss": mean_loss / world, "grads": [p.grad for p in params]}, Path(out_dir) / f"{variant}.pt")
        dist.barrier()  # tear down together: a rank leaving gloo while its peer is still inside can abort it
    finally:
        dist.destroy_process_group()
