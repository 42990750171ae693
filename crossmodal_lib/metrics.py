"""Evaluation measures (book: Part 2 and the FAQ, "How do we evaluate?").

Classification is scored by accuracy. Cross-modal *retrieval* -- given a query in one
modality, rank all items of the other -- is scored by Recall@K (is a correct item among
the top K?) and the median rank of the first correct item, not by accuracy or F1.

Convention: ``sim[i, j]`` is the similarity of query ``i`` to candidate ``j``, and the
true partner of query ``i`` is candidate ``i`` (paired data). Passing labels instead
counts any candidate of the query's class as correct.

Generated samples (Parts 3.2 and 3.3) are judged the way the literature judges them: by a
:class:`Judge`, a classifier trained only on real data (is the sample recognisable as the
requested class?), by :func:`within_class_diversity` relative to real data (mode collapse),
by :func:`frechet_distance` in the judge's fixed feature space, and by
:func:`attribute_control` (does the measured attribute follow the requested level?).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "Judge", "accuracy", "attribute_control", "bits_per_dim", "caption_agreement", "chance_map", "chance_ndcg", "chance_recall_at_k", "correct_matrix", "error_rate", "frechet_distance", "mean_average_precision",
    "median_rank", "ndcg", "recall_at_k", "retrieval_report", "within_class_diversity", "word_order_preference", "zero_shot_accuracy",
    "zero_shot_classify",
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
    """Median over queries of the rank of the first correct candidate (1 is perfect).

    The usual median: with an even number of queries, the mean of the two middle ranks (so a
    random ranking of ``n`` candidates has median rank ``(n + 1) / 2``, the chance level that
    :func:`retrieval_report` states). ``torch.median`` would return the lower of the two.
    """
    ranks = _first_correct_rank(sim, correct_matrix(sim, query_labels, item_labels))
    return torch.quantile(ranks.float(), 0.5).item()


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


def ndcg(sim: torch.Tensor, query_labels: torch.Tensor, item_labels: torch.Tensor, k: int | None = None) -> float:
    """Mean normalised discounted cumulative gain at ``k`` (all items if ``None``), relevance 1 for
    a candidate of the query's label: DCG = sum over ranks r <= k of rel_r / log2(r + 1), divided
    by the DCG of the ideal ranking (every relevant item first). Ties are broken by candidate order."""
    relevant = correct_matrix(sim, query_labels, item_labels).double()
    if not relevant.any(dim=1).all():
        raise ValueError("some query has no relevant candidate")
    k = relevant.shape[1] if k is None else k
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    order = sim.argsort(dim=1, descending=True, stable=True)[:, :k]
    discount = 1 / torch.log2(torch.arange(2, order.shape[1] + 2, dtype=torch.float64))
    dcg = (relevant.gather(1, order) * discount).sum(1)
    ideal = torch.stack([discount[: int(min(m, k))].sum() for m in relevant.sum(1).tolist()])
    return float((dcg / ideal).mean())


def chance_ndcg(n: int, m: int) -> float:
    """Expected nDCG (over all n ranks) of a random ranking of n items of which m are relevant: each
    rank holds a relevant item with probability m / n, so E[DCG] = (m / n) sum_{r <= n} 1 / log2(r + 1),
    divided by the ideal DCG, sum_{r <= m} 1 / log2(r + 1)."""
    if not 1 <= m <= n:
        raise ValueError(f"need 1 <= m <= n, got n={n}, m={m}")
    discount = 1 / np.log2(np.arange(2, n + 2))
    return float(m / n * discount.sum() / discount[:m].sum())


def error_rate(references: Sequence[str], hypotheses: Sequence[str], unit: str = "word") -> float:
    """Word (``unit="word"``) or character (``"char"``) error rate of transcripts: the edit
    operations (substitutions, deletions, insertions) that turn each hypothesis into its reference,
    summed over the corpus and divided by the total length of the references (as ``jiwer`` does)."""
    from .ctc import edit_distance

    if unit not in ("word", "char"):
        raise ValueError(f"unit must be 'word' or 'char', got {unit!r}")
    if len(references) != len(hypotheses) or not references:
        raise ValueError(f"need as many hypotheses as references (at least one), got {len(hypotheses)} and {len(references)}")
    split = str.split if unit == "word" else list
    total = sum(len(split(r)) for r in references)
    if total == 0:
        raise ValueError("the references are empty")
    return sum(edit_distance(split(r), split(h)) for r, h in zip(references, hypotheses)) / total


def bits_per_dim(log_likelihood: float, dims: int) -> float:
    """A log-likelihood (or a bound on it) in nats per example, as bits per dimension:
    ``-log_likelihood / (dims * ln 2)``; lower is better."""
    if dims < 1:
        raise ValueError(f"dims must be >= 1, got {dims}")
    return -log_likelihood / (dims * math.log(2))


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


def zero_shot_accuracy(model: Any, inputs: torch.Tensor, labels: torch.Tensor, prompts: Sequence[Sequence[str]],
                       **encode_options: Any) -> float:
    """Zero-shot accuracy of a two-tower ``model`` (``encode_inputs``, ``encode_texts``): classify
    ``inputs [N, ...]`` by :func:`zero_shot_classify` with the prompts of each class (``prompts[c]``)
    and compare with ``labels [N]``. ``encode_options`` go to ``encode_texts`` (e.g. ``unknown="unk"``)."""
    emb = model.encode_inputs(inputs)
    return accuracy(zero_shot_classify(emb, [model.encode_texts(list(p), **encode_options) for p in prompts]), labels)


def caption_agreement(captions: Sequence[str], pairs: Any) -> dict[str, float]:
    """How often generated ``captions`` (one per pair, English) state what was measured in the
    pairs' images: the share naming the right digit (``pairs.labels``) and the right thickness
    and slant levels (``pairs.attributes``), read back with :func:`crossmodal_lib.data.parse_caption`
    (a caption that states no level, or two, counts as wrong)."""
    from .captions import parse_caption

    if len(captions) != len(pairs.labels):
        raise ValueError(f"got {len(captions)} captions for {len(pairs.labels)} pairs")
    parsed = [parse_caption(c) for c in captions]
    truth = {"digit": pairs.labels, "thickness": pairs.attributes["thickness"], "slant": pairs.attributes["slant"]}
    return {key: float(np.mean([getattr(p, key) == int(v) for p, v in zip(parsed, values)])) for key, values in truth.items()}


def word_order_preference(model: Any, scenes: Any, template: int = 0) -> float:
    """The word-order test of Part 7.1: for each two-digit scene (:func:`crossmodal_lib.data.load_digit_scenes`),
    does the two-tower ``model`` find the true caption (written with ``template``) more similar to the
    image than the mirrored one? A tie (a similarity gap of at most 1e-6, what an order-free tower
    gives) counts one half."""
    from .digits import scene_caption

    left, right = (scenes.labels // 10).tolist(), (scenes.labels % 10).tolist()
    u = model.encode_inputs(scenes.inputs)
    true = model.encode_texts([scene_caption(a, b, template) for a, b in zip(left, right)])
    mirrored = model.encode_texts([scene_caption(b, a, template) for a, b in zip(left, right)])
    gap = (u * true).sum(1) - (u * mirrored).sum(1)
    return ((gap > 1e-6).float() + 0.5 * (gap.abs() <= 1e-6).float()).mean().item()


# --------------------------------------------------------------------------------------
# Judging generated samples (Parts 3.2, 3.3, 5)
# --------------------------------------------------------------------------------------
class Judge:
    """An independent classifier, trained only on real data, that judges generated samples.

    ``Judge(inputs [N, ...], labels [N])`` fits scikit-learn's RBF support-vector classifier
    on the flattened inputs, and a PCA with ``n_features`` components as a fixed feature space
    for :func:`frechet_distance` (the role Inception features play for FID). It never sees a
    generated sample while fitting, so it cannot be fooled by a generator it was trained with.
    """

    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor, n_features: int = 20, seed: int = 0) -> None:
        from sklearn.decomposition import PCA
        from sklearn.svm import SVC

        x = self._flat(inputs)
        if len(x) != len(labels):
            raise ValueError(f"got {len(x)} inputs but {len(labels)} labels")
        self.shape = tuple(inputs.shape[1:])
        self.classifier = SVC(gamma="scale").fit(x, np.asarray(labels))
        self.pca = PCA(n_features, random_state=seed).fit(x)

    def _flat(self, inputs: torch.Tensor) -> np.ndarray:
        x = torch.as_tensor(inputs, dtype=torch.float32)
        if len(x) == 0:
            raise ValueError("the judge got an empty batch")
        if hasattr(self, "shape") and tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"the judge expects inputs [N, {', '.join(map(str, self.shape))}], got {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError("the judge got NaN or infinite values")
        return x.reshape(len(x), -1).numpy()

    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        """Predicted labels ``[N]`` (int64)."""
        return torch.as_tensor(self.classifier.predict(self._flat(inputs)), dtype=torch.int64)

    def accuracy(self, inputs: torch.Tensor, labels: torch.Tensor) -> float:
        """Fraction of ``inputs`` the judge assigns to the requested ``labels``."""
        return float((self.predict(inputs) == torch.as_tensor(labels)).double().mean())

    def features(self, inputs: torch.Tensor) -> torch.Tensor:
        """The fixed feature space ``[N, n_features]``."""
        return torch.as_tensor(self.pca.transform(self._flat(inputs)), dtype=torch.float64)


def within_class_diversity(inputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean pairwise Euclidean distance between samples of the same class, averaged over classes.

    A generator that collapses onto a few images per class scores near 0; compare with the
    same number on real data (classes with fewer than two samples are skipped).
    """
    x = torch.as_tensor(inputs, dtype=torch.float64).reshape(len(inputs), -1)
    labels = torch.as_tensor(labels)
    if len(x) != len(labels):
        raise ValueError(f"got {len(x)} inputs but {len(labels)} labels")
    per_class = [torch.pdist(x[labels == k]).mean().item() for k in labels.unique() if (labels == k).sum() > 1]
    if not per_class:
        raise ValueError("need at least two samples of some class")
    return float(np.mean(per_class))


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to features ``a [N, d]`` and ``b [M, d]``.

    ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^{1/2}) -- the formula behind FID
    (Heusel et al., 2017), here in whatever fixed feature space the caller chooses.
    """
    from scipy.linalg import sqrtm

    a, b = (np.asarray(t, dtype=np.float64) for t in (a, b))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"expected features [N, d] and [M, d] with N, M >= 2, got {a.shape} and {b.shape}")
    mu, s_a, s_b = a.mean(0) - b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = sqrtm(s_a @ s_b).real
    return float(mu @ mu + np.trace(s_a + s_b - 2 * root))


def attribute_control(generate: Callable[[list[str]], torch.Tensor], *, lang: str = "en", n: int = 40,
                      seed: int = 0) -> dict[str, np.ndarray | int]:
    """Does a caption-to-image model follow the requested attribute levels?

    For every digit and level, ``n`` captions are drawn with :func:`crossmodal_lib.data.describe`
    (other attribute at its middle level); ``generate(captions) -> images [len(captions), 1, H, W]``
    is called once with all ``60 n`` of them (one batch is far faster for an iterative sampler such
    as diffusion's). Returns ``"ink"`` ``[10, 3]`` (mean measured ink per requested thickness level),
    ``"slant"`` ``[10, 3]`` (mean measured slant per requested slant level), and
    ``"thickness_ok"`` / ``"slant_ok"``: for how many digits the measurement strictly
    increases with the level.
    """
    from .data import describe, ink, slant

    rng = np.random.default_rng(seed)
    cells = [(name, measure, digit, level) for digit in range(10) for level in range(3)
             for name, measure in (("ink", ink), ("slant", slant))]
    captions = [describe(digit, *((level, 1) if name == "ink" else (1, level)), lang, rng)
                for name, _, digit, level in cells for _ in range(n)]
    images = generate(captions)
    if len(images) != len(captions):
        raise ValueError(f"generate returned {len(images)} images for {len(captions)} captions")
    out = {"ink": np.zeros((10, 3)), "slant": np.zeros((10, 3))}
    for k, (name, measure, digit, level) in enumerate(cells):
        out[name][digit, level] = float(measure(images[k * n:(k + 1) * n]).mean())
    out["thickness_ok"] = int((np.diff(out["ink"], axis=1) > 0).all(1).sum())
    out["slant_ok"] = int((np.diff(out["slant"], axis=1) > 0).all(1).sum())
    return out
