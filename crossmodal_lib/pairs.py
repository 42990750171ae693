"""The paired-dataset container every modality uses (book: Part 1, "A first look at our data").

A :class:`PairedDataset` holds N aligned pairs (input_i, caption_i), each with a class label and
attribute levels: ``inputs`` ``[N, ...]`` float32 in [0, 1] -- the digit images ``[N, 1, 8, 8]``
(:mod:`~crossmodal_lib.digits`), log-mel spectrograms ``[N, 1, 32, 32]`` of spoken digits
(:mod:`~crossmodal_lib.speech`, Part 5.2) or moving-digit clips ``[N, T, 1, H, W]``
(:mod:`~crossmodal_lib.video`, Part 5.3); ``captions`` ``list[str]``; ``labels`` int64 ``[N]``;
``attributes`` name -> int64 ``[N]``. :func:`concat_pairs` stacks datasets of one modality,
e.g. the English and Chinese captions of the same images.

This module imports nothing from the rest of the library, so every other module can use it.

>>> ds = PairedDataset(torch.zeros(2, 1, 8, 8), ["a one", "a two"], torch.tensor([1, 2]))
>>> len(concat_pairs(ds, ds)), ds[1].caption, ds.subset([1]).labels.tolist()
(4, 'a two', [2])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch

__all__ = ["Pair", "PairedDataset", "concat_pairs"]


class Pair(NamedTuple):
    input: torch.Tensor
    caption: str
    label: int


@dataclass
class PairedDataset:
    """N aligned pairs (input_i, caption_i), with a class label and attribute levels.

    Shapes: ``inputs`` ``[N, ...]`` float32 in [0, 1] -- images ``[N, 1, 8, 8]``
    (``modality="image"``), log-mel spectrograms ``[N, 1, n_mels, frames]``
    (``"spectrogram"``) or clips ``[N, T, 1, H, W]`` (``"video"``); ``labels`` int64 ``[N]``,
    ``captions`` ``list[str]`` of length N, ``attributes`` name -> int64 ``[N]``. ``indices``
    records each pair's position in the source collection (so a train and a test split can be
    checked for overlap); ``speakers`` (speech only) names the voice of each clip.
    Mismatched lengths or an empty dataset raise ``ValueError`` at construction.
    """

    inputs: torch.Tensor
    captions: list[str]
    labels: torch.Tensor
    attributes: dict[str, torch.Tensor] = field(default_factory=dict)
    indices: torch.Tensor | None = None
    modality: str = "image"
    lang: str = "en"
    speakers: list[str] | None = None

    def __post_init__(self) -> None:
        n = len(self.inputs)
        if n == 0:
            raise ValueError("a PairedDataset needs at least one pair, got an empty one")
        parts = {"captions": len(self.captions), "labels": len(self.labels)}
        parts.update({f"attributes[{k!r}]": len(v) for k, v in self.attributes.items()})
        if self.indices is not None:
            parts["indices"] = len(self.indices)
        if self.speakers is not None:
            parts["speakers"] = len(self.speakers)
        bad = {k: v for k, v in parts.items() if v != n}
        if bad:
            raise ValueError(f"mismatched pairs: {n} inputs but " + ", ".join(f"{v} {k}" for k, v in bad.items()))
        if self.labels.dtype != torch.int64 or self.labels.dim() != 1:
            raise ValueError(f"labels must be an int64 tensor of shape [N], got {self.labels.dtype} {tuple(self.labels.shape)}")
        if not all(isinstance(c, str) for c in self.captions):
            raise ValueError("every caption must be a str")

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int) -> Pair:
        return Pair(self.inputs[i], self.captions[i], int(self.labels[i]))

    def subset(self, idx: torch.Tensor | list[int] | np.ndarray) -> PairedDataset:
        """The pairs at positions ``idx`` (same order), as a new dataset."""
        idx = torch.as_tensor(idx, dtype=torch.int64)
        return PairedDataset(
            inputs=self.inputs[idx],
            captions=[self.captions[i] for i in idx.tolist()],
            labels=self.labels[idx],
            attributes={k: v[idx] for k, v in self.attributes.items()},
            indices=None if self.indices is None else self.indices[idx],
            modality=self.modality,
            lang=self.lang,
            speakers=None if self.speakers is None else [self.speakers[i] for i in idx.tolist()],
        )


def concat_pairs(*datasets: PairedDataset) -> PairedDataset:
    """Stack datasets of the same modality, e.g. English and Chinese captions of the same images.

    The result's ``lang`` is the common language, or ``"multi"`` if they differ.
    """
    if not datasets:
        raise ValueError("concat_pairs needs at least one dataset")
    modalities = {d.modality for d in datasets}
    if len(modalities) > 1:
        raise ValueError(f"cannot concatenate different modalities: {sorted(modalities)}")
    keys = set(datasets[0].attributes)
    if any(set(d.attributes) != keys for d in datasets):
        raise ValueError("all datasets must have the same attributes")
    langs = {d.lang for d in datasets}
    has_indices = all(d.indices is not None for d in datasets)
    has_speakers = all(d.speakers is not None for d in datasets)
    return PairedDataset(
        inputs=torch.cat([d.inputs for d in datasets]),
        captions=[c for d in datasets for c in d.captions],
        labels=torch.cat([d.labels for d in datasets]),
        attributes={k: torch.cat([d.attributes[k] for d in datasets]) for k in keys},
        indices=torch.cat([d.indices for d in datasets]) if has_indices else None,
        modality=datasets[0].modality,
        lang=langs.pop() if len(langs) == 1 else "multi",
        speakers=[s for d in datasets for s in d.speakers] if has_speakers else None,
    )
