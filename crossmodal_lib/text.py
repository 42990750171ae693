"""Turning captions into integer tensors (book: Part 2, "The heterogeneity gap").

A neural network reads numbers, not strings, so each caption becomes a sequence of token
ids. We use one simple, fully transparent scheme for both languages:

* English is split into lower-case words and single digits: "The digit 7, bold" ->
  ``["the", "digit", "7", "bold"]``.
* Chinese has no spaces between words, so it is split into characters (punctuation dropped):
  "笔画很粗的七" -> ``["笔", "画", "很", "粗", "的", "七"]``.
* ``"multi"`` applies both rules to a caption in either language, for one vocabulary shared
  by English and Chinese (cross-lingual retrieval, Part 3.1).

:class:`Vocabulary` maps tokens to ids, with four reserved ids: ``<pad>`` = 0 (fills short
captions in a batch), ``<unk>`` = 1 (unknown tokens, only when asked for), ``<bos>`` = 2 and
``<eos>`` = 3 (start/end markers for caption *generation* in later parts).
An unknown word raises a ``ValueError`` that names it, unless ``unknown="unk"`` is passed.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Literal

import torch

from .config import check_choice

__all__ = ["PAD", "UNK", "BOS", "EOS", "Vocabulary", "tokenize"]

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)
_EN_TOKEN = re.compile(r"[a-z]+|[0-9]")
_MULTI_TOKEN = re.compile(r"[a-z]+|[0-9]|[\u3400-\u4dbf\u4e00-\u9fff]")
Lang = Literal["en", "zh", "multi"]
Unknown = Literal["error", "unk"]


def tokenize(text: str, lang: Lang = "en") -> list[str]:
    """Split a caption into tokens: words and digits (``"en"``), characters (``"zh"``), or both (``"multi"``).

    Spaces and punctuation are dropped; a letter or number that the rule cannot read (a Chinese
    character in an English caption, an accented letter) raises ``ValueError`` instead of being
    dropped silently."""
    if not isinstance(text, str):
        raise TypeError(f"expected a str caption, got {type(text).__name__}")
    if lang == "zh":
        # keep letters and numbers (Unicode categories L*, N*); drop spaces and punctuation
        return [ch for ch in text if unicodedata.category(ch)[0] in "LN"]
    check_choice("lang", lang, ("en", "zh", "multi"))
    pattern = _EN_TOKEN if lang == "en" else _MULTI_TOKEN
    text = text.lower()
    unread = list(dict.fromkeys(ch for ch in pattern.sub("", text) if unicodedata.category(ch)[0] in "LN"))
    if unread:  # letters or numbers the rule would drop: refuse rather than read a different caption
        readable = "a-z and 0-9" if lang == "en" else "a-z, 0-9 and Chinese characters"
        raise ValueError(f"the {lang!r} tokenizer cannot read {''.join(unread[:10])!r} in caption {text!r}: it reads "
                         f"{readable} (Chinese captions: lang='zh'; both languages: lang='multi')")
    return pattern.findall(text)


class Vocabulary:
    """A bijection between tokens and integer ids, built from training captions.

    >>> vocab = Vocabulary.build(["a thick seven", "a thin one"])
    >>> vocab.encode(["a thin seven"]).tolist()
    [[4, 8, 6]]
    """

    def __init__(self, tokens: Sequence[str], lang: Lang = "en") -> None:
        tokens = list(tokens)
        if tokens[: len(SPECIALS)] != list(SPECIALS):
            raise ValueError(f"a vocabulary must start with the special tokens {SPECIALS}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("duplicate tokens in vocabulary")
        self.lang = lang
        self.itos: list[str] = tokens
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def build(cls, captions: Iterable[str], lang: Lang = "en", min_count: int = 1) -> Vocabulary:
        """Collect every token seen at least ``min_count`` times, most frequent first (ties A-Z)."""
        counts = Counter(tok for c in captions for tok in tokenize(c, lang))
        if not counts:
            raise ValueError("cannot build a vocabulary from no captions (or captions with no tokens)")
        kept = sorted((t for t, n in counts.items() if n >= min_count), key=lambda t: (-counts[t], t))
        return cls([*SPECIALS, *kept], lang)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __repr__(self) -> str:
        return f"Vocabulary(lang={self.lang!r}, size={len(self)})"

    def ids(self, caption: str, unknown: Unknown = "error") -> list[int]:
        """Token ids of one caption. ``unknown``: ``"error"`` (default) or ``"unk"``."""
        check_choice("unknown", unknown, ("error", "unk"))
        tokens = tokenize(caption, self.lang)
        missing = [t for t in tokens if t not in self.stoi]
        if missing and unknown == "error":
            raise ValueError(
                f"unknown word(s) {missing} in caption {caption!r}; the vocabulary has {len(self)} tokens. "
                "Use words from the training captions, or pass unknown='unk' to map them to <unk>."
            )
        return [self.stoi.get(t, self.stoi[UNK]) for t in tokens]

    def encode(self, captions: Sequence[str], max_len: int | None = None, unknown: Unknown = "error",
               add_bos_eos: bool = False) -> torch.Tensor:
        """Pad a batch of captions into an int64 tensor ``[B, T]`` (``T`` = longest, or ``max_len``).

        Captions longer than ``max_len`` raise ``ValueError`` rather than being cut silently.
        Padding uses id 0, so ``mask = ids != 0`` marks real tokens.
        """
        if isinstance(captions, str):
            raise TypeError("encode expects a list of captions; wrap a single caption in a list")
        if len(captions) == 0:
            raise ValueError("cannot encode an empty batch of captions")
        rows = [self.ids(c, unknown) for c in captions]
        if add_bos_eos:
            rows = [[self.stoi[BOS], *r, self.stoi[EOS]] for r in rows]
        if any(len(r) == 0 for r in rows):
            raise ValueError("a caption has no tokens: " + repr(captions[[len(r) for r in rows].index(0)]))
        longest = max(len(r) for r in rows)
        T = longest if max_len is None else max_len
        if longest > T:
            raise ValueError(f"a caption has {longest} tokens, more than max_len={T}")
        out = torch.zeros(len(rows), T, dtype=torch.int64)
        for i, r in enumerate(rows):
            out[i, : len(r)] = torch.tensor(r)
        return out

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        """Ids back to text (special tokens dropped; English joined by spaces, Chinese by nothing)."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        tokens = [self.itos[i] for i in ids if self.itos[i] not in SPECIALS]
        return ("" if self.lang == "zh" else " ").join(tokens)

    def bag_of_words(self, captions: Sequence[str], unknown: Unknown = "error") -> torch.Tensor:
        """Token counts per caption, float32 ``[B, V]`` (column j counts token j)."""
        ids = self.encode(captions, unknown=unknown)
        counts = torch.zeros(len(captions), len(self))
        counts.scatter_add_(1, ids, torch.ones_like(ids, dtype=torch.float32))
        counts[:, 0] = 0.0  # padding is not a word
        return counts
