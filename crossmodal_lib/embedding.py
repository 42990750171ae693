"""Shared embedding spaces: CCA, contrastive (InfoNCE / CLIP) and triplet learning (book: Part 3.1).

The source chapter writes the embedding model as one map ``f: X -> Y``. A *shared* space needs
one encoder per modality, ``f(x)`` for inputs and ``g(t)`` for captions, both landing in the same
``R^d``, and an objective that pulls each pair together and pushes non-pairs apart:

* :class:`~crossmodal_lib.cca.LinearCCA` -- the classical answer (Hotelling, 1936): linear
  maps that maximise the correlation of paired projections, in closed form from the SVD of
  the whitened cross-covariance (in :mod:`crossmodal_lib.cca`, re-exported here).
* :func:`info_nce` -- the contrastive loss of CLIP (Radford et al., 2021): softmax cross-entropy
  over the similarities in a batch, symmetric in the two directions, with a learnable
  temperature.
* :func:`triplet_loss` -- the hinge loss of VSE++ (Faghri et al., 2018) on the hardest negative.

:func:`train_dual_encoder` trains a :class:`DualEncoder` on a :class:`~crossmodal_lib.data.PairedDataset`
with the hyperparameters of a :class:`DualEncoderConfig`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from .cca import LinearCCA
from .config import check_choice, resolve_config
from .data import PairedDataset
from .encoders import ConvImageEncoder, TextEncoder, encoder_for, text_encoder_for
from .text import Unknown, Vocabulary
from .training import optimizer_step, resolve_device, seeded_loader, set_seed, train_model

__all__ = [
    "DualEncoder",
    "DualEncoderConfig",
    "LinearCCA",
    "dual_encoder_loss",
    "gaussian_mutual_information",
    "group_ids",
    "info_nce",
    "nce_rows",
    "positive_mask",
    "random_shift",
    "train_dual_encoder",
    "triplet_loss",
    "use_hardest_negative",
]

#: CLIP's initial temperature 0.07, stored as log(1 / 0.07); the scale is clamped to [1, 100].
INIT_LOG_SCALE = math.log(1 / 0.07)
MAX_LOG_SCALE = math.log(100.0)


# --------------------------------------------------------------------------------------
# Objectives
# --------------------------------------------------------------------------------------
def _check_pair_batch(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.dim() != 2 or b.dim() != 2 or a.shape != b.shape:
        raise ValueError(f"expected two [B, d] embedding batches of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if len(a) == 0:
        raise ValueError("empty batch: a contrastive loss needs at least one pair")


def positive_mask(n: int, *, groups: torch.Tensor | None = None, device: torch.device | None = None) -> torch.Tensor:
    """Boolean ``[n, n]`` mask of the pairs to treat as positives.

    Without ``groups`` only the diagonal (each item with its own partner). With ``groups``
    ``[n]`` (ints: a caption id, or a class label) every pair in the same group is positive,
    so identical captions -- or captions of the same class -- are never used as negatives.
    With ``groups`` ``[n, k]`` (k keys per item) two items are positives if any key is equal.
    """
    if groups is None:
        return torch.eye(n, dtype=torch.bool, device=device)
    if groups.dim() == 1:
        groups = groups[:, None]
    if groups.dim() != 2 or len(groups) != n:
        raise ValueError(f"groups must have shape [{n}] or [{n}, k], got {tuple(groups.shape)}")
    return (groups[:, None, :] == groups[None, :, :]).any(-1)


def info_nce(image_emb: torch.Tensor, text_emb: torch.Tensor, scale: torch.Tensor | float,
             positives: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE (the CLIP loss), eq. (eq-infonce) of Part 3.1.

    ``image_emb``, ``text_emb``: ``[B, d]``, L2-normalised rows; pair i is (image i, text i).
    ``scale`` = 1 / temperature. With logits ``s_ij = scale * <u_i, v_j>``, the image-to-text
    loss of row i is ``-log( sum_{j in P(i)} exp s_ij / sum_j exp s_ij )`` (P(i) = positives of
    i, by default {i}), the text-to-image loss is the same on the transposed matrix, and the
    result is their average over the batch. With the default positives this is exactly
    ``(CE(S, arange) + CE(S^T, arange)) / 2``.
    """
    _check_pair_batch(image_emb, text_emb)
    logits = scale * image_emb @ text_emb.T                                       # [B, B]
    pos = positive_mask(len(logits), device=logits.device) if positives is None else positives
    if pos.shape != logits.shape or not pos.diagonal().all():
        raise ValueError("positives must be a [B, B] boolean mask that includes the diagonal")
    return (nce_rows(logits, pos) + nce_rows(logits.T, pos.T)) / 2


def nce_rows(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """One direction of eq-infonce: the mean over rows of ``-log(sum_{j in P(i)} exp s_ij / sum_j exp s_ij)``.

    ``logits`` ``[R, N]`` (a row per query, a column per candidate), ``positives`` a boolean
    ``[R, N]`` mask with at least one positive per row. Any ``R`` rows of a larger batch may be
    passed: the distributed loss gives each process only its own rows.
    """
    return (torch.logsumexp(logits, dim=1) - torch.logsumexp(logits.masked_fill(~positives, float("-inf")), dim=1)).mean()


def triplet_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, margin: float = 0.2, hardest: bool = True,
                 positives: torch.Tensor | None = None) -> torch.Tensor:
    """Bidirectional hinge (triplet) loss; with ``hardest=True`` the VSE++ max-of-hinges.

    With similarities ``s_ij = <u_i, v_j>`` and margin m, each pair i is penalised by
    ``[m + s_ij' - s_ii]_+`` for negative captions j' and ``[m + s_j'i - s_ii]_+`` for negative
    images j'. ``hardest=True`` keeps only the largest violation in each direction (VSE++);
    ``hardest=False`` sums over all negatives. Pairs marked in ``positives`` are not negatives.
    Returns the mean over the batch.
    """
    _check_pair_batch(image_emb, text_emb)
    sim = image_emb @ text_emb.T                                                   # [B, B]
    pos = positive_mask(len(sim), device=sim.device) if positives is None else positives
    diag = sim.diagonal()
    cost_text = (margin + sim - diag[:, None]).clamp(min=0).masked_fill(pos, 0.0)   # image anchors
    cost_image = (margin + sim - diag[None, :]).clamp(min=0).masked_fill(pos, 0.0)  # caption anchors
    if hardest:
        return (cost_text.max(dim=1).values + cost_image.max(dim=0).values).mean()
    return (cost_text.sum(dim=1) + cost_image.sum(dim=0)).mean()


def gaussian_mutual_information(rho: float, dim: int = 1) -> float:
    """I(X; Y) in nats for ``dim`` independent pairs of standard Gaussians with correlation rho."""
    if not -1 < rho < 1:
        raise ValueError(f"rho must be in (-1, 1), got {rho}")
    return -0.5 * dim * math.log(1 - rho**2)


# --------------------------------------------------------------------------------------
# The dual encoder
# --------------------------------------------------------------------------------------
class DualEncoder(nn.Module):
    """Two towers into one normalised space: ``f(x)`` for inputs, ``g(t)`` for captions.

    Two pairs of methods, one for each use:

    * training -- ``forward_inputs(x [B, ...])`` and ``forward_ids(ids [B, T])``: the forward
      pass on the model's device, in its current mode, *with* gradients;
    * evaluation -- ``encode_inputs(x [N, ...]) -> [N, d]`` and ``encode_texts(list[str]) -> [M, d]``:
      batched, in eval mode, *without* gradients, results on the CPU whatever device the
      model is on; captions are tokenised and unknown words raise.

    All four return L2-normalised rows. The learnable temperature is stored as ``log_scale`` (scale = 1 / T),
    initialised at log(1/0.07) and clamped to [0, log 100] when used.
    """

    def __init__(self, vocab: Vocabulary, dim: int = 32, input_encoder: nn.Module | None = None,
                 text_encoder: nn.Module | None = None, hidden: int = 128) -> None:
        super().__init__()
        self.vocab, self.dim = vocab, dim
        self.input_encoder = input_encoder if input_encoder is not None else ConvImageEncoder(hidden)
        self.text_encoder = text_encoder if text_encoder is not None else TextEncoder(len(vocab), hidden)
        self.input_proj = nn.Sequential(nn.ReLU(), nn.Linear(self.input_encoder.out_dim, dim))
        self.text_proj = nn.Sequential(nn.ReLU(), nn.Linear(self.text_encoder.out_dim, dim))
        self.log_scale = nn.Parameter(torch.tensor(INIT_LOG_SCALE))
        self.history: dict[str, list[float]] = {}

    @property
    def scale(self) -> torch.Tensor:
        """1 / temperature, clamped to [1, 100]."""
        return self.log_scale.clamp(0.0, MAX_LOG_SCALE).exp()

    def forward_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, ...] -> [B, d]``, normalised, with gradients (for training)."""
        return F.normalize(self.input_proj(self.input_encoder(x)), dim=-1)

    def forward_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` token ids -> ``[B, d]``, normalised, with gradients (for training)."""
        return F.normalize(self.text_proj(self.text_encoder(ids)), dim=-1)

    def _device(self) -> torch.device:
        return self.log_scale.device

    @torch.no_grad()
    def _encode_batches(self, embed, items, batch_size: int) -> torch.Tensor:
        """Apply ``embed`` to slices of ``items`` in eval mode; CPU result, training mode restored."""
        was_training = self.training
        self.eval()
        try:
            return torch.cat([embed(items[i:i + batch_size]).cpu() for i in range(0, len(items), batch_size)])
        finally:
            self.train(was_training)

    def encode_inputs(self, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """Inputs ``[N, ...]`` -> ``[N, d]`` on the CPU, normalised, without gradients."""
        if len(x) == 0:
            raise ValueError("encode_inputs got an empty batch")
        return self._encode_batches(lambda b: self.forward_inputs(b.to(self._device())), x, batch_size)

    def encode_texts(self, captions: Sequence[str], batch_size: int = 1024, unknown: Unknown = "error") -> torch.Tensor:
        """Captions -> ``[M, d]`` on the CPU. Unknown words raise ``ValueError`` naming them, or with
        ``unknown="unk"`` become the ``<unk>`` token (see :meth:`crossmodal_lib.text.Vocabulary.ids`)."""
        if isinstance(captions, str):
            raise TypeError("encode_texts expects a list of captions; wrap a single caption in a list")
        if len(captions) == 0:
            raise ValueError("encode_texts got an empty list of captions")
        return self._encode_batches(lambda b: self.forward_ids(self.vocab.encode(b, unknown=unknown).to(self._device())),
                                    list(captions), batch_size)


def random_shift(x: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Translate each ``[B, C, H, W]`` image by a random integer offset of at most ``max_shift``
    pixels in each direction, without cropping ink.

    The offsets are drawn per image, uniformly among those that keep all of its ink inside the
    frame: an image may move down only as far as it has blank rows at the bottom, and so on
    (a digit that touches the top and bottom rows is not moved vertically at all; every one of
    scikit-learn's digits does, since they were normalised to the full height, so on the
    book's digits the shift is horizontal). What moves in from the other side is zero padding.
    The augmentation changes *where* a digit is, never how much ink it has or how it leans, so
    it cannot move an image across a thickness or slant tercile of its caption.
    """
    b, _, h, w = x.shape
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift}")
    ink = x.abs().sum(1) > 0                                                       # [B, H, W]
    offsets = [_free_offsets(ink.any(2), max_shift, x.device), _free_offsets(ink.any(1), max_shift, x.device)]
    padded = F.pad(x, (max_shift,) * 4)
    (lo_y, hi_y), (lo_x, hi_x) = offsets
    dy = lo_y + (torch.rand(b, device=x.device) * (hi_y - lo_y + 1)).long()       # in [lo, hi]
    dx = lo_x + (torch.rand(b, device=x.device) * (hi_x - lo_x + 1)).long()
    rows = (max_shift - dy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # [B, H, 1]
    cols = (max_shift - dx[:, None] + torch.arange(w, device=x.device))[:, None, :]  # [B, 1, W]
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def _free_offsets(occupied: torch.Tensor, max_shift: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """For ``occupied [B, L]`` (does line i hold ink?), the smallest and largest shift ``[B]`` each
    that keep every inked line inside ``[0, L)``, limited to ``[-max_shift, max_shift]``."""
    length = occupied.shape[1]
    idx = torch.arange(length, device=device).expand_as(occupied)
    first = torch.where(occupied, idx, length).min(1).values                      # blank image: no limit
    last = torch.where(occupied, idx, -1).max(1).values
    lo = torch.clamp(-first, min=-max_shift).clamp(max=0)
    hi = torch.clamp(length - 1 - last, max=max_shift).clamp(min=0)
    return lo, hi


#: How the positives of a batch are chosen (see :func:`group_ids`).
Positives = Literal["pair", "caption", "description", "class"]
POSITIVES = ("pair", "caption", "description", "class")
LOSSES = ("infonce", "triplet")


def group_ids(pairs: PairedDataset, positives: Positives) -> torch.Tensor:
    """Group keys ``[N, 2]`` of the pairs; two pairs are positives if *any* key is equal.

    The second key is the source item (``pairs.indices``: the same image captioned in two
    languages, after :func:`~crossmodal_lib.data.concat_pairs`), so an image's English and
    Chinese captions are never each other's negatives. The first key depends on ``positives``:
    ``"pair"`` (only the item itself), ``"caption"`` (identical caption strings),
    ``"description"`` (same digit and attribute levels: the same meaning in other words) or
    ``"class"`` (same label).
    """
    check_choice("positives", positives, POSITIVES)
    if positives == "pair":
        key = torch.arange(len(pairs))
    elif positives == "caption":  # identical caption strings share an id
        ids: dict[str, int] = {}
        key = torch.tensor([ids.setdefault(c, len(ids)) for c in pairs.captions])
    elif positives == "description":
        keys = torch.stack([pairs.labels, *pairs.attributes.values()], dim=1)
        key = torch.unique(keys, dim=0, return_inverse=True)[1]
    else:
        key = pairs.labels.clone()
    source = pairs.indices if pairs.indices is not None else torch.arange(len(pairs))
    return torch.stack([key, source.to(torch.int64)], dim=1)


@dataclass(frozen=True)
class DualEncoderConfig:
    """Hyperparameters of :func:`train_dual_encoder`; the defaults are the book's (Part 3.1)."""

    loss: Literal["infonce", "triplet"] = "infonce"  # InfoNCE (eq-infonce) or the VSE++ hinge (eq-triplet)
    positives: Positives = "caption"  # which other pairs of a batch are not negatives (group_ids)
    dim: int = 32                     # dimension d of the shared space
    hidden: int = 128                 # width of each tower before its projection head
    epochs: int = 25                  # passes over the training pairs (test accuracy is flat from about 20 on)
    batch_size: int = 128             # pairs per batch: each pair has batch_size - 1 negatives
    lr: float = 2e-3                  # AdamW learning rate
    weight_decay: float = 1e-4        # AdamW weight decay (never on the temperature)
    margin: float = 0.2               # hinge margin of the triplet loss
    learn_temperature: bool = False   # learn the temperature (CLIP) or keep it fixed
    temperature: float = 0.3          # the fixed temperature, or the starting one if learned
    warmup_epochs: int = 5            # triplet: epochs summing over all negatives before the hardest only
    shift: int | None = None          # random_shift of training images by up to this many pixels; None: 1 for images, 0 otherwise
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None  # applied to every training batch of inputs after the shift (Part 7.3e)
    precision: Literal["float32", "bfloat16"] = "float32"  # bfloat16: the towers run under torch.autocast (Part 6b)
    encoder_options: Mapping[str, Any] = field(default_factory=dict)  # passed to encoders.encoder_for
    text_tower: Literal["gru", "transformer", "bag"] = "gru"  # the caption tower (encoders.text_encoder_for; Part 7.1)


def use_hardest_negative(step: int, warmup_steps: int) -> bool:
    """The VSE++ warm-up schedule: optimiser steps ``0 .. warmup_steps - 1`` sum the hinge over all
    negatives, later steps keep only the hardest negative. Mining the hardest negative of an
    untrained model from the first step makes training collapse (Faghri et al., 2018)."""
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    return step >= warmup_steps


def dual_encoder_loss(model: DualEncoder, x: torch.Tensor, ids: torch.Tensor, groups: torch.Tensor,
                      config: DualEncoderConfig, hardest: bool = True) -> torch.Tensor:
    """The training loss of one batch: inputs ``x [B, ...]``, token ids ``[B, T]``, group keys
    ``[B, k]`` (:func:`group_ids`). InfoNCE (eq-infonce) at the model's temperature, or the
    triplet loss (eq-triplet) on the hardest negative (``hardest=True``) or on all of them. With
    ``precision="bfloat16"`` the towers run under ``torch.autocast`` without a weight cache (so
    every step casts the current weights, even inside a caller's own autocast region). The loss
    is always computed in float32, with autocast switched off, on any device."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=config.precision == "bfloat16", cache_enabled=False):
        u, v = model.forward_inputs(x), model.forward_ids(ids)
    with torch.autocast(x.device.type, enabled=False):
        u, v = u.float(), v.float()
        pos = positive_mask(len(groups), groups=groups)
        if config.loss == "infonce":
            return info_nce(u, v, model.scale, pos)
        return triplet_loss(u, v, config.margin, hardest, pos)


def _dual_encoder_for(pairs: PairedDataset, config: DualEncoderConfig, vocab: Vocabulary) -> DualEncoder:
    """A fresh model: the input tower follows the data (encoder_for), the temperature the config."""
    tower = encoder_for(pairs.modality, pairs.inputs.shape[1:], config.hidden, **config.encoder_options)
    text = text_encoder_for(config.text_tower, len(vocab), config.hidden)
    model = DualEncoder(vocab, dim=config.dim, hidden=config.hidden, input_encoder=tower, text_encoder=text)
    with torch.no_grad():
        model.log_scale.fill_(math.log(1 / config.temperature))
    model.log_scale.requires_grad_(config.learn_temperature)
    return model


def train_dual_encoder(pairs: PairedDataset, config: DualEncoderConfig | None = None, *, seed: int = 0,
                       device: torch.device | str | None = None, vocab: Vocabulary | None = None,
                       progress: bool | str = True, **overrides: Any) -> DualEncoder:
    """Train a :class:`DualEncoder` on paired data (Part 3.1); hyperparameters in :class:`DualEncoderConfig`.

    ``config`` (default ``DualEncoderConfig()``) with keyword ``overrides`` applied:
    ``train_dual_encoder(pairs, loss="triplet")``. The input tower follows from the data
    (:func:`~crossmodal_lib.encoders.encoder_for` on ``pairs.modality``), so spectrograms and
    clips train with no other change; ``shift`` augmentation is for images only. The
    temperature is fixed unless ``learn_temperature`` (then it gets no weight decay). The
    vocabulary is built from ``pairs.captions`` unless given. ``progress``: a bar (``True``),
    a bar with this label (a string) or none. Returns the model on the CPU in eval mode, with
    ``model.config``, ``model.history`` (per-epoch ``loss`` and ``temperature``) and
    ``model.train_seconds``.
    """
    config = resolve_config(DualEncoderConfig, config, overrides)
    check_choice("loss", config.loss, LOSSES)
    check_choice("precision", config.precision, ("float32", "bfloat16"))
    shift = config.shift if config.shift is not None else (1 if pairs.modality == "image" else 0)
    if shift and pairs.modality != "image":
        raise ValueError(f"shift augmentation is for images; got shift={shift} for {pairs.modality!r} data")
    groups = group_ids(pairs, config.positives)
    set_seed(seed)
    device = resolve_device(device)
    vocab = vocab if vocab is not None else Vocabulary.build(pairs.captions, pairs.lang)
    model = _dual_encoder_for(pairs, config, vocab).to(device)
    decay = [p for n, p in model.named_parameters() if n != "log_scale"]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                             {"params": [model.log_scale], "weight_decay": 0.0}], lr=config.lr, foreach=True)
    loader = seeded_loader(pairs.inputs, vocab.encode(pairs.captions), groups, batch_size=config.batch_size,
                           seed=seed, drop_last=len(pairs) > config.batch_size)
    warmup_steps, steps = config.warmup_epochs * len(loader), itertools.count()

    def step(batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        x, ids, g = batch
        hardest = use_hardest_negative(next(steps), warmup_steps)
        x = random_shift(x, shift) if shift else x
        loss = dual_encoder_loss(model, config.augment(x) if config.augment else x, ids, g, config, hardest)
        return {"loss": optimizer_step(opt, loss), "temperature": 1.0 / model.scale.detach()}

    return train_model(model, step, loader, config, device=device, progress=progress,
                       desc=f"dual encoder ({config.loss})")
