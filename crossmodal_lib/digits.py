"""The handwritten digits and the attributes measured from their pixels (book: Part 1, "A first
look at our data").

The images are scikit-learn's copy of the UCI handwritten digits: the collection's test set,
1,797 images written by 13 people. Each pixel counts the "on" pixels of a 4 x 4 block of a
normalised 32 x 32 bitmap (values 0..16), so the total intensity measures the area the
strokes cover. We pair each image with a caption that says more than its label
(:mod:`~crossmodal_lib.captions`): the caption names the digit *and* describes two visual
attributes measured from that very image,

* ``thickness`` -- how much ink the digit uses (:func:`ink`), and
* ``slant`` -- how far it leans, from second-order image moments (:func:`slant`),

each cut into three ordered levels at per-digit terciles (:func:`tercile_thresholds`), so that
"thick" means "thick *for a seven*". :func:`load_digit_pairs` returns a
:class:`~crossmodal_lib.pairs.PairedDataset` of images ``[N, 1, 8, 8]`` in [0, 1] with captions,
labels ``[N]`` and attribute levels ``[N]``, split 80/20 into ``"train"`` and ``"test"``
(:data:`TEST_FRACTION`, :data:`SPLITS`). :func:`load_digit_scenes` puts two of them side by
side, with captions that only word order can tell apart (Part 7.1).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from .captions import DIGIT_NAMES, LANGS, Lang, describe
from .config import check_choice
from .pairs import PairedDataset

__all__ = [
    "ATTRIBUTE_MEASURES", "CAPTION_STREAMS", "SPLITS", "TEST_FRACTION", "attribute_levels", "dataset_thresholds", "dilate_images", "erode_images", "ink",
    "SCENE_TEMPLATES", "load_digit_pairs", "load_digit_scenes", "scene_caption", "shear_images", "slant",
    "tercile_thresholds",
]

#: The splits of :func:`load_digit_pairs`.
SPLITS = ("train", "test", "all")
#: The share of each digit's images in the ``"test"`` split (stratified).
TEST_FRACTION = 0.2

#: The random stream of each language's captions: image *i*'s caption in ``lang`` is drawn from
#: ``np.random.default_rng([seed, i, *CAPTION_STREAMS[lang]])``, so the English and Chinese
#: captions of one image pick their phrasing independently. English keeps the plain
#: ``[seed, i]`` that the book's numbers were computed with. Chinese uses a third word of 2:
#: ``[seed, i, 1]`` is taken by the "novel" moving-digit clips (:mod:`~crossmodal_lib.video`), and
#: NumPy treats a trailing 0 as absent (``[seed, i, 0]`` is the English stream).
CAPTION_STREAMS: dict[str, tuple[int, ...]] = {"en": (), "zh": (2,)}


def _as_images(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Accept [H, W], [N, H, W] or [N, 1, H, W]; return float [N, H, W]."""
    x = torch.as_tensor(images, dtype=torch.float32)
    if x.dim() == 2:
        x = x[None]
    if x.dim() == 4:
        if x.shape[1] != 1:
            raise ValueError(f"expected one channel, got images of shape {tuple(x.shape)}")
        x = x[:, 0]
    if x.dim() != 3:
        raise ValueError(f"expected images shaped [H, W], [N, H, W] or [N, 1, H, W], got {tuple(x.shape)}")
    return x


def ink(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Mean pixel intensity of each image, ``[N]``: a proxy for stroke thickness.

    For a fixed digit and size, thicker strokes cover more pixels, so the mean ink grows
    with thickness (the book compares it against dilated and eroded copies of a digit).
    """
    return _as_images(images).mean(dim=(1, 2))


def slant(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Horizontal shear of each image from its second-order central moments, ``[N]``.

    With intensity I(r, c) at row r (growing downwards) and column c, centroid (r̄, c̄),

        mu11 = sum (c - c̄)(r - r̄) I,    mu02 = sum (r - r̄)^2 I,    slant = -mu11 / mu02.

    ``mu11 / mu02`` is the least-squares slope dc/dr of the ink; because rows grow
    *downwards*, a stroke whose top leans right has dc/dr < 0, hence the minus sign:
    positive slant = leaning right. Blank images raise ``ValueError``.
    """
    x = _as_images(images)
    mass = x.sum(dim=(1, 2))
    if (mass <= 0).any():
        raise ValueError("slant is undefined for a blank image (no ink)")
    rows = torch.arange(x.shape[1], dtype=x.dtype)[:, None]
    cols = torch.arange(x.shape[2], dtype=x.dtype)[None, :]
    r_bar = (x * rows).sum(dim=(1, 2)) / mass
    c_bar = (x * cols).sum(dim=(1, 2)) / mass
    dr = rows - r_bar[:, None, None]
    dc = cols - c_bar[:, None, None]
    mu11 = (x * dc * dr).sum(dim=(1, 2))
    mu02 = (x * dr * dr).sum(dim=(1, 2))
    return -mu11 / mu02


def tercile_thresholds(values: torch.Tensor, labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """Per-class 1/3 and 2/3 quantiles of ``values``: a ``[num_classes, 2]`` tensor."""
    values, labels = torch.as_tensor(values, dtype=torch.float32), torch.as_tensor(labels)
    if values.shape != labels.shape:
        raise ValueError(f"values {tuple(values.shape)} and labels {tuple(labels.shape)} must have the same shape")
    q = torch.tensor([1 / 3, 2 / 3])
    out = torch.empty(num_classes, 2)
    for k in range(num_classes):
        v = values[labels == k]
        if len(v) == 0:
            raise ValueError(f"class {k} has no examples; cannot cut it into terciles")
        out[k] = torch.quantile(v, q)
    return out


def attribute_levels(values: torch.Tensor, labels: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """Ordered levels 0, 1, 2 (int64 ``[N]``): 0 below the class's lower cut, 2 above the upper."""
    values, labels = torch.as_tensor(values, dtype=torch.float32), torch.as_tensor(labels, dtype=torch.int64)
    cuts = thresholds[labels]  # [N, 2]
    return (values > cuts[:, 0]).long() + (values > cuts[:, 1]).long()


def shear_images(images: torch.Tensor, amount: float) -> torch.Tensor:
    """Shear ``[N, 1, H, W]`` images horizontally; ``amount > 0`` makes them lean right.

    ``amount`` is the horizontal shift of the top row relative to the centre row, in units
    of half the image width (bilinear resampling, zeros outside the image).
    """
    x = torch.as_tensor(images, dtype=torch.float32)
    theta = torch.tensor([[1.0, amount, 0.0], [0.0, 1.0, 0.0]]).expand(len(x), 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False).clamp(0, 1)


def dilate_images(images: torch.Tensor) -> torch.Tensor:
    """Thicken strokes of ``[N, 1, H, W]`` images by a 3 x 3 grey-scale dilation (max filter)."""
    return F.max_pool2d(torch.as_tensor(images, dtype=torch.float32), 3, stride=1, padding=1)


def erode_images(images: torch.Tensor) -> torch.Tensor:
    """Thin strokes of ``[N, 1, H, W]`` images by a 3 x 3 grey-scale erosion (min filter)."""
    return -F.max_pool2d(-torch.as_tensor(images, dtype=torch.float32), 3, stride=1, padding=1)


@lru_cache(maxsize=1)
def _digits() -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """All 1,797 images ``[N, 1, 8, 8]`` in [0, 1], labels ``[N]`` and attribute levels."""
    from sklearn.datasets import load_digits  # ships with scikit-learn: no download

    bunch = load_digits()
    images = torch.tensor(bunch.images / 16.0, dtype=torch.float32)[:, None]
    labels = torch.tensor(bunch.target, dtype=torch.int64)
    cuts = dataset_thresholds(images, labels)
    attributes = {name: attribute_levels(measure(images), labels, cuts[name]) for name, measure in ATTRIBUTE_MEASURES.items()}
    return images, labels, attributes


#: The function that measures each attribute of an image (its levels cut this value at terciles).
ATTRIBUTE_MEASURES = {"thickness": ink, "slant": slant}


def dataset_thresholds(images: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The per-digit tercile cuts ``[10, 2]`` of each attribute (``ATTRIBUTE_MEASURES``) that
    define the captions' levels: those of all 1,797 images when called without arguments, so that
    a generated image can be put on the dataset's own scale (Part 7.3g)."""
    if images is None or labels is None:
        images, labels, _ = _digits()
    return {name: tercile_thresholds(measure(images), labels) for name, measure in ATTRIBUTE_MEASURES.items()}


def _split_indices(labels: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
    from sklearn.model_selection import train_test_split

    all_idx = np.arange(len(labels))
    train_idx, test_idx = train_test_split(
        all_idx, test_size=TEST_FRACTION, stratify=labels.numpy(), random_state=seed
    )
    return {"train": torch.tensor(np.sort(train_idx)), "test": torch.tensor(np.sort(test_idx)), "all": torch.tensor(all_idx)}


def load_digit_pairs(split: Literal["train", "test", "all"] = "train", seed: int = 0, lang: Lang = "en") -> PairedDataset:
    """The paired digits: images ``[N, 1, 8, 8]`` with captions, labels and attribute levels.

    ``split``: ``"train"`` (1,437 pairs), ``"test"`` (360) -- a stratified 80/20 split
    that is disjoint and covers all 1,797 images -- or ``"all"``. ``seed`` fixes both the
    split and each image's phrasing; the book always uses ``seed=0``. ``lang``: ``"en"``
    or ``"zh"``. Image *i* gets the same caption whichever split it lands in; its English and
    Chinese captions are drawn from separate random streams (``digits.CAPTION_STREAMS``).
    """
    check_choice("split", split, SPLITS)
    check_choice("lang", lang, LANGS)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    images, labels, attributes = _digits()
    idx = _split_indices(labels, seed)[split]
    captions = [
        describe(int(labels[i]), int(attributes["thickness"][i]), int(attributes["slant"][i]), lang,
                 np.random.default_rng([seed, int(i), *CAPTION_STREAMS[lang]]))
        for i in idx
    ]
    return PairedDataset(
        inputs=images[idx], captions=captions, labels=labels[idx],
        attributes={k: v[idx] for k, v in attributes.items()}, indices=idx, modality="image", lang=lang,
    )


#: the captions of :func:`load_digit_scenes`: the same words in either order, so only word order tells left from right
SCENE_TEMPLATES = ("{a} on the left, {b} on the right", "{a} to the left of {b}", "{b} to the right of {a}",
                   "first {a}, then {b}")


def scene_caption(left: int, right: int, template: int = 0) -> str:
    """The caption of a scene with digit ``left`` on the left and ``right`` on the right."""
    names = DIGIT_NAMES["en"]
    return SCENE_TEMPLATES[template].format(a=names[left], b=names[right])


def load_digit_scenes(split: Literal["train", "test"] = "train", seed: int = 0) -> PairedDataset:
    """Two different digits side by side on a 16 x 16 canvas, captioned by their order (Part 7.1).

    ``inputs`` ``[N, 1, 16, 16]`` (rows 4-11: the left digit in columns 0-7, the right one in
    8-15), one scene per image of the split (1,437 / 360), both digits drawn from that split's
    images only, so test scenes are made of unseen handwriting. ``labels`` ``10 * left + right``
    (100 ordered classes, the diagonal unused); captions from :data:`SCENE_TEMPLATES`. A bag of
    words cannot tell a scene's caption from the caption of the mirrored scene.
    """
    base = load_digit_pairs(split, seed)
    rng = np.random.default_rng([seed, 7, SPLITS.index(split)])
    left = rng.integers(len(base), size=len(base))
    right = rng.integers(len(base), size=len(base))
    clash = base.labels[left] == base.labels[right]
    while clash.any():  # redraw the right digit until the two differ
        right[clash.numpy()] = rng.integers(len(base), size=int(clash.sum()))
        clash = base.labels[left] == base.labels[right]
    canvas = torch.zeros(len(base), 1, 16, 16)
    canvas[:, :, 4:12, :8], canvas[:, :, 4:12, 8:] = base.inputs[left], base.inputs[right]
    a, b = base.labels[left], base.labels[right]
    templates = rng.integers(len(SCENE_TEMPLATES), size=len(base))
    captions = [scene_caption(int(x), int(y), int(t)) for x, y, t in zip(a, b, templates)]
    return PairedDataset(inputs=canvas, captions=captions, labels=10 * a + b, modality="image")
