"""Execute every notebook of the book and report its wall time and the kernel's peak memory.

    python benchmarks/notebooks.py            # all notebooks in _toc.yml order
    python benchmarks/notebooks.py book/part2_concepts.ipynb

Budget (DEVELOPERS.md): each notebook <= 60 s on a 2-core laptop CPU, the whole book <= 5 min.
Peak memory is the kernel process's maximum resident set size, read inside the kernel at the end.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
import yaml
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 60.0
PEAK_RSS = "import resource, sys; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"


def toc_notebooks() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):  # a chapter, then its sections
            files += [chapter["file"]] + [s["file"] for s in chapter.get("sections", [])]
    return [ROOT / f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").exists()]


def run(path: Path) -> tuple[float, float]:
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PEAK_RSS))
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    peak_mb = float(nb.cells[-1].outputs[0]["text"])
    return elapsed, peak_mb


def main(paths: list[Path]) -> int:
    total, over = 0.0, []
    print(f"{'notebook':32s} {'time (s)':>9s} {'peak RSS (MB)':>14s}")
    for path in paths:
        elapsed, peak = run(path)
        total += elapsed
        flag = "  over budget!" if elapsed > BUDGET_S else ""
        over += [path.name] if flag else []
        print(f"{path.name:32s} {elapsed:9.1f} {peak:14.0f}{flag}", flush=True)
    print(f"{'total':32s} {total:9.1f}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main([Path(p).resolve() for p in sys.argv[1:]] or toc_notebooks()))
