"""Shared embedding spaces: CCA, contrastive (InfoNCE / CLIP) and triplet learning (book: Part 3.1).

The source chapter writes the embedding model as one map ``f: X -> Y``. A *shared* space needs
one encoder per modality, ``f(x)`` for inputs and ``g(t)`` for captions, both landing in the same
``R^d``, and an objective that pulls each pair together and pushes non-pairs apart:

* :class:`LinearCCA` -- the classical answer (Hotelling, 1936): linear maps that maximise the
  correlation of paired projections, in closed form from the SVD of the whitened
  cross-covariance.
* :func:`info_nce` -- the contrastive loss of CLIP (Radford et al., 2021): softmax cross-entropy
  over the similarities in a batch, symmetric in the two directions, with a learnable
  temperature.
* :func:`triplet_loss` -- the hinge loss of VSE++ (Faghri et al., 2018) on the hardest negative.

:func:`train_dual_encoder` trains a :class:`DualEncoder` on a :class:`~crossmodal_lib.data.PairedDataset`
with the book's default settings.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from .data import PairedDataset
from .encoders import ConvImageEncoder, TextEncoder, encoder_for
from .text import Vocabulary
from .training import get_device, set_seed, train

__all__ = [
    "DualEncoder",
    "LinearCCA",
    "gaussian_mutual_information",
    "info_nce",
    "positive_mask",
    "random_shift",
    "train_dual_encoder",
    "triplet_loss",
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
    (``[n]`` ints: a caption id, or a class label), every pair in the same group is positive,
    so identical captions -- or captions of the same class -- are never used as negatives.
    """
    if groups is None:
        return torch.eye(n, dtype=torch.bool, device=device)
    if groups.shape != (n,):
        raise ValueError(f"groups must have shape [{n}], got {tuple(groups.shape)}")
    return groups[:, None] == groups[None, :]


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

    def one_way(s: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return (torch.logsumexp(s, dim=1) - torch.logsumexp(s.masked_fill(~p, float("-inf")), dim=1)).mean()

    return (one_way(logits, pos) + one_way(logits.T, pos.T)) / 2


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
# CCA
# --------------------------------------------------------------------------------------
def _inverse_sqrt(c: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(c)
    return vectors @ torch.diag(values.rsqrt()) @ vectors.T


class LinearCCA:
    """Canonical correlation analysis in closed form (book: Part 3.1, eq. (eq-cca-svd)).

    With centred data, covariances ``Cxx``, ``Cyy`` (plus ``reg * I``) and cross-covariance
    ``Cxy``, the SVD ``Cxx^{-1/2} Cxy Cyy^{-1/2} = U S V^T`` gives the projections
    ``Wx = Cxx^{-1/2} U_k`` and ``Wy = Cyy^{-1/2} V_k`` and the canonical correlations
    ``S_k``. Works in float64. ``fit(X [N, p], Y [N, q])``, then ``transform_x``, ``transform_y``
    or ``transform``. ``reg`` (ridge on both covariances) keeps the whitening stable when a
    view has (nearly) collinear features, as bag-of-words captions do.
    """

    def __init__(self, n_components: int, reg: float = 1e-3) -> None:
        if n_components < 1:
            raise ValueError(f"n_components must be >= 1, got {n_components}")
        self.n_components, self.reg = n_components, reg

    def fit(self, X: torch.Tensor | np.ndarray, Y: torch.Tensor | np.ndarray) -> LinearCCA:
        X, Y = (torch.as_tensor(np.asarray(v), dtype=torch.float64) for v in (X, Y))
        if X.dim() != 2 or Y.dim() != 2 or len(X) != len(Y):
            raise ValueError(f"expected paired matrices [N, p] and [N, q], got {tuple(X.shape)} and {tuple(Y.shape)}")
        k = self.n_components
        if k > min(X.shape[1], Y.shape[1]) or len(X) < 2:
            raise ValueError(f"cannot extract {k} components from {tuple(X.shape)} and {tuple(Y.shape)}")
        self.mean_x, self.mean_y = X.mean(0), Y.mean(0)
        Xc, Yc = X - self.mean_x, Y - self.mean_y
        n = len(X) - 1
        cxx = Xc.T @ Xc / n + self.reg * torch.eye(X.shape[1], dtype=X.dtype)
        cyy = Yc.T @ Yc / n + self.reg * torch.eye(Y.shape[1], dtype=Y.dtype)
        cxy = Xc.T @ Yc / n
        kx, ky = _inverse_sqrt(cxx), _inverse_sqrt(cyy)
        U, S, Vh = torch.linalg.svd(kx @ cxy @ ky)
        self.Wx, self.Wy = kx @ U[:, :k], ky @ Vh.T[:, :k]
        self.correlations = S[:k]
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "Wx"):
            raise RuntimeError("call fit() before transforming data")

    def transform_x(self, X: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Project the first view: ``[N, p] -> [N, k]`` canonical variates (float32)."""
        self._check_fitted()
        return ((torch.as_tensor(np.asarray(X), dtype=torch.float64) - self.mean_x) @ self.Wx).float()

    def transform_y(self, Y: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Project the second view: ``[N, q] -> [N, k]`` canonical variates (float32)."""
        self._check_fitted()
        return ((torch.as_tensor(np.asarray(Y), dtype=torch.float64) - self.mean_y) @ self.Wy).float()

    def transform(self, X: torch.Tensor | np.ndarray, Y: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Both views at once: ``(transform_x(X), transform_y(Y))``."""
        return self.transform_x(X), self.transform_y(Y)


# --------------------------------------------------------------------------------------
# The dual encoder
# --------------------------------------------------------------------------------------
class DualEncoder(nn.Module):
    """Two towers into one normalised space: ``f(x)`` for inputs, ``g(t)`` for captions.

    ``encode_inputs(x [N, ...]) -> [N, d]`` and ``encode_texts(list[str]) -> [M, d]`` return
    L2-normalised rows on the CPU, in eval mode and without gradients, whatever device the
    model is on. The learnable temperature is stored as ``log_scale`` (scale = 1 / T),
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

    def embed_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, ...] -> [B, d]``, normalised, with gradients (for training)."""
        return F.normalize(self.input_proj(self.input_encoder(x)), dim=-1)

    def embed_ids(self, ids: torch.Tensor) -> torch.Tensor:
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
        return self._encode_batches(lambda b: self.embed_inputs(b.to(self._device())), x, batch_size)

    def encode_texts(self, captions: Sequence[str], batch_size: int = 1024) -> torch.Tensor:
        """Captions -> ``[M, d]`` on the CPU. Unknown words raise ``ValueError`` naming them
        (see :meth:`crossmodal_lib.text.Vocabulary.ids`)."""
        if isinstance(captions, str):
            raise TypeError("encode_texts expects a list of captions; wrap a single caption in a list")
        if len(captions) == 0:
            raise ValueError("encode_texts got an empty list of captions")
        return self._encode_batches(lambda b: self.embed_ids(self.vocab.encode(b).to(self._device())),
                                    list(captions), batch_size)


def random_shift(x: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Translate each ``[B, C, H, W]`` image by a random integer offset in [-max_shift, max_shift]
    in each direction, filling with zeros (no wrap-around; ink pushed past the border is lost)."""
    b, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    dy, dx = (torch.randint(0, 2 * max_shift + 1, (b,), device=x.device) for _ in range(2))
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]           # [B, H, 1]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]           # [B, 1, W]
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def _group_ids(pairs: PairedDataset, positives: str) -> torch.Tensor:
    if positives == "pair":
        return torch.arange(len(pairs))
    if positives == "caption":  # identical caption strings share an id
        ids: dict[str, int] = {}
        return torch.tensor([ids.setdefault(c, len(ids)) for c in pairs.captions])
    if positives == "description":  # same digit and same attribute levels: same meaning, other words
        keys = torch.stack([pairs.labels, *pairs.attributes.values()], dim=1)
        return torch.unique(keys, dim=0, return_inverse=True)[1]
    if positives == "class":
        return pairs.labels.clone()
    raise ValueError(f"positives must be 'pair', 'caption', 'description' or 'class', got {positives!r}")


def train_dual_encoder(pairs: PairedDataset, *, seed: int = 0, device: torch.device | str | None = None,
                       loss: str = "infonce", positives: str = "caption", dim: int = 32, hidden: int = 128,
                       epochs: int = 35, batch_size: int = 128, lr: float = 2e-3, weight_decay: float = 1e-4,
                       margin: float = 0.2, learn_temperature: bool = False, temperature: float = 0.3,
                       warmup_epochs: int = 5, shift: int | None = None, encoder_options: dict | None = None,
                       vocab: Vocabulary | None = None, progress: bool = True, desc: str | None = None) -> DualEncoder:
    """Train a :class:`DualEncoder` on paired data with the book's default settings.

    ``loss``: ``"infonce"`` (default) or ``"triplet"`` (VSE++: the sum of hinges over all
    negatives for ``warmup_epochs``, then the hardest negative only). ``positives``:
    which other pairs in a batch are *not* negatives -- ``"pair"`` (none), ``"caption"``
    (identical captions, default), ``"description"`` (same digit and attribute levels) or
    ``"class"`` (same label). The temperature is fixed at ``temperature`` (default 0.3, which
    Part 3.1 shows works better on this small dataset); with ``learn_temperature=True`` it is
    learned from that starting value, without weight decay (``temperature=0.07`` gives CLIP's
    setting). ``shift``: each training image is translated by up to this many pixels (a
    different random shift every time it is seen). Digits touch the top and bottom rows, so a
    shift crops a little ink and can move an image across a thickness or slant tercile: the
    augmentation also adds some attribute noise. It applies to images only: the default
    (``None``) is 1 for images and 0 for speech and video. The input tower follows from the
    data (:func:`~crossmodal_lib.encoders.encoder_for` on ``pairs.modality`` and the input shape,
    with ``encoder_options``), so spectrograms and clips train with no other change. The vocabulary is built from
    ``pairs.captions`` unless given. Returns the model on the CPU in eval mode, with
    ``model.history`` (per-epoch ``loss`` and ``temperature``) and ``model.train_seconds``.
    """
    if loss not in ("infonce", "triplet"):
        raise ValueError(f"loss must be 'infonce' or 'triplet', got {loss!r}")
    if shift is None:
        shift = 1 if pairs.modality == "image" else 0
    elif shift and pairs.modality != "image":
        raise ValueError(f"shift augmentation is for images; got shift={shift} for {pairs.modality!r} data")
    set_seed(seed)
    device = torch.device(device) if device is not None else get_device()
    vocab = vocab if vocab is not None else Vocabulary.build(pairs.captions, pairs.lang)
    ids = vocab.encode(pairs.captions)
    groups = _group_ids(pairs, positives)
    tower = encoder_for(pairs.modality, pairs.inputs.shape[1:], hidden, **(encoder_options or {}))
    model = DualEncoder(vocab, dim=dim, hidden=hidden, input_encoder=tower).to(device)
    with torch.no_grad():
        model.log_scale.fill_(math.log(1 / temperature))
    model.log_scale.requires_grad_(learn_temperature)
    decay = [p for n, p in model.named_parameters() if n != "log_scale"]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": [model.log_scale], "weight_decay": 0.0}], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    loader = DataLoader(TensorDataset(pairs.inputs, ids, groups), batch_size=batch_size, shuffle=True,
                        generator=gen, drop_last=len(pairs) > batch_size)

    warmup_steps = warmup_epochs * len(loader)
    steps = [0]

    def step(batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        x, t, g = batch
        hardest = steps[0] >= warmup_steps
        steps[0] += 1
        if shift:
            x = random_shift(x, shift)
        u, v = model.embed_inputs(x), model.embed_ids(t)
        pos = positive_mask(len(g), groups=g)
        if loss == "infonce":
            value = info_nce(u, v, model.scale, pos)
        else:  # all negatives during warm-up: hardest-negative mining from scratch collapses
            value = triplet_loss(u, v, margin, hardest, pos)
        opt.zero_grad(set_to_none=True)
        if torch.isfinite(value):  # train() stops with a clear message otherwise
            value.backward()
            opt.step()
        return {"loss": value, "temperature": 1.0 / model.scale.detach()}

    model.train()
    start = time.perf_counter()
    model.history = train(step, loader, epochs=epochs, device=device, progress=progress,
                          desc=desc or f"dual encoder ({loss})")
    model.train_seconds = time.perf_counter() - start
    return model.cpu().eval()
