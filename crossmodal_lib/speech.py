"""Spoken digits: the ten digits said in English and Mandarin, as log-mel spectrograms (book:
Part 5.2, "Speech and text").

:func:`load_spoken_digits` returns a :class:`~crossmodal_lib.pairs.PairedDataset` of
spectrograms ``[N, 1, 32, 32]`` in [0, 1] (:data:`SPEECH` says how they are computed), with the
transcript as caption and the voice of each clip in ``speakers``; the clips were synthesised
offline and ship with the package. :func:`audio_to_spectrogram` turns a waveform
``[SPEECH["samples"]]`` into a spectrogram ``[32, 32]``; :func:`spectrogram_to_audio` inverts one
(Griffin-Lim) so that a generated spectrogram can be heard.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Literal

import numpy as np
import torch

from .captions import DIGIT_NAMES
from .config import check_choice
from .pairs import PairedDataset

__all__ = [
    "SPEECH", "audio_to_spectrogram", "load_spoken_digits", "spectrogram_to_audio", "spoken_digit_audio",
    "spoken_transcripts",
]

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


def load_spoken_digits(split: Literal["train", "test"] = "train", lang: Literal["en", "zh"] | None = None) -> PairedDataset:
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
    check_choice("split", split, ("train", "test"))
    check_choice("lang", lang, ("en", "zh", None))
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
