"""The history of the field, as data (book: Part 1, the timeline).

:func:`load_milestones` reads the CSV shipped inside the package (``resources/milestones.csv``)
into a list of :class:`Milestone` ``(year, event, strand, cite)``, in the file's order (by year);
``cite`` is a key of ``book/references.bib``.
"""

from __future__ import annotations

import csv
from importlib import resources
from typing import NamedTuple

__all__ = ["Milestone", "load_milestones"]


class Milestone(NamedTuple):
    year: int
    event: str
    strand: str
    cite: str  # key in book/references.bib


def load_milestones() -> list[Milestone]:
    """The milestones behind the Part 1 timeline, from the CSV shipped inside the package."""
    text = resources.files("crossmodal_lib").joinpath("resources/milestones.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(text.splitlines())
    return [Milestone(int(r["year"]), r["event"], r["strand"], r["cite"]) for r in rows]
