"""Spoken digits: the ten digits said in English and Mandarin, as log-mel spectrograms (book:
Part 5.2, "Speech and text").

:func:`load_spoken_digits` returns a :class:`~crossmodal_lib.pairs.PairedDataset` of
spectrograms ``[N, 1, 32, 32]`` in [0, 1] (:data:`SPEECH` says how they are computed), with the
transcript as caption and the voice of each clip in ``speakers``; the clips were synthesised
offline and ship with the package. :func:`audio_to_spectrogram` turns a waveform
``[SPEECH["samples"]]`` into a spectrogram ``[32, 32]``; :func:`spectrogram_to_audio` inverts one
(Griffin-Lim) so that a generated spectrogram can be heard.

Connected speech (Part 5.2b): :func:`load_spoken_digit_strings` joins the clips into strings of
3-7 digits, and :func:`train_ctc_recognizer` trains a :class:`CTCRecognizer` on them with the
CTC loss of :mod:`crossmodal_lib.ctc`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .captions import DIGIT_NAMES
from .config import check_choice, resolve_config
from .pairs import PairedDataset

__all__ = [
    "CTCConfig", "CTCRecognizer", "SPEECH", "audio_to_spectrogram", "digit_targets", "load_spoken_digit_strings",
    "load_spoken_digits", "spectrogram_to_audio", "spoken_digit_audio", "spoken_transcripts", "train_ctc_recognizer",
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


#: Frames whose mean over the mel bands is below this are silence when a clip is trimmed.
SILENCE = 0.05


def _trim(spectrogram: np.ndarray) -> np.ndarray:
    """``[n_mels, frames]`` -> the frames from the first to the last that is not silence."""
    active = np.flatnonzero(spectrogram.mean(0) > SILENCE)
    return spectrogram[:, active[0]:active[-1] + 1]


def _string_plan(d: dict[str, np.ndarray], split: str, lang: str | None, seed: int, n: int) -> list[tuple[str, str, list[int]]]:
    """(speaker, language, clip indices) of each string: 3-7 digits, one voice and one language."""
    test_speakers = set(json.loads(str(d["meta"]))["test_speakers"])
    speakers = sorted({s for s in d["speakers"].tolist() if (s in test_speakers) == (split == "test")})
    rng = np.random.default_rng([seed, 52, ("train", "test").index(split)])
    plan = []
    for _ in range(n):
        speaker, language = speakers[rng.integers(len(speakers))], lang or ("en", "zh")[rng.integers(2)]
        clips = []
        for digit in rng.integers(10, size=rng.integers(3, 8)):
            options = np.flatnonzero((d["speakers"] == speaker) & (d["langs"] == language) & (d["labels"] == digit))
            clips.append(int(options[rng.integers(len(options))]))
        plan.append((speaker, language, clips))
    return plan


def load_spoken_digit_strings(split: Literal["train", "test"] = "train", *, lang: Literal["en", "zh"] | None = None,
                              seed: int = 0, n: int | None = None) -> PairedDataset:
    """Connected speech (Part 5.2b): strings of 3-7 spoken digits, each string one voice and one
    language, built from the shipped clips of :func:`load_spoken_digits` (no new synthesis).

    Each clip is trimmed to its sound, and pauses of silence (1-4 frames between digits, 1-3 at
    either end) join them. ``inputs`` ``[N, 1, 32, T]`` log-mel spectrograms zero-padded to the
    longest string, the true lengths in ``attributes["frames"]``; ``captions`` the digits as
    numerals separated by spaces (``"3 1 4"``) in both languages; ``labels`` the number of digits;
    ``attributes["lang"]`` 0 for English, 1 for Mandarin; ``speakers`` the voice. Same voice split
    as :func:`load_spoken_digits` (test voices never heard in training). ``n``: strings (default
    1,000 for ``"train"``, 300 for ``"test"``); deterministic on ``seed``.
    """
    check_choice("split", split, ("train", "test"))
    check_choice("lang", lang, ("en", "zh", None))
    d = _spoken_digits()
    plan = _string_plan(d, split, lang, seed, n or (1000 if split == "train" else 300))
    rng = np.random.default_rng([seed, 53, ("train", "test").index(split)])
    silence = lambda k: np.zeros((SPEECH["n_mels"], k), dtype=np.float32)  # noqa: E731
    strings = []
    for _, _, clips in plan:
        parts = [silence(rng.integers(1, 4))]
        for i, clip in enumerate(clips):
            parts += [_trim(d["features"][clip, 0].astype(np.float32) / 255.0), silence(rng.integers(1, 5) if i < len(clips) - 1 else rng.integers(1, 4))]
        strings.append(np.concatenate(parts, axis=1))
    frames = torch.tensor([s.shape[1] for s in strings])
    inputs = torch.zeros(len(strings), 1, SPEECH["n_mels"], int(frames.max()))
    for i, s in enumerate(strings):
        inputs[i, 0, :, : s.shape[1]] = torch.from_numpy(s)
    return PairedDataset(
        inputs=inputs, captions=[" ".join(str(int(d["labels"][c])) for c in clips) for _, _, clips in plan],
        labels=torch.tensor([len(clips) for _, _, clips in plan]),
        attributes={"lang": torch.tensor([int(g == "zh") for _, g, _ in plan]), "frames": frames},
        modality="spectrogram", lang=lang or "multi", speakers=[s for s, _, _ in plan],
    )


# --------------------------------------------------------------------------------------
# A CTC recogniser of connected digits (Part 5.2b)
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CTCConfig:
    """Hyperparameters of :func:`train_ctc_recognizer`; the defaults are the book's (Part 5.2b)."""

    channels: int = 64        # 1-D convolution channels over time (mel bands are the input channels)
    hidden: int = 64          # GRU units per direction
    epochs: int = 25          # passes over the training strings
    batch_size: int = 32      # strings per batch
    lr: float = 3e-3          # AdamW learning rate
    weight_decay: float = 1e-4  # AdamW weight decay
    beam: int = 8             # prefix beam width of transcribe (1: greedy, the best path)


class CTCRecognizer(nn.Module):
    """Log-mel frames -> per-frame label distributions: two 1-D convolutions over time (the second
    with stride 2: one output per 50 ms; the first layer's activations beyond a string's length are
    zeroed, so a string gets the same outputs alone or padded in a batch), a bidirectional GRU, and a linear layer to 11 classes
    (the blank, then the digits 0-9 as ids 1-10). ``frame_log_probs(inputs [N, 1, M, T], lengths [N])
    -> (log_probs [N, T', 11], out_lengths [N])``; ``transcribe(inputs, lengths) -> list[str]``."""

    def __init__(self, config: CTCConfig, n_mels: int = 32) -> None:
        super().__init__()
        self.config, c = config, config.channels
        self.conv = nn.Sequential(nn.Conv1d(n_mels, c, 5, padding=2), nn.GELU(), nn.Conv1d(c, c, 5, stride=2, padding=2), nn.GELU())
        self.gru = nn.GRU(c, config.hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * config.hidden, 11)

    def frame_log_probs(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if inputs.dim() != 4 or inputs.shape[1] != 1 or len(inputs) == 0 or lengths.shape != (len(inputs),):
            raise ValueError(f"expected a non-empty batch [N, 1, n_mels, T] and lengths [N], got "
                             f"{tuple(inputs.shape)} and {tuple(lengths.shape)}")
        if int(lengths.max()) > inputs.shape[-1] or int(lengths.min()) < 1:
            raise ValueError(f"lengths must lie in 1..{inputs.shape[-1]} (the padded frames), got "
                             f"{int(lengths.min())}..{int(lengths.max())}")
        real = (torch.arange(inputs.shape[-1], device=inputs.device) < lengths[:, None])[:, None]  # [N, 1, T]
        h = self.conv[1](self.conv[0](inputs[:, 0])) * real                  # padding stays exactly zero
        h = self.conv[3](self.conv[2](h)).transpose(1, 2)                    # [N, ceil(T / 2), C]
        out_lengths = (lengths + 1) // 2
        packed = nn.utils.rnn.pack_padded_sequence(h, out_lengths.cpu(), batch_first=True, enforce_sorted=False)
        h, _ = nn.utils.rnn.pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=h.shape[1])
        return self.out(h).log_softmax(-1), out_lengths

    @torch.no_grad()
    def transcribe(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None, beam: int | None = None) -> list[str]:
        """Spectrograms ``[N, 1, M, T]`` (true lengths ``[N]``; default: all frames) -> ``"3 1 4"``-style
        transcripts, by prefix beam search of width ``beam`` (default ``config.beam``; 1: greedy)."""
        from .ctc import greedy_decode, prefix_beam_search

        self.eval()
        device = next(self.parameters()).device
        lengths = torch.full((len(inputs),), inputs.shape[-1]) if lengths is None else lengths
        log_probs, out_lengths = self.frame_log_probs(inputs.to(device), lengths.to(device))
        width = beam or self.config.beam
        decode = (lambda lp: greedy_decode(lp)) if width == 1 else (lambda lp: prefix_beam_search(lp, width))
        return [" ".join(str(k - 1) for k in decode(lp[:n].cpu())) for lp, n in zip(log_probs, out_lengths.tolist())]


def digit_targets(captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """``"3 1 4"``-style captions -> CTC targets ``[N, L]`` (digit d is label d + 1, 0-padded) and
    lengths ``[N]``; any token that is not a single digit raises ``ValueError`` naming it."""
    rows = []
    for caption in captions:
        tokens = caption.split()
        bad = [t for t in tokens if not (len(t) == 1 and t.isdigit())]
        if bad or not tokens:
            raise ValueError(f"caption {caption!r} must be digits 0-9 separated by spaces; not digits: {bad}")
        rows.append([int(t) + 1 for t in tokens])
    targets = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.int64)
    for i, row in enumerate(rows):
        targets[i, : len(row)] = torch.tensor(row)
    return targets, torch.tensor([len(r) for r in rows])


def train_ctc_recognizer(pairs: PairedDataset, config: CTCConfig | None = None, *, seed: int = 0,
                         device: torch.device | str | None = None, progress: bool | str = True,
                         **overrides: Any) -> CTCRecognizer:
    """Train a :class:`CTCRecognizer` on :func:`load_spoken_digit_strings` pairs with the CTC loss
    (``torch.nn.functional.ctc_loss``, mean over strings of the loss per target label) and AdamW.
    Returns the model on the CPU in eval mode with ``.history``, ``.train_seconds``, ``.config``."""
    from .training import optimizer_step, resolve_device, seeded_loader, set_seed, train_model

    config = resolve_config(CTCConfig, config, overrides)
    if "frames" not in pairs.attributes:
        raise ValueError("train_ctc_recognizer needs the true lengths in pairs.attributes['frames'] "
                         "(use load_spoken_digit_strings)")
    targets, target_lengths = digit_targets(pairs.captions)
    set_seed(seed)
    device = resolve_device(device)
    model = CTCRecognizer(config, n_mels=pairs.inputs.shape[2]).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    loader = seeded_loader(pairs.inputs, pairs.attributes["frames"], targets, target_lengths,
                           batch_size=config.batch_size, seed=seed)

    def step(batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        x, frames, y, y_len = batch
        x = x[..., : int(frames.max())]                                      # drop all-padding frames
        log_probs, out_lengths = model.frame_log_probs(x, frames)
        loss = F.ctc_loss(log_probs.transpose(0, 1), y, out_lengths, y_len)
        return {"loss": optimizer_step(opt, loss)}

    return train_model(model, step, loader, config, device=device, progress=progress, desc="CTC recogniser")
