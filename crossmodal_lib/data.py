"""Paired data for the whole book, fully offline (book: Part 1, "A first look at our data").

The images are scikit-learn's copy of the UCI handwritten digits: the collection's test set,
1,797 images written by 13 people. Each pixel counts the "on" pixels of a 4 x 4 block of a
normalised 32 x 32 bitmap (values 0..16), so the total intensity measures the area the
strokes cover. We pair each image with a caption that says more than its label:
the caption names the digit *and* describes two visual attributes measured from that very
image,

* ``thickness`` -- how much ink the digit uses (:func:`ink`), and
* ``slant`` -- how far it leans, from second-order image moments (:func:`slant`),

each cut into three ordered levels at per-digit terciles (:func:`tercile_thresholds`), so that
"thick" means "thick *for a seven*". Captions are written in English or Chinese with several
phrasings chosen deterministically per image (:func:`describe`), so a text model has to learn
words rather than memorise one string per class.

Every modality in the book uses the same container, :class:`PairedDataset`
(``.inputs``, ``.captions``, ``.labels``, ``.attributes``): the digit images, the synthesised
spoken digits (:func:`load_spoken_digits`, Part 5.2) and the moving-digit clips
(:func:`load_moving_digits`, Part 5.3).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "ATTRIBUTE_LEVELS",
    "DIGIT_NAMES",
    "ParsedCaption",
    "parse_caption",
    "Milestone",
    "PairedDataset",
    "attribute_levels",
    "concat_pairs",
    "describe",
    "digit_prompts",
    "dilate_images",
    "erode_images",
    "ink",
    "load_digit_pairs",
    "load_milestones",
    "shear_images",
    "slant",
    "tercile_thresholds",
    "DIRECTIONS",
    "SPEECH",
    "audio_to_spectrogram",
    "load_moving_digits",
    "load_spoken_digits",
    "moving_digit_prompts",
    "novel_direction",
    "spectrogram_to_audio",
    "spoken_digit_audio",
    "spoken_transcripts",
]

LANGS = ("en", "zh")
SPLITS = ("train", "test", "all")
TEST_FRACTION = 0.2

DIGIT_NAMES = {
    "en": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    "zh": ("零", "一", "二", "三", "四", "五", "六", "七", "八", "九"),
}
#: Human-readable names of the three ordered levels of each attribute.
ATTRIBUTE_LEVELS = {
    "thickness": ("thin", "medium", "thick"),
    "slant": ("leaning left", "upright", "leaning right"),
}


# --------------------------------------------------------------------------------------
# The paired-dataset container
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# Attributes measured from pixels
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# Captions
# --------------------------------------------------------------------------------------
# Thickness words always qualify "strokes" ("a seven with bold strokes"): put straight onto the
# digit they would read as "an average nine" or "a light one".
_EN_THICK = (("thin", "slim", "light"), ("medium", "regular", "medium-weight"), ("thick", "bold", "heavy"))
_EN_SLANT_PHRASE = (
    ("leaning left", "slanted to the left", "tilted left"),
    ("upright", "standing straight", "not slanted"),
    ("leaning right", "slanted to the right", "tilted right"),
)
_EN_SLANT_ADJ = (("left-leaning", "left-slanted"), ("upright",), ("right-leaning", "right-slanted"))
_EN_TEMPLATES = (
    "{a_digit} {digit} with {thick} strokes, {slant_phrase}",
    "the digit {numeral}, written with {thick} strokes, {slant_phrase}",
    "{a_slant} {slant_adj} {digit} drawn with {thick} strokes",
    "a handwritten {digit} with {thick} strokes, {slant_phrase}",
)
# Chinese: two-character predicates (很细, not a bare 细) and neutral direction words
# (向左倾斜 rather than 左倾, which also reads as "leftist").
_ZH_THICK = (("很细", "较细", "纤细"), ("中等粗细", "粗细适中", "不粗不细"), ("很粗", "较粗", "粗重"))
_ZH_SLANT = (("向左倾斜", "往左斜", "歪向左边"), ("端正", "不歪", "很端正"), ("向右倾斜", "往右斜", "歪向右边"))
_ZH_TEMPLATES = (
    "笔画{thick}的{digit}，写得{slant}",
    "数字{numeral}，笔画{thick}，{slant}",
    "一个{slant}的{digit}，笔画{thick}",
    "手写的{digit}：{slant}，笔画{thick}",
)


def _article(word: str) -> str:
    """English indefinite article by sound: 'an eight', 'an 8', 'an upright', but 'a one'."""
    return "an" if word[0] in "aeiou8" and not word.startswith("one") else "a"


def describe(digit: int, thickness: int, slant_level: int, lang: str = "en", rng: np.random.Generator | None = None) -> str:
    """One caption for a digit with the given attribute levels (0, 1, 2).

    The template, the synonyms and whether the digit is written as a word or a numeral
    are drawn from ``rng`` (default: a fixed generator, so the first phrasing is stable).
    """
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    if not 0 <= int(digit) <= 9:
        raise ValueError(f"digit must be 0..9, got {digit}")
    for name, level in (("thickness", thickness), ("slant", slant_level)):
        if level not in (0, 1, 2):
            raise ValueError(f"{name} level must be 0, 1 or 2, got {level}")
    rng = rng if rng is not None else np.random.default_rng(0)
    pick = lambda options: options[rng.integers(len(options))]  # noqa: E731
    numeral = str(int(digit))
    name = DIGIT_NAMES[lang][int(digit)]
    digit_text = numeral if rng.random() < 0.3 else name
    if lang == "en":
        template = pick(_EN_TEMPLATES)
        thick = pick(_EN_THICK[thickness])
        slant_adj = pick(_EN_SLANT_ADJ[slant_level])
        return template.format(
            a_digit=_article(digit_text), thick=thick, digit=digit_text, numeral=numeral,
            slant_phrase=pick(_EN_SLANT_PHRASE[slant_level]), a_slant=_article(slant_adj), slant_adj=slant_adj,
        )
    template = pick(_ZH_TEMPLATES)
    return template.format(thick=pick(_ZH_THICK[thickness]), slant=pick(_ZH_SLANT[slant_level]), digit=digit_text, numeral=numeral)


def digit_prompts(lang: str = "en", per_level: int = 2, seed: int = 0) -> list[list[str]]:
    """Several captions per digit for zero-shot classification (book: Part 3.1).

    For each digit 0..9: ``per_level`` phrasings of every (thickness, slant) combination,
    i.e. ``9 * per_level`` captions, drawn with the same generator as the dataset's captions.
    Returns a list of 10 lists of strings.
    """
    rng = np.random.default_rng(seed)
    return [[describe(d, t, s, lang, rng) for t in range(3) for s in range(3) for _ in range(per_level)]
            for d in range(10)]


class ParsedCaption(NamedTuple):
    digit: int | None
    thickness: int | None
    slant: int | None


def parse_caption(caption: str, lang: str = "en") -> ParsedCaption:
    """Read back the digit and attribute levels a caption states; ``None`` where it states none
    or contradicts itself (two digits, two thickness levels...).

    The inverse of :func:`describe`, used to score *generated* captions (Part 3.3): a caption
    counts as naming digit d only if it names d and no other digit.
    """
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    if not isinstance(caption, str):
        raise TypeError(f"caption must be a str, got {type(caption).__name__}")
    text = caption.lower()

    def found(levels: tuple[tuple[str, ...], ...], s: str) -> int | None:
        hits = {lvl for lvl, words in enumerate(levels) for w in words if _contains(s, w, lang)}
        return hits.pop() if len(hits) == 1 else None

    if lang == "en":
        slant_words = tuple(a + b for a, b in zip(_EN_SLANT_PHRASE, _EN_SLANT_ADJ))
        thick, slant_level = found(_EN_THICK, text), found(slant_words, text)
        names = DIGIT_NAMES["en"]
        digits = {d for d in range(10) if _contains(text, names[d], lang) or _contains(text, str(d), lang)}
    else:
        thick, slant_level = found(_ZH_THICK, text), found(_ZH_SLANT, text)
        rest = text.replace("一个", "")  # "a", not the digit one
        digits = {d for d in range(10) if DIGIT_NAMES["zh"][d] in rest or str(d) in rest}
    return ParsedCaption(digits.pop() if len(digits) == 1 else None, thick, slant_level)


def _contains(text: str, phrase: str, lang: str) -> bool:
    """Whole-word containment for English (so "thin" does not match "thinner"), substring for Chinese."""
    if lang != "en":
        return phrase in text
    import re

    return re.search(r"(?<![\w-])" + re.escape(phrase) + r"(?![\w-])", text) is not None


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


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _digits() -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """All 1,797 images ``[N, 1, 8, 8]`` in [0, 1], labels ``[N]`` and attribute levels."""
    from sklearn.datasets import load_digits  # ships with scikit-learn: no download

    bunch = load_digits()
    images = torch.tensor(bunch.images / 16.0, dtype=torch.float32)[:, None]
    labels = torch.tensor(bunch.target, dtype=torch.int64)
    attributes = {}
    for name, measure in (("thickness", ink), ("slant", slant)):
        values = measure(images)
        attributes[name] = attribute_levels(values, labels, tercile_thresholds(values, labels))
    return images, labels, attributes


def _split_indices(labels: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
    from sklearn.model_selection import train_test_split

    all_idx = np.arange(len(labels))
    train_idx, test_idx = train_test_split(
        all_idx, test_size=TEST_FRACTION, stratify=labels.numpy(), random_state=seed
    )
    return {"train": torch.tensor(np.sort(train_idx)), "test": torch.tensor(np.sort(test_idx)), "all": torch.tensor(all_idx)}


def load_digit_pairs(split: str = "train", seed: int = 0, lang: str = "en") -> PairedDataset:
    """The paired digits: images ``[N, 1, 8, 8]`` with captions, labels and attribute levels.

    ``split``: ``"train"`` (1,437 pairs), ``"test"`` (360) -- a stratified 80/20 split
    that is disjoint and covers all 1,797 images -- or ``"all"``. ``seed`` fixes both the
    split and each image's phrasing; the book always uses ``seed=0``. ``lang``: ``"en"``
    or ``"zh"``. Image *i* gets the same caption whichever split it lands in.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    images, labels, attributes = _digits()
    idx = _split_indices(labels, seed)[split]
    captions = [
        describe(int(labels[i]), int(attributes["thickness"][i]), int(attributes["slant"][i]), lang,
                 np.random.default_rng([seed, int(i)]))
        for i in idx
    ]
    return PairedDataset(
        inputs=images[idx], captions=captions, labels=labels[idx],
        attributes={k: v[idx] for k, v in attributes.items()}, indices=idx, modality="image", lang=lang,
    )


# --------------------------------------------------------------------------------------
# The history of the field, as data (book: Part 1 timeline)
# --------------------------------------------------------------------------------------
class Milestone(NamedTuple):
    year: int
    event: str
    strand: str
    cite: str  # key in book/references.bib


def load_milestones() -> list[Milestone]:
    """The milestones behind the Part 1 timeline, from the CSV shipped inside the package."""
    text = resources.files("crossmodal_lib").joinpath("resources/milestones.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(text.splitlines())
    return [Milestone(int(r["year"]), r["event"], r["strand"], r["cite"]) for r in rows]


# --------------------------------------------------------------------------------------
# Spoken digits (book: Part 5.2)
# --------------------------------------------------------------------------------------
#: How the speech features are computed: 16 kHz audio, a fixed 0.775 s window, 32 mel bands
#: between 50 Hz and 8 kHz, 512-sample (32 ms) windows every 400 samples (25 ms), so 32 frames.
#: Power in dB (relative to power 1, waveforms peak-normalised to 0.9) is mapped linearly from
#: [top_db - range_db, top_db] = [-70, +20] dB to [0, 1] and clipped (3 of the 1.6 million
#: values of the shipped clips touch the top).
SPEECH = {"sr": 16000, "n_fft": 512, "hop": 400, "n_mels": 32, "frames": 32, "samples": 12400,
          "fmin": 50.0, "fmax": 8000.0, "top_db": 20.0, "range_db": 90.0}


def audio_to_spectrogram(waveform: np.ndarray) -> np.ndarray:
    """A waveform (16 kHz, ``SPEECH["samples"]`` samples) -> log-mel ``[n_mels, frames]`` in [0, 1].

    Mel power spectrogram (librosa), then dB relative to power 1, then
    ``(dB - top_db + range_db) / range_db`` clipped to [0, 1]: a fixed absolute scale, on which
    0 means -70 dB or quieter (treated as silence) and 1 means +20 dB or louder (reached by 3
    of the 1.6 million values of the shipped clips).
    """
    import librosa

    y = np.asarray(waveform, dtype=np.float32)
    if y.ndim != 1 or len(y) != SPEECH["samples"]:
        raise ValueError(f"expected a 1-D waveform of {SPEECH['samples']} samples, got shape {y.shape}")
    power = librosa.feature.melspectrogram(y=y, sr=SPEECH["sr"], n_fft=SPEECH["n_fft"], hop_length=SPEECH["hop"],
                                           n_mels=SPEECH["n_mels"], fmin=SPEECH["fmin"], fmax=SPEECH["fmax"])
    db = librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=None)
    return np.clip((db - SPEECH["top_db"] + SPEECH["range_db"]) / SPEECH["range_db"], 0.0, 1.0)


def spectrogram_to_audio(spectrogram: torch.Tensor | np.ndarray, n_iter: int = 32, seed: int = 0) -> np.ndarray:
    """Invert a log-mel spectrogram ``[n_mels, frames]`` (or ``[1, n_mels, frames]``) to a waveform.

    Undo the [0, 1] scaling; ``librosa.feature.inverse.mel_to_stft`` recovers a linear-frequency
    magnitude spectrum from the mel bands (non-negative least squares); ``librosa.griffinlim``
    guesses the phases that a power spectrogram throws away (Griffin & Lim 1984; librosa's
    default is the fast variant with momentum 0.99, Perraudin et al. 2013), starting from
    random phases drawn with ``seed``. Silence (0) maps to -70 dB and stays quiet. Returns float32 audio ``[SPEECH["samples"]]`` at
    ``SPEECH["sr"]``, peak-normalised to 0.9.
    """
    import librosa

    x = np.asarray(spectrogram, dtype=np.float32).squeeze()
    if x.shape != (SPEECH["n_mels"], SPEECH["frames"]):
        raise ValueError(f"expected a [{SPEECH['n_mels']}, {SPEECH['frames']}] spectrogram, got {np.shape(spectrogram)}")
    if not np.isfinite(x).all():
        raise ValueError("the spectrogram contains NaN or infinite values")
    db = np.clip(x, 0.0, 1.0) * SPEECH["range_db"] + SPEECH["top_db"] - SPEECH["range_db"]
    linear = librosa.feature.inverse.mel_to_stft(librosa.db_to_power(db), sr=SPEECH["sr"], n_fft=SPEECH["n_fft"],
                                                 fmin=SPEECH["fmin"], fmax=SPEECH["fmax"])
    y = librosa.griffinlim(linear, n_iter=n_iter, hop_length=SPEECH["hop"], n_fft=SPEECH["n_fft"],
                           length=SPEECH["samples"], random_state=seed)
    return (0.9 * y / max(float(np.abs(y).max()), 1e-8)).astype(np.float32)


@lru_cache(maxsize=1)
def _spoken_digits() -> dict[str, np.ndarray]:
    path = resources.files("crossmodal_lib").joinpath("resources/spoken_digits.npz")
    with path.open("rb") as f, np.load(f) as npz:
        return {k: npz[k] for k in npz.files}


def load_spoken_digits(split: str = "train", lang: str | None = None) -> PairedDataset:
    """The ten digits spoken in English and Mandarin by synthetic voices (espeak-ng), offline.

    ``inputs`` float32 ``[N, 1, 32, 32]``: log-mel spectrograms (:data:`SPEECH`) in [0, 1];
    ``labels`` the digit; ``captions`` the transcript (``"seven"`` or ``"七"``); ``speakers`` the
    voice of each clip; ``attributes["lang"]`` 0 for English, 1 for Mandarin. 40 voices say each
    digit four times (two English accents, twice in Mandarin, each at its own speed and pitch):
    ``"train"`` has 32 voices (1,280 clips), ``"test"`` the other 8 (320 clips), so test voices
    are never heard in training. ``lang``: ``"en"``, ``"zh"`` or ``None`` for both. The file
    was made by ``scripts/make_spoken_digits.py``; :func:`spoken_digit_audio` returns the
    recorded waveforms shipped for two test voices.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if lang not in (None, "en", "zh"):
        raise ValueError(f"lang must be 'en', 'zh' or None, got {lang!r}")
    d = _spoken_digits()
    test_speakers = set(json.loads(str(d["meta"]))["test_speakers"])
    in_test = np.isin(d["speakers"], sorted(test_speakers))
    keep = (in_test if split == "test" else ~in_test) & (True if lang is None else d["langs"] == lang)
    idx = np.flatnonzero(keep)
    langs = d["langs"][idx]
    return PairedDataset(
        inputs=torch.from_numpy(d["features"][idx].astype(np.float32) / 255.0),
        captions=[DIGIT_NAMES[g][int(k)] for g, k in zip(langs, d["labels"][idx])],
        labels=torch.from_numpy(d["labels"][idx]),
        attributes={"lang": torch.from_numpy((langs == "zh").astype(np.int64))},
        indices=torch.from_numpy(idx), modality="spectrogram", lang=lang or "multi",
        speakers=[str(v) for v in d["speakers"][idx]],
    )


def spoken_transcripts() -> list[str]:
    """The 20 possible transcripts of the spoken digits, English 0..9 then Mandarin 0..9: the
    transcript of a clip is at position ``10 * attributes["lang"] + label``."""
    return list(DIGIT_NAMES["en"]) + list(DIGIT_NAMES["zh"])


def spoken_digit_audio() -> tuple[torch.Tensor, np.ndarray]:
    """The shipped recordings: (clip ``indices`` ``[M]`` into the collection, waveforms
    ``[M, SPEECH["samples"]]`` float32 at 16 kHz). They belong to two test voices; match them to
    a dataset with ``PairedDataset.indices``."""
    d = _spoken_digits()
    return torch.from_numpy(d["audio_index"]), d["audio"].astype(np.float32) / 32767.0


# --------------------------------------------------------------------------------------
# Moving digits (book: Part 5.3)
# --------------------------------------------------------------------------------------
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


def load_moving_digits(split: str = "train", seed: int = 0, frames: int = 8, canvas: int = 16) -> PairedDataset:
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
    if split not in ("train", "test", "novel"):
        raise ValueError(f"split must be 'train', 'test' or 'novel', got {split!r}")
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
