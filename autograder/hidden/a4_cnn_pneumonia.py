"""Hidden cases of assignment a4 (CNN for pneumonia). Instructor-only: never shipped.

Edges: class imbalance, all-positive and all-negative predictions, no positive
label (0.0 conventions), perfect predictions, tiny and odd split sizes, other
fractions, 64x64 inputs, imbalanced and all-positive training batches,
saturated images for augmentation, duplicate probabilities and ties for the
threshold.
"""
from __future__ import annotations

import numpy as np

from medjax.selfcheck.cases import Case

_rng = np.random.default_rng(2024)


def _imbalanced(n: int, prevalence: float, flip: float):
    y = (_rng.uniform(size=n) < prevalence).astype(np.int64)
    p = np.where(_rng.uniform(size=n) < flip, 1 - y, y)
    return y, p


_Y_IMB, _P_IMB = _imbalanced(200, 0.1, 0.08)
_Y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 0])
_METRIC = (
    Case(args=(_Y, np.ones(10, np.int64)), what="all-positive predictions"),
    Case(args=(_Y, np.zeros(10, np.int64)), what="all-negative predictions (no predicted positive)"),
    Case(args=(np.zeros(6, np.int64), np.array([0, 1, 0, 0, 1, 0])), what="no positive label"),
    Case(args=(np.ones(5, np.int64), np.ones(5, np.int64)), what="no negative label, all correct"),
    Case(args=(_Y, _Y.copy()), what="perfect predictions"),
    Case(args=(_Y_IMB, _P_IMB), what="200 patients, prevalence about 10 %"),
)


def _threshold_case(n_pos: int, n_neg: int, *, decimals: int):
    """Scores with overlap; 2-power class sizes keep sums of ratios exact (ties are real ties)."""
    y = np.array([1] * n_pos + [0] * n_neg)
    p = np.clip(np.round(_rng.normal(0.35 + 0.3 * y, 0.15), decimals), 0.01, 0.99)
    order = _rng.permutation(y.size)
    return p[order], y[order]


_THR_DUPLICATES = _threshold_case(8, 16, decimals=1)  # many equal probabilities
_THR_RANDOM = _threshold_case(16, 32, decimals=3)

HIDDEN: dict[str, tuple[Case, ...]] = {
    "test_confusion_matrix": _METRIC,
    "test_accuracy": _METRIC,
    "test_precision": _METRIC,
    "test_recall": _METRIC,
    "test_specificity": _METRIC,
    "test_f1": _METRIC,
    "test_always_negative_accuracy": (
        Case(args=(0.0,), what="no disease"), Case(args=(0.9,), what="prevalence 90 %"),
        Case(args=(0.001,), what="a very rare disease"),
    ),
    "test_split_dataset": (
        Case(args=(2, 101, [0.8, 0.1, 0.1]), what="n = 101, fractions (0.8, 0.1, 0.1)"),
        Case(args=(3, 5), what="tiny n = 5"),
        Case(args=(4, 1001, [0.7, 0.15, 0.15]), what="n = 1001, fractions (0.7, 0.15, 0.15)"),
    ),
    "test_simple_cnn": (
        Case(args=([2, 64, 64, 1],), what="64x64 inputs"),
        Case(args=([3, 28, 28, 1],), what="a batch of 3"),
    ),
    "test_train_step": (
        Case(args=(1, 16, 4, 0.05, 0.1), what="imbalanced batch (10 % positive)"),
        Case(args=(2, 16, 4, 0.05, 1.0), what="all-positive batch"),
    ),
    "test_augment": (
        Case(args=(5, 4, 64), what="64x64 images"),
        Case(args=(6, 3, 28, True), what="saturated images (0 and 1 pixels)"),
    ),
    "test_choose_threshold": (
        Case(args=_THR_DUPLICATES, what="duplicate probabilities and ties"),
        Case(args=_THR_RANDOM, what="48 overlapping scores, imbalanced"),
        Case(args=(np.array([0.2, 0.9, 0.4, 0.7]), np.array([1, 1, 1, 1])), what="only positive labels"),
        Case(args=(np.array([0.3, 0.3, 0.6, 0.6, 0.8]), np.array([0, 1, 0, 1, 1])), what="tied probabilities"),
    ),
}
