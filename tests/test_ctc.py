"""Part 5.2b: CTC's forward recursion against its definition and PyTorch, decoding, error rates,
connected-speech data and the recogniser's claimed quality."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from crossmodal_lib import ctc, speech


def test_ctc_by_hand_two_frames_one_label():
    """T = 2, labels {blank, 1}: the transcript "1" has three alignments, 11, _1 and 1_."""
    p = torch.tensor([[0.3, 0.7], [0.6, 0.4]])                 # frame t: (p(blank), p(1))
    want = 0.7 * 0.4 + 0.3 * 0.4 + 0.7 * 0.6
    got = ctc.ctc_log_likelihood(p.log()[:, None], torch.tensor([[1]]), torch.tensor([2]), torch.tensor([1]))
    assert got.exp().item() == pytest.approx(want)
    assert ctc.brute_force_log_likelihood(p.log(), [1]).exp().item() == pytest.approx(want)
    # "1 1" needs a blank between the two 1s: three frames at least, so it is impossible in two
    assert ctc.ctc_log_likelihood(p.log()[:, None], torch.tensor([[1, 1]]), torch.tensor([2]), torch.tensor([2])) == -math.inf


def test_forward_recursion_equals_pytorch_and_the_brute_force_sum():
    torch.manual_seed(0)
    log_probs = torch.randn(14, 5, 6).log_softmax(-1)
    targets = torch.tensor([[1, 2, 2, 3], [4, 0, 0, 0], [5, 5, 5, 5], [2, 3, 0, 0], [1, 2, 3, 4]])
    target_lengths, input_lengths = torch.tensor([4, 1, 4, 2, 4]), torch.tensor([14, 10, 14, 6, 9])
    ours = ctc.ctc_log_likelihood(log_probs, targets, input_lengths, target_lengths)
    reference = -F.ctc_loss(log_probs, targets, input_lengths, target_lengths, reduction="none")
    assert (ours - reference).abs().max() <= 1e-4
    small = torch.randn(6, 3).log_softmax(-1)
    for target in ([1], [2, 1], [1, 1], [2, 1, 2], []):
        got = ctc.ctc_log_likelihood(small[:, None], torch.tensor([target or [0]]), torch.tensor([6]),
                                     torch.tensor([len(target)]))
        assert got.item() == pytest.approx(ctc.brute_force_log_likelihood(small, target).item(), abs=1e-5)


def test_decoders_and_collapse():
    assert ctc.collapse([1, 1, 0, 1, 2, 2, 0]) == [1, 1, 2]
    assert ctc.collapse([0, 0, 0]) == []
    torch.manual_seed(0)
    disagreements = 0
    for _ in range(20):  # prefix beam search finds the most likely transcript; the best path need not
        log_probs = (torch.randn(5, 3) * 2).log_softmax(-1)
        totals: dict[tuple, float] = {}
        for path in itertools.product(range(3), repeat=5):
            key = tuple(ctc.collapse(path))
            totals[key] = totals.get(key, 0.0) + math.exp(log_probs[torch.arange(5), torch.tensor(path)].sum().item())
        best = list(max(totals, key=totals.get))
        assert ctc.prefix_beam_search(log_probs, width=50) == best
        disagreements += ctc.greedy_decode(log_probs) != best
    assert disagreements > 0


def test_edit_distance_by_hand_and_against_jiwer():
    import jiwer

    assert ctc.edit_distance("kitten", "sitting") == 3
    assert ctc.edit_distance([], [1, 2]) == 2 and ctc.edit_distance([1, 2], []) == 2
    pairs = [("3 1 4 1 5", "3 1 1 5"), ("2 7", "2 7 7"), ("9 9 9", "8 9"), ("0 1", "0 1")]
    errors = sum(ctc.edit_distance(r.split(), h.split()) for r, h in pairs)
    assert errors / sum(len(r.split()) for r, _ in pairs) == pytest.approx(jiwer.wer([r for r, _ in pairs], [h for _, h in pairs]))


def test_connected_digit_strings():
    train, test = speech.load_spoken_digit_strings("train"), speech.load_spoken_digit_strings("test")
    assert train.inputs.shape[:3] == (1000, 1, 32) and test.inputs.shape[:3] == (300, 1, 32)
    assert not set(train.speakers) & set(test.speakers)
    frames = test.attributes["frames"]
    assert int(frames.max()) == test.inputs.shape[-1] and (test.inputs[0, 0, :, int(frames[0]):] == 0).all()
    lengths = torch.tensor([len(c.split()) for c in test.captions])
    assert torch.equal(lengths, test.labels) and int(lengths.min()) >= 3 and int(lengths.max()) <= 7
    assert set(test.attributes["lang"].tolist()) == {0, 1}
    assert torch.equal(speech.load_spoken_digit_strings("test").inputs, test.inputs)     # deterministic
    english = speech.load_spoken_digit_strings("test", lang="en", n=20)
    assert (english.attributes["lang"] == 0).all() and len(english) == 20


def test_recognizer_rejects_bad_input():
    model = speech.CTCRecognizer(speech.CTCConfig())
    x = torch.zeros(2, 1, 32, 40)
    with pytest.raises(ValueError, match=r"lengths must lie in 1..40"):
        model.frame_log_probs(x, torch.tensor([41, 10]))
    with pytest.raises(ValueError, match="non-empty batch"):
        model.frame_log_probs(torch.zeros(0, 1, 32, 40), torch.zeros(0, dtype=torch.int64))
    with pytest.raises(ValueError, match="non-empty batch"):
        model.frame_log_probs(torch.zeros(2, 32, 40), torch.tensor([5, 5]))
    with pytest.raises(ValueError, match=r"not digits: \['seven'\]"):
        speech.digit_targets(["3 seven 1"])
    targets, lengths = speech.digit_targets(["3 1 4", "0"])
    assert targets.tolist() == [[4, 2, 5], [1, 0, 0]] and lengths.tolist() == [3, 1]
    log_probs, out_lengths = model.frame_log_probs(x, torch.tensor([40, 7]))
    assert log_probs.shape == (2, 20, 11) and out_lengths.tolist() == [20, 4]


@pytest.mark.training
def test_ctc_recognizer_reaches_the_book_quality():
    """Part 5.2b's claim (seed 0): digit error rate <= 8 % on the unseen test voices, in each language."""
    train, test = speech.load_spoken_digit_strings("train"), speech.load_spoken_digit_strings("test")
    model = speech.train_ctc_recognizer(train, seed=0, progress=False)
    hypotheses = model.transcribe(test.inputs, test.attributes["frames"])
    for lang in (0, 1):
        idx = [i for i in range(len(test)) if int(test.attributes["lang"][i]) == lang]
        errors = sum(ctc.edit_distance(test.captions[i].split(), hypotheses[i].split()) for i in idx)
        assert errors / sum(len(test.captions[i].split()) for i in idx) <= 0.08


def test_gradients_stay_finite_with_unreachable_states_and_padding():
    torch.manual_seed(0)
    logits = torch.randn(12, 2, 6, requires_grad=True)
    targets = torch.tensor([[1, 2, 3, 4], [2, 2, 0, 0]])
    ll = ctc.ctc_log_likelihood(logits.log_softmax(-1), targets, torch.tensor([12, 8]), torch.tensor([4, 2]))
    ll.sum().backward()
    assert torch.isfinite(logits.grad).all()
    reference = torch.randn(12, 2, 6).requires_grad_()
    reference.data.copy_(logits.data)
    F.ctc_loss(reference.log_softmax(-1), targets, torch.tensor([12, 8]), torch.tensor([4, 2]), reduction="sum").backward()
    assert (logits.grad + reference.grad).abs().max() <= 1e-4  # our gradient of log p = minus the loss's


def test_padding_does_not_change_a_strings_outputs():
    torch.manual_seed(0)
    model = speech.CTCRecognizer(speech.CTCConfig()).eval()
    x = torch.rand(1, 1, 32, 37)
    padded = torch.cat([x, torch.zeros(1, 1, 32, 23)], dim=-1)
    with torch.no_grad():
        alone, _ = model.frame_log_probs(x, torch.tensor([37]))
        batch, _ = model.frame_log_probs(torch.cat([padded, torch.rand(1, 1, 32, 60)]), torch.tensor([37, 60]))
    assert (alone[0] - batch[0, :19]).abs().max() <= 1e-5
