"""Part 7.2: the diffusion library checked against its closed forms, against diffusers' schedulers,
and the trained text-to-image model against the quality the book claims."""

import math

import pytest
import torch

from crossmodal_lib import data, diffusion, embedding, metrics
from crossmodal_lib.text import Vocabulary


@pytest.mark.parametrize("kind, clip", [("linear", False), ("cosine", False), ("cosine", True)])
def test_schedules_and_steps_equal_diffusers(kind, clip):
    from crossmodal_lib.tools.diffusers_check import compare_with_diffusers

    errors = compare_with_diffusers(diffusion.NoiseSchedule(kind, 200), clip)
    assert errors["betas"] <= 1e-7                          # the schedules' formulas agree
    assert errors["ddim timesteps differ"] == 0.0
    for name in ("add_noise (float32)", "add_noise", "ddpm_step", "ddim_step"):
        assert errors[name] <= 1e-5, (name, errors[name])


def test_closed_form_of_the_forward_process_by_monte_carlo():
    """Running q(x_t | x_{t-1}) step by step gives mean sqrt(abar_t) x0 and variance 1 - abar_t."""
    schedule = diffusion.NoiseSchedule("linear", 50)
    x0 = torch.tensor([1.5, -0.5, 0.0], dtype=torch.float64)
    x = x0.expand(200_000, 3).clone()
    gen = torch.Generator().manual_seed(0)
    for t in range(30):
        beta = schedule.betas[t]
        x = (1 - beta).sqrt() * x + beta.sqrt() * torch.randn(x.shape, generator=gen, dtype=torch.float64)
    abar = schedule.alpha_bars[29]
    assert torch.allclose(x.mean(0), abar.sqrt() * x0, atol=0.01)
    assert torch.allclose(x.var(0), (1 - abar).expand(3), rtol=0.02)


def test_cosine_schedule_by_hand_and_its_end_points():
    schedule = diffusion.NoiseSchedule("cosine", 100)
    f = lambda t: math.cos((t / 100 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    assert schedule.alpha_bars[49].item() == pytest.approx(f(50) / f(0), rel=1e-6)
    assert schedule.alpha_bars[-1].item() < 1e-4 and schedule.betas.max().item() <= 0.999
    linear = diffusion.NoiseSchedule("linear", 100)
    assert linear.alpha_bars[-1].item() < 1e-4  # scaled to T: the data are destroyed at the end too


def test_time_embedding_and_guidance_on_random_weights():
    emb = diffusion.timestep_embedding(torch.tensor([0, 5]), 8)
    assert emb.shape == (2, 8) and torch.equal(emb[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    assert emb[1, 0].item() == pytest.approx(math.sin(5.0))
    torch.manual_seed(0)
    denoiser = diffusion.Denoiser((1, 8, 8), 4, hidden=32, blocks=1)
    model = diffusion.TextDiffusion(embedding.DualEncoder(Vocabulary.build(["a one"]), dim=4), denoiser,
                                    diffusion.DiffusionConfig())
    x, c = torch.randn(3, 1, 8, 8), torch.randn(3, 4)
    steps = torch.full((3,), 7)
    assert torch.allclose(model.guided_eps(x, 7, c, 0.0), denoiser(x, steps, None), atol=1e-6)
    assert torch.allclose(model.guided_eps(x, 7, c, 1.0), denoiser(x, steps, c))
    eps_u, eps_c = denoiser(x, steps, None), denoiser(x, steps, c)
    assert torch.allclose(model.guided_eps(x, 7, c, 3.0), eps_u + 3 * (eps_c - eps_u), atol=1e-6)


def test_gaussian_skip_is_the_regression_of_the_noise_and_its_limits():
    """eq-gauss-skip against a Monte Carlo regression of eps on x_t for Gaussian features; at the
    noisiest step it returns x_t itself (which is then almost exactly the noise); on typical inputs
    its mean square is the share of the noise's variance it explains, s^2 / (abar v + s^2)."""
    schedule = diffusion.NoiseSchedule("cosine", 200)
    mean, var = torch.tensor([-0.5, 0.3]), torch.tensor([0.3, 0.05])
    denoiser = diffusion.Denoiser((2,), cond_dim=3, hidden=8, skip=(schedule.alpha_bars, mean, var))
    g = torch.Generator().manual_seed(0)
    x0 = mean + var.sqrt() * torch.randn(400_000, 2, generator=g)
    eps = torch.randn(400_000, 2, generator=g)
    t = torch.full((400_000,), 90)
    x_t = schedule.add_noise(x0, eps, t)
    slope = (eps * (x_t - x_t.mean(0))).mean(0) / x_t.var(0)
    intercept = eps.mean(0) - slope * x_t.mean(0)
    probe = torch.tensor([[0.2, -1.0], [1.5, 0.4]])
    fitted = slope * probe + intercept
    assert torch.allclose(denoiser.gaussian_skip(probe, torch.full((2,), 90)), fitted, atol=0.01)
    assert torch.allclose(denoiser.gaussian_skip(probe, torch.full((2,), 199)), probe, atol=1e-3)
    for k in (0, 90, 199):      # the share of the noise's variance it explains: s^2 / (abar v + s^2)
        abar = schedule.alpha_bars[k].float()
        typical = schedule.add_noise(x0[:100_000], eps[:100_000], k)
        explained = denoiser.gaussian_skip(typical, torch.full((100_000,), k)).pow(2).mean(0)
        assert torch.allclose(explained, (1 - abar) / (abar * var + 1 - abar), rtol=0.02), k


def test_without_the_skip_a_narrow_denoiser_cannot_reach_most_directions():
    """The bottleneck behind the skip: the outputs of an MLP with 4 hidden units span at most
    4 directions (plus a bias) of a 16-dimensional space; the skip restores full rank."""
    torch.manual_seed(0)
    x, t, c = torch.randn(200, 16), torch.full((200,), 150), torch.randn(200, 2)
    plain = diffusion.Denoiser((16,), cond_dim=2, hidden=4, blocks=1)
    skip = (diffusion.NoiseSchedule("cosine", 200).alpha_bars, torch.zeros(16), torch.ones(16))
    skipped = diffusion.Denoiser((16,), cond_dim=2, hidden=4, blocks=1, skip=skip)
    with torch.no_grad():
        assert torch.linalg.matrix_rank(plain(x, t, c)) <= 5
        assert torch.linalg.matrix_rank(skipped(x, t, c)) == 16


def test_generate_rejects_bad_input():
    model = diffusion.TextDiffusion(embedding.DualEncoder(Vocabulary.build(["a one"]), dim=4),
                                    diffusion.Denoiser((1, 8, 8), 4, hidden=16, blocks=1), diffusion.DiffusionConfig())
    with pytest.raises(ValueError, match="guidance must be >= 0"):
        model.generate(["a one"], guidance=-1)
    with pytest.raises(ValueError, match=r"steps must be in 1..200"):
        model.generate(["a one"], steps=500)
    with pytest.raises(ValueError, match="purple"):
        model.generate(["a purple one"])
    with pytest.raises(ValueError, match="empty"):
        model.generate([])
    with pytest.raises(ValueError, match="runs all 200 steps"):
        model.generate(["a one"], sampler="ddpm", steps=10)
    with pytest.raises(ValueError, match="schedule must be one of 'linear', 'cosine'"):
        diffusion.NoiseSchedule("sigmoid")
    x = model.generate(["a one", "a one"], seed=1, steps=5)
    assert x.shape == (2, 1, 8, 8) and 0 <= x.min() and x.max() <= 1
    assert torch.equal(x, model.generate(["a one", "a one"], seed=1, steps=5))


@pytest.mark.training
def test_text_diffusion_reaches_the_book_quality():
    """Part 7.2's claims on seed 0, default guidance: the judge recognises >= 97 % of the digits drawn
    for the test captions, within-class diversity >= 0.8 of the real images', attributes followed."""
    train, test = data.load_digit_pairs("train"), data.load_digit_pairs("test")
    model = diffusion.train_text_diffusion(train, seed=0, progress=False)
    judge = metrics.Judge(train.inputs, train.labels)
    images = model.generate(test.captions, seed=0)
    assert judge.accuracy(images, test.labels) >= 0.97
    ratio = metrics.within_class_diversity(images, test.labels) / metrics.within_class_diversity(test.inputs, test.labels)
    assert ratio >= 0.8
    control = metrics.attribute_control(lambda c: model.generate(c, seed=1), n=20)
    assert control["thickness_ok"] >= 8 and control["slant_ok"] >= 8


def test_text_to_speech_by_diffusion_reaches_the_book_quality():
    """Part 5.2's claims on seed 0: the same trainer speaks spectrograms (1,024 values, wider than the
    MLP, so it relies on the skip); at guidance 4 the judge recognises >= 95 % of the digits, guidance
    raises it from w = 1, and the speech stays about as varied as real speech (the MVAE's is not)."""
    train, test = data.load_spoken_digits("train"), data.load_spoken_digits("test")
    dual = embedding.train_dual_encoder(train, seed=0, progress=False)
    model = diffusion.train_text_diffusion(train, seed=0, text_model=dual, progress=False)
    judge = metrics.Judge(train.inputs, train.labels)
    requests, asked = data.spoken_transcripts() * 8, torch.arange(20).repeat(8)
    real = metrics.within_class_diversity(test.inputs, test.labels + 10 * test.attributes["lang"])
    scores = {}
    for w in (1.0, 4.0):
        spoken = model.generate(requests, seed=1, guidance=w)
        scores[w] = judge.accuracy(spoken, asked % 10), metrics.within_class_diversity(spoken, asked) / real
    assert scores[4.0][0] >= 0.95 and scores[1.0][0] < scores[4.0][0]
    assert scores[1.0][1] >= 1.0 and scores[4.0][1] >= 0.8
