"""Part 4's three corrected models in Keras 3, the API the source used, on the PyTorch backend.

Keras 3 runs the same model code on TensorFlow, JAX or PyTorch. The book uses the PyTorch
backend (``KERAS_BACKEND=torch``), so no TensorFlow install is needed and a Keras tensor *is* a
``torch.Tensor``. Every function mirrors one in :mod:`crossmodal_lib.minimal`, layer for layer,
and :func:`copy_from_torch` copies a PyTorch model's weights in, so the tests can check that both
compute the same losses on the same weights. ``keras`` is imported inside the functions: the
rest of the library works without it, and a missing install gets an error that names it.

Shapes: ``two_towers`` -> (image tower ``[N, input_dim] -> [N, dim]``, text tower
``[N, vocab_size] -> [N, dim]``); ``gan`` -> (G ``[N, z_dim + cond_dim] -> [N, data_dim]``,
D ``[N, data_dim + cond_dim] -> [N, 1]``); ``vae`` -> a ``keras.Model`` whose ``call(x)``
returns the one-sample ELBO per example ``[N]`` and whose ``fit`` maximises it.
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch
from torch import nn

from ..likelihoods import PIXEL_COUNTS


def import_keras() -> Any:
    """Import Keras 3 on the PyTorch backend; clear errors if it is missing or on another backend."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError as err:
        raise ImportError("Part 4's Keras models need the PyPI package 'keras' (Keras 3): pip install keras") from err
    if keras.backend.backend() != "torch":
        raise RuntimeError(f"Keras was imported with the {keras.backend.backend()!r} backend; set "
                           "KERAS_BACKEND=torch before the first `import keras` (e.g. restart the kernel)")
    return keras


def _mlp(sizes: list[int], activations: list[str | None], name: str) -> Any:
    """keras.Sequential of Dense layers: sizes[0] inputs, then one layer per later size."""
    keras = import_keras()
    layers = [keras.layers.Dense(n, activation=a) for n, a in zip(sizes[1:], activations)]
    return keras.Sequential([keras.Input((sizes[0],)), *layers], name=name)


def two_towers(input_dim: int, vocab_size: int, dim: int = 32, hidden: int = 128) -> tuple[Any, Any]:
    """(image tower, text tower), each Dense -> ReLU -> Dense, like :class:`~crossmodal_lib.minimal.TwoTowers`."""
    return (_mlp([input_dim, hidden, dim], ["relu", None], "image_tower"),
            _mlp([vocab_size, hidden, dim], ["relu", None], "text_tower"))


def contrastive_loss(u: Any, v: Any, temperature: float = 0.1) -> Any:
    """Symmetric InfoNCE (eq-infonce) in ``keras.ops`` on raw tower outputs ``[B, d]``: it L2-normalises
    the rows itself (the PyTorch twin normalises inside ``TwoTowers.forward`` instead)."""
    ops = import_keras().ops
    u, v = u / ops.norm(u, axis=1, keepdims=True), v / ops.norm(v, axis=1, keepdims=True)
    logits = ops.matmul(u, ops.transpose(v)) / temperature
    target = ops.arange(ops.shape(u)[0])
    ce = lambda s: ops.mean(ops.sparse_categorical_crossentropy(target, s, from_logits=True))  # noqa: E731
    return (ce(logits) + ce(ops.transpose(logits))) / 2


def gan(data_dim: int, cond_dim: int, z_dim: int = 16, hidden: tuple[int, int] = (128, 64)) -> tuple[Any, Any]:
    """(generator, discriminator) like :class:`~crossmodal_lib.minimal.GAN`; both read ``concat([z or x, c])``."""
    keras = import_keras()
    h1, h2 = hidden
    leaky = lambda: keras.layers.LeakyReLU(negative_slope=0.2)  # noqa: E731
    discriminator = keras.Sequential([keras.Input((data_dim + cond_dim,)), keras.layers.Dense(h1), leaky(),
                                      keras.layers.Dense(h2), leaky(), keras.layers.Dense(1)], name="discriminator")
    return _mlp([z_dim + cond_dim, h1, h2, data_dim], ["relu", "relu", "sigmoid"], "generator"), discriminator


def discriminator_loss(real_logits: Any, fake_logits: Any) -> Any:
    """-log D(x) - log(1 - D(G(z))) as softplus(-l_real) + softplus(l_fake), batch means."""
    ops = import_keras().ops
    return ops.mean(ops.softplus(-real_logits)) + ops.mean(ops.softplus(fake_logits))


def generator_loss(fake_logits: Any) -> Any:
    """The non-saturating generator loss -log D(G(z)) = softplus(-l), a batch mean."""
    ops = import_keras().ops
    return ops.mean(ops.softplus(-fake_logits))


def vae(input_dim: int = 64, latent_dim: int = 16, hidden: int = 256, seed: int = 0) -> Any:
    """A Keras VAE with :class:`~crossmodal_lib.minimal.VAE`'s layers; ``model(x)`` is the ELBO ``[N]``.

    ``model.elbo(x, eps)`` returns (ELBO, log p(x|z), KL), each ``[N]``, for given noise ``eps``
    ``[N, latent_dim]`` (drawn from the model's seed generator when ``None``). ``compile`` then
    ``fit(x)`` maximise the mean ELBO; no labels are needed.
    """
    keras = import_keras()
    ops = keras.ops
    # log C(16, k) for k = 0..16: a constant, looked up per pixel
    log_choose = [math.lgamma(PIXEL_COUNTS + 1) - math.lgamma(k + 1) - math.lgamma(PIXEL_COUNTS - k + 1)
                  for k in range(PIXEL_COUNTS + 1)]

    class VAE(keras.Model):
        def __init__(self) -> None:
            super().__init__(name="vae")
            self.latent_dim = latent_dim
            self.encoder = _mlp([input_dim, hidden, hidden, 2 * latent_dim], ["relu", "relu", None], "encoder")
            self.decoder = _mlp([latent_dim, hidden, hidden, input_dim], ["relu", "relu", None], "decoder")
            self.noise = keras.random.SeedGenerator(seed)

        def elbo(self, x: Any, eps: Any = None) -> tuple[Any, Any, Any]:
            x = ops.convert_to_tensor(x, dtype="float32")
            mu, logvar = ops.split(self.encoder(x), 2, axis=1)
            eps = keras.random.normal(ops.shape(mu), seed=self.noise) if eps is None else ops.convert_to_tensor(eps)
            z = mu + ops.exp(0.5 * logvar) * eps
            logits, k = self.decoder(z), ops.round(x * PIXEL_COUNTS)
            table = ops.take(ops.convert_to_tensor(log_choose), ops.cast(k, "int32"))
            rec = ops.sum(table + k * ops.log_sigmoid(logits) + (PIXEL_COUNTS - k) * ops.log_sigmoid(-logits), axis=1)
            kl = 0.5 * ops.sum(ops.exp(logvar) + mu ** 2 - 1 - logvar, axis=1)
            return rec - kl, rec, kl

        def call(self, x: Any) -> Any:
            return self.elbo(x)[0]

        def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None,
                         training: bool = True) -> Any:
            return -ops.mean(y_pred)  # y_pred is call(x), the ELBO of each example

    return VAE()


def copy_from_torch(keras_model: Any, torch_model: nn.Module) -> None:
    """Copy every ``nn.Linear`` of ``torch_model`` into the Dense layers of ``keras_model``, in order.

    A Dense kernel is ``[in, out]`` and computes ``x @ kernel + bias``; ``nn.Linear`` stores
    ``weight [out, in]`` and computes ``x @ weight.T + bias``: the kernel is the transpose.
    """
    keras = import_keras()
    dense = [layer for layer in _layers(keras_model) if isinstance(layer, keras.layers.Dense)]
    linear = [m for m in torch_model.modules() if isinstance(m, nn.Linear)]
    if len(dense) != len(linear):
        raise ValueError(f"the Keras model has {len(dense)} Dense layers but the PyTorch model {len(linear)} Linear")
    for layer, lin in zip(dense, linear):
        if tuple(layer.kernel.shape) != (lin.in_features, lin.out_features):
            raise ValueError(f"layer {layer.name}: kernel {tuple(layer.kernel.shape)} vs Linear "
                             f"({lin.in_features}, {lin.out_features})")
        layer.kernel.assign(lin.weight.detach().T.cpu().numpy())
        layer.bias.assign(lin.bias.detach().cpu().numpy())


def _layers(model: Any) -> list[Any]:
    """All leaf layers of a Keras model, nested Sequential models flattened, in order."""
    out = []
    for layer in model.layers:
        out += _layers(layer) if hasattr(layer, "layers") and layer.layers else [layer]
    return out


def to_torch(x: Any) -> torch.Tensor:
    """A Keras (torch-backend) tensor or array as a CPU ``torch.Tensor`` (float32), detached."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().float()
    return torch.as_tensor(import_keras().ops.convert_to_numpy(x)).float()
