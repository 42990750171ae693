import pytest
import torch

from crossmodal_lib.text import Vocabulary, tokenize


def test_tokenize_english_words_and_digits():
    assert tokenize("The digit 7, written with BOLD strokes") == ["the", "digit", "7", "written", "with", "bold", "strokes"]
    assert tokenize("a right-leaning 12") == ["a", "right", "leaning", "1", "2"]


def test_tokenize_chinese_characters_without_punctuation():
    assert tokenize("数字7，笔画很粗：右倾", "zh") == ["数", "字", "7", "笔", "画", "很", "粗", "右", "倾"]


def test_tokenize_rejects_unknown_language_and_non_strings():
    with pytest.raises(ValueError, match="lang"):
        tokenize("hello", "de")
    with pytest.raises(TypeError, match="str"):
        tokenize(7)


def test_vocabulary_order_is_frequency_then_alphabet():
    vocab = Vocabulary.build(["a thick seven", "a thin one"])
    assert vocab.itos == ["<pad>", "<unk>", "<bos>", "<eos>", "a", "one", "seven", "thick", "thin"]
    assert len(vocab) == 9


def test_encode_pads_with_zero_and_decodes_back():
    vocab = Vocabulary.build(["a thick seven", "a thin one"])
    ids = vocab.encode(["a thin seven", "one"])
    assert ids.dtype == torch.int64
    assert ids.tolist() == [[4, 8, 6], [5, 0, 0]]
    assert vocab.decode(ids[0]) == "a thin seven" and vocab.decode(ids[1]) == "one"
    assert vocab.encode(["one"], max_len=5).shape == (1, 5)
    assert vocab.encode(["one"], add_bos_eos=True).tolist() == [[2, 5, 3]]


def test_chinese_vocabulary_round_trip():
    vocab = Vocabulary.build(["笔画很粗的七", "数字7"], lang="zh")
    ids = vocab.encode(["很粗的7"])
    assert vocab.decode(ids[0]) == "很粗的7"


def test_unknown_word_is_a_clear_error_or_unk():
    vocab = Vocabulary.build(["a thick seven"])
    with pytest.raises(ValueError, match=r"unknown word\(s\) \['purple'\]"):
        vocab.encode(["a purple seven"])
    assert vocab.encode(["a purple seven"], unknown="unk").tolist() == [[4, 1, 5]]


def test_encode_errors():
    vocab = Vocabulary.build(["a thick seven"])
    with pytest.raises(ValueError, match="empty batch"):
        vocab.encode([])
    with pytest.raises(ValueError, match="max_len=2"):
        vocab.encode(["a thick seven"], max_len=2)
    with pytest.raises(TypeError, match="list of captions"):
        vocab.encode("a thick seven")
    with pytest.raises(ValueError, match="no tokens"):
        vocab.encode(["!!"])
    with pytest.raises(ValueError, match="no captions"):
        Vocabulary.build([])


def test_bag_of_words_counts_by_hand():
    vocab = Vocabulary.build(["a thick seven", "a thin one"])
    bow = vocab.bag_of_words(["a a thin", "seven"])
    expected = torch.zeros(2, len(vocab))
    expected[0, vocab.stoi["a"]] = 2
    expected[0, vocab.stoi["thin"]] = 1
    expected[1, vocab.stoi["seven"]] = 1
    assert torch.equal(bow, expected)


def test_bag_of_words_agrees_with_scikit_learn():
    from sklearn.feature_extraction.text import CountVectorizer

    captions = ["a thick seven, leaning right", "the digit 7, written with thin strokes", "a thin one"]
    vocab = Vocabulary.build(captions)
    cv = CountVectorizer(vocabulary=vocab.itos[4:], tokenizer=tokenize, lowercase=False, token_pattern=None)
    ours = vocab.bag_of_words(captions)[:, 4:]
    assert torch.equal(ours, torch.tensor(cv.transform(captions).toarray(), dtype=torch.float32))


def test_multilingual_tokenizer_handles_both_scripts():
    assert tokenize("a Seven, 笔画很粗 7", "multi") == ["a", "seven", "笔", "画", "很", "粗", "7"]
    vocab = Vocabulary.build(["a thick seven", "笔画很粗的七"], lang="multi")
    assert vocab.encode(["seven 粗"]).shape == (1, 2)


def test_a_tokenizer_refuses_letters_it_cannot_read_instead_of_dropping_them():
    """An English vocabulary once read a Chinese caption as an empty one (or as its numerals
    alone): every character was dropped by the English rule. Now it says what it cannot read."""
    assert tokenize("The digit 7, bold!") == ["the", "digit", "7", "bold"]          # punctuation is still dropped
    assert tokenize("数字7，笔画", "multi") == ["数", "字", "7", "笔", "画"]
    with pytest.raises(ValueError, match=r"'en' tokenizer cannot read '数字笔画'.*lang='zh'"):
        tokenize("数字7，笔画", "en")
    with pytest.raises(ValueError, match="cannot read 'é'"):
        tokenize("café", "en")
    with pytest.raises(ValueError, match="'multi' tokenizer cannot read 'при'"):
        tokenize("при 7", "multi")
    vocab = Vocabulary.build(["the digit 7"])
    with pytest.raises(ValueError, match="cannot read"):
        vocab.encode(["数字7"])
