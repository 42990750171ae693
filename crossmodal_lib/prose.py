"""Numbers in the text come from the cells that compute them (book: "How to use this book").

:func:`glue` hands a value computed in a notebook cell to myst-nb, whose ``glue:text`` role
then writes it, with a format such as ``.3f``, into the prose of the built page, so the text
cannot drift from the code. Where myst-nb is not installed (Colab, a plain JupyterLab) the value is
printed instead, so a reader still sees every number the prose refers to.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

__all__ = ["glue"]


def glue(name: str, value: Real) -> None:
    """Glue the number ``value`` under ``name`` for the book's prose (myst-nb), or print it.

    Only finite real numbers are glued (a NaN in the text would be a silent wrong answer).
    NumPy and PyTorch scalars are glued as Python ``int`` or ``float`` (myst-nb formats the
    value's text form, and ``np.float64(0.5)`` is not a number to it). Nothing is returned, so
    a glue call at the end of a cell displays nothing.
    """
    if not isinstance(value, Real) or isinstance(value, bool):
        raise TypeError(f"glue {name!r}: expected a real number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"glue {name!r}: the value is {value}, not a finite number")
    value = int(value) if isinstance(value, Integral) else float(value)
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        print(f"{name} = {value}")
        return
    myst_glue(name, value, display=False)
