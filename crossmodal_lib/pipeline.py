"""The source's five steps run end to end on one modality pair (Part 3.4).

- Step 1, **preprocess** each modality: :func:`load_pairs` gives inputs in [0, 1] and
  captions, split into train and test; the vocabulary is built from the training captions only.
- Step 2, **learn a shared space**: a dual encoder (Part 3.1).
- Steps 3 and 4, **generate**: two *alternatives* that both build on the shared space, a
  conditional GAN (Part 3.2b), whose caption encoder is the dual encoder's text tower, and a
  multimodal VAE (Part 3.3b), whose input expert reads the dual encoder's input tower.
- Step 5, **evaluate** everything on the test split, each number beside its chance level or
  its value for real data: :meth:`Pipeline.evaluate`.

``run_pipeline("image")`` runs it on the handwritten digits; ``"speech"`` (English spoken
digits) and ``"video"`` (moving digits) run the same code with the modality's own input tower
and likelihood, chosen by the library from the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from .captions import DIGIT_NAMES, digit_prompts, parse_caption
from .config import check_choice
from .digits import load_digit_pairs
from .embedding import DualEncoder, train_dual_encoder
from .gan import ConditionalGAN, train_conditional_gan
from .likelihoods import binomial_log_likelihood, gaussian_log_likelihood, pixel_baseline
from .metrics import Judge, attribute_control, frechet_distance, retrieval_report, within_class_diversity, zero_shot_accuracy
from .multimodal_vae import MultimodalVAE, train_multimodal_vae
from .pairs import PairedDataset
from .speech import load_spoken_digits
from .text import Vocabulary
from .video import load_moving_digits, moving_digit_prompts

__all__ = ["MODALITIES", "Pipeline", "baseline_log_likelihood", "class_prompts", "digits_of", "load_pairs", "run_pipeline"]

Modality = Literal["image", "speech", "video"]
MODALITIES: tuple[str, ...] = ("image", "speech", "video")
#: lowest log-standard-deviation of the independent Gaussian baseline (features that never vary)
MIN_LOG_SIGMA = math.log(1e-2)


def load_pairs(modality: Modality, split: Literal["train", "test"]) -> PairedDataset:
    """Step 1: the paired data of one modality (images and captions, English spoken digits and
    their transcripts, or moving-digit clips and their captions), already scaled to [0, 1]."""
    check_choice("modality", modality, MODALITIES)
    if modality == "image":
        return load_digit_pairs(split)
    if modality == "speech":
        return load_spoken_digits(split, lang="en")
    return load_moving_digits(split)


def class_prompts(pairs: PairedDataset) -> list[list[str]]:
    """Zero-shot prompts, one list per label: caption templates for digit images, the transcript
    itself for spoken digits, one caption per digit and direction for moving digits (Part 5.3)."""
    if pairs.modality == "spectrogram":
        return [[name] for name in DIGIT_NAMES[pairs.lang]]
    if pairs.modality == "video":
        return [[prompt] for prompt in moving_digit_prompts()]
    return digit_prompts(pairs.lang)


def digits_of(pairs: PairedDataset) -> list[int]:
    """The digit of each pair (``attributes["digit"]`` where the label encodes more than the digit)."""
    return pairs.attributes.get("digit", pairs.labels).tolist()


def baseline_log_likelihood(train: PairedDataset, test: PairedDataset, likelihood: str) -> torch.Tensor:
    """log p(x) + log p(t) per test pair ``[N]`` under independent baselines fitted on ``train``:
    each input feature on its own (binomial with the mean intensity, or Gaussian with the mean and
    standard deviation), and each caption as independent words (add-one unigram model with <eos>)."""
    x_train, x_test = train.inputs.flatten(1).float(), test.inputs.flatten(1).float()
    if likelihood == "binomial":
        log_px = binomial_log_likelihood(pixel_baseline(x_train).expand(len(x_test), -1), x_test)
    else:
        log_sigma = x_train.std(0).log().clamp(min=MIN_LOG_SIGMA)
        log_px = gaussian_log_likelihood(x_train.mean(0).expand(len(x_test), -1), log_sigma, x_test)
    vocab = Vocabulary.build(train.captions, train.lang)
    counts = torch.ones(len(vocab))  # add-one smoothing
    ids = vocab.encode(train.captions, add_bos_eos=True)[:, 1:]  # words and <eos>, not <bos>
    counts.scatter_add_(0, ids.flatten(), torch.ones(ids.numel()))
    log_p = (counts / counts[1:].sum()).log()
    log_p[0] = 0.0  # padding costs nothing
    test_ids = vocab.encode(test.captions, unknown="unk", add_bos_eos=True)[:, 1:]
    return log_px + log_p[test_ids].sum(1)


@dataclass
class Pipeline:
    """The trained models of one run, with the data they were trained and tested on."""

    modality: str
    train: PairedDataset
    test: PairedDataset
    dual: DualEncoder
    gan: ConditionalGAN
    mvae: MultimodalVAE
    judge: Judge = field(init=False)

    def __post_init__(self) -> None:
        self.judge = Judge(self.train.inputs, self.train.labels)  # an independent classifier of real inputs

    def evaluate(self) -> dict[str, dict[str, float]]:
        """Step 5: ``{section: {metric: value}}`` on the test split, chance levels included."""
        return {"retrieval": self._retrieval(), **self._generation(), "multimodal VAE": self._mvae()}

    def _retrieval(self) -> dict[str, float]:
        test, dual = self.test, self.dual
        u, v = dual.encode_inputs(test.inputs), dual.encode_texts(test.captions)
        report = retrieval_report(v @ u.T, test.labels, test.labels, ks=(1, 10))  # caption -> input
        keys = {"class R@1": "class R@1", "class R@10": "class R@10", "median rank": "median rank (exact pair)",
                "mAP": "mAP"}  # the median rank is that of the caption's own input, not of its class
        out = {name: report[k] for k, name in keys.items()} | {f"chance {name}": report[f"chance {k}"] for k, name in keys.items()}
        prompts = class_prompts(self.train)
        out["zero-shot accuracy"] = zero_shot_accuracy(dual, test.inputs, test.labels, prompts)
        out["chance zero-shot accuracy"] = 1 / len(prompts)
        return out

    def _generation(self) -> dict[str, dict[str, float]]:
        test, judge = self.test, self.judge
        real, real_diversity = judge.features(test.inputs), within_class_diversity(test.inputs, test.labels)
        reference = {"judge accuracy": judge.accuracy(test.inputs, test.labels), "diversity": 1.0,
                     "Fréchet distance": frechet_distance(judge.features(self.train.inputs), real)}
        out = {"real inputs (Fréchet: training vs test)": reference}
        for name, model in (("GAN", self.gan), ("multimodal VAE: caption → input", self.mvae)):
            x = model.generate(test.captions, seed=0)
            out[name] = {"judge accuracy": judge.accuracy(x, test.labels),
                         "diversity": within_class_diversity(x, test.labels) / real_diversity,
                         "Fréchet distance": frechet_distance(judge.features(x), real)}
            if self.modality == "image":  # ink and slant are measured on digit images only
                control = attribute_control(lambda caps, m=model: m.generate(caps, seed=0), lang=self.train.lang)
                out[name]["digits whose thickness follows"] = control["thickness_ok"]
                out[name]["digits whose slant follows"] = control["slant_ok"]
        return out

    def _mvae(self) -> dict[str, float]:
        test, mvae = self.test, self.mvae
        named = [parse_caption(c).digit for c in mvae.describe(test.inputs)]
        elbo = mvae.elbo(test.inputs, test.captions).mean().item()
        return {"input → caption: names the digit": sum(d == y for d, y in zip(named, digits_of(test))) / len(test),
                "test ELBO (nats per pair)": elbo,
                "independent baseline (nats per pair)": baseline_log_likelihood(self.train, test, mvae.likelihood).mean().item()}

    def model_cards(self) -> dict[str, dict[str, Any]]:
        """Per model: trainable parameters (frozen copies of the dual encoder not counted), training
        time here in seconds, and training data."""
        data = f"{len(self.train)} {self.modality}-caption pairs ({self.train.lang})"
        models = {"dual encoder": (self.dual, data),
                  "GAN": (self.gan, data + "; caption encoder: the dual encoder's, frozen"),
                  "multimodal VAE": (self.mvae, data + "; extra input features: the dual encoder's, frozen")}
        return {name: {"parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
                       "seconds": model.train_seconds, "data": text} for name, (model, text) in models.items()}


def run_pipeline(modality: Modality = "image", *, seed: int = 0, device: torch.device | str | None = None,
                 progress: bool = True, gan_epochs: int = 40) -> Pipeline:
    """Steps 1-4: load the pairs, train the dual encoder, then the GAN and the MVAE on top of it,
    each with the library's defaults (the GAN for ``gan_epochs`` passes, as in Part 5.1)."""
    train, test = load_pairs(modality, "train"), load_pairs(modality, "test")
    dual = train_dual_encoder(train, seed=seed, device=device, progress=progress)
    gan = train_conditional_gan(train, seed=seed, device=device, text_model=dual, progress=progress, epochs=gan_epochs)
    mvae = train_multimodal_vae(train, seed=seed, device=device, dual_encoder=dual, progress=progress)
    return Pipeline(modality, train, test, dual, gan, mvae)
