"""The multimodal VAE: one latent space for an image and its caption (book: Part 3.3b).

The model (eq-mvae-model) is p(x, t) = integral of p(z) p(x|z) p(t|z) dz, with

* a Gaussian expert per modality: :class:`~crossmodal_lib.gaussians.GaussianEncoder` on the
  inputs (optionally with a frozen Part 3.1 tower, :class:`InputFeatures`) and on the caption's
  words (:class:`BagOfWords`);
* their fusion into q(z | x, t): a product of experts with the prior counted once (MVAE,
  eq-mvae-posterior; Wu & Goodman, 2018) or a mixture of experts (MMVAE, eq-mmvae; Shi et al.,
  2019);
* decoders p(x | z) (binomial pixels or Gaussian features, :mod:`crossmodal_lib.likelihoods`)
  and p(t | z), a GRU (:class:`CaptionDecoder`) with greedy and beam-search decoding, so that
  image -> text is generation.

:meth:`MultimodalVAE.loss` is the training objective (the bounds of eq-mvae-bounds);
:func:`train_multimodal_vae` trains it with a :class:`MultimodalVAEConfig`. Inputs may be
images ``[N, 1, 8, 8]``, spectrograms ``[N, 1, 32, 32]`` or clips ``[N, T, 1, H, W]``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from .config import check_choice, resolve_config
from .data import PairedDataset
from .decoding import beam_search
from .embedding import DualEncoder, train_dual_encoder
from .encoders import MLP
from .gaussians import GaussianEncoder, gaussian_kl, log_normal, product_of_experts, reparameterize
from .likelihoods import Likelihood, binomial_log_likelihood, check_inputs, gaussian_log_likelihood, likelihood_for
from .text import BOS, EOS, Vocabulary
from .training import optimizer_step, resolve_device, seeded_loader, set_seed, train_model

__all__ = [
    "BagOfWords",
    "CaptionDecoder",
    "InputFeatures",
    "MultimodalVAE",
    "MultimodalVAEConfig",
    "train_multimodal_vae",
]

#: The longest caption the decoders write, in tokens (the book's captions have at most 12 words).
MAX_CAPTION_TOKENS = 24
#: Bounds of the learned per-feature scale sigma of the Gaussian likelihood, [0.01, 1] on
#: features in [0, 1]: without a floor, sigma -> 0 on near-constant features makes log p(x|z)
#: grow without bound.
LOG_SIGMA_RANGE = (math.log(0.01), 0.0)
#: Starting value of sigma for every feature (a tenth of the [0, 1] range).
INIT_SIGMA = 0.1
Expert = tuple[torch.Tensor, torch.Tensor]  # (mu, logvar), each [N, d]


# --------------------------------------------------------------------------------------
# Captions: a GRU decoder p(t | z)
# --------------------------------------------------------------------------------------
class CaptionDecoder(nn.Module):
    """p(t | z) = prod_i Categorical(t_i | t_<i, z): a GRU whose initial state and every input see z.

    ``log_likelihood(z [N, d], ids [N, T])`` (ids with <bos> ... <eos>, 0-padded) -> nats ``[N]``;
    ``greedy(z, max_len)`` -> token ids ``[N, <= max_len]``.
    """

    def __init__(self, vocab_size: int, latent_dim: int, emb_dim: int = 64, hidden: int = 96) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, emb_dim, padding_idx=0)
        self.init = nn.Linear(latent_dim, hidden)
        self.gru = nn.GRU(emb_dim + latent_dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab_size)

    def _run(self, z: torch.Tensor, tokens: torch.Tensor,
             h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([self.embed(tokens), z[:, None].expand(-1, tokens.shape[1], -1)], dim=-1)
        out, h = self.gru(x, torch.tanh(self.init(z))[None] if h is None else h)
        return self.out(out), h

    def log_likelihood(self, z: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """log p(t | z) in nats ``[N]``: teacher forcing on ``ids`` (``<bos> ... <eos>``, 0-padded)."""
        logits, _ = self._run(z, ids[:, :-1])
        target = ids[:, 1:]
        nll = F.cross_entropy(logits.transpose(1, 2), target, ignore_index=0, reduction="none")
        return -nll.sum(1)

    @torch.no_grad()
    def greedy(self, z: torch.Tensor, bos: int, eos: int, max_len: int = MAX_CAPTION_TOKENS) -> torch.Tensor:
        """The most likely next token at every step; ids ``[N, <= max_len]``, 0 after ``<eos>``."""
        token = torch.full((len(z), 1), bos, dtype=torch.int64, device=z.device)
        done = torch.zeros(len(z), dtype=torch.bool, device=z.device)
        h, out = None, []
        for _ in range(max_len):
            logits, h = self._run(z, token, h)
            token = logits[:, -1].argmax(-1, keepdim=True)
            token = token.masked_fill(done[:, None], 0)
            out.append(token)
            done |= token[:, 0] == eos
            if done.all():
                break
        return torch.cat(out, dim=1)

    @torch.no_grad()
    def beam_search(self, z: torch.Tensor, bos: int, eos: int, width: int = 5, max_len: int = MAX_CAPTION_TOKENS) -> torch.Tensor:
        """The approximately most likely caption for each z (:func:`crossmodal_lib.decoding.beam_search`:
        the ``width`` best partial captions by total log-probability at every step). Returns ids ``[N, L]``."""
        zb, state = z.repeat_interleave(width, 0), {}

        def next_logp(seqs: torch.Tensor, parents: torch.Tensor) -> torch.Tensor:
            h = state["h"][:, parents] if "h" in state else None  # the GRU state follows its beam
            logits, state["h"] = self._run(zb, seqs[:, -1:], h)
            return logits[:, -1].log_softmax(-1)

        return beam_search(next_logp, len(z), bos, eos, width, max_len, z.device)[0]


# --------------------------------------------------------------------------------------
# Encoders' features
# --------------------------------------------------------------------------------------
class BagOfWords(nn.Module):
    """Token ids ``[B, T]`` (0 = padding, specials ignored) -> word counts ``[B, V]`` -> MLP -> ``[B, out_dim]``.

    Order-free and fast; enough for the caption *encoder* here, since every attribute level has
    its own words ("not slanted" contains "not", which no other phrase does). The decoder is a GRU.
    """

    def __init__(self, vocab_size: int, out_dim: int, hidden: int = 256, n_special: int = 4) -> None:
        super().__init__()
        self.vocab_size, self.n_special, self.out_dim = vocab_size, n_special, out_dim
        self.mlp = MLP(vocab_size, out_dim, (hidden,))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        counts = torch.zeros(len(ids), self.vocab_size, device=ids.device)
        counts.scatter_add_(1, ids, torch.ones_like(ids, dtype=counts.dtype))
        counts[:, : self.n_special] = 0.0
        return self.mlp(counts)


class InputFeatures(nn.Module):
    """Inputs ``[B, *shape]`` -> [flattened inputs, frozen features] ``[B, D + F]``.

    A copy of ``frozen`` (e.g. the image tower of a trained dual encoder) is kept in eval mode and
    gets no gradients (the caller's module is left untouched); without it this is just the
    flattened inputs.
    """

    def __init__(self, frozen: nn.Module | None = None) -> None:
        super().__init__()
        self.frozen = copy.deepcopy(frozen).eval().requires_grad_(False) if frozen is not None else None

    def train(self, mode: bool = True) -> InputFeatures:
        super().train(mode)
        if self.frozen is not None:
            self.frozen.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        return flat if self.frozen is None else torch.cat([flat, self.frozen(x)], dim=1)


# --------------------------------------------------------------------------------------
# The model (book: "Two modalities, one latent space")
# --------------------------------------------------------------------------------------
class MultimodalVAE(nn.Module):
    """A shared latent z for an input x (image, spectrogram or clip) and its caption t: p(z) p(x|z) p(t|z).

    ``posterior="poe"`` (MVAE): q(z|x,t) ∝ p(z) q(z|x) q(z|t), and q(z|x) ∝ p(z) q(z|x) when only
    the input is given, so the prior is counted exactly once in every case (eq-mvae-posterior).
    ``"moe"`` (MMVAE): q(z|x,t) = (q(z|x) + q(z|t)) / 2. Training uses :meth:`loss` on tensors
    (with gradients, on the model's device); the public methods work on the CPU without
    gradients: ``generate(captions)``, ``describe(inputs)``, ``sample(n)`` and ``elbo(inputs, captions)``.
    """

    def __init__(self, vocab: Vocabulary, latent_dim: int = 16, hidden: int = 256,
                 input_shape: Sequence[int] = (1, 8, 8), posterior: Literal["poe", "moe"] = "poe",
                 input_features: nn.Module | None = None, feature_dim: int = 0,
                 likelihood: Likelihood = "binomial") -> None:
        super().__init__()
        self.posterior_kind = check_choice("posterior", posterior, ("poe", "moe"))
        self.likelihood = check_choice("likelihood", likelihood, ("binomial", "gaussian"))
        self.vocab, self.latent_dim, self.input_shape = vocab, latent_dim, tuple(input_shape)
        d = math.prod(self.input_shape)
        self.input_encoder = GaussianEncoder(
            nn.Sequential(InputFeatures(input_features), MLP(d + feature_dim, hidden, (hidden,))), hidden, latent_dim)
        self.text_encoder = GaussianEncoder(BagOfWords(len(vocab), hidden, hidden), hidden, latent_dim)
        self.input_decoder = MLP(latent_dim, d, (hidden, hidden))
        # Gaussian likelihood: one learned scale per feature (maximum likelihood, not a tuned weight)
        self.log_sigma = nn.Parameter(torch.full((d,), math.log(INIT_SIGMA))) if likelihood == "gaussian" else None
        self.caption_decoder = CaptionDecoder(len(vocab), latent_dim)
        self.history: dict[str, list[float]] = {}

    # ---- pieces of the objective (tensors on the model's device, with gradients) ----
    def experts(self, x: torch.Tensor | None = None, ids: torch.Tensor | None = None) -> list[Expert]:
        """The unimodal Gaussian experts (mu, logvar) for the modalities given, inputs first."""
        out = []
        if x is not None:
            out.append(self.input_encoder(x))
        if ids is not None:
            out.append(self.text_encoder(ids))
        if not out:
            raise ValueError("give at least one modality (inputs or captions)")
        return out

    def posterior(self, x: torch.Tensor | None = None, ids: torch.Tensor | None = None) -> Expert:
        """q(z | given modalities) as (mu, logvar) ``[N, d]``: product of experts with the prior (MVAE).
        For ``"moe"`` with one modality this is that modality's expert."""
        experts = self.experts(x, ids)
        if self.posterior_kind == "moe":
            if len(experts) > 1:
                raise ValueError("the mixture-of-experts joint posterior is not Gaussian; use elbo()")
            return experts[0]
        return product_of_experts(torch.stack([m for m, _ in experts]), torch.stack([v for _, v in experts]))

    def decode_input(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder output ``[N, *input_shape]``: pixel logits (binomial) or feature means (Gaussian)."""
        return self.input_decoder(z).view(len(z), *self.input_shape)

    def input_log_likelihood(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x | z) ``[N]`` from the decoder output ``out``, under the model's likelihood."""
        if self.likelihood == "gaussian":
            return gaussian_log_likelihood(out, self.log_sigma.clamp(*LOG_SIGMA_RANGE), x)
        return binomial_log_likelihood(out, x)

    def input_mean(self, out: torch.Tensor) -> torch.Tensor:
        """E[x | z] from the decoder output: sigmoid of the logits, or the Gaussian mean clipped to [0, 1]."""
        return out.clamp(0.0, 1.0) if self.likelihood == "gaussian" else torch.sigmoid(out)

    def log_likelihoods(self, z: torch.Tensor, x: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log p(x | z), log p(t | z)) for ``K`` latents per pair, ``z [K, N, d]`` -> two ``[K, N]``.

        The K*N latents go through each decoder as one batch: the caption GRU runs once, not K times.
        """
        k, n = z.shape[:2]
        flat = z.flatten(0, 1)
        input_ll = self.input_log_likelihood(self.decode_input(flat), x.repeat(k, *[1] * (x.dim() - 1)))
        text_ll = self.caption_decoder.log_likelihood(flat, ids.repeat(k, 1))
        return input_ll.view(k, n), text_ll.view(k, n)

    def joint_elbo(self, x: torch.Tensor, ids: torch.Tensor, beta: float = 1.0, generator: torch.Generator | None = None,
                   text_weight: float = 1.0) -> torch.Tensor:
        """The (beta-)ELBO of each pair ``[N]``: PoE posterior (eq-mvae-bounds), or MMVAE's
        stratified mixture estimate (eq-mmvae), one sample from each component."""
        experts = self.experts(x, ids)
        mus, logvars = torch.stack([m for m, _ in experts]), torch.stack([v for _, v in experts])
        if self.posterior_kind == "poe":
            mu, logvar = product_of_experts(mus, logvars)
            input_ll, text_ll = self.log_likelihoods(reparameterize(mu, logvar, generator)[None], x, ids)
            return (input_ll + text_weight * text_ll)[0] - beta * gaussian_kl(mu, logvar)
        z = reparameterize(mus, logvars, generator)  # [2, N, d]: one sample from each component
        log_q = torch.logsumexp(torch.stack([log_normal(z, m, v) for m, v in experts]), 0) - math.log(len(experts))
        log_p = log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
        input_ll, text_ll = self.log_likelihoods(z, x, ids)
        return (input_ll + text_weight * text_ll - beta * (log_q - log_p)).mean(0)

    def bounds(self, x: torch.Tensor, ids: torch.Tensor, beta: float = 1.0, cross: bool = True,
               text_weight: float = 1.0) -> torch.Tensor:
        """MVAE's three bounds ``[3, N]`` (eq-mvae-bounds), decoded as one batch. Row 0: the joint
        ELBO under p(z) q(z|x) q(z|t); rows 1 and 2: under p(z) q(z|x) and p(z) q(z|t) alone. With
        ``cross=True`` every row explains both modalities (each is a lower bound on log p(x, t));
        with ``cross=False`` rows 1 and 2 explain only their own modality, ELBO(x) and ELBO(t)."""
        experts = self.experts(x, ids)
        posteriors = [product_of_experts(torch.stack([m for m, _ in experts]), torch.stack([v for _, v in experts]))]
        posteriors += [product_of_experts(m[None], v[None]) for m, v in experts]  # the prior counted once
        mu, logvar = torch.stack([m for m, _ in posteriors]), torch.stack([v for _, v in posteriors])
        input_ll, text_ll = self.log_likelihoods(reparameterize(mu, logvar), x, ids)
        if not cross:  # keep (input, text) terms: both for the joint, its own modality for each expert
            keep = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]], device=x.device)
            input_ll, text_ll = input_ll * keep[:, :1], text_ll * keep[:, 1:]
        return input_ll + text_weight * text_ll - beta * gaussian_kl(mu, logvar)

    def loss(self, x: torch.Tensor, ids: torch.Tensor, beta: float = 1.0, cross: bool = True,
             text_weight: float = 1.0) -> dict[str, torch.Tensor]:
        """The training objective on a batch: inputs ``x [B, ...]``, caption ids ``[B, T]``.

        ``"poe"``: loss = -mean(joint ELBO + the two unimodal bounds) (:meth:`bounds`);
        ``"moe"``: loss = -mean(MMVAE bound) (:meth:`joint_elbo`). Returns scalars
        ``{"loss", "joint", "unimodal"}`` (``unimodal`` is 0 for ``"moe"``).
        """
        if len(x) != len(ids):
            raise ValueError(f"mismatched pairs: {len(x)} inputs but {len(ids)} captions")
        if self.posterior_kind == "poe":
            bounds = self.bounds(x, ids, beta, cross, text_weight)
            joint, unimodal = bounds[0].mean(), bounds[1:].sum(0).mean()
        else:
            joint = self.joint_elbo(x, ids, beta, text_weight=text_weight).mean()
            unimodal = torch.zeros((), device=joint.device)
        return {"loss": -joint - unimodal, "joint": joint, "unimodal": unimodal}

    # ---- public API: CPU in, CPU out, no gradients ----
    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def _ids(self, captions: Sequence[str]) -> torch.Tensor:
        if isinstance(captions, str):
            raise TypeError("expected a list of captions; wrap a single caption in a list")
        if len(captions) == 0:
            raise ValueError("got an empty list of captions")
        return self.vocab.encode(list(captions), add_bos_eos=True).to(self._device())

    def _inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        check_inputs(inputs)
        if tuple(inputs.shape[1:]) != self.input_shape:
            raise ValueError(f"expected inputs [N, {', '.join(map(str, self.input_shape))}], got {tuple(inputs.shape)}")
        return inputs.to(self._device(), torch.float32)

    def _text(self, ids: torch.Tensor) -> list[str]:
        return [self.vocab.decode(row) for row in ids.cpu()]

    @torch.no_grad()
    def generate(self, captions: Sequence[str], seed: int | None = None) -> torch.Tensor:
        """Caption -> input: z ~ q(z|t), then E[x|z], ``[N, *input_shape]`` in [0, 1], CPU."""
        self.eval()
        mu, logvar = self.posterior(ids=self._ids(captions))
        gen = torch.Generator(device=mu.device).manual_seed(seed) if seed is not None else None
        return self.input_mean(self.decode_input(reparameterize(mu, logvar, gen))).cpu()

    @torch.no_grad()
    def describe(self, inputs: torch.Tensor, beam: int = 5) -> list[str]:
        """Input -> caption: beam search (``beam`` partial captions kept; 1 = greedy) from the
        posterior mean of q(z|x)."""
        self.eval()
        mu, _ = self.posterior(x=self._inputs(inputs))
        bos, eos = self.vocab.stoi[BOS], self.vocab.stoi[EOS]
        decoder = self.caption_decoder
        ids = decoder.greedy(mu, bos, eos) if beam == 1 else decoder.beam_search(mu, bos, eos, beam)
        return self._text(ids)

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None) -> tuple[torch.Tensor, list[str]]:
        """Joint samples from the prior: z ~ N(0, I), then the mean input and the greedy caption."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self.eval()
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        z = torch.randn(n, self.latent_dim, generator=gen).to(self._device())
        ids = self.caption_decoder.greedy(z, self.vocab.stoi[BOS], self.vocab.stoi[EOS])
        return self.input_mean(self.decode_input(z)).cpu(), self._text(ids)

    @torch.no_grad()
    def elbo(self, inputs: torch.Tensor, captions: Sequence[str], seed: int = 0) -> torch.Tensor:
        """A one-sample estimate of the joint ELBO <= log p(x, t), in nats per pair ``[N]`` (CPU)."""
        self.eval()
        x, ids = self._inputs(inputs), self._ids(captions)
        if len(x) != len(ids):
            raise ValueError(f"mismatched pairs: {len(x)} inputs but {len(ids)} captions")
        gen = torch.Generator(device=x.device).manual_seed(seed)
        return self.joint_elbo(x, ids, 1.0, gen).cpu()


@dataclass(frozen=True)
class MultimodalVAEConfig:
    """Hyperparameters of :func:`train_multimodal_vae`; the defaults are the book's (Part 3.3b)."""

    posterior: Literal["poe", "moe"] = "poe"  # product of experts (MVAE) or mixture (MMVAE)
    cross: bool = True                # MVAE: unimodal posteriors must reconstruct both modalities
    text_weight: float = 100.0        # multiplies log p(t|z) in training (a caption has few nats, an image ~100)
    latent_dim: int = 32              # dimension of z
    beta: float = 1.0                 # weight of the KL terms (1 = the ELBO)
    hidden: int = 256                 # width of the encoders' and the input decoder's hidden layers
    epochs: int = 40                  # passes over the training pairs
    batch_size: int = 128             # pairs per batch
    lr: float = 2e-3                  # Adam learning rate


def train_multimodal_vae(pairs: PairedDataset, config: MultimodalVAEConfig | None = None, *, seed: int = 0,
                         device: torch.device | str | None = None, dual_encoder: DualEncoder | None | bool = None,
                         progress: bool | str = True, **overrides: Any) -> MultimodalVAE:
    """Train a :class:`MultimodalVAE` on input-caption pairs (Part 3.3b), with :class:`MultimodalVAEConfig`.

    Each batch minimises :meth:`MultimodalVAE.loss`. ``text_weight`` multiplies the caption
    log-likelihood during training only (Wu & Goodman weight the small modality up in the same
    way); :meth:`MultimodalVAE.elbo` always reports the unweighted bound. The input expert reads
    the inputs together with the frozen input tower of a Part 3.1 dual encoder (``dual_encoder``:
    a trained one, ``None`` to train one on ``pairs``, ``False`` for the inputs alone). The
    likelihood follows the modality (:func:`~crossmodal_lib.likelihoods.likelihood_for`) and
    the vocabulary is built from ``pairs.captions``. Returns the model on the CPU in eval mode
    with ``.config``, ``.history`` (per-epoch ``loss``, ``joint``, ``unimodal``) and ``.train_seconds``.
    """
    config = resolve_config(MultimodalVAEConfig, config, overrides)
    check_inputs(pairs.inputs)
    set_seed(seed)
    device = resolve_device(device)
    vocab = Vocabulary.build(pairs.captions, pairs.lang)
    ids = vocab.encode(pairs.captions, add_bos_eos=True)
    if dual_encoder is None:
        dual_encoder = train_dual_encoder(pairs, seed=seed, device=device, progress=bool(progress))
    frozen = dual_encoder.input_encoder if dual_encoder else None  # InputFeatures copies it
    model = MultimodalVAE(vocab, config.latent_dim, config.hidden, pairs.inputs.shape[1:], config.posterior, frozen,
                          frozen.out_dim if frozen is not None else 0, likelihood_for(pairs.modality)).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, foreach=True)
    loader = seeded_loader(pairs.inputs.float(), ids, batch_size=config.batch_size, seed=seed)

    def step(batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        values = model.loss(*batch, beta=config.beta, cross=config.cross, text_weight=config.text_weight)
        optimizer_step(opt, values["loss"])
        return values

    return train_model(model, step, loader, config, device=device, progress=progress,
                       desc=f"multimodal VAE ({config.posterior})")
