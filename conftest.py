"""pytest configuration: run every book notebook under nbval, with golden outputs kept outside it.

Notebooks are stored without outputs (clean diffs). The outputs that *are* meant to be
compared -- cells marked ``# NBVAL_CHECK_OUTPUT`` -- live in ``tests/golden/<notebook>.json``
(written by ``scripts/update_golden.py``) and are merged into the notebook in memory before
nbval runs it. Every other cell runs in nbval's lax mode: it must execute without error.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbval.plugin import IPyNbFile

ROOT = Path(__file__).parent
BOOK = ROOT / "book"
GOLDEN = ROOT / "tests" / "golden"


class GoldenNotebook(IPyNbFile):
    """nbval's notebook collector, in lax mode, with reference outputs read from tests/golden."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.compare_outputs = False  # lax: only marked cells are compared

    def collect(self):
        items = list(super().collect())
        golden_file = GOLDEN / f"{self.path.stem}.json"
        golden = json.loads(golden_file.read_text(encoding="utf-8")) if golden_file.exists() else {}
        for item in items:
            entry = golden.get(str(item.cell_num))
            if entry is not None:
                item.cell.outputs = [nbformat.from_dict(o) for o in entry["outputs"]]
                item.cell.execution_count = 1  # nbval only compares cells that "have run"
        return items


def pytest_collect_file(file_path: Path, parent):
    if file_path.suffix == ".ipynb" and file_path.parent == BOOK:
        return GoldenNotebook.from_parent(parent, path=file_path)
    return None


def pytest_collection_modifyitems(items):
    for item in items:
        if isinstance(item.parent, GoldenNotebook):
            item.add_marker(pytest.mark.notebooks)
