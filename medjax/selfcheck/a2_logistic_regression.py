"""Assignment a2 (logistic regression by hand): graded items and visible cases.

Banned everywhere: ``optax``, ``jax.nn.log_sigmoid`` and ``medjax`` (the library
has these functions). ``sigmoid`` itself must not call a library sigmoid;
the other items may use ``jax.nn.sigmoid`` or the student's own ``sigmoid``.
``bce_gradient`` is derived by hand: no ``jax.grad`` inside it. No answers here:
the references and mistake models live in ``autograder.items.a2_logistic_regression``.

>>> from medjax.selfcheck import items
>>> items("a2_logistic_regression")["test_bce"].points
1
"""
from __future__ import annotations

import numpy as np

from medjax.selfcheck.cases import Case, Item, Mistake

ASSIGNMENT = "a2_logistic_regression"
BANNED = ("optax", "jax.nn.log_sigmoid", "medjax")
AUTODIFF = ("jax.grad", "jax.value_and_grad", "jax.vjp", "jax.jacrev", "jax.jacfwd", "jax.linearize")

_rng = np.random.default_rng(2024)
X_SMALL = _rng.normal(size=(6, 3)).astype(np.float32)
Y_SMALL = np.array([1, 0, 1, 1, 0, 0], dtype=np.float32)
W_SMALL = np.array([0.5, -1.0, 0.25], dtype=np.float32)
_X_TRAIN = np.concatenate([_rng.normal(-1.0, 1.0, (20, 2)), _rng.normal(1.0, 1.0, (20, 2))]).astype(np.float32)
_Y_TRAIN = np.concatenate([np.zeros(20), np.ones(20)]).astype(np.float32)


# --------------------------------------------------------------------------- gradient descent probe

def gd_probe(gradient_descent, w0, target, lr, num_steps, structure="dict"):
    """Minimise the trusted quadratic |w - target|^2 + (b - 1)^2 from (w0, b=0).

    ``structure`` picks the pytree the parameters travel in: a dict ``{"w", "b"}``
    or a tuple ``(w, b)``; the result is returned as a dict either way.
    """
    target = np.asarray(target, dtype=np.float32)
    w0, b0 = np.asarray(w0, dtype=np.float32), np.float32(0.0)
    if structure == "tuple":
        out = gradient_descent(lambda p: (2.0 * (p[0] - target), 2.0 * (p[1] - 1.0)), (w0, b0), lr, num_steps)
        return {"w": out[0], "b": out[1]}

    def grad_fn(params):
        return {"w": 2.0 * (params["w"] - target), "b": 2.0 * (params["b"] - 1.0)}

    out = gradient_descent(grad_fn, {"w": w0, "b": b0}, lr, num_steps)
    return {"w": out["w"], "b": out["b"]}


ITEMS: list[Item] = [
    Item(grade_id="test_sigmoid", name="sigmoid", points=1,
         what="sigmoid(z) = 1 / (1 + exp(-z)), elementwise and finite for any z",
         reference=None,
         cases=(Case(args=(np.array([-3.0, -1.0, 0.0, 1.0, 3.0], np.float32),), what="small values"),
                Case(args=(np.array([[-100.0, 100.0], [0.5, -0.5]], np.float32),), what="+-100 and a 2-D input")),
         banned=("jax.nn.sigmoid", "jax.scipy.special.expit", "scipy", *BANNED)),
    Item(grade_id="test_bce", name="bce", points=1,
         what="bce(y_prob, y_true) = mean(-(y log p + (1-y) log(1-p))), p clipped to [1e-7, 1-1e-7]",
         reference=None,
         cases=(Case(args=(np.array([0.9, 0.2, 0.6], np.float32), np.array([1.0, 0.0, 1.0], np.float32)),
                     what="three predictions"),
                Case(args=(np.array([0.0, 1.0], np.float32), np.array([1.0, 1.0], np.float32)),
                     what="p = 0 for a positive: clipping keeps it finite")),
         mistakes=(Mistake("sum instead of mean", "average the per-example losses (divide by N)."),
                   Mistake("no clipping", "clip p to [1e-7, 1 - 1e-7] before taking logs.")),
         banned=BANNED),
    Item(grade_id="test_bce_with_logits", name="bce_with_logits", points=2,
         what="bce_with_logits(z, y) = mean BCE of sigmoid(z), computed stably (finite at +-100)",
         reference=None,
         cases=(Case(args=(np.array([2.0, -1.0, 0.5], np.float32), np.array([1.0, 0.0, 0.0], np.float32)),
                     what="moderate logits"),
                Case(args=(np.array([100.0, -100.0], np.float32), np.array([0.0, 1.0], np.float32)),
                     what="logits of +-100, confidently wrong (loss 100)", rtol=1e-4)),
         mistakes=(Mistake("log(sigmoid(z)) overflows",
                           "use log(1 + exp(z)) - y z with a stable log(1 + exp(z)) "
                           "(max(z, 0) + log1p(exp(-|z|)) or jnp.logaddexp(0, z))."),),
         banned=BANNED),
    Item(grade_id="test_predict_proba", name="predict_proba", points=1,
         what="predict_proba(w, b, X) = sigmoid(X @ w + b), shape (N,)",
         reference=None,
         cases=(Case(args=(W_SMALL, 0.5, X_SMALL), what="6 examples, 3 features"),),
         mistakes=(Mistake("forgot the bias", "add b to every logit."),
                   Mistake("returned (N, 1)", "w has shape (d,), so X @ w has shape (N,): keep it 1-D.")),
         banned=BANNED),
    Item(grade_id="test_bce_gradient", name="bce_gradient", points=2,
         what="bce_gradient(w, b, X, y) = (X^T (p - y) / N, mean(p - y)), derived by hand",
         reference=None,
         cases=(Case(args=(W_SMALL, 0.5, X_SMALL, Y_SMALL), what="6 examples, 3 features"),
                Case(args=(np.zeros(3, np.float32), 0.0, X_SMALL, Y_SMALL), what="at w = 0, b = 0")),
         mistakes=(Mistake("missing mean", "the loss is a mean, so its gradient is divided by N."),
                   Mistake("wrong sign", "dL/dz = p - y (prediction minus label)."),
                   Mistake("forgot the sigmoid", "p = sigmoid(X w + b), not X w + b.")),
         banned=(*BANNED, *AUTODIFF)),
    Item(grade_id="test_gradient_descent", name="gradient_descent", points=2,
         what="gradient_descent(grad_fn, params, lr, num_steps): params <- params - lr * grad_fn(params), on a pytree",
         reference=None, probe=gd_probe,
         cases=(Case(args=(np.array([3.0, -2.0], np.float32), np.array([1.0, 1.0], np.float32), 0.1, 20),
                     what="a quadratic bowl, 20 steps of lr 0.1", rtol=1e-4),
                Case(args=(np.array([0.0], np.float32), np.array([2.0], np.float32), 0.25, 1),
                     what="one step", rtol=1e-4)),
         mistakes=(Mistake("w + lr * grad", "step AGAINST the gradient: params - lr * grad."),
                   Mistake("only one step", "repeat the update num_steps times.")),
         banned=BANNED),
    Item(grade_id="test_train_logistic_regression", name="train_logistic_regression", points=2,
         what="train_logistic_regression(X, y, lr=0.1, num_steps=100) -> (w, b, losses) from w = 0, b = 0",
         reference=None,
         cases=(Case(args=(_X_TRAIN, _Y_TRAIN), kwargs={"num_steps": 30},
                     what="two Gaussian blobs, 30 steps of lr 0.1"),
                Case(args=(_X_TRAIN, _Y_TRAIN), kwargs={"lr": 1.0, "num_steps": 10}, what="lr 1.0, 10 steps")),
         mistakes=(Mistake("gradient ascent", "step against the gradient: w - lr * dw."),),
         rtol=1e-3, atol=1e-4, banned=BANNED),
]
