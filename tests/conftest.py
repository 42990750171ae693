"""Fixtures shared by the tests that need the built website (tests/test_book_build.py, tests/test_browser.py)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    # Executing all notebooks takes 20 to 50 minutes on a 2-core CPU, depending on the machine's
    # state; the limit still stops a hung kernel inside CI's 90 minutes.
    result = subprocess.run([str(jupyter_book), "build", str(ROOT), "-W", "-n", "--keep-going",
                             "--path-output", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=4200)
    assert result.returncode == 0, f"jupyter-book build failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    return out / "_build"


@pytest.fixture(scope="session")
def built_site(build_dir) -> Path:
    return build_dir / "html"
