"""Gradient descent against optax.sgd and closed forms; minibatch indices as a seeded partition."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st

from medjax.optim import gradient_descent, gradient_descent_step, minibatches


def linear_regression_loss(params):
    x = jnp.array([[1.0, 2.0], [0.5, -1.0], [3.0, 0.0], [-2.0, 1.0]])
    y = jnp.array([1.0, -0.5, 2.0, 0.3])
    pred = x @ params["w"] + params["b"]
    return jnp.mean((pred - y) ** 2)


PARAMS = {"w": jnp.array([0.3, -0.2]), "b": jnp.array(0.1)}


def optax_sgd(loss_fn, params, lr, num_steps):
    opt = optax.sgd(lr)
    state = opt.init(params)
    losses = []
    for _ in range(num_steps):
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        losses.append(float(loss))
    return params, np.array(losses)


def test_step_is_params_minus_lr_grads_on_pytrees():
    params = {"a": jnp.array([1.0, 2.0]), "nested": [jnp.ones((2, 2)), jnp.array(3.0)]}
    grads = {"a": jnp.array([0.5, -1.0]), "nested": [jnp.full((2, 2), 2.0), jnp.array(-4.0)]}
    new = gradient_descent_step(params, grads, 0.1)
    np.testing.assert_allclose(new["a"], [0.95, 2.1])
    np.testing.assert_allclose(new["nested"][0], np.full((2, 2), 0.8))
    np.testing.assert_allclose(new["nested"][1], 3.4)


def test_step_matches_one_optax_sgd_update():
    grads = jax.grad(linear_regression_loss)(PARAMS)
    updates, _ = optax.sgd(0.05).update(grads, optax.sgd(0.05).init(PARAMS), PARAMS)
    expected = optax.apply_updates(PARAMS, updates)
    got = gradient_descent_step(PARAMS, grads, 0.05)
    for k in PARAMS:
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-6)


def test_step_structure_mismatch_is_named():
    with pytest.raises(ValueError, match="gradient_descent_step: 'params' and 'grads' must have the same tree structure"):
        gradient_descent_step({"w": jnp.ones(2)}, {"v": jnp.ones(2)}, 0.1)


@pytest.mark.parametrize("lr, steps", [(0.05, 25), (0.01, 7)])
def test_gradient_descent_matches_optax_sgd(lr, steps):
    params, losses = gradient_descent(linear_regression_loss, PARAMS, lr, steps)
    expected_params, expected_losses = optax_sgd(linear_regression_loss, PARAMS, lr, steps)
    assert losses.shape == (steps,)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-5, atol=1e-6)
    for k in PARAMS:
        np.testing.assert_allclose(params[k], expected_params[k], rtol=1e-5, atol=1e-6)
    # the history starts with the loss of the initial parameters, before any step
    np.testing.assert_allclose(losses[0], linear_regression_loss(PARAMS), rtol=1e-6)
    assert float(linear_regression_loss(params)) < float(losses[-1])


def test_quadratic_closed_form():
    # loss (w - 3)^2: w_t = 3 - 3 (1 - 2 lr)^t
    lr, steps = 0.1, 10
    w, losses = gradient_descent(lambda w: (w - 3.0) ** 2, jnp.array(0.0), lr, steps)
    t = np.arange(steps)
    np.testing.assert_allclose(losses, (3 * (1 - 2 * lr) ** t) ** 2, rtol=1e-5)
    np.testing.assert_allclose(w, 3 - 3 * (1 - 2 * lr) ** steps, rtol=1e-5)


def test_too_large_learning_rate_diverges():
    _, losses = gradient_descent(lambda w: (w - 3.0) ** 2, jnp.array(0.0), 1.1, 5)
    assert np.all(np.diff(np.asarray(losses)) > 0)


def test_jit_with_traced_learning_rate_and_zero_steps():
    run = jax.jit(gradient_descent, static_argnums=(0, 3))
    p1, l1 = run(linear_regression_loss, PARAMS, 0.05, 5)
    p2, l2 = gradient_descent(linear_regression_loss, PARAMS, jnp.float32(0.05), 5)
    np.testing.assert_allclose(l1, l2, rtol=1e-6)
    np.testing.assert_allclose(p1["w"], p2["w"], rtol=1e-6)
    p0, l0 = gradient_descent(linear_regression_loss, PARAMS, 0.05, 0)
    assert l0.shape == (0,)
    np.testing.assert_array_equal(p0["w"], PARAMS["w"])
    with pytest.raises(ValueError, match="gradient_descent: 'num_steps' must be an integer >= 0"):
        gradient_descent(linear_regression_loss, PARAMS, 0.05, -1)


@given(n=st.sampled_from([0, 1, 7, 30]), b=st.integers(1, 8), seed=st.integers(0, 100), drop=st.booleans())
def test_minibatches_partition_the_indices(n, b, seed, drop):
    batches = minibatches(jax.random.key(seed), n, b, drop_remainder=drop)
    sizes = [len(x) for x in batches]
    flat = [i for x in batches for i in np.asarray(x).tolist()]
    assert len(set(flat)) == len(flat)
    if drop:
        assert sizes == [b] * (n // b)
    else:
        assert sorted(flat) == list(range(n))
        assert sizes == [b] * (n // b) + ([n % b] if n % b else [])


def test_minibatches_seeded_and_shuffled():
    a = minibatches(jax.random.key(1), 50, 10)
    again = minibatches(jax.random.key(1), 50, 10)
    other = minibatches(jax.random.key(2), 50, 10)
    flat = lambda bs: np.concatenate([np.asarray(x) for x in bs])
    np.testing.assert_array_equal(flat(a), flat(again))
    assert not np.array_equal(flat(a), flat(other))
    assert not np.array_equal(flat(a), np.arange(50))
    with pytest.raises(ValueError, match="minibatches: 'batch_size' must be an integer >= 1"):
        minibatches(jax.random.key(0), 10, 0)
