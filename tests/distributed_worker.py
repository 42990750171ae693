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


#: caption-group keys of the global batch: pairs 0, 2 and 7 share a caption, so do 1 and 4
GROUPS = torch.tensor([0, 1, 0, 2, 1, 3, 4, 0])
VARIANTS = ("gather", "naive", "groups")


def one_variant(rank: int, world: int, variant: str) -> dict[str, torch.Tensor]:
    """The mean loss and the rank-averaged gradients of one loss variant (same on every rank)."""
    image_tower, text_tower, x, t = towers_and_batch()
    b = GLOBAL_BATCH // world
    share = slice(rank * b, (rank + 1) * b)
    u, v = F.normalize(image_tower(x[share]), dim=1), F.normalize(text_tower(t[share]), dim=1)
    if variant == "naive":
        loss = distributed.naive_distributed_info_nce(u, v, SCALE)
    else:
        loss = distributed.distributed_info_nce(u, v, SCALE, GROUPS[share] if variant == "groups" else None)
    loss.backward()
    params = list(image_tower.parameters()) + list(text_tower.parameters())
    for p in params:  # what DistributedDataParallel does: average the gradients over ranks
        dist.all_reduce(p.grad)
        p.grad /= world
    mean_loss = loss.detach().clone()
    dist.all_reduce(mean_loss)
    return {"loss": mean_loss / world, "grads": [p.grad for p in params]}


def worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        results = {variant: one_variant(rank, world, variant) for variant in VARIANTS}
        if rank == 0:
            torch.save(results, Path(out_dir) / "results.pt")
        dist.barrier()  # tear down together: a rank leaving gloo while its peer is still inside can abort it
    finally:
        dist.destroy_process_group()
