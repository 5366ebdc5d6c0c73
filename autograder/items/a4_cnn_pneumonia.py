"""Trusted side of assignment a4: references and models of the known mistakes (instructor-only)."""
from __future__ import annotations

import numpy as np

from autograder.reference import a4_a5 as ref
from medjax.selfcheck.a4_cnn_pneumonia import _train_step_probe


def _swap(fn):
    return lambda y_true, y_pred: fn(y_pred, y_true)


def _split_rounded(seed, n, fractions=(0.6, 0.2, 0.2)):
    a, b = int(round(fractions[0] * n)), int(round(fractions[1] * n))
    return {"count": 3, "integer": True, "sizes": [a, b, n - a - b], "disjoint": True, "covers": True,
            "deterministic": True, "shuffled": True}


def _split_unshuffled(seed, n, fractions=(0.6, 0.2, 0.2)):
    return {"count": 3, "integer": True, "sizes": ref.split_sizes(n, fractions), "disjoint": True,
            "covers": True, "deterministic": True, "shuffled": False}


def _cnn_expected(shape, dropout=False, *, side=None, pools=2):
    """The probe's answer for a variant architecture (final feature-map side ``side``)."""
    side = shape[1] // 2 ** pools if side is None else side
    params = 80 + 1168 + (side * side * 16 + 1) * 32 + 33
    result = {"collections": ["params"], "params": params, "output_shape": [shape[0], 1]}
    return {**result, "eval_deterministic": True, "dropout_in_training": True} if dropout else result


def _broadcast_train_step(state, images, labels):
    """The (N, 1) against (N,) mistake: the loss is the mean of an N x N matrix."""
    import jax

    def loss_fn(params):
        logits = state.apply_fn({"params": params}, images)  # (N, 1) with (N,) labels -> (N, N)
        return ref.bce_with_logits(logits, labels[None, :])

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss


def _threshold_variant(*, strict: bool = False, largest: bool = False, by_accuracy: bool = False):
    def choose(val_probs, val_labels):
        p = np.asarray(val_probs, np.float64)
        y = np.asarray(val_labels).astype(np.int64)
        scores = []
        for t in np.unique(p):
            pred = (p > t) if strict else (p >= t)
            if by_accuracy:
                scores.append((float((pred == (y == 1)).mean()), t))
            else:
                scores.append((ref.recall(y, pred) + ref.specificity(y, pred) - 1.0, t))
        best = max(s for s, _ in scores)
        ties = [t for s, t in scores if abs(s - best) < 1e-12]
        return float(max(ties) if largest else min(ties))
    return choose


REFERENCES = {
    "test_confusion_matrix": ref.confusion_matrix,
    "test_accuracy": ref.accuracy,
    "test_precision": ref.precision,
    "test_recall": ref.recall,
    "test_specificity": ref.specificity,
    "test_f1": ref.f1,
    "test_always_negative_accuracy": ref.always_negative_accuracy,
    "test_split_dataset": ref.split_dataset,
    "test_simple_cnn": ref.SimpleCNN,
    "test_train_step": ref.train_step,
    "test_augment": ref.augment,
    "test_choose_threshold": ref.choose_threshold,
}

MISTAKES = {
    "test_confusion_matrix": {
        "transposed matrix": lambda t, p: ref.confusion_matrix(t, p).T,
        "class order [1, 0]": lambda t, p: ref.confusion_matrix(t, p)[::-1, ::-1],
    },
    "test_accuracy": {},
    "test_precision": {"precision and recall swapped": _swap(ref.precision)},
    "test_recall": {"recall and precision swapped": _swap(ref.recall)},
    "test_specificity": {"false-positive rate": lambda t, p: 1.0 - ref.specificity(t, p)},
    "test_f1": {"arithmetic mean": lambda t, p: (ref.precision(t, p) + ref.recall(t, p)) / 2},
    "test_always_negative_accuracy": {"returned the prevalence": lambda p: p},
    "test_split_dataset": {"rounded sizes": _split_rounded, "no shuffle": _split_unshuffled},
    "test_simple_cnn": {
        "one pooling only": lambda shape, dropout=False: _cnn_expected(shape, dropout, pools=1),
        "VALID padding": lambda shape, dropout=False: _cnn_expected(shape, dropout,
                                                                    side=((shape[1] - 2) // 2 - 2) // 2),
    },
    "test_train_step": {
        "(N, 1) logits against (N,) labels": lambda *a, **k: _train_step_probe(_broadcast_train_step, *a, **k),
    },
    "test_augment": {},
    "test_choose_threshold": {
        "'>' instead of '>='": _threshold_variant(strict=True),
        "largest threshold on ties": _threshold_variant(largest=True),
        "maximised accuracy": _threshold_variant(by_accuracy=True),
    },
}
