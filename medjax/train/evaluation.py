"""Evaluation on the host: ROC, AUC, the decision threshold and the binary report.

These run once per epoch on fetched NumPy arrays, never inside the step.
"""
from __future__ import annotations

import numpy as np

CRITERIA = ("youden", "accuracy")


def _binary_inputs(fn: str, probs, labels) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1)
    if p.shape != y.shape:
        raise ValueError(f"{fn}: 'probs' and 'labels' must have the same length, got {p.shape} and {y.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{fn}: 'probs' must be finite")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError(f"{fn}: 'labels' (the second argument) must be 0 or 1; {fn} takes (probs, labels), "
                         "while medjax.roc_auc takes (y_true, scores): are the arguments swapped?")
    if y.min(initial=1) == y.max(initial=0):
        raise ValueError(f"{fn}: 'labels' must contain both classes, got only {int(y[0]) if y.size else 'none'}")
    return p, y.astype(bool)


def roc_curve(probs, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct threshold (predict 1 when ``p >= t``).

    Returns ``(fpr, tpr, thresholds)``, from the strictest threshold (``inf``:
    nothing positive, the point (0, 0)) to the lowest probability (1, 1).

    >>> fpr, tpr, t = roc_curve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    p, y = _binary_inputs("roc_curve", probs, labels)
    order = np.argsort(-p, kind="stable")
    p, y = p[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(p) != 0), p.size - 1]  # last index of each tie group
    tp, fp = np.cumsum(y)[last], np.cumsum(~y)[last]
    tpr = np.r_[0.0, tp / y.sum()]
    fpr = np.r_[0.0, fp / (~y).sum()]
    return fpr, tpr, np.r_[np.inf, p[last]]


def roc_auc(probs, labels) -> float:
    """Area under :func:`roc_curve` (trapezoids), as a Python float.

    Equals the probability that a random positive scores above a random
    negative, ties counting one half: the same value as :func:`medjax.roc_auc`
    (jittable, on the device, ``(y_true, scores)`` order), computed here on the
    host in float64 from the curve that the ROC plot and the threshold use.

    >>> roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    0.75
    """
    fpr, tpr, _ = roc_curve(probs, labels)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def choose_threshold(val_probs, val_labels, criterion: str = "youden") -> float:
    """The decision threshold that maximises ``criterion`` on the validation split.

    ``youden``: ``J = sensitivity + specificity - 1``; ``accuracy``: the share
    correct. The threshold is one of the validation probabilities (predict 1
    when ``p >= t``); ties go to the threshold nearest 0.5. Choose it on
    validation data only, then report the test split at that threshold.

    >>> choose_threshold([0.1, 0.3, 0.35, 0.8], [0, 0, 1, 1])
    0.35
    """
    if criterion not in CRITERIA:
        raise ValueError(f"choose_threshold: 'criterion' must be one of {', '.join(map(repr, CRITERIA))}, "
                         f"got {criterion!r}")
    fpr, tpr, thresholds = roc_curve(val_probs, val_labels)
    fpr, tpr, thresholds = fpr[1:], tpr[1:], thresholds[1:]  # drop 'nothing positive'
    if criterion == "youden":
        score = tpr - fpr
    else:
        y = np.asarray(val_labels).reshape(-1)
        score = (tpr * y.sum() + (1 - fpr) * (y.size - y.sum())) / y.size
    best = np.flatnonzero(np.isclose(score, score.max(), rtol=0, atol=1e-12))
    return float(thresholds[best[np.argmin(np.abs(thresholds[best] - 0.5))]])


def binary_report(probs, labels, threshold: float = 0.5) -> dict:
    """Accuracy at 0.5 and at ``threshold``, AUC, sensitivity, specificity, confusion matrix.

    Sensitivity ``TP / (TP + FN)``, specificity ``TN / (TN + FP)`` and the
    confusion matrix ``[[TN, FP], [FN, TP]]`` (rows = truth) are at ``threshold``.

    >>> r = binary_report([0.1, 0.3, 0.35, 0.8], [0, 0, 1, 1], threshold=0.35)
    >>> r["accuracy"], r["accuracy_at_threshold"], r["confusion_matrix"]
    (0.75, 1.0, [[2, 0], [0, 2]])
    """
    p, y = _binary_inputs("binary_report", probs, labels)
    pred = p >= threshold
    tp, fn = int(np.sum(pred & y)), int(np.sum(~pred & y))
    tn, fp = int(np.sum(~pred & ~y)), int(np.sum(pred & ~y))
    return {
        "accuracy": float(np.mean((p >= 0.5) == y)),
        "accuracy_at_threshold": float(np.mean(pred == y)),
        "auc": roc_auc(p, y),
        "sensitivity": tp / (tp + fn),
        "specificity": tn / (tn + fp),
        "confusion_matrix": [[tn, fp], [fn, tp]],
        "threshold": float(threshold),
    }
