"""Activation functions, written to stay finite (values and gradients) for inputs of +-1000.

>>> import jax.numpy as jnp
>>> x = jnp.array([-1000.0, -1.0, 0.0, 1.0, 1000.0])
>>> print(jnp.round(sigmoid(x), 4))
[0.     0.2689 0.5    0.7311 1.    ]
>>> print(relu(x))
[   0.    0.    0.    1. 1000.]
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from medjax._checks import ShapeError, check_positive_int


def _float(x: ArrayLike) -> jax.Array:
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.float32)


def sigmoid(x: ArrayLike) -> jax.Array:
    """Logistic sigmoid ``1 / (1 + exp(-x))``, in (0, 1).

    Computed by ``lax.logistic``, which never evaluates ``exp`` of a large
    positive number, so ``sigmoid(-1000) = 0`` and ``sigmoid(1000) = 1``
    without overflow. Derivative: ``sigmoid(x) * (1 - sigmoid(x))``.

    >>> print(jnp.round(sigmoid(jnp.array([-2.0, 0.0, 2.0])), 4))
    [0.1192 0.5    0.8808]
    """
    return lax.logistic(_float(x))


def tanh(x: ArrayLike) -> jax.Array:
    """Hyperbolic tangent ``(e^x - e^-x) / (e^x + e^-x) = 2 sigmoid(2x) - 1``, in (-1, 1).

    >>> print(jnp.round(tanh(jnp.array([-1000.0, 0.5, 1000.0])), 4))
    [-1.      0.4621  1.    ]
    """
    return jnp.tanh(_float(x))


def relu(x: ArrayLike) -> jax.Array:
    """Rectified linear unit ``max(x, 0)``; its gradient is 1 for x > 0 and 0 otherwise (0 at x = 0).

    >>> print(relu(jnp.array([-2.0, 0.0, 3.0])))
    [0. 0. 3.]
    """
    x = jnp.asarray(x)
    return jnp.where(x > 0, x, jnp.zeros_like(x))


def leaky_relu(x: ArrayLike, alpha: float = 0.01) -> jax.Array:
    """``x`` for x >= 0, ``alpha * x`` otherwise: negative inputs keep a small gradient.

    >>> print(leaky_relu(jnp.array([-100.0, 0.0, 2.0])))
    [-1.  0.  2.]
    """
    x = _float(x)
    return jnp.where(x >= 0, x, alpha * x)


def elu(x: ArrayLike, alpha: float = 1.0) -> jax.Array:
    """Exponential linear unit: ``x`` for x > 0, ``alpha * (exp(x) - 1)`` otherwise.

    The exponential is evaluated at ``min(x, 0)``, so the unused branch never
    overflows: ``elu(1000)`` and its gradient are finite (no ``inf * 0 = nan``).

    >>> print(jnp.round(elu(jnp.array([-1000.0, -1.0, 0.0, 2.0])), 4))
    [-1.     -0.6321  0.      2.    ]
    """
    x = _float(x)
    return jnp.where(x > 0, x, alpha * jnp.expm1(jnp.minimum(x, 0)))


def softmax(x: ArrayLike, axis: int = -1) -> jax.Array:
    """``exp(x_i) / sum_j exp(x_j)`` along ``axis``, computed as ``exp(x_i - m) / sum_j exp(x_j - m)``.

    Subtracting ``m = max_j x_j`` changes nothing mathematically but keeps
    every exponent <= 0, so logits of 1000 do not overflow to ``inf / inf``.

    >>> print(jnp.round(softmax(jnp.array([1000.0, 1000.0, -1000.0])), 4))
    [0.5 0.5 0. ]
    """
    z = _shifted(x, axis)
    e = jnp.exp(z)
    return e / jnp.sum(e, axis=axis, keepdims=True)


def log_softmax(x: ArrayLike, axis: int = -1) -> jax.Array:
    """``x_i - log sum_j exp(x_j) = (x_i - m) - log sum_j exp(x_j - m)`` with ``m = max_j x_j``.

    Finite where ``log(softmax(x))`` would give ``log(0) = -inf``.

    >>> print(jnp.round(log_softmax(jnp.array([0.0, 1000.0])), 4))
    [-1000.     0.]
    """
    z = _shifted(x, axis)
    return z - jnp.log(jnp.sum(jnp.exp(z), axis=axis, keepdims=True))


def _shifted(x: ArrayLike, axis: int) -> jax.Array:
    x = _float(x)
    return x - lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True))


def maxout(x: ArrayLike, num_pieces: int, axis: int = -1) -> jax.Array:
    """Maxout: the maximum over groups of ``num_pieces`` consecutive features along ``axis``.

    ``out[..., j] = max_{p < num_pieces} x[..., j * num_pieces + p]``; the
    axis shrinks from ``F`` to ``F // num_pieces`` (``F`` must be divisible).

    >>> print(maxout(jnp.array([1.0, 5.0, -2.0, -3.0, 0.0, 7.0]), num_pieces=2))
    [ 5. -2.  7.]
    """
    x = jnp.asarray(x)
    k = check_positive_int("maxout", "num_pieces", num_pieces)
    if x.ndim == 0:
        raise ShapeError("maxout: 'x' must have at least one axis, got ()")
    if not -x.ndim <= axis < x.ndim:
        raise ShapeError(f"maxout: 'axis' {axis} is out of range for 'x' of shape {x.shape}")
    axis = axis % x.ndim
    f = x.shape[axis]
    if f % k:
        raise ShapeError(f"maxout: 'x' axis {axis} has size {f}, not divisible by num_pieces={k} "
                         f"(shape {x.shape})")
    grouped = x.reshape(*x.shape[:axis], f // k, k, *x.shape[axis + 1:])
    return jnp.max(grouped, axis=axis + 1)
