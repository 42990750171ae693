"""The website builds with warnings as errors, and what it renders is really there."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
HTML = ROOT / "_build" / "html"


@pytest.fixture(scope="module")
def built_site():
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    # The build executes every notebook once: half an hour to fifty minutes on a 2-core CPU for 36
    # pages, depending on the machine's state; the limit leaves room for that and still stops a hung
    # kernel inside CI's 90 minutes.
    result = subprocess.run([str(jupyter_book), "build", str(ROOT), "-W", "-n", "--keep-going"],
                            capture_output=True, text=True, cwd=ROOT, timeout=4200)
    assert result.returncode == 0, f"jupyter-book build failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    return HTML


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
