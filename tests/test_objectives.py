"""The training objectives as public functions, each checked against a value computed by hand."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from crossmodal_lib import embedding, gan, training, vae
from crossmodal_lib.text import Vocabulary


# --------------------------------------------------------------------------------------
# The GAN's extra terms
# --------------------------------------------------------------------------------------
def test_matching_aware_loss_by_hand():
    real = torch.tensor([1.5, -0.5])   # hinge: relu(1 - l) = [0, 1.5], mean 0.75
    fake = torch.tensor([0.0, 2.0])    # relu(1 + l) = [1, 3], mean 2
    wrong = torch.tensor([-2.0, 0.0])  # relu(1 + l) = [0, 1], mean 0.5
    value = gan.matching_aware_discriminator_loss(real, fake, wrong, "hinge", mismatch=0.5)
    assert value.item() == pytest.approx(0.75 + 0.5 * 2 + 0.5 * 0.5)
    # mismatch 0 is the plain discriminator loss; the logistic form uses softplus
    assert gan.matching_aware_discriminator_loss(real, fake, wrong, "hinge", 0.0).item() == pytest.approx(2.75)
    expected = (math.log1p(math.exp(-1.5)) + math.log1p(math.exp(0.5))) / 2 \
        + 0.75 * (math.log(2) + math.log1p(math.exp(2))) / 2 + 0.25 * (math.log1p(math.exp(-2)) + math.log(2)) / 2
    got = gan.matching_aware_discriminator_loss(real, fake, wrong, "nonsaturating", mismatch=0.25)
    assert got.item() == pytest.approx(expected)
    with pytest.raises(ValueError, match=r"mismatch must be in \[0, 1\)"):
        gan.matching_aware_discriminator_loss(real, fake, wrong, "hinge", mismatch=1.0)


def test_mode_seeking_penalty_by_hand():
    fake_a, fake_b = torch.zeros(2, 3), torch.full((2, 3), 0.5)   # mean |difference| 0.5
    z_a, z_b = torch.zeros(2, 4), torch.full((2, 4), 2.0)          # mean |difference| 2
    value = gan.mode_seeking_penalty(fake_a, fake_b, z_a, z_b, weight=0.02)
    assert value.item() == pytest.approx(0.02 / (0.25 + gan.MODE_SEEKING_EPS))
    collapsed = gan.mode_seeking_penalty(fake_a, fake_a, z_a, z_b, weight=0.02)  # G ignores its noise
    assert collapsed.item() == pytest.approx(0.02 / gan.MODE_SEEKING_EPS)
    with pytest.raises(ValueError, match="matching shapes"):
        gan.mode_seeking_penalty(fake_a, fake_b[:1], z_a, z_b)


def test_gan_step_uses_the_matching_aware_loss_and_updates_both_players():
    torch.manual_seed(0)
    g = gan.Generator(4, 3, (1, 2, 2), hidden=8)
    d = gan.Discriminator((1, 2, 2), 3, hidden=8, spectral_norm=False)
    real, cond = torch.rand(6, 1, 2, 2), torch.randn(6, 3)
    g0, d0 = copy.deepcopy(g), copy.deepcopy(d)
    opts = (torch.optim.Adam(g.parameters(), lr=0.1), torch.optim.Adam(d.parameters(), lr=0.1))
    torch.manual_seed(1)
    values = gan.gan_step(g, d, opts, real, cond, loss="hinge", mismatch=0.5)
    torch.manual_seed(1)
    fake = g0(torch.randn(6, 4), cond)
    expected = gan.matching_aware_discriminator_loss(d0(real, cond), d0(fake, cond), d0(real, cond.roll(1, 0)), "hinge", 0.5)
    assert values["loss_d"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert set(values) == {"loss_d", "loss_g", "D(real)", "D(fake)"}
    assert not torch.equal(g.net[0].weight, g0.net[0].weight) and not torch.equal(d.score.weight, d0.score.weight)


# --------------------------------------------------------------------------------------
# The dual encoder's warm-up and loss
# --------------------------------------------------------------------------------------
def test_warmup_schedule_switches_to_the_hardest_negative_after_warmup_steps():
    assert [embedding.use_hardest_negative(s, 3) for s in range(5)] == [False, False, False, True, True]
    assert embedding.use_hardest_negative(0, 0)
    with pytest.raises(ValueError, match="step must be >= 0"):
        embedding.use_hardest_negative(-1, 3)


def test_dual_encoder_loss_is_infonce_or_the_triplet_loss_on_the_models_embeddings():
    torch.manual_seed(0)
    vocab = Vocabulary.build(["a thin seven", "a bold one", "an upright two"])
    model = embedding.DualEncoder(vocab, dim=4, hidden=8)
    x, ids = torch.rand(3, 1, 8, 8), vocab.encode(["a thin seven", "a bold one", "an upright two"])
    groups = torch.stack([torch.arange(3), torch.arange(3)], 1)
    u, v = model.forward_inputs(x), model.forward_ids(ids)
    infonce = embedding.dual_encoder_loss(model, x, ids, groups, embedding.DualEncoderConfig())
    assert infonce.item() == pytest.approx(embedding.info_nce(u, v, model.scale).item(), rel=1e-6)
    config = embedding.DualEncoderConfig(loss="triplet", margin=0.5)
    for hardest in (False, True):
        got = embedding.dual_encoder_loss(model, x, ids, groups, config, hardest=hardest)
        assert got.item() == pytest.approx(embedding.triplet_loss(u, v, 0.5, hardest).item(), rel=1e-6)


def test_groups_put_an_images_captions_in_two_languages_together():
    from crossmodal_lib import data

    en = data.load_digit_pairs("test").subset(range(3))
    zh = data.load_digit_pairs("test", lang="zh").subset(range(3))
    groups = embedding.group_ids(data.concat_pairs(en, zh), "caption")    # [6, 2]: caption, source image
    mask = embedding.positive_mask(6, groups=groups)
    assert mask[0, 3] and mask[3, 0] and not mask[0, 1] and mask.sum() == 12
    alone = embedding.positive_mask(3, groups=embedding.group_ids(en, "caption"))
    assert torch.equal(alone, torch.eye(3, dtype=torch.bool))  # one language: only the diagonal


# --------------------------------------------------------------------------------------
# The multimodal VAE's loss, computed by hand on a model whose weights are all zero
# --------------------------------------------------------------------------------------
def _zero_model(posterior: str) -> tuple[vae.MultimodalVAE, torch.Tensor, torch.Tensor]:
    captions = ["a thin seven", "a bold one leaning left"]
    vocab = Vocabulary.build(captions)
    model = vae.MultimodalVAE(vocab, latent_dim=3, hidden=8, posterior=posterior)
    for p in model.parameters():
        p.data.zero_()  # every expert is N(0, I); every pixel Binomial(16, 1/2); every word uniform
    x = torch.randint(0, 17, (2, 1, 8, 8)) / 16.0
    return model, x, vocab.encode(captions, add_bos_eos=True)


def _by_hand(x: torch.Tensor, ids: torch.Tensor, vocab_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    k = (x * 16).round().flatten(1)
    log_choose = torch.lgamma(torch.tensor(17.0)) - torch.lgamma(k + 1) - torch.lgamma(17 - k)
    log_px = (log_choose - 16 * math.log(2)).sum(1)
    log_pt = -(ids[:, 1:] != 0).sum(1) * math.log(vocab_size)  # tokens after <bos>, <eos> included
    return log_px, log_pt


def test_multimodal_vae_loss_by_hand_product_of_experts():
    model, x, ids = _zero_model("poe")
    log_px, log_pt = _by_hand(x, ids, len(model.vocab))
    d, w, beta = 3, 10.0, 0.5
    kl_joint = d * 0.5 * (1 / 3 - 1 - math.log(1 / 3))   # precisions 1 + 1 + 1 (prior once): variance 1/3
    kl_single = d * 0.5 * (1 / 2 - 1 - math.log(1 / 2))  # one expert and the prior: variance 1/2
    joint = log_px + w * log_pt - beta * kl_joint
    unimodal = 2 * (log_px + w * log_pt) - 2 * beta * kl_single  # cross: both modalities from each
    values = model.loss(x, ids, beta=beta, cross=True, text_weight=w)
    assert values["joint"].item() == pytest.approx(joint.mean().item(), rel=1e-5)
    assert values["unimodal"].item() == pytest.approx(unimodal.mean().item(), rel=1e-5)
    assert values["loss"].item() == pytest.approx(-(joint + unimodal).mean().item(), rel=1e-5)
    own = model.loss(x, ids, beta=beta, cross=False, text_weight=w)["unimodal"]  # each explains its own
    assert own.item() == pytest.approx((log_px + w * log_pt - 2 * beta * kl_single).mean().item(), rel=1e-5)


def test_multimodal_vae_loss_by_hand_mixture_of_experts():
    model, x, ids = _zero_model("moe")
    log_px, log_pt = _by_hand(x, ids, len(model.vocab))
    # both components are N(0, I) = p(z), so log q(z) - log p(z) = 0 at every sample
    values = model.loss(x, ids, beta=1.0, text_weight=1.0)
    assert values["joint"].item() == pytest.approx((log_px + log_pt).mean().item(), rel=1e-5)
    assert values["unimodal"].item() == 0.0
    with pytest.raises(ValueError, match="mismatched pairs: 2 inputs but 1 captions"):
        model.loss(x, ids[:1])


def test_batched_bounds_equal_decoding_each_latent_separately():
    """bounds() decodes its three latents as one batch; row k must equal decoding z_k alone."""
    torch.manual_seed(0)
    captions = ["a thin seven", "a bold one leaning left", "the digit 2, upright"]
    vocab = Vocabulary.build(captions)
    model = vae.MultimodalVAE(vocab, latent_dim=4, hidden=16)  # random (non-zero) weights
    x, ids = torch.rand(3, 1, 8, 8).mul(16).round() / 16, vocab.encode(captions, add_bos_eos=True)
    for cross in (True, False):
        torch.manual_seed(1)
        rows = model.bounds(x, ids, beta=0.5, cross=cross, text_weight=3.0)
        torch.manual_seed(1)
        eps = torch.randn(3, 3, 4)  # the noise bounds() draws, in the same order
        experts = model.experts(x, ids)
        posteriors = [vae.product_of_experts(torch.stack([m for m, _ in experts]), torch.stack([v for _, v in experts]))]
        posteriors += [vae.product_of_experts(m[None], v[None]) for m, v in experts]
        for k, (mu, logvar) in enumerate(posteriors):
            z = mu + (0.5 * logvar).exp() * eps[k]
            log_px = model.input_log_likelihood(model.decode_input(z), x)
            log_pt = model.caption_decoder.log_likelihood(z, ids)
            use_x, use_t = (1.0, 1.0) if cross or k == 0 else ((1.0, 0.0) if k == 1 else (0.0, 1.0))
            expected = use_x * log_px + 3.0 * use_t * log_pt - 0.5 * vae.gaussian_kl(mu, logvar)
            assert torch.allclose(rows[k], expected, atol=1e-4), (cross, k)


# --------------------------------------------------------------------------------------
# The one training step
# --------------------------------------------------------------------------------------
def test_optimizer_step_skips_a_non_finite_loss():
    w = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.SGD([w], lr=0.5)
    training.optimizer_step(opt, (w ** 2).sum())  # gradient 2w = 2: w -> 1 - 0.5 * 2 = 0
    assert torch.equal(w.detach(), torch.zeros(2))
    bad = training.optimizer_step(opt, (w * float("nan")).sum())
    assert torch.isnan(bad) and torch.equal(w.detach(), torch.zeros(2))
    with pytest.raises(ValueError, match="the loss must be a scalar"):
        training.optimizer_step(opt, w * 2)


def test_seeded_loader_order_depends_only_on_the_seed():
    x = torch.arange(10)
    first = [b[0].tolist() for b in training.seeded_loader(x, batch_size=4, seed=3)]
    torch.manual_seed(123)  # the global stream does not matter
    again = [b[0].tolist() for b in training.seeded_loader(x, batch_size=4, seed=3)]
    assert first == again and sorted(sum(first, [])) == list(range(10))
    assert [len(b[0]) for b in training.seeded_loader(x, batch_size=4, seed=3, drop_last=True)] == [4, 4]
    with pytest.raises(ValueError, match="mismatched tensors"):
        training.seeded_loader(x, torch.zeros(3), batch_size=2, seed=0)
