"""Record the reference outputs of every ``# NBVAL_CHECK_OUTPUT`` cell into tests/golden/.

Run it after deliberately changing a checked cell (``make golden``); review the diff of
tests/golden/*.json like any other change. The notebooks themselves stay output-free.

    python scripts/update_golden.py [book/part1_background.ipynb ...]
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbval.plugin import coalesce_streams

ROOT = Path(__file__).resolve().parents[1]
MARKER = "# NBVAL_CHECK_OUTPUT"
NBVAL_SKIPS = ("image/png", "image/jpeg", "application/vnd.jupyter.widget-view+json")


def source_hash(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def checked_cells(nb: nbformat.NotebookNode) -> dict[int, nbformat.NotebookNode]:
    """Marked code cells by their index among code cells (nbval's numbering)."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    return {i: c for i, c in enumerate(code) if MARKER in c.source.splitlines()}


def comparable(outputs: list[dict]) -> dict[str, list[str]]:
    """What nbval compares in a cell's outputs, so the build test and ``pytest book/`` agree.

    Streams are merged by name (``\\r`` and ``\\b`` applied, as a terminal shows them) and keyed
    by it (``stdout``, ``stderr``); rich outputs contribute each MIME type except those nbval
    skips: PNG and JPEG images, whose bytes vary between machines, and widget views.
    """
    merged = coalesce_streams([nbformat.from_dict(copy.deepcopy(o)) for o in outputs])
    found: dict[str, list[str]] = defaultdict(list)
    for output in merged:
        if output.output_type == "stream":
            found[output.name].append(output.text)
        elif output.output_type == "error":
            found["error"].append(f"{output.ename}: {output.evalue}")
        else:
            for mime, value in output.get("data", {}).items():
                if mime not in NBVAL_SKIPS:
                    found[mime].append(value)
    return dict(found)


def record(path: Path) -> Path:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    golden = {
        str(i): {"source_sha": source_hash(c.source),
                 "outputs": [o for o in c.outputs if o.get("output_type") in ("stream", "execute_result")]}
        for i, c in checked_cells(nb).items()
    }
    for entry in golden.values():
        for o in entry["outputs"]:
            o.pop("execution_count", None)
    out = ROOT / "tests" / "golden" / f"{path.stem}.json"
    out.write_text(json.dumps(golden, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    return out


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "book").glob("*.ipynb"))
    for p in paths:
        print("recorded", record(p.resolve()).relative_to(ROOT))
