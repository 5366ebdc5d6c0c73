"""Flax linen models for the course: pure ``init`` / ``apply``, NHWC images.

Every model's ``__call__(x, train=False)`` maps ``(N, H, W, C)`` images to logits
(``(N, num_outputs)``, or ``(N, H, W, num_outputs)`` for :class:`UNet`). Dropout
is active and BatchNorm statistics are updated only with ``train=True``.

>>> import jax, jax.numpy as jnp
>>> from medjax.models import SimpleCNN
>>> variables = SimpleCNN().init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))
>>> sorted(variables)
['params']
"""
from __future__ import annotations

from medjax.models.cnn import SimpleCNN
from medjax.models.logistic import LogisticRegression
from medjax.models.mlp import MLP
from medjax.models.resnet import ResidualBlock, ResNet
from medjax.models.unet import UNet

# command-line / config names -> model class
MODELS = {
    "logistic": LogisticRegression,
    "mlp": MLP,
    "simple_cnn": SimpleCNN,
    "cnn": SimpleCNN,
    "resnet": ResNet,
    "unet": UNet,
}

__all__ = ["MODELS", "LogisticRegression", "MLP", "ResNet", "ResidualBlock", "SimpleCNN", "UNet"]
