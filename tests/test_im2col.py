"""The CPU fast path (im2col convolution, reshape max pooling) equals lax's convolution and pooling.

Oracles: ``lax.conv_general_dilated`` and ``lax.reduce_window`` (what Flax's
``nn.Conv``/``nn.max_pool`` use), a brute-force NumPy cross-correlation, and a
reference SimpleCNN written here with stock Flax layers: same parameters, same
logits, same gradients, same Adam steps (single and ``lax.scan``).
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax import lax

from medjax.models import SimpleCNN
from medjax.models._im2col import conv_general_dilated, conv_im2col, max_pool_blocks
from medjax.train import create_train_state, train_step, train_steps_scan

DN = ("NHWC", "HWIO", "NHWC")


def numpy_conv(x, k, stride, pads):
    """Brute-force cross-correlation, independent of both implementations."""
    x = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    kh, kw, _, cout = k.shape
    ho, wo = (x.shape[1] - kh) // stride[0] + 1, (x.shape[2] - kw) // stride[1] + 1
    y = np.zeros((x.shape[0], ho, wo, cout))
    for i in range(ho):
        for j in range(wo):
            patch = x[:, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw, :]
            y[:, i, j, :] = np.einsum("nabc,abck->nk", patch, k)
    return y


@given(h=st.integers(1, 9), w=st.integers(1, 9), cin=st.integers(1, 4), cout=st.integers(1, 4),
       kh=st.sampled_from([1, 2, 3]), kw=st.sampled_from([1, 3]), sh=st.integers(1, 2), sw=st.integers(1, 2),
       padding=st.sampled_from(["SAME", "VALID"]), seed=st.integers(0, 2**16))
def test_conv_im2col_matches_numpy_and_lax(h, w, cin, cout, kh, kw, sh, sw, padding, seed):
    if padding == "VALID" and (h < kh or w < kw):
        return
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, h, w, cin)).astype(np.float32)
    k = rng.normal(size=(kh, kw, cin, cout)).astype(np.float32)
    pads = lax.padtype_to_pads((h, w), (kh, kw), (sh, sw), padding)
    got = np.asarray(conv_im2col(x, k, (sh, sw), padding))
    np.testing.assert_allclose(got, numpy_conv(x, k, (sh, sw), pads), rtol=1e-4, atol=1e-4)
    ref = lax.conv_general_dilated(x, k, (sh, sw), padding, dimension_numbers=DN)
    np.testing.assert_allclose(np.asarray(conv_general_dilated(x, k, (sh, sw), padding, dimension_numbers=DN)),
                               np.asarray(ref), rtol=1e-4, atol=1e-4)


def test_conv_im2col_explicit_padding_and_gradients():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(3, 6, 5, 2)), jnp.float32)
    k = jnp.asarray(rng.normal(size=(3, 3, 2, 4)), jnp.float32)
    pads = ((2, 0), (1, 1))
    ref = lambda x, k: lax.conv_general_dilated(x, k, (1, 1), pads, dimension_numbers=DN)  # noqa: E731
    np.testing.assert_allclose(conv_im2col(x, k, (1, 1), pads), ref(x, k), rtol=1e-5, atol=1e-5)
    g = jnp.asarray(rng.normal(size=ref(x, k).shape), jnp.float32)
    got = jax.vjp(lambda x, k: conv_im2col(x, k, (1, 1), pads), x, k)[1](g)
    want = jax.vjp(ref, x, k)[1](g)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_conv_general_dilated_falls_back_to_lax_for_other_cases():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(1, 7, 7, 4)), jnp.float32)
    k = jnp.asarray(rng.normal(size=(3, 3, 2, 4)), jnp.float32)  # two groups
    got = conv_general_dilated(x, k, (1, 1), "SAME", rhs_dilation=(2, 2), dimension_numbers=DN,
                               feature_group_count=2)
    want = lax.conv_general_dilated(x, k, (1, 1), "SAME", rhs_dilation=(2, 2), dimension_numbers=DN,
                                    feature_group_count=2)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    nchw = jnp.transpose(x, (0, 3, 1, 2))
    oihw = jnp.asarray(rng.normal(size=(5, 4, 3, 3)), jnp.float32)
    np.testing.assert_allclose(conv_general_dilated(nchw, oihw, (1, 1), "SAME"),
                               lax.conv_general_dilated(nchw, oihw, (1, 1), "SAME"), rtol=1e-5, atol=1e-5)


@given(h=st.integers(2, 9), w=st.integers(2, 9), seed=st.integers(0, 2**16))
def test_max_pool_blocks_matches_nn_max_pool(h, w, seed):
    x = np.random.default_rng(seed).normal(size=(2, h, w, 3)).astype(np.float32)
    want = nn.max_pool(x, (2, 2), strides=(2, 2))
    np.testing.assert_array_equal(max_pool_blocks(x, (2, 2)), want)
    # gradient: to the block maximum (continuous data: no ties)
    g = np.random.default_rng(seed + 1).normal(size=want.shape).astype(np.float32)
    got = jax.vjp(lambda x: max_pool_blocks(x, (2, 2)), x)[1](g)[0]
    ref = jax.vjp(lambda x: nn.max_pool(x, (2, 2), strides=(2, 2)), x)[1](g)[0]
    np.testing.assert_allclose(got, ref, rtol=0, atol=0)


class ReferenceCNN(nn.Module):
    """SimpleCNN with stock Flax layers (lax convolution, reduce_window pooling)."""

    features: tuple = (16, 32, 64)

    @nn.compact
    def __call__(self, x, train=False):
        for width in self.features:
            x = nn.max_pool(nn.relu(nn.Conv(width, (3, 3), padding="SAME")(x)), (2, 2), strides=(2, 2))
        return nn.Dense(1)(x.reshape((x.shape[0], -1)))


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    x = rng.random((3, 16, 28, 28, 1), dtype=np.float32)
    y = (rng.random((3, 16)) > 0.5).astype(np.float32)
    return x, y


def _states(x):
    fast = create_train_state(SimpleCNN(), jax.random.key(0), x[:1], optax.adam(1e-3))
    ref = create_train_state(ReferenceCNN(), jax.random.key(0), x[:1], optax.adam(1e-3))
    return fast, ref


def test_simple_cnn_same_parameters_and_logits_as_stock_layers(batch):
    x = batch[0][0]
    fast, ref = _states(x)
    assert jax.tree.map(jnp.shape, fast.params) == jax.tree.map(jnp.shape, ref.params)
    jax.tree.map(np.testing.assert_array_equal, fast.params, ref.params)
    np.testing.assert_allclose(fast.apply_fn({"params": fast.params}, x),
                               ref.apply_fn({"params": ref.params}, x), rtol=1e-5, atol=1e-5)


def _loss(state, x, y):
    logits = state.apply_fn({"params": state.params}, x)[:, 0]
    return optax.sigmoid_binary_cross_entropy(logits, y).mean()


def test_simple_cnn_gradients_equal_stock_layers(batch):
    x, y = batch
    fast, ref = _states(x[0])
    g_fast = jax.grad(lambda p: _loss(fast.replace(params=p), x[0], y[0]))(fast.params)
    g_ref = jax.grad(lambda p: _loss(ref.replace(params=p), x[0], y[0]))(ref.params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7), g_fast, g_ref)


# Adam divides by sqrt(v): float32 rounding in near-zero gradients moves a parameter by up
# to ~1 % of one step (lr = 1e-3), so parameters are compared to 1e-5 after a few steps.
ADAM_ATOL = 1e-5


def test_simple_cnn_train_steps_equal_stock_layers(batch):
    x, y = batch
    fast, ref = _states(x[0])
    for s in range(3):
        fast, m_fast = train_step(fast, x[s], y[s], task="binary")
        ref, m_ref = train_step(ref, x[s], y[s], task="binary")
        np.testing.assert_allclose(m_fast["loss"], m_ref["loss"], rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=ADAM_ATOL), fast.params, ref.params)


def test_simple_cnn_scan_equals_single_steps(batch):
    x, y = batch
    fast, ref = _states(x[0])
    fast, m_scan = train_steps_scan(fast, x, y, task="binary")
    total = 0.0
    for s in range(3):
        ref, m = train_step(ref, x[s], y[s], task="binary")
        total += float(m["loss"])
    np.testing.assert_allclose(float(m_scan["loss"]), total, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=ADAM_ATOL), fast.params, ref.params)
