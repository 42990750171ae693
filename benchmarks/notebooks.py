"""Execute every notebook of the book and report its wall time and the kernel's peak memory.

    python benchmarks/notebooks.py            # all notebooks in _toc.yml order; writes the table
    python benchmarks/notebooks.py book/part2_concepts.ipynb     # some notebooks; prints only

Budget (DEVELOPERS.md): each notebook <= 60 s on a 2-core laptop CPU.
Peak memory is the kernel process's maximum resident set size, read inside the kernel at the end.
A run over the whole book writes ``benchmarks/results/notebooks-<device>.csv`` (``cpu`` or
``cuda``), the table the book's Performance page shows.
"""

from __future__ import annotations

import csv
import datetime
import os
import platform
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


def machine() -> tuple[str, str]:
    """(``cpu`` or ``cuda``, a description of the machine) for the results file."""
    import torch
    if torch.cuda.is_available():
        return "cuda", f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    return "cpu", f"{os.cpu_count()} cores ({platform.machine()}), torch {torch.__version__}"


def write_table(rows: list[tuple[str, float, float]]) -> Path:
    device, description = machine()
    out = ROOT / "benchmarks" / "results" / f"notebooks-{device}.csv"
    out.parent.mkdir(exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["notebook", "time (s)", "peak memory (MB)"])
        writer.writerows([(name, f"{t:.1f}", f"{m:.0f}") for name, t, m in rows])
        writer.writerow(["whole book", f"{sum(t for _, t, _ in rows):.1f}", f"{max(m for _, _, m in rows):.0f}"])
    (out.with_suffix(".txt")).write_text(f"{description}; measured {datetime.date.today().isoformat()}\n")
    write_page_tables(out.parent)
    return out


def write_page_tables(results: Path) -> None:
    """``tables.md``: one MyST csv-table per results file, the part of book/performance.md that changes."""
    parts = []
    for table in sorted(results.glob("notebooks-*.csv")):
        device = table.stem.removeprefix("notebooks-")
        about = table.with_suffix(".txt").read_text().strip()
        parts.append(f"```{{csv-table}} {device.upper()}: {about}\n:file: /benchmarks/results/{table.name}\n:header-rows: 1\n"
                     f":name: performance-{device}\n```\n")
    (results / "tables.md").write_text("\n".join(parts))


def main(paths: list[Path], write: bool) -> int:
    rows, over = [], []
    print(f"{'notebook':32s} {'time (s)':>9s} {'peak RSS (MB)':>14s}")
    for path in paths:
        elapsed, peak = run(path)
        rows.append((path.name, elapsed, peak))
        flag = "  over budget!" if elapsed > BUDGET_S else ""
        over += [path.name] if flag else []
        print(f"{path.name:32s} {elapsed:9.1f} {peak:14.0f}{flag}", flush=True)
    print(f"{'total':32s} {sum(r[1] for r in rows):9.1f}")
    if write:
        print("wrote", write_table(rows).relative_to(ROOT))
    return 1 if over else 0


if __name__ == "__main__":
    chosen = [Path(p).resolve() for p in sys.argv[1:]]
    sys.exit(main(chosen or toc_notebooks(), write=not chosen))
