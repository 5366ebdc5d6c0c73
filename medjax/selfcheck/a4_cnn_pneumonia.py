"""Assignment a4, a CNN for pneumonia: metrics, splits, the model, the training step, the threshold.

Conventions (stated in the notebook): labels and predictions are 0/1 vectors of
shape (N,); the confusion matrix is ``[[TN, FP], [FN, TP]]`` (rows = actual,
columns = predicted); a ratio with a zero denominator is 0.0.

Functions and classes are probed with plain inputs (seeds, sizes, arrays); the
probes build keys, images and a Flax ``TrainState`` of a small probe network
(not the graded architecture) themselves, so only plain data crosses the
grader's process boundary. No answers here: expected values are stored data, the
references and mistake models live in the instructor-only
``autograder.items.a4_cnn_pneumonia``.

>>> from medjax.selfcheck import items
>>> items("a4_cnn_pneumonia")["test_choose_threshold"].mistakes[0].name
"'>' instead of '>='"
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from medjax.selfcheck.cases import Case, Item, Mistake
from medjax.selfcheck.choices import checklist

__all__ = ["ITEMS", "checklist"]

_A = np.array  # case inputs are NumPy arrays, as a data pipeline would give


# --------------------------------------------------------------------------- metrics

_Y_TRUE = _A([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0])
_Y_PRED = _A([1, 1, 1, 0, 1, 1, 0, 0, 0, 0, 1, 0])  # TP 4, FN 1, FP 2, TN 5: FP != FN
_Y_TRUE_RARE = _A([0] * 18 + [1, 1])
_Y_PRED_RARE = _A([0] * 17 + [1, 1, 0])
_METRIC_CASES = (
    Case(args=(_Y_TRUE, _Y_PRED), what="12 patients, 2 false positives and 1 false negative"),
    Case(args=(_Y_TRUE_RARE, _Y_PRED_RARE), what="a rare disease: 2 positives in 20"),
)


# the library's and scikit-learn's versions of what the student writes
_BANNED_METRICS = ("sklearn", "medjax.metrics", *(f"medjax.metrics.{f}" for f in (
    "confusion_matrix", "accuracy", "precision", "recall", "sensitivity", "specificity", "f1_score")))
_BANNED_THRESHOLD = ("sklearn", "medjax.train.evaluation", "medjax.train.evaluation.choose_threshold",
                     "medjax.train.choose_threshold")


def _metric(name: str, what: str, mistakes=(), points: float = 1) -> Item:
    return Item(grade_id=f"test_{name}", name=name, points=points, what=what, reference=None,
                cases=_METRIC_CASES, mistakes=tuple(mistakes), banned=_BANNED_METRICS)



# --------------------------------------------------------------------------- split_dataset


def _split_probe(split_dataset, seed: int, n: int, fractions=None) -> dict:
    """Call ``split_dataset`` with keys from ``seed``; report sizes and the properties of the split."""
    import jax

    kwargs = {} if fractions is None else {"fractions": tuple(fractions)}
    parts = split_dataset(jax.random.key(seed), n, **kwargs)
    if not isinstance(parts, (tuple, list)) or len(parts) != 3:
        return {"count": len(parts) if isinstance(parts, (tuple, list)) else 1}
    arrays = [np.asarray(p) for p in parts]
    again = [np.asarray(p) for p in split_dataset(jax.random.key(seed), n, **kwargs)]
    others = [[np.asarray(p) for p in split_dataset(jax.random.key(seed + k), n, **kwargs)] for k in (1, 2, 3)]
    flat = np.concatenate([a.ravel() for a in arrays])
    integer = all(a.dtype.kind in "iu" and a.ndim == 1 for a in arrays)
    same = lambda xs, ys: all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(xs, ys))  # noqa: E731
    return {
        "count": 3,
        "integer": bool(integer),
        "sizes": [int(a.size) for a in arrays],
        "disjoint": bool(np.unique(flat).size == flat.size),
        "covers": bool(flat.size == n and np.array_equal(np.sort(flat), np.arange(n))),
        "deterministic": bool(same(arrays, again)),
        "shuffled": bool(not all(same(arrays, o) for o in others)),
    }


_SPLIT_HINTS = {
    "count": "split_dataset should return three index arrays (train, val, test), got {got}",
    "integer": "each split should be a 1-D array of integer indices",
    "sizes": ("the sizes {got} do not follow the rule: n_train = floor(f_train * n), "
              "n_val = floor(f_val * n), n_test = n - n_train - n_val"),
    "disjoint": ("an index appears twice (in two splits, or twice in one): cut ONE permutation into "
                 "three pieces instead of sampling each split separately"),
    "covers": "together the three splits should contain every index 0 .. n-1 exactly once",
    "deterministic": "the same key gave a different split: all randomness must come from `key`",
    "shuffled": ("different keys gave the same split: shuffle with jax.random.permutation(key, n) "
                 "(a split in file order puts similar patients together)"),
}

# --------------------------------------------------------------------------- SimpleCNN


def _cnn_probe(model_cls, shape, dropout: bool = False) -> dict:
    """Build the student's class with its defaults, init on zeros of ``shape``, count parameters.

    With ``dropout``, also build ``model_cls(dropout_rate=0.5)`` with random weights and report
    whether evaluation (``train=False``, no rng) is deterministic and training mode is not.
    """
    import jax
    import jax.numpy as jnp

    model = model_cls()
    x = jax.ShapeDtypeStruct(tuple(int(s) for s in shape), jnp.float32)
    variables = jax.eval_shape(model.init, jax.random.key(0), x)  # shapes only, nothing computed
    out = jax.eval_shape(model.apply, variables, x)
    count = sum(int(np.prod(p.shape)) for p in jax.tree_util.tree_leaves(variables["params"]))
    result = {"collections": sorted(str(k) for k in variables), "params": count,
              "output_shape": [int(s) for s in out.shape]}
    if dropout:
        model = model_cls(dropout_rate=0.5)
        rng = np.random.default_rng(0)
        params = jax.tree_util.tree_map(
            lambda leaf: jnp.asarray(rng.normal(0.0, 0.3, leaf.shape).astype(np.float32)), variables["params"])
        images = jnp.asarray(rng.uniform(0.0, 1.0, x.shape).astype(np.float32))
        apply = jax.jit(model.apply, static_argnames="train")
        evals = [np.asarray(apply({"params": params}, images)) for _ in range(2)]
        trains = [np.asarray(apply({"params": params}, images, train=True, rngs={"dropout": jax.random.key(k)}))
                  for k in (1, 2)]
        result["eval_deterministic"] = bool(np.array_equal(evals[0], evals[1]))
        result["dropout_in_training"] = bool(not np.allclose(trains[0], trains[1]))
    return result


_CNN_HINTS = {
    "collections": ("model.init should create only 'params' (no BatchNorm, no extra collections), "
                    "got {got}"),
    "output_shape": "the output should have shape (N, 1): one logit per image, got {got}",
    "params": ("{got} parameters do not match the architecture: Conv(8, 3x3, SAME) and Conv(16, 3x3, SAME) "
               "with bias, each followed by ReLU and a 2x2 max-pool, then Dense(32) and Dense(1)"),
    "eval_deterministic": ("with dropout_rate=0.5 two evaluations (train=False) differ: dropout must be off "
                           "at evaluation, nn.Dropout(rate, deterministic=not train)"),
    "dropout_in_training": ("with dropout_rate=0.5 and train=True, two dropout keys gave the same output: "
                            "apply nn.Dropout(self.dropout_rate, deterministic=not train) after Dense(32)"),
}

# --------------------------------------------------------------------------- train_step


def _batch(seed: int, n: int, positive_fraction: float):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.0, 1.0, (n, 28, 28, 1)).astype(np.float32)
    labels = (rng.uniform(size=n) < positive_fraction).astype(np.int32)
    return images, labels


def _probe_net():
    """A small probe network (not the graded SimpleCNN): Conv(4, 3x3)-ReLU-Pool, Dense(1)."""
    import flax.linen as nn

    class ProbeNet(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool = False):
            x = nn.max_pool(nn.relu(nn.Conv(4, (3, 3), padding="SAME")(x)), (4, 4), strides=(4, 4))
            return nn.Dense(1)(x.reshape((x.shape[0], -1)))

    return ProbeNet()


@functools.lru_cache(maxsize=8)
def _probe_model_and_optimizer(lr: float):
    """One model and optimizer object per learning rate: the static parts of the state stay
    identical between calls, so jit compiles each train_step once per batch shape."""
    import optax

    return _probe_net(), optax.sgd(lr)


def _probe_params(model, seed: int):
    """LeCun-normal kernels and zero biases drawn with NumPy for the shapes Flax would create
    (``jax.eval_shape`` traces ``init`` without running it: much faster than a real init)."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(model.init, jax.random.key(0), jax.ShapeDtypeStruct((1, 28, 28, 1), jnp.float32))

    def draw(path, leaf):
        if "bias" in jax.tree_util.keystr(path):
            return jnp.zeros(leaf.shape, jnp.float32)
        fan_in = int(np.prod(leaf.shape[:-1]))
        return jnp.asarray(rng.normal(0.0, 1.0 / np.sqrt(fan_in), leaf.shape).astype(np.float32))

    return jax.tree_util.tree_map_with_path(draw, shapes["params"])


def _train_step_probe(train_step, seed: int, n: int, steps: int = 4, lr: float = 0.05,
                      positive_fraction: float = 0.5) -> dict:
    """Train the probe network with ``train_step`` on one fixed batch; report the losses."""
    import jax
    import jax.numpy as jnp
    from flax.training.train_state import TrainState

    images, labels = _batch(seed, n, positive_fraction)
    model, tx = _probe_model_and_optimizer(float(lr))
    state0 = TrainState.create(apply_fn=model.apply, params=_probe_params(model, seed), tx=tx)
    images, labels = jnp.asarray(images), jnp.asarray(labels)
    try:
        step, jit_ok = jax.jit(train_step), True
        step(state0, images, labels)
    except NotImplementedError:
        raise
    except Exception:  # noqa: BLE001 - e.g. a tracer error: report it, then try without jit
        step, jit_ok = train_step, False
    losses, state = [], state0
    for _ in range(steps):
        state, loss = step(state, images, labels)
        losses.append(np.asarray(loss, np.float32))
    repeat = np.asarray(step(state0, images, labels)[1], np.float32)
    return {"jit": jit_ok, "scalar": all(l.shape == () for l in losses), "losses": losses,
            "repeatable": bool(repeat.shape == losses[0].shape and np.allclose(repeat, losses[0], rtol=1e-5))}


def _compare_train_step(got: Any, expected: Any, case: Case) -> tuple[bool, str]:
    if not isinstance(got, dict):
        return False, "the probe did not get a result it understands"
    if not got.get("jit"):
        return False, ("train_step does not run under jax.jit: no Python `if`, `float()`, `.item()` or "
                       "NumPy calls on traced values inside it")
    if not got.get("scalar"):
        return False, ("the loss should be a scalar (the mean over the batch); if it is not, check the "
                       "(N, 1) logits against (N,) labels: take logits[:, 0]")
    losses = [np.asarray(l, np.float64) for l in got["losses"]]
    want = [np.asarray(l, np.float64) for l in expected["losses"]]
    if not np.all(np.isfinite(losses)):
        return False, "the loss is NaN or inf: compute BCE from logits (optax.sigmoid_binary_cross_entropy)"
    if not np.allclose(losses[0], want[0], rtol=1e-4, atol=1e-5):
        return False, ("the first loss is not the mean binary cross-entropy with logits of the batch before "
                       "the update: use the (N,) logits logits[:, 0] against the (N,) labels, float labels, "
                       "and mean over the batch")
    if not losses[-1] < losses[0]:
        return False, "the loss does not decrease on a fixed batch: descend, w - lr * grad"
    if not np.allclose(losses[1], want[1], rtol=1e-3, atol=1e-5):
        return False, ("the loss after one step differs from one step of the state's optimizer: "
                       "update with state.apply_gradients(grads=grads)")
    if not got.get("repeatable"):
        return False, "two calls on the same state gave different losses: keep no state outside the arguments"
    return True, "ok"


# --------------------------------------------------------------------------- augment


def _augment_probe(augment, seed: int, n: int, size: int = 28, extreme: bool = False) -> dict:
    """Properties of ``augment``: shape and dtype kept, same key same output, keys matter, range [0, 1]."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(seed)
    images = rng.uniform(0.0, 1.0, (n, size, size, 1)).astype(np.float32)
    if extreme:  # saturated pixels: a brightness shift must be clipped
        images = (images > 0.5).astype(np.float32)
    x = jnp.asarray(images)
    first = np.asarray(augment(jax.random.key(seed), x))
    again = np.asarray(augment(jax.random.key(seed), x))
    others = [np.asarray(augment(jax.random.key(seed + k), x)) for k in (1, 2, 3)]
    same = lambda a, b: a.shape == b.shape and np.array_equal(a, b)  # noqa: E731
    finite = first.dtype.kind == "f" and bool(np.isfinite(first).all())
    return {
        "shape": [int(s) for s in first.shape],
        "dtype": str(first.dtype),
        "deterministic": bool(same(first, again)),
        "keys_matter": bool(not all(same(first, o) for o in others)),
        "changes_images": bool(first.shape != images.shape or not np.allclose(first, images)),
        "in_range": bool(finite and first.min() >= 0.0 and first.max() <= 1.0),
    }


_AUGMENT_HINTS = {
    "shape": "augment must keep the batch shape (N, H, W, 1), got {got}",
    "dtype": "augment must keep the dtype float32, got {got}",
    "deterministic": "the same key gave different outputs: take all randomness from `key` (no np.random)",
    "keys_matter": "different keys gave the same output: split the key and draw per-image random numbers",
    "changes_images": "augment returned the images unchanged",
    "in_range": "values left [0, 1] (or became NaN): clip after shifting the brightness (jnp.clip)",
}

# --------------------------------------------------------------------------- choose_threshold


# probabilities with power-of-two class sizes, so float sums of ratios are exact and ties are real
_THR_SEPARABLE = (_A([0.1, 0.35, 0.4, 0.8, 0.7, 0.9, 0.2, 0.6]), _A([0, 0, 0, 1, 1, 1, 0, 1]))
_THR_IMBALANCED = (_A([0.05, 0.1, 0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.62, 0.7, 0.3, 0.52, 0.65, 0.9]),
                   _A([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]))
_THR_TIE = (_A([0.75, 0.15, 0.45, 0.35, 0.85, 0.25, 0.65, 0.55]), _A([1, 0, 1, 1, 1, 0, 0, 0]))

ITEMS: list[Item] = [
    Item(grade_id="test_confusion_matrix", name="confusion_matrix", points=2,
         what="[[TN, FP], [FN, TP]]: rows = actual class, columns = predicted class",
         reference=None, cases=_METRIC_CASES, banned=_BANNED_METRICS,
         mistakes=(Mistake("transposed matrix", "Rows are the ACTUAL class and columns the PREDICTED "
                           "class: entry [1, 0] counts sick patients predicted healthy (FN)."),
                   Mistake("class order [1, 0]", "Order the classes [0, 1]: [[TN, FP], [FN, TP]]."))),
    _metric("accuracy", "(TP + TN) / N"),
    _metric("precision", "TP / (TP + FP), 0.0 without positive predictions",
            [Mistake("precision and recall swapped", "Precision divides by the predicted positives "
                     "(TP + FP); recall divides by the actual positives (TP + FN).")]),
    _metric("recall", "sensitivity TP / (TP + FN), 0.0 without positive labels",
            [Mistake("recall and precision swapped", "Recall (sensitivity) divides by the actual "
                     "positives (TP + FN).")]),
    _metric("specificity", "TN / (TN + FP), 0.0 without negative labels",
            [Mistake("false-positive rate", "Specificity is TN / (TN + FP), the fraction of healthy "
                     "patients called healthy; FP / (TN + FP) is the false-positive rate.")]),
    _metric("f1", "2 P R / (P + R), 0.0 when P + R = 0",
            [Mistake("arithmetic mean", "F1 is the HARMONIC mean 2PR / (P + R), not (P + R) / 2.")]),
    Item(grade_id="test_always_negative_accuracy", name="always_negative_accuracy", points=1,
         what="accuracy of always predicting 'healthy' at a given prevalence", reference=None,
         cases=(Case(args=(0.05,), what="prevalence 5 %"), Case(args=(0.5,), what="prevalence 50 %")),
         mistakes=(Mistake("returned the prevalence", "Predicting 'healthy' for everyone is right for "
                           "every healthy patient: a fraction 1 - prevalence."),)),
    Item(grade_id="test_split_dataset", name="split_dataset", points=2,
         what="three disjoint, covering, key-determined index arrays with floor-rule sizes",
         reference=None, probe=_split_probe, compare=checklist(_SPLIT_HINTS),
         cases=(Case(args=(0, 10), what="n = 10, default fractions (6, 2, 2)"),
                Case(args=(1, 37), what="n = 37: sizes 22, 7, 8 by the floor rule")),
         mistakes=(Mistake("rounded sizes", "Use floor (int()), not round(), for train and val; test "
                           "gets the rest."),
                   Mistake("no shuffle", "Shuffle first: jax.random.permutation(key, n)."))),
    Item(grade_id="test_simple_cnn", name="SimpleCNN", points=2,
         what="the notebook's architecture: parameter count, (N, 1) output, dropout only in training",
         reference=None, probe=_cnn_probe, compare=checklist(_CNN_HINTS),
         cases=(Case(args=([1, 28, 28, 1],), what="init on (1, 28, 28, 1): 26,401 parameters, output (1, 1)"),
                Case(args=([2, 28, 28, 1],), kwargs={"dropout": True},
                     what="dropout_rate=0.5: random with train=True, off at evaluation")),
         mistakes=(Mistake("one pooling only", "Pool after BOTH convolutions: 28 -> 14 -> 7."),
                   Mistake("VALID padding", "Use padding='SAME' so that each conv keeps 28x28."))),
    Item(grade_id="test_train_step", name="train_step", points=3,
         what="jitted step on mean BCE-with-logits: (state, images, labels) -> (state, loss)",
         reference=None, probe=_train_step_probe, compare=_compare_train_step,
         cases=(Case(args=(0, 16), what="16 random images, 4 steps: first loss = BCE, loss decreases"),),
         mistakes=(Mistake("(N, 1) logits against (N,) labels", "The model returns (N, 1) logits; with "
                           "(N,) labels the loss broadcasts to an N x N matrix. Use logits[:, 0]."),)),
    Item(grade_id="test_augment", name="augment", points=2,
         what="random, key-determined, shape- and range-preserving augmentation",
         reference=None, probe=_augment_probe, compare=checklist(_AUGMENT_HINTS),
         cases=(Case(args=(0, 8), what="8 images 28x28"),)),
    Item(grade_id="test_choose_threshold", name="choose_threshold", points=3,
         what="the validation probability maximising Youden's J (probs >= t), ties -> smallest",
         reference=None, banned=_BANNED_THRESHOLD,
         cases=(Case(args=_THR_SEPARABLE, what="separable scores: the smallest positive's probability"),
                Case(args=_THR_IMBALANCED, what="4 sick in 16: J and accuracy disagree"),
                Case(args=_THR_TIE, what="two thresholds with the same J: take the smaller")),
         mistakes=(Mistake("'>' instead of '>='", "Predict positive when probs >= t, so the threshold "
                           "itself counts as positive."),
                   Mistake("largest threshold on ties", "On ties of J, return the SMALLEST threshold "
                           "(scan the candidates in increasing order, keep strict improvements)."),
                   Mistake("maximised accuracy", "Maximise J = sensitivity + specificity - 1, not accuracy: "
                           "on imbalanced data accuracy favours calling everyone healthy."))),
]
