"""Decoding a caption token by token: beam search for any decoder (book: Parts 3.3b and 7.1).

A decoder is anything that, given the partial captions so far, scores every next token.
:func:`beam_search` keeps the ``width`` best partial captions of each input (by total
log-probability) at every step; ``width=1`` is greedy decoding. The GRU decoder of the
multimodal VAE (Part 3.3b) and the Transformer captioner (Part 7.1) both decode through it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["beam_search"]

#: ``next_logp(seqs [R, L], parents [R]) -> [R, V]``: log-probabilities of the next token of each of
#: the R partial captions; ``parents[r]`` is the row that partial caption r extends (the decoder can
#: reorder any state it keeps, e.g. a GRU's hidden state, with it).
NextLogProb = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@torch.no_grad()
def beam_search(next_logp: NextLogProb, n: int, bos: int, eos: int, width: int = 5, max_len: int = 24,
                device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The approximately most likely caption of each of ``n`` inputs; rows ``i * width .. (i + 1) * width - 1``
    of ``seqs`` belong to input ``i``. A finished caption (one that produced ``eos``) only extends with
    padding (id 0) at no cost. Returns ids ``[n, L]`` (without ``bos``, 0 after ``eos``) and their total
    log-probabilities ``[n]`` (nats)."""
    if width < 1 or n < 1:
        raise ValueError(f"beam search needs width >= 1 and at least one input, got width={width}, n={n}")
    b = width
    scores = torch.full((n, b), float("-inf"), device=device)
    scores[:, 0] = 0.0  # one live beam at the start
    seqs = torch.full((n * b, 1), bos, dtype=torch.int64, device=device)
    finished = torch.zeros(n * b, dtype=torch.bool, device=device)
    parents = torch.arange(n * b, device=device)
    for _ in range(max_len):
        logp = next_logp(seqs, parents).clone()
        logp[finished] = float("-inf")
        logp[finished, 0] = 0.0
        vocab = logp.shape[1]
        top, idx = (scores.reshape(-1, 1) + logp).view(n, b * vocab).topk(b, dim=1)
        parents = (torch.arange(n, device=device)[:, None] * b + idx // vocab).flatten()
        token = (idx % vocab).flatten()
        seqs = torch.cat([seqs[parents], token[:, None]], dim=1)
        finished, scores = finished[parents] | (token == eos), top
        if finished.all():
            break
    best = scores.argmax(1)
    return seqs.view(n, b, -1)[torch.arange(n, device=device), best, 1:], scores[torch.arange(n, device=device), best]
