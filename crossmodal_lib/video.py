"""Moving digits: clips of a handwritten digit sliding up, down, left or right (book: Part 5.3,
"Video and text").

:func:`load_moving_digits` generates, from the images of :mod:`~crossmodal_lib.digits`, a
:class:`~crossmodal_lib.pairs.PairedDataset` of clips ``[N, frames, 1, canvas, canvas]`` (default
``[N, 8, 1, 16, 16]``) with captions such as ``"a three moving left"``; the label is
``4 * digit + direction`` (:data:`DIRECTIONS`). Each digit is never seen moving in one direction
in training (:func:`novel_direction`), which the ``"novel"`` split tests: zero-shot recognition
of unseen digit-direction combinations with :func:`moving_digit_prompts`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from .captions import DIGIT_NAMES, _article
from .config import check_choice
from .digits import _digits, _split_indices
from .pairs import PairedDataset

__all__ = ["DIRECTIONS", "load_moving_digits", "moving_digit_prompts", "novel_direction"]

#: Direction names, in label order: ``label = 4 * digit + direction``.
DIRECTIONS = ("up", "down", "left", "right")
_STEP = {0: (-1, 0), 1: (1, 0), 2: (0, -1), 3: (0, 1)}  # (row, column) change per frame
_VIDEO_TEMPLATES = ("{a} {d} moving {m}", "the digit {d} moves {m}", "{a} {d} that slides {m}",
                    "{a} {d} drifting {m}", "{d}, going {m}")


def moving_digit_prompts() -> list[str]:
    """One caption per moving-digit class, in label order (position ``4 * digit + direction``),
    in the captions' own phrasing ``"three, going left"``: the prompts of zero-shot
    classification over all 40 digit-direction combinations (Part 5.3)."""
    return [_VIDEO_TEMPLATES[-1].format(d=DIGIT_NAMES["en"][k // 4], m=DIRECTIONS[k % 4]) for k in range(40)]


def novel_direction(digit: int) -> int:
    """The direction never paired with ``digit`` in training: ``digit % 4`` (so each direction
    is held out for two or three digits, and every digit is seen moving three other ways)."""
    return digit % 4


def _clip(image: torch.Tensor, direction: int, frames: int, canvas: int, rng: np.random.Generator) -> torch.Tensor:
    """One ``[frames, 1, canvas, canvas]`` clip: the 8 x 8 image moves one pixel per frame."""
    room = canvas - image.shape[-1]
    dr, dc = _STEP[direction]
    travel = frames - 1
    start = []
    for step in (dr, dc):  # along the motion: start where the whole path fits; across it: anywhere
        lo, hi = (0, room - travel) if step > 0 else (travel, room) if step < 0 else (0, room)
        start.append(int(rng.integers(lo, hi + 1)))
    out = torch.zeros(frames, 1, canvas, canvas)
    for t in range(frames):
        r, c = start[0] + t * dr, start[1] + t * dc
        out[t, 0, r:r + image.shape[-2], c:c + image.shape[-1]] = image[0]
    return out


def load_moving_digits(split: Literal["train", "test", "novel"] = "train", seed: int = 0, frames: int = 8, canvas: int = 16) -> PairedDataset:
    """Clips of a scikit-learn digit moving up, down, left or right, with captions; generated here.

    ``inputs`` float32 ``[N, frames, 1, canvas, canvas]`` (values k/16, like the images);
    ``labels`` = 4 x digit + direction (:data:`DIRECTIONS`); ``attributes["direction"]`` and
    ``attributes["digit"]``; captions such as ``"a three moving left"`` (five phrasings).
    ``"train"``: each training image of :func:`load_digit_pairs` once, moving in one of the
    three directions it is allowed (:func:`novel_direction` is not); ``"test"``: each test image
    in an allowed direction (new images, seen combinations); ``"novel"``: each test image moving
    in its digit's held-out direction (combinations never seen in training). Deterministic
    given ``seed``; clip *i* of a split is the same every time.
    """
    check_choice("split", split, ("train", "test", "novel"))
    if frames < 2 or canvas < 8 + frames - 1:
        raise ValueError(f"need frames >= 2 and canvas >= 8 + frames - 1, got frames={frames}, canvas={canvas}")
    images, labels, _ = _digits()
    idx = _split_indices(labels, seed)["train" if split == "train" else "test"]
    clips, directions, captions = [], [], []
    for i in idx.tolist():
        digit = int(labels[i])
        rng = np.random.default_rng([seed, i, 1 if split == "novel" else 0])
        allowed = [k for k in range(4) if k != novel_direction(digit)]
        k = novel_direction(digit) if split == "novel" else int(rng.choice(allowed))
        clips.append(_clip(images[i], k, frames, canvas, rng))
        directions.append(k)
        name = DIGIT_NAMES["en"][digit]
        template = _VIDEO_TEMPLATES[int(rng.integers(len(_VIDEO_TEMPLATES)))]
        captions.append(template.format(a=_article(name), d=name, m=DIRECTIONS[k]))
    direction = torch.tensor(directions, dtype=torch.int64)
    return PairedDataset(
        inputs=torch.stack(clips), captions=captions, labels=4 * labels[idx] + direction,
        attributes={"direction": direction, "digit": labels[idx].clone()}, indices=idx, modality="video",
    )
