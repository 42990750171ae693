"""Figures for the book, readable in light and dark mode (opaque white backgrounds).

* :func:`use_book_style` -- one matplotlib style for every chapter (colour-blind-safe palette).
* :func:`show_images` -- a grid of images with wrapped captions (Latin script; show Chinese
  captions as text, since matplotlib's default fonts have no CJK glyphs).
* :func:`plot_timeline` -- the Part 1 history figure, drawn from :func:`~crossmodal_lib.data.load_milestones`.
* :func:`plot_history` -- per-epoch curves returned by :func:`~crossmodal_lib.training.train`.
* :func:`plot_curves` -- means with standard-error bars against a size, one line per method (Part 7.3).
* :func:`show_spectrograms` -- log-mel spectrograms, low frequencies at the bottom (Part 5.2).
* :func:`motion_trail` -- a clip as one picture, early frames faint and the last one dark (Part 5.3).
* :func:`audio_players` -- a row of labelled audio players that also work on the static website.
* :func:`block_diagram` -- a model as labelled boxes and arrows (Part 4 onwards).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

__all__ = ["OKABE_ITO", "audio_players", "block_diagram", "motion_trail", "plot_curves", "plot_history", "plot_timeline", "scatter_images", "show_images",
           "show_spectrograms", "use_book_style"]

#: Okabe & Ito's palette, distinguishable with the common forms of colour blindness.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")


def use_book_style() -> None:
    """Opaque white figures (so dark-mode readers see black on white), larger fonts, Okabe-Ito colours."""
    plt.rcParams.update({
        "figure.facecolor": "white",
        "axes.facecolor": "white",
        "savefig.facecolor": "white",
        "figure.dpi": 100,
        "font.size": 11,
        "axes.titlesize": 11,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.prop_cycle": plt.cycler(color=OKABE_ITO),
    })


def show_images(images: torch.Tensor | np.ndarray, captions: Sequence[str] | None = None, *, ncols: int = 6,
                width: int = 22, size: float = 1.9, cmap: str = "gray_r", border: bool = False) -> Figure:
    """Grid of ``[N, 1, H, W]`` or ``[N, H, W]`` images (values in [0, 1]), ink dark on white.
    ``border=True`` outlines each image in grey, so that the edges of a white canvas show."""
    x = torch.as_tensor(images).detach().cpu().float()
    if x.dim() == 4:
        x = x[:, 0]
    if x.dim() != 3 or len(x) == 0:
        raise ValueError(f"expected a non-empty batch of images [N, 1, H, W] or [N, H, W], got {tuple(x.shape)}")
    if captions is not None and len(captions) != len(x):
        raise ValueError(f"mismatched pairs: {len(x)} images but {len(captions)} captions")
    n = len(x)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    lines = 0 if captions is None else max(len(textwrap.wrap(c, width)) for c in captions)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, nrows * (size + 0.22 * lines)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(x[i].numpy(), cmap=cmap, vmin=0, vmax=1)
            if border:
                h, w = x[i].shape
                ax.add_patch(plt.Rectangle((-0.5, -0.5), w, h, fill=False, edgecolor="0.6", lw=1, clip_on=False))
            if captions is not None:
                ax.set_title("\n".join(textwrap.wrap(captions[i], width)), fontsize=9)
    fig.tight_layout()
    return fig


def show_spectrograms(spectrograms: torch.Tensor | np.ndarray, captions: Sequence[str] | None = None, *,
                      ncols: int = 5, size: float = 2.0) -> Figure:
    """Grid of ``[N, 1, n_mels, frames]`` log-mel spectrograms in [0, 1]: time runs to the right,
    mel band 0 (the lowest frequencies) is at the bottom, louder is brighter."""
    x = torch.as_tensor(spectrograms).detach().cpu().float()
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"expected spectrograms [N, 1, n_mels, frames], got {tuple(x.shape)}")
    return show_images(x.flip(-2), captions, ncols=ncols, size=size, cmap="magma")


def motion_trail(clips: torch.Tensor) -> torch.Tensor:
    """``[N, T, 1, H, W]`` clips -> ``[N, 1, H, W]`` pictures: the maximum over frames of frame t
    scaled by 0.2 + 0.8 t / (T - 1), so the path shows faint-to-dark in the direction of motion."""
    x = torch.as_tensor(clips).detach().cpu().float()
    if x.dim() != 5 or x.shape[2] != 1:
        raise ValueError(f"expected clips [N, T, 1, H, W], got {tuple(x.shape)}")
    t = x.shape[1]
    weight = 0.2 + 0.8 * torch.arange(t, dtype=x.dtype) / max(t - 1, 1)
    return (x * weight[None, :, None, None, None]).amax(1)


def audio_players(waveforms: Sequence[np.ndarray], labels: Sequence[str], rate: int) -> object:
    """An HTML table of labelled ``<audio>`` players, one per waveform (IPython's ``Audio`` embeds
    each clip as base64 WAV, so the players work in JupyterLab, Colab and the static website)."""
    import html

    from IPython.display import HTML, Audio

    if len(waveforms) != len(labels):
        raise ValueError(f"mismatched pairs: {len(waveforms)} waveforms but {len(labels)} labels")
    cells = "".join(
        f"<td style='padding:4px;text-align:center'>{html.escape(str(label))}<br>"
        f"{Audio(np.asarray(w, dtype=np.float32), rate=rate)._repr_html_()}</td>"
        for w, label in zip(waveforms, labels))
    return HTML(f"<table><tr>{cells}</tr></table>")


def plot_timeline(milestones: Sequence, *, ax: plt.Axes | None = None) -> Figure:
    """One row per milestone (oldest at the top): a dot at its year, coloured by strand."""
    items = sorted(milestones, key=lambda m: m.year)
    strands = list(dict.fromkeys(m.strand for m in items))
    colour = {s: OKABE_ITO[i % len(OKABE_ITO)] for i, s in enumerate(strands)}
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 0.38 * len(items) + 1.2))
    lo, hi = items[0].year, items[-1].year
    for row, m in enumerate(items):
        y = len(items) - row
        ax.plot([lo - 5, m.year], [y, y], color="0.85", lw=0.8, zorder=1)
        ax.scatter(m.year, y, s=60, color=colour[m.strand], zorder=3, label=m.strand)
        right = m.year < 1995  # early, sparse years: label to the right; the crowded recent ones to the left
        ax.annotate(f"{m.year}  {m.event}" if right else f"{m.event}  {m.year}", (m.year, y),
                    xytext=(8 if right else -8, 0), textcoords="offset points",
                    ha="left" if right else "right", va="center", fontsize=9)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), loc="lower left", fontsize=9, frameon=False)
    ax.set_yticks([])
    ax.set_xlim(lo - 6, hi + 4)
    ax.set_xlabel("year")
    ax.grid(axis="y", visible=False)
    ax.spines["left"].set_visible(False)
    ax.figure.tight_layout()
    return ax.figure


def plot_history(history: Mapping[str, Sequence[float]], *, ax: plt.Axes | None = None, title: str | None = None) -> Figure:
    """Line plot of each per-epoch series in ``history`` against the epoch number."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    for name, values in history.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=name)
    ax.set_xlabel("epoch")
    ax.legend(frameon=False)
    if title:
        ax.set_title(title)
    ax.figure.tight_layout()
    return ax.figure


def plot_curves(summary: Mapping[str, Mapping[float, tuple[float, float]]], *, ax: plt.Axes | None = None,
                xlabel: str = "", ylabel: str = "", logx: bool = True) -> Figure:
    """``summary`` = ``{method: {x: (mean, standard error)}}`` (as :func:`~crossmodal_lib.challenges.summarise`
    returns it): one line per method, each point with a bar of one standard error either side."""
    if not summary or not all(summary.values()):
        raise ValueError("plot_curves needs at least one method with at least one point")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.4))
    markers = "osD^v"
    for i, (method, points) in enumerate(summary.items()):
        xs = sorted(points)
        ax.errorbar(xs, [points[x][0] for x in xs], yerr=[points[x][1] for x in xs], marker=markers[i % len(markers)],
                    capsize=3, label=method)
    if logx:
        ax.set_xscale("log")
        ax.set_xticks(sorted({x for points in summary.values() for x in points}))
        ax.get_xaxis().set_major_formatter(plt.FuncFormatter(lambda x, _: f"{x:g}"))
        ax.minorticks_off()
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.legend(frameon=False)
    ax.figure.tight_layout()
    return ax.figure


def scatter_images(x: Sequence[float], y: Sequence[float], images: torch.Tensor, *, ax: plt.Axes | None = None,
                   zoom: float = 2.2, cmap: str = "gray_r") -> Figure:
    """Place each ``[N, 1, H, W]`` image as a thumbnail at its point (x_i, y_i)."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    imgs = torch.as_tensor(images).detach().cpu().float().reshape(len(images), *images.shape[-2:])
    if not len(x) == len(y) == len(imgs):
        raise ValueError(f"mismatched lengths: {len(x)} x, {len(y)} y, {len(imgs)} images")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 5))
    ax.scatter(x, y, s=0)  # sets the data limits
    for xi, yi, img in zip(x, y, imgs):
        box = OffsetImage(img.numpy(), cmap=cmap, zoom=zoom, norm=plt.Normalize(0, 1))
        ax.add_artist(AnnotationBbox(box, (xi, yi), frameon=True, pad=0.05, bboxprops={"edgecolor": "0.7"}))
    pad_x, pad_y = 0.08 * np.ptp(x), 0.08 * np.ptp(y)
    ax.set_xlim(x.min() - pad_x, x.max() + pad_x)
    ax.set_ylim(y.min() - pad_y, y.max() + pad_y)
    return ax.figure


def block_diagram(boxes: Mapping[str, tuple[float, float, str]], arrows: Sequence[tuple[str, str, str]], *,
                  size: tuple[float, float] = (9.0, 3.0), title: str | None = None) -> Figure:
    """A model drawn as labelled boxes and arrows, black on white (readable in dark mode too).

    ``boxes``: name -> (x, y, text) with x, y in [0, 1] (box centres); ``arrows``: (from, to, label).
    Boxes whose text starts with ``"loss"`` are tinted, so the objective stands out. Each arrow
    runs from the edge of one box to the edge of the other (measured after one draw).
    """
    missing = {a for a, b, _ in arrows for a in (a, b)} - set(boxes)
    if missing:
        raise ValueError(f"arrows refer to unknown boxes: {sorted(missing)}")
    fig, ax = plt.subplots(figsize=size)
    ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.axis("off")
    if title:
        ax.set_title(title)
    style = dict(boxstyle="round,pad=0.4", edgecolor="black", linewidth=1.2)
    texts = {name: ax.text(x, y, text, ha="center", va="center", fontsize=10, zorder=3,
                           bbox={**style, "facecolor": "#FBE3C8" if text.startswith("loss") else "#DCEBF7"})
             for name, (x, y, text) in boxes.items()}
    fig.tight_layout()
    fig.canvas.draw()  # the boxes' sizes are known only after a draw
    to_data = ax.transData.inverted()
    extent = {n: to_data.transform(t.get_bbox_patch().get_window_extent()) for n, t in texts.items()}
    for a, b, label in arrows:
        start, end = _edge_point(extent[a], boxes[b][:2]), _edge_point(extent[b], boxes[a][:2])
        ax.annotate("", xy=end, xytext=start, zorder=2,
                    arrowprops=dict(arrowstyle="-|>", color="black", lw=1.2, shrinkA=2, shrinkB=2, mutation_scale=14))
        if label:
            ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.05, label, ha="center", fontsize=9, color="0.25")
    return fig


def _edge_point(corners: np.ndarray, toward: tuple[float, float]) -> tuple[float, float]:
    """Where the segment from the centre of the box ``corners [[x0, y0], [x1, y1]]`` towards
    ``toward`` leaves the box."""
    (x0, y0), (x1, y1) = corners
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    dx, dy = toward[0] - cx, toward[1] - cy
    if dx == 0 and dy == 0:
        return cx, cy
    scale = min(abs((x1 - x0) / 2 / dx) if dx else np.inf, abs((y1 - y0) / 2 / dy) if dy else np.inf)
    return cx + dx * scale, cy + dy * scale
