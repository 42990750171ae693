"""The student edition keeps every exercise and drops every solution (scripts/student_edition.py)."""

import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from student_edition import strip_markdown, student_notebook  # noqa: E402

NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
LABEL = re.compile(r"^:label: (ex-[\w-]+)", flags=re.M)
# the prose of a {solution} block, or of a gated solution up to its {solution-end}, in a notebook's markdown
SOLUTION_BLOCK = re.compile(r"^(`{3,})\{solution\}(.*?)^\1\s*$|\{solution-start\}(.*?)\{solution-end\}",
                            flags=re.M | re.S)


def markdown(source: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(source)


def code(source: str, tags: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = list(tags)
    return cell


def test_gated_plain_and_tagged_solutions_are_removed_and_the_rest_kept():
    nb = nbformat.v4.new_notebook(cells=[
        markdown("Intro.\n\n```{exercise} One\n:label: ex-one\nDo it.\n```\n\n"
                 "```{solution-start} ex-one\n:class: dropdown\n```\n\nSecret prose."),
        code("secret_code = 1"),
        markdown("More secret.\n\n```{solution-end}\n```\n\nAfter the solution."),
        markdown("```{exercise} Two\n:label: ex-two\nThink.\n```\n\n"
                 "````{solution} ex-two\n:class: dropdown\nAnswer:\n```python\nx = 2\n```\n````\nTail."),
        code("print('kept')"),
        code("runnable_solution()", tags=("solution",)),
    ])
    student = student_notebook(nb)
    sources = [c.source for c in student.cells]
    assert sources == [
        "Intro.\n\n```{exercise} One\n:label: ex-one\nDo it.\n```",
        "After the solution.",
        "```{exercise} Two\n:label: ex-two\nThink.\n```\n\nTail.",
        "print('kept')",
    ]
    assert len(nb.cells) == 6, "the original notebook is left as it was"


def test_an_unclosed_gated_solution_is_an_error():
    assert strip_markdown("```{solution-start} ex-a\n```\ntext", False) == ("", True)
    nb = nbformat.v4.new_notebook(cells=[markdown("```{solution-start} ex-a\n```\ntext")])
    with pytest.raises(ValueError, match="no {solution-end}"):
        student_notebook(nb)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_exercise_survives_and_no_solution_does(path):
    nb = nbformat.read(path, as_version=4)
    student = student_notebook(nb)
    text = "\n".join(c.source for c in student.cells)
    original = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert LABEL.findall(text) == LABEL.findall(original)
    assert "{solution" not in text
    assert not [c for c in student.cells if "solution" in c.metadata.get("tags", [])]
    blocks = [m.group(2) or m.group(3) for m in SOLUTION_BLOCK.finditer(original)]
    solution_lines = {line.strip() for block in blocks for line in block.splitlines()
                      if len(line.strip()) >= 25 and not line.lstrip().startswith(("`", ":"))}
    prose = "\n".join(c.source for c in student.cells if c.cell_type == "markdown")
    left = solution_lines & {line.strip() for line in prose.splitlines()}
    assert not left, f"{path.name}: solution text left in the student edition: {sorted(left)[:3]}"
