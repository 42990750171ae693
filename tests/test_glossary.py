"""Back matter: the glossary's entries are bilingual and every link in it points at something that exists."""

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[1]
BOOK = ROOT / "book"
GLOSSARY = BOOK / "glossary.md"
CJK = re.compile(r"[\u4e00-\u9fff]")
ROLE = re.compile(r"\{(doc|eq|prf:ref)\}`([^`]+)`")


def entries() -> list[list[str]]:
    """The glossary directive's entries: [english, chinese, definition]."""
    text = GLOSSARY.read_text(encoding="utf-8")
    body = text.split("```{glossary}", 1)[1].split("```", 1)[0]
    return [block.split("\n") for block in body.split(":sorted:", 1)[1].strip().split("\n\n")]


def book_text() -> str:
    """Every markdown cell and markdown page of the book, where labels are defined."""
    parts = []
    for path in BOOK.glob("*.ipynb"):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        parts += ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    parts += [p.read_text(encoding="utf-8") for p in BOOK.glob("*.md")]
    return "\n".join(parts)


def test_glossary_has_sixty_bilingual_entries_with_a_definition_and_a_link():
    found = entries()
    assert len(found) >= 60
    for english, chinese, definition in found:
        assert english and not CJK.search(english), english
        assert CJK.search(chinese) or english.startswith(("InfoNCE", "beta", "Transformer")), (english, chinese)
        assert definition.startswith("  ") and ROLE.search(definition), english
    terms = {t for e in found for t in e[:2]}
    for source_term in ("模态", "跨模态学习", "多模态学习", "嵌入空间", "生成对抗网络", "变分自编码器"):
        assert any(t.startswith(source_term) for t in terms), source_term
    assert len(terms) == 2 * len(found)                                         # no term twice


@pytest.mark.parametrize("page", ["glossary.md", "notation.md"])
def test_every_link_resolves(page):
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = {Path(c["file"]).name for p in toc["parts"] for c in p["chapters"]}
    pages |= {Path(s["file"]).name for p in toc["parts"] for c in p["chapters"] for s in c.get("sections", [])}
    assert f"book/{Path(page).stem}" in {c["file"] for p in toc["parts"] for c in p["chapters"]}
    text, everything = (BOOK / page).read_text(encoding="utf-8"), book_text()
    links = ROLE.findall(text)
    assert links
    for role, target in links:
        if role == "doc":
            assert target in pages, target
        elif role == "eq":
            assert re.search(rf"\$\$ \({re.escape(target)}\)", everything), target
        elif role == "prf:ref":
            assert re.search(rf"^:label: {re.escape(target)}$", everything, re.M), target
