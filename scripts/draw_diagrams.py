"""Draw the book's model diagrams as SVG files under book/figures/ (``python scripts/draw_diagrams.py``).

Each diagram is a :func:`crossmodal_lib.plotting.block_diagram`: black on light boxes over an
opaque white background, so it reads the same in the website's light and dark modes. The
chapters show them with numbered ``{figure}`` captions; tests/test_diagrams.py checks that the
committed files are what this script draws and that every one of them is shown somewhere.
The boxes name what the library's code does (the modules are cited in each caption).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from crossmodal_lib import plotting  # noqa: E402
from crossmodal_lib.speech import SPEECH  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "book" / "figures"


def dual_encoder() -> Figure:
    """Part 3.1: two towers, one space, the InfoNCE loss over a batch."""
    return plotting.block_diagram(
        {"x": (0.07, 0.78, "image x\n[1, 8, 8]"), "t": (0.07, 0.22, "caption t\n(token ids)"),
         "f": (0.3, 0.78, "image tower f\n(2 convolutions, linear;\nhead: ReLU, linear)"),
         "g": (0.3, 0.22, "text tower g\n(embedding, bi-GRU, mean,\nlinear; head: ReLU, linear)"),
         "u": (0.53, 0.78, "u = f(x) / |f(x)|"), "v": (0.53, 0.22, "v = g(t) / |g(t)|"),
         "s": (0.74, 0.5, "similarities\nS = U V^T / tau\n[B, B]"),
         "loss": (0.93, 0.5, "loss:\nInfoNCE,\nrows and\ncolumns")},
        [("x", "f", ""), ("t", "g", ""), ("f", "u", ""), ("g", "v", ""), ("u", "s", ""), ("v", "s", ""),
         ("s", "loss", "")],
        size=(11, 3.4))


def conditional_gan() -> Figure:
    """Part 3.2b: generator, projection discriminator, matching-aware pairs."""
    return plotting.block_diagram(
        {"t": (0.07, 0.82, "caption t"), "c": (0.24, 0.82, "frozen text\ntower: c"),
         "z": (0.07, 0.42, "noise z\n~ N(0, I)"), "G": (0.3, 0.42, "generator G(z, c)\n(MLP on [z, c])"),
         "real": (0.07, 0.1, "real image x\nand a wrong\ncaption c'"),
         "pairs": (0.55, 0.42, "three pairs:\n(x, c) real\n(G(z, c), c) fake\n(x, c') mismatched"),
         "D": (0.78, 0.42, "D(x, c) =\nw . phi(x)\n+ c^T W phi(x)"),
         "loss": (0.94, 0.42, "loss: hinge\n(+ mode-\nseeking\nfor G)")},
        [("t", "c", ""), ("c", "G", ""), ("z", "G", ""), ("G", "pairs", ""), ("real", "pairs", ""),
         ("c", "pairs", ""), ("pairs", "D", ""), ("D", "loss", "")],
        size=(11, 3.6))


def multimodal_vae() -> Figure:
    """Part 3.3b: two encoders, a product of experts with the prior, two decoders."""
    return plotting.block_diagram(
        {"x": (0.06, 0.8, "image x"), "t": (0.06, 0.2, "caption t"),
         "qx": (0.25, 0.8, "image encoder\nq(z | x) = N(mu_x, s_x)"),
         "qt": (0.25, 0.2, "text encoder\nq(z | t) = N(mu_t, s_t)"),
         "prior": (0.25, 0.5, "prior expert\np(z) = N(0, I)"),
         "poe": (0.48, 0.5, "product of experts\nq(z | x, t) prop. to\np(z) q(z | x) q(z | t)"),
         "z": (0.66, 0.5, "sample z\n(reparameterised)"),
         "px": (0.84, 0.8, "image decoder\np(x | z)"), "pt": (0.84, 0.2, "caption decoder\np(t | z)"),
         "loss": (0.84, 0.5, "loss: -(joint bound\n+ two one-modality\nbounds), caption\nterm x 100")},
        [("x", "qx", ""), ("t", "qt", ""), ("qx", "poe", ""), ("qt", "poe", ""), ("prior", "poe", ""),
         ("poe", "z", ""), ("z", "px", ""), ("z", "pt", ""), ("z", "loss", "")],
        size=(11, 3.8))


def video_encoder() -> Figure:
    """Part 5.3: what moves (a glimpse) and how it moves (a track), then one embedding."""
    return plotting.block_diagram(
        {"clip": (0.07, 0.5, "clip\n[T, 1, 16, 16]"),
         "track": (0.27, 0.5, "track: per frame,\nink centroid and a\n12 x 12 glimpse"),
         "what": (0.52, 0.8, "what: mean glimpse\n-> image tower"),
         "how": (0.52, 0.2, "how: positions from\nframe 1 -> GRU (or\nper-frame MLP, mean)"),
         "fc": (0.75, 0.5, "concatenate\n-> linear -> u"),
         "loss": (0.93, 0.5, "loss:\nInfoNCE\nwith the\ncaption's v")},
        [("clip", "track", ""), ("track", "what", "glimpses"), ("track", "how", "positions"),
         ("what", "fc", ""), ("how", "fc", ""), ("fc", "loss", "")],
        size=(11, 3.4))


def stft_framing() -> Figure:
    """Part 5.2: from a waveform to the log-mel spectrogram, with the settings of ``speech.SPEECH``."""
    sp = SPEECH
    ms = lambda samples: f"{1000 * samples / sp['sr']:.0f} ms"  # noqa: E731
    return plotting.block_diagram(
        {"wave": (0.06, 0.5, f"waveform\n{sp['sr'] // 1000} kHz,\n{sp['samples']:,}\nsamples"),
         "frames": (0.22, 0.5, f"frames of {sp['n_fft']}\n({ms(sp['n_fft'])}), every\n{sp['hop']} ({ms(sp['hop'])})"),
         "window": (0.38, 0.5, "Hann window\nw[m]"), "fft": (0.52, 0.5, f"FFT:\npower |X|^2\n{sp['n_fft'] // 2 + 1} bins"),
         "mel": (0.67, 0.5, f"{sp['n_mels']} mel bands\n{sp['fmin']:.0f} Hz - {sp['fmax'] / 1000:.0f} kHz"),
         "db": (0.82, 0.5, f"dB, then\n[{sp['top_db'] - sp['range_db']:.0f}, {sp['top_db']:.0f}] dB\n-> [0, 1]"),
         "spec": (0.95, 0.5, f"{sp['n_mels']} x {sp['frames']}\nimage")},
        [("wave", "frames", ""), ("frames", "window", ""), ("window", "fft", ""), ("fft", "mel", ""),
         ("mel", "db", ""), ("db", "spec", "")],
        size=(12, 2.6))


DIAGRAMS: dict[str, Callable[[], Figure]] = {
    "dual_encoder": dual_encoder, "conditional_gan": conditional_gan, "multimodal_vae": multimodal_vae,
    "video_encoder": video_encoder, "stft_framing": stft_framing,
}


def svg(draw: Callable[[], Figure]) -> bytes:
    """The diagram as SVG bytes, identical on every run (fixed ids, no date, no version stamp)."""
    plotting.use_book_style()
    with plt.rc_context({"svg.hashsalt": "crossmodal-book", "svg.fonttype": "path"}):
        fig = draw()
        out = io.BytesIO()
        fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
        plt.close(fig)
    return out.getvalue()


if __name__ == "__main__":
    FIGURES.mkdir(exist_ok=True)
    for name in sys.argv[1:] or DIAGRAMS:
        (FIGURES / f"{name}.svg").write_bytes(svg(DIAGRAMS[name]))
        print("wrote", (FIGURES / f"{name}.svg").relative_to(ROOT))
