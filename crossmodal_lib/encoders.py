"""Encoders: networks that turn one modality into a vector (book: Part 2 and Part 3.1).

Each modality gets its own encoder, because pixels and words share no common format
(the heterogeneity gap of Part 2). This module starts with the simplest one, a
multi-layer perceptron; later parts add image, text, audio and video encoders.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MLP"]


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
