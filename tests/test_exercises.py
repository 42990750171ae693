"""Every auto-checker accepts a right answer and explains a wrong one."""

import pytest
import torch

from crossmodal_lib import data, exercises


def test_check_slant_right_and_wrong():
    assert exercises.check_slant(lambda img: data.slant(img).item())
    wrong_sign = exercises.check_slant(lambda img: -data.slant(img).item())
    assert not wrong_sign and "wrong sign" in wrong_sign.message
    reciprocal = exercises.check_slant(lambda img: 1 / data.slant(img).item())
    assert not reciprocal and "reciprocal" in reciprocal.message
    crash = exercises.check_slant(lambda img: img.foo)
    assert not crash and "raised AttributeError" in crash.message
    vector = exercises.check_slant(lambda img: img.sum(0))
    assert not vector and "one number" in vector.message


def test_check_chance_recall_right_and_wrong():
    assert exercises.check_chance_recall(10 / 360)
    assert "Recall@1" in exercises.check_chance_recall(1 / 360).message
    assert "Recall@1" in exercises.check_chance_recall(0.0028).message  # rounded 1/n
    assert not exercises.check_chance_recall(0.5)
    assert "give a number" in exercises.check_chance_recall("ten").message


def test_check_late_fusion_right_and_wrong():
    assert exercises.check_late_fusion(lambda a, b: torch.softmax(a + b, 1))
    unnormalised = exercises.check_late_fusion(lambda a, b: a.softmax(1) * b.softmax(1))
    assert not unnormalised and "sum to 1" in unnormalised.message
    sum_rule = exercises.check_late_fusion(lambda a, b: (a.softmax(1) + b.softmax(1)) / 2)
    assert not sum_rule and "sum* rule" in sum_rule.message
    max_rule = exercises.check_late_fusion(lambda a, b: torch.maximum(a.softmax(1), b.softmax(1)))
    assert not max_rule and "probability distribution" in max_rule.message
    logs = exercises.check_late_fusion(lambda a, b: torch.log_softmax(a + b, 1))
    assert not logs and "log-probabilities" in logs.message
    shape = exercises.check_late_fusion(lambda a, b: (a + b).argmax(1))
    assert not shape and "[B, C]" in shape.message


def test_feedback_displays_its_verdict():
    good, bad = exercises.Feedback(True, "fine"), exercises.Feedback(False, "hint")
    assert str(good).startswith("✅") and str(bad).startswith("❌") and "hint" in bad._repr_markdown_()


def test_check_info_nce_right_and_wrong():
    import torch.nn.functional as F

    def right(sim, tau):
        t = torch.arange(len(sim))
        return ((F.cross_entropy(sim / tau, t) + F.cross_entropy(sim.T / tau, t)) / 2).item()

    assert exercises.check_info_nce(right)
    one_way = exercises.check_info_nce(lambda sim, tau: F.cross_entropy(sim / tau, torch.arange(len(sim))).item())
    assert not one_way and "only one direction" in one_way.message
    no_temp = exercises.check_info_nce(lambda sim, tau: right(sim, 1.0))
    assert not no_temp and "forgot the temperature" in no_temp.message
    wrong = exercises.check_info_nce(lambda sim, tau: 0.0)
    assert not wrong and "expected" in wrong.message


def test_check_gan_optimum_right_and_wrong():
    import numpy as np

    p, q = np.array(exercises.GAN_P_DATA), np.array(exercises.GAN_P_G)
    d = p / (p + q)
    m = (p + q) / 2
    kl = lambda a, b: sum(x * np.log(x / y) for x, y in zip(a, b) if x > 0)  # noqa: E731
    jsd = (kl(p, m) + kl(q, m)) / 2
    assert exercises.check_gan_optimum(d, jsd)
    assert "probability of *fake*" in exercises.check_gan_optimum(1 - d, jsd).message
    assert "bits" in exercises.check_gan_optimum(d, jsd / np.log(2)).message
    assert "V(D*, G)" in exercises.check_gan_optimum(d, -np.log(4) + 2 * jsd).message
    assert "midpoint" in exercises.check_gan_optimum(d, 0.3).message
    assert "4 numbers" in exercises.check_gan_optimum(d[:3], jsd).message
    assert "give D*" in exercises.check_gan_optimum("D", jsd).message
    assert not exercises.check_gan_optimum(np.full(4, 0.5), jsd)


def test_check_product_of_experts_right_and_wrong():
    precision = 1 / 0.5 + 1 / 2.0 + 1.0
    mean, var = (1.0 / 0.5 - 2.0 / 2.0) / precision, 1 / precision
    assert exercises.check_product_of_experts(mean, var)
    no_prior = exercises.check_product_of_experts((1.0 / 0.5 - 2.0 / 2.0) / 2.5, 1 / 2.5)
    assert not no_prior and "prior" in no_prior.message
    assert "precision" in exercises.check_product_of_experts(-0.5, var).message
    assert "variance is right" in exercises.check_product_of_experts(0.1, var).message
    assert "two numbers" in exercises.check_product_of_experts("a", var).message
    assert not exercises.check_product_of_experts(0.0, 1.0)


def _vae_loss(model, x, *, sign=1.0, kl_sign=1.0, use_kl=True, noise=True, reparam=True, noise_like_x=False):
    """A VAE loss with switchable bugs (Part 4's "find the bug" exercise)."""
    from crossmodal_lib.minimal import binomial_log_likelihood
    mu, logvar = model.encode(x)
    eps = torch.randn_like(x) if noise_like_x else torch.randn_like(mu)
    z = mu + (0.5 * logvar).exp() * eps if noise else mu
    z = z if reparam else z.detach()
    rec = binomial_log_likelihood(model.decoder(z), x)
    kl = 0.5 * (logvar.exp() + mu ** 2 - 1 - logvar).sum(1)
    return -sign * (rec - kl_sign * kl * use_kl).mean()


def test_check_vae_loss_names_each_bug():
    assert exercises.check_vae_loss(_vae_loss)
    assert "sign is wrong" in exercises.check_vae_loss(lambda m, x: _vae_loss(m, x, sign=-1.0)).message
    assert "KL term is missing" in exercises.check_vae_loss(lambda m, x: _vae_loss(m, x, use_kl=False)).message
    assert "wrong sign" in exercises.check_vae_loss(lambda m, x: _vae_loss(m, x, kl_sign=-1.0)).message
    assert "without noise" in exercises.check_vae_loss(lambda m, x: _vae_loss(m, x, noise=False)).message
    assert "reparameterisation" in exercises.check_vae_loss(lambda m, x: _vae_loss(m, x, reparam=False)).message
    assert "shaped like z" in exercises.check_vae_loss(lambda m, x: _vae_loss(m, x, noise_like_x=True)).message
    per_example = exercises.check_vae_loss(lambda m, x: -m.encode(x)[0].sum(1))
    assert not per_example and "one number" in per_example.message
    assert "expected minus the mean ELBO" in exercises.check_vae_loss(lambda m, x: torch.tensor(3.0)).message


def test_check_dense_kernel_right_and_wrong():
    assert exercises.check_dense_kernel(lambda w: w.T)
    assert "transpose" in exercises.check_dense_kernel(lambda w: w.reshape(w.shape[1], w.shape[0])).message
    assert "weight unchanged" in exercises.check_dense_kernel(lambda w: w).message
    assert "shape (6,)" in exercises.check_dense_kernel(lambda w: w.flatten()).message
    assert "raised" in exercises.check_dense_kernel(lambda w: w.foo).message
    assert not exercises.check_dense_kernel(lambda w: -w.T)


def test_check_chance_map_right_and_wrong():
    from crossmodal_lib.metrics import chance_map
    assert exercises.check_chance_map(chance_map(360, 36))
    assert exercises.check_chance_map(chance_map(360, 36) + 0.002)  # a simulation's noise
    assert "m/n" in exercises.check_chance_map(0.1).message
    assert "one relevant item" in exercises.check_chance_map(chance_map(360, 1)).message
    assert "one number" in exercises.check_chance_map("x").message
    assert not exercises.check_chance_map(0.5)


def test_check_infonce_bound_right_and_wrong():
    import math
    right = exercises.check_infonce_bound(lambda loss, n: math.log(n) - loss)
    assert right and "10.40 nats" in right.message
    assert "math.log, not log2" in exercises.check_infonce_bound(lambda loss, n: math.log2(n) - loss).message
    assert "not log(N - 1)" in exercises.check_infonce_bound(lambda loss, n: math.log(n - 1) - loss).message
    assert "sign is reversed" in exercises.check_infonce_bound(lambda loss, n: loss - math.log(n)).message
    assert "one number" in exercises.check_infonce_bound(lambda loss, n: [1.0, 2.0]).message
    assert "raised" in exercises.check_infonce_bound(lambda loss, n: 1 / 0).message
    assert not exercises.check_infonce_bound(lambda loss, n: math.log(n))


def test_check_attention_weights_right_and_wrong():
    import math
    assert exercises.check_attention_weights(lambda q, k: (k @ q / math.sqrt(len(q))).softmax(0))
    assert "divide the scores by sqrt(d)" in exercises.check_attention_weights(lambda q, k: (k @ q).softmax(0)).message
    assert "not 1 / d" in exercises.check_attention_weights(lambda q, k: (k @ q / len(q)).softmax(0)).message
    assert "must be a softmax" in exercises.check_attention_weights(lambda q, k: k @ q / 4).message
    assert "one weight per key" in exercises.check_attention_weights(lambda q, k: q).message
    assert not exercises.check_attention_weights(lambda q, k: (q @ k.T / 4).softmax(0) * 0 + 0.2)


def test_check_causal_mask_right_and_wrong():
    assert exercises.check_causal_mask(lambda n: torch.ones(n, n, dtype=torch.bool).tril())
    assert "transpose" in exercises.check_causal_mask(lambda n: torch.ones(n, n, dtype=torch.bool).triu()).message
    assert "diagonal" in exercises.check_causal_mask(lambda n: torch.ones(n, n, dtype=torch.bool).tril(-1)).message
    assert "inverted" in exercises.check_causal_mask(lambda n: ~torch.ones(n, n, dtype=torch.bool).tril()).message
    assert "5 x 5" in exercises.check_causal_mask(lambda n: torch.ones(n)).message
    assert "raised" in exercises.check_causal_mask(lambda n: 1 / 0).message
    assert not exercises.check_causal_mask(lambda n: torch.ones(n, n, dtype=torch.bool))


def test_check_ctc_two_frames_right_and_wrong():
    assert exercises.check_ctc_two_frames(0.9)
    assert "blank blank" in exercises.check_ctc_two_frames(1.0).message
    assert "missing: 1 blank" in exercises.check_ctc_two_frames(0.8).message
    assert "single alignment 1 1" in exercises.check_ctc_two_frames(0.4).message
    assert "one number" in exercises.check_ctc_two_frames("x").message
    assert not exercises.check_ctc_two_frames(0.5)


def test_check_alpha_bar_right_and_wrong():
    import math
    assert exercises.check_alpha_bar(0.504, math.sqrt(0.496))
    assert "product" in exercises.check_alpha_bar(0.4, 0.5).message
    assert "not the betas" in exercises.check_alpha_bar(0.006, 0.5).message
    assert "its standard deviation is the root" in exercises.check_alpha_bar(0.504, 0.496).message
    assert "two numbers" in exercises.check_alpha_bar("x", 1).message
    assert not exercises.check_alpha_bar(0.504, 0.1)


def test_check_standard_error_right_and_wrong():
    import statistics
    # by hand for (0.54, 0.40, 0.61): mean 0.5167, squared deviations sum 0.02287, s = 0.10693, s / sqrt(3) = 0.06173
    assert exercises.check_standard_error(lambda v: statistics.stdev(v) / len(v) ** 0.5)
    assert "0.0617" in exercises.check_standard_error(lambda v: statistics.stdev(v) / len(v) ** 0.5).message
    assert "n - 1" in exercises.check_standard_error(lambda v: statistics.pstdev(v) / len(v) ** 0.5).message
    assert "not by n" in exercises.check_standard_error(lambda v: statistics.stdev(v) / len(v)).message
    assert "one seed's score" in exercises.check_standard_error(statistics.stdev).message
    assert "raised ZeroDivisionError" in exercises.check_standard_error(lambda v: 1 / 0).message
    assert not exercises.check_standard_error(lambda v: 0.5)


def test_check_int8_quantization_right_and_wrong():
    def right(w):
        scale = w.abs().max() / 127
        return torch.round(w / scale).to(torch.int8), scale

    assert exercises.check_int8_quantization(right)
    # by hand: max|w| = 1.27, scale 0.01; 0.004 -> 0 and -0.049 -> -5 give the largest errors, 0.004 and 0.001
    assert "0.00400, within scale / 2 = 0.00500" in exercises.check_int8_quantization(right).message
    assert "outside int8" in exercises.check_int8_quantization(lambda w: (torch.round(w / (w.abs().max() / 128)), w.abs().max() / 128)).message
    assert "asymmetric" in exercises.check_int8_quantization(lambda w: (torch.round(w / (w.abs().max() / 255)), w.abs().max() / 255)).message
    assert "truncates" in exercises.check_int8_quantization(lambda w: (torch.trunc(w / (w.abs().max() / 127)), w.abs().max() / 127)).message
    assert "integers" in exercises.check_int8_quantization(lambda w: (w / (w.abs().max() / 127), w.abs().max() / 127)).message
    assert "shape" in exercises.check_int8_quantization(lambda w: (torch.zeros(3), 0.01)).message
    assert "return (q, scale)" in exercises.check_int8_quantization(lambda w: 1 / 0).message


def test_check_combination_chance_right_and_wrong():
    assert exercises.check_combination_chance(1 / 9, 1 / 3)
    assert "knows nothing" in exercises.check_combination_chance(1 / 90, 1 / 3).message
    assert "multiply" in exercises.check_combination_chance(1 / 6, 1 / 3).message
    assert "only the slant" in exercises.check_combination_chance(1 / 9, 1 / 9).message
    assert "two probabilities" in exercises.check_combination_chance("a", 1).message


def test_check_unpaired_coincidences_right_and_wrong():
    per_batch = 64 * 64 / 1237                                     # 3.31: 64 captions x 64/1237 each
    assert exercises.check_unpaired_coincidences(per_batch, 200 * per_batch)
    assert "add" in exercises.check_unpaired_coincidences(64 / 1237, 200 * 64 / 1237).message
    assert "1/N" in exercises.check_unpaired_coincidences(1 / 1237, 200 / 1237).message
    assert "200 independent batches" in exercises.check_unpaired_coincidences(per_batch, per_batch).message
    assert "two numbers" in exercises.check_unpaired_coincidences(None, 1).message
    # another setting: 10 of 100 unpaired pairs per batch, 3 steps -> 1 per batch, 3 per run
    assert exercises.check_unpaired_coincidences(1.0, 3.0, unpaired=100, batch=10, steps=3)


def test_check_ink_left_and_check_pivot_hops_right_and_wrong():
    assert exercises.check_ink_left(lambda image, p: float(image[..., : image.shape[-1] - p].sum() / image.sum()))
    assert "share of *columns*" in exercises.check_ink_left(lambda image, p: 1 - p / 8).message
    assert "pushed out" in exercises.check_ink_left(lambda image, p: float(image[..., image.shape[-1] - p:].sum() / image.sum())).message
    assert "raised ZeroDivisionError" in exercises.check_ink_left(lambda image, p: 1 / 0).message
    assert exercises.check_pivot_hops(0.72, 0.648)
    assert "mean" in exercises.check_pivot_hops(0.85, 0.8).message
    assert "at least one hop" in exercises.check_pivot_hops(0.98, 0.9).message
    assert "third multiplies" in exercises.check_pivot_hops(0.72, 0.72).message


def test_check_ranking_metrics_knows_the_answer_and_the_usual_mistakes():
    from crossmodal_lib.exercises.evaluation import RANKING

    ranks = [r + 1 for r, relevant in enumerate(RANKING) if relevant]
    ap = sum((i + 1) / r for i, r in enumerate(ranks)) / len(ranks)        # precision at each relevant rank
    assert ap == pytest.approx(0.45)
    assert exercises.check_ranking_metrics(0, 1, ap)
    for wrong, hint in (((0, 0.5, 0.45), "information"), ((0, 1, 0.35), "reciprocal"), ((0, 1, 0.5), "first relevant"),
                        ((1, 1, 0.45), "not relevant"), (("a", 1, 0.45), "three numbers")):
        feedback = exercises.check_ranking_metrics(*wrong)
        assert not feedback and hint in feedback.message


def test_check_difference_se_knows_the_answer_and_the_usual_mistakes():
    se = (0.02**2 + 0.03**2) ** 0.5
    assert exercises.check_difference_se(se, False)
    for wrong, hint in (((0.05, False), "do not add"), ((0.025, False), "average"), ((se**2, False), "square root"),
                        ((se, True), "not established"), (("x", False), "a number")):
        feedback = exercises.check_difference_se(*wrong)
        assert not feedback and hint in feedback.message
