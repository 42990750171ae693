"""Auto-checked exercises: pass your answer, get feedback (book: the exercises of each part).

Each ``check_*`` function returns a :class:`Feedback` that is truthy when the answer is
right and whose message says *why* when it is not -- pointing at the usual mistake where
one is recognisable. In a notebook the feedback displays itself.
"""

from __future__ import annotations

from collections.abc import Callable
import textwrap
from dataclasses import dataclass

import torch

from .data import load_digit_pairs, shear_images, slant
from .gaussians import gaussian_kl
from .minimal import VAE, binomial_log_likelihood

__all__ = ["Feedback", "check_chance_map", "check_chance_recall", "check_class_recall", "check_dense_kernel", "check_direction", "check_gan_optimum",
           "check_hz_to_mel", "check_info_nce", "check_late_fusion", "check_product_of_experts", "check_slant",
           "check_vae_loss"]


@dataclass(frozen=True)
class Feedback:
    correct: bool
    message: str

    def __bool__(self) -> bool:
        return self.correct

    def __str__(self) -> str:
        verdict = "✅ Correct. " if self.correct else "❌ Not yet. "
        return textwrap.fill(verdict + self.message, width=88)

    def _repr_markdown_(self) -> str:
        return str(self)


def _call(fn: Callable, *args: object) -> tuple[torch.Tensor | None, str]:
    try:
        out = fn(*args)
    except Exception as exc:  # noqa: BLE001 -- the student's code may raise anything
        return None, f"your function raised {type(exc).__name__}: {exc}"
    try:
        return torch.as_tensor(out, dtype=torch.float32).reshape(-1), ""
    except Exception:  # noqa: BLE001
        return None, f"your function returned {type(out).__name__}, which is not a number or an array of numbers"


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
    from .embedding import info_nce

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

    from .gan import jensen_shannon, optimal_discriminator

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
        return Feedback(False, f"the variance is right. The mean is sum(mu_i / var_i) / sum(1 / var_i) over all "
                               "three experts, the prior included.")
    return Feedback(False, "multiply the densities and complete the square: precisions (1 / variance) add, and the "
                           "mean is the precision-weighted average of the means.")


# ---------------------------------------------------------------- Part 3.4 --------------
def check_chance_map(answer: object, n: int = 360, m: int = 36) -> Feedback:
    """Part 3.4: the mean average precision of a random ranking of ``n`` items of which ``m``
    are relevant (a simulation within 0.003 counts)."""
    from .metrics import chance_map
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


# ---------------------------------------------------------------- Part 4 ----------------
def _vae_loss_terms(model: torch.nn.Module, x: torch.Tensor, seed: int, sample: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean log p(x|z), mean KL) with the noise torch.manual_seed(seed) gives randn_like(mu)."""
    mu, logvar = model.encode(x)
    torch.manual_seed(seed)
    z = mu + (0.5 * logvar).exp() * torch.randn_like(mu) if sample else mu
    return binomial_log_likelihood(model.decoder(z), x).mean(), gaussian_kl(mu, logvar).mean()


def _vae_loss_diagnosis(value: float, rec: float, kl: float, rec_at_mean: float) -> str | None:
    """Which known mistake gives ``value``; None when it is none of them."""
    known = {-(rec - kl): "", rec - kl: "the sign is wrong: that is the ELBO itself, which training would *lower*. "
             "The loss to minimise is minus the ELBO.",
             -rec: "the KL term is missing. Without it nothing keeps q(z|x) near the prior N(0, I), the codes drift, "
                   "and sampling z ~ N(0, I) no longer gives data.",
             -(rec + kl): "the KL term has the wrong sign: the ELBO *subtracts* KL(q(z|x) || p(z)), so the loss adds it.",
             -(rec_at_mean - kl): "z is the mean itself, without noise: the decoder never sees the spread of q(z|x), "
                                  "so the bound is not the ELBO. Draw eps ~ N(0, I) shaped like mu and use "
                                  "z = mu + exp(logvar / 2) * eps."}
    for target, message in known.items():
        if abs(value - target) <= 1e-5 * abs(target) + 1e-4:
            return message
    return None


def check_vae_loss(fn: Callable[[torch.nn.Module, torch.Tensor], object]) -> Feedback:
    """Part 4 ("find the bug"): ``fn(model, x) -> loss``, minus the mean one-sample ELBO of a
    :class:`~crossmodal_lib.minimal.VAE` on flat images ``x [N, 64]``, with noise drawn by
    ``torch.randn_like(mu)``. Recognises a missing KL term, a wrong sign, no noise, noise shaped
    like x, and sampling that gradients cannot pass through (no reparameterisation)."""
    torch.manual_seed(0)
    model, x = VAE(latent_dim=4, hidden=32), load_digit_pairs("test").inputs[:64].flatten(1)
    with torch.no_grad():  # codes away from the prior (mu near 1, variance near e^-1), so every term counts
        model.encoder[4].bias.copy_(torch.tensor([1.0] * 4 + [-1.0] * 4))
    torch.manual_seed(1)
    out, error = _call(fn, model, x)
    if out is None:
        return Feedback(False, error + (". Is the noise shaped like z, [N, latent_dim], rather than like x?"
                                        if "size" in error else "."))
    if out.numel() != 1:
        return Feedback(False, f"return one number, the batch mean of minus the ELBO; got {out.numel()} values")
    rec, kl = (t.item() for t in _vae_loss_terms(model, x, seed=1))
    message = _vae_loss_diagnosis(out.item(), rec, kl, _vae_loss_terms(model, x, 1, sample=False)[0].item())
    if message is None or message:
        return Feedback(False, message or f"expected minus the mean ELBO, {-(rec - kl):.3f} nats, got {out.item():.3f}")
    torch.manual_seed(1)
    grads, = torch.autograd.grad(fn(model, x), model.encoder[4].weight, allow_unused=True)
    rec_t, kl_t = _vae_loss_terms(model, x, 1)
    if grads is None or not torch.allclose(grads, torch.autograd.grad(kl_t - rec_t, model.encoder[4].weight)[0], atol=1e-4):
        return Feedback(False, "the value is right but the gradient is not: the sample z must be computed as "
                               "mu + exp(logvar / 2) * eps (reparameterisation), so that gradients reach the "
                               "encoder through log p(x|z). torch.normal(mu, std) or .detach() cuts that path.")
    return Feedback(True, f"minus the ELBO, {-(rec - kl):.3f} nats: reconstruction {rec:.3f}, KL {kl:.3f}, with "
                          "gradients flowing through the reparameterised sample.")


def check_dense_kernel(fn: Callable[[torch.Tensor], object]) -> Feedback:
    """Part 4 (Keras): ``fn(weight [out, in]) -> kernel [in, out]``, the Keras Dense kernel that
    computes the same map as ``nn.Linear`` with this weight (x @ kernel = x @ weight.T)."""
    weight = torch.arange(6.0).view(2, 3)  # out = 2, in = 3
    try:
        kernel = torch.as_tensor(fn(weight.clone()), dtype=torch.float32)
    except Exception as exc:  # noqa: BLE001 -- the student's code may raise anything
        return Feedback(False, f"your function raised {type(exc).__name__}: {exc}")
    if tuple(kernel.shape) != (3, 2):
        unchanged = ", the weight unchanged" if tuple(kernel.shape) == (2, 3) else ""
        return Feedback(False, f"the kernel must be [in, out] = [3, 2]; yours has shape {tuple(kernel.shape)}{unchanged}")
    if torch.equal(kernel, weight.reshape(3, 2)):
        return Feedback(False, "the shape is right but the numbers are not: reshape (or view) keeps the memory "
                               "order and refills the rows. A kernel is the *transpose* of the weight.")
    if torch.equal(kernel, weight.T):
        return Feedback(True, "x @ kernel = x @ weight.T: the kernel is the transposed weight.")
    return Feedback(False, "x @ kernel must equal x @ weight.T for every x, so kernel = weight.T")


# ---------------------------------------------------------------- Part 5.1 --------------
def check_class_recall(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], object]) -> Feedback:
    """Part 5.1: ``fn(sim [Q, N], query_labels [Q], item_labels [N]) -> float``, the class-level
    R@1: the fraction of queries whose most similar item has the query's label."""
    from .metrics import recall_at_k

    gen = torch.Generator().manual_seed(0)
    for q, n in ((6, 6), (5, 9), (40, 40)):
        sim = torch.randn(q, n, generator=gen)
        ql, il = torch.randint(0, 3, (q,), generator=gen), torch.randint(0, 3, (n,), generator=gen)
        value, err = _call(fn, sim.clone(), ql.clone(), il.clone())
        if err:
            return Feedback(False, err)
        if value.numel() != 1:
            return Feedback(False, f"return one number (a fraction of the queries), got {value.numel()} values")
        v, want = float(value), recall_at_k(sim, 1, ql, il)
        if abs(v - want) < 1e-6:
            continue
        if q == n and abs(v - recall_at_k(sim, 1)) < 1e-6:
            return Feedback(False, "that is the *exact* R@1 (is the top item the query's own partner, on the "
                                   "diagonal?). Class-level R@1 accepts any item with the query's label.")
        if q == n and abs(v - recall_at_k(sim.T, 1, il, ql)) < 1e-6:
            return Feedback(False, "you ranked the queries for each item (columns). Each query is a row of sim: "
                                   "take the argmax over its row.")
        if abs(v - 100 * want) < 1e-4:
            return Feedback(False, "return a fraction in [0, 1], not a percentage.")
        return Feedback(False, f"on a {q} x {n} case expected {want:.4f}, got {v:.4f}: for each row i, find "
                               "j = argmax sim[i], and count a hit when item_labels[j] == query_labels[i].")
    return Feedback(True, "argmax over each row, compare labels, average the hits. With a square sim and "
                          "labels that are all distinct, this is the exact R@1.")


# ---------------------------------------------------------------- Part 5.2 --------------
def check_hz_to_mel(fn: Callable[[torch.Tensor], object]) -> Feedback:
    """Part 5.2: ``fn(hz)`` must give the HTK mel scale, ``2595 log10(1 + f / 700)``, for a tensor
    of frequencies; it is compared with librosa's ``hz_to_mel(..., htk=True)``."""
    import librosa
    import numpy as np

    hz = torch.tensor([0.0, 100.0, 440.0, 700.0, 1000.0, 4000.0, 8000.0], dtype=torch.float64)
    value, err = _call(fn, hz.clone())
    if err:
        return Feedback(False, err)
    if value.numel() != hz.numel():
        return Feedback(False, f"return one mel value per frequency: {hz.numel()} values, got {value.numel()}")
    got, want = value.double().numpy(), librosa.hz_to_mel(hz.numpy(), htk=True)
    if np.allclose(got, want, atol=0.05):
        return Feedback(True, "1000 Hz is about 1000 mel by construction, and 8 kHz is only about 2840 mel: the "
                              "scale compresses high frequencies, as hearing does. Your values match librosa's.")
    if np.allclose(got, librosa.hz_to_mel(hz.numpy()), atol=0.05):
        return Feedback(False, "that is the Slaney mel scale (librosa's default: linear below 1 kHz). The "
                               "exercise asks for the HTK formula 2595 log10(1 + f / 700).")
    if np.allclose(got, 2595 * np.log(1 + hz.numpy() / 700), atol=0.05):
        return Feedback(False, "2595 goes with log10; with the natural log the constant is 1127.")
    if np.allclose(got, 2595 * np.log10(hz.numpy() / 700 + 1e-12), atol=0.05) or not np.isfinite(got).all():
        return Feedback(False, "the formula is log10(1 + f / 700): without the 1, 0 Hz would be minus infinity.")
    return Feedback(False, f"at 1000 Hz expected {want[4]:.1f} mel, got {got[4]:.1f}. Use 2595 log10(1 + f / 700).")


# ---------------------------------------------------------------- Part 5.3 --------------
def check_direction(fn: Callable[[torch.Tensor], object]) -> Feedback:
    """Part 5.3: ``fn(clip [T, 1, H, W]) -> int``, the direction index of
    :data:`~crossmodal_lib.data.DIRECTIONS` (0 up, 1 down, 2 left, 3 right), tested on 40 clips."""
    from .data import DIRECTIONS, load_moving_digits

    clips = load_moving_digits("test")
    x, want = clips.inputs[:40], clips.attributes["direction"][:40]
    got = []
    for clip in x:
        value, err = _call(fn, clip.clone())
        if err:
            return Feedback(False, err)
        if value.numel() != 1:
            return Feedback(False, f"return one direction index per clip, got {value.numel()} values")
        got.append(int(value))
    got_t = torch.tensor(got)
    if (got_t == want).all():
        return Feedback(True, "the centre of mass moves one pixel per frame; the sign of its displacement along "
                              "the axis that changes gives the direction. Playing the clip backwards flips it, "
                              "which is exactly what an average over frames cannot see.")
    flipped = torch.tensor([1, 0, 3, 2])[want]
    swapped = torch.tensor([2, 3, 0, 1])[want]
    if (got_t == flipped).all():
        return Feedback(False, "every answer is the opposite direction: compare the last frame with the first "
                               "(last minus first), and remember that rows grow *downwards* in an image.")
    if (got_t == swapped).all():
        return Feedback(False, "you swapped the axes: a change of the row index is up/down, a change of the "
                               "column index is left/right.")
    wrong = int((got_t != want).sum())
    i = int((got_t != want).nonzero()[0])
    return Feedback(False, f"{wrong} of 40 clips are wrong; clip {i} moves {DIRECTIONS[int(want[i])]}, you said "
                           f"{DIRECTIONS[got[i]] if 0 <= got[i] < 4 else got[i]}. Track the centre of mass "
                           "(rows, columns) from the first to the last frame.")
