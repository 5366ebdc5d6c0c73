"""Trusted side of assignment a2: references and models of the known mistakes (instructor-only)."""
from __future__ import annotations

import numpy as np

from autograder.reference import a1_a3 as ref
from medjax.selfcheck.a2_logistic_regression import gd_probe


def _naive_bce_logits(logits, y_true):
    with np.errstate(all="ignore"):
        p = 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))
        y = np.asarray(y_true, dtype=np.float64)
        return np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _bce_sum(y_prob, y_true):
    return ref.bce(y_prob, y_true) * np.asarray(y_true).size


def _bce_unclipped(y_prob, y_true):
    with np.errstate(all="ignore"):
        p, y = np.asarray(y_prob, dtype=np.float64), np.asarray(y_true, dtype=np.float64)
        return np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _grad_no_mean(w, b, X, y):
    dw, db = ref.bce_gradient(w, b, X, y)
    n = np.asarray(X).shape[0]
    return dw * n, db * n


def _grad_wrong_sign(w, b, X, y):
    dw, db = ref.bce_gradient(w, b, X, y)
    return -dw, -db


def _grad_no_sigmoid(w, b, X, y):
    X = np.asarray(X, dtype=np.float64)
    r = X @ np.asarray(w, dtype=np.float64) + b - np.asarray(y, dtype=np.float64)
    return X.T @ r / X.shape[0], np.mean(r)


def _gd_ascent(w0, target, lr, num_steps, structure="dict"):
    return gd_probe(ref.gradient_descent, w0, target, -lr, num_steps, structure)


def _gd_one_step(w0, target, lr, num_steps, structure="dict"):
    return gd_probe(ref.gradient_descent, w0, target, lr, 1, structure)


REFERENCES = {
    "test_sigmoid": ref.sigmoid,
    "test_bce": ref.bce,
    "test_bce_with_logits": ref.bce_with_logits,
    "test_predict_proba": ref.predict_proba,
    "test_bce_gradient": ref.bce_gradient,
    "test_gradient_descent": ref.gradient_descent,
    "test_train_logistic_regression": ref.train_logistic_regression,
}

MISTAKES = {
    "test_bce": {"sum instead of mean": _bce_sum, "no clipping": _bce_unclipped},
    "test_bce_with_logits": {"log(sigmoid(z)) overflows": _naive_bce_logits},
    "test_predict_proba": {
        "forgot the bias": lambda w, b, X: ref.predict_proba(w, 0.0, X),
        "returned (N, 1)": lambda w, b, X: ref.predict_proba(w, b, X)[:, None],
    },
    "test_bce_gradient": {
        "missing mean": _grad_no_mean,
        "wrong sign": _grad_wrong_sign,
        "forgot the sigmoid": _grad_no_sigmoid,
    },
    "test_gradient_descent": {"w + lr * grad": _gd_ascent, "only one step": _gd_one_step},
    "test_train_logistic_regression": {
        "gradient ascent": lambda X, y, lr=0.1, num_steps=100: ref.train_logistic_regression(X, y, -lr, num_steps),
    },
}
