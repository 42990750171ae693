"""Learning from unpaired data: the multimodal VAE trained on a few pairs plus images and captions
that come without their partners (Part 7.3d: the remedy for the scarce pairs of Part 7.3).

Wu & Goodman's MVAE handles a missing modality by design: its posterior for whatever is given
is the product of the prior and the experts of the modalities present (eq-mvae-posterior), so an
image alone has a bound, ELBO(x), and a caption alone has one, ELBO(t) (eq-unimodal-elbo; the
objective on pairs plus unpaired data is eq-semi-mvae):

* :func:`unimodal_elbo` -- the bound of a batch of inputs *or* of captions, on its own modality.
* :class:`MixedBatches` -- ``steps`` batches, each of pairs and (optionally) of unpaired inputs
  and unpaired captions drawn independently, so no pairing survives.
* :func:`train_unpaired_mvae` -- the MVAE trained on pairs alone or on pairs plus unpaired data,
  with the same number of optimiser steps either way (:class:`UnpairedMVAEConfig`).
* :func:`coherence` -- the two directions scored on test pairs: the judge of Part 3.2b on
  images drawn from captions, and the digit named by captions written for images.
* :func:`unpaired_curve` -- coherence against the number of pairs, with and without the
  unpaired data, as plain rows (summarise them with :func:`~crossmodal_lib.challenges.summarise`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import torch

from .config import resolve_config
from .data import PairedDataset
from .gaussians import gaussian_kl, reparameterize
from .likelihoods import check_inputs, likelihood_for
from .metrics import Judge, caption_agreement
from .multimodal_vae import MultimodalVAE
from .text import Vocabulary
from .training import optimizer_step, progress_bar, resolve_device, set_seed, train_model

__all__ = ["ARMS", "MixedBatches", "UnpairedMVAEConfig", "coherence", "train_unpaired_mvae", "unimodal_elbo", "unpaired_curve"]


def unimodal_elbo(model: MultimodalVAE, x: torch.Tensor | None = None, ids: torch.Tensor | None = None,
                  beta: float = 1.0, text_weight: float = 1.0) -> torch.Tensor:
    """ELBO(x) or ELBO(t), ``[N]``: z ~ q(z | the one modality given) = p(z) q(z|x) (or q(z|t))
    normalised, the log-likelihood of that modality alone, minus ``beta`` times the KL to the prior
    (eq-unimodal-elbo). Give exactly one of inputs ``x [N, ...]`` and caption ids ``[N, T]``;
    ``text_weight`` multiplies log p(t|z) as in training the MVAE."""
    if (x is None) == (ids is None):
        raise ValueError("give exactly one modality: inputs x or caption ids")
    mu, logvar = model.posterior(x=x, ids=ids)
    z = reparameterize(mu, logvar)
    if x is not None:
        log_lik = model.input_log_likelihood(model.decode_input(z), x)
    else:
        log_lik = text_weight * model.caption_decoder.log_likelihood(z, ids)
    return log_lik - beta * gaussian_kl(mu, logvar)


class MixedBatches:
    """``steps`` batches per pass: ``(x, ids)`` of up to ``batch_size`` pairs, and, when unpaired
    data are given, ``(x, ids, x_u, ids_u)`` with ``x_u`` and ``ids_u`` drawn *independently* from
    the unpaired inputs and captions. Every pass draws new batches from one seeded generator."""

    def __init__(self, x: torch.Tensor, ids: torch.Tensor, steps: int, batch_size: int, seed: int,
                 x_unpaired: torch.Tensor | None = None, ids_unpaired: torch.Tensor | None = None) -> None:
        if len(x) != len(ids):
            raise ValueError(f"mismatched pairs: {len(x)} inputs but {len(ids)} captions")
        if len(x) == 0 or steps < 1 or batch_size < 1:
            raise ValueError("need at least one pair, one step and a batch size of at least 1")
        if (x_unpaired is None) != (ids_unpaired is None) or (x_unpaired is not None and not (len(x_unpaired) and len(ids_unpaired))):
            raise ValueError("give both unpaired inputs and unpaired captions (non-empty), or neither")
        self.x, self.ids, self.steps, self.batch = x, ids, steps, batch_size
        self.x_u, self.ids_u = x_unpaired, ids_unpaired
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.steps

    def _draw(self, n: int) -> torch.Tensor:
        return torch.randperm(n, generator=self.generator)[: min(self.batch, n)]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        for _ in range(self.steps):
            i = self._draw(len(self.x))
            if self.x_u is None:
                yield self.x[i], self.ids[i]
            else:
                yield self.x[i], self.ids[i], self.x_u[self._draw(len(self.x_u))], self.ids_u[self._draw(len(self.ids_u))]


@dataclass(frozen=True)
class UnpairedMVAEConfig:
    """Hyperparameters of :func:`train_unpaired_mvae` (Part 7.3d); the model's are Part 3.3b's defaults."""

    latent_dim: int = 32              # dimension of z
    hidden: int = 256                 # width of the encoders' and the input decoder's hidden layers
    text_weight: float = 100.0        # multiplies log p(t|z) in training, as in Part 3.3b
    beta: float = 1.0                 # weight of the KL terms (1 = the ELBO)
    unpaired_weight: float = 1.0      # weight of the unpaired bounds; 0 = pairs alone (same batches, same vocabulary)
    epochs: int = 4                   # reporting periods; training runs epochs x steps_per_epoch steps
    steps_per_epoch: int = 50         # optimiser steps per reporting period (200 steps in all: Part 7.3d's budget)
    batch_size: int = 64              # pairs per step (at most all of them), and as many of each unpaired kind
    lr: float = 4e-3                  # Adam learning rate (twice Part 3.3b's, for the short budget)


def train_unpaired_mvae(pairs: PairedDataset, unpaired: PairedDataset, config: UnpairedMVAEConfig | None = None,
                        *, seed: int = 0,
                        device: torch.device | str | None = None, progress: bool | str = True,
                        **overrides: Any) -> MultimodalVAE:
    """Train a product-of-experts :class:`~crossmodal_lib.multimodal_vae.MultimodalVAE` (inputs alone,
    no frozen tower) on ``pairs`` and on the inputs and captions of ``unpaired`` as two unpaired
    collections. Each step minimises minus the pairs' three MVAE bounds
    (:meth:`~crossmodal_lib.multimodal_vae.MultimodalVAE.loss`) minus ``unpaired_weight`` times the
    mean ELBO(x) of a batch of unpaired inputs plus the mean ELBO(t) of a batch of unpaired captions
    (Wu & Goodman's semi-supervised MVAE). With ``unpaired_weight=0`` the model learns from the pairs alone, with
    the same batches of pairs, steps and vocabulary (built from the captions of both). Returns the
    model on the CPU in eval mode with ``.history`` (``loss`` per reporting period), ``.train_seconds``
    and ``.config``."""
    config = resolve_config(UnpairedMVAEConfig, config, overrides)
    check_inputs(pairs.inputs)
    check_inputs(unpaired.inputs)
    if unpaired.inputs.shape[1:] != pairs.inputs.shape[1:] or unpaired.modality != pairs.modality:
        raise ValueError(f"unpaired data must be {pairs.modality} inputs of shape {tuple(pairs.inputs.shape[1:])}, "
                         f"got {unpaired.modality} {tuple(unpaired.inputs.shape[1:])}")
    if config.unpaired_weight < 0:
        raise ValueError(f"unpaired_weight must be >= 0, got {config.unpaired_weight}")
    set_seed(seed)
    device = resolve_device(device)
    vocab = Vocabulary.build(pairs.captions + unpaired.captions, pairs.lang)
    model = MultimodalVAE(vocab, config.latent_dim, config.hidden, pairs.inputs.shape[1:], "poe",
                          likelihood=likelihood_for(pairs.modality)).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, foreach=True)
    encode = lambda texts: vocab.encode(texts, add_bos_eos=True)  # noqa: E731
    loader = MixedBatches(pairs.inputs.float(), encode(pairs.captions), config.steps_per_epoch, config.batch_size,
                          seed, unpaired.inputs.float(), encode(unpaired.captions))

    def step(batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        loss = model.loss(batch[0], batch[1], beta=config.beta, text_weight=config.text_weight)["loss"]
        if config.unpaired_weight:
            loss = loss - config.unpaired_weight * (
                unimodal_elbo(model, x=batch[2], beta=config.beta).mean()
                + unimodal_elbo(model, ids=batch[3], beta=config.beta, text_weight=config.text_weight).mean())
        return {"loss": optimizer_step(opt, loss)}

    return train_model(model, step, loader, config, device=device, progress=progress,
                       desc=f"MVAE, unpaired weight {config.unpaired_weight:g}")


def coherence(model: MultimodalVAE, test: PairedDataset, judge: Judge, seed: int = 0) -> dict[str, float]:
    """Both directions on ``test`` (images with English captions): ``"caption -> image"``, the share of
    images drawn for the test captions that ``judge`` assigns to the caption's digit, and
    ``"image -> caption"``, the share of greedy captions of the test images that name their digit."""
    drawn = model.generate(test.captions, seed=seed)
    written = model.describe(test.inputs, beam=1)
    return {"caption -> image": judge.accuracy(drawn, test.labels),
            "image -> caption": caption_agreement(written, test)["digit"]}


#: The two arms of :func:`unpaired_curve`: the unpaired bounds' weight in each.
ARMS: dict[str, float] = {"pairs only": 0.0, "pairs + unpaired": 1.0}


def unpaired_curve(train: PairedDataset, test: PairedDataset, judge: Judge, sizes: Iterable[int], seeds: Iterable[int],
                   config: UnpairedMVAEConfig | None = None, *, device: torch.device | str | None = None,
                   progress: bool = True) -> list[dict[str, Any]]:
    """One row per (arm of :data:`ARMS`, number of pairs k, seed): ``{"method", "pairs", "seed",
    "seconds", "caption -> image", "image -> caption"}``. The k pairs are :func:`~crossmodal_lib.challenges.split_pairs`'
    and every other training pair gives one unpaired input and one unpaired caption; both arms of
    a seed see the same pairs, batches and vocabulary and differ only in the unpaired weight."""
    from .challenges import split_pairs

    config = config or UnpairedMVAEConfig()
    jobs = [(k, s, arm) for k in sizes for s in seeds for arm in ARMS]
    rows = []
    for k, seed, arm in progress_bar(jobs, "unpaired-data curve", progress):
        few, rest = split_pairs(train, k, seed)
        model = train_unpaired_mvae(few, rest, replace(config, unpaired_weight=ARMS[arm]), seed=seed, device=device,
                                    progress=False)
        rows.append({"method": arm, "pairs": k, "seed": seed, "seconds": model.train_seconds,
                     **coherence(model, test, judge, seed)})
    return rows
