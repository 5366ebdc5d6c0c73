"""Recipes: PneumoniaCNN, ensemble/TTA prediction, prior shift, a smoke run, the benchmark's missing-data exit."""
import functools
import importlib.util
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st

from medjax.data import load
from medjax.train import binary_report, create_train_state, fit, predict
from medjax.train.recipes import PneumoniaCNN, Recipe, ensemble_predict, pneumonia_recipe, prior_shift

FAST = dict(progress=False, compilation_cache=False)
BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "pneumonia_accuracy.py"


@functools.lru_cache(maxsize=None)
def small_state(seed=0, features=(4, 8)):
    """An untrained PneumoniaCNN state (cached: the tests only read it)."""
    x = jnp.zeros((1, 28, 28, 1))
    return create_train_state(PneumoniaCNN(features=features), jax.random.key(seed), x, optax.sgd(0.1))


# ----------------------------------------------------------------------------- model

def test_pneumonia_cnn_parameter_count():
    variables = PneumoniaCNN(features=(8, 16)).init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))
    n = sum(p.size for p in jax.tree.leaves(variables["params"]))
    convs = 3 * 3 * 1 * 8 + 3 * 3 * 8 * 16  # no conv bias
    bn = 2 * (8 + 16)  # scale and shift
    head = 16 + 1  # global average pool -> dense
    assert n == convs + bn + head


@jax.jit
def _logits_after_exposure(variables, x, scale, shift):
    return PneumoniaCNN(features=(4, 8)).apply(variables, x * scale + shift)


@given(st.floats(0.5, 3.0), st.floats(-0.5, 0.5))
def test_pneumonia_cnn_ignores_exposure(scale, shift):
    """Per-image standardisation: a brightness/contrast change of the whole image leaves the logits,
    up to the ``eps = 1e-3`` added to the standard deviation ``s``: the standardised image is scaled by
    ``(s + eps) / (s + eps / scale)``, within ``1 + eps / s`` of 1, so the logits move by a relative
    ``O(eps / s)`` (tolerance: twice that)."""
    variables = small_state().variables
    x = jnp.asarray(np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32))
    a = _logits_after_exposure(variables, x, 1.0, 0.0)
    b = _logits_after_exposure(variables, x, scale, shift)
    std = float(np.asarray(x).reshape(3, -1).std(axis=1).min())
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2 * 1e-3 / std, atol=1e-4)


class StockPneumoniaCNN(nn.Module):
    """The same network written with stock ``nn.Conv`` / ``nn.max_pool`` (lax convolution, reduce_window)."""

    features: tuple = (4, 8)

    @nn.compact
    def __call__(self, x, train=False):
        x = (x - x.mean(axis=(1, 2, 3), keepdims=True)) / (x.std(axis=(1, 2, 3), keepdims=True) + 1e-3)
        for width in self.features:
            x = nn.Conv(width, (3, 3), padding="SAME", use_bias=False)(x)
            x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9)(x))
            x = nn.max_pool(x, (2, 2), strides=(2, 2))
        return nn.Dense(1)(nn.Dropout(0.2, deterministic=not train)(x.mean(axis=(1, 2))))


def test_pneumonia_cnn_matches_stock_flax_layers():
    """The im2col / reshape-pooling fast path gives the stock layers' logits and BatchNorm updates."""
    x = jnp.asarray(np.random.default_rng(3).random((4, 28, 28, 1), dtype=np.float32))
    variables = PneumoniaCNN(features=(4, 8)).init(jax.random.key(0), x)
    for train in (False, True):
        got = PneumoniaCNN(features=(4, 8)).apply(variables, x, train=train, mutable=["batch_stats"],
                                                  rngs={"dropout": jax.random.key(1)})
        ref = StockPneumoniaCNN().apply(variables, x, train=train, mutable=["batch_stats"],
                                        rngs={"dropout": jax.random.key(1)})
        np.testing.assert_allclose(np.asarray(got[0]), np.asarray(ref[0]), rtol=1e-4, atol=1e-5)
        for a, b in zip(jax.tree.leaves(got[1]), jax.tree.leaves(ref[1])):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


def test_pneumonia_cnn_dropout_only_in_training():
    model = PneumoniaCNN(features=(4,), dropout=0.9)
    x = jnp.ones((2, 28, 28, 1)).at[:, :14].set(0.0)
    variables = model.init(jax.random.key(0), x)
    assert np.array_equal(model.apply(variables, x), model.apply(variables, x))
    outs = [model.apply(variables, x, train=True, rngs={"dropout": jax.random.key(k)}, mutable=["batch_stats"])[0]
            for k in (1, 2)]
    assert not np.allclose(outs[0], outs[1])


# ----------------------------------------------------------------------------- ensemble, TTA

def test_ensemble_predict_is_mean_over_members_and_flips():
    states = [small_state(0), small_state(1)]
    x = np.random.default_rng(1).random((5, 28, 28, 1), dtype=np.float32)
    oracle = np.mean([predict(s, v) for s in states for v in (x, x[:, :, ::-1])], axis=0)
    np.testing.assert_allclose(ensemble_predict(states, x), oracle, rtol=1e-6)
    plain = np.mean([predict(s, x) for s in states], axis=0)
    np.testing.assert_allclose(ensemble_predict(states, x, tta=False), plain, rtol=1e-6)
    assert not np.allclose(ensemble_predict(states, x), plain)  # the flip changes something


def test_ensemble_predict_of_one_member_without_tta_is_predict():
    s = small_state()
    x = np.random.default_rng(2).random((4, 28, 28, 1), dtype=np.float32)
    np.testing.assert_array_equal(ensemble_predict([s], x, tta=False), predict(s, x))


def test_ensemble_predict_rejects_no_members():
    with pytest.raises(ValueError, match="ensemble_predict.*empty"):
        ensemble_predict([], np.zeros((1, 28, 28, 1), np.float32))


# ----------------------------------------------------------------------------- prior shift

def bayes_oracle(p, pi_s, pi_t):
    """Re-weight the class likelihoods p(x|y) ~ p(y|x) / pi_s(y) by the new priors."""
    pos = p / pi_s * pi_t
    neg = (1 - p) / (1 - pi_s) * (1 - pi_t)
    return pos / (pos + neg)


@given(st.lists(st.floats(0.01, 0.99), min_size=1, max_size=8), st.floats(0.05, 0.95), st.floats(0.05, 0.95))
def test_prior_shift_matches_bayes_rule(p, pi_s, pi_t):
    p = np.array(p)
    np.testing.assert_allclose(prior_shift(p, pi_s, pi_t), bayes_oracle(p, pi_s, pi_t), rtol=1e-9)


def test_prior_shift_same_prior_is_identity_and_keeps_order():
    p = np.array([0.01, 0.3, 0.5, 0.97])
    np.testing.assert_allclose(prior_shift(p, 0.3, 0.3), p, rtol=1e-12)
    shifted = prior_shift(p, 0.5, 0.9)
    assert np.all(np.diff(shifted) > 0) and np.all(shifted > p)  # ranking (AUC) kept, all pushed up


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5])
def test_prior_shift_rejects_priors_outside_open_interval(bad):
    with pytest.raises(ValueError, match="prior_shift"):
        prior_shift([0.5], bad, 0.5)


# ----------------------------------------------------------------------------- recipe

def test_recipe_fields():
    r = pneumonia_recipe(members=3, epochs=5, features=(8, 16))
    assert isinstance(r, Recipe) and r.seeds == (0, 1, 2) and r.tta
    assert r.model.features == (8, 16) and r.fit_kwargs["epochs"] == 5
    assert r.fit_kwargs["class_weight"] == "balanced" and callable(r.fit_kwargs["augment"])


def test_recipe_smoke_on_synthetic_xray():
    r = pneumonia_recipe(members=2, epochs=2, features=(8, 16))
    train, val = load("synthetic_xray", "train"), load("synthetic_xray", "val")
    train = {"images": train.images[:512], "labels": train.labels[:512]}
    states = [fit(r.model, train, seed=s, **FAST, **r.fit_kwargs)[0] for s in r.seeds]
    p = ensemble_predict(states, val.images, tta=r.tta)
    assert p.shape == (len(val),) and np.all((p >= 0) & (p <= 1)) and np.all(np.isfinite(p))
    assert binary_report(p, val.labels)["auc"] > 0.6  # it learned something in 2 short epochs


def test_recipe_on_real_pneumoniamnist_learns(data_dir):
    """One small member, two epochs on the real train split: a sanity floor on val, not the benchmark."""
    r = pneumonia_recipe(members=1, epochs=2, features=(8, 16, 32))
    f = Path(data_dir) / "pneumoniamnist.npz"
    train, val = load("pneumoniamnist", "train", data_file=f), load("pneumoniamnist", "val", data_file=f)
    state, history = fit(r.model, train, val, **FAST, **r.fit_kwargs)
    assert history["epochs"][-1]["val_auc"] > 0.9
    assert binary_report(ensemble_predict([state], val.images), val.labels)["auc"] > 0.9


# ----------------------------------------------------------------------------- benchmark script

def test_benchmark_exits_2_with_a_clear_message_without_data(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("pneumonia_accuracy", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--data-file", str(tmp_path / "missing.npz")]) == 2
    err = capsys.readouterr().err
    assert "missing.npz" in err and "MEDJAX_DATA_DIR" in err
