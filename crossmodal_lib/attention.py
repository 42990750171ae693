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
* :class:`Captioner` and :func:`train_captioner` -- image patches as tokens, a causal
  Transformer decoder whose words cross-attend to them; beam-search captions and the attention
  maps of each generated word (Part 7.1b).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .config import resolve_config
from .data import PairedDataset
from .decoding import beam_search
from .embedding import random_shift
from .text import BOS, EOS, Vocabulary
from .training import optimizer_step, resolve_device, seeded_loader, set_seed, train_model

__all__ = ["Captioner", "CaptionerConfig", "MultiHeadAttention", "TransformerBlock", "TransformerTextEncoder",
           "causal_mask", "scaled_dot_product_attention", "train_captioner"]


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
            if query.shape[1] != key.shape[1]:
                raise ValueError(f"causal attention needs as many queries as keys (one sequence), got "
                                 f"{query.shape[1]} and {key.shape[1]}")
            mask = causal_mask(key.shape[1], query.device)
        mask = mask[None, None]                                              # [1, 1, Tq, Tk]
        if key_padding_mask is not None:
            mask = mask & ~key_padding_mask[:, None, None, :]                # [B, 1, Tq, Tk]
        out, weights = scaled_dot_product_attention(self._split(self.q(query)), self._split(self.k(key)),
                                                    self._split(self.v(value)), mask)
        return self.out(out.transpose(1, 2).flatten(2)), weights

    @classmethod
    def from_torch(cls, mha: nn.MultiheadAttention) -> MultiHeadAttention:
        """The same layer with the weights of a ``torch.nn.MultiheadAttention(dim, heads, batch_first=True)``."""
        if (not mha.batch_first or not mha._qkv_same_embed_dim or mha.in_proj_bias is None
                or mha.bias_k is not None or mha.add_zero_attn):
            raise ValueError("from_torch expects nn.MultiheadAttention(dim, heads, batch_first=True) with biases "
                             "and without add_bias_kv or add_zero_attn")
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
    permutes its outputs, and the mean forgets it); with them "three to the left of seven" and
    "seven to the left of three" get different vectors (Part 7.1 measures both)."""

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


# --------------------------------------------------------------------------------------
# A cross-attention captioner
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CaptionerConfig:
    """Hyperparameters of :func:`train_captioner`; the defaults are the book's (Part 7.1b)."""

    dim: int = 64                 # width of every token, image and word
    heads: int = 4                # attention heads per layer
    image_layers: int = 1         # self-attention blocks over the image tokens
    layers: int = 2               # decoder blocks (causal self-attention, cross-attention, MLP)
    epochs: int = 30              # passes over the training pairs
    batch_size: int = 64          # pairs per batch
    lr: float = 2e-3              # AdamW learning rate
    weight_decay: float = 0.1     # AdamW weight decay (strong: the decoder memorises digits otherwise)
    shift: int = 0                # random_shift of training images by up to this many pixels (0: none)
    max_len: int = 24             # longest caption in tokens, <bos> and <eos> included
    global_token: bool = True     # add one token that sees the whole image (a linear map of all pixels)
    patch: int = 2                # stride of the second convolution: one token per patch x patch pixels


class Captioner(nn.Module):
    """Image -> caption with cross-attention: each ``patch x patch`` patch of an ``[N, 1, S, S]`` image
    becomes a token (two 3 x 3 convolutions, the second with stride ``patch``, plus a learned position
    per patch), optionally with one whole-image token, then ``image_layers`` self-attention blocks; a
    causal Transformer decoder writes the caption, each word attending to all image tokens.

    ``describe(inputs) -> list[str]`` (beam search); ``attention_maps(inputs, captions) -> [N, W, G*G]``
    (``G = S / patch``): for word ``w`` of each caption, the last decoder block's cross-attention
    weights (heads averaged) on the image patches at the step that produced it; what a row lacks to
    sum to 1 went to the whole-image token, and rows past a caption's end are 0.
    ``log_likelihood(inputs, ids) -> [N]``.
    """

    def __init__(self, vocab: Vocabulary, config: CaptionerConfig, image_size: int = 8) -> None:
        super().__init__()
        d, self.vocab, self.config = config.dim, vocab, config
        if image_size % config.patch:
            raise ValueError(f"image size {image_size} is not a multiple of patch={config.patch}")
        self.grid = image_size // config.patch                                # tokens per side
        self.stem = nn.Sequential(nn.Conv2d(1, d, 3, padding=1), nn.GELU(),
                                  nn.Conv2d(d, d, 3, stride=config.patch, padding=1))
        self.patch_position = nn.Parameter(torch.randn(self.grid * self.grid, d) * 0.02)
        self.whole = nn.Linear(image_size * image_size, d) if config.global_token else None
        self.image_blocks = nn.ModuleList(TransformerBlock(d, config.heads) for _ in range(config.image_layers))
        self.embed = nn.Embedding(len(vocab), d, padding_idx=0)
        self.position = nn.Embedding(config.max_len, d)
        self.blocks = nn.ModuleList(TransformerBlock(d, config.heads, cross=True) for _ in range(config.layers))
        self.norm, self.out = nn.LayerNorm(d), nn.Linear(d, len(vocab))

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, 1, S, S]`` -> patch tokens ``[N, G*G, dim]``, then the whole-image token if configured."""
        tokens = self.stem(x).flatten(2).transpose(1, 2) + self.patch_position
        if self.whole is not None:
            tokens = torch.cat([tokens, self.whole(x.flatten(1))[:, None]], dim=1)
        for block in self.image_blocks:
            tokens = block(tokens)
        return tokens

    def logits(self, memory: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Next-token logits ``[N, T, V]`` for the prefixes ``ids [N, T]`` (teacher forcing)."""
        if ids.shape[1] > self.config.max_len:
            raise ValueError(f"captions of {ids.shape[1]} tokens exceed max_len={self.config.max_len}")
        h = self.embed(ids) + self.position(torch.arange(ids.shape[1], device=ids.device))
        for block in self.blocks:
            h = block(h, padding=ids == 0, causal=True, memory=memory)
        return self.out(self.norm(h))

    def log_likelihood(self, inputs: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """log p(caption | image) in nats ``[N]``; ``ids`` ``<bos> ... <eos>``, 0-padded."""
        logits = self.logits(self.encode_image(inputs), ids[:, :-1])
        return -F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], ignore_index=0, reduction="none").sum(1)

    def _device(self) -> torch.device:
        return self.patch_position.device

    @torch.no_grad()
    def describe(self, inputs: torch.Tensor, beam: int = 5) -> list[str]:
        """Images ``[N, 1, S, S]`` -> captions, by beam search (``beam=1``: greedy)."""
        self.eval()
        memory = self.encode_image(inputs.to(self._device())).repeat_interleave(beam, 0)

        def next_logp(seqs: torch.Tensor, parents: torch.Tensor) -> torch.Tensor:
            return self.logits(memory, seqs)[:, -1].log_softmax(-1)  # the prefix is re-read: no state

        bos, eos = self.vocab.stoi[BOS], self.vocab.stoi[EOS]
        ids, _ = beam_search(next_logp, len(inputs), bos, eos, beam, self.config.max_len - 1, self._device())
        return [self.vocab.decode(row) for row in ids.cpu()]

    @torch.no_grad()
    def attention_maps(self, inputs: torch.Tensor, captions: Sequence[str]) -> torch.Tensor:
        """``[N, W, G*G]``: where the decoder looked when it produced each word (see the class)."""
        self.eval()
        ids = self.vocab.encode(list(captions), add_bos_eos=True).to(self._device())
        self.logits(self.encode_image(inputs.to(self._device())), ids[:, :-1])
        weights = self.blocks[-1].last_weights["cross"].mean(1)               # [N, T-1, S*S]
        words = (ids[:, 1:] != 0) & (ids[:, 1:] != self.vocab.stoi[EOS])    # step t produced ids[:, t+1]
        patches = weights[..., : self.grid * self.grid] * words[..., None]
        return patches.cpu()[:, : int(words.sum(1).max())]


def train_captioner(pairs: PairedDataset, config: CaptionerConfig | None = None, *, seed: int = 0,
                    device: torch.device | str | None = None, progress: bool | str = True,
                    **overrides: Any) -> Captioner:
    """Train a :class:`Captioner` on image pairs with teacher forcing (the mean cross-entropy per
    word, <eos> included) and AdamW; images shifted by up to ``config.shift`` pixels. Returns the
    model on the CPU in eval mode with ``.history``, ``.train_seconds`` and ``.config``."""
    config = resolve_config(CaptionerConfig, config, overrides)
    if pairs.modality != "image" or pairs.inputs.dim() != 4 or pairs.inputs.shape[2] != pairs.inputs.shape[3]:
        raise ValueError(f"train_captioner expects square images [N, 1, S, S], got {pairs.modality} {tuple(pairs.inputs.shape)}")
    set_seed(seed)
    device = resolve_device(device)
    vocab = Vocabulary.build(pairs.captions, pairs.lang)
    model = Captioner(vocab, config, image_size=pairs.inputs.shape[-1]).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    ids = vocab.encode(pairs.captions, max_len=config.max_len, add_bos_eos=True)
    loader = seeded_loader(pairs.inputs, ids, batch_size=config.batch_size, seed=seed)

    def step(batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, t = batch
        t = t[:, : int((t != 0).sum(1).max())]                               # drop all-padding columns
        logits = model.logits(model.encode_image(random_shift(x, config.shift)), t[:, :-1])
        loss = F.cross_entropy(logits.transpose(1, 2), t[:, 1:], ignore_index=0)
        return {"loss": optimizer_step(opt, loss)}

    return train_model(model, step, loader, config, device=device, progress=progress, desc="captioner")
