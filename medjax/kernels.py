"""Classic hand-made image filters, as float32 (k, k) arrays for :func:`medjax.conv2d`.

All are applied by cross-correlation (no flip), the deep-learning convention:
``sobel_x`` is positive where the image gets brighter from left to right.

>>> import jax.numpy as jnp
>>> from medjax.conv import conv2d
>>> step = jnp.array([[0.0, 0.0, 1.0, 1.0]] * 3)        # dark left, bright right
>>> print(conv2d(step, sobel_x()))
[[4. 4.]]
>>> from medjax.kernels import CLASSIC
>>> sorted(CLASSIC)[:4]
['box_blur', 'gaussian', 'identity', 'laplacian']
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from medjax._checks import check_positive_int


def _k(rows: Any) -> jax.Array:
    return jnp.asarray(np.asarray(rows, np.float32))


def _odd(fn: str, size: int) -> int:
    size = check_positive_int(fn, "size", size)
    if size % 2 == 0:
        raise ValueError(f"{fn}: 'size' must be odd so the kernel has a centre pixel, got {size}")
    return size


def identity(size: int = 3) -> jax.Array:
    """A 1 at the centre, 0 elsewhere: the output equals the input (odd ``size``).

    >>> print(identity())
    [[0. 0. 0.]
     [0. 1. 0.]
     [0. 0. 0.]]
    """
    size = _odd("identity", size)
    k = np.zeros((size, size), np.float32)
    k[size // 2, size // 2] = 1.0
    return _k(k)


def box_blur(size: int = 3) -> jax.Array:
    """Mean filter: every entry ``1 / size^2``, sum 1.

    >>> print(box_blur(2))
    [[0.25 0.25]
     [0.25 0.25]]
    """
    size = check_positive_int("box_blur", "size", size)
    return _k(np.full((size, size), 1.0 / size**2))


def gaussian(size: int = 5, sigma: float = 1.0) -> jax.Array:
    """Gaussian blur ``G[i, j] ~ exp(-((i - c)^2 + (j - c)^2) / (2 sigma^2))``, normalised to sum 1.

    ``c = (size - 1) / 2`` is the centre; the kernel is symmetric.

    >>> g = gaussian(5, 1.0)
    >>> g.shape, round(float(g.sum()), 5), round(float(g[2, 2]), 4)
    ((5, 5), 1.0, 0.1621)
    """
    size = check_positive_int("gaussian", "size", size)
    if not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"gaussian: 'sigma' must be a positive number, got {sigma!r}")
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return _k(g / g.sum())


def sharpen() -> jax.Array:
    """Sharpen: ``5 * centre - (up + down + left + right)``, sum 1 (identity minus the Laplacian).

    >>> print(sharpen())
    [[ 0. -1.  0.]
     [-1.  5. -1.]
     [ 0. -1.  0.]]
    """
    return _k([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])


def sobel_x() -> jax.Array:
    """Sobel horizontal gradient ``d/dx``: finds vertical edges, centre row weighted 2.

    >>> print(sobel_x())
    [[-1.  0.  1.]
     [-2.  0.  2.]
     [-1.  0.  1.]]
    """
    return _k([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])


def sobel_y() -> jax.Array:
    """Sobel vertical gradient ``d/dy`` (``sobel_x`` transposed), positive where it brightens downwards.

    >>> print(sobel_y())
    [[-1. -2. -1.]
     [ 0.  0.  0.]
     [ 1.  2.  1.]]
    """
    return _k([[-1, -2, -1], [0, 0, 0], [1, 2, 1]])


def prewitt_x() -> jax.Array:
    """Prewitt horizontal gradient (Sobel without the centre weighting).

    >>> print(prewitt_x())
    [[-1.  0.  1.]
     [-1.  0.  1.]
     [-1.  0.  1.]]
    """
    return _k([[-1, 0, 1]] * 3)


def prewitt_y() -> jax.Array:
    """Prewitt vertical gradient (``prewitt_x`` transposed).

    >>> print(prewitt_y())
    [[-1. -1. -1.]
     [ 0.  0.  0.]
     [ 1.  1.  1.]]
    """
    return _k([[-1, -1, -1], [0, 0, 0], [1, 1, 1]])


def laplacian() -> jax.Array:
    """4-neighbour Laplacian ``f(up) + f(down) + f(left) + f(right) - 4 f(centre)``: sum 0, finds blobs and edges.

    >>> print(laplacian())
    [[ 0.  1.  0.]
     [ 1. -4.  1.]
     [ 0.  1.  0.]]
    """
    return _k([[0, 1, 0], [1, -4, 1], [0, 1, 0]])


def vertical_edge() -> jax.Array:
    """The course's vertical-edge detector: positive where bright is left of dark.

    >>> print(vertical_edge())
    [[ 1.  0. -1.]
     [ 1.  0. -1.]
     [ 1.  0. -1.]]
    """
    return _k([[1, 0, -1]] * 3)


_CLASSIC_FACTORIES = {
    "identity": identity, "box_blur": box_blur, "gaussian": gaussian, "sharpen": sharpen,
    "sobel_x": sobel_x, "sobel_y": sobel_y, "prewitt_x": prewitt_x, "prewitt_y": prewitt_y,
    "laplacian": laplacian, "vertical_edge": vertical_edge,
}


def __getattr__(name: str) -> Any:
    # CLASSIC (name -> kernel with default arguments) is built on first use, so importing
    # this module does not start the JAX backend (forking after that can deadlock).
    if name == "CLASSIC":
        value = {key: make() for key, make in _CLASSIC_FACTORIES.items()}
        globals()["CLASSIC"] = value
        return value
    raise AttributeError(f"module 'medjax.kernels' has no attribute {name!r}")
