"""Convolution as one matrix product (im2col), and max pooling by reshape: XLA CPU's fast path.

Why: on CPU, XLA runs a convolution inside a loop (``lax.scan``, which
``medjax.train.fit`` uses to run several steps per call) up to 10x slower than
the same convolution outside one, and ``reduce_window`` max pooling's gradient
(``select_and_scatter``) is slow too. A 3x3 convolution written as nine shifted
slices concatenated on the channel axis, times the kernel reshaped to
``(9 * C_in, C_out)``, is one large matmul that XLA hands to its tuned GEMM,
inside a loop or not, and its gradient is two matmuls plus slice additions.
``benchmarks/README.md`` has the figures.

:func:`conv_general_dilated` is a drop-in for ``lax.conv_general_dilated`` (Flax:
``nn.Conv(..., conv_general_dilated=conv_general_dilated)``): it uses im2col on
CPU for the common case (2-D, NHWC/HWIO, no dilation, no groups) and
``lax.conv_general_dilated`` on every other platform (cuDNN on GPU) and for
every other case, so the same model code runs unchanged everywhere. The
parameters and the results are those of ``lax.conv_general_dilated``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

NHWC_HWIO = lax.ConvDimensionNumbers(lhs_spec=(0, 3, 1, 2), rhs_spec=(3, 2, 0, 1), out_spec=(0, 3, 1, 2))


def conv_im2col(x: jax.typing.ArrayLike, kernel: jax.typing.ArrayLike, strides: Sequence[int] = (1, 1),
                padding: str | Sequence[tuple[int, int]] = "SAME", precision: Any = None) -> jax.Array:
    """2-D cross-correlation ``(N, H, W, C) * (kh, kw, C, K) -> (N, Ho, Wo, K)`` as one matmul.

    ``y[n, i, j, k] = sum_{a, b, c} xpad[n, s_h i + a, s_w j + b, c] * kernel[a, b, c, k]``:
    the ``kh * kw`` shifted (strided) views of the padded input are concatenated
    on the channel axis into patches ``(N, Ho, Wo, kh * kw * C)`` and multiplied
    by the kernel reshaped to ``(kh * kw * C, K)``. ``padding`` is ``"SAME"``,
    ``"VALID"`` or ``((top, bottom), (left, right))``, as in ``lax``.

    >>> import jax.numpy as jnp
    >>> x = jnp.arange(16.0).reshape(1, 4, 4, 1); k = jnp.ones((3, 3, 1, 1))
    >>> print(conv_im2col(x, k, padding="VALID")[0, :, :, 0])
    [[45. 54.]
     [81. 90.]]
    """
    x, kernel = jnp.asarray(x), jnp.asarray(kernel)
    kh, kw, cin, cout = kernel.shape
    sh, sw = strides
    if isinstance(padding, str):
        padding = lax.padtype_to_pads(x.shape[1:3], (kh, kw), (sh, sw), padding)
    (top, bottom), (left, right) = padding
    x = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    ho, wo = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
    views = [x[:, a:a + (ho - 1) * sh + 1:sh, b:b + (wo - 1) * sw + 1:sw, :] for a in range(kh) for b in range(kw)]
    patches = views[0] if len(views) == 1 else jnp.concatenate(views, axis=-1)
    n = x.shape[0]
    # a 2-D matmul: its gradient is 2-D matmuls too (a contraction over (N, Ho, Wo) is ~1.8x slower on CPU)
    y = lax.dot(patches.reshape(n * ho * wo, kh * kw * cin), kernel.reshape(kh * kw * cin, cout), precision=precision)
    return y.reshape(n, ho, wo, cout)


def _is_nhwc_hwio(dimension_numbers: Any) -> bool:
    if dimension_numbers is None or isinstance(dimension_numbers, lax.ConvDimensionNumbers):
        return dimension_numbers == NHWC_HWIO
    return tuple(dimension_numbers) == ("NHWC", "HWIO", "NHWC")


def conv_general_dilated(lhs: jax.Array, rhs: jax.Array, window_strides: Sequence[int], padding: Any,
                         lhs_dilation: Sequence[int] | None = None, rhs_dilation: Sequence[int] | None = None,
                         dimension_numbers: Any = None, feature_group_count: int = 1,
                         batch_group_count: int = 1, precision: Any = None,
                         preferred_element_type: Any = None) -> jax.Array:
    """``lax.conv_general_dilated``, computed by :func:`conv_im2col` on CPU where it applies.

    The im2col path covers 2-D NHWC/HWIO convolutions without dilation or
    groups; anything else, and every non-CPU platform, goes to
    ``lax.conv_general_dilated`` unchanged (``lax.platform_dependent`` picks
    the branch when the step is compiled).

    >>> import jax, jax.numpy as jnp
    >>> x = jax.random.normal(jax.random.key(0), (2, 5, 5, 3)); k = jax.random.normal(jax.random.key(1), (3, 3, 3, 4))
    >>> ref = lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    >>> y = conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    >>> bool(jnp.allclose(y, ref, atol=1e-5))
    True
    """
    def reference(lhs, rhs):
        return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                        dimension_numbers, feature_group_count, batch_group_count,
                                        precision, preferred_element_type)

    undilated = all(d == 1 for d in (lhs_dilation or (1, 1))) and all(d == 1 for d in (rhs_dilation or (1, 1)))
    plain = (jnp.ndim(lhs) == 4 and _is_nhwc_hwio(dimension_numbers) and undilated
             and feature_group_count == 1 and batch_group_count == 1 and preferred_element_type is None)
    if not plain:
        return reference(lhs, rhs)

    def im2col(lhs, rhs):
        return conv_im2col(lhs, rhs, tuple(window_strides), padding, precision)

    return lax.platform_dependent(lhs, rhs, cpu=im2col, default=reference)


def max_pool_blocks(x: jax.typing.ArrayLike, window: tuple[int, int] = (2, 2)) -> jax.Array:
    """Max over non-overlapping ``window`` blocks of ``(N, H, W, C)`` (stride = window, VALID).

    ``y[n, i, j, c] = max_{a < wh, b < ww} x[n, wh i + a, ww j + b, c]``; rows and
    columns past the last whole block are dropped (``H // wh`` rows), exactly as
    ``nn.max_pool(x, window, strides=window)``. A reshape and a max-reduction:
    no ``reduce_window``, whose gradient is slow on CPU. The gradient goes to
    the block's maximum (shared equally between exact ties).

    >>> import jax.numpy as jnp
    >>> x = jnp.arange(25.0).reshape(1, 5, 5, 1)
    >>> print(max_pool_blocks(x)[0, :, :, 0])
    [[ 6.  8.]
     [16. 18.]]
    """
    x = jnp.asarray(x)
    n, h, w, c = x.shape
    wh, ww = window
    x = x[:, :h // wh * wh, :w // ww * ww, :]
    return x.reshape(n, h // wh, wh, w // ww, ww, c).max(axis=(2, 4))
