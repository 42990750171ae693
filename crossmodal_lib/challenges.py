"""The challenges of Part 7, measured: scarce paired data (Part 7.3), what a model costs (Part 7.3b)
and new combinations of known attributes (Part 7.3c; generating them is :mod:`crossmodal_lib.composition`).

* :func:`paired_subset` -- ``k`` training pairs, as balanced over the classes as ``k`` allows;
  :func:`split_pairs` -- those pairs and all the others (unpaired data, :mod:`crossmodal_lib.unpaired`).
* :func:`fit_shared_space` -- one of three ways to learn a space from those pairs: linear CCA on
  pixels and bags of words (Part 3.1), the dual encoder trained from scratch (Part 3.1), or an
  image tower trained against the locked pretrained text tower of Part 6 (LiT).
* :func:`scarcity_curve` -- zero-shot accuracy and class R@1 (caption -> image) on the whole
  test split for every method, number of pairs and seed, as plain rows;
  :func:`summarise` turns them into means and standard errors over the seeds (:func:`mean_sem`).
* :func:`capacity_sweep` -- the dual encoder at several widths: parameters, training time and accuracy.
* :func:`best_time`, :func:`attention_cost` and :func:`loglog_slope` -- wall-clock cost, and how
  it grows with the sequence length.
* :func:`quantize_linear_layers` and :func:`serialized_bytes` -- post-training dynamic int8
  quantisation, and the size of a model on disk.
* :data:`HELD_OUT`, :func:`combination_ids`, :func:`combination_labels`, :func:`combination_mask`, :func:`combination_prompts`,
  :func:`predict_combinations` and :func:`compositional_gap` -- held-out (digit, thickness, slant) combinations, scored
  against a control trained on everything.

Every method sees the same ``k`` pairs for a given seed. The vocabulary of CCA and of the dual
encoder is built from *all* training captions, so that every test caption can be read (a
vocabulary from the 20 captions of seed 0 would reject one test caption in five); a word absent
from the ``k`` pairs is readable but carries no learned meaning.
"""

from __future__ import annotations

import io
import math
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from .cca import LinearCCA
from .config import check_choice
from .embedding import train_dual_encoder
from .metrics import retrieval_report, zero_shot_accuracy
from .pairs import PairedDataset
from .text import Vocabulary
from .training import progress_bar

__all__ = ["HELD_OUT", "METHODS", "CCASpace", "attention_cost", "best_time", "capacity_sweep", "combination_ids", "combination_labels",
           "combination_mask", "combination_prompts", "compositional_gap", "fit_shared_space", "loglog_slope", "mean_sem",
           "predict_combinations",
           "paired_subset", "quantize_linear_layers", "scarcity_curve", "serialized_bytes", "split_pairs", "summarise"]

Method = Literal["cca", "dual encoder", "locked text"]
#: The three shared spaces of the scarcity curve, as :func:`fit_shared_space` names them.
METHODS: tuple[str, ...] = ("cca", "dual encoder", "locked text")


def paired_subset(pairs: PairedDataset, k: int, seed: int) -> PairedDataset:
    """``k`` pairs drawn without replacement, ``k // C`` or one more per class (``C`` classes in
    ``pairs.labels``), the classes that get one more and the pairs chosen at random with ``seed``.
    ``k`` equal to ``len(pairs)`` returns all pairs (shuffled)."""
    return pairs.subset(_subset_positions(pairs, k, seed))


def split_pairs(pairs: PairedDataset, k: int, seed: int) -> tuple[PairedDataset, PairedDataset]:
    """(the ``k`` pairs of :func:`paired_subset` with the same seed, all the other pairs): the
    second part serves as unpaired inputs and captions (:func:`crossmodal_lib.unpaired.unpaired_curve`). ``k < len(pairs)``."""
    if k >= len(pairs):
        raise ValueError(f"k must leave some pairs over: got k = {k} of {len(pairs)}")
    chosen = _subset_positions(pairs, k, seed)
    rest = torch.ones(len(pairs), dtype=torch.bool)
    rest[chosen] = False
    return pairs.subset(chosen), pairs.subset(torch.nonzero(rest).flatten())


def _subset_positions(pairs: PairedDataset, k: int, seed: int) -> torch.Tensor:
    """Positions in ``pairs`` of :func:`paired_subset`'s ``k`` pairs, in a seeded random order."""
    classes = pairs.labels.unique()
    if not len(classes) <= k <= len(pairs):
        raise ValueError(f"k must lie in {len(classes)}..{len(pairs)} (at least one pair per class), got {k}")
    g = torch.Generator().manual_seed(seed)
    pools = [torch.nonzero(pairs.labels == c).flatten() for c in classes]
    pools = [p[torch.randperm(len(p), generator=g)] for p in pools]
    quota = [k // len(classes)] * len(classes)
    for c in torch.randperm(len(classes), generator=g)[: k % len(classes)].tolist():
        quota[c] += 1
    if any(q > len(p) for q, p in zip(quota, pools)):          # a class too small: top up from the rest
        chosen = torch.randperm(len(pairs), generator=g)[:k]
    else:
        chosen = torch.cat([p[:q] for p, q in zip(pools, quota)])
    return chosen[torch.randperm(len(chosen), generator=g)]


class CCASpace:
    """Linear CCA between flattened inputs and bags of words, as a two-tower model:
    ``encode_inputs [N, ...] -> [N, k]`` and ``encode_texts (strings) -> [N, k]``, unit rows."""

    def __init__(self, vocab: Vocabulary, n_components: int = 10, reg: float = 1e-2) -> None:
        self.vocab, self.cca = vocab, LinearCCA(n_components, reg=reg)

    def fit(self, pairs: PairedDataset) -> CCASpace:
        start = time.perf_counter()
        self.cca.fit(pairs.inputs.flatten(1), self.vocab.bag_of_words(pairs.captions))
        self.train_seconds = time.perf_counter() - start
        return self

    def encode_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.cca.transform_x(inputs.flatten(1)), dim=1)

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        return F.normalize(self.cca.transform_y(self.vocab.bag_of_words(list(texts))), dim=1)


def fit_shared_space(method: Method, pairs: PairedDataset, vocab: Vocabulary, *, seed: int = 0,
                     steps: int = 100, device: torch.device | str | None = None) -> Any:
    """Learn a shared space from ``pairs`` with ``method`` (one of :data:`METHODS`). The neural
    methods keep their library defaults except two: the batch is at most ``len(pairs)``, and
    training runs for the smallest number of epochs that gives at least ``steps`` optimiser steps,
    so that every size gets about the same training budget. Returns a model with
    ``encode_inputs``, ``encode_texts`` and ``train_seconds``."""
    check_choice("method", method, METHODS)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if method == "cca":
        return CCASpace(vocab).fit(pairs)
    batch = min(128, len(pairs))
    if method == "dual encoder":
        epochs = math.ceil(steps / math.ceil(len(pairs) / batch))
        return train_dual_encoder(pairs, seed=seed, device=device, vocab=vocab, progress=False,
                                  batch_size=batch, epochs=epochs)
    from .tools.pretrained import train_locked_text

    epochs = math.ceil(steps / (len(pairs) // batch))             # its loader drops the last partial batch
    return train_locked_text(pairs, seed=seed, device=device, progress=False, batch_size=batch, epochs=epochs)


def scarcity_curve(train: PairedDataset, test: PairedDataset, prompts: Sequence[Sequence[str]], sizes: Iterable[int],
                   seeds: Iterable[int], methods: Iterable[str] = METHODS, *, steps: int = 100,
                   device: torch.device | str | None = None, progress: bool = True) -> list[dict[str, Any]]:
    """One row per (method, number of pairs, seed): ``{"method", "pairs", "seed", "zero-shot",
    "class R@1", "seconds"}`` measured on all of ``test`` (zero-shot with ``prompts``, one list per
    class; class R@1 for captions retrieving images). Each seed draws its own subset."""
    vocab = Vocabulary.build(train.captions, train.lang)
    jobs = [(k, s, m) for k in sizes for s in seeds for m in methods]
    rows = []
    for k, seed, method in progress_bar(jobs, "paired-data curve", progress):
        model = fit_shared_space(method, paired_subset(train, k, seed), vocab, seed=seed, steps=steps, device=device)
        rows.append({"method": method, "pairs": k, "seed": seed, "seconds": model.train_seconds,
                     **_space_scores(model, test, prompts)})
    return rows


def _space_scores(model: Any, test: PairedDataset, prompts: Sequence[Sequence[str]]) -> dict[str, float]:
    """Zero-shot accuracy with ``prompts`` and class R@1 of captions retrieving images, on all of ``test``."""
    sim = model.encode_texts(test.captions) @ model.encode_inputs(test.inputs).T
    return {"zero-shot": zero_shot_accuracy(model, test.inputs, test.labels, prompts),
            "class R@1": retrieval_report(sim, test.labels, test.labels, ks=(1,))["class R@1"]}


def mean_sem(values: Sequence[float]) -> tuple[float, float]:
    """(mean, standard error) of independent scores (eq-sem): the sample standard deviation
    (``n - 1``) over ``sqrt(n)``; the standard error is 0 for a single score."""
    if len(values) == 0:
        raise ValueError("mean_sem needs at least one value")
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0


def summarise(rows: Sequence[dict[str, Any]], metric: str, x: str = "pairs") -> dict[str, dict[float, tuple[float, float]]]:
    """``{method: {x: (mean, standard error)}}`` of ``metric`` over the seeds (rows that share a
    method and a value of ``x``); the standard error (eq-sem) is the sample standard deviation
    (``n - 1``) over ``sqrt(n)``, 0 for a single seed."""
    groups: dict[str, dict[float, list[float]]] = {}
    for row in rows:
        groups.setdefault(row["method"], {}).setdefault(row[x], []).append(float(row[metric]))
    return {m: {k: mean_sem(v) for k, v in sorted(by_k.items())} for m, by_k in groups.items()}


def capacity_sweep(train: PairedDataset, test: PairedDataset, prompts: Sequence[Sequence[str]], widths: Iterable[float],
                   seeds: Iterable[int], *, epochs: int = 10, device: torch.device | str | None = None,
                   progress: bool = True) -> list[dict[str, Any]]:
    """The dual encoder ``width`` times as wide as the default: ``hidden`` = 128 w (the width of both
    towers' outputs) and convolution channels (32 w, 64 w); the text tower's GRU keeps its size.
    Trained on all of
    ``train`` for ``epochs``. One row per (width, seed): ``{"method": "dual encoder", "width",
    "seed", "parameters", "seconds", "zero-shot", "class R@1"}``, scored as in :func:`scarcity_curve`."""
    jobs = [(w, s) for w in widths for s in seeds]
    rows = []
    for width, seed in progress_bar(jobs, "capacity sweep", progress):
        if width <= 0:
            raise ValueError(f"widths must be positive, got {width}")
        options = {"channels": (max(1, round(32 * width)), max(1, round(64 * width)))}
        model = train_dual_encoder(train, seed=seed, device=device, progress=False, epochs=epochs,
                                   hidden=max(1, round(128 * width)), encoder_options=options)
        rows.append({"method": "dual encoder", "width": width, "seed": seed, "seconds": model.train_seconds,
                     "parameters": sum(p.numel() for p in model.parameters()), **_space_scores(model, test, prompts)})
    return rows


def best_time(fn: Callable[[], object], repeats: int = 5) -> float:
    """The fastest of ``repeats`` timed calls of ``fn`` (after one untimed warm-up call), in seconds.
    The minimum is the least noisy estimate of what the work itself costs: other programs only
    ever add time."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


@torch.no_grad()
def attention_cost(lengths: Iterable[int], heads: int = 4, head_dim: int = 32, repeats: int = 5) -> list[dict[str, float]]:
    """Wall time of self-attention over one sequence of each length ``L`` (queries, keys and values
    ``[1, heads, L, head_dim]``), by the book's :func:`~crossmodal_lib.attention.scaled_dot_product_attention`
    and by PyTorch's fused kernel, beside a linear layer on the same ``L`` tokens (``[1, L, heads *
    head_dim]``). Rows ``{"length", "book attention", "torch attention", "linear layer"}`` in seconds."""
    from .attention import scaled_dot_product_attention

    generator, rows = torch.Generator().manual_seed(0), []
    width = heads * head_dim
    layer = torch.nn.Linear(width, width)
    for length in lengths:
        q, k, v = torch.randn(3, 1, heads, length, head_dim, generator=generator)
        tokens = torch.randn(1, length, width, generator=generator)
        rows.append({"length": length,
                     "book attention": best_time(lambda: scaled_dot_product_attention(q, k, v), repeats),
                     "torch attention": best_time(lambda: F.scaled_dot_product_attention(q, k, v), repeats),
                     "linear layer": best_time(lambda: layer(tokens), repeats)})
    return rows


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The least-squares slope of log y against log x: ``p`` when y grows like ``x ** p``."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError(f"need two or more (x, y) points of equal count, got {len(xs)} and {len(ys)}")
    if min(xs) <= 0 or min(ys) <= 0:
        raise ValueError("log-log slopes need positive x and y")
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def quantize_linear_layers(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` whose ``nn.Linear`` layers hold int8 weights (one scale per tensor) and
    quantise their inputs on the fly, batch by batch: PyTorch's post-training *dynamic*
    quantisation, for CPU inference. Everything else (embeddings, layer norms) stays float32;
    ``model`` itself is unchanged. PyTorch marks ``torch.ao.quantization`` as deprecated in favour
    of the ``torchao`` package (its deprecation warnings are silenced here); a release without it
    raises an ``ImportError`` that says so."""
    try:
        from torch.ao.quantization import quantize_dynamic
    except ImportError as error:  # pragma: no cover - depends on the installed PyTorch
        raise ImportError("this PyTorch has no torch.ao.quantization.quantize_dynamic; install torch<=2.14 "
                          "or port to torchao's quantize_ API (pip install torchao)") from error
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def serialized_bytes(model: torch.nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())``: the model's size on disk, quantised weights
    included (safetensors, the book's checkpoint format, stores plain tensors only)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()


# ---------------------------------------------------------------- generalisation (Part 7.3c) ----
#: The (digit, thickness, slant) combinations held out of training in Part 7.3c: for each digit d
#: the three cells ((d + j) mod 3, j), j = 0, 1, 2, one of each thickness and of each slant, so
#: that every level still occurs in training *with the same digit*; plus every thick,
#: right-slanted 7. 31 of the 90 combinations.
HELD_OUT: tuple[tuple[int, int, int], ...] = tuple((d, (d + j) % 3, j) for d in range(10) for j in range(3)) + ((7, 2, 2),)


def combination_labels(pairs: PairedDataset) -> torch.Tensor:
    """``[N]`` int64: 9 * digit + 3 * thickness + slant, one of 90 (digit, thickness, slant) combinations."""
    return pairs.labels * 9 + pairs.attributes["thickness"] * 3 + pairs.attributes["slant"]


def combination_ids(combos: Iterable[tuple[int, int, int]]) -> torch.Tensor:
    """``[len(combos)]`` int64: each (digit, thickness, slant) as its label 9 * digit + 3 * thickness + slant."""
    return torch.tensor([9 * d + 3 * t + s for d, t, s in combos], dtype=torch.int64)


def combination_mask(pairs: PairedDataset, combos: Iterable[tuple[int, int, int]]) -> torch.Tensor:
    """``[N]`` bool: True where a pair's (digit, thickness, slant) is one of ``combos``."""
    return torch.isin(combination_labels(pairs), combination_ids(combos))


def combination_prompts(per_combination: int = 4, seed: int = 0) -> list[list[str]]:
    """``per_combination`` English captions for each of the 90 combinations, in the order of
    :func:`combination_labels`, drawn like the dataset's captions."""
    from .captions import describe

    rng = np.random.default_rng(seed)
    return [[describe(d, t, s, "en", rng) for _ in range(per_combination)]
            for d in range(10) for t in range(3) for s in range(3)]


def predict_combinations(model: Any, inputs: torch.Tensor) -> torch.Tensor:
    """``[N]`` int64: the combination (as in :func:`combination_labels`) whose prompts
    (:func:`combination_prompts`) lie nearest each input in a two-tower ``model``'s space."""
    from .metrics import zero_shot_classify

    prompts = [model.encode_texts(p) for p in combination_prompts()]
    return zero_shot_classify(model.encode_inputs(inputs), prompts).argmax(1)


def compositional_gap(train: PairedDataset, test: PairedDataset, seeds: Iterable[int],
                      combos: Sequence[tuple[int, int, int]] = HELD_OUT, *, epochs: int = 25,
                      device: torch.device | str | None = None, progress: bool = True) -> list[dict[str, Any]]:
    """Dual encoders trained on ``train`` without the pairs of ``combos`` ("held out") and on all of
    it ("all combinations"), with the same seed. Each classifies every test image among the 90
    combinations (:func:`combination_prompts`); one row per (method, seed) with the accuracy on
    test images of the held-out combinations (``"novel"``) and of the others (``"seen"``), for the
    whole combination and for the digit alone (``"novel digit"``, ``"seen digit"``)."""
    novel = combination_mask(test, combos)
    if not novel.any() or novel.all():
        raise ValueError("the held-out combinations must cover some test images, but not all")
    kept = train.subset(torch.nonzero(~combination_mask(train, combos)).flatten())
    truth = combination_labels(test)
    rows = []
    jobs = [(s, m) for s in seeds for m in (("held out", kept), ("all combinations", train))]
    for seed, (method, pairs) in progress_bar(jobs, "compositional gap", progress):
        model = train_dual_encoder(pairs, seed=seed, device=device, progress=False, epochs=epochs)
        guess = predict_combinations(model, test.inputs)
        right, digit = guess == truth, guess // 9 == truth // 9
        rows.append({"method": method, "seed": seed, "seconds": model.train_seconds,
                     "novel": right[novel].float().mean().item(), "seen": right[~novel].float().mean().item(),
                     "novel digit": digit[novel].float().mean().item(), "seen digit": digit[~novel].float().mean().item()})
    return rows
