"""Pooling (max, average, min) over spatial windows, and flatten.

Windows never overlap the border: there is no padding ("valid" pooling), so
the output size is ``floor((in - window) / stride) + 1``.

>>> import jax.numpy as jnp
>>> x = jnp.array([[1, 3, 2, 1], [4, 2, 0, 1], [5, 1, 2, 3], [0, 2, 4, 1]])
>>> max_pool(x)
Array([[4, 2],
       [5, 4]], dtype=int32)
>>> avg_pool(x)
Array([[2.5, 1. ],
       [2. , 2.5]], dtype=float32)
"""
from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from medjax._checks import ShapeError, check_ndim
from medjax.conv import _pair
from medjax.sizes import conv_geometry

_LAYOUT = "(H, W), (H, W, C) or (N, H, W, C)"


def _pool(fn: str, x: ArrayLike, window: Any, stride: Any, init: Callable[[Any], Any],
          op: Callable[[Any, Any], Any]) -> jax.Array:
    x = jnp.asarray(x)
    ndim = check_ndim(fn, "x", x, (2, 3, 4), _LAYOUT)
    win = _pair(fn, "window", window)
    strides = win if stride is None else _pair(fn, "stride", stride)
    x4 = {2: lambda a: a[None, :, :, None], 3: lambda a: a[None], 4: lambda a: a}[ndim](x)
    for axis in (0, 1):
        conv_geometry(fn, x4.shape[1 + axis], win[axis], strides[axis])   # raises if it does not fit
    out = lax.reduce_window(x4, init(x4.dtype), op, (1, *win, 1), (1, *strides, 1), "VALID")
    return {2: lambda a: a[0, :, :, 0], 3: lambda a: a[0], 4: lambda a: a}[ndim](out)


def _lowest(dtype: Any) -> Any:
    return -jnp.inf if jnp.issubdtype(dtype, jnp.inexact) else jnp.iinfo(dtype).min


def _highest(dtype: Any) -> Any:
    return jnp.inf if jnp.issubdtype(dtype, jnp.inexact) else jnp.iinfo(dtype).max


def max_pool(x: ArrayLike, window: Any = 2, stride: Any = None) -> jax.Array:
    """Largest value in each ``window`` x ``window`` patch: ``out[y, x] = max_{i,j} x[y*s + i, x*s + j]``.

    Args:
      x: an (H, W), (H, W, C) or (N, H, W, C) image; each channel is pooled alone.
      window: int or (wh, ww).
      stride: int or (sh, sw); defaults to ``window`` (non-overlapping windows).

    Returns:
      The pooled image with the same layout and dtype.

    >>> max_pool(jnp.arange(16).reshape(4, 4), window=3, stride=1)
    Array([[10, 11],
           [14, 15]], dtype=int32)
    """
    return _pool("max_pool", x, window, stride, _lowest, lax.max)


def min_pool(x: ArrayLike, window: Any = 2, stride: Any = None) -> jax.Array:
    """Smallest value in each patch: ``out[y, x] = min_{i,j} x[y*s + i, x*s + j]``; see :func:`max_pool`.

    >>> min_pool(jnp.arange(16).reshape(4, 4))
    Array([[ 0,  2],
           [ 8, 10]], dtype=int32)
    """
    return _pool("min_pool", x, window, stride, _highest, lax.min)


def avg_pool(x: ArrayLike, window: Any = 2, stride: Any = None) -> jax.Array:
    """Mean of each patch: ``out[y, x] = (1 / (wh*ww)) sum_{i,j} x[y*s + i, x*s + j]``; see :func:`max_pool`.

    Integer images are averaged in float32.

    >>> avg_pool(jnp.arange(16.0).reshape(1, 4, 4, 1))[0, :, :, 0]
    Array([[ 2.5,  4.5],
           [10.5, 12.5]], dtype=float32)
    """
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        x = x.astype(jnp.float32)
    total = _pool("avg_pool", x, window, stride, lambda dtype: jnp.zeros((), dtype), lax.add)
    return total / math.prod(_pair("avg_pool", "window", window))


def flatten(x: ArrayLike) -> jax.Array:
    """Flatten all but the first (batch) axis: (N, ...) -> (N, prod(...)).

    For an NHWC batch the feature order is row-major over (h, w, c): index
    ``(h * W + w) * C + c``, channels fastest. PyTorch flattens NCHW, i.e.
    ``(c * H + h) * W + w``, so a dense layer's weights ported from PyTorch
    must be permuted (transpose to NCHW before flattening to match it).

    >>> flatten(jnp.zeros((8, 7, 7, 32))).shape
    (8, 1568)
    """
    x = jnp.asarray(x)
    if x.ndim == 0:
        raise ShapeError("flatten: 'x' must have shape (N, ...) with a batch axis, got ()")
    return x.reshape(x.shape[0], math.prod(x.shape[1:]))
