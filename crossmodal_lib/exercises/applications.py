"""Checkers for the exercises of Parts 4-7 (code, applications, tools, trends)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..data import load_digit_pairs
from ..gaussians import gaussian_kl
from ..minimal import VAE, binomial_log_likelihood
from .feedback import Feedback, _call


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
    from ..metrics import recall_at_k

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
    from ..data import DIRECTIONS, load_moving_digits

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


# ---------------------------------------------------------------- Part 6 ----------------
def check_infonce_bound(fn: Callable[[float, int], object]) -> Feedback:
    """Part 6b (Radford et al. 2021 trained CLIP on batches of 32,768): ``fn(loss, n)`` -> the mutual information (nats) that an InfoNCE ``loss`` (nats, one
    direction or the symmetric mean) on a batch of ``n`` pairs certifies: ``log n - loss`` (eq-mi-bound).
    Recognises bits instead of nats, ``log(n - 1)`` and a missing minus sign."""
    cases = [(2.1, 64), (0.5, 32_768), (4.0, 64)]
    got = [_call(fn, loss, n) for loss, n in cases]
    for (value, error), (loss, n) in zip(got, cases):
        if value is None:
            return Feedback(False, error)
        if value.numel() != 1:
            return Feedback(False, f"return one number (nats), got {value.numel()} for loss={loss}, n={n}")
    values = [float(v) for v, _ in got]
    want = [math.log(n) - loss for loss, n in cases]
    if all(abs(v - w) < 1e-4 for v, w in zip(values, want)):
        return Feedback(True, f"log N - L. The ceiling is log N whatever the loss: {math.log(32_768):.2f} nats for "
                              f"CLIP's batch of 32,768, only {math.log(64):.2f} for 64 pairs.")
    if all(abs(v - (math.log2(n) - loss)) < 1e-4 for v, (loss, n) in zip(values, cases)):
        return Feedback(False, "the loss is in nats (natural log): measure log N in nats too (math.log, not log2).")
    if all(abs(v - (math.log(n - 1) - loss)) < 1e-4 for v, (loss, n) in zip(values, cases)):
        return Feedback(False, "the bound counts all N candidates of a row, the positive included: log N, not log(N - 1).")
    if all(abs(v - (loss - math.log(n))) < 1e-4 for v, (loss, n) in zip(values, cases)):
        return Feedback(False, "the sign is reversed: a smaller loss certifies *more* information, I >= log N - L.")
    return Feedback(False, "the InfoNCE bound of Part 3.1 reads I(U; V) >= log N - L, with L in nats.")


# ---------------------------------------------------------------- Part 7 ----------------
def check_attention_weights(fn: Callable[[torch.Tensor, torch.Tensor], object]) -> Feedback:
    """Part 7.1: ``fn(q [d], keys [T, d])`` -> the attention weights ``[T]`` of one query
    (eq-attention). Recognises a missing scale, a scale of 1/d, and no softmax."""
    torch.manual_seed(0)
    q, keys = torch.randn(16) * 2, torch.randn(5, 16) * 2
    got, error = _call(fn, q, keys)
    if got is None:
        return Feedback(False, error)
    if got.numel() != 5:
        return Feedback(False, f"return one weight per key: 5 numbers, got {got.numel()}")
    scores = keys @ q
    if torch.allclose(got, (scores / 4).softmax(0), atol=1e-4):
        return Feedback(True, "softmax(K q / sqrt(d)): the weights are positive, sum to 1, and favour the keys most "
                              "aligned with the query.")
    if torch.allclose(got, scores.softmax(0), atol=1e-4):
        return Feedback(False, "divide the scores by sqrt(d) before the softmax: with d = 16 unscaled scores have "
                               "variance 16 times larger and the softmax saturates.")
    if torch.allclose(got, (scores / 16).softmax(0), atol=1e-4):
        return Feedback(False, "the scale is 1 / sqrt(d), not 1 / d: it keeps the scores at unit variance.")
    if torch.allclose(got, scores / 4, atol=1e-4) or abs(float(got.sum()) - 1) > 1e-3:
        return Feedback(False, "the weights must be a softmax of the scaled scores: positive and summing to 1.")
    return Feedback(False, "score each key by its dot product with the query, scale by 1 / sqrt(d), then softmax.")


def check_causal_mask(fn: Callable[[int], object]) -> Feedback:
    """Part 7.1b: ``fn(n)`` -> the ``[n, n]`` boolean mask of teacher forcing, ``True`` where position i
    may attend to position j (j <= i). Recognises the transposed mask and a mask without the diagonal."""
    try:
        got = torch.as_tensor(fn(5)).bool()
    except Exception as exc:  # noqa: BLE001 -- the student's code may raise anything
        return Feedback(False, f"your function raised {type(exc).__name__}: {exc}")
    if got.shape != (5, 5):
        return Feedback(False, f"for n = 5 return a 5 x 5 mask, got shape {tuple(got.shape)}")
    want = torch.ones(5, 5, dtype=torch.bool).tril()
    if torch.equal(got, want):
        return Feedback(True, "position i sees positions 0..i: itself and the past, never the word it must predict next.")
    if torch.equal(got, want.T):
        return Feedback(False, "this is the transpose: row i is the query, so row i may be True only up to column i.")
    if torch.equal(got, want.tril(-1)):
        return Feedback(False, "a position may attend to itself (the diagonal); it is the *next* token it must not see, "
                               "and teacher forcing shifts the targets by one for that.")
    if torch.equal(got, ~want):
        return Feedback(False, "the mask is inverted: True means 'may attend'.")
    return Feedback(False, "row i should be True in columns 0..i and False after: a lower-triangular matrix.")


def check_ctc_two_frames(answer: object) -> Feedback:
    """Part 5.2b: p("1" | x) over two frames with p(blank) = (0.5, 0.2), p("1") = (0.5, 0.8) (eq-ctc).
    Recognises a missing alignment, only the best path, and counting the all-blank alignment."""
    try:
        value = float(answer)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return Feedback(False, f"give one number (a probability), got {answer!r}")
    paths = {"1 1": 0.5 * 0.8, "blank 1": 0.5 * 0.8, "1 blank": 0.5 * 0.2}
    if abs(value - sum(paths.values())) < 1e-6:
        return Feedback(True, "three alignments collapse to \"1\": 1 1, blank 1 and 1 blank; their probabilities add up.")
    if abs(value - 1.0) < 1e-6:
        return Feedback(False, "blank blank collapses to the empty transcript, not to \"1\": leave it out.")
    for name, p in paths.items():
        if abs(value - (sum(paths.values()) - p)) < 1e-6:
            return Feedback(False, f"one alignment is missing: {name} also collapses to \"1\".")
        if abs(value - p) < 1e-6:
            return Feedback(False, f"that is the probability of the single alignment {name}; CTC sums over every "
                                   "alignment that collapses to the transcript.")
    return Feedback(False, "list the four alignments of two frames, keep those that collapse to \"1\" (merge repeats, "
                           "drop blanks), and add their probabilities (each a product over the frames).")


def check_alpha_bar(abar: object, noise_std: object) -> Feedback:
    """Part 7.2: for betas (0.1, 0.2, 0.3), ``abar_3`` and the noise's standard deviation in x_3 given x_0
    (eq-forward-closed). Recognises a sum instead of a product, the variance instead of the std."""
    try:
        a, s = float(abar), float(noise_std)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return Feedback(False, "give two numbers: abar_3 and the standard deviation of the noise")
    want = 0.9 * 0.8 * 0.7
    if abs(a - (1 - 0.6)) < 1e-6 or abs(a - 0.6) < 1e-6:
        return Feedback(False, "abar_t is a product of the alphas = 1 - beta, not a sum of the betas.")
    if abs(a - 0.1 * 0.2 * 0.3) < 1e-6:
        return Feedback(False, "multiply the alphas = 1 - beta_t, not the betas.")
    if abs(a - want) > 1e-6:
        return Feedback(False, "abar_3 = (1 - beta_1)(1 - beta_2)(1 - beta_3).")
    if abs(s - (1 - want)) < 1e-6:
        return Feedback(False, "abar_3 is right; 1 - abar_3 is the noise's variance, its standard deviation is the root.")
    if abs(s - math.sqrt(1 - want)) > 1e-6:
        return Feedback(False, "abar_3 is right; the noise in x_3 = sqrt(abar_3) x_0 + sqrt(1 - abar_3) eps has std sqrt(1 - abar_3).")
    return Feedback(True, f"abar_3 = {want:.3f}: about half the signal's variance is left, and the noise has std {math.sqrt(1 - want):.3f}.")


def check_standard_error(fn: Callable[[list[float]], object]) -> Feedback:
    """Part 7.3: ``fn(values) -> float``, the standard error of the mean of a list of scores, one
    per seed (eq-sem). Recognises the population standard deviation (``n`` instead of ``n - 1``),
    dividing by ``n`` instead of its root, and returning the standard deviation itself."""
    values = [0.54, 0.40, 0.61]                                  # three seeds' accuracies
    n, mean = len(values), sum(values) / len(values)
    ss = sum((v - mean) ** 2 for v in values)
    out, error = _call(fn, values)
    if out is None or out.numel() != 1:
        return Feedback(False, error or "return one number, the standard error")
    got, want = out.item(), math.sqrt(ss / (n - 1) / n)
    wrong = {math.sqrt(ss / n / n): "that uses the population standard deviation (divide by n); with a few seeds the "
                                    "sample standard deviation, which divides by n - 1, is the unbiased variance estimate.",
             math.sqrt(ss / (n - 1)) / n: "divide the standard deviation by sqrt(n), not by n: variances of independent "
                                          "runs add, so the mean's variance is s^2 / n.",
             math.sqrt(ss / (n - 1)): "that is the standard deviation of one seed's score; the mean of n seeds varies "
                                      "sqrt(n) times less."}
    if abs(got - want) < 1e-5:
        return Feedback(True, f"s / sqrt(n) = {want:.4f}. With n = 3 a 95 % interval is about 4.3 of these wide on "
                              "each side (Student's t with 2 degrees of freedom), not 2.")
    for value, message in wrong.items():
        if abs(got - value) < 1e-5:
            return Feedback(False, message)
    return Feedback(False, f"for {values} expected {want:.4f}, got {got:.4f}: the sample standard deviation "
                           "(n - 1 in the denominator) over the square root of n.")


def check_int8_quantization(fn: Callable[[torch.Tensor], object]) -> Feedback:
    """Part 7.3b: ``fn(w) -> (q, scale)``, symmetric per-tensor int8 quantisation of a float tensor:
    ``scale = max|w| / 127``, ``q = round(w / scale)`` as integers in [-127, 127], so that
    ``q * scale`` is within ``scale / 2`` of ``w`` (eq-int8). Recognises 128 or 255 levels in the
    scale, truncation instead of rounding, and values outside the int8 range."""
    w = torch.tensor([[0.31, -1.27, 0.004], [0.5, 0.9, -0.049]])
    try:
        q, scale = fn(w.clone())  # type: ignore[misc]
        q, scale = torch.as_tensor(q), float(scale)
    except Exception as exc:  # noqa: BLE001 -- the student's code may raise anything
        return Feedback(False, f"return (q, scale): an integer tensor shaped like w and one number ({type(exc).__name__}: {exc})")
    want = w.abs().max().item() / 127
    if q.shape != w.shape:
        return Feedback(False, f"q must have w's shape {tuple(w.shape)}, got {tuple(q.shape)}")
    for levels, why in ((128, "128, which sends the largest positive weight to 128, outside int8's -128..127; a "
                               "symmetric scheme uses -127..127"), (255, "255: that spreads the range over 256 levels as an "
                                                                "asymmetric (zero-point) scheme would; symmetric int8 uses max|w| / 127")):
        if abs(scale - w.abs().max().item() / levels) < 1e-9:
            return Feedback(False, f"the scale divides max|w| by {why}.")
    if abs(scale - want) > 1e-7:
        return Feedback(False, f"the scale should be max|w| / 127 = {want:.6f}, got {scale:.6f}")
    if q.is_floating_point() and not torch.equal(q, q.round()):
        return Feedback(False, "q must hold integers: round w / scale.")
    if q.abs().max() > 127:
        return Feedback(False, "q leaves the range -127..127.")
    if torch.equal(q.long(), torch.trunc(w / want).long()) and not torch.equal(q.long(), torch.round(w / want).long()):
        return Feedback(False, "that truncates w / scale towards zero; rounding to the nearest integer halves the worst error.")
    if not torch.equal(q.long(), torch.round(w / want).long()):
        return Feedback(False, "q should be round(w / scale).")
    error = (q.float() * scale - w).abs().max().item()
    return Feedback(True, f"The largest reconstruction error is {error:.5f}, within scale / 2 = {want / 2:.5f}.")


def check_combination_chance(digit_known: object, digit_and_thickness_known: object) -> Feedback:
    """Part 7.3c: expected 90-way accuracy (10 digits x 3 thicknesses x 3 slants) of a model that
    names the digit right and guesses the other two uniformly (1/9), and one that also gets the
    thickness right (1/3). Recognises 1/90, 1/6 (adding instead of multiplying) and 2/3."""
    try:
        a, b = float(digit_known), float(digit_and_thickness_known)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return Feedback(False, "give two probabilities: digit known, then digit and thickness known")
    if abs(a - 1 / 90) < 1e-6:
        return Feedback(False, "1/90 is the chance level of a model that knows nothing; this one knows the digit, "
                               "so only the 9 (thickness, slant) cells remain.")
    if abs(a - 1 / 6) < 1e-6 or abs(a - 2 / 3) < 1e-6:
        return Feedback(False, "the two guesses are independent: multiply their chances (1/3 x 1/3), do not add them.")
    if abs(a - 1 / 9) > 1e-6:
        return Feedback(False, "with the digit known, thickness and slant are each right with probability 1/3.")
    if abs(b - 1 / 3) > 1e-6:
        return Feedback(False, "the first answer is right (1/9); with the thickness known too, only the slant is a guess.")
    return Feedback(True, "1/9 and 1/3: ten and thirty times the 1/90 of a model that knows nothing, so a combination "
                          "accuracy must be read against what the model already gets right.")
