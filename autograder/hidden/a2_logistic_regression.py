"""Hidden cases of assignment a2 (logistic regression). Instructor-only: never shipped.

Edges: extreme logits (+-100, +-1000), scalars and 3-D inputs, p = 1 for a
negative (clipping), soft labels, zero training steps, default arguments,
imbalanced training data.
"""
from __future__ import annotations

import numpy as np

from medjax.selfcheck.cases import Case

_rng = np.random.default_rng(4242)
_X = _rng.normal(size=(50, 4)).astype(np.float32)
_Y = (_rng.uniform(size=50) < 0.3).astype(np.float32)
_W = _rng.normal(size=4).astype(np.float32)
_X_IMB = np.concatenate([_rng.normal(-0.5, 1.0, (45, 3)), _rng.normal(1.0, 1.0, (5, 3))]).astype(np.float32)
_Y_IMB = np.concatenate([np.zeros(45), np.ones(5)]).astype(np.float32)

HIDDEN: dict[str, tuple[Case, ...]] = {
    "test_sigmoid": (
        Case(args=(np.array([-1000.0, 1000.0, -50.0, 50.0], np.float32),), what="logits of +-1000 and +-50"),
        Case(args=(np.float32(0.0),), what="a scalar"),
        Case(args=(_rng.normal(size=(2, 3, 4)).astype(np.float32),), what="a 3-D input"),
    ),
    "test_bce": (
        Case(args=(np.array([1.0, 0.5], np.float32), np.array([0.0, 1.0], np.float32)),
             what="p = 1 for a negative: clipping keeps it finite", rtol=0.02),
        Case(args=(_rng.uniform(0.01, 0.99, 40).astype(np.float32), _Y[:40]), what="40 examples"),
        Case(args=(np.array([0.25, 0.75], np.float32), np.array([0.25, 0.75], np.float32)), what="soft labels"),
    ),
    "test_bce_with_logits": (
        Case(args=(np.array([100.0, -100.0, 100.0, -100.0], np.float32), np.array([1.0, 0.0, 0.0, 1.0], np.float32)),
             what="logits of +-100, right and wrong", rtol=1e-4),
        Case(args=(np.array([1000.0, -1000.0], np.float32), np.array([0.0, 0.0], np.float32)),
             what="logits of +-1000", rtol=1e-4),
        Case(args=(_rng.normal(0, 3, 30).astype(np.float32), _Y[:30]), what="30 examples"),
        Case(args=(np.array([0.5, -2.0], np.float32), np.array([0.3, 0.9], np.float32)), what="soft labels"),
    ),
    "test_predict_proba": (
        Case(args=(_W, -1.5, _X), what="50 examples, negative bias"),
        Case(args=(np.array([40.0], np.float32), 0.0, np.array([[3.0], [-3.0]], np.float32)),
             what="one feature, saturated probabilities"),
    ),
    "test_bce_gradient": (
        Case(args=(_W, 0.3, _X, _Y), what="50 examples, 4 features"),
        Case(args=(10 * _W, -2.0, _X, _Y), what="large weights (saturated sigmoid)"),
        Case(args=(np.array([1.0], np.float32), 0.0, np.array([[2.0]], np.float32), np.array([0.0], np.float32)),
             what="a single example"),
    ),
    "test_gradient_descent": (
        Case(args=(np.array([1.0, 2.0, 3.0], np.float32), np.zeros(3, np.float32), 0.5, 3),
             what="lr 0.5 jumps to the minimum", rtol=1e-4),
        Case(args=(np.array([5.0], np.float32), np.array([0.0], np.float32), 0.1, 0),
             what="zero steps change nothing", rtol=1e-4),
        Case(args=(_rng.normal(size=5).astype(np.float32), _rng.normal(size=5).astype(np.float32), 0.05, 50),
             what="five parameters, 50 steps", rtol=1e-4),
        Case(args=(np.array([2.0, -1.0], np.float32), np.array([0.5, 0.5], np.float32), 0.1, 10),
             kwargs={"structure": "tuple"}, what="parameters in a tuple, not a dict", rtol=1e-4),
    ),
    "test_train_logistic_regression": (
        Case(args=(_X_IMB, _Y_IMB), what="imbalanced data, default lr and steps"),
        Case(args=(_X, _Y), kwargs={"lr": 0.5, "num_steps": 20}, what="4 features, lr 0.5"),
    ),
}
