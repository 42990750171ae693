"""Checkers for the exercises of Part 7.3d-7.3g (unpaired data, shifted inputs, other languages, generating new combinations)."""

from __future__ import annotations

from collections.abc import Callable

from .feedback import Feedback, _call

__all__ = ["check_blind_copy", "check_ink_left", "check_pivot_hops", "check_unpaired_coincidences"]


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


def check_ink_left(fn: Callable[..., object]) -> Feedback:
    """Part 7.3e: ``fn(image [1, H, W], p) -> float``, the share of an image's ink (sum of its
    pixels) left inside the frame after :func:`~crossmodal_lib.robustness.translate_images` moves it
    ``p`` pixels right; checked on the first test image for p = 0, 2, 3. Recognises the share of
    columns kept, ``1 - p / W``, and the share that was cut off."""
    from ..data import load_digit_pairs
    from ..robustness import translate_images

    image = load_digit_pairs("test").inputs[0]
    width = image.shape[-1]
    for p in (0, 2, 3):
        want = float(translate_images(image[None], p).sum() / image.sum())
        out, error = _call(fn, image.clone(), p)
        if out is None or out.numel() != 1:
            return Feedback(False, error or "return one number, the share of the ink left")
        got = out.item()
        if abs(got - want) < 1e-4:
            continue
        if abs(got - (1 - p / width)) < 1e-4:
            return Feedback(False, f"1 - p/W is the share of *columns* kept; ink is not spread evenly over the columns "
                                   "(the outer columns of a digit are nearly blank). Sum the pixels that stay.")
        if abs(got - (1 - want)) < 1e-4:
            return Feedback(False, "that is the share that was pushed out of the frame; the question asks for what is left.")
        return Feedback(False, f"for p = {p} expected {want:.4f}, got {got:.4f}: the columns 0 .. W - p - 1 of the "
                               "original stay in the frame.")
    lost = 1 - float(translate_images(image[None], 3).sum() / image.sum())
    return Feedback(True, f"a shift of 3 pushes {lost:.0%} of this digit's ink out of the frame: a model that never saw "
                          "a cut digit meets a new condition, whatever augmentation moved it inside the frame.")


def check_pivot_hops(two: object, three: object) -> Feedback:
    """Part 7.3f: the chance that every hop of a pivot is right, hops independent: 0.8 x 0.9 for two
    hops, times 0.9 again for three (prop-pivot-compound). Recognises the mean, the weakest hop and
    "at least one hop right"."""
    a, b = _number(two), _number(three)
    if a is None or b is None:
        return Feedback(False, "give two probabilities: two hops, then three hops")
    if abs(a - 0.85) < 1e-6:
        return Feedback(False, "that is the mean of the hops; a pivot needs every hop right, so multiply.")
    if abs(a - 0.8) < 1e-6:
        return Feedback(False, "a chain is not only as good as its weakest hop: the second hop can fail too. Multiply.")
    if abs(a - 0.98) < 1e-6:
        return Feedback(False, "1 - 0.2 x 0.1 is the chance that at least one hop is right; the pivot needs both.")
    if abs(a - 0.72) > 1e-6:
        return Feedback(False, "both hops right, independently: 0.8 x 0.9.")
    if abs(b - 0.648) > 1e-6:
        return Feedback(False, "two hops are right (0.72); the third multiplies by its own 0.9 again.")
    return Feedback(True, "0.72 and 0.648: every hop multiplies in its errors, so a pivot through several languages or "
                          "modalities degrades quickly, and a shared space, which has no hops, avoids it.")


def check_blind_copy(answer: object, digit: int = 7, thickness: int = 2, slant: int = 2) -> Feedback:
    """Part 7.3g: a caption-blind copier answers a request for (``digit``, ``thickness``, ``slant``)
    with a random training image of ``digit``; its attribute hit rate is the share of that digit's
    training images at exactly those levels. Recognises 1/9, the product of the two marginal
    shares (independence) and the share among all digits."""
    from ..data import load_digit_pairs

    a = _number(answer)
    if a is None:
        return Feedback(False, "give one number, a probability")
    train = load_digit_pairs("train")
    t, s, mine = train.attributes["thickness"] == thickness, train.attributes["slant"] == slant, train.labels == digit
    want = (t & s)[mine].double().mean().item()
    if abs(a - want) < 1e-6:
        return Feedback(True, f"{want:.4f}: not 1/9 = {1 / 9:.4f}. Per request the copier's rate is the share of the "
                              "combination among the digit's images; only the average over the nine requests is "
                              "1/9 (prop-blind-copier), which is why the page compares within each digit and "
                              "against a control.")
    if abs(a - 1 / 9) < 1e-6:
        return Feedback(False, "1/9 is the average over the digit's nine requests (prop-blind-copier); one request "
                               "scores the share of its own combination among the digit's images. Count them.")
    if abs(a - t[mine].double().mean().item() * s[mine].double().mean().item()) < 1e-6:
        return Feedback(False, "that product assumes thickness and slant are independent within the digit; count the "
                               "images that have both levels at once.")
    if abs(a - (t & s).double().mean().item()) < 1e-6:
        return Feedback(False, f"that is the share among all digits; the copier draws images of the digit {digit} only.")
    return Feedback(False, f"count the training images of {digit} with thickness level {thickness} and slant level "
                           f"{slant}, and divide by the number of training images of {digit}.")
