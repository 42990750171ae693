"""The library's shape, as the contributor guide states it: small modules and functions, trainers
that take a config, equations cited by labels that exist in the book."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import re
from pathlib import Path

import pytest
import torch

from crossmodal_lib import attention, data, diffusion, embedding, fusion, gan, minimal, speech, unpaired, vae
from crossmodal_lib.tools import pretrained, train_distributed

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = sorted((ROOT / "crossmodal_lib").rglob("*.py"))
MAX_MODULE_LINES = 425   # "about 400"
MAX_FUNCTION_LINES = 60
MAX_TRAINER_PARAMETERS = 6

TRAINERS = {  # trainer -> (its config class, a minimal first positional argument)
    embedding.train_dual_encoder: embedding.DualEncoderConfig,
    gan.train_conditional_gan: gan.GANConfig,
    gan.train_toy_gan: gan.ToyGANConfig,
    vae.train_vae: vae.VAEConfig,
    vae.train_conditional_vae: vae.ConditionalVAEConfig,
    vae.train_multimodal_vae: vae.MultimodalVAEConfig,
    fusion.train_classifier: fusion.ClassifierConfig,
    minimal.train_minimal: minimal.MinimalConfig,
    pretrained.train_locked_text: pretrained.LockedTextConfig,
    attention.train_captioner: attention.CaptionerConfig,
    speech.train_ctc_recognizer: speech.CTCConfig,
    diffusion.train_text_diffusion: diffusion.DiffusionConfig,
    unpaired.train_unpaired_mvae: unpaired.UnpairedMVAEConfig,
}


def _book_equation_labels() -> set[str]:
    labels = set()
    for path in (ROOT / "book").glob("*.ipynb"):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "markdown":
                labels |= set(re.findall(r"\$\$\s*\((eq-[a-z0-9-]+)\)", "".join(cell["source"])))
    return labels


def test_every_equation_cited_in_the_library_is_labelled_in_the_book():
    labels = _book_equation_labels()
    assert len(labels) > 20
    cited = {}
    for path in LIBRARY:
        for label in re.findall(r"\beq-[a-z0-9]+(?:-[a-z0-9]+)*", path.read_text(encoding="utf-8")):
            cited.setdefault(label, path.name)
    missing = {label: where for label, where in cited.items() if label not in labels}
    assert not missing, f"labels cited in docstrings but not defined in any notebook: {missing}"
    assert len(cited) >= 15


def test_no_dotted_equation_numbers_in_the_library():
    """The book numbers equations per page, so 'eq. 3.3.10' appears nowhere a reader can find it."""
    dotted = [(p.name, m) for p in LIBRARY for m in re.findall(r"eqs?\.\s*\d+\.\d+(?:\.\d+)?", p.read_text(encoding="utf-8"))]
    assert not dotted


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.name)
def test_modules_and_functions_stay_small(path):
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path.name} has {len(text.splitlines())} lines"
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)" for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines in {path.name}: {long}"


@pytest.mark.parametrize("trainer", TRAINERS, ids=lambda f: f.__name__)
def test_trainers_take_a_config_and_few_named_parameters(trainer):
    params = inspect.signature(trainer).parameters.values()
    named = [p for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD]
    assert len(named) <= MAX_TRAINER_PARAMETERS, [p.name for p in named]
    assert "config" in [p.name for p in named]
    assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)  # overrides of config fields


@pytest.mark.parametrize("trainer", TRAINERS, ids=lambda f: f.__name__)
def test_a_misspelled_override_names_the_valid_fields(trainer):
    config_cls = TRAINERS[trainer]
    first = {fusion.train_classifier: (torch.nn.Linear(2, 2), (torch.zeros(4, 2),), torch.zeros(4, dtype=torch.int64)),
             gan.train_toy_gan: (torch.zeros(8, 2),),
             vae.train_vae: (torch.zeros(8, 1, 8, 8),),
             minimal.train_minimal: (minimal.VAE(), (torch.zeros(8, 64),)),
             unpaired.train_unpaired_mvae: (data.load_digit_pairs("test").subset(range(8)),) * 2}.get(trainer, (data.load_digit_pairs("test").subset(range(8)),))
    fields = [f.name for f in dataclasses.fields(config_cls)]
    with pytest.raises(TypeError, match=rf"{config_cls.__name__} has no field 'epoch'; valid fields: {', '.join(fields)}"):
        trainer(*first, epoch=1, progress=False)


CONFIGS = set(TRAINERS.values()) | {train_distributed.DistributedConfig}  # the torchrun trainer reads its config from flags


@pytest.mark.parametrize("config_cls", sorted(CONFIGS, key=lambda c: c.__name__), ids=lambda c: c.__name__)
def test_configs_are_frozen_and_every_field_is_commented(config_cls):
    config = config_cls()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lr = 1.0  # type: ignore[misc]
    source = inspect.getsource(config_cls)
    for f in dataclasses.fields(config_cls):
        line = next(line for line in source.splitlines() if re.match(rf"\s+{f.name}:", line))
        assert "#" in line, f"{config_cls.__name__}.{f.name} has no comment"


def test_a_config_given_with_overrides_keeps_its_other_fields():
    from crossmodal_lib.config import resolve_config

    base = embedding.DualEncoderConfig(loss="triplet", epochs=3)
    assert resolve_config(embedding.DualEncoderConfig, base, {"lr": 0.1}) == dataclasses.replace(base, lr=0.1)
    with pytest.raises(TypeError, match="config must be a DualEncoderConfig, got GANConfig"):
        resolve_config(embedding.DualEncoderConfig, gan.GANConfig(), {})
