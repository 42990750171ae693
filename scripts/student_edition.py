"""Build the student edition: the same book with every exercise and no solution.

    python scripts/student_edition.py [CACHE]      # make student

Writes ``_build/student/html`` (the website) and ``_build/student/notebooks/*.ipynb`` (the
notebooks to hand out, without outputs). Solutions are removed, not hidden, so that nothing of
them reaches the page source or the notebooks:

* code cells tagged ``solution`` (the runnable solutions of exercises);
* everything between a ``{solution-start}`` and its ``{solution-end}`` (gated solutions, which may
  span several markdown and code cells);
* every ``{solution}`` directive block.

The website shows the outputs the full book computed: the executed notebooks come from the
execution cache of a full build (CACHE, by default ``_build/.jupyter_cache``, filled by ``make
book``), so the student edition executes nothing itself. sphinx-exercise's ``hide_solutions`` is
not used: gated solutions crash under it (sphinx-exercise issue 89).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "_build" / "student"
FENCE = re.compile(r"^(`{3,}|:{3,})\{(solution|solution-start|solution-end)\}")


def strip_markdown(text: str, in_solution: bool) -> tuple[str, bool]:
    """Remove solution blocks from one markdown cell's ``text``.

    ``in_solution`` says whether a gated solution opened in an earlier cell is still open; the
    returned flag says whether one is open at the end of this cell.
    """
    kept: list[str] = []
    closing: str | None = None  # the fence that ends the directive block being skipped
    for line in text.splitlines():
        if closing is not None:
            if re.fullmatch(re.escape(closing[0]) + "{%d,}" % len(closing), line.strip()):
                closing = None
            continue
        match = FENCE.match(line)
        if match:
            closing = match.group(1)
            in_solution = {"solution-start": True, "solution-end": False}.get(match.group(2), in_solution)
            continue
        if not in_solution:
            kept.append(line)
    return "\n".join(kept).strip("\n"), in_solution


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without solutions (see the module docstring); outputs are kept."""
    nb = nbformat.from_dict(nb)
    cells, in_solution = [], False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source, still_open = strip_markdown(cell.source, in_solution)
            in_solution = still_open
            if cell.source.strip():
                cells.append(cell)
        elif not in_solution and "solution" not in cell.metadata.get("tags", []):
            cells.append(cell)
    if in_solution:
        raise ValueError("a {solution-start} has no {solution-end}")
    nb.cells = cells
    return nb


def without_outputs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def executed_notebook(cache, path: Path) -> nbformat.NotebookNode:
    """The executed copy of ``path`` from a jupyter-cache folder (``make book`` fills it).

    Raises ``LookupError`` when the cache has no run of the notebook's current code."""
    try:  # the cache keeps code cells only; merging puts their outputs into the whole notebook
        return cache.merge_match_into_notebook(nbformat.read(path, as_version=4))[1]
    except KeyError:
        raise LookupError(f"{path.name} has no executed copy in the cache: run `make book` first") from None


def build(cache_dir: Path = ROOT / "_build" / ".jupyter_cache", out: Path = OUT) -> Path:
    """Write the student notebooks and build the student website; return the html folder."""
    from jupyter_cache import get_cache
    cache = get_cache(cache_dir)
    src = out / "src"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(ROOT / "book", src / "book", ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
    shutil.copytree(ROOT / "benchmarks" / "results", src / "benchmarks" / "results")
    shutil.copy(ROOT / "_toc.yml", src / "_toc.yml")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["title"] += " (student edition)"
    config["execute"]["execute_notebooks"] = "off"  # outputs come from the full book's execution
    (src / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    (out / "notebooks").mkdir(parents=True)
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        nb = student_notebook(executed_notebook(cache, path))
        nbformat.write(nb, src / "book" / path.name)
        nbformat.write(without_outputs(nb), out / "notebooks" / path.name)
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run([str(jupyter_book), "build", str(src), "-W", "-n", "--keep-going",
                             "--path-output", str(out)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"the student edition failed to build:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}")
    (out / "_build" / "html").rename(out / "html")
    return out / "html"


if __name__ == "__main__":
    html = build(*(Path(p) for p in sys.argv[1:2]))
    print(f"student website: {html.relative_to(ROOT)}/index.html; notebooks: {(OUT / 'notebooks').relative_to(ROOT)}/")
