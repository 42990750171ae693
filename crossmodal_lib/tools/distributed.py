"""The contrastive loss across processes: every rank's negatives are the whole global batch (Part 6).

With data parallelism each process (rank) embeds its own ``[B, d]`` share of a batch of
``N = R * B`` pairs. Computing InfoNCE (eq-infonce) on the local share alone would give each
pair only ``B - 1`` negatives, and the bound ``log N`` of Part 3.1 would shrink with it.
:func:`distributed_info_nce` gathers the other ranks' embeddings first, with an all-gather
whose backward pass returns each rank the gradient that the *other* ranks' losses send to its
embeddings. Then the mean of the ranks' losses is the InfoNCE of the global batch, and the
parameter gradients averaged over ranks (what ``DistributedDataParallel`` does) are the
single-process gradients of the global batch. :func:`naive_distributed_info_nce` uses the
plain ``torch.distributed.all_gather``, which carries no gradient: the classic pitfall, same
loss value, wrong gradients.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from ..embedding import nce_rows, positive_mask


def _local_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, all_images: torch.Tensor, all_texts: torch.Tensor,
                scale: torch.Tensor | float, groups: torch.Tensor | None) -> torch.Tensor:
    """This rank's rows of the global InfoNCE: its images against all texts, its texts against all images."""
    b, rank = len(image_emb), dist.get_rank()
    if groups is None:
        pos = positive_mask(len(all_texts), device=image_emb.device)
    else:  # the global positives: same-group pairs of any two ranks are not negatives
        pos = positive_mask(len(all_texts), groups=torch.cat(_plain_gather(groups)))
    rows = pos[rank * b:(rank + 1) * b]                          # [B, N]; symmetric, so also the text rows
    return (nce_rows(scale * image_emb @ all_texts.T, rows) + nce_rows(scale * text_emb @ all_images.T, rows)) / 2


def _plain_gather(tensor: torch.Tensor) -> list[torch.Tensor]:
    """``torch.distributed.all_gather`` of a (detached) tensor: every rank's copy, no gradient."""
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.detach().contiguous())
    return parts


def _check_local_batch(image_emb: torch.Tensor, text_emb: torch.Tensor, groups: torch.Tensor | None = None) -> None:
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError("distributed_info_nce needs an initialised torch.distributed process group "
                           "(e.g. under torchrun); on one process use embedding.info_nce")
    if image_emb.shape != text_emb.shape or image_emb.dim() != 2 or len(image_emb) == 0:
        raise ValueError(f"expected two non-empty [B, d] batches, got {tuple(image_emb.shape)} and {tuple(text_emb.shape)}")
    if groups is not None and len(groups) != len(image_emb):
        raise ValueError(f"groups has {len(groups)} rows for a batch of {len(image_emb)} pairs")
    sizes = [torch.zeros((), dtype=torch.int64, device=image_emb.device) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, torch.tensor(len(image_emb), device=image_emb.device))
    if len({int(s) for s in sizes}) != 1:
        raise ValueError(f"every rank needs the same batch size (use drop_last); got {[int(s) for s in sizes]}")


def distributed_info_nce(image_emb: torch.Tensor, text_emb: torch.Tensor, scale: torch.Tensor | float,
                         groups: torch.Tensor | None = None) -> torch.Tensor:
    """This rank's share of symmetric InfoNCE over the global batch; ``image_emb``, ``text_emb``:
    this rank's L2-normalised ``[B, d]`` rows (equal ``B`` on every rank); ``groups``: optional
    ``[B]`` or ``[B, k]`` keys of this rank's pairs (``embedding.group_ids``): same-group pairs
    anywhere in the global batch are positives. The mean over ranks equals ``embedding.info_nce``
    on the concatenation of all ranks' batches, in rank order, with ``positive_mask`` of all groups."""
    from torch.distributed.nn.functional import all_gather  # gradient-carrying
    _check_local_batch(image_emb, text_emb, groups)
    return _local_loss(image_emb, text_emb, torch.cat(all_gather(image_emb)), torch.cat(all_gather(text_emb)), scale, groups)


def naive_distributed_info_nce(image_emb: torch.Tensor, text_emb: torch.Tensor, scale: torch.Tensor | float,
                               groups: torch.Tensor | None = None) -> torch.Tensor:
    """The pitfall, for comparison: ``torch.distributed.all_gather`` returns copies without gradient,
    so each rank's loss sends no gradient to the other ranks' embeddings."""
    _check_local_batch(image_emb, text_emb, groups)
    gathered = []
    for tensor in (image_emb, text_emb):
        parts = _plain_gather(tensor)
        parts[dist.get_rank()] = tensor  # only the local share keeps its graph
        gathered.append(torch.cat(parts))
    return _local_loss(image_emb, text_emb, *gathered, scale, groups)
