"""Part 3.4: the five steps end to end (crossmodal_lib.pipeline)."""

import math

import pytest
import torch

import crossmodal_lib as cm
from crossmodal_lib import diffusion, metrics, pipeline
from crossmodal_lib.pairs import PairedDataset


def _pairs(inputs: torch.Tensor, captions: list[str]) -> PairedDataset:
    labels = torch.zeros(len(captions), dtype=torch.int64)
    return PairedDataset(inputs=inputs, captions=captions, labels=labels, attributes={},
                         indices=torch.arange(len(captions)), modality="image", lang="en")


def test_baseline_log_likelihood_by_hand():
    # two training images of one pixel (k = 4 and 12 of 16: mean 1/2); captions "a b" and "a"
    train = _pairs(torch.tensor([[0.25], [0.75]]), ["a b", "a"])
    test = _pairs(torch.tensor([[0.5]]), ["b"])
    log_px = math.log(math.comb(16, 8)) - 16 * math.log(2)
    # tokens counted: a, b, <eos> (x2), a: a 2+1, b 1+1, <eos> 2+1, the other specials 0+1 each
    vocab = cm.Vocabulary.build(["a b", "a"])
    total = 3 + 2 + 3 + (len(vocab) - 1 - 3)  # every id but padding gets its add-one count
    log_pt = math.log(2 / total) + math.log(3 / total)  # "b" then <eos>
    value = pipeline.baseline_log_likelihood(train, test, "binomial")
    assert value.shape == (1,)
    assert value.item() == pytest.approx(log_px + log_pt, abs=1e-4)


def test_gaussian_baseline_uses_each_features_mean_and_spread():
    train = _pairs(torch.tensor([[0.0, 0.2], [1.0, 0.2]]), ["a", "a"])
    test = _pairs(torch.tensor([[0.5, 0.2]]), ["a"])  # at the mean of both features
    sd = torch.tensor([0.0, 1.0]).std().item()        # the second feature never varies: sigma floored at 0.01
    log_px = -math.log(sd) - math.log(0.01) - math.log(2 * math.pi)
    vocab = cm.Vocabulary.build(["a"])
    total = 3 + 3 + (len(vocab) - 1 - 2)  # "a" and <eos> seen twice (+1 each), every other id once
    log_pt = 2 * math.log(3 / total)
    assert pipeline.baseline_log_likelihood(train, test, "gaussian").item() == pytest.approx(log_px + log_pt, abs=1e-4)


def test_load_pairs_and_prompts_follow_the_modality():
    speech = pipeline.load_pairs("speech", "test")
    assert speech.modality == "spectrogram" and set(speech.captions) == set(cm.captions.DIGIT_NAMES["en"])
    assert pipeline.class_prompts(speech)[7] == ["seven"]
    assert pipeline.digits_of(speech) == speech.labels.tolist()
    video = pipeline.load_pairs("video", "train")
    prompts = pipeline.class_prompts(video)  # one per (digit, direction) label, novel directions included
    assert len(prompts) == 40
    assert all(cm.data.parse_caption(p).digit == label // 4 for label, (p,) in enumerate(prompts))
    assert pipeline.digits_of(video) == (video.labels // 4).tolist()
    with pytest.raises(ValueError, match="modality"):
        pipeline.load_pairs("smell", "train")


@pytest.fixture(scope="module")
def image_run() -> pipeline.Pipeline:
    return pipeline.run_pipeline("image", seed=0, progress=False)


@pytest.mark.training
def test_the_image_pipeline_reaches_the_quality_part34_states(image_run):
    run = image_run
    table = run.evaluate()
    r = table["retrieval"]
    assert r["zero-shot accuracy"] >= 0.95 and r["class R@1"] >= 0.95 and r["mAP"] > 5 * r["chance mAP"]
    for name in ("GAN", "multimodal VAE: caption → input"):
        assert table[name]["judge accuracy"] >= 0.9
        assert table[name]["digits whose thickness follows"] >= 8
    assert table["GAN"]["diversity"] > table["multimodal VAE: caption → input"]["diversity"]
    m = table["multimodal VAE"]
    assert m["input → caption: names the digit"] >= 0.9
    assert m["test ELBO (nats per pair)"] > m["independent baseline (nats per pair)"] + 50
    cards = run.model_cards()
    assert set(cards) == {"dual encoder", "GAN", "multimodal VAE"}
    assert all(c["parameters"] > 1000 and c["seconds"] > 0 for c in cards.values())


@pytest.mark.training
def test_part51_four_models_one_test_set(image_run):
    """Part 5.1's checked claims, with the same models (the pipeline's GAN and MVAE are the ones
    Part 5.1 trains): the GAN's answers lie further from the training images than real test
    images do, the MVAE's diversity is below half the real one, and the diffusion model, on the
    same dual encoder, is at least as coherent as the GAN and the most realistic generator."""
    run = image_run
    train, test, judge = run.train, run.test, run.judge
    diffuser = diffusion.train_text_diffusion(train, seed=0, text_model=run.dual, progress=False)
    answers = {"GAN": run.gan.generate(test.captions, seed=0), "MVAE": run.mvae.generate(test.captions, seed=0),
               "diffusion": diffuser.generate(test.captions, seed=0)}

    def nearest(x: torch.Tensor) -> torch.Tensor:
        return torch.cdist(x.flatten(1), train.inputs.flatten(1)).min(1).values.mean()

    real_features, real_diversity = judge.features(test.inputs), metrics.within_class_diversity(test.inputs, test.labels)
    fd = {k: metrics.frechet_distance(judge.features(x), real_features) for k, x in answers.items()}
    assert nearest(answers["GAN"]) > nearest(test.inputs)
    assert metrics.within_class_diversity(answers["MVAE"], test.labels) < 0.5 * real_diversity
    assert judge.accuracy(answers["diffusion"], test.labels) >= judge.accuracy(answers["GAN"], test.labels)
    assert metrics.within_class_diversity(answers["diffusion"], test.labels) >= 0.8 * real_diversity
    assert fd["diffusion"] < min(fd["GAN"], fd["MVAE"])


@pytest.mark.training
def test_the_speech_pipeline_matches_part34b():
    """Part 3.4b's claims: the shared space and the MVAE's speaking transfer, the GAN's image
    settings do not, and the MVAE's bound falls below the independent baseline."""
    table = pipeline.run_pipeline("speech", seed=0, progress=False).evaluate()
    real = table["real inputs (Fréchet: training vs test)"]
    assert table["retrieval"]["zero-shot accuracy"] > 0.9
    assert table["multimodal VAE: caption → input"]["judge accuracy"] > 0.9
    assert table["GAN"]["judge accuracy"] < real["judge accuracy"] - 0.3
    m = table["multimodal VAE"]
    assert m["test ELBO (nats per pair)"] < m["independent baseline (nats per pair)"]
