"""Synthesise the spoken-digits dataset shipped in ``crossmodal_lib/resources/spoken_digits.npz``.

Run once, by hand, on a machine with the espeak-ng speech synthesiser (Debian/Ubuntu:
``apt-get install espeak-ng``) and librosa::

    python scripts/make_spoken_digits.py

Loading the result (``crossmodal_lib.data.load_spoken_digits``) needs neither: the file holds
the log-mel spectrograms (quantised to 8 bits), labels, transcripts, voice ids and the
waveforms of a few test clips for listening. Everything else can be played back by inverting
the spectrogram with Griffin-Lim (``crossmodal_lib.data.spectrogram_to_audio``).

What is synthesised: the ten digits in English (eight accents) and Mandarin, spoken by 40
voice *variants* of espeak-ng (a variant sets pitch, formants, breathiness...). A "speaker" is
a variant; the 8 test speakers' variants never occur in training, in any language or accent.
Per speaker and digit there are two English clips (two accents) and two Mandarin clips, each
with its own random speed and pitch. The generator is seeded, so the file is reproducible for
a given espeak-ng and librosa version (recorded inside the file).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from crossmodal_lib.data import DIGIT_NAMES, SPEECH, audio_to_spectrogram  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "crossmodal_lib" / "resources" / "spoken_digits.npz"
ACCENTS = ["en-gb", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029", "en-us-nyc"]
VARIANTS = [
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
    "Adam", "Alex", "Alicia", "Andrea", "Andy", "Annie", "Antonio", "Auntie", "Belinda", "Benjamin",
    "Boris", "Caleb", "David", "Denis", "Ed", "Edward", "Gene", "Gustave", "Henrique", "Hugo",
    "Jacky", "John", "Lee", "Linda", "Marco", "Max", "Michael", "Paul",
]
N_TEST_SPEAKERS = 8
AUDIO_SPEAKERS = 2  # test speakers whose waveforms are shipped too


def synthesise(text: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """espeak-ng -> WAV bytes -> float waveform at SPEECH['sr'], silence trimmed, peak 0.9."""
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
                         check=True, capture_output=True).stdout
    y, _ = librosa.load(io.BytesIO(wav), sr=SPEECH["sr"])
    y, _ = librosa.effects.trim(y, top_db=40)
    return 0.9 * y / np.abs(y).max()


def fit_window(y: np.ndarray) -> np.ndarray:
    """Centre the clip in the fixed window; speed it up if it is too long (rare)."""
    n = SPEECH["samples"]
    if len(y) > n:
        y = librosa.effects.time_stretch(y, rate=len(y) / (n - 1))[:n]
    left = (n - len(y)) // 2
    return np.pad(y, (left, n - len(y) - left))


def main() -> None:
    rng = np.random.default_rng(0)
    order = rng.permutation(len(VARIANTS))
    test_variants = {VARIANTS[i] for i in order[:N_TEST_SPEAKERS]}
    feats, labels, langs, speakers, accents, audio_idx, audio = [], [], [], [], [], [], []
    for s, variant in enumerate(VARIANTS):
        for digit in range(10):
            picks = rng.choice(len(ACCENTS), 2, replace=False)
            jobs = [("en", ACCENTS[a]) for a in picks] + [("zh", "cmn"), ("zh", "cmn")]
            for lang, accent in jobs:
                speed, pitch = int(rng.integers(140, 221)), int(rng.integers(30, 71))
                y = fit_window(synthesise(DIGIT_NAMES[lang][digit], f"{accent}+{variant}", speed, pitch))
                logmel = audio_to_spectrogram(y)
                feats.append(np.round(logmel * 255).astype(np.uint8))
                labels.append(digit), langs.append(lang), speakers.append(variant), accents.append(accent)
                if variant in test_variants and sorted(test_variants).index(variant) < AUDIO_SPEAKERS:
                    audio_idx.append(len(feats) - 1)
                    audio.append(np.round(y * 32767).astype(np.int16))
        print(f"{s + 1}/{len(VARIANTS)} {variant}", flush=True)
    version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.strip()
    meta = {"espeak-ng": version, "librosa": librosa.__version__, "speech": SPEECH,
            "test_speakers": sorted(test_variants)}
    np.savez_compressed(
        OUT, features=np.stack(feats)[:, None], labels=np.array(labels, np.int64), langs=np.array(langs),
        speakers=np.array(speakers), accents=np.array(accents), audio_index=np.array(audio_idx, np.int64),
        audio=np.stack(audio), meta=np.array(json.dumps(meta)),
    )
    q = np.stack(feats)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB, {len(feats)} clips); "
          f"cells at the top of the scale {np.mean(q == 255):.4f}, at silence {np.mean(q == 0):.2f}, "
          f"loudest cell {q.max()}/255")


if __name__ == "__main__":
    main()
