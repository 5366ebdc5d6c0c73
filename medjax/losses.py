"""Loss functions: binary and categorical cross-entropy, mean squared error, Dice.

Every loss checks that predictions and targets have exactly the same shape
(an (N, 1) against (N,) pair raises ``ShapeError`` instead of broadcasting to
an N x N matrix) and takes ``reduction="mean" | "sum" | "none"``.

>>> import jax.numpy as jnp
>>> print(jnp.round(bce_with_logits(jnp.array([100.0, -100.0, 0.0]), jnp.array([1.0, 0.0, 1.0]),
...                                 reduction="none"), 4))
[0.     0.     0.6931]
"""
from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from medjax._checks import ShapeError, check_choice, check_same_shape, shape_of

REDUCTIONS = ("mean", "sum", "none")


def _float(x: ArrayLike) -> jax.Array:
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.float32)


def _reduce(values: jax.Array, reduction: str) -> jax.Array:
    if reduction == "mean":
        return jnp.mean(values)
    return jnp.sum(values) if reduction == "sum" else values


# The formulas run as one compiled program per input shape (``_jit``): much faster
# than op-by-op dispatch when a loss is called outside jit, identical inside it.
_jit = functools.partial(jax.jit, static_argnames="reduction")


def _pair(fn: str, a_name: str, a: ArrayLike, b_name: str, b: ArrayLike, reduction: str):
    check_choice(fn, "reduction", reduction, REDUCTIONS)
    check_same_shape(fn, a_name, a, b_name, b)
    return _float(a), _float(b)


def bce(probs: ArrayLike, targets: ArrayLike, *, eps: float = 1e-7, reduction: str = "mean") -> jax.Array:
    """Binary cross-entropy on probabilities: ``-(y log p + (1 - y) log(1 - p))``.

    ``p`` is clipped to ``[eps, 1 - eps]`` so a confident wrong answer costs
    ``-log(eps)`` instead of ``inf``. Prefer :func:`bce_with_logits` on raw
    scores: it needs no clipping and keeps the gradient exact.

    Args:
      probs: predicted probabilities of class 1, any shape.
      targets: 0/1 labels (or soft labels), the same shape as ``probs``.
      eps: clipping margin.
      reduction: ``"mean"``, ``"sum"`` or ``"none"`` (per element).

    >>> round(float(bce(jnp.array([0.9, 0.2]), jnp.array([1.0, 0.0]))), 4)
    0.1643
    """
    p, y = _pair("bce", "probs", probs, "targets", targets, reduction)
    return _bce(p, y, eps, reduction=reduction)


@_jit
def _bce(p: jax.Array, y: jax.Array, eps: ArrayLike, reduction: str) -> jax.Array:
    # clip p and 1 - p from below by eps: the same as p in [eps, 1 - eps], but exact in
    # float32, where 1 - 1e-7 is not representable and would round the cap to -log(1.19e-7)
    log_p = jnp.log(jnp.clip(p, eps, 1.0))
    log_not_p = jnp.log(jnp.clip(1 - p, eps, 1.0))
    return _reduce(-(y * log_p + (1 - y) * log_not_p), reduction)


def bce_with_logits(logits: ArrayLike, targets: ArrayLike, *, reduction: str = "mean",
                    pos_weight: ArrayLike | None = None) -> jax.Array:
    """Binary cross-entropy on logits ``x`` (before the sigmoid), numerically stable.

    ``-(y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))) = max(x, 0) - x y + log(1 + exp(-|x|))``:
    no ``exp`` of a large positive number and no ``log(0)``, so logits of
    +-100 give exact, finite losses and gradients (the gradient is
    ``sigmoid(x) - y``). With ``pos_weight`` ``w`` the positive term is
    weighted, as in PyTorch's ``BCEWithLogitsLoss``:
    ``-(w y log sigmoid(x) + (1 - y) log(1 - sigmoid(x)))``.

    Args:
      logits: raw scores, any shape.
      targets: 0/1 labels, the same shape as ``logits``.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      pos_weight: a scalar, or one weight per class of shape ``(C,)`` = the last
        axis of ``targets``; use ``num_negatives / num_positives`` for imbalance.

    >>> round(float(bce_with_logits(jnp.array([2.0]), jnp.array([1.0]), pos_weight=3.0)), 4)
    0.3808
    """
    x, y = _pair("bce_with_logits", "logits", logits, "targets", targets, reduction)
    w = None if pos_weight is None else _broadcast_pos_weight(_float(pos_weight), y.shape)
    return _bce_logits(x, y, w, reduction=reduction)


@_jit
def _bce_logits(x: jax.Array, y: jax.Array, w: jax.Array | None, reduction: str) -> jax.Array:
    # softplus(x) = log(1 + e^x) = max(x, 0) + log1p(exp(-|x|)), evaluated by logaddexp,
    # whose derivative is exactly sigmoid(x) also at x = 0 (the max/abs form gives a
    # wrong subgradient there, and zero logits are common at initialisation).
    if w is None:
        loss = jnp.logaddexp(x, 0.0) - x * y
    else:
        loss = (1 - y) * x + (1 + (w - 1) * y) * jnp.logaddexp(-x, 0.0)   # softplus(-x) = -log sigmoid(x)
    return _reduce(loss, reduction)


def _broadcast_pos_weight(w: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    if w.ndim == 0:
        return w
    if len(shape) >= 1 and w.shape == shape[-1:]:
        return w.reshape((1,) * (len(shape) - 1) + w.shape)
    raise ShapeError(f"bce_with_logits: 'pos_weight' must be a scalar or have shape (C,) = {shape[-1:]} "
                     f"(the last axis of 'targets' {shape}), got {w.shape}")


def cross_entropy(logits: ArrayLike, labels: ArrayLike, *, reduction: str = "mean") -> jax.Array:
    """Softmax cross-entropy ``-sum_c y_c log softmax(x)_c`` (``= -log softmax(x)_label`` for ids).

    Computed with a stable log-softmax (the max logit is subtracted first).

    Args:
      logits: (N, C) raw class scores (any leading axes work: (..., C)).
      labels: (N,) integer class ids in ``[0, C)``, or (N, C) one-hot / probability rows.
        Out-of-range ids raise ``ValueError``; under ``jit`` (where they cannot
        be checked) they give a ``nan`` loss, never a silent 0.
      reduction: ``"mean"``, ``"sum"`` or ``"none"`` (one loss per example).

    >>> logits = jnp.array([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0]])
    >>> print(jnp.round(cross_entropy(logits, jnp.array([0, 1]), reduction="none"), 4))
    [0.1698 0.0949]
    >>> round(float(cross_entropy(logits, jnp.eye(3)[jnp.array([0, 1])])), 4)
    0.1324
    """
    fn = "cross_entropy"
    check_choice(fn, "reduction", reduction, REDUCTIONS)
    x, labels = _float(logits), jnp.asarray(labels)
    if x.ndim < 1:
        raise ShapeError(f"{fn}: 'logits' must have shape (N, C), got {x.shape}")
    if labels.shape == x.shape:
        return _ce_dense(x, _float(labels), reduction=reduction)
    if labels.shape != x.shape[:-1]:
        raise ShapeError(f"{fn}: 'labels' must have shape {x.shape[:-1]} (class ids) or {x.shape} "
                         f"(one-hot) for 'logits' of shape {x.shape}, got {labels.shape}")
    _check_ids(fn, labels, x.shape[-1])
    return _ce_ids(x, labels, reduction=reduction)


def _log_softmax(x: jax.Array) -> jax.Array:
    z = x - jax.lax.stop_gradient(jnp.max(x, axis=-1, keepdims=True))
    return z - jnp.log(jnp.sum(jnp.exp(z), axis=-1, keepdims=True))


@_jit
def _ce_dense(x: jax.Array, y: jax.Array, reduction: str) -> jax.Array:
    return _reduce(-jnp.sum(y * _log_softmax(x), axis=-1), reduction)


@_jit
def _ce_ids(x: jax.Array, ids: jax.Array, reduction: str) -> jax.Array:
    log_p, c = _log_softmax(x), x.shape[-1]
    valid = (ids >= 0) & (ids < c)
    picked = jnp.take_along_axis(log_p, jnp.clip(ids, 0, c - 1)[..., None], axis=-1)[..., 0]
    return _reduce(jnp.where(valid, -picked, jnp.nan), reduction)


def _check_ids(fn: str, ids: jax.Array, c: int) -> None:
    if not jnp.issubdtype(ids.dtype, jnp.integer):
        raise TypeError(f"{fn}: 'labels' of shape {ids.shape} must be integer class ids, got dtype {ids.dtype} "
                        f"(pass one-hot labels with the shape of 'logits' instead)")
    if isinstance(ids, jax.core.Tracer) or ids.size == 0:
        return   # under jit: out-of-range ids give nan
    lo, hi = int(np.min(ids)), int(np.max(ids))
    if lo < 0 or hi >= c:
        raise ValueError(f"{fn}: 'labels' must be class ids in [0, {c}), got values in [{lo}, {hi}]")


def mse(preds: ArrayLike, targets: ArrayLike, *, reduction: str = "mean") -> jax.Array:
    """Mean squared error ``mean((pred - target)^2)`` (``"none"``: per element).

    >>> round(float(mse(jnp.array([1.0, 2.0, 4.0]), jnp.array([1.0, 0.0, 1.0]))), 4)
    4.3333
    """
    p, t = _pair("mse", "preds", preds, "targets", targets, reduction)
    return _mse(p, t, reduction=reduction)


@_jit
def _mse(p: jax.Array, t: jax.Array, reduction: str) -> jax.Array:
    return _reduce((p - t) ** 2, reduction)


def dice_coefficient(pred: ArrayLike, target: ArrayLike, *, eps: float = 1e-6, axis: Any = None) -> jax.Array:
    """Soft Dice overlap ``(2 |P n T| + eps) / (|P| + |T| + eps)``, in [0, 1].

    ``|P n T| = sum(pred * target)`` and ``|P| = sum(pred)`` over ``axis``
    (all axes by default). ``eps`` sits in the numerator AND the denominator,
    so an empty prediction of an empty mask scores 1 (not ``0/0 = nan``) and
    an empty prediction of a non-empty mask scores ~0.

    Args:
      pred: a binary mask or probabilities, e.g. (N, H, W) or (N, H, W, 1).
      target: the true mask, the same shape.
      eps: smoothing term.
      axis: axes to sum over; ``axis=(1, 2)`` (or ``(1, 2, 3)``) gives one
        score per sample of an (N, H, W[, 1]) batch.

    >>> a = jnp.array([[1, 1, 0, 0]])
    >>> round(float(dice_coefficient(a, jnp.array([[1, 0, 0, 0]]))), 4)
    0.6667
    >>> print(dice_coefficient(jnp.zeros((2, 4)), jnp.zeros((2, 4)), axis=1))
    [1. 1.]
    """
    p, t = _pair("dice_coefficient", "pred", pred, "target", target, "none")
    return _dice(p, t, eps, axis=tuple(axis) if isinstance(axis, list) else axis)


@functools.partial(jax.jit, static_argnames="axis")
def _dice(p: jax.Array, t: jax.Array, eps: ArrayLike, axis: Any) -> jax.Array:
    inter = jnp.sum(p * t, axis=axis)
    total = jnp.sum(p, axis=axis) + jnp.sum(t, axis=axis)
    return (2 * inter + eps) / (total + eps)


def dice_loss(pred: ArrayLike, target: ArrayLike, *, eps: float = 1e-6, reduction: str = "mean") -> jax.Array:
    """``1 - dice_coefficient`` per sample, then reduced.

    The first axis is the batch: Dice is computed over all other axes of an
    (N, ...) batch, one value per sample, then averaged (``"mean"``), summed
    (``"sum"``) or returned as (N,) (``"none"``).

    >>> print(dice_loss(jnp.ones((2, 3, 3)), jnp.ones((2, 3, 3)), reduction="none"))
    [0. 0.]
    """
    fn = "dice_loss"
    p, t = _pair(fn, "pred", pred, "target", target, reduction)
    if p.ndim < 2:
        raise ShapeError(f"{fn}: 'pred' must have shape (N, ...) with a batch axis first and at least one "
                         f"more axis, got {shape_of(p)}")
    return _dice_loss(p, t, eps, reduction=reduction)


@_jit
def _dice_loss(p: jax.Array, t: jax.Array, eps: ArrayLike, reduction: str) -> jax.Array:
    return _reduce(1 - _dice(p, t, eps, axis=tuple(range(1, p.ndim))), reduction)
