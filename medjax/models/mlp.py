"""Multi-layer perceptron on flattened pixels."""
from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax


class MLP(nn.Module):
    """Flatten, then ``Dense -> ReLU -> Dropout`` per hidden layer, then a dense head.

    ``h_{l+1} = dropout(relu(h_l W_l + b_l))``, ``logits = h_L W + b``.
    Parameters: ``sum_l (n_l + 1) * n_{l+1}`` over the layer widths
    ``n_0 = H * W * C, hidden..., num_outputs``.

    Args:
        hidden: widths of the hidden layers.
        num_outputs: number of logits per image.
        dropout: drop rate after each hidden layer (active only with ``train=True``,
            which needs a ``"dropout"`` rng).

    >>> import jax, jax.numpy as jnp
    >>> model = MLP(hidden=(32,), num_outputs=2)
    >>> variables = model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))
    >>> model.apply(variables, jnp.zeros((3, 28, 28, 1))).shape
    (3, 2)
    """

    hidden: Sequence[int] = (128,)
    num_outputs: int = 1
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Logits ``(N, num_outputs)`` for images ``(N, H, W, C)``."""
        x = x.reshape((x.shape[0], -1))
        for width in self.hidden:
            x = nn.relu(nn.Dense(width)(x))
            x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_outputs)(x)
