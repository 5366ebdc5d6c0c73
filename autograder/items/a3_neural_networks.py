"""Trusted side of assignment a3: references and models of the known mistakes (instructor-only)."""
from __future__ import annotations

import numpy as np

from autograder.reference import a1_a3 as ref
from medjax.selfcheck.a3_neural_networks import init_probe


def _std_init(key, layer_sizes):
    rng = np.random.default_rng(0)
    return [(rng.normal(0, 1.0, (a, b)), np.zeros(b)) for a, b in zip(layer_sizes[:-1], layer_sizes[1:])]


def _grads_no_relu_mask(params, x, y):
    (w1, b1), (w2, b2) = [(np.asarray(w, np.float64), np.asarray(b, np.float64)) for w, b in params]
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    h = ref.relu(x @ w1 + b1)
    d_out = 2.0 * (h @ w2 + b2 - y) / y.size
    d_z1 = d_out @ w2.T
    return [(x.T @ d_z1, d_z1.sum(axis=0)), (h.T @ d_out, d_out.sum(axis=0))]


def _grads_scaled(factor):
    def output(params, x, y):
        return [(dw * factor, db * factor) for dw, db in ref.two_layer_grads(params, x, y)]
    return output


def _linear_forward(params, x):
    h = np.asarray(x, dtype=np.float64)
    for w, b in params:
        h = h @ np.asarray(w, dtype=np.float64) + np.asarray(b, dtype=np.float64)
    return h


REFERENCES = {
    "test_relu": ref.relu,
    "test_leaky_relu": ref.leaky_relu,
    "test_elu": ref.elu,
    "test_softmax": ref.softmax,
    "test_cross_entropy": ref.cross_entropy,
    "test_mse": ref.mse,
    "test_init_mlp": ref.init_mlp,
    "test_mlp_forward": ref.mlp_forward,
    "test_mlp_param_count": ref.mlp_param_count,
    "test_two_layer_grads": ref.two_layer_grads,
}

MISTAKES = {
    "test_relu": {"absolute value": lambda x: np.abs(x)},
    "test_leaky_relu": {
        "alpha on the wrong side": lambda x, alpha=0.01: np.where(np.asarray(x) > 0, alpha * np.asarray(x), x),
    },
    "test_elu": {
        "forgot alpha": lambda x, alpha=1.0: ref.elu(x, 1.0),
        "forgot the - 1": lambda x, alpha=1.0: np.where(np.asarray(x) > 0, x, alpha * np.exp(np.minimum(x, 0))),
    },
    "test_softmax": {"wrong axis": lambda z: ref.softmax(np.asarray(z).T).T},
    "test_cross_entropy": {
        "sum instead of mean": lambda z, y: ref.cross_entropy(z, y) * np.asarray(y).shape[0],
        "logits used as probabilities":
            lambda z, y: np.mean(-(np.asarray(y) * np.log(np.abs(np.asarray(z)) + 1e-30)).sum(-1)),
    },
    "test_mse": {
        "sum instead of mean": lambda a, b: ref.mse(a, b) * np.asarray(a).size,
        "root of the mean": lambda a, b: np.sqrt(ref.mse(a, b)),
    },
    "test_init_mlp": {"standard normal weights": lambda seed, sizes: init_probe(_std_init, seed, sizes)},
    "test_mlp_forward": {
        "ReLU on the output": lambda p, x: ref.relu(ref.mlp_forward(p, x)),
        "no ReLU": _linear_forward,
    },
    "test_mlp_param_count": {"forgot the biases": lambda s: sum(a * b for a, b in zip(s[:-1], s[1:]))},
    "test_two_layer_grads": {
        "missing ReLU derivative": _grads_no_relu_mask,
        "forgot the 2 of the square": _grads_scaled(0.5),
        "mean over the batch only": _grads_scaled(2.0),
    },
}
