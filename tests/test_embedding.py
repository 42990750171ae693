"""Part 3.1: objectives against hand computations, CCA against scikit-learn, the trained model's claims."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from crossmodal_lib import data, embedding, metrics
from crossmodal_lib.encoders import ConvImageEncoder, TextEncoder
from crossmodal_lib.text import Vocabulary


def test_info_nce_by_hand_for_two_pairs():
    u = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    v = F.normalize(torch.tensor([[1.0, 1.0], [0.0, 1.0]]), dim=1)
    s = u @ v.T  # [[0.7071, 0], [0.7071, 1]]
    scale = 2.0
    row = lambda logits, i: -math.log(math.exp(logits[i][i]) / sum(math.exp(x) for x in logits[i]))  # noqa: E731
    L = (scale * s).tolist()
    LT = (scale * s.T).tolist()
    expected = ((row(L, 0) + row(L, 1)) / 2 + (row(LT, 0) + row(LT, 1)) / 2) / 2
    assert embedding.info_nce(u, v, scale).item() == pytest.approx(expected, rel=1e-6)


def test_info_nce_equals_symmetric_cross_entropy():
    gen = torch.Generator().manual_seed(0)
    u = F.normalize(torch.randn(16, 8, generator=gen), dim=1)
    v = F.normalize(torch.randn(16, 8, generator=gen), dim=1)
    logits = 5.0 * u @ v.T
    target = torch.arange(16)
    ref = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    assert torch.allclose(embedding.info_nce(u, v, 5.0), ref, atol=1e-6)


def test_info_nce_with_multiple_positives_counts_them_together():
    u = F.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), dim=1)
    v = u.clone()
    groups = torch.tensor([0, 0, 1])  # items 0 and 1 have identical captions
    pos = embedding.positive_mask(3, groups=groups)
    # rows 0 and 1: positives {0, 1} hold 2 e^s of 2 e^s + e^0; row 2: e^s / (e^s + 2)
    s = 3.0
    r01 = -math.log(2 * math.exp(s) / (2 * math.exp(s) + 1))
    r2 = -math.log(math.exp(s) / (math.exp(s) + 2))
    assert embedding.info_nce(u, v, s, pos).item() == pytest.approx((2 * r01 + r2) / 3, rel=1e-5)
    with pytest.raises(ValueError, match="diagonal"):
        embedding.info_nce(u, v, s, torch.zeros(3, 3, dtype=torch.bool))


def test_info_nce_gradient_matches_finite_differences():
    gen = torch.Generator().manual_seed(1)
    u = torch.randn(4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    v = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a: embedding.info_nce(a, v, 2.0), (u,))


def test_contrastive_losses_reject_bad_batches():
    with pytest.raises(ValueError, match="same shape"):
        embedding.info_nce(torch.zeros(3, 4), torch.zeros(2, 4), 1.0)
    with pytest.raises(ValueError, match="empty batch"):
        embedding.triplet_loss(torch.zeros(0, 4), torch.zeros(0, 4))


def test_triplet_loss_by_hand():
    u = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    v = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    # s = [[0.6, 0], [0.8, 1]]; diag (0.6, 1); margin 0.5
    # image anchors: row 0: [0.5 + 0 - 0.6]+ = 0; row 1: [0.5 + 0.8 - 1]+ = 0.3
    # caption anchors: col 0: [0.5 + 0.8 - 0.6]+ = 0.7; col 1: [0.5 + 0 - 1]+ = 0
    assert embedding.triplet_loss(u, v, margin=0.5).item() == pytest.approx((0 + 0.7 + 0.3 + 0) / 2)
    assert embedding.triplet_loss(u, v, margin=0.5, hardest=False).item() == pytest.approx(0.5)
    # marking pair (1, 0) as positive removes both violations involving it
    pos = torch.tensor([[True, False], [True, True]])
    assert embedding.triplet_loss(u, v, margin=0.5, positives=pos).item() == pytest.approx(0.0)


def test_linear_cca_matches_scikit_learn():
    from sklearn.cross_decomposition import CCA

    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 2))
    X = np.c_[z[:, :1] + 0.5 * rng.normal(size=(2000, 1)), rng.normal(size=(2000, 3)), z[:, 1:] + rng.normal(size=(2000, 1))]
    Y = z @ rng.normal(size=(2, 4)) + 0.5 * rng.normal(size=(2000, 4))
    ours = embedding.LinearCCA(2, reg=0.0).fit(X, Y)
    a, b = ours.transform(X, Y)
    A, B = CCA(n_components=2, scale=False, max_iter=5000, tol=1e-10).fit(X, Y).transform(X, Y)
    for i in range(2):
        ours_corr = np.corrcoef(a[:, i], b[:, i])[0, 1]
        assert ours_corr == pytest.approx(ours.correlations[i].item(), abs=1e-6)
        assert ours_corr == pytest.approx(np.corrcoef(A[:, i], B[:, i])[0, 1], abs=1e-6)
        assert abs(np.corrcoef(a[:, i], A[:, i])[0, 1]) == pytest.approx(1.0, abs=1e-6)  # same direction


def test_linear_cca_variates_are_white_and_uncorrelated():
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(500, 5)), rng.normal(size=(500, 4))
    Y[:, 0] += X[:, 0]
    cca = embedding.LinearCCA(3, reg=0.0).fit(X, Y)
    a, b = cca.transform(X, Y)
    cov_a = torch.cov(a.double().T)
    assert torch.allclose(cov_a, torch.eye(3, dtype=torch.float64), atol=1e-4)
    cross = (a - a.mean(0)).double().T @ (b - b.mean(0)).double() / (len(a) - 1)
    assert torch.allclose(cross, torch.diag(cca.correlations), atol=1e-4)
    with pytest.raises(ValueError, match="cannot extract"):
        embedding.LinearCCA(6).fit(X, Y)
    with pytest.raises(RuntimeError, match="fit"):
        embedding.LinearCCA(2).transform_x(X)


def test_gaussian_mutual_information():
    assert embedding.gaussian_mutual_information(0.0) == 0.0
    assert embedding.gaussian_mutual_information(0.8, dim=2) == pytest.approx(-math.log(1 - 0.64))
    with pytest.raises(ValueError):
        embedding.gaussian_mutual_information(1.0)


def test_random_shift_moves_content_without_wrapping():
    x = torch.zeros(64, 1, 4, 4)
    x[:, 0, 1, 1] = 1.0
    y = embedding.random_shift(x, 1)
    assert torch.equal(y.sum(dim=(1, 2, 3)), torch.ones(64))  # one pixel, still inside
    positions = {tuple(torch.nonzero(img[0])[0].tolist()) for img in y}
    assert positions <= {(r, c) for r in range(3) for c in range(3)} and len(positions) > 4
    edge = torch.zeros(200, 1, 4, 4)
    edge[:, 0, 0, 0] = 1.0
    moved = embedding.random_shift(edge, 1)
    assert torch.equal(moved.sum(dim=(1, 2, 3)), torch.ones(200))  # never cropped off the edge
    corner = {tuple(torch.nonzero(img[0])[0].tolist()) for img in moved}
    assert corner == {(0, 0), (0, 1), (1, 0), (1, 1)}  # it can only move down or right


def test_random_shift_keeps_every_digits_ink_and_attributes():
    """Unlike a crop, the shift keeps each digit's ink and slant exactly (so its caption stays true)."""
    torch.manual_seed(0)
    x = data.load_digit_pairs("train").inputs
    y = embedding.random_shift(x, 1)
    assert torch.allclose(y.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)))
    assert torch.allclose(data.slant(y), data.slant(x), atol=1e-4)
    moved = (y != x).flatten(1).any(1).float().mean()
    assert 0.5 < moved < 0.95  # most digits move; some touch both edges on both axes and cannot
    full = torch.ones(3, 1, 8, 8)  # ink everywhere: no room, no move
    assert torch.equal(embedding.random_shift(full, 2), full)


def test_text_encoder_ignores_padding_and_reads_order():
    torch.manual_seed(0)
    enc = TextEncoder(vocab_size=10, out_dim=6).eval()
    alone = enc(torch.tensor([[4, 5, 6]]))
    padded = enc(torch.tensor([[4, 5, 6, 0, 0], [7, 8, 9, 4, 5]]))[:1]
    assert torch.allclose(alone, padded, atol=1e-6)
    assert not torch.allclose(enc(torch.tensor([[4, 5]])), enc(torch.tensor([[5, 4]])), atol=1e-4)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        enc(torch.tensor([[12]]))
    with pytest.raises(ValueError, match="no tokens"):
        enc(torch.tensor([[0, 0]]))


def test_text_encoder_equals_a_packed_bidirectional_gru():
    """The two padded passes compute what PyTorch's packed bidirectional GRU computes, and start
    from the same initial weights as nn.GRU(bidirectional=True) under the same seed."""
    torch.manual_seed(0)
    enc = TextEncoder(vocab_size=10, out_dim=6)
    torch.manual_seed(0)
    embed = torch.nn.Embedding(10, 64, padding_idx=0)
    gru = torch.nn.GRU(64, 64, batch_first=True, bidirectional=True)
    fc = torch.nn.Linear(128, 6)
    assert torch.equal(gru.weight_ih_l0_reverse, enc.gru_backward.weight_ih_l0)
    ids = torch.tensor([[4, 5, 6, 0, 0], [7, 8, 9, 4, 5], [3, 0, 0, 0, 0]])
    mask = (ids != 0).unsqueeze(-1).float()
    packed = torch.nn.utils.rnn.pack_padded_sequence(embed(ids), mask.sum(1).squeeze(-1).long(), batch_first=True,
                                                     enforce_sorted=False)
    h, _ = torch.nn.utils.rnn.pad_packed_sequence(gru(packed)[0], batch_first=True, total_length=5)
    reference = fc((h * mask).sum(1) / mask.sum(1))
    assert torch.allclose(enc(ids), reference, atol=1e-6)


def test_conv_image_encoder_shapes():
    enc = ConvImageEncoder(out_dim=16)
    assert enc(torch.rand(5, 1, 8, 8)).shape == (5, 16)
    with pytest.raises(ValueError, match=r"\[B, 1, 8, 8\]"):
        enc(torch.rand(5, 8, 8))


def test_metric_chance_levels():
    assert metrics.chance_recall_at_k(360, 10) == pytest.approx(10 / 360)
    assert metrics.chance_recall_at_k(10, 1, m=3) == pytest.approx(0.3)
    assert metrics.chance_recall_at_k(10, 2, m=3) == pytest.approx(1 - (7 * 6) / (10 * 9))
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(50) % 5  # m = 10 relevant of n = 50
    maps = [metrics.mean_average_precision(torch.rand(50, 50, generator=gen), labels, labels) for _ in range(300)]
    assert np.mean(maps) == pytest.approx(metrics.chance_map(50, 10), abs=0.01)
    assert metrics.chance_map(5, 5) == pytest.approx(1.0)


def test_map_by_hand():
    sim = torch.tensor([[0.9, 0.8, 0.1], [0.1, 0.9, 0.8]])
    q, items = torch.tensor([0, 1]), torch.tensor([0, 1, 0])
    # query 0: relevant items 0 and 2 at ranks 1 and 3 -> AP = (1/1 + 2/3) / 2
    # query 1: relevant item 1 at rank 1 -> AP = 1
    assert metrics.mean_average_precision(sim, q, items) == pytest.approx(((1 + 2 / 3) / 2 + 1) / 2)


def test_zero_shot_classify_uses_the_mean_prompt():
    u = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    prompts = [torch.tensor([[1.0, 0.0], [0.8, 0.6]]), torch.tensor([[0.0, 1.0]])]
    scores = metrics.zero_shot_classify(u, prompts)
    assert scores.argmax(1).tolist() == [0, 1]
    assert scores[0, 0].item() == pytest.approx(F.normalize(torch.tensor([1.8, 0.6]), dim=0)[0].item())


def test_zero_shot_accuracy_by_hand():
    class Towers:  # inputs and prompts already embedded: a word's embedding is a fixed unit vector
        def encode_inputs(self, x):
            return F.normalize(x, dim=1)

        def encode_texts(self, prompts, scale=1.0):
            table = {"zero": [1.0, 0.0], "one": [0.0, 1.0], "nought": [0.8, 0.6]}
            return torch.tensor([table[p] for p in prompts]) * scale

    x = torch.tensor([[1.0, 0.1], [0.2, 1.0], [0.6, 0.5], [0.5, 0.7]])
    labels = torch.tensor([0, 1, 0, 0])
    # class 0 is the mean of "zero" and "nought", direction (0.949, 0.316): row 3 is closer to "one"
    assert metrics.zero_shot_accuracy(Towers(), x, labels, [["zero", "nought"], ["one"]]) == 0.75
    assert metrics.zero_shot_accuracy(Towers(), x, labels, [["zero"], ["one"]], scale=2.0) == 0.75
    assert metrics.zero_shot_accuracy(Towers(), x, labels, [["one"], ["zero"]]) == 0.25  # swapped: only row 3


@pytest.mark.training
def test_bfloat16_autocast_trains_as_well_even_inside_an_outer_autocast_region():
    """Part 6b's claims (seed 0, 10 epochs): the towers under bfloat16 autocast reach the float32
    zero-shot accuracy within 2 points. The step's autocast context does not cache the bfloat16
    copies of the weights, so a trainer called inside a caller's autocast region, where a cache
    would outlive the step and keep serving the initial weights, still learns."""
    train, test = data.load_digit_pairs("train"), data.load_digit_pairs("test")
    prompts = data.digit_prompts("en")
    fp32, bf16 = (embedding.train_dual_encoder(train, epochs=10, precision=p, progress=False) for p in ("float32", "bfloat16"))
    acc = [metrics.zero_shot_accuracy(m, test.inputs, test.labels, prompts) for m in (fp32, bf16)]
    assert acc[0] >= 0.93 and abs(acc[0] - acc[1]) <= 0.02
    with torch.autocast("cpu", dtype=torch.bfloat16):
        nested = embedding.train_dual_encoder(train, epochs=3, precision="bfloat16", progress=False)
    assert nested.history["loss"][-1] < math.log(128) - 1.0  # log B: the loss of an untrained model


@pytest.fixture(scope="module")
def trained():
    train = data.load_digit_pairs("train")
    return embedding.train_dual_encoder(train, seed=0, progress=False)


@pytest.mark.training
def test_dual_encoder_reaches_the_book_quality(trained):
    """Part 3.1's claim: zero-shot accuracy and class-level R@1 both ways >= 97% (seed 0)."""
    test = data.load_digit_pairs("test")
    u, v = trained.encode_inputs(test.inputs), trained.encode_texts(test.captions)
    sim = u @ v.T
    prompts = [trained.encode_texts(p) for p in data.digit_prompts("en")]
    assert metrics.accuracy(metrics.zero_shot_classify(u, prompts), test.labels) >= 0.97
    assert metrics.recall_at_k(sim, 1, test.labels, test.labels) >= 0.97
    assert metrics.recall_at_k(sim.T, 1, test.labels, test.labels) >= 0.97
    assert metrics.recall_at_k(sim, 10) > 10 * metrics.chance_recall_at_k(360, 10)  # exact pairs too


@pytest.mark.training
def test_dual_encoder_public_contract(trained):
    x = data.load_digit_pairs("test").inputs[:5]
    with torch.no_grad():
        u = trained.encode_inputs(x)
        v = trained.encode_texts(["a seven with bold strokes, leaning right", "the digit 1, written with thin strokes, upright"])
    assert u.shape == (5, trained.dim) and v.shape == (2, trained.dim)
    assert u.device.type == "cpu" and v.device.type == "cpu"
    assert torch.allclose(u.norm(dim=1), torch.ones(5), atol=1e-5)
    assert torch.allclose(v.norm(dim=1), torch.ones(2), atol=1e-5)
    with pytest.raises(ValueError, match="purple"):
        trained.encode_texts(["a purple seven"])
    with pytest.raises(ValueError, match="empty"):
        trained.encode_texts([])
    assert len(trained.history["loss"]) == trained.config.epochs == 25 and trained.history["loss"][-1] < trained.history["loss"][0]


@pytest.mark.training
def test_dual_encoder_checkpoint_round_trip(trained, tmp_path):
    from crossmodal_lib.training import load_checkpoint, save_checkpoint

    path = save_checkpoint(tmp_path / "dual.safetensors", trained, {"vocab": trained.vocab.itos})
    clone = embedding.DualEncoder(Vocabulary(load_checkpoint(path, embedding.DualEncoder(trained.vocab))["vocab"]))
    load_checkpoint(path, clone)
    x = data.load_digit_pairs("test").inputs[:4]
    assert torch.equal(trained.encode_inputs(x), clone.encode_inputs(x))


def test_train_dual_encoder_rejects_bad_options():
    train = data.load_digit_pairs("test")
    with pytest.raises(ValueError, match="loss must be"):
        embedding.train_dual_encoder(train, loss="mse", progress=False)
    with pytest.raises(ValueError, match="positives must be"):
        embedding.train_dual_encoder(train, positives="everything", epochs=1, progress=False)
    with pytest.raises(ValueError, match="precision must be one of 'float32', 'bfloat16'; got 'float16'"):
        embedding.train_dual_encoder(train, precision="float16", epochs=1, progress=False)
