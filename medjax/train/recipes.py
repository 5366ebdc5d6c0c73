"""Training recipes: a model plus the ``fit`` settings that make it work on one dataset.

:func:`pneumonia_recipe` is the PneumoniaMNIST recipe measured in
``benchmarks/pneumonia_accuracy.py`` (see ``benchmarks/README.md``): a small
CNN that standardises each image, trained with a class-balanced loss and
augmentation; several seeds are averaged (:func:`ensemble_predict`), each
with left-right test-time augmentation. Everything in it was chosen on the
validation split.

>>> r = pneumonia_recipe(members=1, epochs=1)
>>> type(r.model).__name__, r.fit_kwargs["class_weight"], r.seeds
('PneumoniaCNN', 'balanced', (0,))
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import flax.linen as nn
import jax
import numpy as np

from medjax.data.augment import augment as _augment
from medjax.models._im2col import conv_general_dilated, max_pool_blocks


class PneumoniaCNN(nn.Module):
    """Per-image standardisation, ``[Conv3x3 -> BN -> ReLU -> MaxPool2]`` blocks, global average pool, dense.

    The input is standardised per image, ``(x - mean) / (std + eps)`` over
    ``H, W, C``, so that exposure (brightness, contrast) differences between
    X-ray machines do not reach the convolutions. The global average pool
    keeps the head small (``C_last + 1`` weights per output). Convolutions and
    pooling take XLA CPU's fast path (:mod:`medjax.models._im2col`: im2col
    matmuls, reshape max pooling), with the results of ``nn.Conv`` and
    ``nn.max_pool``.

    Args:
        features: output channels of each conv block.
        num_outputs: logits per image.
        dropout: drop rate before the head (only with ``train=True``).

    >>> import jax, jax.numpy as jnp
    >>> model = PneumoniaCNN(features=(8, 16))
    >>> variables = model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))
    >>> model.apply(variables, jnp.ones((2, 28, 28, 1))).shape
    (2, 1)
    """

    features: Sequence[int] = (32, 64, 128)
    num_outputs: int = 1
    dropout: float = 0.2

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Logits ``(N, num_outputs)`` for images ``(N, H, W, C)``."""
        mean = x.mean(axis=(1, 2, 3), keepdims=True)
        std = x.std(axis=(1, 2, 3), keepdims=True)
        x = (x - mean) / (std + 1e-3)
        for width in self.features:
            x = nn.Conv(width, (3, 3), padding="SAME", use_bias=False,
                        conv_general_dilated=conv_general_dilated)(x)  # im2col on CPU (XLA's fast path)
            x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9)(x))
            x = max_pool_blocks(x, (2, 2))  # = nn.max_pool(x, (2, 2), strides=(2, 2)), faster gradient on CPU
        x = x.mean(axis=(1, 2))
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_outputs)(x)


@dataclass(frozen=True)
class Recipe:
    """A model, the keyword arguments for :func:`medjax.train.fit`, the seeds and the test-time flips.

    Train one member per seed with ``fit(recipe.model, train, val, seed=s,
    **recipe.fit_kwargs)`` and average with :func:`ensemble_predict`.
    """

    model: nn.Module
    fit_kwargs: dict[str, Any] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0,)
    tta: bool = True


def pneumonia_recipe(*, members: int = 3, epochs: int = 10, features: Sequence[int] = (16, 32, 64),
                     first_seed: int = 0) -> Recipe:
    """The PneumoniaMNIST recipe: :class:`PneumoniaCNN`, balanced loss, augmentation, flips at test time.

    Args:
        members: ensemble size.
        epochs: epochs per member.
        features: conv widths of :class:`PneumoniaCNN`.
        first_seed: the members use seeds ``first_seed .. first_seed + members - 1``.

    >>> r = pneumonia_recipe(members=2)
    >>> r.seeds, r.fit_kwargs["epochs"], r.tta
    ((0, 1), 10, True)
    """
    aug = partial(_augment, horizontal_flip=True, max_degrees=10, max_pixels=2, brightness=0.1, contrast=0.2)
    kwargs = dict(epochs=epochs, batch_size=128, lr=2e-3, weight_decay=1e-4, class_weight="balanced",
                  augment=aug)
    return Recipe(PneumoniaCNN(features=tuple(features)), kwargs, tuple(range(first_seed, first_seed + members)), True)


def ensemble_predict(states: Sequence[Any], images: Any, *, tta: bool = True, batch_size: int = 512) -> np.ndarray:
    """Mean probability over ensemble members (and over left-right flips with ``tta``).

    ``p(x) = mean_m (p_m(x) + p_m(flip(x))) / 2``; each ``p_m`` is
    :func:`medjax.train.predict` (dropout off, running BatchNorm statistics).

    >>> import numpy as np, optax, jax
    >>> from medjax.models import LogisticRegression
    >>> from medjax.train import create_train_state
    >>> x = np.zeros((3, 4, 4, 1), np.float32)
    >>> s = create_train_state(LogisticRegression(), jax.random.key(0), x[:1], optax.sgd(0.1))
    >>> ensemble_predict([s, s], x).round(3).tolist()
    [0.5, 0.5, 0.5]
    """
    from medjax.train.loop import predict

    if not states:
        raise ValueError("ensemble_predict: 'states' is empty; give at least one trained state")
    images = np.asarray(images, dtype=np.float32)
    views = [images, images[:, :, ::-1]] if tta else [images]
    probs = [predict(s, v, batch_size=batch_size) for s in states for v in views]
    return np.mean(probs, axis=0)


def prior_shift(probs: Any, train_prior: float, target_prior: float) -> np.ndarray:
    """Move probabilities from the class prior seen in training to another one (Bayes' rule).

    ``odds' = odds * (pi_t / (1 - pi_t)) / (pi_s / (1 - pi_s))``, where
    ``pi_s`` is the positive share the loss effectively saw (0.5 with a
    class-balanced loss) and ``pi_t`` the target share. Derive both from the
    train and validation labels, never from the test split.

    >>> prior_shift([0.5, 0.9], train_prior=0.5, target_prior=0.75).round(4).tolist()
    [0.75, 0.9643]
    """
    for name, value in (("train_prior", train_prior), ("target_prior", target_prior)):
        if not 0.0 < value < 1.0:
            raise ValueError(f"prior_shift: {name!r} must be in (0, 1), got {value}")
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1 - 1e-12)
    log_odds = np.log(p / (1 - p)) + np.log(target_prior / (1 - target_prior)) - np.log(train_prior / (1 - train_prior))
    return 1.0 / (1.0 + np.exp(-log_odds))
