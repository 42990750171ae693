"""Part 3.3: the Gaussian identities against closed forms, Monte Carlo and torch.distributions;
the likelihoods against torch.distributions; the multimodal VAE against the quality the book claims."""

import math

import pytest
import torch
from torch.distributions import Binomial, Normal, kl_divergence

from crossmodal_lib import data, metrics, vae
from crossmodal_lib.text import Vocabulary


# ---------------------------------------------------------------- Gaussians -------------
def test_gaussian_kl_by_hand_and_against_torch():
    assert vae.gaussian_kl(torch.tensor([[1.0]]), torch.tensor([[0.0]])).item() == pytest.approx(0.5)
    gen = torch.Generator().manual_seed(0)
    mu, lv, mu_p, lv_p = (torch.randn(5, 3, generator=gen) for _ in range(4))
    ours = vae.gaussian_kl(mu, lv, mu_p, lv_p)
    ref = kl_divergence(Normal(mu, (0.5 * lv).exp()), Normal(mu_p, (0.5 * lv_p).exp())).sum(1)
    assert torch.allclose(ours, ref, atol=1e-5)
    with pytest.raises(ValueError, match="same shape"):
        vae.gaussian_kl(mu, lv[:, :2])


def test_gaussian_kl_against_monte_carlo():
    mu, lv = torch.tensor([[0.7, -1.2]]), torch.tensor([[-0.5, 0.8]])
    gen = torch.Generator().manual_seed(1)
    z = vae.reparameterize(mu.expand(200_000, -1), lv.expand(200_000, -1), gen)
    log_ratio = (Normal(mu, (0.5 * lv).exp()).log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(1)
    se = log_ratio.std() / math.sqrt(len(log_ratio))
    assert abs(log_ratio.mean() - vae.gaussian_kl(mu, lv)[0]) < 4 * se


def test_reparameterize_moments_and_gradient():
    mu = torch.tensor([2.0], requires_grad=True)
    lv = torch.tensor([math.log(0.25)], requires_grad=True)
    z = vae.reparameterize(mu.expand(100_000), lv.expand(100_000), torch.Generator().manual_seed(0))
    assert z.mean().item() == pytest.approx(2.0, abs=0.01) and z.var().item() == pytest.approx(0.25, rel=0.02)
    z.mean().backward()
    assert mu.grad.item() == pytest.approx(1.0)  # dz/dmu = 1 for every sample


def test_product_of_experts_by_hand_and_on_a_grid():
    mus, lvs = torch.tensor([[[1.0]], [[3.0]]]), torch.zeros(2, 1, 1)
    mu, lv = vae.product_of_experts(mus, lvs, prior=False)
    assert mu.item() == pytest.approx(2.0) and lv.exp().item() == pytest.approx(0.5)
    mu, lv = vae.product_of_experts(mus, lvs)  # the prior N(0, 1) joins once
    assert mu.item() == pytest.approx(4 / 3) and lv.exp().item() == pytest.approx(1 / 3)
    z = torch.linspace(-6, 8, 14001)
    dens = Normal(1.0, 1.0).log_prob(z).exp() * Normal(3.0, 1.0).log_prob(z).exp() * Normal(0.0, 1.0).log_prob(z).exp()
    dens = dens / dens.sum()
    assert (z * dens).sum().item() == pytest.approx(4 / 3, abs=1e-4)
    assert ((z - 4 / 3) ** 2 * dens).sum().item() == pytest.approx(1 / 3, abs=1e-4)
    with pytest.raises(ValueError, match="E, N, d"):
        vae.product_of_experts(torch.zeros(2, 3), torch.zeros(2, 3))


# ---------------------------------------------------------------- likelihoods -----------
def test_binomial_log_likelihood_against_torch():
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 17, (4, 1, 8, 8), generator=gen) / 16
    logits = torch.randn(4, 1, 8, 8, generator=gen)
    ref = Binomial(16, logits=logits.flatten(1)).log_prob(x.flatten(1) * 16).sum(1)
    assert torch.allclose(vae.binomial_log_likelihood(logits, x), ref, atol=1e-3)
    with pytest.raises(ValueError, match="counts / 16"):
        vae.binomial_log_likelihood(logits, x + 0.01)


def test_density_baselines():
    train = data.load_digit_pairs("train").inputs
    logits = vae.pixel_baseline(train)
    p = torch.sigmoid(logits)
    assert torch.allclose(p, train.flatten(1).mean(0).clamp(1e-3, 1 - 1e-3), atol=1e-6)
    pixels = vae.binomial_log_likelihood(logits.expand(len(train), -1), train).mean()
    w1, l1 = vae.fit_binomial_mixture(train, 1, iters=3)
    assert vae.mixture_log_likelihood(w1, l1, train).mean().item() == pytest.approx(pixels.item(), rel=1e-4)
    w, l = vae.fit_binomial_mixture(train, 5, iters=20)
    assert w.exp().sum().item() == pytest.approx(1.0, abs=1e-5)
    assert vae.mixture_log_likelihood(w, l, train).mean() > pixels + 20  # clusters explain far more


# ---------------------------------------------------------------- models ---------------
def test_iwae_with_one_sample_estimates_the_elbo():
    """k = 1: the sampled log p(x, z) - log q(z|x) has the ELBO (with the KL in closed form) as its mean."""
    torch.manual_seed(0)
    model = vae.ImageVAE(latent_dim=4, hidden=16).eval()
    x = data.load_digit_pairs("test").inputs[:1].repeat(4000, 1, 1, 1)
    with torch.no_grad():
        elbo = model.elbo(x, generator=torch.Generator().manual_seed(3))[0]
        iwae = model.iwae(x, 1, generator=torch.Generator().manual_seed(4))
    se = (iwae.var() / len(iwae) + elbo.var() / len(elbo)).sqrt()
    assert abs(iwae.mean() - elbo.mean()) < 4 * se


def test_caption_decoder_likelihood_and_greedy_contract():
    torch.manual_seed(0)
    dec = vae.CaptionDecoder(vocab_size=7, latent_dim=3, emb_dim=4, hidden=5)
    z, ids = torch.randn(2, 3), torch.tensor([[2, 4, 5, 3], [2, 6, 3, 0]])
    logits, _ = dec._run(z, ids[:, :-1])
    logp = logits.log_softmax(-1).gather(2, ids[:, 1:, None])[..., 0]
    manual = torch.stack([logp[0].sum(), logp[1, :2].sum()])  # padding after <eos> is not scored
    assert torch.allclose(dec.log_likelihood(z, ids), manual, atol=1e-5)
    out = dec.greedy(z, bos=2, eos=3, max_len=6)
    assert out.shape[0] == 2 and out.shape[1] <= 6


def test_beam_search_is_greedy_at_width_one_and_exact_when_wide():
    import itertools

    torch.manual_seed(0)
    dec = vae.CaptionDecoder(vocab_size=6, latent_dim=3, emb_dim=4, hidden=8)
    z = torch.randn(4, 3)
    greedy, beam1 = dec.greedy(z, 2, 3, max_len=5), dec.beam_search(z, 2, 3, width=1, max_len=5)
    width = min(greedy.shape[1], beam1.shape[1])
    assert torch.equal(greedy[:, :width], beam1[:, :width])
    # exhaustive check: with the padding token made impossible, a beam as wide as the number of
    # 3-token prefixes finds the most likely of all sequences of at most 4 tokens
    with torch.no_grad():
        dec.out.bias[0] = -1e4
    seqs = [list(c) for k in range(1, 5) for c in itertools.product([1, 2, 3, 4, 5], repeat=k)
            if 3 not in c[:-1] and (k == 4 or c[-1] == 3)]
    ids = torch.tensor([[2, *c] + [0] * (4 - len(c)) for c in seqs])
    for i in range(4):
        with torch.no_grad():
            ll = dec.log_likelihood(z[i:i + 1].expand(len(ids), -1), ids)
        found = [t for t in dec.beam_search(z[i:i + 1], 2, 3, width=125, max_len=4)[0].tolist() if t != 0]
        assert ll[seqs.index(found)] == pytest.approx(ll.max().item(), abs=1e-4)


def test_multimodal_vae_rejects_bad_input():
    vocab = Vocabulary.build(["a thin seven", "a thick one"])
    model = vae.MultimodalVAE(vocab, latent_dim=4, hidden=16)
    with pytest.raises(ValueError, match="purple"):
        model.generate(["a purple seven"])
    with pytest.raises(TypeError, match="list of captions"):
        model.generate("a thin seven")
    with pytest.raises(ValueError, match="empty"):
        model.generate([])
    with pytest.raises(ValueError, match="mismatched pairs"):
        model.elbo(torch.zeros(3, 1, 8, 8), ["a thin seven"] * 2)
    with pytest.raises(ValueError, match=r"inputs \[N, 1, 8, 8\]"):
        model.describe(torch.zeros(3, 1, 4, 4))
    with pytest.raises(ValueError, match="NaN"):
        model.describe(torch.full((1, 1, 8, 8), float("nan")))
    with pytest.raises(ValueError, match="posterior must be"):
        vae.MultimodalVAE(vocab, posterior="sum")
    with pytest.raises(ValueError, match="at least one modality"):
        model.posterior()


# ---------------------------------------------------------------- training --------------
@pytest.fixture(scope="module")
def trained():
    return vae.train_multimodal_vae(data.load_digit_pairs("train"), seed=0, progress=False)


@pytest.mark.training
def test_multimodal_vae_reaches_the_book_quality(trained):
    """Part 3.3's claims on the test split: coherence >= 95% both ways, attribute control."""
    train, test = data.load_digit_pairs("train"), data.load_digit_pairs("test")
    judge = metrics.Judge(train.inputs, train.labels)
    assert judge.accuracy(trained.generate(test.captions, seed=0), test.labels) >= 0.95
    named = [data.parse_caption(c).digit for c in trained.describe(test.inputs)]
    assert sum(d == int(y) for d, y in zip(named, test.labels)) / len(test) >= 0.95
    control = metrics.attribute_control(lambda c: trained.generate(c, seed=1), n=20)
    assert control["thickness_ok"] >= 8 and control["slant_ok"] >= 8


@pytest.mark.training
def test_multimodal_vae_public_contract(trained, tmp_path):
    from crossmodal_lib.training import load_checkpoint, save_checkpoint

    test = data.load_digit_pairs("test")
    x = trained.generate(["a seven with bold strokes, leaning right"] * 2, seed=0)
    assert x.shape == (2, 1, 8, 8) and x.device.type == "cpu" and 0 <= x.min() and x.max() <= 1
    assert torch.equal(x, trained.generate(["a seven with bold strokes, leaning right"] * 2, seed=0))
    captions = trained.describe(test.inputs[:4])
    assert len(captions) == 4 and all(isinstance(c, str) and c for c in captions)
    images, texts = trained.sample(5, seed=0)
    assert images.shape == (5, 1, 8, 8) and len(texts) == 5
    elbo = trained.elbo(test.inputs[:10], test.captions[:10])
    assert elbo.shape == (10,) and torch.isfinite(elbo).all() and (elbo < 0).all()
    path = save_checkpoint(tmp_path / "mvae.safetensors", trained, {"vocab": trained.vocab.itos})
    clone = vae.MultimodalVAE(Vocabulary(load_checkpoint(path, trained)["vocab"]), latent_dim=32, hidden=256,
                              input_features=trained.input_encoder.features[0].frozen, feature_dim=128)
    load_checkpoint(path, clone)
    assert clone.describe(test.inputs[:4]) == captions


@pytest.mark.training
def test_image_vae_beats_the_pixel_baseline_and_iwae_tightens():
    train, test = data.load_digit_pairs("train"), data.load_digit_pairs("test")
    model = vae.train_vae(train.inputs, seed=0, progress=False)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        elbo = model.elbo(test.inputs, generator=gen)[0].mean()
        iwae = model.iwae(test.inputs, 100, generator=gen).mean()
    pixels = vae.binomial_log_likelihood(vae.pixel_baseline(train.inputs).expand(len(test), -1), test.inputs).mean()
    assert elbo > pixels + 100  # nats per image
    assert iwae > elbo


@pytest.mark.training
def test_conditional_vae_generates_the_requested_digit():
    train, test = data.load_digit_pairs("train"), data.load_digit_pairs("test")
    model = vae.train_conditional_vae(train, seed=0, progress=False)
    judge = metrics.Judge(train.inputs, train.labels)
    x = model.generate(test.captions, seed=0)
    assert x.shape == (360, 1, 8, 8) and 0 <= x.min() and x.max() <= 1
    assert judge.accuracy(x, test.labels) >= 0.9
    assert not torch.equal(model.generate(test.captions[:2], seed=1), model.generate(test.captions[:2], seed=2))
    with pytest.raises(ValueError, match="purple"):
        model.generate(["a purple seven"])


def test_frozen_features_are_a_copy_the_callers_module_keeps_training():
    tower = torch.nn.Linear(64, 8)
    model = vae.MultimodalVAE(Vocabulary.build(["a thin seven"]), latent_dim=4, hidden=16,
                              input_features=torch.nn.Sequential(torch.nn.Flatten(), tower), feature_dim=8)
    assert all(p.requires_grad for p in tower.parameters())
    assert not any(p.requires_grad for p in model.input_encoder.features[0].frozen.parameters())
