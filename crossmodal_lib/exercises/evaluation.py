"""Checkers for the exercises of Part 8 (evaluation measures)."""

from __future__ import annotations

from .feedback import Feedback

__all__ = ["check_difference_se", "check_ranking_metrics"]

#: The ranking of Part 8's exercise: 1 where the candidate at that rank (1 = first) is relevant.
RANKING = (0, 1, 0, 0, 1, 0)


def _number(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _known_mistake(value: float, mistakes: dict[float, str], tol: float = 1e-9) -> Feedback | None:
    """The feedback for the first recognised wrong answer that ``value`` equals, if any."""
    for target, message in mistakes.items():
        if abs(value - target) < tol:
            return Feedback(False, message)
    return None


def check_ranking_metrics(recall_at_1: object, recall_at_2: object, average_precision: object) -> Feedback:
    """Part 8: one caption query ranks six images; the relevant ones (its digit) are at ranks 2 and 5
    (``RANKING``). Its class Recall@1 and Recall@2 (is a relevant image in the top K?) and its
    average precision (the mean of the precisions at the ranks of the relevant images, 1/2 and 2/5).
    Recognises the information-retrieval recall (the share of relevant items in the top K), the mean
    reciprocal rank and the precision at 2."""
    values = [_number(v) for v in (recall_at_1, recall_at_2, average_precision)]
    if any(v is None for v in values):
        return Feedback(False, "give three numbers: Recall@1, Recall@2 and the average precision")
    r1, r2, ap = values
    if abs(r1) > 1e-9:
        return Feedback(False, "the first image is not relevant, so no relevant image is in the top 1: Recall@1 = 0.")
    mistake = _known_mistake(r2, {0.5: "1/2 is the share of the relevant images found in the top 2 (recall in "
                                        "information retrieval); the book's Recall@K asks whether *any* relevant "
                                        "image is in the top K."})
    if mistake is not None:
        return mistake
    if abs(r2 - 1) > 1e-9:
        return Feedback(False, "a relevant image sits at rank 2, so it is in the top 2: Recall@2 = 1.")
    mistake = _known_mistake(ap, {0.35: "0.35 is the mean of the reciprocal ranks 1/2 and 1/5; average precision takes "
                                        "the precision at each relevant rank: 1 relevant in the top 2, then 2 in the top 5.",
                                  0.5: "that is the precision at the first relevant rank only; average it with the "
                                       "precision at the second, 2/5."})
    if mistake is not None:
        return mistake
    if abs(ap - 0.45) > 1e-9:
        return Feedback(False, "average precision = (precision at rank 2 + precision at rank 5) / 2 = (1/2 + 2/5) / 2.")
    return Feedback(True, "Recall@1 = 0, Recall@2 = 1, AP = 0.45. Recall@K only looks at the first relevant image; "
                          "AP also rewards ranking the second one high, which is why class retrieval reports both.")


def check_difference_se(standard_error: object, established: object) -> Feedback:
    """Part 8b: two methods score 0.78 and 0.74 with independent standard errors 0.02 and 0.03. The
    standard error of the difference is sqrt(0.02^2 + 0.03^2), about 0.036, and 0.04 is not more
    than two of them. Recognises the sum, the mean and the variance instead of its root."""
    se = _number(standard_error)
    if se is None or not isinstance(established, bool):
        return Feedback(False, "give the standard error (a number) and whether the difference is established (True/False)")
    want = (0.02**2 + 0.03**2) ** 0.5
    mistake = _known_mistake(se, {0.05: "standard errors do not add; variances of independent estimates do. Add the "
                                        "squares, then take the square root.",
                                  0.025: "the difference is more uncertain than either score, not as uncertain as their "
                                         "average: add the variances.",
                                  want**2: "that is the variance of the difference; its standard error is the square root."})
    if mistake is not None:
        return mistake
    if abs(se - want) > 1e-6:
        return Feedback(False, "the variance of a difference of independent estimates is the sum of their variances.")
    if established:
        return Feedback(False, f"the standard error is right ({want:.4f}), but 0.04 < 2 x {want:.4f} = {2 * want:.3f}: "
                               "the difference is not established.")
    return Feedback(True, f"{want:.4f}; the difference 0.04 is about {0.04 / want:.1f} standard errors, less than two: "
                          "not established. More seeds would shrink both standard errors.")
