"""Logistic regression on flattened pixels: the baseline every model must beat."""
from __future__ import annotations

import flax.linen as nn
import jax


class LogisticRegression(nn.Module):
    """Flatten, then one dense layer: ``logits = flatten(x) @ W + b``.

    With ``num_outputs=1`` this is binary logistic regression
    (``p = sigmoid(logit)``); with ``K`` outputs and a softmax it is
    multinomial. Parameters: ``H * W * C * num_outputs + num_outputs``.

    Args:
        num_outputs: number of logits per image.

    >>> import jax, jax.numpy as jnp
    >>> model = LogisticRegression(num_outputs=1)
    >>> variables = model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))
    >>> variables["params"]["Dense_0"]["kernel"].shape
    (784, 1)
    >>> model.apply(variables, jnp.zeros((4, 28, 28, 1))).shape
    (4, 1)
    """

    num_outputs: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Logits ``(N, num_outputs)`` for images ``(N, H, W, C)``; ``train`` is unused."""
        del train  # no dropout or batch norm: same in training and evaluation
        x = x.reshape((x.shape[0], -1))  # NHWC flatten order: row, column, channel
        return nn.Dense(self.num_outputs)(x)
