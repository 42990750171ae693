"""Cross-lingual transfer through images (Part 7.3f): Chinese queries for English captions, with
no translated pair anywhere in training.

* :func:`pivot_similarity` -- translate through the nearest image of an unlabelled pool: one
  model reads the query, another the candidates, and both embed the pool (eq-pivot).
* :func:`language_split` -- the training images in two disjoint halves, one captioned in each
  language, so that no image has captions in both.
* :func:`crosslingual_rows` -- three ways to serve Chinese queries, trained and scored seed by seed:
  an image pivot between two monolingual models, one bilingual model on the disjoint halves,
  and one on every image in both languages (Part 3.1c).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

from .challenges import combination_labels, split_pairs
from .embedding import train_dual_encoder
from .metrics import retrieval_report, zero_shot_accuracy
from .pairs import PairedDataset, concat_pairs
from .training import epochs_for_steps, progress_bar

__all__ = ["ARMS", "crosslingual_rows", "fit_for_steps", "language_split", "pivot_similarity"]

#: The arms of :func:`crosslingual_rows`.
ARMS: tuple[str, ...] = ("image pivot", "bilingual, disjoint halves", "bilingual, every image twice")


def pivot_similarity(queries: torch.Tensor, pool_query_space: torch.Tensor, pool_target_space: torch.Tensor,
                     targets: torch.Tensor) -> torch.Tensor:
    """Scores ``[Q, T]`` of targets for queries through the nearest pool image (eq-pivot):
    ``queries [Q, d]`` and ``pool_query_space [P, d]`` come from the query language's model,
    ``pool_target_space [P, d']`` (the same P images) and ``targets [T, d']`` from the target
    language's model; all rows unit-norm. Query q picks pool image ``argmax_p <q, pool_p>``, and
    target t scores ``<pool'_p, t>``."""
    if len(pool_query_space) != len(pool_target_space):
        raise ValueError(f"the pool must be the same images in both spaces: {len(pool_query_space)} vs {len(pool_target_space)}")
    if len(queries) == 0 or len(targets) == 0 or len(pool_query_space) == 0:
        raise ValueError("need at least one query, one target and one pool image")
    nearest = (queries @ pool_query_space.T).argmax(1)                       # [Q]
    return pool_target_space[nearest] @ targets.T


def language_split(train_en: PairedDataset, train_zh: PairedDataset, seed: int) -> tuple[PairedDataset, PairedDataset]:
    """English captions for one half of the training images, Chinese for the other (balanced over
    digits, drawn with ``seed``): no image has a caption in both languages."""
    if train_en.indices is None or train_zh.indices is None or not torch.equal(train_en.indices, train_zh.indices):
        raise ValueError("give the English and Chinese captions of the same images, in the same order")
    half_en, rest = split_pairs(train_en, len(train_en) // 2, seed)
    where = {int(i): n for n, i in enumerate(train_zh.indices)}
    return half_en, train_zh.subset([where[int(i)] for i in rest.indices])


def fit_for_steps(pairs: PairedDataset, *, steps: int, seed: int, device: torch.device | str | None = None,
                  progress: bool | str = False) -> Any:
    """A dual encoder (library defaults, batch 128) trained for the fewest whole epochs that give at
    least ``steps`` optimiser steps, so that models on 718 or 2,874 pairs get the same budget."""
    epochs = epochs_for_steps(len(pairs), 128, steps, drop_last=True)   # the loader drops the last partial batch
    return train_dual_encoder(pairs, seed=seed, device=device, epochs=epochs, progress=progress)


def _scores(sim: torch.Tensor, queries: PairedDataset, targets: PairedDataset) -> dict[str, float]:
    """Class R@1 by digit and by the whole (digit, thickness, slant) combination."""
    return {"digit R@1": retrieval_report(sim, queries.labels, targets.labels, ks=(1,))["class R@1"],
            "combination R@1": retrieval_report(sim, combination_labels(queries), combination_labels(targets),
                                                ks=(1,))["class R@1"]}


def _arm_scores(arm: str, models: dict[str, Any], test_en: PairedDataset, test_zh: PairedDataset,
                pool: torch.Tensor, prompts_zh: Sequence[Sequence[str]]) -> dict[str, float]:
    """Chinese -> English and English -> Chinese caption retrieval and zero-shot accuracy with
    Chinese prompts for one arm."""
    if arm == "image pivot":
        en, zh = models["en"], models["zh"]
        q_zh, q_en = zh.encode_texts(test_zh.captions), en.encode_texts(test_en.captions)
        p_zh, p_en = zh.encode_inputs(pool), en.encode_inputs(pool)
        zh_to_en, en_to_zh = pivot_similarity(q_zh, p_zh, p_en, q_en), pivot_similarity(q_en, p_en, p_zh, q_zh)
        zero_shot = zero_shot_accuracy(zh, test_zh.inputs, test_zh.labels, prompts_zh)
    else:
        model = models[arm]
        q_zh, q_en = model.encode_texts(test_zh.captions), model.encode_texts(test_en.captions)
        zh_to_en, en_to_zh = q_zh @ q_en.T, q_en @ q_zh.T
        zero_shot = zero_shot_accuracy(model, test_zh.inputs, test_zh.labels, prompts_zh)
    out = {f"Chinese -> English {k}": v for k, v in _scores(zh_to_en, test_zh, test_en).items()}
    out |= {f"English -> Chinese {k}": v for k, v in _scores(en_to_zh, test_en, test_zh).items()}
    return out | {"zero-shot, Chinese prompts": zero_shot}


def crosslingual_rows(train_en: PairedDataset, train_zh: PairedDataset, test_en: PairedDataset, test_zh: PairedDataset,
                      prompts_zh: Sequence[Sequence[str]], seeds: Iterable[int], *, steps: int = 110,
                      device: torch.device | str | None = None, progress: bool = True) -> list[dict[str, Any]]:
    """One row per (arm of :data:`ARMS`, seed): ``{"method", "seed", "seconds", "Chinese -> English
    digit R@1", "Chinese -> English combination R@1", "English -> Chinese ...", "zero-shot, Chinese
    prompts"}``. Per seed, :func:`language_split` gives the halves; the image pivot trains one dual
    encoder per half and translates through the training images as an unlabelled pool; the bilingual
    models train one space on both halves, or on every image in both languages. Every dual encoder
    trains for at least ``steps`` optimiser steps (:func:`fit_for_steps`)."""
    rows = []
    for seed in progress_bar(list(seeds), "cross-lingual arms", progress):
        half_en, half_zh = language_split(train_en, train_zh, seed)
        fit = lambda pairs: fit_for_steps(pairs, steps=steps, seed=seed, device=device)  # noqa: E731
        models = {"en": fit(half_en), "zh": fit(half_zh), "bilingual, disjoint halves": fit(concat_pairs(half_en, half_zh)),
                  "bilingual, every image twice": fit(concat_pairs(train_en, train_zh))}
        for arm in ARMS:
            pivot = arm == "image pivot"                              # its time: both monolingual models
            seconds = models["en"].train_seconds + models["zh"].train_seconds if pivot else models[arm].train_seconds
            rows.append({"method": arm, "seed": seed, "seconds": seconds,
                         **_arm_scores(arm, models, test_en, test_zh, train_en.inputs, prompts_zh)})
    return rows
