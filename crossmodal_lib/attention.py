"""Attention: every position of one sequence looks at every position of another (book: Part 7.1).

* :func:`scaled_dot_product_attention` -- eq-attention: ``softmax(q k^T / sqrt(d)) v``, with an
  optional boolean mask, returning the output *and* the attention weights (the weights are what
  the book plots; ``torch.nn.functional.scaled_dot_product_attention`` returns only the output).
* :class:`MultiHeadAttention` -- ``heads`` attentions on learned projections of ``dim / heads``
  dimensions each, concatenated and projected back (eq-multihead). ``from_torch`` copies the
  weights of a ``torch.nn.MultiheadAttention``, so the two can be checked against each other.
* :class:`TransformerBlock` -- pre-norm residual blocks: ``x + attention(LayerNorm(x))``, then
  ``x + MLP(LayerNorm(x))``; self-attention, optionally causal, and optionally cross-attention
  to a second sequence (the image, for a captioner).
* :class:`TransformerTextEncoder` -- token and position embeddings, pre-norm blocks, a masked
  mean over the real tokens: the third text tower of the dual encoder.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["MultiHeadAttention", "TransformerBlock", "TransformerTextEncoder", "scaled_dot_product_attention"]


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """eq-attention. ``q [..., Tq, d]``, ``k [..., Tk, d]``, ``v [..., Tk, dv]``; ``mask`` boolean,
    broadcastable to ``[..., Tq, Tk]``, ``True`` where a query may attend. Returns the output
    ``[..., Tq, dv]`` and the weights ``[..., Tq, Tk]`` (each row sums to 1)."""
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"q [..., Tq, d], k [..., Tk, d] and v [..., Tk, dv] do not fit: "
                         f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])                 # [..., Tq, Tk]
    if mask is not None:
        if not mask.any(-1).all():
            raise ValueError("a query may attend to no key: every row of the mask needs a True")
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    return weights @ v, weights


def causal_mask(n: int, device: torch.device | None = None) -> torch.Tensor:
    """``[n, n]`` boolean, ``True`` on and below the diagonal: position i sees positions 0..i."""
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


class MultiHeadAttention(nn.Module):
    """eq-multihead: ``heads`` attentions of ``dim // heads`` dimensions on learned projections.

    ``forward(query [B, Tq, D], key [B, Tk, D], value [B, Tk, D], key_padding_mask=None,
    causal=False) -> (out [B, Tq, D], weights [B, heads, Tq, Tk])``; ``key_padding_mask``
    ``[B, Tk]`` is ``True`` at padding (PyTorch's convention), ``causal`` hides later positions.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}")
        self.dim, self.heads = dim, heads
        self.q, self.k, self.v, self.out = (nn.Linear(dim, dim) for _ in range(4))

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T, D] -> [B, heads, T, D / heads]``."""
        return x.unflatten(-1, (self.heads, self.dim // self.heads)).transpose(1, 2)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                key_padding_mask: torch.Tensor | None = None, causal: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        if query.dim() != 3 or query.shape[-1] != self.dim or key.shape != value.shape or key.shape[0] != query.shape[0]:
            raise ValueError(f"expected query [B, Tq, {self.dim}] and key, value [B, Tk, {self.dim}], got "
                             f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
        mask = torch.ones(query.shape[1], key.shape[1], dtype=torch.bool, device=query.device)
        if causal:
            mask = mask & causal_mask(key.shape[1], query.device)[-query.shape[1]:]
        mask = mask[None, None]                                              # [1, 1, Tq, Tk]
        if key_padding_mask is not None:
            mask = mask & ~key_padding_mask[:, None, None, :]                # [B, 1, Tq, Tk]
        out, weights = scaled_dot_product_attention(self._split(self.q(query)), self._split(self.k(key)),
                                                    self._split(self.v(value)), mask)
        return self.out(out.transpose(1, 2).flatten(2)), weights

    @classmethod
    def from_torch(cls, mha: nn.MultiheadAttention) -> MultiHeadAttention:
        """The same layer with the weights of a ``torch.nn.MultiheadAttention(dim, heads, batch_first=True)``."""
        if not mha.batch_first or not mha._qkv_same_embed_dim or mha.in_proj_bias is None:
            raise ValueError("from_torch expects nn.MultiheadAttention(dim, heads, batch_first=True) with biases")
        layer = cls(mha.embed_dim, mha.num_heads)
        with torch.no_grad():
            for proj, w, b in zip((layer.q, layer.k, layer.v), mha.in_proj_weight.chunk(3), mha.in_proj_bias.chunk(3)):
                proj.weight.copy_(w)
                proj.bias.copy_(b)
            layer.out.weight.copy_(mha.out_proj.weight)
            layer.out.bias.copy_(mha.out_proj.bias)
        return layer


class TransformerBlock(nn.Module):
    """Pre-norm residual block: self-attention (``causal`` or not), optional cross-attention to a
    ``memory [B, S, D]``, and a two-layer MLP, each as ``x + f(LayerNorm(x))``. ``[B, T, D] -> [B, T, D]``;
    the weights of the last attention call are kept in ``self.last_weights`` (for the book's figures)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 2, cross: bool = False) -> None:
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), MultiHeadAttention(dim, heads)
        self.cross = MultiHeadAttention(dim, heads) if cross else None
        self.norm_cross = nn.LayerNorm(dim) if cross else None
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))
        self.last_weights: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None = None, causal: bool = False,
                memory: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm1(x)
        out, self.last_weights["self"] = self.attn(h, h, h, key_padding_mask=padding, causal=causal)
        x = x + out
        if self.cross is not None:
            if memory is None:
                raise ValueError("this block has cross-attention: pass memory [B, S, D]")
            out, self.last_weights["cross"] = self.cross(self.norm_cross(x), memory, memory)
            x = x + out
        return x + self.mlp(self.norm2(x))


class TransformerTextEncoder(nn.Module):
    """Token + learned position embeddings -> ``layers`` pre-norm blocks -> LayerNorm -> masked mean
    over the real tokens -> linear. ``[B, T]`` int64 ids (0 = padding, ``T <= max_len``) -> ``[B, out_dim]``.

    Without the position embeddings self-attention is order-free (a permutation of the tokens
    permutes its outputs, and the mean forgets it); with them "moving left, then up" and "moving
    up, then left" get different vectors (Part 7.1 measures both)."""

    def __init__(self, vocab_size: int, out_dim: int, dim: int = 64, heads: int = 4, layers: int = 2,
                 max_len: int = 32, positions: bool = True) -> None:
        super().__init__()
        self.vocab_size, self.out_dim, self.max_len = vocab_size, out_dim, max_len
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.position = nn.Embedding(max_len, dim) if positions else None
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads) for _ in range(layers))
        self.norm, self.fc = nn.LayerNorm(dim), nn.Linear(dim, out_dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.dim() != 2 or ids.dtype != torch.int64:
            raise ValueError(f"TransformerTextEncoder expects int64 token ids [B, T], got {ids.dtype} {tuple(ids.shape)}")
        if ids.shape[1] > self.max_len:
            raise ValueError(f"captions of {ids.shape[1]} tokens exceed max_len={self.max_len}")
        padding = ids == 0                                                        # [B, T]
        if padding.all(1).any():
            raise ValueError("a caption has no tokens (all padding)")
        x = self.embed(ids)
        if self.position is not None:
            x = x + self.position(torch.arange(ids.shape[1], device=ids.device))
        for block in self.blocks:
            x = block(x, padding=padding)
        keep = (~padding).unsqueeze(-1).to(x.dtype)
        return self.fc((self.norm(x) * keep).sum(1) / keep.sum(1))
