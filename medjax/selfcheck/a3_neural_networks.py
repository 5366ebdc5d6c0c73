"""Assignment a3 (activations, losses, a multi-layer perceptron by hand): graded items.

``init_mlp`` is checked statistically (shapes, He or Glorot scale, zero biases,
determinism for a key), not value by value. ``two_layer_grads`` is backprop by
hand: no ``jax.grad``/``jax.vjp``/``jax.value_and_grad`` inside it. No answers
here: the references and mistake models live in ``autograder.items.a3_neural_networks``.

>>> from medjax.selfcheck import items
>>> items("a3_neural_networks")["test_mlp_param_count"].cases[0].args
([784, 128, 10],)
"""
from __future__ import annotations

import numpy as np

from medjax.selfcheck.cases import Case, Item, Mistake
from medjax.selfcheck.choices import choice_item

ASSIGNMENT = "a3_neural_networks"
BANNED = ("jax.nn", "flax", "optax", "medjax")
AUTODIFF = ("jax.grad", "jax.value_and_grad", "jax.vjp", "jax.jacrev", "jax.jacfwd", "jax.linearize")

_rng = np.random.default_rng(7)
_X = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0], [3.0, -3.0, 1e-3, -1e-3, 10.0]], np.float32)
_LOGITS = _rng.normal(size=(4, 3)).astype(np.float32)
_ONEHOT = np.eye(3, dtype=np.float32)[[0, 2, 1, 2]]


def _mlp_params(sizes, seed):
    rng = np.random.default_rng(seed)
    return [(rng.normal(0, 1 / np.sqrt(a), (a, b)).astype(np.float32), rng.normal(0, 0.1, b).astype(np.float32))
            for a, b in zip(sizes[:-1], sizes[1:])]


_PARAMS_2 = _mlp_params([3, 4, 2], 1)
_XB = _rng.normal(size=(5, 3)).astype(np.float32)
_YB = _rng.normal(size=(5, 2)).astype(np.float32)


# --------------------------------------------------------------------------- init_mlp probe

def _scale_verdict(w: np.ndarray) -> str:
    """'ok' when std(W) matches He (2/n_in) or Glorot (2/(n_in+n_out)) within 20 %, mean near 0."""
    n_in, n_out = w.shape
    std = float(w.std())
    targets = (np.sqrt(2.0 / n_in), np.sqrt(2.0 / (n_in + n_out)))
    if abs(float(w.mean())) > 0.2 * min(targets) + 3 * std / np.sqrt(w.size):
        return "not centred on 0"
    if std > 1.2 * max(targets):
        return "too large"
    if std < 0.8 * min(targets):
        return "too small"
    return "ok"


def init_probe(init_mlp, seed, layer_sizes):
    """Shapes, scale, biases and determinism of ``init_mlp(jax.random.PRNGKey(seed), layer_sizes)``."""
    import jax

    params = init_mlp(jax.random.PRNGKey(seed), list(layer_sizes))
    again = init_mlp(jax.random.PRNGKey(seed), list(layer_sizes))
    other = init_mlp(jax.random.PRNGKey(seed + 1), list(layer_sizes))
    layers = []
    for w, b in params:
        w, b = np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64)
        layers.append({"W shape": list(w.shape), "b shape": list(b.shape),
                       "W scale": _scale_verdict(w) if w.ndim == 2 else "W is not 2-D",
                       "b": "zeros" if not np.any(b) else "not zeros"})
    same = all(np.array_equal(np.asarray(w1), np.asarray(w2)) for (w1, _), (w2, _) in zip(params, again))
    differ = not np.array_equal(np.asarray(params[0][0]), np.asarray(other[0][0]))
    return {"layers": layers, "same key gives the same params": bool(same),
            "another key gives other params": bool(differ)}


ITEMS: list[Item] = [
    Item(grade_id="test_relu", name="relu", points=1, what="relu(x) = max(0, x)", reference=None,
         cases=(Case(args=(_X,), what="negatives, zero and positives"),),
         mistakes=(Mistake("absolute value", "negative inputs give 0, not |x|."),),
         banned=BANNED),
    Item(grade_id="test_leaky_relu", name="leaky_relu", points=1, what="leaky_relu(x, alpha=0.01) = x if x > 0 else alpha x",
         reference=None,
         cases=(Case(args=(_X,), what="default alpha 0.01"), Case(args=(_X,), kwargs={"alpha": 0.2}, what="alpha 0.2")),
         mistakes=(Mistake("alpha on the wrong side", "multiply the NEGATIVE inputs by alpha."),),
         banned=BANNED),
    Item(grade_id="test_elu", name="elu", points=1, what="elu(x, alpha=1.0) = x if x > 0 else alpha (exp(x) - 1)",
         reference=None,
         cases=(Case(args=(_X,), what="default alpha"), Case(args=(_X,), kwargs={"alpha": 0.5}, what="alpha 0.5")),
         mistakes=(Mistake("forgot alpha", "scale the negative branch by alpha."),
                   Mistake("forgot the - 1", "the negative branch is alpha (exp(x) - 1), which tends to -alpha.")),
         banned=BANNED),
    Item(grade_id="test_softmax", name="softmax", points=2, what="softmax(z) along the last axis, stable for large z",
         reference=None,
         cases=(Case(args=(np.array([1.0, 2.0, 3.0], np.float32),), what="a vector"),
                Case(args=(_LOGITS,), what="a batch: one distribution per row"),
                Case(args=(np.array([1000.0, 1001.0, 1002.0], np.float32),), what="large logits: subtract the max")),
         mistakes=(Mistake("wrong axis", "normalise along the LAST axis (each row sums to 1)."),),
         banned=BANNED),
    Item(grade_id="test_cross_entropy", name="cross_entropy", points=2,
         what="cross_entropy(logits, labels_onehot) = mean over the batch of -sum y log softmax(z)",
         reference=None,
         cases=(Case(args=(_LOGITS, _ONEHOT), what="4 examples, 3 classes"),
                Case(args=(np.array([[1000.0, 0.0]], np.float32), np.array([[0.0, 1.0]], np.float32)),
                     what="large logits stay finite (loss 1000)", rtol=1e-4)),
         mistakes=(Mistake("sum instead of mean", "average over the batch."),
                   Mistake("logits used as probabilities", "take log SOFTMAX of the logits, not log of the logits.")),
         banned=BANNED),
    Item(grade_id="test_mse", name="mse", points=1, what="mse(y_pred, y_true) = mean((y_pred - y_true)^2)",
         reference=None,
         cases=(Case(args=(np.array([1.0, 2.0, 4.0], np.float32), np.array([1.0, 0.0, 1.0], np.float32)),
                     what="three values"), Case(args=(_YB, np.zeros_like(_YB)), what="a (5, 2) batch")),
         mistakes=(Mistake("sum instead of mean", "divide by the number of entries."),
                   Mistake("root of the mean", "MSE has no square root (that is RMSE).")),
         banned=BANNED),
    Item(grade_id="test_init_mlp", name="init_mlp", points=2,
         what="init_mlp(key, layer_sizes) -> [(W (n_in, n_out), b (n_out,)), ...], He or Glorot scale, zero b",
         reference=None, probe=init_probe,
         cases=(Case(args=(0, [256, 128, 10]), what="a 256-128-10 network"),),
         mistakes=(Mistake("standard normal weights", "scale the weights: std sqrt(2 / n_in) (He) keeps activations stable."),),
         banned=("flax", "medjax")),
    Item(grade_id="test_mlp_forward", name="mlp_forward", points=2,
         what="mlp_forward(params, x): ReLU after every hidden layer, no activation after the last",
         reference=None,
         cases=(Case(args=(_PARAMS_2, _XB), what="a 3-4-2 network on a batch of 5"),),
         mistakes=(Mistake("ReLU on the output", "the last layer is linear (no ReLU): its outputs are logits."),
                   Mistake("no ReLU", "apply ReLU after each hidden layer, or the network is linear.")),
         banned=BANNED),
    Item(grade_id="test_mlp_param_count", name="mlp_param_count", points=1,
         what="mlp_param_count(layer_sizes) = sum(n_in * n_out + n_out)",
         reference=None,
         cases=(Case(args=([784, 128, 10],), what="784-128-10 -> 101,770"),),
         mistakes=(Mistake("forgot the biases", "each layer has n_out biases."),)),
    Item(grade_id="test_two_layer_grads", name="two_layer_grads", points=3,
         what="two_layer_grads(params, x, y) = gradients of mse(relu(x W1 + b1) W2 + b2, y), by hand",
         reference=None,
         cases=(Case(args=(_PARAMS_2, _XB, _YB), what="a 3-4-2 network on a batch of 5"),),
         mistakes=(Mistake("missing ReLU derivative", "backprop through ReLU multiplies by (z1 > 0)."),
                   Mistake("forgot the 2 of the square", "d/dyhat (yhat - y)^2 = 2 (yhat - y)."),
                   Mistake("mean over the batch only", "mse averages over ALL entries (N * outputs).")),
         banned=(*BANNED, *AUTODIFF)),
    choice_item(assignment=ASSIGNMENT, grade_id="test_answer_linear_collapse", name="answer_linear_collapse", points=1,
                what="what two linear layers without an activation compute",
                choices=("linear", "quadratic", "relu network")),
    choice_item(assignment=ASSIGNMENT, grade_id="test_answer_dead_gradient", name="answer_dead_gradient", points=1,
                what="which activation has zero gradient for every negative input",
                choices=("relu", "leaky_relu", "elu")),
]

