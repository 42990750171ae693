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
