"""Checkers for the exercises of Parts 1-3 (background, concepts, the core algorithms)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..data import load_digit_pairs, shear_images, slant
from .feedback import Feedback, _call


# ---------------------------------------------------------------- Part 1 ----------------
def check_slant(fn: Callable[[torch.Tensor], object]) -> Feedback:
    """Part 1: ``fn(image [8, 8]) -> float`` must compute the moment-based slant (positive = right)."""
    images = load_digit_pairs("test").inputs[:8, 0]
    leaning_right = shear_images(images[:1, None], 0.6)[0, 0]
    cases = [leaning_right, *images]
    expected = slant(torch.stack(cases))
    got = []
    for img in cases:
        value, err = _call(fn, img.clone())
        if err:
            return Feedback(False, err)
        if value.numel() != 1:
            return Feedback(False, f"return one number per image, got {value.numel()} numbers")
        got.append(value.item())
    got_t = torch.tensor(got)
    if torch.allclose(got_t, expected, atol=1e-4):
        return Feedback(True, "your slant matches the library's on 9 images, including one sheared to lean right.")
    if torch.allclose(got_t, -expected, atol=1e-4):
        return Feedback(False, "your values have the wrong sign. Rows grow *downwards*, so a stroke whose top "
                               "leans right has a negative slope dc/dr; slant is -mu11/mu02.")
    if torch.allclose(got_t, 1 / expected, rtol=1e-3):
        return Feedback(False, "you computed the reciprocal: divide by mu02 = sum (r - r_bar)^2 I, the spread along "
                               "the *rows*, not the other way round.")
    return Feedback(False, f"for an image sheared to lean right the slant should be {expected[0]:.4f}, you returned "
                           f"{got[0]:.4f}. Check the centroid (intensity-weighted) and the central moments.")


# ---------------------------------------------------------------- Part 2 ----------------
def check_chance_recall(answer: float, n: int = 360, k: int = 10) -> Feedback:
    """Part 2: the expected Recall@k of a random ranking of ``n`` candidates with one correct item."""
    expected = k / n
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return Feedback(False, f"give a number, got {answer!r}")
    if abs(value - expected) < 1e-3:
        return Feedback(True, f"a random ranking puts the partner in the top {k} with probability k/n = {expected:.4f}.")
    if abs(value - 1 / n) <= 0.05 / n:  # 1/n, possibly rounded
        return Feedback(False, f"1/n is the chance of rank 1 exactly (Recall@1); Recall@{k} asks for any of the top {k} slots.")
    return Feedback(False, f"the partner's rank is uniform on 1..{n}; what is P(rank <= {k})?")


def check_late_fusion(fn: Callable[[torch.Tensor, torch.Tensor], object]) -> Feedback:
    """Part 2: ``fn(logits_img, logits_txt) -> fused probabilities [B, C]`` by the product rule."""
    gen = torch.Generator().manual_seed(0)
    a, b = 3 * torch.randn(200, 10, generator=gen), 3 * torch.randn(200, 10, generator=gen)
    pa, pb = a.softmax(1), b.softmax(1)
    expected = (pa * pb) / (pa * pb).sum(1, keepdim=True)
    got, err = _call(fn, a.clone(), b.clone())
    if err:
        return Feedback(False, err)
    if got.numel() != expected.numel():
        return Feedback(False, f"return a [B, C] array of probabilities: expected {expected.numel()} numbers, got {got.numel()}")
    got = got.reshape(expected.shape)
    if torch.allclose(got, expected.log(), atol=1e-4):
        return Feedback(False, "these are log-probabilities (like crossmodal_lib.fusion.late_fusion returns); "
                               "the exercise asks for probabilities: exponentiate them.")
    if torch.allclose(got, expected, atol=1e-5):
        return Feedback(True, "p(y|x,t) is proportional to p_img(y|x) p_txt(y|t), renormalised over the classes "
                              "(equivalently softmax(logits_img + logits_txt)).")
    if torch.allclose(got, pa * pb, atol=1e-5):
        return Feedback(False, "the product is right but the rows do not sum to 1: divide by the sum over classes.")
    if torch.allclose(got, (pa + pb) / 2, atol=1e-5):
        return Feedback(False, "that is the *sum* rule (average the probabilities). The exercise asks for the product rule.")
    if not torch.allclose(got.sum(1), torch.ones(len(got)), atol=1e-4):
        return Feedback(False, "each row should be a probability distribution over the 10 classes (sum to 1).")
    agree = (got.argmax(1) == expected.argmax(1)).float().mean().item()
    return Feedback(False, f"your fused distribution differs from the product rule; its arg-max agrees on {agree:.0%} of rows.")


# ---------------------------------------------------------------- Part 3.1 --------------
def check_info_nce(fn: Callable[[torch.Tensor, float], object]) -> Feedback:
    """Part 3.1: ``fn(sim [B, B], temperature) -> float``, the symmetric InfoNCE of a similarity matrix.

    ``sim[i, j]`` is the cosine similarity of image i and caption j; pair i is (i, i).
    """
    from ..embedding import info_nce

    gen = torch.Generator().manual_seed(0)
    sim = torch.rand(5, 5, generator=gen) * 2 - 1
    sim[3] += 0.5  # an asymmetric matrix, so the two directions differ
    tau = 0.5
    eye = torch.eye(5)
    expected = info_nce(eye, sim.T.contiguous(), 1 / tau).item()  # <e_i, sim[:, j]> = sim[i, j]
    value, err = _call(fn, sim.clone(), tau)
    if err:
        return Feedback(False, err)
    if value.numel() != 1:
        return Feedback(False, f"return one number (the mean loss), got {value.numel()} numbers")
    v = value.item()
    if abs(v - expected) < 1e-4:
        return Feedback(True, f"InfoNCE = {expected:.4f}: cross-entropy of sim / T with the diagonal as targets, "
                              "averaged over both directions.")
    logits = sim / tau
    target = torch.arange(5)
    one_way = torch.nn.functional.cross_entropy(logits, target).item()
    other_way = torch.nn.functional.cross_entropy(logits.T, target).item()
    if abs(v - one_way) < 1e-4 or abs(v - other_way) < 1e-4:
        return Feedback(False, "that is only one direction (image-to-text or text-to-image). The symmetric loss "
                               "averages both: the rows and the columns of the similarity matrix.")
    no_temp = (torch.nn.functional.cross_entropy(sim, target) + torch.nn.functional.cross_entropy(sim.T, target)).item() / 2
    if abs(v - no_temp) < 1e-4:
        return Feedback(False, "you forgot the temperature: divide the similarities by T before the softmax.")
    times_temp = (torch.nn.functional.cross_entropy(sim * tau, target)
                  + torch.nn.functional.cross_entropy(sim.T * tau, target)).item() / 2
    if abs(v - times_temp) < 1e-4:
        return Feedback(False, "you multiplied by the temperature; the logits are sim / T (a small T sharpens).")
    return Feedback(False, f"expected {expected:.4f}, got {v:.4f}. Each row i is a {5}-way classification whose "
                           "correct class is i: loss_i = -log softmax(sim[i] / T)[i].")


# ---------------------------------------------------------------- Part 3.2 --------------
#: The two distributions of the Part 3.2 exercise, on the support {0, 1, 2, 3}.
GAN_P_DATA = (0.5, 0.3, 0.2, 0.0)
GAN_P_G = (0.1, 0.2, 0.3, 0.4)


def check_gan_optimum(d_star: object, jsd: object) -> Feedback:
    """Part 3.2: the optimal discriminator ``d_star`` (4 numbers) and JSD(p_data || p_g) in nats
    for ``GAN_P_DATA`` and ``GAN_P_G``."""
    import numpy as np

    from ..gan import jensen_shannon, optimal_discriminator

    p, q = np.array(GAN_P_DATA), np.array(GAN_P_G)
    want_d, want_j = optimal_discriminator(p, q), jensen_shannon(p, q)
    try:
        got_d = np.asarray(d_star, dtype=float).reshape(-1)
        got_j = float(jsd)
    except (TypeError, ValueError):
        return Feedback(False, "give D* as 4 numbers (one per point of the support) and the JSD as one number")
    if got_d.shape != (4,):
        return Feedback(False, f"D* has one value per point of the support {{0, 1, 2, 3}}: 4 numbers, got {got_d.size}")
    if np.allclose(got_d, q / (p + q), atol=1e-3):
        return Feedback(False, "your D* is p_g / (p_data + p_g): that is the probability of *fake*. D outputs the "
                               "probability that x is real.")
    if not np.allclose(got_d, want_d, atol=1e-3):
        return Feedback(False, "maximise p_data(x) log D + p_g(x) log(1 - D) separately at every x; the maximiser "
                               f"is p_data / (p_data + p_g). At x = 0 that is {want_d[0]:.4f}.")
    if abs(got_j - want_j / np.log(2)) < 1e-3:
        return Feedback(False, "your JSD is in bits (log base 2); the book measures it in nats (natural log).")
    if abs(got_j - (-np.log(4) + 2 * want_j)) < 1e-3:
        return Feedback(False, "that is V(D*, G) = -log 4 + 2 JSD; solve for the JSD itself.")
    if abs(got_j - want_j) < 1e-3:
        return Feedback(True, f"D* = {np.round(want_d, 4).tolist()} and JSD = {want_j:.4f} nats. Where p_data is 0, "
                              "D* is 0: D is sure anything there is fake.")
    return Feedback(False, "D* is right. For the JSD, use the midpoint m = (p_data + p_g) / 2 and average "
                           "KL(p_data || m) and KL(p_g || m); terms with zero probability contribute 0.")


# ---------------------------------------------------------------- Part 3.3 --------------
#: The two 1-D Gaussian experts of the Part 3.3 exercise, as (mean, variance).
POE_EXPERTS = ((1.0, 0.5), (-2.0, 2.0))


def check_product_of_experts(mean: object, variance: object) -> Feedback:
    """Part 3.3: mean and variance of the MVAE posterior p(z) q1(z) q2(z) for ``POE_EXPERTS``
    and the prior N(0, 1)."""
    (m1, v1), (m2, v2) = POE_EXPERTS
    try:
        mean, variance = float(mean), float(variance)
    except (TypeError, ValueError):
        return Feedback(False, "give the mean and the variance as two numbers")
    precision = 1 / v1 + 1 / v2 + 1.0
    want_m, want_v = (m1 / v1 + m2 / v2) / precision, 1 / precision
    no_prior_p = 1 / v1 + 1 / v2
    if abs(mean - want_m) < 1e-3 and abs(variance - want_v) < 1e-3:
        return Feedback(True, f"precisions add (2 + 0.5 + 1 = {precision:g}), so the variance is {want_v:.4f}, and "
                              f"the mean is the precision-weighted mean of 1, -2 and the prior's 0: {want_m:.4f}.")
    if abs(mean - (m1 / v1 + m2 / v2) / no_prior_p) < 1e-3 and abs(variance - 1 / no_prior_p) < 1e-3:
        return Feedback(False, "that is the product of the two experts alone. The MVAE posterior also multiplies "
                               "in the prior N(0, 1), one more expert with mean 0 and precision 1.")
    if abs(mean - (m1 + m2) / 2) < 1e-3 or abs(mean - (m1 + m2) / 3) < 1e-3:
        return Feedback(False, "a product of Gaussians weights each mean by its *precision* (1 / variance), "
                               "not equally: the confident expert (variance 0.5) counts four times as much.")
    if abs(variance - want_v) < 1e-3:
        return Feedback(False, "the variance is right. The mean is sum(mu_i / var_i) / sum(1 / var_i) over all "
                               "three experts, the prior included.")
    return Feedback(False, "multiply the densities and complete the square: precisions (1 / variance) add, and the "
                           "mean is the precision-weighted average of the means.")


# ---------------------------------------------------------------- Part 3.4 --------------
def check_chance_map(answer: object, n: int = 360, m: int = 36) -> Feedback:
    """Part 3.4: the mean average precision of a random ranking of ``n`` items of which ``m``
    are relevant (a simulation within 0.003 counts)."""
    from ..metrics import chance_map
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return Feedback(False, "give one number, the expected average precision")
    want = chance_map(n, m)
    if abs(value - want) <= 3e-3:
        return Feedback(True, f"E[AP] = {want:.4f}, a little above m/n = {m / n:.3f}: average precision "
                              "is taken at the relevant ranks, and a relevant item that lands early by luck "
                              "scores a high precision there.")
    if abs(value - m / n) <= 1e-3:
        return Feedback(False, "that is m/n, the precision at any fixed depth. AP averages the precision at the "
                               "ranks where relevant items fall, which a lucky early hit raises; simulate it.")
    if abs(value - chance_map(n, 1)) <= 3e-3:
        return Feedback(False, f"that is the chance AP with one relevant item; here {m} items share the query's label.")
    return Feedback(False, f"the expected AP of a random ranking is between m/n = {m / n:.3f} and 1; simulate "
                           "rankings with random scores and average metrics.mean_average_precision over them")
