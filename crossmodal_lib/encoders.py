"""Encoders: networks that turn one modality into a vector (book: Part 2 and Part 3.1).

Each modality gets its own encoder, because pixels and words share no common format
(the heterogeneity gap of Part 2). Every encoder maps a batch to ``[B, out_dim]`` features,
so any of them can sit under a projection head (Part 3.1), a classifier (Part 2) or a
variational posterior (Part 3.3):

* :class:`MLP` -- flatten, then fully connected layers (any fixed-size input).
* :class:`ConvImageEncoder` -- a small convolutional network for ``[B, 1, H, W]`` images.
* :class:`TextEncoder` -- token embeddings, a bidirectional GRU and a masked mean over the
  real (non-padding) tokens, for ``[B, T]`` token ids from :class:`~crossmodal_lib.text.Vocabulary`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ConvImageEncoder", "MLP", "TextEncoder"]


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
    words cannot do (Part 2). Sequences are packed, so padding changes nothing: a caption
    gets the same vector alone or in a batch of longer captions.
    """

    def __init__(self, vocab_size: int, out_dim: int, emb_dim: int = 64, hidden: int = 64) -> None:
        super().__init__()
        self.vocab_size, self.out_dim = vocab_size, out_dim
        self.embed = nn.Embedding(vocab_size, emb_dim, padding_idx=0)
        self.gru = nn.GRU(emb_dim, hidden, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * hidden, out_dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.dim() != 2 or ids.dtype != torch.int64:
            raise ValueError(f"TextEncoder expects int64 token ids [B, T], got {ids.dtype} {tuple(ids.shape)}")
        if ids.numel() and int(ids.max()) >= self.vocab_size:
            raise ValueError(f"token id {int(ids.max())} is outside the vocabulary of size {self.vocab_size}")
        mask = (ids != 0).unsqueeze(-1).float()                   # [B, T, 1]
        if (mask.sum(1) == 0).any():
            raise ValueError("a caption has no tokens (all padding)")
        lengths = mask.sum(1).squeeze(-1).long().cpu()
        # packing makes the backward direction start at each caption's last real token,
        # so a caption's encoding does not depend on how much padding its batch needs
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(ids), lengths, batch_first=True, enforce_sorted=False)
        h, _ = self.gru(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=ids.shape[1])  # [B, T, 2H]
        pooled = (h * mask).sum(1) / mask.sum(1)                  # [B, 2 * hidden]
        return self.fc(pooled)
