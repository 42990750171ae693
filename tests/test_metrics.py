import math

import pytest
import torch

from crossmodal_lib import metrics


def test_accuracy_by_hand():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, -1.0]])
    assert metrics.accuracy(logits, torch.tensor([0, 0, 0])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="empty"):
        metrics.accuracy(torch.zeros(0, 2), torch.zeros(0, dtype=torch.int64))
    with pytest.raises(ValueError, match="logits"):
        metrics.accuracy(torch.zeros(3, 2), torch.zeros(2, dtype=torch.int64))


def test_recall_and_median_rank_by_hand():
    # query 0: partner ranked 1st; query 1: partner ranked 3rd; query 2: partner ranked 2nd
    sim = torch.tensor([[0.9, 0.1, 0.2],
                        [0.8, 0.1, 0.5],
                        [0.0, 0.9, 0.5]])
    assert metrics.recall_at_k(sim, 1) == pytest.approx(1 / 3)
    assert metrics.recall_at_k(sim, 2) == pytest.approx(2 / 3)
    assert metrics.recall_at_k(sim, 3) == 1.0
    assert metrics.median_rank(sim) == 2.0


def test_median_rank_of_an_even_number_of_queries_is_the_mean_of_the_middle_two():
    # query i's partner (candidate i) is ranked i + 1: ranks 1, 2, 3, 4
    sim = torch.tensor([[4.0, 3, 2, 1], [4, 3, 2, 1], [4, 3, 2, 1], [4, 3, 2, 1]])
    assert metrics.median_rank(sim) == 2.5
    labels = torch.arange(4)
    assert metrics.retrieval_report(sim, labels, labels, ks=(1,))["chance median rank"] == 2.5  # (n + 1) / 2


def test_ties_are_pessimistic():
    sim = torch.zeros(4, 4)
    assert metrics.recall_at_k(sim, 1) == 0.0
    assert metrics.median_rank(sim) == 4.0


def test_label_recall_counts_any_item_of_the_class():
    sim = torch.tensor([[0.1, 0.9, 0.0],
                        [0.2, 0.1, 0.9]])
    q, items = torch.tensor([1, 0]), torch.tensor([0, 1, 0])
    # query 0 (class 1): top item 1 is class 1 -> hit; query 1 (class 0): top item 2 is class 0 -> hit
    assert metrics.recall_at_k(sim, 1, q, items) == 1.0
    assert metrics.recall_at_k(sim, 1, torch.tensor([0, 1]), items) == 0.0


def test_chance_level_matches_k_over_n():
    gen = torch.Generator().manual_seed(0)
    n = 200
    values = [metrics.recall_at_k(torch.rand(n, n, generator=gen), 10) for _ in range(100)]
    assert sum(values) / len(values) == pytest.approx(10 / n, abs=0.006)


def test_shape_errors():
    with pytest.raises(ValueError, match="square"):
        metrics.recall_at_k(torch.zeros(2, 3), 1)
    with pytest.raises(ValueError, match="k must be"):
        metrics.recall_at_k(torch.zeros(2, 2), 0)
    with pytest.raises(ValueError, match="both"):
        metrics.recall_at_k(torch.zeros(2, 2), 1, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="no correct candidate"):
        metrics.recall_at_k(torch.zeros(1, 2), 1, torch.tensor([5]), torch.tensor([0, 1]))


# ---------------------------------------------------------------- judging samples -------
def test_judge_is_accurate_on_real_digits_and_checks_input():
    from crossmodal_lib import data

    train, test = data.load_digit_pairs("train"), data.load_digit_pairs("test")
    judge = metrics.Judge(train.inputs, train.labels)
    assert judge.accuracy(test.inputs, test.labels) >= 0.97
    assert judge.features(test.inputs).shape == (360, 20)
    assert judge.accuracy(torch.rand(200, 1, 8, 8), test.labels[:200]) < 0.5  # noise is not a digit
    with pytest.raises(ValueError, match="expects inputs"):
        judge.predict(torch.rand(3, 64))
    with pytest.raises(ValueError, match="NaN"):
        judge.predict(torch.full((2, 1, 8, 8), float("nan")))
    with pytest.raises(ValueError, match="empty"):
        judge.predict(torch.zeros(0, 1, 8, 8))


def test_within_class_diversity_by_hand():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0], [1.0, 1.0]])
    labels = torch.tensor([0, 0, 1, 1])
    assert metrics.within_class_diversity(x, labels) == pytest.approx((5.0 + 0.0) / 2)
    with pytest.raises(ValueError, match="at least two"):
        metrics.within_class_diversity(x[:1], labels[:1])


def test_frechet_distance_closed_form():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(4000, 3, generator=gen, dtype=torch.float64)
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64)
    assert metrics.frechet_distance(a, a + shift) == pytest.approx(9.0, abs=1e-6)  # same covariance
    # isotropic scale: tr(S + 4S - 2*2S) = tr(S) = 3 (for S ~ I)
    assert metrics.frechet_distance(a, 2 * a) == pytest.approx(3.0, rel=0.1)
    with pytest.raises(ValueError, match="expected features"):
        metrics.frechet_distance(a, a[:, :2])


def test_attribute_control_calls_the_generator_once_and_checks_its_answer():
    calls = []

    def generate(captions):
        calls.append(len(captions))
        return torch.full((len(captions), 1, 8, 8), 0.5)

    metrics.attribute_control(generate, n=2)
    assert calls == [10 * 3 * 2 * 2]              # digits x levels x (thickness, slant) x n, in one batch
    with pytest.raises(ValueError, match="returned 1 images for 120 captions"):
        metrics.attribute_control(lambda caps: torch.zeros(1, 1, 8, 8), n=2)


def test_attribute_control_of_a_generator_that_ignores_the_caption():
    flat = metrics.attribute_control(lambda caps: torch.full((len(caps), 1, 8, 8), 0.5), n=3)
    assert flat["ink"].shape == (10, 3) and flat["thickness_ok"] == 0 and flat["slant_ok"] == 0


def test_ndcg_by_hand_and_against_scikit_learn():
    from sklearn.metrics import ndcg_score

    sim = torch.tensor([[6.0, 5.0, 4.0, 3.0, 2.0, 1.0]])                 # candidates ranked in order
    labels = torch.tensor([0, 1, 0, 0, 1, 0])                              # relevant at ranks 2 and 5
    dcg, ideal = 1 / math.log2(3) + 1 / math.log2(6), 1 + 1 / math.log2(3)
    assert metrics.ndcg(sim, torch.tensor([1]), labels) == pytest.approx(dcg / ideal)
    assert metrics.ndcg(sim, torch.tensor([1]), labels, k=2) == pytest.approx((1 / math.log2(3)) / ideal)
    g = torch.Generator().manual_seed(0)
    sim, ql, il = torch.randn(20, 30, generator=g), torch.randint(0, 4, (20,), generator=g), torch.randint(0, 4, (30,), generator=g)
    rel = (ql[:, None] == il[None, :]).double().numpy()
    for k in (None, 5):
        assert metrics.ndcg(sim, ql, il, k) == pytest.approx(ndcg_score(rel, sim.numpy(), k=k))
    with pytest.raises(ValueError, match="no relevant"):
        metrics.ndcg(sim, torch.full((20,), 9), il)


def test_error_rates_by_hand_and_against_jiwer():
    import jiwer

    refs, hyps = ["three one four", "one five nine two"], ["three four four", "one five two"]
    assert metrics.error_rate(refs, hyps) == pytest.approx(2 / 7)          # one substitution, one deletion
    assert metrics.error_rate(refs, hyps) == pytest.approx(jiwer.wer(refs, hyps))
    assert metrics.error_rate(refs, hyps, "char") == pytest.approx(jiwer.cer(refs, hyps))
    with pytest.raises(ValueError, match="as many hypotheses"):
        metrics.error_rate(refs, hyps[:1])
    with pytest.raises(ValueError, match="unit"):
        metrics.error_rate(refs, hyps, "token")


def test_bits_per_dim_by_hand():
    # a uniform model over 17 grey levels per pixel: log 17 nats per pixel = log2 17 bits per dimension
    assert metrics.bits_per_dim(-64 * math.log(17), 64) == pytest.approx(math.log2(17))
    with pytest.raises(ValueError, match="dims"):
        metrics.bits_per_dim(-1.0, 0)


def test_chance_ndcg_by_hand_and_by_simulation():
    assert metrics.chance_ndcg(2, 1) == pytest.approx(0.5 * (1 + 1 / math.log2(3)))
    assert metrics.chance_ndcg(5, 5) == pytest.approx(1.0)
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0] * 3 + [1] * 17)
    values = [metrics.ndcg(torch.rand(1, 20, generator=g), torch.tensor([0]), labels) for _ in range(4000)]
    assert abs(sum(values) / len(values) - metrics.chance_ndcg(20, 3)) < 0.01
    with pytest.raises(ValueError, match="1 <= m <= n"):
        metrics.chance_ndcg(3, 4)
