"""The course's small convolutional network: conv-ReLU-pool blocks and a dense head."""
from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from medjax.models._conv_pool import conv_relu_pool
from medjax.models._im2col import conv_general_dilated, max_pool_blocks
from medjax.models._tap import tap


class ConvParams(nn.Module):
    """The ``kernel`` and ``bias`` of an ``nn.Conv`` (same names, shapes and initialisers), not applied.

    >>> import jax
    >>> k, b = ConvParams(4).init_with_output(jax.random.key(0), 3)[0]
    >>> k.shape, b.shape
    ((3, 3, 3, 4), (4,))
    """

    features: int
    kernel_size: tuple[int, int] = (3, 3)

    @nn.compact
    def __call__(self, in_features: int) -> tuple[jax.Array, jax.Array]:
        """``(kernel (kh, kw, in_features, features), bias (features,))``."""
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (*self.kernel_size, in_features, self.features))
        return kernel, self.param("bias", nn.initializers.zeros_init(), (self.features,))


class SimpleCNN(nn.Module):
    """``[Conv3x3(SAME) -> (BatchNorm) -> ReLU -> MaxPool2x2] x len(features)``, flatten, dropout, dense.

    A 28x28 input shrinks 28 -> 14 -> 7 -> 3 through the three pools (the floor
    of ``H / 2``). Each block's activation (after ReLU, before pooling) is
    tapped as ``"block{i}"`` for Grad-CAM. Without BatchNorm, and when no tap is
    read, each block is one :func:`~medjax.models._conv_pool.conv_relu_pool`
    (the same parameters and results, computed without the full-resolution
    activation). Parameters per conv:
    ``3 * 3 * C_in * C_out + C_out`` (no conv bias, and ``2 * C_out`` BatchNorm
    scale and shift, when ``batch_norm=True``); head: ``(h * w * C_last + 1) * num_outputs``,
    or ``(C_last + 1) * num_outputs`` with ``global_pool=True`` (average over space
    instead of flatten: then classic Grad-CAM is the class activation map and
    localises; see :func:`medjax.interpret.grad_cam`).

    Args:
        features: output channels of each conv block.
        num_outputs: number of logits per image.
        batch_norm: add BatchNorm after each conv (its running statistics live in
            the ``"batch_stats"`` collection; update them with ``mutable=["batch_stats"]``).
        dropout: drop rate before the head (active only with ``train=True``).
        global_pool: average the last feature map over space instead of flattening it.

    >>> import jax, jax.numpy as jnp
    >>> model = SimpleCNN()
    >>> variables = model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))
    >>> model.apply(variables, jnp.zeros((2, 28, 28, 1))).shape
    (2, 1)
    >>> variables["params"]["Dense_0"]["kernel"].shape  # 3 * 3 * 64 flattened features
    (576, 1)
    """

    features: Sequence[int] = (16, 32, 64)
    num_outputs: int = 1
    batch_norm: bool = False
    dropout: float = 0.0
    global_pool: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Logits ``(N, num_outputs)`` for images ``(N, H, W, C)``."""
        tapping = (self.is_mutable_collection("intermediates") or self.is_mutable_collection("perturbations")
                   or self.has_variable("perturbations", "block0"))
        for i, width in enumerate(self.features):
            if not (self.batch_norm or tapping) and min(x.shape[1:3]) >= 2:
                x = conv_relu_pool(x, *ConvParams(width, name=f"Conv_{i}")(x.shape[-1]))
                continue
            x = nn.Conv(width, (3, 3), padding="SAME", use_bias=not self.batch_norm, name=f"Conv_{i}",
                        conv_general_dilated=conv_general_dilated)(x)  # im2col on CPU
            if self.batch_norm:
                x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
            x = tap(self, f"block{i}", nn.relu(x))
            x = max_pool_blocks(x, (2, 2))  # = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = x.mean(axis=(1, 2)) if self.global_pool else x.reshape((x.shape[0], -1))
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_outputs)(x)
