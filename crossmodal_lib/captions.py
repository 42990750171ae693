"""Captions in English and Chinese, written from a digit and its attribute levels, and read back
(book: Part 1, "A first look at our data"; parsing: Part 3.3).

A caption names the digit *and* describes two attributes measured from the image, each at one
of three ordered levels 0, 1, 2 (:data:`ATTRIBUTE_LEVELS`): thickness (thin, medium, thick) and
slant (leaning left, upright, leaning right). :func:`describe` writes one caption with several
phrasings (template, synonyms, word or numeral) drawn from a generator, so a text model has to
learn words rather than memorise one string per class; :func:`parse_caption` is its inverse,
returning ``(digit, thickness, slant)`` or ``None`` where a caption states none or contradicts
itself. :func:`digit_prompts` gives ``10`` lists of ``9 * per_level`` captions for zero-shot
classification (Part 3.1). Languages: :data:`LANGS`.

>>> parse_caption("a seven with bold strokes, leaning right")
ParsedCaption(digit=7, thickness=2, slant=2)
>>> parse_caption(describe(7, 2, 0, "zh", np.random.default_rng(0)), "zh")
ParsedCaption(digit=7, thickness=2, slant=0)
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np

from .config import check_choice

__all__ = ["ATTRIBUTE_LEVELS", "DIGIT_NAMES", "LANGS", "PARAPHRASE_TEMPLATES", "ParsedCaption", "describe", "digit_prompts",
           "paraphrase_prompts", "parse_caption", "word_roles"]

#: The languages of the captions: English and Chinese (Mandarin, simplified characters).
LANGS = ("en", "zh")
Lang = Literal["en", "zh"]

DIGIT_NAMES = {
    "en": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    "zh": ("零", "一", "二", "三", "四", "五", "六", "七", "八", "九"),
}
#: Human-readable names of the three ordered levels of each attribute.
ATTRIBUTE_LEVELS = {
    "thickness": ("thin", "medium", "thick"),
    "slant": ("leaning left", "upright", "leaning right"),
}


# Thickness words always qualify "strokes" ("a seven with bold strokes"): put straight onto the
# digit they would read as "an average nine" or "a light one".
_EN_THICK = (("thin", "slim", "light"), ("medium", "regular", "medium-weight"), ("thick", "bold", "heavy"))
_EN_SLANT_PHRASE = (
    ("leaning left", "slanted to the left", "tilted left"),
    ("upright", "standing straight", "not slanted"),
    ("leaning right", "slanted to the right", "tilted right"),
)
_EN_SLANT_ADJ = (("left-leaning", "left-slanted"), ("upright",), ("right-leaning", "right-slanted"))
_EN_TEMPLATES = (
    "{a_digit} {digit} with {thick} strokes, {slant_phrase}",
    "the digit {numeral}, written with {thick} strokes, {slant_phrase}",
    "{a_slant} {slant_adj} {digit} drawn with {thick} strokes",
    "a handwritten {digit} with {thick} strokes, {slant_phrase}",
)
# Chinese: two-character predicates (很细, not a bare 细) and neutral direction words
# (向左倾斜 rather than 左倾, which also reads as "leftist").
_ZH_THICK = (("很细", "较细", "纤细"), ("中等粗细", "粗细适中", "不粗不细"), ("很粗", "较粗", "粗重"))
_ZH_SLANT = (("向左倾斜", "往左斜", "歪向左边"), ("端正", "不歪", "很端正"), ("向右倾斜", "往右斜", "歪向右边"))
_ZH_TEMPLATES = (
    "笔画{thick}的{digit}，写得{slant}",
    "数字{numeral}，笔画{thick}，{slant}",
    "一个{slant}的{digit}，笔画{thick}",
    "手写的{digit}：{slant}，笔画{thick}",
)


#: How often a caption writes the digit as a numeral ("a 7 ...") rather than a word ("a seven ..."):
#: often enough that a text model must learn both spellings, rarely enough that words dominate.
NUMERAL_PROBABILITY = 0.3

def _article(word: str) -> str:
    """English indefinite article by sound: 'an eight', 'an 8', 'an upright', but 'a one'."""
    return "an" if word[0] in "aeiou8" and not word.startswith("one") else "a"


def describe(digit: int, thickness: int, slant_level: int, lang: Lang = "en", rng: np.random.Generator | None = None) -> str:
    """One caption for a digit with the given attribute levels (0, 1, 2).

    The template, the synonyms and whether the digit is written as a word or a numeral
    are drawn from ``rng`` (default: a fixed generator, so the first phrasing is stable).
    """
    check_choice("lang", lang, LANGS)
    if not 0 <= int(digit) <= 9:
        raise ValueError(f"digit must be 0..9, got {digit}")
    for name, level in (("thickness", thickness), ("slant", slant_level)):
        if level not in (0, 1, 2):
            raise ValueError(f"{name} level must be 0, 1 or 2, got {level}")
    rng = rng if rng is not None else np.random.default_rng(0)
    pick = lambda options: options[rng.integers(len(options))]  # noqa: E731
    numeral = str(int(digit))
    name = DIGIT_NAMES[lang][int(digit)]
    digit_text = numeral if rng.random() < NUMERAL_PROBABILITY else name
    if lang == "en":
        template = pick(_EN_TEMPLATES)
        thick = pick(_EN_THICK[thickness])
        slant_adj = pick(_EN_SLANT_ADJ[slant_level])
        return template.format(
            a_digit=_article(digit_text), thick=thick, digit=digit_text, numeral=numeral,
            slant_phrase=pick(_EN_SLANT_PHRASE[slant_level]), a_slant=_article(slant_adj), slant_adj=slant_adj,
        )
    template = pick(_ZH_TEMPLATES)
    return template.format(thick=pick(_ZH_THICK[thickness]), slant=pick(_ZH_SLANT[slant_level]), digit=digit_text, numeral=numeral)


def digit_prompts(lang: Lang = "en", per_level: int = 2, seed: int = 0) -> list[list[str]]:
    """Several captions per digit for zero-shot classification (book: Part 3.1).

    For each digit 0..9: ``per_level`` phrasings of every (thickness, slant) combination,
    i.e. ``9 * per_level`` captions, drawn with the same generator as the dataset's captions.
    Returns a list of 10 lists of strings.
    """
    rng = np.random.default_rng(seed)
    return [[describe(d, t, s, lang, rng) for t in range(3) for s in range(3) for _ in range(per_level)]
            for d in range(10)]


#: Prompt wordings that no training caption uses (synonyms, word order, the numeral instead of
#: the word): the paraphrase test of Part 6. ``{w}`` is the digit's English word, ``{n}`` its numeral.
PARAPHRASE_TEMPLATES = (
    "a picture of the number {w}", "the numeral {n}", "{w}, scribbled by hand", "an image showing {w}",
    "this figure shows {w}", "someone wrote {w} here", "a sketch of the number {n}", "handwriting: {w}",
    "the symbol for {w}", "a scanned {w} written in ink", "{n} (a single digit)", "number {n}, penned on paper",
)


def paraphrase_prompts(template: str) -> list[list[str]]:
    """One prompt per digit 0..9 from a :data:`PARAPHRASE_TEMPLATES` entry, as zero-shot class prompts."""
    return [[template.format(w=DIGIT_NAMES["en"][d], n=str(d))] for d in range(10)]


class ParsedCaption(NamedTuple):
    digit: int | None
    thickness: int | None
    slant: int | None


def parse_caption(caption: str, lang: Lang = "en") -> ParsedCaption:
    """Read back the digit and attribute levels a caption states; ``None`` where it states none
    or contradicts itself (two digits, two thickness levels...).

    The inverse of :func:`describe`, used to score *generated* captions (Part 3.3): a caption
    counts as naming digit d only if it names d and no other digit.
    """
    check_choice("lang", lang, LANGS)
    if not isinstance(caption, str):
        raise TypeError(f"caption must be a str, got {type(caption).__name__}")
    text = caption.lower()

    def found(levels: tuple[tuple[str, ...], ...], s: str) -> int | None:
        hits = {lvl for lvl, words in enumerate(levels) for w in words if _contains(s, w, lang)}
        return hits.pop() if len(hits) == 1 else None

    if lang == "en":
        slant_words = tuple(a + b for a, b in zip(_EN_SLANT_PHRASE, _EN_SLANT_ADJ))
        thick, slant_level = found(_EN_THICK, text), found(slant_words, text)
        names = DIGIT_NAMES["en"]
        digits = {d for d in range(10) if _contains(text, names[d], lang) or _contains(text, str(d), lang)}
    else:
        thick, slant_level = found(_ZH_THICK, text), found(_ZH_SLANT, text)
        rest = text.replace("一个", "")  # "a", not the digit one
        digits = {d for d in range(10) if DIGIT_NAMES["zh"][d] in rest or str(d) in rest}
    return ParsedCaption(digits.pop() if len(digits) == 1 else None, thick, slant_level)


def _contains(text: str, phrase: str, lang: str) -> bool:
    """Whole-word containment for English (so "thin" does not match "thinner"), substring for Chinese."""
    if lang != "en":
        return phrase in text
    import re

    return re.search(r"(?<![\w-])" + re.escape(phrase) + r"(?![\w-])", text) is not None


def word_roles(lang: Lang = "en") -> dict[str, str]:
    """Each caption token that carries information -> its role: ``"digit"``, ``"thickness"`` or
    ``"slant"`` (the words :func:`describe` uses; Part 7.1b groups attention maps by role)."""
    from .text import tokenize

    check_choice("lang", lang, LANGS)
    thick, slant = (_EN_THICK, tuple(a + b for a, b in zip(_EN_SLANT_PHRASE, _EN_SLANT_ADJ))) if lang == "en" \
        else (_ZH_THICK, _ZH_SLANT)
    roles = {tok: "digit" for d in range(10) for tok in (DIGIT_NAMES[lang][d], str(d))}
    for role, levels in (("thickness", thick), ("slant", slant)):
        roles.update({tok: role for words in levels for phrase in words for tok in tokenize(phrase, lang)
                      if tok not in ("to", "the", "not")})
    return roles
