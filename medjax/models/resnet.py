"""A small residual network for 28x28 medical images."""
from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from medjax.models._im2col import conv_general_dilated
from medjax.models._tap import tap


class ResidualBlock(nn.Module):
    """Basic residual block: ``relu(BN(conv(relu(BN(conv(x))))) + shortcut(x))``.

    Both convs are 3x3 SAME without bias (BatchNorm has the shift); the first one
    has stride ``strides``. The shortcut is the identity when the shape is kept,
    and a projection (1x1 conv with the same stride, then BatchNorm) when the
    channel count or the stride changes.

    Args:
        features: output channels.
        strides: stride of the first conv and of the projection.

    >>> import jax, jax.numpy as jnp
    >>> block = ResidualBlock(features=8, strides=2)
    >>> variables = block.init(jax.random.key(0), jnp.zeros((1, 28, 28, 4)))
    >>> sorted(variables)
    ['batch_stats', 'params']
    >>> block.apply(variables, jnp.zeros((2, 28, 28, 4))).shape
    (2, 14, 14, 8)
    """

    features: int
    strides: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """The block's output ``(N, ceil(H / s), ceil(W / s), features)``."""
        norm = lambda name: nn.BatchNorm(use_running_average=not train, momentum=0.9, name=name)  # noqa: E731
        s = (self.strides, self.strides)
        y = nn.Conv(self.features, (3, 3), strides=s, padding="SAME", use_bias=False, name="conv1",
                    conv_general_dilated=conv_general_dilated)(x)
        y = nn.relu(norm("bn1")(y))
        y = nn.Conv(self.features, (3, 3), padding="SAME", use_bias=False, name="conv2",
                    conv_general_dilated=conv_general_dilated)(y)
        y = norm("bn2")(y)
        shortcut = x
        if x.shape[-1] != self.features or self.strides != 1:
            shortcut = nn.Conv(self.features, (1, 1), strides=s, use_bias=False, name="proj_conv",
                               conv_general_dilated=conv_general_dilated)(x)
            shortcut = norm("proj_bn")(shortcut)
        return nn.relu(y + shortcut)


class ResNet(nn.Module):
    """Stem conv, stages of :class:`ResidualBlock`, global average pool, dense head.

    The stem is a 3x3 conv (no bias) + BatchNorm + ReLU with ``widths[0]``
    channels and no pooling (28x28 is small already). Stage ``i`` has
    ``stage_sizes[i]`` blocks of width ``widths[i]``; every stage after the first
    starts with stride 2 (28 -> 14 -> 7). Each stage's output is tapped as
    ``"stage{i}"`` for Grad-CAM. BatchNorm statistics live in ``"batch_stats"``.

    Args:
        stage_sizes: blocks per stage.
        widths: channels per stage.
        num_outputs: number of logits per image.

    >>> import jax, jax.numpy as jnp
    >>> model = ResNet()
    >>> variables = model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))
    >>> logits, updates = model.apply(variables, jnp.zeros((2, 28, 28, 1)), train=True,
    ...                               mutable=["batch_stats"])
    >>> logits.shape, sorted(updates)
    ((2, 1), ['batch_stats'])
    """

    stage_sizes: Sequence[int] = (1, 1, 1)
    widths: Sequence[int] = (16, 32, 64)
    num_outputs: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Logits ``(N, num_outputs)`` for images ``(N, H, W, C)``."""
        if len(self.stage_sizes) != len(self.widths):
            raise ValueError(f"ResNet: 'stage_sizes' and 'widths' must have the same length, "
                             f"got {len(self.stage_sizes)} and {len(self.widths)}")
        x = nn.Conv(self.widths[0], (3, 3), padding="SAME", use_bias=False, name="stem_conv",
                    conv_general_dilated=conv_general_dilated)(x)
        x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9, name="stem_bn")(x))
        for i, (blocks, width) in enumerate(zip(self.stage_sizes, self.widths)):
            for j in range(blocks):
                strides = 2 if i > 0 and j == 0 else 1
                x = ResidualBlock(width, strides, name=f"stage{i}_block{j}")(x, train)
            x = tap(self, f"stage{i}", x)
        x = x.mean(axis=(1, 2))
        return nn.Dense(self.num_outputs, name="head")(x)
