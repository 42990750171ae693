"""Part 7.1: attention checked by hand, against PyTorch's own implementations, and for the
order-(in)sensitivity that the book's word-order experiment relies on."""

import math

import pytest
import torch
import torch.nn.functional as F

import crossmodal_lib.text as cm_text
from crossmodal_lib import attention
from crossmodal_lib.encoders import BagOfWordsEncoder, TextEncoder, text_encoder_for


def test_attention_by_hand():
    q = torch.tensor([[1.0, 0.0]])                  # one query, d = 2
    k = torch.tensor([[1.0, 0.0], [0.0, 1.0]])      # scores 1/sqrt(2) and 0
    v = torch.tensor([[10.0], [20.0]])
    out, w = attention.scaled_dot_product_attention(q, k, v)
    a = math.exp(1 / math.sqrt(2))
    assert w.tolist()[0] == pytest.approx([a / (a + 1), 1 / (a + 1)])
    assert out.item() == pytest.approx(10 * a / (a + 1) + 20 / (a + 1))


def test_attention_equals_pytorch_with_and_without_masks():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 4)
    mask = torch.rand(2, 1, 5, 7) > 0.3
    mask[..., 0] = True  # every query keeps at least one key
    for m in (None, mask):
        out, w = attention.scaled_dot_product_attention(q, k, v, m)
        assert (out - F.scaled_dot_product_attention(q, k, v, attn_mask=m)).abs().max() <= 1e-5
        assert torch.allclose(w.sum(-1), torch.ones(2, 3, 5)) and (m is None or (w[~m.expand_as(w)] == 0).all())
    causal = attention.causal_mask(7)
    qq = torch.randn(2, 3, 7, 8)
    out, _ = attention.scaled_dot_product_attention(qq, k, v, causal)
    assert (out - F.scaled_dot_product_attention(qq, k, v, is_causal=True)).abs().max() <= 1e-5


def test_scaling_keeps_the_scores_at_unit_variance():
    """The variance argument: q, k with independent unit-variance entries give q.k of variance d."""
    torch.manual_seed(0)
    for d in (4, 64, 256):
        q, k = torch.randn(20_000, d), torch.randn(20_000, d)
        raw = (q * k).sum(1)
        assert raw.var().item() == pytest.approx(d, rel=0.05)
        assert (raw / math.sqrt(d)).var().item() == pytest.approx(1.0, rel=0.05)


def test_multi_head_attention_equals_torch_on_the_same_weights():
    torch.manual_seed(0)
    ref = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    ours = attention.MultiHeadAttention.from_torch(ref)
    x, memory = torch.randn(3, 5, 16), torch.randn(3, 9, 16)
    padding = torch.zeros(3, 9, dtype=torch.bool)
    padding[0, 6:] = True
    out, w = ours(x, memory, memory, key_padding_mask=padding)
    ref_out, ref_w = ref(x, memory, memory, key_padding_mask=padding, average_attn_weights=False)
    assert (out - ref_out).abs().max() <= 1e-5 and (w - ref_w).abs().max() <= 1e-5
    assert (w[0, :, :, 6:] == 0).all()
    out, _ = ours(x, x, x, causal=True)
    ref_out, _ = ref(x, x, x, attn_mask=torch.nn.Transformer.generate_square_subsequent_mask(5), is_causal=True)
    assert (out - ref_out).abs().max() <= 1e-5


def test_attention_rejects_bad_input():
    mha = attention.MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match="divisible"):
        attention.MultiHeadAttention(10, 4)
    with pytest.raises(ValueError, match=r"expected query \[B, Tq, 8\]"):
        mha(torch.randn(2, 3, 6), torch.randn(2, 3, 6), torch.randn(2, 3, 6))
    with pytest.raises(ValueError, match="do not fit"):
        attention.scaled_dot_product_attention(torch.randn(2, 4), torch.randn(3, 5), torch.randn(3, 1))
    with pytest.raises(ValueError, match="attend to no key"):
        attention.scaled_dot_product_attention(torch.randn(2, 4), torch.randn(3, 4), torch.randn(3, 1),
                                               torch.tensor([[True, False, False], [False, False, False]]))
    with pytest.raises(ValueError, match="causal attention needs as many queries as keys"):
        mha(torch.randn(2, 3, 8), torch.randn(2, 5, 8), torch.randn(2, 5, 8), causal=True)
    with pytest.raises(ValueError, match="pass memory"):
        attention.TransformerBlock(8, 2, cross=True)(torch.randn(1, 3, 8))
    encoder = attention.TransformerTextEncoder(10, 4, max_len=5)
    with pytest.raises(ValueError, match="exceed max_len=5"):
        encoder(torch.ones(1, 6, dtype=torch.int64))
    with pytest.raises(ValueError, match="no tokens"):
        encoder(torch.tensor([[1, 2], [0, 0]]))


@pytest.mark.parametrize("kind", ["gru", "transformer", "bag"])
def test_text_towers_ignore_padding(kind):
    torch.manual_seed(0)
    tower = text_encoder_for(kind, 12, 6).eval()
    alone = tower(torch.tensor([[3, 4, 5]]))
    padded = tower(torch.tensor([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5]]))[:1]
    assert (alone - padded).abs().max() <= 1e-5


def test_only_the_order_aware_towers_see_word_order():
    torch.manual_seed(0)
    ids, swapped = torch.tensor([[3, 4, 5, 6]]), torch.tensor([[6, 4, 5, 3]])
    towers = {"bag": BagOfWordsEncoder(10, 6), "gru": TextEncoder(10, 6),
              "transformer": attention.TransformerTextEncoder(10, 6),
              "no positions": attention.TransformerTextEncoder(10, 6, positions=False)}
    gap = {name: (t.eval()(ids) - t(swapped)).abs().max().item() for name, t in towers.items()}
    assert gap["bag"] <= 1e-6 and gap["no positions"] <= 1e-5  # self-attention alone is order-free
    assert gap["gru"] > 1e-3 and gap["transformer"] > 1e-3
    with pytest.raises(ValueError, match="text_tower must be one of 'gru', 'transformer', 'bag'"):
        text_encoder_for("lstm", 10, 6)


@pytest.mark.training
def test_word_order_test_only_order_aware_towers_pass():
    """Part 7.1's claim (seed 0, 30 epochs on the scenes): the bag of words cannot prefer a scene's
    caption to its mirror (every pair a tie), the GRU and the Transformer prefer it >= 90 % of the time."""
    from crossmodal_lib import data, embedding, metrics

    train, test = data.load_digit_scenes("train"), data.load_digit_scenes("test")
    for kind, (low, high) in {"bag": (0.5, 0.5), "gru": (0.9, 1.0), "transformer": (0.9, 1.0)}.items():
        model = embedding.train_dual_encoder(train, text_tower=kind, epochs=30, seed=0, progress=False)
        for t in range(len(data.SCENE_TEMPLATES)):
            score = metrics.word_order_preference(model, test, t)
            assert low <= score <= high, (kind, t, score)


def test_digit_scenes_put_the_named_digits_in_order():
    from crossmodal_lib import data

    scenes, source = data.load_digit_scenes("test"), data.load_digit_pairs("test")
    assert scenes.inputs.shape == (360, 1, 16, 16) and len(data.load_digit_scenes("train")) == 1437
    left, right = scenes.labels // 10, scenes.labels % 10
    assert (left != right).all() and scenes.inputs[:, :, :4].sum() == 0 and scenes.inputs[:, :, 12:].sum() == 0
    names = data.DIGIT_NAMES["en"]
    for caption, a, b in zip(scenes.captions[:40], left.tolist(), right.tolist()):
        words = caption.replace(",", "").split()
        first, second = (names[b], names[a]) if "right of" in caption else (names[a], names[b])
        assert words.index(first) < words.index(second), caption
    # every half-canvas is one of the test split's images (unseen handwriting)
    pool = {tuple(x.flatten().tolist()) for x in source.inputs}
    assert all(tuple(x[0, 4:12, :8].flatten().tolist()) in pool for x in scenes.inputs[:20])
    assert torch.equal(data.load_digit_scenes("test").inputs, scenes.inputs)  # deterministic


def _tiny_captioner():
    from crossmodal_lib import data

    pairs = data.load_digit_pairs("test")
    vocab = cm_text.Vocabulary.build(pairs.captions)
    torch.manual_seed(0)
    return attention.Captioner(vocab, attention.CaptionerConfig(dim=16, heads=2)), pairs


def test_captioner_contracts_on_random_weights():
    model, pairs = _tiny_captioner()
    x, captions = pairs.inputs[:3], pairs.captions[:3]
    maps = model.attention_maps(x, captions)
    words = [len(cm_text.tokenize(c)) for c in captions]
    assert maps.shape == (3, max(words), 16)                         # 8 x 8 images, 2 x 2 patches
    total = maps.sum(-1)
    for i, n in enumerate(words):                                    # the rest went to the whole-image token
        assert (total[i, :n] > 0).all() and (total[i, :n] < 1).all() and (total[i, n:] == 0).all()
    described = model.describe(x, beam=1)
    assert len(described) == 3 and all(isinstance(c, str) for c in described)
    ids = model.vocab.encode(captions, add_bos_eos=True)
    ll = model.log_likelihood(x, ids)
    assert ll.shape == (3,) and (ll < 0).all()
    with pytest.raises(ValueError, match="exceed max_len=24"):
        model.logits(model.encode_image(x), torch.ones(3, 25, dtype=torch.int64))
    with pytest.raises(ValueError, match="not a multiple of patch=3"):
        attention.Captioner(model.vocab, attention.CaptionerConfig(patch=3))


def test_captioner_teacher_forcing_is_causal():
    """Changing a later word must not change the predictions for earlier positions."""
    model, pairs = _tiny_captioner()
    memory = model.encode_image(pairs.inputs[:2])
    ids = model.vocab.encode(pairs.captions[:2], add_bos_eos=True)
    changed = ids.clone()
    changed[:, 4:] = torch.where(changed[:, 4:] != 0, 5, 0)
    a, b = model.logits(memory, ids), model.logits(memory, changed)
    assert torch.allclose(a[:, :4], b[:, :4], atol=1e-6) and not torch.allclose(a[:, 4:], b[:, 4:])


@pytest.mark.training
def test_captioner_names_the_digit_and_its_attributes_at_least_as_well_as_the_mvae():
    """Part 7.1b's claims on seed 0: the captioner names the digit of >= 95 % of test images, and its
    thickness and slant words agree with the measured attributes at least as often as the MVAE's."""
    from crossmodal_lib import data, metrics, vae

    train, test = data.load_digit_pairs("train"), data.load_digit_pairs("test")

    captioner = attention.train_captioner(train, seed=0, progress=False)
    mvae = vae.train_multimodal_vae(train, seed=0, progress=False)
    ours = metrics.caption_agreement(captioner.describe(test.inputs), test)
    theirs = metrics.caption_agreement(mvae.describe(test.inputs), test)
    assert ours["digit"] >= 0.95
    assert ours["thickness"] >= theirs["thickness"] and ours["slant"] >= theirs["slant"], (ours, theirs)
