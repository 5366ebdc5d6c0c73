"""Tests for medjax.synthetic: shapes, determinism, labels, masks, speed, and learnability."""
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

from medjax.synthetic import synthetic_xray


@pytest.mark.parametrize("size", [28, 64])
def test_shapes_dtypes_and_ranges(size):
    d = synthetic_xray(12, size=size, seed=3)
    assert set(d) == {"images", "labels", "masks"}
    assert d["images"].shape == (12, size, size, 1) and d["images"].dtype == np.float32
    assert d["masks"].shape == (12, size, size, 1) and d["masks"].dtype == np.float32
    assert d["labels"].shape == (12,) and d["labels"].dtype == np.int32
    assert d["images"].min() >= 0.0 and d["images"].max() <= 1.0
    assert set(np.unique(d["masks"])) <= {0.0, 1.0}
    assert set(np.unique(d["labels"])) <= {0, 1}
    assert np.isfinite(d["images"]).all()


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = synthetic_xray(20, seed=5), synthetic_xray(20, seed=5), synthetic_xray(20, seed=6)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.allclose(a["images"], c["images"])


@given(n=st.integers(1, 60), prevalence=st.floats(0.0, 1.0), seed=st.integers(0, 2**31))
def test_exact_prevalence_and_masks_only_on_pneumonia(n, prevalence, seed):
    d = synthetic_xray(n, seed=seed, prevalence=prevalence)
    assert d["labels"].sum() == round(n * prevalence)
    per_image = d["masks"].reshape(n, -1).sum(axis=1)
    assert (per_image[d["labels"] == 0] == 0).all()
    assert (per_image[d["labels"] == 1] > 0).all()  # every pneumonia case has an opacity


def test_labels_do_not_follow_the_seeds_own_permutation():
    # A learner who shuffles with default_rng(seed) must not get the classes sorted.
    d = synthetic_xray(200, seed=0)
    first_half = np.random.default_rng(0).permutation(200)[:100]
    assert 0.3 < d["labels"][first_half].mean() < 0.7


def test_opacities_are_brighter_than_the_rest_of_the_lung():
    d = synthetic_xray(300, seed=2)
    sick = d["labels"] == 1
    inside = d["images"][sick][d["masks"][sick] > 0].mean()
    normal_same_place = d["images"][~sick].mean()
    assert inside > normal_same_place + 0.05


def test_class_images_differ_in_distribution_not_trivially():
    d = synthetic_xray(1000, seed=4)
    means = d["images"].mean(axis=(1, 2, 3))
    gap = means[d["labels"] == 1].mean() - means[d["labels"] == 0].mean()
    spread = means.std()
    assert 0 < gap < spread  # mean brightness alone does not separate the classes


def test_patients_vary():
    d = synthetic_xray(50, seed=7, prevalence=0.0)
    stds = d["images"].reshape(50, -1).std(axis=0)
    assert np.median(stds) > 0.05  # positions, sizes and brightness differ between patients


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="synthetic_xray: 'size'"):
        synthetic_xray(4, size=32)
    with pytest.raises(ValueError, match="synthetic_xray: 'n'"):
        synthetic_xray(0)
    with pytest.raises(ValueError, match="prevalence"):
        synthetic_xray(4, prevalence=1.5)


def test_two_thousand_images_are_fast():
    synthetic_xray(10)
    start = time.perf_counter()
    synthetic_xray(2000, size=28)
    assert time.perf_counter() - start < 6.0


def _logistic_regression_accuracy(train, test, steps=400):
    x = jnp.asarray(train["images"].reshape(len(train["labels"]), -1))
    y = jnp.asarray(train["labels"], jnp.float32)
    params = {"w": jnp.zeros(x.shape[1]), "b": jnp.zeros(())}
    opt = optax.adam(0.01)

    def loss(p):
        return optax.sigmoid_binary_cross_entropy(x @ p["w"] + p["b"], y).mean()

    @jax.jit
    def step(p, state):
        updates, state = opt.update(jax.grad(loss)(p), state)
        return optax.apply_updates(p, updates), state

    state = opt.init(params)
    for _ in range(steps):
        params, state = step(params, state)
    xt = jnp.asarray(test["images"].reshape(len(test["labels"]), -1))
    return float(jnp.mean((xt @ params["w"] + params["b"] > 0) == (test["labels"] == 1)))


class _TinyCNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = x - 0.5
        x = nn.max_pool(nn.relu(nn.Conv(8, (3, 3))(x)), (2, 2), (2, 2))
        x = nn.max_pool(nn.relu(nn.Conv(16, (3, 3))(x)), (2, 2), (2, 2))
        return nn.Dense(1)(x.reshape(x.shape[0], -1))[:, 0]


def _cnn_accuracy(train, test, epochs=2, batch=16):
    model = _TinyCNN()
    params = model.init(jax.random.key(0), train["images"][:1])
    opt = optax.adam(2e-3)

    @jax.jit
    def step(p, state, x, y):
        grads = jax.grad(lambda q: optax.sigmoid_binary_cross_entropy(model.apply(q, x), y).mean())(p)
        updates, state = opt.update(grads, state)
        return optax.apply_updates(p, updates), state

    state, rng, n = opt.init(params), np.random.default_rng(1), len(train["labels"])
    for _ in range(epochs):
        order = rng.permutation(n)
        for i in range(0, n - batch + 1, batch):
            idx = order[i:i + batch]
            params, state = step(params, state, train["images"][idx], train["labels"][idx].astype(np.float32))
    return float(jnp.mean((model.apply(params, test["images"]) > 0) == (test["labels"] == 1)))


def test_learnable_but_not_by_a_linear_model():
    train, test = synthetic_xray(2000, seed=0), synthetic_xray(1000, seed=1)
    lr = _logistic_regression_accuracy(train, test)
    cnn = _cnn_accuracy(train, test)
    assert 0.55 < lr <= 0.80, lr
    assert cnn >= lr + 0.08, (lr, cnn)
