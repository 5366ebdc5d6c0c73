"""2-D convolution as deep learning means it: cross-correlation, no kernel flip.

``conv2d`` is the fast version (``lax.conv_general_dilated``); ``conv2d_naive``
is the one to read, and the two are tested equal. Layout is NHWC for images
and HWIO for kernels, as in ``lax`` and Flax; PyTorch is NCHW for images and
OIHW for kernels, so a PyTorch kernel ``w`` becomes ``w.transpose(2, 3, 1, 0)``.

>>> import jax.numpy as jnp
>>> image = jnp.array([[7, 2, 3, 3, 8], [4, 5, 3, 8, 4], [3, 3, 2, 8, 4],
...                    [2, 8, 7, 2, 7], [5, 4, 4, 5, 4]])
>>> vertical_edge = jnp.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]])
>>> conv2d(image, vertical_edge)
Array([[ 6., -9., -8.],
       [-3., -2., -3.],
       [-3.,  0., -2.]], dtype=float32)
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from medjax._checks import ShapeError, check_choice, check_ndim, check_positive_int, shape_of
from medjax.padding import MODES, normalize_padding, pad
from medjax.sizes import conv_geometry

HIGHEST = lax.Precision.HIGHEST


class _Conv(NamedTuple):
    """Everything both convolutions need, checked once."""

    x: jax.Array            # (N, H, W, C), float
    kernel: jax.Array       # (kh, kw, C, K), float
    bias: jax.Array | None  # (K,)
    strides: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]
    out_hw: tuple[int, int]
    squeeze: bool           # True for an (H, W) input: return (H', W')


def _pair(fn: str, name: str, value: Any) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{fn}: '{name}' must be an int or a pair (h, w), got {value!r}")
        return check_positive_int(fn, name, value[0]), check_positive_int(fn, name, value[1])
    v = check_positive_int(fn, name, value)
    return v, v


def _float(a: jax.Array) -> jax.Array:
    return a if jnp.issubdtype(a.dtype, jnp.inexact) else a.astype(jnp.float32)


def _prepare(fn: str, x: ArrayLike, kernel: ArrayLike, bias: ArrayLike | None, stride: Any,
             padding: Any, padding_mode: str, dilation: Any) -> _Conv:
    x, kernel = jnp.asarray(x), jnp.asarray(kernel)
    check_choice(fn, "padding_mode", padding_mode, MODES)
    if x.ndim == 3:
        raise ShapeError(f"{fn}: 'x' must have shape (H, W) or (N, H, W, C), got {x.shape} "
                         f"(one (H, W, C) image needs a batch axis: x[None])")
    ndim = check_ndim(fn, "x", x, (2, 4), "(H, W) or (N, H, W, C)")
    if ndim == 2:
        check_ndim(fn, "kernel", kernel, (2,), "(kh, kw) for an (H, W) image")
        x, kernel = x[None, :, :, None], kernel[:, :, None, None]
    else:
        c = x.shape[3]
        check_ndim(fn, "kernel", kernel, (4,), f"(kh, kw, C={c}, K) for an (N, H, W, C) image")
        if kernel.shape[2] != c:
            hint = ""
            if x.shape[1] == kernel.shape[2]:
                hint = " ('x' looks NCHW, PyTorch's layout: use x.transpose(0, 2, 3, 1) for NHWC)"
            elif kernel.shape[1] == c:
                hint = " ('kernel' looks OIHW, PyTorch's layout: use kernel.transpose(2, 3, 1, 0) for HWIO)"
            raise ShapeError(f"{fn}: 'kernel' must have shape (kh, kw, C={c}, K), got {kernel.shape}{hint}")
    dtype = jnp.result_type(x, kernel)
    dtype = dtype if jnp.issubdtype(dtype, jnp.inexact) else jnp.float32
    strides, dil = _pair(fn, "stride", stride), _pair(fn, "dilation", dilation)
    per_axis = (padding, padding) if isinstance(padding, str) else normalize_padding(fn, padding)
    geo = [conv_geometry(fn, x.shape[1 + a], kernel.shape[a], strides[a], per_axis[a], dil[a])
           for a in (0, 1)]
    b = None if bias is None else _check_bias(fn, jnp.asarray(bias), kernel.shape[3], ndim)
    return _Conv(x.astype(dtype), kernel.astype(dtype), b, strides, dil,
                 ((geo[0][0], geo[0][1]), (geo[1][0], geo[1][1])), (geo[0][2], geo[1][2]), ndim == 2)


def _check_bias(fn: str, bias: jax.Array, k: int, ndim: int) -> jax.Array:
    allowed = [(k,)] + ([()] if ndim == 2 else [])
    if bias.shape not in allowed:
        layout = "() or (1,)" if ndim == 2 else f"(K={k},)"
        raise ShapeError(f"{fn}: 'bias' must have shape {layout}, got {shape_of(bias)}")
    return _float(bias.reshape(k))


def _finish(c: _Conv, out: jax.Array) -> jax.Array:
    if c.bias is not None:
        out = out + c.bias.reshape(1, 1, 1, -1).astype(out.dtype)
    return out[0, :, :, 0] if c.squeeze else out


def conv2d(x: ArrayLike, kernel: ArrayLike, bias: ArrayLike | None = None, *, stride: Any = 1,
           padding: Any = 0, padding_mode: str = "zero", dilation: Any = 1) -> jax.Array:
    """2-D cross-correlation (a deep-learning "convolution"), fast.

    ``out[n, y, x, k] = b[k] + sum_{i, j, c} xp[n, y*s + i*d, x*s + j*d, c] * kernel[i, j, c, k]``
    where ``xp`` is the padded input. The kernel is NOT flipped
    (``scipy.signal.convolve2d`` flips it; ``correlate2d`` does not). Output
    size per axis: ``floor((in + 2p - d(k - 1) - 1) / s) + 1``.

    Images are NHWC and kernels HWIO (PyTorch is NCHW/OIHW). Precision is
    pinned to ``HIGHEST`` so GPUs do not silently use TF32. Integer inputs
    are computed in float32.

    Args:
      x: an (H, W) image with an (kh, kw) kernel, or an (N, H, W, C) batch
        with an (kh, kw, C, K) kernel.
      kernel: the filter(s), see ``x``.
      bias: (K,) added to each output channel (a scalar for an (H, W) image).
      stride: int or (sh, sw).
      padding: ``p`` per side, ``(ph, pw)``, ``((top, bottom), (left, right))``,
        ``"valid"`` (= 0) or ``"same"`` (output ``ceil(in / s)``, extra
        row bottom/right as in JAX).
      padding_mode: ``"zero"``, ``"replicate"`` or ``"reflect"``.
      dilation: int or (dh, dw), spacing between kernel taps.

    ``stride``, ``padding``, ``padding_mode`` and ``dilation`` are static
    Python values: under ``jax.jit`` close over them (or mark them static).

    Returns:
      (H', W') for an (H, W) image, else (N, H', W', K).

    >>> sharpen = jnp.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    >>> image = jnp.array([[105, 102, 100, 97, 96], [103, 99, 103, 101, 102],
    ...                    [101, 98, 104, 102, 100], [99, 101, 106, 104, 99],
    ...                    [104, 104, 104, 100, 98]])
    >>> conv2d(image, sharpen, padding=1)[0, 0]
    Array(320., dtype=float32)
    >>> conv2d(jnp.ones((2, 28, 28, 1)), jnp.ones((3, 3, 1, 8)), stride=2, padding="same").shape
    (2, 14, 14, 8)
    """
    c = _prepare("conv2d", x, kernel, bias, stride, padding, padding_mode, dilation)
    xs, pads = c.x, c.pads
    if padding_mode != "zero":
        xs, pads = pad(xs, pads, padding_mode), ((0, 0), (0, 0))
    out = lax.conv_general_dilated(xs, c.kernel, window_strides=c.strides, padding=pads,
                                   rhs_dilation=c.dilation, dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                   precision=HIGHEST)
    return _finish(c, out)


def conv2d_naive(x: ArrayLike, kernel: ArrayLike, bias: ArrayLike | None = None, *, stride: Any = 1,
                 padding: Any = 0, padding_mode: str = "zero", dilation: Any = 1) -> jax.Array:
    """2-D cross-correlation written out: the didactic twin of ``conv2d``.

    Same signature, formula and result as :func:`conv2d`. For every kernel tap
    ``(i, j)`` it takes the slice of the padded input that this tap sees at
    every output position, ``xp[:, i*d : ... : s, j*d : ... : s, :]``, multiplies
    it by ``kernel[i, j]`` (a (C, K) matrix) and adds it to the output: the
    sum over all taps is the sliding-window sum
    ``out[n, y, x, k] = b[k] + sum_{i, j, c} xp[n, y*s + i*d, x*s + j*d, c] * kernel[i, j, c, k]``.
    The Python loops run over the (static) kernel size only, so it is jittable.

    >>> pattern = jnp.array([[0, 0, 0], [0, 1, 0], [0, 1, 1]])
    >>> conv2d_naive(pattern, pattern), conv2d_naive(jnp.array([[1, 0, 1], [0, 1, 0], [0, 0, 0]]), pattern)
    (Array([[3.]], dtype=float32), Array([[1.]], dtype=float32))
    """
    c = _prepare("conv2d_naive", x, kernel, bias, stride, padding, padding_mode, dilation)
    xp = pad(c.x, c.pads, padding_mode)
    (sh, sw), (dh, dw), (oh, ow) = c.strides, c.dilation, c.out_hw
    kh, kw, _, k = c.kernel.shape
    out = jnp.zeros((xp.shape[0], oh, ow, k), xp.dtype)
    for i in range(kh):
        for j in range(kw):
            top, left = i * dh, j * dw
            window = xp[:, top: top + (oh - 1) * sh + 1: sh, left: left + (ow - 1) * sw + 1: sw, :]
            out = out + jnp.einsum("nhwc,ck->nhwk", window, c.kernel[i, j], precision=HIGHEST)
    return _finish(c, out)
