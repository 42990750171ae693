"""Checkers for the exercises of Part 7.3d-7.3f (unpaired data, shifted inputs, other languages)."""

from __future__ import annotations

from .feedback import Feedback

__all__ = ["check_unpaired_coincidences"]


def _number(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def check_unpaired_coincidences(per_batch: object, per_run: object, *, unpaired: int = 1237, batch: int = 64,
                                steps: int = 200) -> Feedback:
    """Part 7.3d: ``batch`` unpaired images and ``batch`` unpaired captions are drawn independently,
    each without replacement, from the same ``unpaired`` pairs. Expected number of captions whose
    own image is in the same batch: ``batch * batch / unpaired`` per step, ``steps`` times that per
    run. Recognises the chance for one caption (``batch / unpaired``) and ``1 / unpaired``."""
    a, b = _number(per_batch), _number(per_run)
    if a is None or b is None:
        return Feedback(False, "give two numbers: the expected coincidences in one batch, then in the whole run")
    want = batch * batch / unpaired
    if abs(a - batch / unpaired) < 1e-3:
        return Feedback(False, f"{batch}/{unpaired} is the chance for *one* caption that its image is in the batch; "
                               f"the batch has {batch} captions, and expectations add (linearity of expectation).")
    if abs(a - 1 / unpaired) < 1e-4:
        return Feedback(False, "1/N is the chance that one given image is one given caption's; a caption meets "
                               f"{batch} images per batch.")
    if abs(a - want) > 0.01:
        return Feedback(False, f"each of the {batch} captions finds its own image among the {batch} drawn images with "
                               f"probability {batch}/{unpaired}; add over the captions.")
    if abs(b - steps * want) > 0.5:
        return Feedback(False, f"the per-batch number is right ({want:.2f}); the run has {steps} independent batches.")
    return Feedback(True, f"{want:.2f} per batch, about {steps * want:.0f} in the run, among {steps * batch:,} captions "
                          "seen. And it would not matter if there were more: ELBO(x) and ELBO(t) each look at one "
                          "modality, so no term of the loss can use a coincidence.")
