"""Part 7.3g: generating held-out attribute combinations (crossmodal_lib.challenges, data, training)."""

import numpy as np
import pytest
import torch

import crossmodal_lib as cm
from crossmodal_lib import challenges, composition, data, metrics
from crossmodal_lib.training import epochs_for_steps


@pytest.fixture(scope="module")
def setting():
    train, test = cm.load_digit_pairs("train"), cm.load_digit_pairs("test")
    return train, test, metrics.Judge(train.inputs, train.labels), data.dataset_thresholds()


class FixedJudge:
    """A judge that reads every image as the digits it is given."""

    def __init__(self, digits):
        self.digits = torch.as_tensor(digits)

    def predict(self, images):
        return self.digits[: len(images)]


def test_epochs_for_steps_by_hand():
    assert epochs_for_steps(957, 128, 80, drop_last=True) == 12      # 7 whole batches per epoch
    assert epochs_for_steps(1437, 128, 80, drop_last=True) == 8      # 11
    assert epochs_for_steps(1437, 64, 250) == 11                     # 23 batches, the last one partial
    assert epochs_for_steps(50, 128, 10, drop_last=True) == 10       # one (partial) batch is kept when n <= batch
    with pytest.raises(ValueError, match=">= 1"):
        epochs_for_steps(100, 64, 0)


def test_dataset_thresholds_define_the_captions_levels(setting):
    everything = cm.load_digit_pairs("all")
    cuts = data.dataset_thresholds()
    assert set(cuts) == {"thickness", "slant"} and cuts["slant"].shape == (10, 2)
    for name, measure in (("thickness", data.ink), ("slant", data.slant)):
        levels = data.attribute_levels(measure(everything.inputs), everything.labels, cuts[name])
        assert torch.equal(levels, everything.attributes[name])
    assert torch.equal(data.dataset_thresholds(everything.inputs, everything.labels)["thickness"], cuts["thickness"])


def test_combination_hits_by_hand(setting):
    _, test, _, cuts = setting
    images, truth = test.inputs[:5], challenges.combination_labels(test)[:5]
    right_digits = truth // 9
    hits = composition.combination_hits(images, truth, FixedJudge(right_digits), cuts)
    assert all(hits[k].all() for k in ("digit", "thickness", "slant", "combination"))   # real images, own labels
    wrong_slant = truth // 3 * 3 + (truth % 3 + 1) % 3                                   # same digit and thickness
    hits = composition.combination_hits(images, wrong_slant, FixedJudge(right_digits), cuts)
    assert hits["digit"].all() and hits["thickness"].all() and not hits["slant"].any() and not hits["combination"].any()
    hits = composition.combination_hits(images, truth, FixedJudge((right_digits + 1) % 10), cuts)
    assert not hits["digit"].any() and hits["slant"].all() and not hits["combination"].any()
    with pytest.raises(ValueError, match="5 images for 4 requested"):
        composition.combination_hits(images, truth[:4], FixedJudge(right_digits), cuts)


def test_generation_scores_of_a_model_that_always_draws_one_real_image(setting):
    """The combination score is 1 at that image's own combination and 0 at the 89 others; the
    digit score is 1 on its digit's nine combinations and 0 elsewhere."""
    _, test, judge, cuts = setting
    image, own = test.inputs[:1], int(challenges.combination_labels(test)[0])
    assert judge.predict(image).item() == own // 9

    class Copier:
        def generate(self, captions, seed=None):
            return image.expand(len(captions), -1, -1, -1)

    scores = composition.generation_scores(Copier(), judge, cuts, per_combination=3)
    assert set(scores) == {"digit", "thickness", "slant", "combination"} and scores["digit"].shape == (90,)
    assert np.array_equal(scores["combination"], np.eye(90)[own])
    assert np.array_equal(scores["digit"], (np.arange(90) // 9 == own // 9).astype(float))


def test_novelty_cost_by_hand():
    """Digit k's held-out cells lose k / 10 more than its seen cells: the cost is the mean of
    0, 0.1, ..., 0.9 and its standard error that of ten numbers."""
    novel = np.zeros(90, dtype=bool)
    novel[challenges.combination_ids(challenges.HELD_OUT)] = True
    held = np.full(90, 0.5)
    control = held + np.repeat(np.arange(10) / 10, 9) * novel + 0.2          # + 0.2 everywhere: fewer pairs
    cost, se = composition.novelty_cost(held, control, novel)
    assert cost == pytest.approx(0.45)
    assert se == pytest.approx(np.std(np.arange(10) / 10, ddof=1) / np.sqrt(10))
    with pytest.raises(ValueError, match=r"shape \(90,\)"):
        composition.novelty_cost(held[:5], control[:5], novel[:5])
    with pytest.raises(ValueError, match="every digit needs"):
        composition.novelty_cost(held, control, np.arange(90) < 9)


def test_a_blank_image_misses_its_attributes_instead_of_crashing(setting):
    _, _, _, cuts = setting
    hits = composition.combination_hits(torch.zeros(2, 1, 8, 8), torch.tensor([0, 70]), FixedJudge([0, 7]), cuts)
    assert hits["digit"].all() and not hits["thickness"].any() and not hits["slant"].any()
    assert not hits["combination"].any()


def test_train_generators_equalises_steps_and_every_model_draws(setting):
    train, _, _, _ = setting
    budget = composition.GenerationBudget(text_steps=2, gan_steps=3, mvae_steps=3, diffusion_steps=2, diffusion_sample_steps=2)
    small = train.subset(range(300))
    models = composition.train_generators(small, budget, seed=0)
    assert tuple(models) == composition.GENERATORS
    assert models["GAN"].config.epochs == epochs_for_steps(300, 64, 3, drop_last=True) == 1
    assert models["diffusion"].config.sample_steps == 2
    for model in models.values():
        images = model.generate(challenges.combination_prompts(1)[70], seed=0)
        assert images.shape == (1, 1, 8, 8) and 0 <= images.min() and images.max() <= 1


def test_part73g_claims_on_seed_0(setting):
    """The checked claims of Part 7.3g, on the page's seed and budget."""
    train, _, judge, cuts = setting
    kept = train.subset(torch.nonzero(~challenges.combination_mask(train, challenges.HELD_OUT)).flatten())
    novel = np.zeros(90, dtype=bool)
    novel[challenges.combination_ids(challenges.HELD_OUT)] = True
    scores = {arm: {name: composition.generation_scores(model, judge, cuts, per_combination=8, seed=0)["combination"]
                    for name, model in composition.train_generators(pairs, seed=0).items()}
              for arm, pairs in (("held", kept), ("all", train))}
    cost = {m: composition.novelty_cost(scores["held"][m], scores["all"][m], novel) for m in composition.GENERATORS}
    assert cost["MVAE"][0] > 2 * cost["MVAE"][1]
    assert scores["held"]["MVAE"][~novel].mean() - scores["held"]["MVAE"][novel].mean() > 0.1
    assert cost["MVAE"][0] > max(cost["GAN"][0], cost["diffusion"][0])
    gap = composition.novelty_cost(scores["held"]["MVAE"] - scores["held"]["GAN"], scores["all"]["MVAE"] - scores["all"]["GAN"], novel)
    assert gap[0] > 2 * gap[1]
    assert min(s.mean() for arm in scores.values() for s in arm.values()) > 2 / 9     # twice the copier's ~1/9
