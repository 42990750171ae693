"""Encoders: networks that turn one modality into a vector (book: Part 2 and Part 3.1).

Each modality gets its own encoder, because pixels and words share no common format
(the heterogeneity gap of Part 2). Every encoder maps a batch to ``[B, out_dim]`` features,
so any of them can sit under a projection head (Part 3.1), a classifier (Part 2) or a
variational posterior (Part 3.3):

* :class:`MLP` -- flatten, then fully connected layers (any fixed-size input).
* :class:`ConvImageEncoder` -- a small convolutional network for ``[B, 1, H, W]`` images.
* :class:`TextEncoder` -- token embeddings, a bidirectional GRU and a masked mean over the
  real (non-padding) tokens, for ``[B, T]`` token ids from :class:`~crossmodal_lib.text.Vocabulary`.
* :class:`BagOfWordsEncoder` -- the mean of the token embeddings: blind to word order.
  :func:`text_encoder_for` picks a text tower by name (the Transformer one is in
  :mod:`crossmodal_lib.attention`).
* :class:`SpectrogramEncoder` -- 1-D convolutions over time with the mel bands as channels,
  then mean and max pooling over time, for ``[B, 1, n_mels, frames]`` log-mel spectrograms (Part 5.2).
* :class:`VideoEncoder` -- for ``[B, T, 1, H, W]`` clips (Part 5.3): :func:`track` follows the
  ink, a convolutional encoder reads the centred glimpse (*what*), and a GRU reads the track
  of positions in order (*how*) -- or, to show what is lost, an average over the frames.

:func:`encoder_for` picks the encoder from a dataset's ``modality`` and input shape, which is how
the training functions accept images, speech and video without changes in the notebooks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .config import check_choice

__all__ = ["BagOfWordsEncoder", "ConvImageEncoder", "MLP", "SpectrogramEncoder", "TextEncoder", "VideoEncoder",
           "encoder_for", "text_encoder_for", "track"]


class MLP(nn.Module):
    """Flatten, then Linear -> ReLU -> ... -> Linear.

    ``[B, *in_shape]`` -> ``[B, out_dim]``, where ``in_dim`` is the product of ``in_shape``.
    ``hidden=()`` gives a linear model. A wrong input size raises a ``ValueError`` that
    states the expected and the received shape.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: Sequence[int] = (64,), dropout: float = 0.0) -> None:
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        dims = [in_dim, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(dims[-1], out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or x[0].numel() != self.in_dim:
            raise ValueError(f"MLP expects [B, ...] inputs with {self.in_dim} features each, got shape {tuple(x.shape)}")
        return self.net(x.flatten(1))


class ConvImageEncoder(nn.Module):
    """Two 3 x 3 convolutions (the second with stride 2), then a linear layer.

    ``[B, 1, H, W]`` -> ``[B, out_dim]``. For 8 x 8 digits the feature map after the stride-2
    convolution is ``[B, channels[1], 4, 4]``.
    """

    def __init__(self, out_dim: int, image_size: int = 8, channels: tuple[int, int] = (32, 64)) -> None:
        super().__init__()
        self.out_dim, self.image_size = out_dim, image_size
        c1, c2 = channels
        self.conv = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c1, c2, 3, padding=1, stride=2), nn.ReLU(),
        )
        side = (image_size + 1) // 2
        self.fc = nn.Linear(c2 * side * side, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1:] != (1, self.image_size, self.image_size):
            raise ValueError(
                f"ConvImageEncoder expects [B, 1, {self.image_size}, {self.image_size}] images, got {tuple(x.shape)}"
            )
        return self.fc(self.conv(x).flatten(1))


class TextEncoder(nn.Module):
    """Embedding -> bidirectional GRU -> masked mean over real tokens -> linear.

    ``[B, T]`` int64 token ids (0 = padding) -> ``[B, out_dim]``. The GRU reads the caption in
    order, so "not slanted" and "slanted" get different representations, which a bag of
    words cannot do (Part 2). Padding changes nothing: a caption gets the same vector alone or
    in a batch of longer captions (see :meth:`forward`).
    """

    def __init__(self, vocab_size: int, out_dim: int, emb_dim: int = 64, hidden: int = 64) -> None:
        super().__init__()
        self.vocab_size, self.out_dim = vocab_size, out_dim
        self.embed = nn.Embedding(vocab_size, emb_dim, padding_idx=0)
        # the two directions of a bidirectional GRU, initialised exactly as nn.GRU(bidirectional=True) would be
        self.gru_forward = nn.GRU(emb_dim, hidden, batch_first=True)
        self.gru_backward = nn.GRU(emb_dim, hidden, batch_first=True)
        self.fc = nn.Linear(2 * hidden, out_dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """The backward direction reads each caption reversed *within its own length*, so it
        starts at the caption's last real token, not at the padding; padding comes last in
        both directions and is masked out of the mean. This equals PyTorch's packed
        bidirectional GRU (tested) and runs faster on a CPU."""
        if ids.dim() != 2 or ids.dtype != torch.int64:
            raise ValueError(f"TextEncoder expects int64 token ids [B, T], got {ids.dtype} {tuple(ids.shape)}")
        if ids.numel() and int(ids.max()) >= self.vocab_size:
            raise ValueError(f"token id {int(ids.max())} is outside the vocabulary of size {self.vocab_size}")
        mask = (ids != 0).unsqueeze(-1).float()                   # [B, T, 1]
        if (mask.sum(1) == 0).any():
            raise ValueError("a caption has no tokens (all padding)")
        lengths = mask.sum(1)                                     # [B, 1]
        steps = torch.arange(ids.shape[1], device=ids.device)[None]                     # [1, T]
        reverse = torch.where(steps < lengths, lengths.long() - 1 - steps, steps)       # [B, T], its own inverse
        x = self.embed(ids)                                       # [B, T, E]
        flip = lambda t: t.gather(1, reverse[..., None].expand_as(t))  # noqa: E731
        h = torch.cat([self.gru_forward(x)[0], flip(self.gru_backward(flip(x))[0])], dim=-1)  # [B, T, 2H]
        pooled = (h * mask).sum(1) / lengths                      # [B, 2 * hidden]
        return self.fc(pooled)


class BagOfWordsEncoder(nn.Module):
    """Embedding -> mean over the real tokens -> linear: the order-free text tower.

    ``[B, T]`` int64 token ids (0 = padding) -> ``[B, out_dim]``. Any reordering of a caption's
    words gives exactly the same vector (Part 7.1 uses it as the baseline that cannot read order).
    """

    def __init__(self, vocab_size: int, out_dim: int, emb_dim: int = 128) -> None:
        super().__init__()
        self.vocab_size, self.out_dim = vocab_size, out_dim
        self.embed = nn.Embedding(vocab_size, emb_dim, padding_idx=0)
        self.fc = nn.Sequential(nn.ReLU(), nn.Linear(emb_dim, out_dim))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.dim() != 2 or ids.dtype != torch.int64:
            raise ValueError(f"BagOfWordsEncoder expects int64 token ids [B, T], got {ids.dtype} {tuple(ids.shape)}")
        keep = (ids != 0).unsqueeze(-1).float()
        if (keep.sum(1) == 0).any():
            raise ValueError("a caption has no tokens (all padding)")
        return self.fc((self.embed(ids) * keep).sum(1) / keep.sum(1))


TEXT_TOWERS = ("gru", "transformer", "bag")


def text_encoder_for(kind: str, vocab_size: int, out_dim: int) -> nn.Module:
    """The text tower ``kind``: ``"gru"`` (:class:`TextEncoder`), ``"transformer"``
    (:class:`~crossmodal_lib.attention.TransformerTextEncoder`) or ``"bag"`` (:class:`BagOfWordsEncoder`)."""
    check_choice("text_tower", kind, TEXT_TOWERS)
    if kind == "gru":
        return TextEncoder(vocab_size, out_dim)
    if kind == "bag":
        return BagOfWordsEncoder(vocab_size, out_dim)
    from .attention import TransformerTextEncoder
    return TransformerTextEncoder(vocab_size, out_dim)


class SpectrogramEncoder(nn.Module):
    """Log-mel spectrogram ``[B, 1, n_mels, frames]`` -> ``[B, out_dim]``.

    The mel bands are the channels of two 1-D convolutions over time (kernel 5, the second
    with stride 2), so the same filter fires wherever in the window a sound occurs; the mean
    and the max over time are concatenated and mapped to ``out_dim``. A word's position varies
    from clip to clip; pooling over time makes the output nearly independent of it (exactly
    for the max, up to the stride and the window's edges). The mean still depends on how long
    the word is, which is information too (a speaking rate).
    """

    def __init__(self, out_dim: int, n_mels: int = 32, frames: int = 32, channels: int = 128) -> None:
        super().__init__()
        self.out_dim, self.n_mels, self.frames = out_dim, n_mels, frames
        self.conv = nn.Sequential(
            nn.Conv1d(n_mels, channels, 5, padding=2), nn.ReLU(),
            nn.Conv1d(channels, channels, 5, padding=2, stride=2), nn.ReLU(),
        )
        self.fc = nn.Linear(2 * channels, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1:] != (1, self.n_mels, self.frames):
            raise ValueError(f"SpectrogramEncoder expects [B, 1, {self.n_mels}, {self.frames}] spectrograms, "
                             f"got {tuple(x.shape)}")
        h = self.conv(x[:, 0])                                       # [B, C, frames / 2]
        return self.fc(torch.cat([h.mean(-1), h.amax(-1)], dim=1))


def track(clips: torch.Tensor, window: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """Follow the ink through a clip: where it is in each frame, and what it looks like.

    ``clips`` ``[B, T, 1, S, S]`` -> (``positions`` ``[B, T, 2]``: the (row, column) centre of
    mass of each frame, divided by S; ``glimpses`` ``[B, T, 1, window, window]``: each frame
    cropped around its rounded centre, zero-padded at the borders). A digit that only moves
    gives the same glimpse in every frame, whatever its path. A blank frame has no centre
    and raises ``ValueError``.
    """
    b, t, _, s, _ = clips.shape
    frames = clips.reshape(b * t, s, s)
    mass = frames.sum((1, 2))
    if (mass <= 0).any():
        raise ValueError("a frame has no ink, so it has no centre to follow")
    grid = torch.arange(s, dtype=frames.dtype, device=frames.device)
    rows = (frames.sum(2) * grid).sum(1) / mass                                # [B*T]
    cols = (frames.sum(1) * grid).sum(1) / mass
    half = window // 2
    padded = F.pad(frames, (half,) * 4)
    # floor(c + 0.5), not round(): round() sends halves to the even integer, so a centre at
    # 5.5, 6.5, 7.5, ... would be cropped at alternating offsets and the glimpse would jitter
    top = torch.floor(rows + 0.5).long().clamp(0, s + 2 * half - window)  # padded index of centre - half
    left = torch.floor(cols + 0.5).long().clamp(0, s + 2 * half - window)
    r_idx = (top[:, None] + torch.arange(window, device=frames.device))[:, :, None]
    c_idx = (left[:, None] + torch.arange(window, device=frames.device))[:, None, :]
    glimpses = padded[torch.arange(b * t, device=frames.device)[:, None, None], r_idx, c_idx]
    positions = torch.stack([rows, cols], dim=1) / s
    return positions.view(b, t, 2), glimpses.view(b, t, 1, window, window)


class VideoEncoder(nn.Module):
    """Clip ``[B, T, 1, S, S]`` -> ``[B, out_dim]``, as *what* is moving plus *how* it moves.

    :func:`track` splits each frame into a position and a centred glimpse. *What*: the
    glimpses averaged over the frames, through a :class:`ConvImageEncoder` (the digit's shape,
    wherever it is). *How*: the track of positions ``[B, T, 2]``, read in order by a GRU
    (``temporal="gru"``) or averaged over the frames (``temporal="mean"``). An average cannot
    depend on the order of the frames, so a clip and the same clip played backwards (the digit
    moving the opposite way) get the same features; Part 5.3 measures the cost. The two parts
    are concatenated and mapped to ``out_dim``.
    """

    def __init__(self, out_dim: int, frames: int = 8, size: int = 16, window: int = 12,
                 motion_dim: int = 32, temporal: Literal["gru", "mean"] = "gru") -> None:
        super().__init__()
        check_choice("temporal", temporal, ("gru", "mean"))
        self.out_dim, self.frames, self.size, self.window, self.temporal = out_dim, frames, size, window, temporal
        self.what = ConvImageEncoder(out_dim, image_size=window)
        self.how = (nn.GRU(2, motion_dim, batch_first=True) if temporal == "gru"
                    else nn.Sequential(nn.Linear(2, motion_dim), nn.ReLU(), nn.Linear(motion_dim, motion_dim)))
        self.fc = nn.Linear(out_dim + motion_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[1:] != (self.frames, 1, self.size, self.size):
            raise ValueError(f"VideoEncoder expects [B, {self.frames}, 1, {self.size}, {self.size}] clips, "
                             f"got {tuple(x.shape)}")
        positions, glimpses = track(x, self.window)
        positions = positions * self.size                                        # in pixels
        what = self.what(glimpses.mean(1))                                       # [B, out_dim]
        if self.temporal == "gru":
            how = self.how(positions - positions[:, :1])[1][-1]                  # last state [B, motion_dim]
        else:
            how = self.how(positions - positions.mean(1, keepdim=True)).mean(1)  # order-free [B, motion_dim]
        return self.fc(torch.relu(torch.cat([what, how], dim=1)))


def encoder_for(modality: str, input_shape: Sequence[int], out_dim: int, **options) -> nn.Module:
    """The book's encoder for one example of shape ``input_shape`` (without the batch dimension).

    ``"image"`` ``(1, S, S)`` -> :class:`ConvImageEncoder`; ``"spectrogram"`` ``(1, n_mels, frames)``
    -> :class:`SpectrogramEncoder`; ``"video"`` ``(T, 1, S, S)`` -> :class:`VideoEncoder`.
    ``options`` go to the encoder (e.g. ``temporal="mean"`` for video).
    """
    shape = tuple(int(n) for n in input_shape)
    if modality == "image" and len(shape) == 3 and shape[0] == 1 and shape[1] == shape[2]:
        return ConvImageEncoder(out_dim, image_size=shape[1], **options)
    if modality == "spectrogram" and len(shape) == 3 and shape[0] == 1:
        return SpectrogramEncoder(out_dim, n_mels=shape[1], frames=shape[2], **options)
    if modality == "video" and len(shape) == 4 and shape[1] == 1 and shape[2] == shape[3]:
        return VideoEncoder(out_dim, frames=shape[0], size=shape[2], **options)
    raise ValueError(f"no encoder for modality {modality!r} with example shape {shape}; expected "
                     "image (1, S, S), spectrogram (1, n_mels, frames) or video (T, 1, S, S)")
