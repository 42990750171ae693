"""Evaluation measures (book: Part 2 and the FAQ, "How do we evaluate?").

Classification is scored by accuracy. Cross-modal *retrieval* -- given a query in one
modality, rank all items of the other -- is scored by Recall@K (is a correct item among
the top K?) and the median rank of the first correct item, not by accuracy or F1.

Convention: ``sim[i, j]`` is the similarity of query ``i`` to candidate ``j``, and the
true partner of query ``i`` is candidate ``i`` (paired data). Passing labels instead
counts any candidate of the query's class as correct.
"""

from __future__ import annotations

import torch

__all__ = ["accuracy", "correct_matrix", "median_rank", "recall_at_k"]


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose arg-max equals the label. ``[N, C]``, ``[N]`` -> float."""
    if logits.dim() != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(f"expected logits [N, C] and labels [N], got {tuple(logits.shape)} and {tuple(labels.shape)}")
    if len(labels) == 0:
        raise ValueError("accuracy of an empty batch is undefined")
    return (logits.argmax(dim=1) == labels.to(logits.device)).float().mean().item()


def correct_matrix(sim: torch.Tensor, query_labels: torch.Tensor | None = None,
                   item_labels: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean ``[Q, M]``: which candidates count as correct for each query."""
    if sim.dim() != 2 or sim.numel() == 0:
        raise ValueError(f"sim must be a non-empty [queries, candidates] matrix, got {tuple(sim.shape)}")
    if (query_labels is None) != (item_labels is None):
        raise ValueError("pass both query_labels and item_labels, or neither")
    if query_labels is None:
        if sim.shape[0] != sim.shape[1]:
            raise ValueError(f"without labels, sim must be square (query i pairs with item i), got {tuple(sim.shape)}")
        return torch.eye(sim.shape[0], dtype=torch.bool, device=sim.device)
    if query_labels.shape != sim.shape[:1] or item_labels.shape != sim.shape[1:]:
        raise ValueError(f"labels {tuple(query_labels.shape)}, {tuple(item_labels.shape)} do not fit sim {tuple(sim.shape)}")
    return query_labels.to(sim.device)[:, None] == item_labels.to(sim.device)[None, :]


def _first_correct_rank(sim: torch.Tensor, correct: torch.Tensor) -> torch.Tensor:
    """1-based rank of the best-ranked correct candidate for each query, ``[Q]``.

    Ties are broken pessimistically (a correct item tied with a wrong one ranks after it),
    so a constant similarity matrix cannot look good.
    """
    if not correct.any(dim=1).all():
        raise ValueError("some query has no correct candidate")
    best_correct = sim.masked_fill(~correct, float("-inf")).max(dim=1).values  # [Q]
    return (sim.masked_fill(correct, float("-inf")) >= best_correct[:, None]).sum(dim=1) + 1


def recall_at_k(sim: torch.Tensor, k: int, query_labels: torch.Tensor | None = None,
                item_labels: torch.Tensor | None = None) -> float:
    """Fraction of queries with a correct candidate among their top ``k``."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    ranks = _first_correct_rank(sim, correct_matrix(sim, query_labels, item_labels))
    return (ranks <= k).float().mean().item()


def median_rank(sim: torch.Tensor, query_labels: torch.Tensor | None = None,
                item_labels: torch.Tensor | None = None) -> float:
    """Median over queries of the rank of the first correct candidate (1 is perfect)."""
    ranks = _first_correct_rank(sim, correct_matrix(sim, query_labels, item_labels))
    return ranks.float().median().item()
