"""The feedback every checker returns, and the safe call of a student's function."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["Feedback"]


@dataclass(frozen=True)
class Feedback:
    correct: bool
    message: str

    def __bool__(self) -> bool:
        return self.correct

    def __str__(self) -> str:
        verdict = "✅ Correct. " if self.correct else "❌ Not yet. "
        return textwrap.fill(verdict + self.message, width=88)

    def _repr_markdown_(self) -> str:
        return str(self)


def _call(fn: Callable, *args: object) -> tuple[torch.Tensor | None, str]:
    try:
        out = fn(*args)
    except Exception as exc:  # noqa: BLE001 -- the student's code may raise anything
        return None, f"your function raised {type(exc).__name__}: {exc}"
    try:
        return torch.as_tensor(out, dtype=torch.float32).reshape(-1), ""
    except Exception:  # noqa: BLE001
        return None, f"your function returned {type(out).__name__}, which is not a number or an array of numbers"
