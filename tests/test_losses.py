"""Losses against optax and float64 NumPy formulas; stability, shape guards, Dice edge cases."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from medjax import ShapeError
from medjax.losses import bce, bce_with_logits, cross_entropy, dice_coefficient, dice_loss, mse

floats = st.floats(-30, 30, width=32)
# few distinct shapes: every new shape recompiles each op, which dominates the run time
sizes = st.sampled_from([1, 7])
matrices = st.sampled_from([(1, 2), (4, 3)])


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


# --- binary cross-entropy -----------------------------------------------------------

@given(x=arrays(np.float32, sizes, elements=floats), seed=st.integers(0, 2**16))
def test_bce_with_logits_matches_optax(x, seed):
    y = np.random.default_rng(seed).integers(0, 2, size=x.shape).astype(np.float32)
    expected = np.asarray(optax.sigmoid_binary_cross_entropy(x, y))
    np.testing.assert_allclose(bce_with_logits(x, y, reduction="none"), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bce_with_logits(x, y), expected.mean(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bce_with_logits(x, y, reduction="sum"), expected.sum(), rtol=1e-5, atol=1e-5)
    g = jax.grad(lambda a: bce_with_logits(a, y, reduction="sum"))(x)
    np.testing.assert_allclose(g, np_sigmoid(x.astype(np.float64)) - y, rtol=1e-5, atol=1e-6)


def test_bce_with_logits_is_exact_and_finite_at_100():
    x = jnp.array([100.0, -100.0, 100.0, -100.0])
    y = jnp.array([1.0, 0.0, 0.0, 1.0])
    loss = np.asarray(bce_with_logits(x, y, reduction="none"))
    np.testing.assert_allclose(loss, [0.0, 0.0, 100.0, 100.0], atol=1e-6)
    g = np.asarray(jax.grad(lambda a: bce_with_logits(a, y, reduction="sum"))(x))
    np.testing.assert_allclose(g, [0.0, 0.0, 1.0, -1.0], atol=1e-6)
    # zero logits (a zero-initialised last layer) need the exact gradient sigmoid(0) - y
    g0 = jax.grad(lambda a: bce_with_logits(a, y, reduction="sum"))(jnp.zeros(4))
    np.testing.assert_allclose(g0, [-0.5, 0.5, 0.5, -0.5])
    g0w = jax.grad(lambda a: bce_with_logits(a, y, reduction="sum", pos_weight=3.0))(jnp.zeros(4))
    np.testing.assert_allclose(g0w, [-1.5, 0.5, 0.5, -1.5])
    # the naive formula that learners write is not finite here
    naive = -(y * jnp.log(jax.nn.sigmoid(x)) + (1 - y) * jnp.log(1 - jax.nn.sigmoid(x)))
    assert not np.all(np.isfinite(np.asarray(naive)))


@given(x=arrays(np.float32, matrices, elements=floats),
       seed=st.integers(0, 2**16), scalar=st.booleans())
def test_pos_weight_matches_its_definition(x, seed, scalar):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=x.shape).astype(np.float32)
    w = np.float32(2.5) if scalar else rng.uniform(0.5, 4.0, size=x.shape[-1]).astype(np.float32)
    x64 = x.astype(np.float64)
    log_sig, log_one_minus = -np.logaddexp(0, -x64), -np.logaddexp(0, x64)
    expected = -(w * y * log_sig + (1 - y) * log_one_minus)
    np.testing.assert_allclose(bce_with_logits(x, y, pos_weight=w, reduction="none"), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bce_with_logits(x, y, pos_weight=1.0, reduction="none"),
                               bce_with_logits(x, y, reduction="none"), rtol=1e-5, atol=1e-6)


def test_pos_weight_shape_is_checked():
    with pytest.raises(ShapeError, match=r"bce_with_logits: 'pos_weight' must be a scalar or have shape \(C,\)"):
        bce_with_logits(np.zeros((4, 3)), np.zeros((4, 3)), pos_weight=np.ones(4))


@given(p=arrays(np.float32, sizes, elements=st.floats(0, 1, width=32)), seed=st.integers(0, 2**16))
def test_bce_on_probabilities_matches_formula(p, seed):
    y = np.random.default_rng(seed).integers(0, 2, size=p.shape).astype(np.float32)
    q = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    expected = -(y * np.log(q) + (1 - y) * np.log(1 - q))
    np.testing.assert_allclose(bce(p, y, reduction="none"), expected, rtol=1e-4, atol=1e-5)
    assert np.all(np.isfinite(np.asarray(jax.grad(lambda a: bce(a, y))(p))))


def test_bce_clips_certain_wrong_answers():
    loss = float(bce(jnp.array([0.0, 1.0]), jnp.array([1.0, 0.0])))
    assert np.isfinite(loss) and abs(loss + np.log(1e-7)) < 0.2


# --- categorical cross-entropy -----------------------------------------------------------

@given(x=arrays(np.float32, matrices, elements=st.floats(-1000, 1000, width=32)),
       seed=st.integers(0, 2**16))
def test_cross_entropy_matches_optax_for_ids_and_one_hot(x, seed):
    ids = np.random.default_rng(seed).integers(0, x.shape[1], size=x.shape[0])
    expected = np.asarray(optax.softmax_cross_entropy_with_integer_labels(x, ids))
    got_ids = np.asarray(cross_entropy(x, ids, reduction="none"))
    got_hot = np.asarray(cross_entropy(x, np.eye(x.shape[1], dtype=np.float32)[ids], reduction="none"))
    assert np.all(np.isfinite(got_ids))
    np.testing.assert_allclose(got_ids, expected, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(got_hot, expected, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(cross_entropy(x, ids), expected.mean(), rtol=1e-5, atol=1e-3)


def test_cross_entropy_soft_labels_and_gradient():
    x = jnp.array([[0.5, -1.0, 2.0]])
    soft = jnp.array([[0.2, 0.3, 0.5]])
    np.testing.assert_allclose(cross_entropy(x, soft), optax.softmax_cross_entropy(x, soft)[0], rtol=1e-6)
    g = jax.grad(lambda a: cross_entropy(a, jnp.array([2])))(x)
    np.testing.assert_allclose(g, jax.nn.softmax(x) - jnp.eye(3)[2:3], rtol=1e-5, atol=1e-6)


def test_cross_entropy_label_errors():
    logits = np.zeros((4, 3), np.float32)
    with pytest.raises(ShapeError, match=r"cross_entropy: 'labels' must have shape \(4,\) .* got \(4, 1\)"):
        cross_entropy(logits, np.zeros((4, 1), np.int32))
    with pytest.raises(TypeError, match="cross_entropy: 'labels' .* must be integer class ids"):
        cross_entropy(logits, np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\), got values in \[0, 3\]"):
        cross_entropy(logits, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\), got values in \[-1, 1\]"):
        cross_entropy(logits, np.array([0, 1, -1, 1]))
    traced = jax.jit(lambda a, b: cross_entropy(a, b, reduction="none"))(logits, np.array([0, 1, 2, 3]))
    assert np.isnan(np.asarray(traced)[3]) and np.all(np.isfinite(np.asarray(traced)[:3]))


# --- mse --------------------------------------------------------------------------------

@given(p=arrays(np.float32, sizes, elements=floats), seed=st.integers(0, 2**16))
def test_mse_matches_optax_l2(p, seed):
    t = np.random.default_rng(seed).normal(size=p.shape).astype(np.float32)
    expected = 2 * np.asarray(optax.l2_loss(p, t))     # optax's l2_loss is half the squared error
    np.testing.assert_allclose(mse(p, t, reduction="none"), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mse(p, t), expected.mean(), rtol=1e-5, atol=1e-5)


# --- Dice ------------------------------------------------------------------------------

def brute_dice(p, t, eps):
    p, t = p.astype(bool).ravel(), t.astype(bool).ravel()
    inter = sum(1 for a, b in zip(p, t) if a and b)
    return (2 * inter + eps) / (p.sum() + t.sum() + eps)


@given(seed=st.integers(0, 2**16), n=st.sampled_from([1, 3]), size=st.sampled_from([1, 4]))
def test_dice_on_binary_masks_matches_set_counting(seed, n, size):
    rng = np.random.default_rng(seed)
    p = rng.integers(0, 2, size=(n, size, size, 1))
    t = rng.integers(0, 2, size=(n, size, size, 1))
    per = np.asarray(dice_coefficient(p, t, axis=(1, 2, 3)))
    expected = np.array([brute_dice(p[i], t[i], 1e-6) for i in range(n)])
    np.testing.assert_allclose(per, expected, rtol=1e-5)
    np.testing.assert_allclose(dice_coefficient(p, t), brute_dice(p, t, 1e-6), rtol=1e-5)
    np.testing.assert_allclose(dice_loss(p, t, reduction="none"), 1 - expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dice_loss(p, t), np.mean(1 - expected), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dice_loss(p, t, reduction="sum"), np.sum(1 - expected), rtol=1e-4, atol=1e-5)


def test_dice_empty_masks_never_nan():
    empty = jnp.zeros((2, 4, 4))
    full = jnp.ones((2, 4, 4))
    np.testing.assert_array_equal(dice_coefficient(empty, empty, axis=(1, 2)), [1.0, 1.0])
    assert float(dice_coefficient(empty, full)) < 1e-6
    np.testing.assert_allclose(dice_loss(empty, empty), 0.0)
    g = jax.grad(lambda p: dice_loss(p, empty))(empty)
    assert np.all(np.isfinite(np.asarray(g)))
    # eps in the denominator only would give 0 here, not 1
    assert float(dice_coefficient(empty, empty)) == 1.0


def test_dice_perfect_and_disjoint():
    m = jnp.array([[[1.0, 0.0], [0.0, 1.0]]])
    np.testing.assert_allclose(dice_loss(m, m), 0.0, atol=1e-6)
    np.testing.assert_allclose(dice_coefficient(m, 1 - m), 0.0, atol=1e-6)
    with pytest.raises(ShapeError, match=r"dice_loss: 'pred' must have shape \(N, ...\)"):
        dice_loss(jnp.ones(3), jnp.ones(3))


# --- shape guard and reduction for every loss ------------------------------------------------

LOSSES = [
    ("bce", bce, "probs", "targets"),
    ("bce_with_logits", bce_with_logits, "logits", "targets"),
    ("mse", mse, "preds", "targets"),
    ("dice_loss", dice_loss, "pred", "target"),
]


@pytest.mark.parametrize("name, fn, a, b", LOSSES)
def test_n1_against_n_raises_instead_of_broadcasting(name, fn, a, b):
    with pytest.raises(ShapeError, match=rf"{name}: '{a}' and '{b}' must have the same shape, got \(4, 1\) and \(4,\)"):
        fn(np.full((4, 1), 0.5, np.float32), np.ones(4, np.float32))
    with pytest.raises(ShapeError, match=r"dice_coefficient: 'pred' and 'target'"):
        dice_coefficient(np.ones((4, 1)), np.ones(4))


@pytest.mark.parametrize("name, fn, a, b", LOSSES + [("cross_entropy", cross_entropy, "", "")])
def test_unknown_reduction_is_rejected(name, fn, a, b):
    with pytest.raises(ValueError, match=rf"{name}: 'reduction' must be one of 'mean', 'sum', 'none', got 'avg'"):
        fn(np.full((2, 2), 0.5, np.float32), np.ones((2, 2), np.float32), reduction="avg")


def test_losses_jit():
    x = jnp.array([[0.3, -2.0], [1.0, 0.1]])
    y = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    for fn in (bce_with_logits, mse, dice_loss, cross_entropy):
        np.testing.assert_allclose(jax.jit(fn)(x, y), fn(x, y), rtol=1e-6)
    np.testing.assert_allclose(jax.jit(bce)(jax.nn.sigmoid(x), y), bce(jax.nn.sigmoid(x), y), rtol=1e-6)
