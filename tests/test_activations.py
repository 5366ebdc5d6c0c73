"""Activations: float64 NumPy oracles, stability at +-1000 (values and gradients), maxout by loops."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from medjax import ShapeError
from medjax.activations import elu, leaky_relu, log_softmax, maxout, relu, sigmoid, softmax, tanh

EXTREME = np.array([-1000.0, -100.0, -1.5, 0.0, 0.7, 100.0, 1000.0], np.float32)

ORACLES = {
    sigmoid: lambda x: 0.5 * (1 + np.tanh(x / 2)),
    tanh: np.tanh,
    relu: lambda x: np.maximum(x, 0),
    leaky_relu: lambda x: np.where(x >= 0, x, 0.01 * x),
    elu: lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
}


@pytest.mark.parametrize("fn", list(ORACLES))
def test_elementwise_matches_oracle_and_is_finite_at_extremes(fn):
    got = np.asarray(fn(EXTREME))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, ORACLES[fn](EXTREME.astype(np.float64)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("fn", list(ORACLES))
def test_gradients_finite_at_extremes_and_match_finite_differences(fn):
    grads = np.asarray(jax.vmap(jax.grad(fn))(jnp.asarray(EXTREME)))
    assert np.all(np.isfinite(grads))
    x = np.array([-1.5, -0.3, 0.7, 2.0])           # away from kinks
    h = 1e-6
    fd = (ORACLES[fn](x + h) - ORACLES[fn](x - h)) / (2 * h)
    np.testing.assert_allclose(jax.vmap(jax.grad(fn))(jnp.asarray(x, jnp.float32)), fd, rtol=1e-4, atol=1e-5)


def test_known_values():
    assert float(sigmoid(0.0)) == 0.5
    assert float(sigmoid(1000.0)) == 1.0 and float(sigmoid(-1000.0)) == 0.0
    np.testing.assert_allclose(leaky_relu(jnp.array([-2.0]), alpha=0.2), [-0.4])
    np.testing.assert_allclose(elu(jnp.array([-1000.0]), alpha=2.0), [-2.0])
    assert float(jax.grad(relu)(0.0)) == 0.0
    assert float(jax.grad(elu)(1000.0)) == 1.0 and float(jax.grad(elu)(-1000.0)) == 0.0


def np_softmax(x, axis):
    z = x - x.max(axis=axis, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=axis, keepdims=True)


@given(x=arrays(np.float32, st.sampled_from([(1, 1), (3, 5)]),
                elements=st.floats(-1000, 1000, width=32)), axis=st.sampled_from([0, 1, -1]))
def test_softmax_and_log_softmax_match_oracle(x, axis):
    p = np.asarray(softmax(x, axis=axis))
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p, np_softmax(x.astype(np.float64), axis), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p.sum(axis=axis), 1.0, rtol=1e-5)
    lp = np.asarray(log_softmax(x, axis=axis))
    assert np.all(np.isfinite(lp))
    x64 = x.astype(np.float64)
    m = x64.max(axis=axis, keepdims=True)
    expected = x64 - m - np.log(np.exp(x64 - m).sum(axis=axis, keepdims=True))
    np.testing.assert_allclose(lp, expected, rtol=1e-5, atol=1e-3)


def test_softmax_extremes_and_finite_gradients():
    x = jnp.array([1000.0, -1000.0, 0.0])
    np.testing.assert_allclose(softmax(x), [1.0, 0.0, 0.0], atol=1e-7)
    np.testing.assert_allclose(log_softmax(x), [0.0, -2000.0, -1000.0], atol=1e-3)
    for fn in (softmax, log_softmax):
        g = jax.grad(lambda a: fn(a)[0])(x)
        assert np.all(np.isfinite(np.asarray(g)))
    # d log_softmax_0 / dx = onehot_0 - softmax
    np.testing.assert_allclose(jax.grad(lambda a: log_softmax(a)[0])(x), [0.0, 0.0, 0.0], atol=1e-6)


def test_log_softmax_gradient_matches_analytic():
    x = jnp.array([0.3, -1.2, 2.0, 0.5])
    g = jax.grad(lambda a: log_softmax(a)[2])(x)
    np.testing.assert_allclose(g, np.eye(4)[2] - np_softmax(np.asarray(x, np.float64), -1), rtol=1e-5, atol=1e-6)


@given(shape=st.sampled_from([(1, 1), (2, 3)]), k=st.integers(1, 3), axis=st.sampled_from([0, 1, -1]),
       seed=st.integers(0, 2**16))
def test_maxout_matches_loops(shape, k, axis, seed):
    shape = list(shape)
    shape[axis] *= k
    x = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    got = np.asarray(maxout(x, k, axis=axis))
    moved = np.moveaxis(x, axis, -1)
    expected = np.stack([moved[..., j * k:(j + 1) * k].max(axis=-1) for j in range(moved.shape[-1] // k)], axis=-1)
    np.testing.assert_array_equal(got, np.moveaxis(expected, -1, axis))


def test_maxout_errors_name_the_problem():
    with pytest.raises(ShapeError, match="maxout: 'x' axis 1 has size 5, not divisible by num_pieces=2"):
        maxout(np.ones((3, 5)), 2)
    with pytest.raises(ValueError, match="maxout: 'num_pieces' must be an integer >= 1"):
        maxout(np.ones((3, 4)), 0)
    with pytest.raises(ShapeError, match="maxout: 'axis' 2 is out of range"):
        maxout(np.ones((3, 4)), 2, axis=2)


def test_jit_compatible():
    x = jnp.linspace(-3, 3, 7)
    for fn in (sigmoid, tanh, relu, leaky_relu, elu, softmax, log_softmax):
        np.testing.assert_allclose(jax.jit(fn)(x), fn(x), rtol=1e-6)
    np.testing.assert_array_equal(jax.jit(lambda a: maxout(a, 2))(jnp.arange(6.0)), [1.0, 3.0, 5.0])
