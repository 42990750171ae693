"""The model diagrams (book/figures/*.svg) are what scripts/draw_diagrams.py draws, and each is shown."""

import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from draw_diagrams import DIAGRAMS, FIGURES, svg  # noqa: E402

MARKDOWN = {p.name: "\n".join(c.source for c in nbformat.read(p, as_version=4).cells if c.cell_type == "markdown")
            for p in sorted((ROOT / "book").glob("*.ipynb"))}


@pytest.mark.parametrize("name", DIAGRAMS)
def test_diagram_file_is_what_the_script_draws(name):
    path = FIGURES / f"{name}.svg"
    assert path.exists(), f"run `python scripts/draw_diagrams.py {name}`"
    assert path.read_bytes() == svg(DIAGRAMS[name]), f"{path.name} is stale: run `python scripts/draw_diagrams.py {name}`"
    assert "fill: #ffffff" in path.read_text(), "an opaque white background keeps it readable in dark mode"


@pytest.mark.parametrize("name", DIAGRAMS)
def test_diagram_is_a_numbered_figure_with_a_caption(name):
    figure = re.compile(r"^```\{figure\} figures/" + name + r"\.svg\n((?::[\w-]+:[^\n]*\n)+)\n(.+?)\n```", flags=re.M | re.S)
    hits = [(nb, m) for nb, text in MARKDOWN.items() for m in figure.finditer(text)]
    assert len(hits) == 1, f"{name}.svg should be shown exactly once, found {len(hits)}"
    options, caption = hits[0][1].group(1), hits[0][1].group(2)
    assert ":name: fig-" in options and ":alt:" in options, "a label to cite it by and a text alternative"
    assert len(caption.split()) >= 10, "the caption explains the diagram"


def test_every_figure_file_comes_from_the_script():
    assert {p.stem for p in FIGURES.glob("*.svg")} == set(DIAGRAMS)
