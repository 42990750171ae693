"""Connectionist temporal classification: transcripts without frame-level alignments (book: Part 5.2b).

A recogniser emits, for every frame t of an utterance, a distribution over the labels plus a
*blank*. An *alignment* is one label-or-blank per frame; collapsing it (merge repeated labels,
then drop blanks, :func:`collapse`) gives a transcript, and CTC's likelihood of a transcript is
the sum of the probabilities of all the alignments that collapse to it (eq-ctc). The sum runs
over exponentially many alignments, but the forward recursion (eq-ctc-alpha) computes it in
``O(T * L)``:

* :func:`ctc_log_likelihood` -- the forward (alpha) recursion in log space, batched; it equals
  ``-torch.nn.functional.ctc_loss(..., reduction="none")`` (tested);
* :func:`brute_force_log_likelihood` -- the definition itself, a sum over every alignment, for
  tiny inputs: what the recursion is checked against;
* :func:`greedy_decode` (the best path, collapsed) and :func:`prefix_beam_search` (the most
  likely *transcript*, summing over its alignments as it goes);
* :func:`edit_distance` -- Levenshtein distance between token sequences (error rates).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Sequence

import torch

__all__ = ["brute_force_log_likelihood", "collapse", "ctc_log_likelihood", "edit_distance", "greedy_decode",
           "prefix_beam_search"]

BLANK = 0  #: the blank's label id; real labels are 1..C-1
NEVER = -1e30  #: the log-probability of an unreachable state inside the recursion (finite, for the gradients)


def collapse(path: Sequence[int], blank: int = BLANK) -> list[int]:
    """An alignment -> its transcript: merge runs of the same label, then drop blanks.
    ``[1, 1, 0, 1, 2, 2] -> [1, 1, 2]`` (a blank separates the two 1s)."""
    return [label for label, _ in itertools.groupby(path) if label != blank]


def _extended(targets: torch.Tensor, blank: int) -> torch.Tensor:
    """``[N, L]`` -> ``[N, 2L + 1]``: a blank before, between and after the labels."""
    ext = torch.full((targets.shape[0], 2 * targets.shape[1] + 1), blank, dtype=torch.int64, device=targets.device)
    ext[:, 1::2] = targets
    return ext


def ctc_log_likelihood(log_probs: torch.Tensor, targets: torch.Tensor, input_lengths: torch.Tensor,
                       target_lengths: torch.Tensor, blank: int = BLANK) -> torch.Tensor:
    """log p(target | x) ``[N]`` by the forward recursion eq-ctc-alpha. ``log_probs`` ``[T, N, C]``
    (log-softmax over C, PyTorch's layout), ``targets`` ``[N, L]`` (padded with anything past
    ``target_lengths``), ``input_lengths``, ``target_lengths`` ``[N]``. An impossible target (more
    frames needed than given) gets ``-inf``. Unreachable states hold a large finite negative number
    rather than ``-inf`` inside the recursion, so that gradients stay finite (a log-sum-exp of
    nothing but ``-inf`` has a NaN gradient)."""
    T, N, _ = log_probs.shape
    if targets.shape[0] != N or input_lengths.shape != (N,) or target_lengths.shape != (N,):
        raise ValueError(f"log_probs [T, N, C] with N={N} needs targets [N, L] and lengths [N]; got "
                         f"{tuple(targets.shape)}, {tuple(input_lengths.shape)}, {tuple(target_lengths.shape)}")
    if int(input_lengths.max()) > T:
        raise ValueError(f"an input length {int(input_lengths.max())} exceeds the {T} frames of log_probs")
    ext = _extended(targets, blank)                                          # [N, S]
    S, neg = ext.shape[1], torch.tensor(NEVER, dtype=log_probs.dtype, device=log_probs.device)
    s = torch.arange(S, device=ext.device)
    # a skip from s-2 to s is allowed onto a label that differs from the label two places back
    skip = (s >= 2) & (ext != blank) & (ext != torch.roll(ext, 2, dims=1))
    alpha = torch.full((N, S), NEVER, dtype=log_probs.dtype, device=log_probs.device)
    emit = log_probs[0].gather(1, ext)                                       # [N, S]
    alpha[:, :2] = emit[:, :2]
    for t in range(1, T):
        prev = torch.stack([alpha, torch.nn.functional.pad(alpha, (1, 0), value=NEVER)[:, :S],
                            torch.where(skip, torch.nn.functional.pad(alpha, (2, 0), value=NEVER)[:, :S], neg)])
        new = torch.logsumexp(prev, dim=0) + log_probs[t].gather(1, ext)
        alpha = torch.where((t < input_lengths)[:, None], new, alpha)       # finished utterances keep their alpha
    last = 2 * target_lengths                                                # the final blank, and the final label
    ends = torch.stack([alpha.gather(1, last[:, None])[:, 0], alpha.gather(1, (last - 1).clamp(min=0)[:, None])[:, 0]])
    ends[1] = torch.where(target_lengths > 0, ends[1], neg)
    total = torch.logsumexp(ends, dim=0)
    return torch.where(total < NEVER / 2, torch.full_like(total, -math.inf), total)  # unreachable: exactly -inf


def brute_force_log_likelihood(log_probs: torch.Tensor, target: Sequence[int], blank: int = BLANK) -> torch.Tensor:
    """eq-ctc by enumeration: log of the sum over all ``C^T`` alignments that collapse to ``target``;
    ``log_probs`` ``[T, C]`` for one utterance. Only for tiny ``T`` and ``C`` (a check, not a tool)."""
    T, C = log_probs.shape
    if C ** T > 200_000:
        raise ValueError(f"{C}^{T} alignments are too many to enumerate")
    terms = [log_probs[torch.arange(T), torch.tensor(path)].sum()
             for path in itertools.product(range(C), repeat=T) if collapse(path, blank) == list(target)]
    return torch.logsumexp(torch.stack(terms), 0) if terms else torch.tensor(-math.inf)


def greedy_decode(log_probs: torch.Tensor, blank: int = BLANK) -> list[int]:
    """The best path (the most likely label of every frame), collapsed; ``log_probs`` ``[T, C]``."""
    return collapse(log_probs.argmax(-1).tolist(), blank)


def prefix_beam_search(log_probs: torch.Tensor, width: int = 8, blank: int = BLANK) -> list[int]:
    """The most likely transcript (approximately): keeps the ``width`` best prefixes, each with two
    probabilities, of ending in a blank and of ending in its last label, so that the alignments of
    one transcript are summed rather than competing. ``log_probs`` ``[T, C]``."""
    beams = {(): (0.0, -math.inf)}                                            # prefix -> (log p_blank, log p_label)
    lp = log_probs.tolist()
    for frame in lp:
        nxt: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [-math.inf, -math.inf])
        for prefix, (pb, pnb) in beams.items():
            total = _lse(pb, pnb)
            nxt[prefix][0] = _lse(nxt[prefix][0], total + frame[blank])       # stay, via a blank
            if prefix:                                                        # stay, repeating the last label
                nxt[prefix][1] = _lse(nxt[prefix][1], pnb + frame[prefix[-1]])
            for c in range(len(frame)):
                if c == blank:
                    continue
                grown = prefix + (c,)
                # after the same label, a new copy needs a blank in between
                source = pb if prefix and c == prefix[-1] else total
                nxt[grown][1] = _lse(nxt[grown][1], source + frame[c])
        beams = dict(sorted(nxt.items(), key=lambda kv: -_lse(*kv[1]))[:width])
    return list(max(beams.items(), key=lambda kv: _lse(*kv[1]))[0])


def _lse(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log(math.exp(a - m) + math.exp(b - m))


def edit_distance(reference: Sequence, hypothesis: Sequence) -> int:
    """Levenshtein distance: the fewest substitutions, deletions and insertions turning
    ``reference`` into ``hypothesis`` (dynamic programming, ``O(len(ref) * len(hyp))``)."""
    previous = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        current = [i]
        for j, h in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]
