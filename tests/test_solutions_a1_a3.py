"""The a1-a3 solution notebooks' functions, run in-process, against the trusted references on random inputs.

The grade cells check fixed cases; these properties check the instructor's
solutions (the code students' answers are compared with in class) beyond them.
Only the setup and solution cells run: no plots, no grade cells.
"""
from __future__ import annotations

from pathlib import Path

import jax
import nbformat
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from autograder.reference import a1_a3 as ref

REPO = Path(__file__).resolve().parents[1]
FEW = settings(max_examples=12)  # every new shape recompiles jax.numpy ops: keep the run short


def _solution_namespace(assignment: str) -> dict:
    nb = nbformat.read(str(REPO / "solutions" / assignment / f"{assignment}.ipynb"), as_version=4)
    ns: dict = {"__name__": f"solution_{assignment}"}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and (meta.get("solution") or meta.get("grade_id") == "setup"):
            exec(compile(cell.source, f"<{assignment}:{meta.get('grade_id')}>", "exec"), ns)  # noqa: S102
    return ns


@pytest.fixture(scope="module")
def a1():
    return _solution_namespace("a1_convolution")


@pytest.fixture(scope="module")
def a2():
    return _solution_namespace("a2_logistic_regression")


@pytest.fixture(scope="module")
def a3():
    return _solution_namespace("a3_neural_networks")


@pytest.fixture(autouse=True, scope="module")
def _notebook_rank_rules():
    with jax.numpy_rank_promotion("allow"):  # notebooks run with JAX's defaults
        yield


@given(h=st.integers(1, 9), w=st.integers(1, 9), f=st.integers(1, 4), stride=st.integers(1, 3),
       padding=st.integers(0, 4), mode=st.sampled_from(["zero", "replicate"]), seed=st.integers(0, 999))
@FEW
def test_a1_conv2d_and_pad(a1, h, w, f, stride, padding, mode, seed):
    assume(min(h, w) + 2 * padding >= f)
    rng = np.random.default_rng(seed)
    x, k = rng.normal(size=(h, w)).astype(np.float32), rng.normal(size=(f, f)).astype(np.float32)
    np.testing.assert_allclose(a1["pad"](x, padding, mode), ref.pad(x, padding, mode), rtol=1e-6)
    np.testing.assert_allclose(a1["conv2d"](x, k, stride, padding, mode), ref.conv2d(x, k, stride, padding, mode),
                               rtol=1e-4, atol=1e-4)


@given(c=st.integers(1, 3), k=st.integers(1, 4), f=st.integers(1, 3), stride=st.integers(1, 3),
       padding=st.integers(0, 3), seed=st.integers(0, 999))
@FEW
def test_a1_conv2d_multichannel(a1, c, k, f, stride, padding, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, 7, c)).astype(np.float32)
    wts, b = rng.normal(size=(f, f, c, k)).astype(np.float32), rng.normal(size=k).astype(np.float32)
    np.testing.assert_allclose(a1["conv2d_multichannel"](x, wts, b, stride, padding),
                               ref.conv2d_multichannel(x, wts, b, stride, padding), rtol=1e-4, atol=1e-4)


@given(h=st.integers(1, 8), w=st.integers(1, 8), size=st.integers(1, 3), stride=st.sampled_from([None, 1, 2, 4]),
       channels=st.sampled_from([0, 2]), seed=st.integers(0, 999))
@FEW
def test_a1_pools_and_flatten(a1, h, w, size, stride, channels, seed):
    assume(min(h, w) >= size)
    x = np.random.default_rng(seed).normal(size=(h, w, channels) if channels else (h, w)).astype(np.float32)
    for name in ("max_pool", "avg_pool", "min_pool"):
        np.testing.assert_allclose(a1[name](x, size, stride), getattr(ref, name)(x, size, stride), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(a1["flatten"](x), ref.flatten(x))


@given(n=st.integers(1, 60), f=st.integers(1, 9), s=st.integers(1, 4), p=st.integers(0, 5),
       ks=st.lists(st.integers(1, 7), max_size=5))
def test_a1_counts(a1, n, f, s, p, ks):
    assume(n + 2 * p >= f)
    assert a1["output_size"](n, f, s, p) == ref.output_size(n, f, s, p)
    assert a1["conv_param_count"](f, n, s, bias=p % 2 == 0) == ref.conv_param_count(f, n, s, bias=p % 2 == 0)
    assert a1["receptive_field"](ks) == ref.receptive_field(ks)
    assert a1["same_padding"](2 * f - 1) == ref.same_padding(2 * f - 1)


@given(n=st.sampled_from([1, 7, 30]), d=st.sampled_from([1, 3]), scale=st.sampled_from([0.1, 3.0, 300.0]), seed=st.integers(0, 999))
@FEW
def test_a2_losses_and_gradient(a2, n, d, scale, seed):
    rng = np.random.default_rng(seed)
    z = (scale * rng.normal(size=n)).astype(np.float32)
    y = (rng.uniform(size=n) < 0.5).astype(np.float32)
    X, w = rng.normal(size=(n, d)).astype(np.float32), rng.normal(size=d).astype(np.float32)
    np.testing.assert_allclose(a2["sigmoid"](z), ref.sigmoid(z), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(a2["bce_with_logits"](z, y), ref.bce_with_logits(z, y), rtol=1e-4, atol=1e-5)
    p = ref.sigmoid(z / scale)
    np.testing.assert_allclose(a2["bce"](p, y), ref.bce(p, y), rtol=1e-4, atol=1e-5)
    for got, want in zip(a2["bce_gradient"](w, 0.5, X, y), ref.bce_gradient(w, 0.5, X, y)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_a2_training_matches_reference(a2):
    from medjax.selfcheck.a2_logistic_regression import _X_TRAIN, _Y_TRAIN

    for got, want in zip(a2["train_logistic_regression"](_X_TRAIN, _Y_TRAIN, 0.3, 40),
                         ref.train_logistic_regression(_X_TRAIN, _Y_TRAIN, 0.3, 40)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@given(n=st.sampled_from([1, 5]), sizes=st.lists(st.sampled_from([1, 3, 6]), min_size=2, max_size=4), seed=st.integers(0, 999))
@FEW
def test_a3_network(a3, n, sizes, seed):
    rng = np.random.default_rng(seed)
    params = [(rng.normal(size=(a, b)).astype(np.float32), rng.normal(size=b).astype(np.float32))
              for a, b in zip(sizes[:-1], sizes[1:])]
    x = rng.normal(size=(n, sizes[0])).astype(np.float32)
    np.testing.assert_allclose(a3["mlp_forward"](params, x), ref.mlp_forward(params, x), rtol=1e-4, atol=1e-4)
    assert a3["mlp_param_count"](sizes) == ref.mlp_param_count(sizes)
    z = (100 * rng.normal(size=(n, sizes[-1]))).astype(np.float32)
    onehot = np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], n)]
    np.testing.assert_allclose(a3["softmax"](z), ref.softmax(z), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(a3["cross_entropy"](z, onehot), ref.cross_entropy(z, onehot), rtol=1e-4, atol=1e-4)
    if len(params) == 2:
        y = rng.normal(size=(n, sizes[-1])).astype(np.float32)
        for (gw, gb), (rw, rb) in zip(a3["two_layer_grads"](params, x, y), ref.two_layer_grads(params, x, y)):
            np.testing.assert_allclose(gw, rw, rtol=1e-3, atol=1e-4)
            np.testing.assert_allclose(gb, rb, rtol=1e-3, atol=1e-4)


def test_a3_activations(a3):
    x = np.linspace(-60, 60, 97).astype(np.float32)
    np.testing.assert_allclose(a3["relu"](x), ref.relu(x))
    np.testing.assert_allclose(a3["leaky_relu"](x, 0.3), ref.leaky_relu(x, 0.3), rtol=1e-6)
    np.testing.assert_allclose(a3["elu"](x, 1.5), ref.elu(x, 1.5), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(a3["mse"](x, 0 * x), ref.mse(x, 0 * x), rtol=1e-6)
