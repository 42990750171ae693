import pytest
import torch

from crossmodal_lib import fusion, metrics
from crossmodal_lib.data import DIGIT_NAMES, load_digit_pairs
from crossmodal_lib.encoders import MLP
from crossmodal_lib.text import Vocabulary, tokenize
from crossmodal_lib.training import set_seed


def test_late_fusion_is_the_normalised_product_by_hand():
    a = torch.tensor([[0.0, 1.0, 2.0]])
    b = torch.tensor([[2.0, 0.0, 0.0]])
    pa, pb = a.softmax(1), b.softmax(1)
    expected = (pa * pb) / (pa * pb).sum()
    assert torch.allclose(fusion.late_fusion(a, b).exp(), expected, atol=1e-6)
    with pytest.raises(ValueError, match="same classes"):
        fusion.late_fusion(torch.zeros(1, 3), torch.zeros(1, 4))


def test_early_fusion_shapes_and_mismatched_pairs():
    model = fusion.EarlyFusion(64, 20)
    assert model(torch.rand(5, 64), torch.rand(5, 20)).shape == (5, 10)
    with pytest.raises(ValueError, match="mismatched pairs: 5 images but 4 captions"):
        model(torch.rand(5, 64), torch.rand(4, 20))


def test_corrupt_pairs_swaps_digits_and_keeps_labels():
    ds = load_digit_pairs("test")
    noisy = fusion.corrupt_pairs(ds, image_noise=0.4, caption_swap=0.25, seed=2)
    assert torch.equal(noisy.labels, ds.labels)
    changed = [i for i, (a, b) in enumerate(zip(ds.captions, noisy.captions)) if a != b]
    assert 0.18 < len(changed) / len(ds) < 0.32
    for i in changed:  # a lying caption names a digit other than the true one
        words = set(tokenize(noisy.captions[i]))
        y = int(ds.labels[i])
        assert DIGIT_NAMES["en"][y] not in words and str(y) not in words
    residual = noisy.inputs - ds.inputs
    assert 0.25 < residual.std() < 0.4  # clamping to [0, 1] shrinks the N(0, 0.4^2) noise
    with pytest.raises(ValueError, match="probability"):
        fusion.corrupt_pairs(ds, image_noise=0.1, caption_swap=1.5)


@pytest.mark.training
def test_fusion_beats_each_modality_as_the_book_claims():
    """Part 2's experiment, same seeds: both fusions beat the best single modality by >= 5 points."""
    train, test = load_digit_pairs("train"), load_digit_pairs("test")
    vocab = Vocabulary.build(train.captions)
    ntr = fusion.corrupt_pairs(train, image_noise=0.4, caption_swap=0.25, seed=1)
    nte = fusion.corrupt_pairs(test, image_noise=0.4, caption_swap=0.25, seed=2)
    xi_tr, xt_tr = ntr.inputs.flatten(1), vocab.bag_of_words(ntr.captions)
    xi_te, xt_te = nte.inputs.flatten(1), vocab.bag_of_words(nte.captions)
    set_seed(0)
    img, txt, early = MLP(64, 10), MLP(len(vocab), 10), fusion.EarlyFusion(64, len(vocab))
    fusion.train_classifier(img, (xi_tr,), ntr.labels, progress=False)
    fusion.train_classifier(txt, (xt_tr,), ntr.labels, progress=False)
    fusion.train_classifier(early, (xi_tr, xt_tr), ntr.labels, progress=False)
    li, lt = fusion.predict_logits(img, xi_te), fusion.predict_logits(txt, xt_te)
    acc_img, acc_txt = metrics.accuracy(li, test.labels), metrics.accuracy(lt, test.labels)
    acc_early = metrics.accuracy(fusion.predict_logits(early, xi_te, xt_te), test.labels)
    acc_late = metrics.accuracy(fusion.late_fusion(li, lt), test.labels)
    assert 0.65 < acc_img < 0.9 and 0.65 < acc_txt < 0.8  # each view alone is unreliable
    assert min(acc_early, acc_late) >= max(acc_img, acc_txt) + 0.05


def test_corrupt_pairs_keeps_every_other_field():
    import dataclasses

    ds = load_digit_pairs("test").subset(range(12))
    ds = dataclasses.replace(ds, speakers=[f"voice{i % 3}" for i in range(12)], lang="en")
    noisy = fusion.corrupt_pairs(ds, image_noise=0.2, caption_swap=0.5, seed=0)
    assert noisy.speakers == ds.speakers
    assert torch.equal(noisy.indices, ds.indices) and (noisy.modality, noisy.lang) == (ds.modality, ds.lang)
    assert noisy.attributes.keys() == ds.attributes.keys()
    assert all(noisy.attributes[k] is not ds.attributes[k] for k in ds.attributes)  # copies, not views
