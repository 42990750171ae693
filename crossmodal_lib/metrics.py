"""Evaluation measures (book: Part 2 and the FAQ, "How do we evaluate?").

Classification is scored by accuracy. Cross-modal *retrieval* -- given a query in one
modality, rank all items of the other -- is scored by Recall@K (is a correct item among
the top K?) and the median rank of the first correct item, not by accuracy or F1.

Convention: ``sim[i, j]`` is the similarity of query ``i`` to candidate ``j``, and the
true partner of query ``i`` is candidate ``i`` (paired data). Passing labels instead
counts any candidate of the query's class as correct.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    "accuracy", "chance_map", "chance_recall_at_k", "correct_matrix", "mean_average_precision",
    "median_rank", "recall_at_k", "retrieval_report", "zero_shot_classify",
]


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


def mean_average_precision(sim: torch.Tensor, query_labels: torch.Tensor, item_labels: torch.Tensor) -> float:
    """mAP: average precision of each query's ranking (relevant = same label), averaged.

    Computed by scikit-learn's ``label_ranking_average_precision_score``, which is exactly this
    mean of per-query average precisions (ties count against the query).
    """
    from sklearn.metrics import label_ranking_average_precision_score

    relevant = correct_matrix(sim, query_labels, item_labels)
    if not relevant.any(dim=1).all():
        raise ValueError("some query has no relevant candidate")
    return float(label_ranking_average_precision_score(relevant.cpu().numpy(), sim.detach().cpu().double().numpy()))


def chance_recall_at_k(n: int, k: int, m: int = 1) -> float:
    """P(at least one of m relevant items is in the top k of a random ranking of n) = 1 - C(n-m, k)/C(n, k)."""
    if not (1 <= m <= n and 1 <= k):
        raise ValueError(f"need 1 <= m <= n and k >= 1, got n={n}, k={k}, m={m}")
    return 1.0 - math.comb(n - m, k) / math.comb(n, k) if k <= n else 1.0


def chance_map(n: int, m: int) -> float:
    """Expected average precision of a random ranking of n items of which m are relevant.

    A relevant item at rank r has, in expectation, (r-1)(m-1)/(n-1) relevant items above it, so
    E[AP] = (1/n) * sum_r (1 + (r-1)(m-1)/(n-1)) / r = (H_n + (m-1)/(n-1) * (n - H_n)) / n,
    with H_n the n-th harmonic number.
    """
    if not 1 <= m <= n:
        raise ValueError(f"need 1 <= m <= n, got n={n}, m={m}")
    h = sum(1.0 / r for r in range(1, n + 1))
    return (h + ((m - 1) / (n - 1) if n > 1 else 0.0) * (n - h)) / n


def retrieval_report(sim: torch.Tensor, query_labels: torch.Tensor, item_labels: torch.Tensor,
                     ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Exact-pair and class-level Recall@K, median rank and mAP of one direction, with chance levels.

    ``sim[i, j]``: query i vs candidate j; the exact partner of query i is candidate i.
    Keys: ``R@K``, ``class R@K``, ``median rank``, ``mAP`` and ``chance ...`` for each.
    """
    n = sim.shape[1]
    sizes = (item_labels[None, :] == query_labels[:, None]).sum(1).tolist()
    out: dict[str, float] = {}
    for k in ks:
        out[f"R@{k}"] = recall_at_k(sim, k)
        out[f"chance R@{k}"] = chance_recall_at_k(n, k)
    for k in ks:
        out[f"class R@{k}"] = recall_at_k(sim, k, query_labels, item_labels)
        out[f"chance class R@{k}"] = float(np.mean([chance_recall_at_k(n, k, m) for m in sizes]))
    out["median rank"] = median_rank(sim)
    out["chance median rank"] = (n + 1) / 2
    out["mAP"] = mean_average_precision(sim, query_labels, item_labels)
    out["chance mAP"] = float(np.mean([chance_map(n, m) for m in sizes]))
    return out


def zero_shot_classify(input_emb: torch.Tensor, prompt_emb: Sequence[torch.Tensor]) -> torch.Tensor:
    """Predict a class per input by prompt ensembling; returns class scores ``[N, C]``.

    ``input_emb``: ``[N, d]`` normalised. ``prompt_emb``: one ``[P_c, d]`` tensor of normalised
    caption embeddings per class c. Each class is represented by the normalised mean of its
    prompts' embeddings; the score is the cosine similarity to it.
    """
    if len(prompt_emb) == 0:
        raise ValueError("need prompts for at least one class")
    classes = torch.stack([torch.nn.functional.normalize(p.mean(0), dim=0) for p in prompt_emb])  # [C, d]
    return input_emb @ classes.T
