"""Classification metrics: confusion matrix, accuracy, precision, recall, specificity, F1, ROC AUC.

Arguments come ``y_true`` first, as in scikit-learn. Binary metrics treat
class 1 as positive (e.g. "pneumonia"). When a denominator is 0 (no
predicted positives for precision, no actual positives for recall, ...) the
metric is 0.0, as scikit-learn's ``zero_division=0``. All functions are
jittable; outside ``jit`` the labels are also checked to be valid.

>>> import jax.numpy as jnp
>>> y_true = jnp.array([1, 1, 1, 0, 0, 0, 0, 0])
>>> y_pred = jnp.array([1, 1, 0, 1, 0, 0, 0, 0])
>>> confusion_matrix(y_true, y_pred)
Array([[4, 1],
       [1, 2]], dtype=int32)
>>> round(float(recall(y_true, y_pred)), 4), round(float(specificity(y_true, y_pred)), 4)
(0.6667, 0.8)
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from medjax._checks import check_ndim, check_positive_int, check_same_shape


def _labels(fn: str, y_true: ArrayLike, y_pred: ArrayLike, pred_name: str = "y_pred"):
    check_ndim(fn, "y_true", y_true, (1,), "(N,)")
    check_same_shape(fn, "y_true", y_true, pred_name, y_pred)
    return jnp.asarray(y_true), jnp.asarray(y_pred)


def _check_values(fn: str, name: str, y: jax.Array, allowed: int, hint: str = "") -> None:
    """Outside jit, raise unless ``y`` holds integers in [0, allowed)."""
    if isinstance(y, jax.core.Tracer) or y.size == 0:
        return
    values = np.asarray(y)
    if values.dtype == bool:
        return
    bad = values[(values != np.round(values)) | (values < 0) | (values >= allowed)]
    if bad.size:
        raise ValueError(f"{fn}: '{name}' must hold class labels in [0, {allowed}), got {bad[0].item():g}{hint}")


def _safe_div(num: jax.Array, den: jax.Array) -> jax.Array:
    """``num / den``, or 0.0 where ``den == 0`` (scikit-learn's ``zero_division=0``)."""
    num, den = jnp.asarray(num, jnp.float32), jnp.asarray(den, jnp.float32)
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0)


_THRESHOLD_HINT = " (threshold probabilities first, e.g. probs >= 0.5)"


def _binary_counts(fn: str, y_true: ArrayLike, y_pred: ArrayLike):
    t, p = _labels(fn, y_true, y_pred)
    _check_values(fn, "y_true", t, 2)
    _check_values(fn, "y_pred", p, 2, _THRESHOLD_HINT)
    return _counts(t, p)


@jax.jit   # one compiled program per input size: faster than op-by-op when called eagerly
def _counts(t: jax.Array, p: jax.Array):
    t, p = t == 1, p == 1
    tp = jnp.sum(t & p)
    fp = jnp.sum(~t & p)
    fn_ = jnp.sum(t & ~p)
    tn = jnp.sum(~t & ~p)
    return tp, fp, fn_, tn


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, num_classes: int = 2) -> jax.Array:
    """Counts ``M[i, j]`` = number of samples of actual class ``i`` predicted as ``j``.

    Rows are the actual class, columns the prediction; for binary labels
    ``[[TN, FP], [FN, TP]]``. Computed as ``onehot(y_true)^T @ onehot(y_pred)``
    (jittable). Under ``jit`` a label outside ``[0, num_classes)`` is not
    counted; outside ``jit`` it raises ``ValueError``.

    >>> confusion_matrix(jnp.array([0, 2, 1, 2]), jnp.array([0, 1, 1, 2]), num_classes=3)
    Array([[1, 0, 0],
           [0, 1, 0],
           [0, 1, 1]], dtype=int32)
    """
    fn = "confusion_matrix"
    c = check_positive_int(fn, "num_classes", num_classes)
    t, p = _labels(fn, y_true, y_pred)
    _check_values(fn, "y_true", t, c)
    _check_values(fn, "y_pred", p, c, _THRESHOLD_HINT)
    return _confusion(t, p, c)


@functools.partial(jax.jit, static_argnums=2)
def _confusion(t: jax.Array, p: jax.Array, c: int) -> jax.Array:
    hot_t = jax.nn.one_hot(t.astype(jnp.int32), c, dtype=jnp.int32)
    hot_p = jax.nn.one_hot(p.astype(jnp.int32), c, dtype=jnp.int32)
    return hot_t.T @ hot_p


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """Fraction of correct predictions ``(1/N) sum_i [y_true_i == y_pred_i]`` (any number of classes).

    Returns 0.0 for empty inputs (zero division). On imbalanced data report
    sensitivity and specificity too: predicting "healthy" for everyone scores
    high accuracy and finds no patient.

    >>> float(accuracy(jnp.array([0, 1, 2, 2]), jnp.array([0, 1, 1, 2])))
    0.75
    """
    t, p = _labels("accuracy", y_true, y_pred)
    return _safe_div(jnp.sum(t == p), t.shape[0])


def precision(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """``TP / (TP + FP)``: of the predicted positives, the fraction that are positive.

    Binary, class 1 positive; 0.0 when nothing is predicted positive (zero division).

    >>> float(precision(jnp.array([1, 0, 1, 0]), jnp.array([1, 1, 0, 0])))
    0.5
    >>> float(precision(jnp.array([1, 0]), jnp.array([0, 0])))
    0.0
    """
    tp, fp, _, _ = _binary_counts("precision", y_true, y_pred)
    return _safe_div(tp, tp + fp)


def recall(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """Recall = sensitivity = true positive rate ``TP / (TP + FN)``.

    Of the actual positives (patients), the fraction found. Binary, class 1
    positive; 0.0 when there are no actual positives (zero division).

    >>> float(recall(jnp.array([1, 1, 0, 0]), jnp.array([1, 0, 0, 1])))
    0.5
    """
    tp, _, fn_, _ = _binary_counts("recall", y_true, y_pred)
    return _safe_div(tp, tp + fn_)


sensitivity = recall


def specificity(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """True negative rate ``TN / (TN + FP)``: of the actual negatives (healthy), the fraction cleared.

    Binary, class 1 positive; 0.0 when there are no actual negatives (zero division).

    >>> round(float(specificity(jnp.array([0, 0, 0, 1]), jnp.array([0, 1, 0, 1]))), 4)
    0.6667
    """
    _, fp, _, tn = _binary_counts("specificity", y_true, y_pred)
    return _safe_div(tn, tn + fp)


def f1_score(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    """Harmonic mean of precision and recall: ``2 TP / (2 TP + FP + FN)``.

    Binary, class 1 positive; 0.0 when ``TP + FP + FN = 0`` (zero division,
    as scikit-learn's ``zero_division=0``).

    >>> float(f1_score(jnp.array([1, 1, 0, 0]), jnp.array([1, 0, 1, 0])))
    0.5
    """
    tp, fp, fn_, _ = _binary_counts("f1_score", y_true, y_pred)
    return _safe_div(2 * tp, 2 * tp + fp + fn_)


def roc_auc(y_true: ArrayLike, scores: ArrayLike) -> jax.Array:
    """Area under the ROC curve, by ranks (the Mann-Whitney U statistic).

    ``AUC = P(score of a random positive > score of a random negative)``, ties
    counting 1/2: ``(1 / (n_pos n_neg)) sum_{i pos, j neg} ([s_i > s_j] + [s_i = s_j] / 2)``.
    Computed in ``O(N log N)`` with a sort (jittable). Only the order of the
    scores matters, so logits or probabilities give the same AUC.

    When only one class is present the AUC is undefined; this function then
    returns 0.5 (chance level, never ``nan``) instead of raising, because a
    raise is impossible under ``jit``. Scores must not be ``nan``.

    Args:
      y_true: (N,) 0/1 labels, class 1 positive.
      scores: (N,) scores, higher meaning "more likely positive".

    >>> float(roc_auc(jnp.array([0, 0, 1, 1]), jnp.array([0.1, 0.4, 0.35, 0.8])))
    0.75
    """
    fn = "roc_auc"
    t, s = _labels(fn, y_true, scores, "scores")
    _check_values(fn, "y_true", t, 2)
    if not isinstance(s, jax.core.Tracer) and bool(jnp.any(jnp.isnan(s))):
        raise ValueError(f"{fn}: 'scores' must not contain nan")
    return _auc(t, s)


@jax.jit
def _auc(t: jax.Array, s: jax.Array) -> jax.Array:
    pos = t == 1
    order = jnp.argsort(s)
    sorted_s = s[order]
    neg_before = jnp.concatenate([jnp.zeros(1, jnp.int32), jnp.cumsum((~pos[order]).astype(jnp.int32))])
    below = neg_before[jnp.searchsorted(sorted_s, s, side="left")]       # negatives with a smaller score
    up_to = neg_before[jnp.searchsorted(sorted_s, s, side="right")]      # ... smaller or equal
    wins = jnp.sum(jnp.where(pos, below + 0.5 * (up_to - below), 0.0))
    n_pos = jnp.sum(pos)
    n_neg = t.shape[0] - n_pos
    den = n_pos.astype(jnp.float32) * n_neg.astype(jnp.float32)
    return jnp.where(den > 0, wins / jnp.where(den > 0, den, 1.0), 0.5)
