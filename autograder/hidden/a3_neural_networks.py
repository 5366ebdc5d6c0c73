"""Hidden cases of assignment a3 (neural networks). Instructor-only: never shipped.

Edges: scalars and 3-D inputs, very negative inputs for ELU, logits of +-1000,
one-element softmax, a batch of one, networks without hidden layers and with
two hidden layers, (N, 1) targets, and the multiple-choice answers.
"""
from __future__ import annotations

import numpy as np

from medjax.selfcheck.choices import ChoiceCase
from medjax.selfcheck.a3_neural_networks import _mlp_params
from medjax.selfcheck.cases import Case

_rng = np.random.default_rng(909)
_X3 = _rng.normal(0, 3, (2, 3, 4)).astype(np.float32)
_LOGITS = _rng.normal(0, 2, (8, 5)).astype(np.float32)
_ONEHOT = np.eye(5, dtype=np.float32)[_rng.integers(0, 5, 8)]

HIDDEN: dict[str, tuple[Case, ...]] = {
    "test_relu": (Case(args=(_X3,), what="a 3-D input"), Case(args=(np.float32(-2.0),), what="a scalar")),
    "test_leaky_relu": (Case(args=(_X3,), kwargs={"alpha": 0.5}, what="alpha 0.5 on a 3-D input"),
                        Case(args=(np.array([-100.0, 0.0, 100.0], np.float32),), what="large values")),
    "test_elu": (Case(args=(np.array([-50.0, -1.0, 0.0, 2.0], np.float32),), kwargs={"alpha": 2.0},
                      what="very negative inputs tend to -alpha"),
                 Case(args=(_X3,), what="a 3-D input")),
    "test_softmax": (
        Case(args=(np.array([-1000.0, 0.0, 1000.0], np.float32),), what="logits of +-1000"),
        Case(args=(np.array([5.0], np.float32),), what="a single class"),
        Case(args=(_X3,), what="a 3-D batch: softmax over the last axis"),
    ),
    "test_cross_entropy": (
        Case(args=(_LOGITS, _ONEHOT), what="8 examples, 5 classes"),
        Case(args=(np.array([[-1000.0, 0.0], [0.0, 1000.0]], np.float32), np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)),
             what="logits of +-1000", rtol=1e-4),
        Case(args=(_LOGITS[:1], _ONEHOT[:1]), what="a batch of one"),
    ),
    "test_mse": (Case(args=(_X3, _X3), what="identical inputs give 0"),
                 Case(args=(_X3, np.zeros_like(_X3)), what="a 3-D input")),
    "test_init_mlp": (Case(args=(5, [64, 512, 256]), what="a wide 64-512-256 network"),
                      Case(args=(3, [300, 200]), what="a single layer")),
    "test_mlp_forward": (
        Case(args=(_mlp_params([4, 8, 8, 3], 2), _rng.normal(size=(6, 4)).astype(np.float32)),
             what="two hidden layers"),
        Case(args=(_mlp_params([3, 2], 3), _rng.normal(size=(4, 3)).astype(np.float32)),
             what="no hidden layer: purely linear"),
        Case(args=(_mlp_params([2, 5, 1], 4), np.array([[1.0, -1.0]], np.float32)), what="a batch of one"),
    ),
    "test_mlp_param_count": (Case(args=([784, 256, 128, 10],), what="784-256-128-10"),
                             Case(args=([3, 1],), what="a single neuron"),
                             Case(args=([10],), what="no layer at all")),
    "test_two_layer_grads": (
        Case(args=(_mlp_params([4, 6, 1], 5), _rng.normal(size=(7, 4)).astype(np.float32),
                   _rng.normal(size=(7, 1)).astype(np.float32)), what="(N, 1) targets"),
        Case(args=(_mlp_params([2, 3, 2], 6), np.array([[0.5, -1.0]], np.float32), np.array([[1.0, 0.0]], np.float32)),
             what="a batch of one"),
    ),
    "test_answer_linear_collapse": (ChoiceCase(answer="linear", what="two linear layers"),),
    "test_answer_dead_gradient": (ChoiceCase(answer="relu", what="zero gradient for negative inputs"),),
}
