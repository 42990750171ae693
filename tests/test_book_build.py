"""The website builds with warnings as errors, and what it renders is really there.

This is where the test suite executes the notebooks, each exactly once: the build runs every
notebook (an error in any cell fails it), and the checked cells' outputs, kept by the build's
execution cache, are compared with tests/golden/ the way nbval compares them. The build goes into
a fresh temporary folder, so a stale cache from an earlier ``make book`` can never stand in for
running today's code. ``make test-notebooks`` runs the same notebooks under nbval, cell by cell,
which is slower but points at the failing cell.
"""

import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from jupyter_cache import get_cache

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from student_edition import build as build_student_edition, executed_notebook  # noqa: E402
from update_golden import checked_cells, comparable  # noqa: E402

GOLDEN = ROOT / "tests" / "golden"
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


@pytest.fixture(scope="module")
def executed(build_dir):
    """The executed copy of a book notebook, as the build's execution cache stored it (streams unmerged)."""
    cache = get_cache(build_dir / ".jupyter_cache")

    def read(path: Path) -> nbformat.NotebookNode:
        try:
            return executed_notebook(cache, path)
        except LookupError as err:
            pytest.fail(f"the build did not execute {path.name} (is it in _toc.yml?): {err}")
    return read


@pytest.mark.book
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_checked_cells_reproduce_their_golden_outputs(executed, path):
    golden = json.loads((GOLDEN / f"{path.stem}.json").read_text(encoding="utf-8"))
    cells = checked_cells(executed(path))
    assert set(golden) == {str(i) for i in cells}, f"{path.name}: the executed checked cells are not the golden ones"
    for i, cell in cells.items():
        expected, got = comparable(golden[str(i)]["outputs"]), comparable(cell.outputs)
        assert got == expected, f"{path.name}, code cell {i}:\n{cell.source}\nexpected {expected}\ngot {got}"


@pytest.mark.book
def test_every_toc_page_is_rendered(built_site):
    for page in ("book/intro", "book/part1_background", "book/part2_concepts", "book/api", "book/references"):
        assert (built_site / f"{page}.html").exists(), page


@pytest.mark.book
def test_outputs_citations_equations_and_exercises_render(built_site):
    html = (built_site / "book" / "part1_background.html").read_text(encoding="utf-8")
    assert "train: 1437 pairs, test: 360 pairs" in html       # executed output is shown
    assert "Hotelling, 1936" in html                           # citation resolved (author-year)
    assert 'class="math notranslate nohighlight"' in html      # display math handed to MathJax
    assert "(3)" in html and "eqno" in html                    # numbered equations
    assert "dropdown" in html and "solution" in html           # solutions hidden in dropdowns
    assert "colab.research.google.com" in html                 # launch button
    assert "data:image/png" in html or ".png" in html          # figures
    assert "??" not in html                                    # no unresolved reference
    refs = (built_site / "book" / "references.html").read_text(encoding="utf-8")
    assert "relations between two sets of variates" in refs.lower()


@pytest.mark.book
def test_library_reference_documents_the_public_functions(built_site):
    api = (built_site / "book" / "api.html").read_text(encoding="utf-8")
    for name in ("crossmodal_lib.data.slant", "crossmodal_lib.text.Vocabulary", "crossmodal_lib.training.fit",
                 "crossmodal_lib.metrics.recall_at_k", "crossmodal_lib.exercises.check_slant"):
        assert f'id="{name}"' in api, name
    part1 = (built_site / "book" / "part1_background.html").read_text(encoding="utf-8")
    assert "api.html#crossmodal_lib.data.shear_images" in part1  # text links into the reference


class RemoteLoads(HTMLParser):
    """Collects what a page would fetch from another host: scripts, stylesheets, icons, images, media."""

    LOADS = {"script": "src", "img": "src", "iframe": "src", "audio": "src", "video": "src", "source": "src",
             "track": "src", "embed": "src", "object": "data", "link": "href"}

    def __init__(self) -> None:
        super().__init__()
        self.remote: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attrs_ = dict(attrs)
        url = attrs_.get(self.LOADS.get(tag, ""), None) or ""
        rel = set((attrs_.get("rel") or "").split())
        fetched = tag != "link" or bool(rel & {"stylesheet", "preload", "icon", "modulepreload", "prefetch",
                                               "preconnect", "manifest", "apple-touch-icon"})
        if fetched and url.startswith(("http:", "https:", "//")):
            self.remote.append(f"<{tag}> {url}")


def remote_loads(html: str) -> list[str]:
    parser = RemoteLoads()
    parser.feed(html)
    return parser.remote


def test_remote_loads_are_found():
    page = ('<script src="https://cdn.example/mathjax.js"></script><script src="_static/a.js"></script>'
            '<link rel="stylesheet" href="//fonts.example/css"><link rel="canonical" href="https://book.example/">'
            '<link rel="shortcut icon" href="https://cdn.example/icon.png">'
            '<a href="https://arxiv.org/abs/2103.00020">CLIP</a>')
    assert remote_loads(page) == ["<script> https://cdn.example/mathjax.js", "<link> //fonts.example/css",
                                  "<link> https://cdn.example/icon.png"]


@pytest.mark.book
def test_no_page_loads_anything_from_the_internet(built_site):
    pages = sorted(built_site.rglob("*.html"))
    assert len(pages) > 30
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert remote_loads(html) == [], f"{page.relative_to(built_site)} loads from the internet"
    assert (built_site / "_static" / "mathjax" / "tex-chtml.js").exists(), "MathJax is served from the site itself"
    part1 = (built_site / "book" / "part1_background.html").read_text(encoding="utf-8")
    assert "_static/mathjax/tex-chtml.js" in part1


@pytest.fixture(scope="module")
def student_edition(build_dir, tmp_path_factory) -> Path:
    """The student edition, rendered from the notebooks the full build executed."""
    out = tmp_path_factory.mktemp("student")
    build_student_edition(build_dir / ".jupyter_cache", out)
    return out


@pytest.mark.book
def test_student_edition_has_every_exercise_and_no_solution(student_edition, built_site):
    exercise = re.compile(r'<div class="exercise admonition" id="(ex-[\w-]+)"')
    labels = 0
    for path in NOTEBOOKS:
        full = (built_site / "book" / f"{path.stem}.html").read_text(encoding="utf-8")
        student = (student_edition / "html" / "book" / f"{path.stem}.html").read_text(encoding="utf-8")
        assert exercise.findall(student) == exercise.findall(full), path.name
        labels += len(exercise.findall(full))
        assert 'class="solution' not in student, f"{path.name}: a solution is left in the student page"
        notebook = nbformat.read(student_edition / "notebooks" / path.name, as_version=4)
        assert not any(c.get("outputs") for c in notebook.cells), f"{path.name}: hand-outs carry no outputs"
    assert labels >= 3 * len([p for p in NOTEBOOKS if p.stem.startswith("part")]), "every chapter has exercises"
    full = (built_site / "book" / "part1_background.html").read_text(encoding="utf-8")
    student = (student_edition / "html" / "book" / "part1_background.html").read_text(encoding="utf-8")
    assert "Sevens lean right" in full and "Sevens lean right" not in student
    assert "cm.exercises.check_slant" in student, "the auto-checker is still offered to the student"
