"""Variational autoencoders and the multimodal VAE (book: Part 3.3).

The source chapter writes the bound as "log p(x) ≈ ELBO" and then maximises
"E[log p(x)] - beta * KL". This module implements what Part 3.3 derives instead:

    log p(x) >= E_q[log p(x|z)] - KL(q(z|x) || p(z))        (the ELBO, eq. 3.3.1)
    beta-VAE: E_q[log p(x|z)] - beta * KL(q(z|x) || p(z))     (eq. 3.3.3)

* :func:`gaussian_kl` (closed form, eq. 3.3.4), :func:`reparameterize` (eq. 3.3.5),
  :func:`product_of_experts` (precision-weighted fusion of Gaussian posteriors, eq. 3.3.7).
* A pixel likelihood that is a real distribution: each digit pixel counts the "on" pixels of a
  4 x 4 block (0..16), so ``p(x_j | z) = Binomial(16, sigmoid(logit_j))``
  (:func:`binomial_log_likelihood`); log-likelihoods are in nats per image, comparable with the
  baselines :func:`pixel_baseline` and :func:`fit_binomial_mixture`.
* :class:`ImageVAE` with :meth:`ImageVAE.elbo` and :meth:`ImageVAE.iwae` (Burda et al., 2016).
* :class:`MultimodalVAE`: image and caption encoders whose Gaussian posteriors are fused by a
  product of experts with the prior counted once (MVAE, Wu & Goodman, 2018) or by a mixture of
  experts (MMVAE, Shi et al., 2019); a GRU caption decoder with greedy and beam-search decoding,
  so image -> text is generation.
  :func:`train_multimodal_vae` is the public entry point; :func:`train_vae` trains the plain
  image VAE.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from .data import PairedDataset
from .embedding import DualEncoder, train_dual_encoder
from .encoders import MLP
from .text import BOS, EOS, Vocabulary
from .training import get_device, set_seed, train

__all__ = [
    "PIXEL_COUNTS",
    "BagOfWords",
    "CaptionDecoder",
    "ConditionalVAE",
    "GaussianEncoder",
    "ImageFeatures",
    "ImageVAE",
    "MultimodalVAE",
    "binomial_log_likelihood",
    "gaussian_log_likelihood",
    "likelihood_for",
    "fit_binomial_mixture",
    "gaussian_kl",
    "mixture_log_likelihood",
    "pixel_baseline",
    "product_of_experts",
    "reparameterize",
    "train_conditional_vae",
    "train_multimodal_vae",
    "train_vae",
]

#: Each pixel of the digits counts "on" pixels in a 4 x 4 block: 0..16.
PIXEL_COUNTS = 16


# --------------------------------------------------------------------------------------
# Gaussians
# --------------------------------------------------------------------------------------
def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor, mu_p: torch.Tensor | None = None,
                logvar_p: torch.Tensor | None = None) -> torch.Tensor:
    """KL(N(mu, diag e^logvar) || N(mu_p, diag e^logvar_p)) per row, ``[N, d] -> [N]`` (eq. 3.3.4).

    The prior defaults to N(0, I): then KL = 1/2 sum(mu^2 + e^logvar - 1 - logvar).
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    mu_p = torch.zeros_like(mu) if mu_p is None else mu_p
    logvar_p = torch.zeros_like(logvar) if logvar_p is None else logvar_p
    return 0.5 * (logvar_p - logvar + (logvar.exp() + (mu - mu_p) ** 2) / logvar_p.exp() - 1).sum(-1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mu + sigma * eps with eps ~ N(0, I) (eq. 3.3.5): a sample that is differentiable in mu and logvar."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + (0.5 * logvar).exp() * eps


def product_of_experts(mus: torch.Tensor, logvars: torch.Tensor, prior: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Product of Gaussian experts ``[E, N, d]`` -> one Gaussian ``[N, d]`` (eq. 3.3.7).

    Precisions add, and the mean is the precision-weighted mean of the experts' means. With
    ``prior=True`` the prior N(0, I) is included once, as one more expert (MVAE).
    """
    if mus.shape != logvars.shape or mus.dim() != 3:
        raise ValueError(f"expected experts' means and log-variances [E, N, d], got {tuple(mus.shape)} and {tuple(logvars.shape)}")
    precision = (-logvars).exp()
    total = precision.sum(0) + (1.0 if prior else 0.0)
    mu = (mus * precision).sum(0) / total
    return mu, -total.log()


# --------------------------------------------------------------------------------------
# Pixel likelihood and density baselines (nats per image)
# --------------------------------------------------------------------------------------
def _counts(x: torch.Tensor) -> torch.Tensor:
    k = x.reshape(len(x), -1) * PIXEL_COUNTS
    if (k - k.round()).abs().max() > 1e-4 or k.min() < 0 or k.max() > PIXEL_COUNTS:
        raise ValueError("pixel values must be counts / 16 in [0, 1] (the digits' 17 levels)")
    return k.round()


def binomial_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | logits) in nats per image ``[N]``, pixels i.i.d. Binomial(16, sigmoid(logit)).

    ``logits`` ``[N, ...]`` and ``x`` (values k/16) flatten to ``[N, D]``. Uses
    log C(16, k) + k log p + (16 - k) log(1 - p), with the log-sigmoids computed stably.
    """
    k = _counts(x)
    logits = logits.reshape(len(logits), -1)
    if logits.shape != k.shape:
        raise ValueError(f"logits and x must have the same number of pixels, got {tuple(logits.shape)} and {tuple(k.shape)}")
    n = torch.tensor(float(PIXEL_COUNTS), device=k.device)
    log_choose = torch.lgamma(n + 1) - torch.lgamma(k + 1) - torch.lgamma(n - k + 1)
    return (log_choose + k * F.logsigmoid(logits) + (n - k) * F.logsigmoid(-logits)).sum(1)


def gaussian_log_likelihood(mean: torch.Tensor, log_sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log N(x | mean, sigma^2) in nats per example ``[N]``, features independent.

    ``mean`` and ``x`` flatten to ``[N, D]``; ``log_sigma`` is ``[D]`` (one learned scale per
    feature) or broadcastable to it. For continuous features such as log-mel spectrograms,
    where the binomial count model of the digits does not apply (Part 5.2). A density, so
    the nats are not comparable with those of a discrete likelihood.
    """
    mean, x = mean.reshape(len(mean), -1), x.reshape(len(x), -1)
    if mean.shape != x.shape:
        raise ValueError(f"mean and x must have the same number of features, got {tuple(mean.shape)} and {tuple(x.shape)}")
    z = (x - mean) / log_sigma.exp()
    return (-0.5 * z ** 2 - log_sigma - 0.5 * math.log(2 * math.pi)).sum(1)


def likelihood_for(modality: str) -> str:
    """``"binomial"`` for digit images and moving-digit clips (pixel counts k/16),
    ``"gaussian"`` for spectrograms."""
    if modality in ("image", "video"):
        return "binomial"
    if modality == "spectrogram":
        return "gaussian"
    raise ValueError(f"no likelihood for modality {modality!r}")


def pixel_baseline(train_x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """The independent-pixel model: logits ``[D]`` of each pixel's mean intensity (maximum likelihood,
    clipped to [eps, 1 - eps] so that unseen ink does not cost infinite nats)."""
    p = train_x.reshape(len(train_x), -1).mean(0).clamp(eps, 1 - eps)
    return torch.logit(p)


def fit_binomial_mixture(x: torch.Tensor, k: int, *, iters: int = 100, seed: int = 0,
                         eps: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
    """A mixture of k independent-binomial images, fitted by EM. Returns (log weights ``[k]``,
    logits ``[k, D]``); score it with :func:`mixture_log_likelihood`."""
    gen = torch.Generator().manual_seed(seed)
    flat = x.reshape(len(x), -1).double()
    probs = flat[torch.randperm(len(x), generator=gen)[:k]].clamp(0.05, 0.95)  # k data points as seeds
    log_w = torch.full((k,), -math.log(k), dtype=torch.float64)
    for _ in range(iters):
        resp = (log_w + _component_ll(torch.logit(probs), x)).softmax(1)      # E step: [N, k]
        log_w = (resp.mean(0) + 1e-12).log()                                     # M step
        probs = ((resp.T @ flat) / resp.sum(0)[:, None]).clamp(eps, 1 - eps)
    return log_w.float(), torch.logit(probs).float()


def _component_ll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``[k, D]`` logits, ``[N, ...]`` x -> log-likelihood of each image under each component ``[N, k]``."""
    n, k = len(x), len(logits)
    xs = x.reshape(n, 1, -1).expand(n, k, -1).reshape(n * k, -1).to(logits.dtype)
    ls = logits[None].expand(n, k, -1).reshape(n * k, -1)
    return binomial_log_likelihood(ls, xs).view(n, k)


def mixture_log_likelihood(log_weights: torch.Tensor, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log sum_c w_c p(x | c) in nats per image ``[N]``."""
    return torch.logsumexp(log_weights + _component_ll(logits, x), dim=1)


# --------------------------------------------------------------------------------------
# The image VAE (book: "A VAE on the digits")
# --------------------------------------------------------------------------------------
class GaussianEncoder(nn.Module):
    """Any feature network -> (mu, logvar), each ``[B, latent_dim]``; logvar is clamped to [-8, 8]."""

    def __init__(self, features: nn.Module, feature_dim: int, latent_dim: int) -> None:
        super().__init__()
        self.features, self.head = features, nn.Linear(feature_dim, 2 * latent_dim)

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(F.relu(self.features(inputs))).chunk(2, dim=-1)
        return mu, logvar.clamp(-8.0, 8.0)


class ImageVAE(nn.Module):
    """q(z|x) = N(mu(x), diag sigma^2(x)), p(z) = N(0, I), p(x|z) = prod_j Binomial(16, sigmoid(f_j(z))).

    Images ``[N, 1, 8, 8]`` with values k/16. ``elbo`` and ``iwae`` return nats per image ``[N]``.
    """

    def __init__(self, latent_dim: int = 16, hidden: int = 256, image_shape: Sequence[int] = (1, 8, 8)) -> None:
        super().__init__()
        self.latent_dim, self.image_shape = latent_dim, tuple(image_shape)
        d = math.prod(self.image_shape)
        self.encoder = GaussianEncoder(MLP(d, hidden, (hidden,)), hidden, latent_dim)
        self.decoder = MLP(latent_dim, d, (hidden, hidden))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, *image_shape]``; ``sigmoid`` of them is the mean image."""
        return self.decoder(z).view(len(z), *self.image_shape)

    def elbo(self, x: torch.Tensor, beta: float = 1.0, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One-sample estimate of the (beta-)ELBO: returns (elbo, log-likelihood term, KL), each ``[N]``."""
        mu, logvar = self.encoder(x)
        rec = binomial_log_likelihood(self.decode(reparameterize(mu, logvar, generator)), x)
        kl = gaussian_kl(mu, logvar)
        return rec - beta * kl, rec, kl

    @torch.no_grad()
    def iwae(self, x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """The importance-weighted bound log (1/k) sum_i p(x, z_i) / q(z_i | x), ``[N]`` (eq. 3.3.6).

        k = 1 is the ELBO; the bound rises towards log p(x) as k grows.
        """
        mu, logvar = self.encoder(x)
        n = len(x)
        z = reparameterize(mu.repeat(k, 1), logvar.repeat(k, 1), generator)           # [k*N, d]
        log_q = _log_normal(z, mu.repeat(k, 1), logvar.repeat(k, 1))
        log_p = _log_normal(z, torch.zeros_like(z), torch.zeros_like(z)) + binomial_log_likelihood(self.decode(z), x.repeat(k, 1, 1, 1))
        return torch.logsumexp((log_p - log_q).view(k, n), dim=0) - math.log(k)


def _log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return -0.5 * (logvar + (z - mu) ** 2 / logvar.exp() + math.log(2 * math.pi)).sum(-1)


def _check_images(x: torch.Tensor, dims: int | None = 4) -> None:
    if (dims is not None and x.dim() != dims) or x.dim() < 2 or len(x) == 0:
        raise ValueError(f"expected a non-empty batch of images [N, C, H, W], got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("inputs contain NaN or infinite values")


def train_vae(inputs: torch.Tensor, *, latent_dim: int = 16, beta: float = 1.0, hidden: int = 256, epochs: int = 60,
              batch_size: int = 64, lr: float = 2e-3, seed: int = 0, device: torch.device | str | None = None,
              progress: bool = True) -> ImageVAE:
    """Train an :class:`ImageVAE` by maximising the beta-ELBO (eq. 3.3.3). Returns it on the CPU, in
    eval mode, with ``.history`` (per-epoch ``loss`` = -ELBO/image, ``rec``, ``kl``) and ``.train_seconds``."""
    _check_images(inputs)
    set_seed(seed)
    model = ImageVAE(latent_dim, hidden, inputs.shape[1:])
    return _fit_vae(model, (inputs,), lambda x: model.elbo(x, beta), epochs=epochs, batch_size=batch_size, lr=lr,
                    seed=seed, device=device, progress=progress, desc=f"VAE (beta={beta:g})")


def _fit_vae(model: nn.Module, tensors: tuple[torch.Tensor, ...], elbo_fn, *, epochs: int, batch_size: int,
             lr: float, seed: int, device: torch.device | str | None, progress: bool, desc: str) -> nn.Module:
    """Adam on -mean(elbo_fn(*batch)[0]); elbo_fn returns (elbo, rec, kl), each ``[B]``."""
    device = torch.device(device) if device is not None else get_device()
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(TensorDataset(*tensors), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))

    def step(batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        value, rec, kl = elbo_fn(*batch)
        loss = -value.mean()
        opt.zero_grad(set_to_none=True)
        if torch.isfinite(loss):
            loss.backward()
            opt.step()
        return {"loss": loss, "rec": rec.mean(), "kl": kl.mean()}

    start = time.perf_counter()
    model.history = train(step, loader, epochs=epochs, device=device, progress=progress, desc=desc)
    model.train_seconds = time.perf_counter() - start
    return model.cpu().eval()


# --------------------------------------------------------------------------------------
# The conditional VAE (book: "Conditioning on a caption")
# --------------------------------------------------------------------------------------
class ConditionalVAE(nn.Module):
    """q(z|x,c), p(x|z,c), p(z) = N(0, I), with c the frozen caption embedding of a dual encoder.

    ``elbo(x, c)`` bounds log p(x | c) (eq. 3.3.10); ``generate(captions, seed)`` draws z from the
    prior and returns the decoder's mean images ``[N, *image_shape]`` in [0, 1] on the CPU.
    """

    def __init__(self, text_model: DualEncoder, latent_dim: int = 8, hidden: int = 256,
                 image_shape: Sequence[int] = (1, 8, 8)) -> None:
        super().__init__()
        self.text_model = copy.deepcopy(text_model).cpu().eval().requires_grad_(False)  # the caller's stays as it was
        self.latent_dim, self.image_shape = latent_dim, tuple(image_shape)
        d, c = math.prod(self.image_shape), text_model.dim
        self.encoder = GaussianEncoder(MLP(d + c, hidden, (hidden,)), hidden, latent_dim)
        self.decoder = MLP(latent_dim + c, d, (hidden, hidden))

    def decode(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([z, c], 1)).view(len(z), *self.image_shape)

    def elbo(self, x: torch.Tensor, c: torch.Tensor, beta: float = 1.0,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(elbo, log-likelihood term, KL), each ``[N]``, for images x and conditions c ``[N, d]``."""
        mu, logvar = self.encoder(torch.cat([x.flatten(1), c], 1))
        rec = binomial_log_likelihood(self.decode(reparameterize(mu, logvar, generator), c), x)
        kl = gaussian_kl(mu, logvar)
        return rec - beta * kl, rec, kl

    @torch.no_grad()
    def generate(self, captions: Sequence[str], seed: int | None = None) -> torch.Tensor:
        c = self.text_model.encode_texts(captions)  # checks the list and every word
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        z = torch.randn(len(c), self.latent_dim, generator=gen)
        device = next(self.decoder.parameters()).device
        return torch.sigmoid(self.decode(z.to(device), c.to(device))).cpu()


def train_conditional_vae(pairs: PairedDataset, *, seed: int = 0, device: torch.device | str | None = None,
                          text_model: DualEncoder | None = None, latent_dim: int = 8, beta: float = 1.0,
                          hidden: int = 256, epochs: int = 60, batch_size: int = 64, lr: float = 2e-3,
                          progress: bool = True) -> ConditionalVAE:
    """Train a :class:`ConditionalVAE` on image-caption pairs; captions are embedded once by the frozen
    text tower of ``text_model`` (trained on ``pairs`` with the same seed if not given)."""
    _check_images(pairs.inputs)
    set_seed(seed)
    if text_model is None:
        text_model = train_dual_encoder(pairs, seed=seed, device=device, progress=progress)
    model = ConditionalVAE(text_model, latent_dim, hidden, pairs.inputs.shape[1:])
    cond = model.text_model.encode_texts(pairs.captions)
    return _fit_vae(model, (pairs.inputs.float(), cond), lambda x, c: model.elbo(x, c, beta), epochs=epochs,
                    batch_size=batch_size, lr=lr, seed=seed, device=device, progress=progress,
                    desc=f"conditional VAE (beta={beta:g})")


# --------------------------------------------------------------------------------------
# Captions: a GRU decoder p(t | z)
# --------------------------------------------------------------------------------------
class CaptionDecoder(nn.Module):
    """p(t | z) = prod_i Categorical(t_i | t_<i, z): a GRU whose initial state and every input see z.

    ``log_likelihood(z [N, d], ids [N, T])`` (ids with <bos> ... <eos>, 0-padded) -> nats ``[N]``;
    ``greedy(z, max_len)`` -> token ids ``[N, <= max_len]``.
    """

    def __init__(self, vocab_size: int, latent_dim: int, emb_dim: int = 64, hidden: int = 128) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, emb_dim, padding_idx=0)
        self.init = nn.Linear(latent_dim, hidden)
        self.gru = nn.GRU(emb_dim + latent_dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab_size)

    def _run(self, z: torch.Tensor, tokens: torch.Tensor, h: torch.Tensor | None = None):
        x = torch.cat([self.embed(tokens), z[:, None].expand(-1, tokens.shape[1], -1)], dim=-1)
        out, h = self.gru(x, torch.tanh(self.init(z))[None] if h is None else h)
        return self.out(out), h

    def log_likelihood(self, z: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        logits, _ = self._run(z, ids[:, :-1])
        target = ids[:, 1:]
        nll = F.cross_entropy(logits.transpose(1, 2), target, ignore_index=0, reduction="none")
        return -nll.sum(1)

    @torch.no_grad()
    def greedy(self, z: torch.Tensor, bos: int, eos: int, max_len: int = 24) -> torch.Tensor:
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
    def beam_search(self, z: torch.Tensor, bos: int, eos: int, width: int = 5, max_len: int = 24) -> torch.Tensor:
        """The approximately most likely caption for each z: keep the ``width`` best partial captions
        (by total log-probability) at every step. Greedy decoding is ``width=1``. Returns ids ``[N, L]``."""
        n, b = len(z), width
        zb = z.repeat_interleave(b, 0)
        scores = torch.full((n, b), float("-inf"), device=z.device)
        scores[:, 0] = 0.0  # one live beam at the start
        seqs = torch.full((n * b, 1), bos, dtype=torch.int64, device=z.device)
        finished = torch.zeros(n * b, dtype=torch.bool, device=z.device)
        h = None
        for _ in range(max_len):
            logits, h = self._run(zb, seqs[:, -1:], h)
            logp = logits[:, -1].log_softmax(-1)
            logp[finished] = float("-inf")
            logp[finished, 0] = 0.0  # a finished caption only extends with padding, at no cost
            vocab = logp.shape[1]
            top, idx = (scores.reshape(-1, 1) + logp).view(n, b * vocab).topk(b, dim=1)
            rows = (torch.arange(n, device=z.device)[:, None] * b + idx // vocab).flatten()
            token = (idx % vocab).flatten()
            seqs = torch.cat([seqs[rows], token[:, None]], dim=1)
            h, finished, scores = h[:, rows], finished[rows] | (token == eos), top
            if finished.all():
                break
        best = scores.argmax(1)
        return seqs.view(n, b, -1)[torch.arange(n), best, 1:]


# --------------------------------------------------------------------------------------
# The multimodal VAE (book: "Two modalities, one latent space")
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


class ImageFeatures(nn.Module):
    """Pixels ``[B, *shape]`` -> [flattened pixels, frozen features] ``[B, D + F]``.

    A copy of ``frozen`` (e.g. the image tower of a trained dual encoder) is kept in eval mode and
    gets no gradients (the caller's module is left untouched); without it this is just the
    flattened pixels.
    """

    def __init__(self, frozen: nn.Module | None = None) -> None:
        super().__init__()
        self.frozen = copy.deepcopy(frozen).eval().requires_grad_(False) if frozen is not None else None

    def train(self, mode: bool = True) -> ImageFeatures:
        super().train(mode)
        if self.frozen is not None:
            self.frozen.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        return flat if self.frozen is None else torch.cat([flat, self.frozen(x)], dim=1)


class MultimodalVAE(nn.Module):
    """A shared latent z for an image x and its caption t: p(z) p(x|z) p(t|z).

    ``posterior="poe"`` (MVAE): q(z|x,t) ∝ p(z) q(z|x) q(z|t), and q(z|x) ∝ p(z) q(z|x) when only
    the image is given, so the prior is counted exactly once in every case. ``"moe"`` (MMVAE):
    q(z|x,t) = (q(z|x) + q(z|t)) / 2. Public methods work on the CPU without gradients:
    ``generate(captions)``, ``describe(inputs)``, ``sample(n)`` and ``elbo(inputs, captions)``.
    """

    def __init__(self, vocab: Vocabulary, latent_dim: int = 16, hidden: int = 256,
                 image_shape: Sequence[int] = (1, 8, 8), posterior: str = "poe",
                 image_features: nn.Module | None = None, feature_dim: int = 0, likelihood: str = "binomial") -> None:
        super().__init__()
        if posterior not in ("poe", "moe"):
            raise ValueError(f"posterior must be 'poe' or 'moe', got {posterior!r}")
        if likelihood not in ("binomial", "gaussian"):
            raise ValueError(f"likelihood must be 'binomial' or 'gaussian', got {likelihood!r}")
        self.likelihood = likelihood
        self.vocab, self.latent_dim, self.image_shape, self.posterior_kind = vocab, latent_dim, tuple(image_shape), posterior
        d = math.prod(self.image_shape)
        self.image_encoder = GaussianEncoder(
            nn.Sequential(ImageFeatures(image_features), MLP(d + feature_dim, hidden, (hidden,))), hidden, latent_dim)
        self.text_encoder = GaussianEncoder(BagOfWords(len(vocab), hidden, hidden), hidden, latent_dim)
        self.image_decoder = MLP(latent_dim, d, (hidden, hidden))
        # Gaussian likelihood: one learned scale per feature (maximum likelihood, not a tuned weight)
        self.log_sigma = nn.Parameter(torch.full((d,), math.log(0.1))) if likelihood == "gaussian" else None
        self.caption_decoder = CaptionDecoder(len(vocab), latent_dim)
        self.history: dict[str, list[float]] = {}

    # ---- pieces used in training (tensors on the model's device, with gradients) ----
    def experts(self, x: torch.Tensor | None = None, ids: torch.Tensor | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The unimodal Gaussian experts (mu, logvar) for the modalities given."""
        out = []
        if x is not None:
            out.append(self.image_encoder(x))
        if ids is not None:
            out.append(self.text_encoder(ids))
        if not out:
            raise ValueError("give at least one modality (images or captions)")
        return out

    def posterior(self, x: torch.Tensor | None = None, ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | given modalities) as (mu, logvar) ``[N, d]``: product of experts with the prior (MVAE).
        For ``"moe"`` with one modality this is that modality's expert."""
        experts = self.experts(x, ids)
        if self.posterior_kind == "moe":
            if len(experts) > 1:
                raise ValueError("the mixture-of-experts joint posterior is not Gaussian; use elbo()")
            return experts[0]
        return product_of_experts(torch.stack([m for m, _ in experts]), torch.stack([v for _, v in experts]))

    def decode_image(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder output ``[N, *image_shape]``: pixel logits (binomial) or feature means (Gaussian)."""
        return self.image_decoder(z).view(len(z), *self.image_shape)

    def input_log_likelihood(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x | z) ``[N]`` from the decoder output ``out``, under the model's likelihood."""
        if self.likelihood == "gaussian":
            return gaussian_log_likelihood(out, self.log_sigma.clamp(math.log(0.01), 0.0), x)
        return binomial_log_likelihood(out, x)

    def input_mean(self, out: torch.Tensor) -> torch.Tensor:
        """E[x | z] from the decoder output: sigmoid of the logits, or the Gaussian mean clipped to [0, 1]."""
        return out.clamp(0.0, 1.0) if self.likelihood == "gaussian" else torch.sigmoid(out)

    def _log_lik(self, z: torch.Tensor, x: torch.Tensor, ids: torch.Tensor, text_weight: float = 1.0) -> torch.Tensor:
        return self.input_log_likelihood(self.decode_image(z), x) + text_weight * self.caption_decoder.log_likelihood(z, ids)

    def _joint_terms(self, x: torch.Tensor, ids: torch.Tensor, beta: float,
                     generator: torch.Generator | None = None,
                     experts: list[tuple[torch.Tensor, torch.Tensor]] | None = None, text_weight: float = 1.0) -> torch.Tensor:
        """The (beta-)ELBO of the pair ``[N]``: PoE posterior, or MMVAE's stratified mixture estimate."""
        experts = experts if experts is not None else self.experts(x, ids)
        if self.posterior_kind == "poe":
            mu, logvar = product_of_experts(torch.stack([m for m, _ in experts]), torch.stack([v for _, v in experts]))
            return self._log_lik(reparameterize(mu, logvar, generator), x, ids, text_weight) - beta * gaussian_kl(mu, logvar)
        terms = []
        for mu, logvar in experts:  # one sample from each component (stratified), eq. 3.3.9
            z = reparameterize(mu, logvar, generator)
            log_q = torch.logsumexp(torch.stack([_log_normal(z, m, v) for m, v in experts]), 0) - math.log(len(experts))
            log_p = _log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
            terms.append(self._log_lik(z, x, ids, text_weight) - beta * (log_q - log_p))
        return torch.stack(terms).mean(0)

    def _unimodal_terms(self, x: torch.Tensor, ids: torch.Tensor, beta: float, cross: bool,
                        experts: list[tuple[torch.Tensor, torch.Tensor]], text_weight: float = 1.0) -> torch.Tensor:
        """MVAE's sub-sampled terms: q(z|x) and q(z|t) (each with the prior) must explain their own
        modality, ELBO(x) + ELBO(t); with ``cross=True`` each must explain *both* modalities, which
        is again a lower bound on log p(x, t) (eq. 3.3.8)."""
        total = 0.0
        for (mu, logvar), own in zip(experts, ("image", "text")):
            mu, logvar = product_of_experts(mu[None], logvar[None])  # with the prior, counted once
            z = reparameterize(mu, logvar)
            if cross:
                rec = self._log_lik(z, x, ids, text_weight)
            elif own == "image":
                rec = self.input_log_likelihood(self.decode_image(z), x)
            else:
                rec = text_weight * self.caption_decoder.log_likelihood(z, ids)
            total = total + rec - beta * gaussian_kl(mu, logvar)
        return total

    # ---- public API: CPU in, CPU out, no gradients ----
    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def _ids(self, captions: Sequence[str]) -> torch.Tensor:
        if isinstance(captions, str):
            raise TypeError("expected a list of captions; wrap a single caption in a list")
        if len(captions) == 0:
            raise ValueError("got an empty list of captions")
        return self.vocab.encode(list(captions), add_bos_eos=True).to(self._device())

    def _images(self, inputs: torch.Tensor) -> torch.Tensor:
        _check_images(inputs, dims=None)
        if tuple(inputs.shape[1:]) != self.image_shape:
            raise ValueError(f"expected inputs [N, {', '.join(map(str, self.image_shape))}], got {tuple(inputs.shape)}")
        return inputs.to(self._device(), torch.float32)

    def _text(self, ids: torch.Tensor) -> list[str]:
        return [self.vocab.decode(row) for row in ids.cpu()]

    @torch.no_grad()
    def generate(self, captions: Sequence[str], seed: int | None = None) -> torch.Tensor:
        """Caption -> image: z ~ q(z|t), image = E[x|z] = sigmoid(logits), ``[N, *image_shape]`` in [0, 1], CPU."""
        self.eval()
        mu, logvar = self.posterior(ids=self._ids(captions))
        gen = torch.Generator(device=mu.device).manual_seed(seed) if seed is not None else None
        return self.input_mean(self.decode_image(reparameterize(mu, logvar, gen))).cpu()

    @torch.no_grad()
    def describe(self, inputs: torch.Tensor, beam: int = 5) -> list[str]:
        """Image -> caption: beam search (``beam`` partial captions kept; 1 = greedy) from the
        posterior mean of q(z|x)."""
        self.eval()
        mu, _ = self.posterior(x=self._images(inputs))
        bos, eos = self.vocab.stoi[BOS], self.vocab.stoi[EOS]
        decoder = self.caption_decoder
        ids = decoder.greedy(mu, bos, eos) if beam == 1 else decoder.beam_search(mu, bos, eos, beam)
        return self._text(ids)

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None) -> tuple[torch.Tensor, list[str]]:
        """Joint samples from the prior: z ~ N(0, I), then the mean image and the greedy caption."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self.eval()
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        z = torch.randn(n, self.latent_dim, generator=gen).to(self._device())
        ids = self.caption_decoder.greedy(z, self.vocab.stoi[BOS], self.vocab.stoi[EOS])
        return self.input_mean(self.decode_image(z)).cpu(), self._text(ids)

    @torch.no_grad()
    def elbo(self, inputs: torch.Tensor, captions: Sequence[str], seed: int = 0) -> torch.Tensor:
        """A one-sample estimate of the joint ELBO <= log p(x, t), in nats per pair ``[N]`` (CPU)."""
        self.eval()
        x, ids = self._images(inputs), self._ids(captions)
        if len(x) != len(ids):
            raise ValueError(f"mismatched pairs: {len(x)} images but {len(ids)} captions")
        gen = torch.Generator(device=x.device).manual_seed(seed)
        return self._joint_terms(x, ids, 1.0, gen).cpu()


def train_multimodal_vae(pairs: PairedDataset, *, seed: int = 0, device: torch.device | str | None = None,
                         posterior: str = "poe", cross: bool = True, text_weight: float = 100.0,
                         latent_dim: int = 32, beta: float = 1.0,
                         hidden: int = 256, epochs: int = 40, batch_size: int = 128,
                         dual_encoder: DualEncoder | None | bool = None, lr: float = 2e-3, vocab: Vocabulary | None = None,
                         progress: bool = True) -> MultimodalVAE:
    """Train a :class:`MultimodalVAE` on image-caption pairs (Part 3.3).

    ``"poe"`` (MVAE): the loss per pair is -(ELBO(x, t) + ELBO(x) + ELBO(t)) with KL weight
    ``beta``; with ``cross=True`` (default) the unimodal posteriors must reconstruct both
    modalities (the book shows why: caption -> image coherence). ``"moe"`` (MMVAE): MMVAE's
    stratified mixture ELBO, whose components already reconstruct both modalities.
    ``text_weight`` multiplies the caption log-likelihood during training (a caption carries a
    few nats, an image about a hundred; Wu & Goodman weight the small modality up in the same
    way); :meth:`MultimodalVAE.elbo` always reports the unweighted bound. The image expert
    reads the pixels together with the frozen image tower of a Part 3.1 dual encoder
    (``dual_encoder``: a trained one, ``None`` to train one on ``pairs``, ``False`` for pixels
    only). The vocabulary is built from
    ``pairs.captions`` unless given. Returns the model on the CPU in eval mode with ``.history``
    (per-epoch ``loss``, ``joint``, ``unimodal``) and ``.train_seconds``.
    """
    _check_images(pairs.inputs, dims=None)
    likelihood = likelihood_for(pairs.modality)
    set_seed(seed)
    device = torch.device(device) if device is not None else get_device()
    vocab = vocab if vocab is not None else Vocabulary.build(pairs.captions, pairs.lang)
    ids = vocab.encode(pairs.captions, add_bos_eos=True)
    if dual_encoder is None:
        dual_encoder = train_dual_encoder(pairs, seed=seed, device=device, progress=progress)
    frozen = dual_encoder.input_encoder if dual_encoder else None  # ImageFeatures copies it
    model = MultimodalVAE(vocab, latent_dim, hidden, pairs.inputs.shape[1:], posterior, frozen,
                          frozen.out_dim if frozen is not None else 0, likelihood).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(TensorDataset(pairs.inputs.float(), ids), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))

    def step(batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, t = batch
        experts = model.experts(x, t)
        joint = model._joint_terms(x, t, beta, experts=experts, text_weight=text_weight).mean()
        loss = -joint
        if posterior == "poe":
            unimodal = model._unimodal_terms(x, t, beta, cross, experts, text_weight).mean()
            loss = loss - unimodal
        else:
            unimodal = torch.zeros(())
        opt.zero_grad(set_to_none=True)
        if torch.isfinite(loss):
            loss.backward()
            opt.step()
        return {"loss": loss, "joint": joint, "unimodal": unimodal}

    start = time.perf_counter()
    model.history = train(step, loader, epochs=epochs, device=device, progress=progress,
                          desc=f"multimodal VAE ({posterior})")
    model.train_seconds = time.perf_counter() - start
    return model.cpu().eval()
