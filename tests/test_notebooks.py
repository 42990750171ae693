"""The book's structure: toc <-> files, clean notebooks, Colab cells, golden outputs, exercises, citations."""

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[1]
BOOK = ROOT / "book"
sys.path.insert(0, str(ROOT / "scripts"))
from update_golden import MARKER, checked_cells, comparable, source_hash  # noqa: E402

import nbformat  # noqa: E402

NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))
CHAPTERS = [p for p in NOTEBOOKS if p.stem.startswith("part")]


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            files.append(chapter["file"])
            files += [s["file"] for s in chapter.get("sections", [])]
    return files


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def test_every_notebook_is_in_the_toc_and_every_entry_exists():
    entries = toc_files()
    listed = {e for e in entries}
    for nb in NOTEBOOKS:
        assert f"book/{nb.stem}" in listed, f"{nb.name} is not listed in _toc.yml"
    for entry in entries:
        assert any((ROOT / f"{entry}{ext}").exists() for ext in (".ipynb", ".md")), f"_toc.yml lists missing {entry}"
    assert len(entries) == len(set(entries)), "a page is listed twice"


def test_toc_mirrors_the_source_parts_in_order():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    numbers = [int(m.group(1)) for p in toc["parts"] if (m := re.match(r"Part (\d)", p["caption"]))]
    assert numbers == sorted(numbers) and numbers[:2] == [1, 2] and max(numbers) <= 8


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    for i, cell in enumerate(read(path).cells):
        if cell.cell_type == "code":
            assert not cell.outputs, f"{path.name} cell {i} has stored outputs"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_cell_installs_the_library_for_colab(path):
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    first = read(path).cells[0]
    assert first.cell_type == "code" and "remove-cell" in first.metadata.get("tags", [])
    assert "import crossmodal_lib" in first.source and "except ImportError" in first.source
    assert f"git+{url}" in first.source, "the install URL must match _config.yml's repository.url"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_golden_outputs_match_the_checked_cells(path):
    golden_file = ROOT / "tests" / "golden" / f"{path.stem}.json"
    golden = json.loads(golden_file.read_text()) if golden_file.exists() else {}
    cells = checked_cells(read(path))
    assert set(golden) == {str(i) for i in cells}, f"run `make golden`: {MARKER} cells and {golden_file.name} differ"
    for i, cell in cells.items():
        entry = golden[str(i)]
        assert entry["source_sha"] == source_hash(cell.source), f"cell {i} of {path.name} changed: run `make golden`"
        assert entry["outputs"], f"cell {i} of {path.name} is checked but prints nothing"


def test_outputs_are_compared_as_nbval_compares_them():
    stream = lambda name, text: {"output_type": "stream", "name": name, "text": text}  # noqa: E731
    split = [stream("stdout", "loss 0.9\rloss 0.5\n"), stream("stderr", "100%\n"), stream("stdout", "done\n"),
             {"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<Figure>"}, "metadata": {}}]
    assert comparable(split) == {"stdout": ["loss 0.5\ndone\n"], "stderr": ["100%\n"], "text/plain": ["<Figure>"]}
    assert comparable([stream("stdout", "a\n"), stream("stdout", "b\n")]) != comparable([stream("stdout", "b\na\n")])
    assert split[0]["text"] == "loss 0.9\rloss 0.5\n", "the caller's outputs are left as they were"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_each_chapter_ends_with_exercises_with_solutions(path):
    nb = read(path)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    exercises = re.findall(r"^:label: (ex-[\w-]+)", text, flags=re.M)
    solutions = re.findall(r"^`{3,4}\{solution(?:-start)?\} (ex-[\w-]+)", text, flags=re.M)
    starts, ends = text.count("{solution-start}"), text.count("{solution-end}")
    assert starts == ends, "every {solution-start} needs a {solution-end}"
    assert len(exercises) >= 3
    assert sorted(exercises) == sorted(solutions), "every exercise needs exactly one solution"
    assert len(checked_cells(nb)) >= 1, "each chapter checks at least one derived number or claim with nbval"


def part_of(path: Path) -> str:
    """'part3_1b_comparison' -> '3_1': the section of the source the notebook belongs to."""
    return re.match(r"part(\d+(?:_\d+)?)", path.stem).group(1)


@pytest.mark.parametrize("part", sorted({part_of(p) for p in CHAPTERS}))
def test_each_part_has_an_auto_checked_exercise(part):
    code = "\n".join(c.source for p in CHAPTERS if part_of(p) == part for c in read(p).cells if c.cell_type == "code")
    assert re.search(r"exercises\.check_\w+\(", code), f"part {part} needs an exercise checked by crossmodal_lib.exercises"


def test_every_citation_is_in_the_bibliography():
    bib = (BOOK / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    cited = set()
    for path in NOTEBOOKS:
        for cell in read(path).cells:
            for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", cell.source):
                cited |= {k.strip() for k in group.split(",")}
    assert cited, "the book cites nothing?"
    assert cited <= keys, f"unknown citation keys: {sorted(cited - keys)}"
