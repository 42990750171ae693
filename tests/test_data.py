"""Values, not smoke: split sizes, attribute measurements on synthetic images, caption content."""

import importlib
import re

import numpy as np
import pytest
import torch

from crossmodal_lib import data
from crossmodal_lib.data import PairedDataset, describe, load_digit_pairs


@pytest.fixture(scope="module")
def splits():
    return {s: load_digit_pairs(s) for s in ("train", "test", "all")}


def test_split_sizes_disjoint_and_covering(splits):
    train, test = splits["train"], splits["test"]
    assert (len(train), len(test)) == (1437, 360)
    a, b = set(train.indices.tolist()), set(test.indices.tolist())
    assert a.isdisjoint(b)
    assert a | b == set(range(1797))


def test_split_is_stratified(splits):
    total = torch.bincount(splits["all"].labels, minlength=10)
    in_test = torch.bincount(splits["test"].labels, minlength=10)
    # each digit sends 20% of its images to the test split, up to rounding
    assert ((in_test.float() - 0.2 * total.float()).abs() <= 1).all()


def test_shapes_dtypes_and_ranges(splits):
    train = splits["train"]
    assert train.inputs.shape == (1437, 1, 8, 8) and train.inputs.dtype == torch.float32
    assert 0.0 == train.inputs.min() and train.inputs.max() == 1.0
    assert train.labels.dtype == torch.int64 and train.labels.shape == (1437,)
    assert set(train.attributes) == {"thickness", "slant"}
    for levels in train.attributes.values():
        assert levels.dtype == torch.int64 and set(levels.unique().tolist()) == {0, 1, 2}
    assert len(train.captions) == 1437


def test_deterministic_and_seed_dependent():
    a, b = load_digit_pairs("test", seed=0), load_digit_pairs("test", seed=0)
    assert a.captions == b.captions and torch.equal(a.indices, b.indices)
    c = load_digit_pairs("test", seed=1)
    assert not torch.equal(a.indices, c.indices)


def test_same_image_same_caption_in_every_split(splits):
    full = dict(zip(splits["all"].indices.tolist(), splits["all"].captions))
    for split in ("train", "test"):
        ds = splits[split]
        assert all(full[i] == c for i, c in zip(ds.indices.tolist(), ds.captions))


def test_images_match_sklearn_source(splits):
    from sklearn.datasets import load_digits

    raw = load_digits()
    test = splits["test"]
    i = int(test.indices[5])
    assert torch.allclose(test.inputs[5, 0], torch.tensor(raw.images[i] / 16.0, dtype=torch.float32))
    assert int(test.labels[5]) == int(raw.target[i])


WORDS_EN = {
    "thickness": [{"thin", "slim", "light"}, {"medium", "regular", "weight"}, {"thick", "bold", "heavy"}],
    "slant": [{"left"}, {"upright", "not slanted", "standing straight"}, {"right"}],
}


def test_english_captions_name_digit_and_both_attributes(splits):
    ds = splits["all"]
    names = data.DIGIT_NAMES["en"]
    for cap, y, t, s in zip(ds.captions, ds.labels.tolist(), ds.attributes["thickness"].tolist(),
                            ds.attributes["slant"].tolist()):
        words = set(re.findall(r"[a-z]+|[0-9]", cap))
        assert names[y] in words or str(y) in words, cap
        assert words & WORDS_EN["thickness"][t], cap
        other = {0: "right", 2: "left"}.get(s)
        if s == 1:
            assert any(p in cap for p in WORDS_EN["slant"][1]), cap
            assert "left" not in words and "right" not in words, cap
        else:
            assert WORDS_EN["slant"][s] & words and other not in words, cap


def test_chinese_captions_name_digit_and_attributes():
    ds = load_digit_pairs("all", lang="zh")
    names = data.DIGIT_NAMES["zh"]
    for cap, y, t, s in zip(ds.captions, ds.labels.tolist(), ds.attributes["thickness"].tolist(),
                            ds.attributes["slant"].tolist()):
        assert names[y] in cap or str(y) in cap, cap
        assert ("左" in cap) == (s == 0) and ("右" in cap) == (s == 2), cap
        assert ("细" in cap and "粗" not in cap) if t == 0 else True, cap
        assert ("粗" in cap and "细" not in cap) if t == 2 else True, cap
        assert any(w in cap for w in ("中等粗细", "粗细适中", "不粗不细")) == (t == 1), cap


def test_several_phrasings_per_class(splits):
    sevens = [c for c, y in zip(splits["train"].captions, splits["train"].labels.tolist()) if y == 7]
    assert len(set(sevens)) > 60
    assert any(c.startswith("the digit 7") for c in sevens) and any(c.startswith("a handwritten") for c in sevens)
    assert all(re.search(r"\b(thin|slim|light|medium|regular|medium-weight|thick|bold|heavy) strokes\b", c)
               for c in sevens)


def test_english_articles():
    caps = [describe(8, t, s, "en", np.random.default_rng(k)) for k in range(200) for t in range(3) for s in range(3)]
    assert not any(re.search(r"\ba (eight|8|average|upright)\b", c) for c in caps)
    assert not any(re.search(r"\ban (handwritten|thin|slim|light|medium|regular|thick|bold|heavy|left|right)", c)
                   for c in caps)
    ones = [describe(1, 1, 1, "en", np.random.default_rng(k)) for k in range(200)]
    assert not any(re.search(r"\ban (one|1)\b", c) for c in ones)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="split must be one of"):
        load_digit_pairs("validation")
    with pytest.raises(ValueError, match="lang must be one of"):
        load_digit_pairs("train", lang="fr")
    with pytest.raises(ValueError, match="seed"):
        load_digit_pairs("train", seed=-1)
    with pytest.raises(ValueError, match="thickness level"):
        describe(3, 5, 1)
    with pytest.raises(ValueError, match="digit must be"):
        describe(12, 1, 1)


# ---- attribute functions on synthetic images ----------------------------------------
def test_slant_of_diagonal_lines_is_plus_minus_one():
    line = torch.zeros(8, 8)
    line[torch.arange(8), 7 - torch.arange(8)] = 1.0  # top-right to bottom-left
    assert data.slant(line).item() == pytest.approx(1.0, abs=1e-6)
    assert data.slant(line.flip(1)).item() == pytest.approx(-1.0, abs=1e-6)
    vertical = torch.zeros(8, 8)
    vertical[:, 3] = 1.0
    assert data.slant(vertical).item() == pytest.approx(0.0, abs=1e-6)


def test_slant_matches_hand_computed_moments():
    img = torch.zeros(8, 8)
    img[0, 4], img[1, 3], img[2, 3] = 1.0, 0.5, 0.5  # mass 2
    r_bar, c_bar = (0 * 1 + 1 * 0.5 + 2 * 0.5) / 2, (4 * 1 + 3 * 0.5 + 3 * 0.5) / 2  # 0.75, 3.5
    mu11 = (4 - c_bar) * (0 - r_bar) * 1 + (3 - c_bar) * (1 - r_bar) * 0.5 + (3 - c_bar) * (2 - r_bar) * 0.5
    mu02 = (0 - r_bar) ** 2 + 0.5 * (1 - r_bar) ** 2 + 0.5 * (2 - r_bar) ** 2
    assert data.slant(img).item() == pytest.approx(-mu11 / mu02, rel=1e-6)


def test_blank_image_has_no_slant():
    with pytest.raises(ValueError, match="blank"):
        data.slant(torch.zeros(8, 8))


def test_sheared_digit_gets_the_expected_slant_level(splits):
    ds = splits["all"]
    ones = ds.inputs[ds.labels == 1][:20]
    thresholds = data.tercile_thresholds(data.slant(ds.inputs), ds.labels)
    labels = torch.ones(20, dtype=torch.int64)
    right = data.attribute_levels(data.slant(data.shear_images(ones, 0.6)), labels, thresholds)
    left = data.attribute_levels(data.slant(data.shear_images(ones, -0.6)), labels, thresholds)
    assert (right == 2).all() and (left == 0).all()


def test_thickened_digit_gets_the_thick_level(splits):
    ds = splits["all"]
    fours = ds.inputs[ds.labels == 4][:20]
    thresholds = data.tercile_thresholds(data.ink(ds.inputs), ds.labels)
    labels = torch.full((20,), 4)
    assert (data.attribute_levels(data.ink(data.dilate_images(fours)), labels, thresholds) == 2).all()
    assert (data.attribute_levels(data.ink(data.erode_images(fours)), labels, thresholds) == 0).all()


def test_ink_is_mean_intensity():
    img = torch.zeros(1, 1, 8, 8)
    img[0, 0, :2] = 1.0  # 16 of 64 pixels
    assert data.ink(img).item() == pytest.approx(0.25)


def test_tercile_levels_are_balanced(splits):
    for levels in splits["all"].attributes.values():
        share = torch.bincount(levels, minlength=3).float() / len(levels)
        assert ((share - 1 / 3).abs() < 0.02).all()


def test_attribute_levels_cut_points():
    thresholds = torch.tensor([[1.0, 2.0]])
    levels = data.attribute_levels(torch.tensor([0.5, 1.0, 1.5, 2.5]), torch.zeros(4, dtype=torch.int64), thresholds)
    assert levels.tolist() == [0, 0, 1, 2]


# ---- the container --------------------------------------------------------------------
def test_mismatched_pairs_raise():
    with pytest.raises(ValueError, match="mismatched pairs: 3 inputs but 2 captions"):
        PairedDataset(torch.zeros(3, 1, 8, 8), ["a", "b"], torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="attributes"):
        PairedDataset(torch.zeros(2, 4), ["a", "b"], torch.zeros(2, dtype=torch.int64), {"slant": torch.zeros(3)})


def test_empty_dataset_raises():
    with pytest.raises(ValueError, match="at least one pair"):
        PairedDataset(torch.zeros(0, 1, 8, 8), [], torch.zeros(0, dtype=torch.int64))


def test_getitem_and_subset(splits):
    test = splits["test"]
    x, caption, label = test[3]
    assert torch.equal(x, test.inputs[3]) and caption == test.captions[3] and label == int(test.labels[3])
    sub = test.subset([3, 0])
    assert sub.captions == [test.captions[3], test.captions[0]]
    assert sub.indices.tolist() == [int(test.indices[3]), int(test.indices[0])]


def test_milestones_cite_the_bibliography():
    from pathlib import Path

    bib = (Path(__file__).parents[1] / "book" / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    milestones = data.load_milestones()
    assert milestones[0].year == 1936 and len(milestones) >= 12
    assert all(m.cite in keys for m in milestones)
    assert [m.year for m in milestones] == sorted(m.year for m in milestones)


def test_concat_pairs_keeps_alignment_and_marks_mixed_language():
    en, zh = load_digit_pairs("test"), load_digit_pairs("test", lang="zh")
    both = data.concat_pairs(en, zh)
    assert len(both) == 720 and both.lang == "multi"
    assert torch.equal(both.inputs[360:], en.inputs) and both.captions[360:] == zh.captions
    assert torch.equal(both.indices[:360], both.indices[360:])
    assert data.concat_pairs(en, en).lang == "en"
    with pytest.raises(ValueError, match="at least one"):
        data.concat_pairs()


def test_digit_prompts_cover_every_attribute_combination():
    prompts = data.digit_prompts("en", per_level=2)
    assert len(prompts) == 10 and all(len(p) == 18 for p in prompts)
    assert all(re.search(r"\b(seven|7)\b", c) for c in prompts[7])
    zh = data.digit_prompts("zh", per_level=1)
    assert all(("九" in c or "9" in c) for c in zh[9])


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_parse_caption_inverts_describe(lang):
    pairs = data.load_digit_pairs("all", lang=lang)
    for c, y, t, s in zip(pairs.captions, pairs.labels, pairs.attributes["thickness"], pairs.attributes["slant"]):
        assert data.parse_caption(c, lang) == (int(y), int(t), int(s)), c


def test_parse_caption_refuses_to_guess():
    assert data.parse_caption("a seven or a one") == (None, None, None)
    assert data.parse_caption("a thin thick 7") == (7, None, None)
    assert data.parse_caption("a thinner 7") == (7, None, None)  # whole words only
    assert data.parse_caption("一个向左倾斜的七", "zh") == (7, None, 0)  # 一个 is "a", not the digit one
    with pytest.raises(ValueError, match="lang"):
        data.parse_caption("a seven", "fr")


# ---- the random streams of the captions ------------------------------------------------
def test_english_captions_are_the_ones_the_book_was_written_with(splits):
    # read from the code before English and Chinese got separate streams: every English number
    # in the book depends on these strings, so they must not move
    assert splits["train"].captions[:3] == [
        "a right-leaning zero drawn with thin strokes",
        "a handwritten one with regular strokes, upright",
        "the digit 2, written with bold strokes, slanted to the right",
    ]


def _en_template(caption):
    """Which of the four English templates (captions._EN_TEMPLATES order) wrote ``caption``."""
    if caption.startswith("the digit "):
        return 1
    if caption.startswith("a handwritten "):
        return 3
    return 2 if " drawn with " in caption else 0


def _zh_template(caption):
    """Which of the four Chinese templates (captions._ZH_TEMPLATES order) wrote ``caption``."""
    return next(k for k, start in enumerate(("笔画", "数字", "一个", "手写的")) if caption.startswith(start))


def test_english_and_chinese_captions_draw_from_separate_streams():
    from crossmodal_lib.digits import CAPTION_STREAMS

    en, zh = load_digit_pairs("all", lang="en"), load_digit_pairs("all", lang="zh")
    # a shared generator makes both languages pick the same template (and word-or-numeral) for
    # every image; separate streams agree only by chance, about 1 time in 4
    same = [_en_template(a) == _zh_template(b) for a, b in zip(en.captions[:200], zh.captions[:200])]
    assert sum(same) < 100, sum(same)
    assert CAPTION_STREAMS["en"] == () and CAPTION_STREAMS["zh"] != ()
    for i in range(5):  # the documented seeding, for both languages
        y, t, s = int(zh.labels[i]), int(zh.attributes["thickness"][i]), int(zh.attributes["slant"][i])
        for lang, ds in (("en", en), ("zh", zh)):
            rng = np.random.default_rng([0, i, *CAPTION_STREAMS[lang]])
            assert ds.captions[i] == describe(y, t, s, lang, rng)


def test_the_facade_documents_constants_as_their_home_modules_do():
    # book/api.md documents crossmodal_lib.data, and Sphinx reads a constant's doc comment from
    # the module that assigns it: data.py repeats three comments, which must not drift apart
    pycode = pytest.importorskip("sphinx.pycode")

    def docs(module):
        return pycode.ModuleAnalyzer.for_module(f"crossmodal_lib.{module}").find_attr_docs()

    facade = docs("data")
    for home, name in (("captions", "ATTRIBUTE_LEVELS"), ("speech", "SPEECH"), ("video", "DIRECTIONS"),
                       ("captions", "PARAPHRASE_TEMPLATES")):
        assert facade[("", name)] == docs(home)[("", name)], name
        assert getattr(data, name) is getattr(importlib.import_module(f"crossmodal_lib.{home}"), name)


def test_paraphrase_prompts_are_worded_as_no_training_caption_is():
    train = set(load_digit_pairs("all").captions)
    assert len(data.PARAPHRASE_TEMPLATES) >= 10
    for template in data.PARAPHRASE_TEMPLATES:
        prompts = data.paraphrase_prompts(template)
        assert len(prompts) == 10 and all(len(p) == 1 for p in prompts)
        assert not train & {p[0] for p in prompts}, template
        assert [data.parse_caption(p[0]).digit for p in prompts] == list(range(10)), template
