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


# --------------------------------------------------------------------------- per-student variants
# Parameters declared in solutions/a2_logistic_regression/a2_logistic_regression.ipynb: lr (the student's
# learning rate), prevalence (percent of positives in the student's training set), seed (its data).


def _student_data(params: dict, n: int = 50) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(int(params["seed"]))
    positives = max(1, round(n * int(params["prevalence"]) / 100))
    y = np.concatenate([np.ones(positives), np.zeros(n - positives)]).astype(np.float32)
    x = rng.normal(0.0, 1.0, (n, 3)) + 1.5 * y[:, None] * np.array([1.0, -0.5, 0.25])
    return x.astype(np.float32), y


def VARIANT_CASES(params: dict) -> dict:  # noqa: N802 - the name autograder.variants looks up
    """The training item gets the student's data set (prevalence, seed) and learning rate."""
    from autograder.hidden.a2_logistic_regression import HIDDEN
    from medjax.selfcheck import items
    from medjax.selfcheck.cases import Case

    gid = "test_train_logistic_regression"
    x, y = _student_data(params)
    lr, prevalence = float(params["lr"]), int(params["prevalence"])
    visible = (*items("a2_logistic_regression")[gid].cases,
               Case(args=(x, y), kwargs={"lr": lr, "num_steps": 25},
                    what=f"your data set ({prevalence}% positives), lr {lr:g}, 25 steps"))
    hidden = (*HIDDEN[gid],
              Case(args=(x[::-1].copy(), y[::-1].copy()), kwargs={"lr": lr, "num_steps": 60},
                   what="your data set reordered, 60 steps"))
    return {gid: (visible, hidden)}
