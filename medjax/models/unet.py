"""A small U-Net for segmentation of 28x28 and 64x64 images."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from medjax.models._im2col import conv_general_dilated, max_pool_blocks


class _DoubleConv(nn.Module):
    """``(Conv3x3 -> (BatchNorm) -> ReLU) x 2``."""

    features: int
    batch_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        for _ in range(2):
            x = nn.Conv(self.features, (3, 3), padding="SAME", use_bias=not self.batch_norm,
                        conv_general_dilated=conv_general_dilated)(x)
            if self.batch_norm:
                x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
            x = nn.relu(x)
        return x


class UNet(nn.Module):
    """Encoder-decoder with skip connections; output logits keep the input's height and width.

    Encoder level ``l`` (``l = 0 .. depth-1``) is a double conv with
    ``base * 2**l`` channels followed by a 2x2 max-pool; the bottleneck has
    ``base * 2**depth`` channels; each decoder level upsamples with a 2x2
    stride-2 transposed conv, concatenates the skip of the same level and applies
    a double conv; a 1x1 conv gives ``num_outputs`` logits per pixel.

    Sizes that are not a multiple of ``2**depth`` are zero-padded bottom/right to
    the next multiple and the output is cropped back, so 28 (= 4 x 7) and 64 run
    without padding while e.g. 30 still works.

    Args:
        depth: number of pooling steps.
        base: channels of the first level.
        num_outputs: logits per pixel (1 for a binary mask).
        batch_norm: BatchNorm after every 3x3 conv.

    >>> import jax, jax.numpy as jnp
    >>> model = UNet()
    >>> variables = model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))
    >>> model.apply(variables, jnp.zeros((2, 28, 28, 1))).shape
    (2, 28, 28, 1)
    >>> model.apply(variables, jnp.zeros((1, 30, 30, 1))).shape
    (1, 30, 30, 1)
    """

    depth: int = 2
    base: int = 16
    num_outputs: int = 1
    batch_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Per-pixel logits ``(N, H, W, num_outputs)`` for images ``(N, H, W, C)``."""
        n, h, w, _ = x.shape
        step = 2**self.depth
        ph, pw = -h % step, -w % step
        x = jnp.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)))
        skips = []
        for level in range(self.depth):
            x = _DoubleConv(self.base * 2**level, self.batch_norm)(x, train)
            skips.append(x)
            x = max_pool_blocks(x, (2, 2))
        x = _DoubleConv(self.base * 2**self.depth, self.batch_norm)(x, train)
        for level in reversed(range(self.depth)):
            width = self.base * 2**level
            x = nn.ConvTranspose(width, (2, 2), strides=(2, 2))(x)
            x = jnp.concatenate([x, skips[level]], axis=-1)
            x = _DoubleConv(width, self.batch_norm)(x, train)
        x = nn.Conv(self.num_outputs, (1, 1), conv_general_dilated=conv_general_dilated)(x)
        return x[:, :h, :w, :]
