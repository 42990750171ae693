"""Trainer configurations and option checks (book: "How to use this book").

Every trainer in the library takes one frozen dataclass of hyperparameters instead of a long
argument list -- :class:`~crossmodal_lib.embedding.DualEncoderConfig`,
:class:`~crossmodal_lib.gan.GANConfig`, :class:`~crossmodal_lib.vae.MultimodalVAEConfig`, ...
-- with one comment per field and the book's defaults. A call looks like

    train_dual_encoder(pairs, DualEncoderConfig(loss="triplet"), seed=0)
    train_dual_encoder(pairs, loss="triplet", seed=0)       # the same: keyword overrides

and the config that was used is kept on the model (``model.config``), so a benchmark can
record ``dataclasses.asdict(model.config)`` beside its numbers. This module holds the two
small helpers all trainers share:

* :func:`resolve_config` -- the config to use: the given one (or the defaults) with keyword
  overrides applied; a misspelled name raises a ``TypeError`` that lists the valid fields.
* :func:`check_choice` -- one clear ``ValueError`` for every string option
  (``loss``, ``positives``, ``posterior``...) that lists the allowed values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

__all__ = ["check_choice", "resolve_config"]

C = TypeVar("C")


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``; else raise a ``ValueError`` naming them all.

    >>> check_choice("loss", "hinge", ("minimax", "hinge"))
    'hinge'
    >>> check_choice("loss", "mse", ("minimax", "hinge"))
    Traceback (most recent call last):
    ValueError: loss must be one of 'minimax', 'hinge'; got 'mse'
    """
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


def resolve_config(cls: type[C], config: C | None, overrides: Mapping[str, Any]) -> C:
    """``config`` (default: ``cls()``) with the keyword ``overrides`` applied (``dataclasses.replace``).

    Raises ``TypeError`` if ``config`` is not a ``cls`` or an override is not one of its fields
    (the message lists the valid ones), so a typo such as ``epoch=5`` cannot be silently ignored.

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Demo:
    ...     epochs: int = 10
    >>> resolve_config(Demo, None, {"epochs": 3})
    Demo(epochs=3)
    >>> resolve_config(Demo, None, {"epoch": 3})
    Traceback (most recent call last):
    TypeError: Demo has no field 'epoch'; valid fields: epochs
    """
    if config is None:
        config = cls()
    elif not isinstance(config, cls):
        raise TypeError(f"config must be a {cls.__name__}, got {type(config).__name__}")
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in overrides if k not in fields]
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise TypeError(f"{cls.__name__} has no field {names}; valid fields: {', '.join(fields)}")
    return dataclasses.replace(config, **overrides) if overrides else config
