"""Metrics against brute-force counting loops and an all-pairs AUC oracle written here."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from medjax import ShapeError
from medjax.metrics import (accuracy, confusion_matrix, f1_score, precision, recall, roc_auc, sensitivity,
                            specificity)

BINARY = [precision, recall, specificity, f1_score]
sizes = st.sampled_from([1, 6, 20])   # few shapes: every new shape recompiles


def brute_counts(t, p):
    tp = fp = fn = tn = 0
    for a, b in zip(t, p):
        if a == 1 and b == 1:
            tp += 1
        elif a == 0 and b == 1:
            fp += 1
        elif a == 1 and b == 0:
            fn += 1
        else:
            tn += 1
    return tp, fp, fn, tn


def div0(a, b):
    return a / b if b else 0.0


def brute_auc(t, s):
    pos = [x for x, y in zip(s, t) if y == 1]
    neg = [x for x, y in zip(s, t) if y == 0]
    if not pos or not neg:
        return 0.5
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


@given(n=sizes, seed=st.integers(0, 2**16), c=st.sampled_from([2, 3]))
def test_confusion_matrix_and_accuracy_by_counting(n, seed, c):
    rng = np.random.default_rng(seed)
    t, p = rng.integers(0, c, n), rng.integers(0, c, n)
    expected = np.zeros((c, c), int)
    for a, b in zip(t, p):
        expected[a, b] += 1
    np.testing.assert_array_equal(confusion_matrix(t, p, num_classes=c), expected)
    np.testing.assert_allclose(accuracy(t, p), np.mean(t == p), rtol=1e-6)


@given(n=sizes, seed=st.integers(0, 2**16), rate=st.sampled_from([0.0, 0.2, 0.5, 1.0]))
def test_binary_metrics_by_counting(n, seed, rate):
    rng = np.random.default_rng(seed)
    t = (rng.random(n) < rate).astype(np.int32)
    p = rng.integers(0, 2, n)
    tp, fp, fn, tn = brute_counts(t, p)
    np.testing.assert_allclose(precision(t, p), div0(tp, tp + fp), rtol=1e-6)
    np.testing.assert_allclose(recall(t, p), div0(tp, tp + fn), rtol=1e-6)
    np.testing.assert_allclose(specificity(t, p), div0(tn, tn + fp), rtol=1e-6)
    np.testing.assert_allclose(f1_score(t, p), div0(2 * tp, 2 * tp + fp + fn), rtol=1e-6)
    cm = np.asarray(confusion_matrix(t, p))
    assert (cm[0, 0], cm[0, 1], cm[1, 0], cm[1, 1]) == (tn, fp, fn, tp)


def test_f1_is_harmonic_mean_of_precision_and_recall():
    t = np.array([1, 1, 1, 0, 0, 1, 0])
    p = np.array([1, 0, 1, 1, 0, 0, 0])
    pr, rc = float(precision(t, p)), float(recall(t, p))
    np.testing.assert_allclose(f1_score(t, p), 2 * pr * rc / (pr + rc), rtol=1e-6)
    assert sensitivity is recall


def test_zero_division_gives_zero_never_nan():
    none = np.zeros(4, np.int32)
    ones = np.ones(4, np.int32)
    assert float(precision(ones, none)) == 0.0        # nothing predicted positive
    assert float(recall(none, none)) == 0.0           # no actual positives
    assert float(specificity(ones, ones)) == 0.0      # no actual negatives
    assert float(f1_score(none, none)) == 0.0         # TP + FP + FN = 0
    assert float(accuracy(np.zeros(0, np.int32), np.zeros(0, np.int32))) == 0.0


def test_boolean_predictions_from_a_threshold():
    t = np.array([1, 0, 1, 1, 0])
    probs = np.array([0.9, 0.6, 0.2, 0.7, 0.1], np.float32)
    hard = probs >= 0.5
    assert float(precision(t, hard)) == pytest.approx(2 / 3)
    assert float(recall(t, hard)) == pytest.approx(2 / 3)
    assert float(accuracy(t, hard)) == pytest.approx(0.6)
    np.testing.assert_array_equal(confusion_matrix(t.astype(bool), hard), [[1, 1], [1, 2]])


def test_rare_disease_paradox():
    t = np.array([1] + [0] * 99)
    p = np.zeros(100, np.int32)       # "everyone is healthy"
    assert float(accuracy(t, p)) == pytest.approx(0.99)
    assert float(sensitivity(t, p)) == 0.0
    assert float(specificity(t, p)) == 1.0


@given(n=sizes, seed=st.integers(0, 2**16), levels=st.sampled_from([2, 5, 1000]))
def test_roc_auc_matches_all_pairs_with_ties(n, seed, levels):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, n)
    s = (rng.integers(0, levels, n) / levels).astype(np.float32)     # few levels: many ties
    np.testing.assert_allclose(roc_auc(t, s), brute_auc(t, s), rtol=1e-6, atol=1e-7)


def test_roc_auc_worked_values_and_invariance():
    t = np.array([0, 0, 1, 1])
    assert float(roc_auc(t, np.array([0.1, 0.4, 0.35, 0.8]))) == 0.75
    assert float(roc_auc(t, np.array([0.1, 0.2, 0.3, 0.4]))) == 1.0
    assert float(roc_auc(t, np.array([0.4, 0.3, 0.2, 0.1]))) == 0.0
    assert float(roc_auc(t, np.full(4, 0.5))) == 0.5                     # all tied
    s = np.array([-2.0, 0.5, 0.3, 3.0], np.float32)
    np.testing.assert_allclose(roc_auc(t, s), roc_auc(t, jax.nn.sigmoid(s)))   # order only


def test_roc_auc_single_class_is_half_not_nan():
    assert float(roc_auc(np.ones(5, np.int32), np.linspace(0, 1, 5))) == 0.5
    assert float(roc_auc(np.zeros(5, np.int32), np.linspace(0, 1, 5))) == 0.5
    assert float(jax.jit(roc_auc)(jnp.zeros(5, jnp.int32), jnp.linspace(0, 1, 5))) == 0.5


def test_metrics_jit():
    rng = np.random.default_rng(3)
    t, p = rng.integers(0, 2, 30), rng.integers(0, 2, 30)
    s = rng.random(30).astype(np.float32)
    for fn in BINARY + [accuracy]:
        assert float(jax.jit(fn)(t, p)) == pytest.approx(float(fn(t, p)))
    np.testing.assert_array_equal(jax.jit(confusion_matrix, static_argnums=2)(t, p, 2), confusion_matrix(t, p))
    assert float(jax.jit(roc_auc)(t, s)) == pytest.approx(brute_auc(t, s))


@pytest.mark.parametrize("fn", BINARY + [accuracy, confusion_matrix])
def test_shape_errors_name_the_arguments(fn):
    name = fn.__name__
    with pytest.raises(ShapeError, match=rf"{name}: 'y_true' and 'y_pred' must have the same shape, got \(4,\) and \(4, 1\)"):
        fn(np.zeros(4, np.int32), np.zeros((4, 1), np.int32))
    with pytest.raises(ShapeError, match=rf"{name}: 'y_true' must have shape \(N,\), got \(2, 2\)"):
        fn(np.zeros((2, 2), np.int32), np.zeros((2, 2), np.int32))


@pytest.mark.parametrize("fn", BINARY)
def test_probabilities_instead_of_labels_are_refused(fn):
    with pytest.raises(ValueError, match=rf"{fn.__name__}: 'y_pred' must hold class labels in \[0, 2\), got 0.7 .*threshold"):
        fn(np.array([1, 0]), np.array([0.7, 0.2]))


def test_other_value_errors():
    with pytest.raises(ValueError, match=r"confusion_matrix: 'y_true' must hold class labels in \[0, 2\), got 2"):
        confusion_matrix(np.array([0, 2]), np.array([0, 1]))
    with pytest.raises(ValueError, match="confusion_matrix: 'num_classes' must be an integer >= 1"):
        confusion_matrix(np.array([0]), np.array([0]), num_classes=0)
    with pytest.raises(ShapeError, match=r"roc_auc: 'y_true' and 'scores' must have the same shape"):
        roc_auc(np.zeros(3, np.int32), np.zeros(4))
    with pytest.raises(ValueError, match="roc_auc: 'scores' must not contain nan"):
        roc_auc(np.array([0, 1]), np.array([0.5, np.nan]))
    with pytest.raises(ValueError, match=r"roc_auc: 'y_true' must hold class labels in \[0, 2\), got 3"):
        roc_auc(np.array([0, 3]), np.array([0.5, 0.1]))
