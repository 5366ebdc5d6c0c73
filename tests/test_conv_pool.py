"""The fused conv-bias-ReLU-pool block (phase matmul, hand-written VJP) equals lax and brute-force NumPy.

Oracles: ``lax.conv_general_dilated`` + ``lax.reduce_window`` (what Flax's
``nn.Conv``/``nn.max_pool`` run) for values and, through JAX's own autodiff,
for all three gradients; a NumPy loop for the forward values; a NumPy
finite difference for the kernel gradient. SimpleCNN as a whole is compared
with stock Flax layers in ``tests/test_im2col.py``.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax import lax

from medjax._checks import ShapeError
from medjax.models import SimpleCNN
from medjax.models._conv_pool import conv_relu_pool, conv_relu_pool_reference, phase_kernel


def numpy_block(x, k, b, pads):
    """max_pool_2x2(relu(xcorr(x, k) + b)) by loops."""
    x = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    kh, kw, _, o = k.shape
    ho, wo = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    y = np.zeros((x.shape[0], ho, wo, o))
    for i in range(ho):
        for j in range(wo):
            y[:, i, j] = np.einsum("nabc,abco->no", x[:, i:i + kh, j:j + kw], k) + b
    y = np.maximum(y, 0)[:, :ho // 2 * 2, :wo // 2 * 2]
    return y.reshape(y.shape[0], ho // 2, 2, wo // 2, 2, o).max(axis=(2, 4))


@settings(max_examples=10, deadline=None)
@given(h=st.integers(2, 9), w=st.integers(2, 9), cin=st.integers(1, 3), cout=st.integers(1, 4),
       kh=st.sampled_from([1, 3]), kw=st.sampled_from([1, 2, 3]), padding=st.sampled_from(["SAME", "VALID"]),
       seed=st.integers(0, 2**16))
def test_values_and_gradients_equal_lax(h, w, cin, cout, kh, kw, padding, seed):
    if padding == "VALID" and (h < kh + 1 or w < kw + 1):
        return
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, h, w, cin)).astype(np.float32)
    k = rng.normal(size=(kh, kw, cin, cout)).astype(np.float32)
    b = rng.normal(size=cout).astype(np.float32)
    pads = lax.padtype_to_pads((h, w), (kh, kw), (1, 1), padding)
    got = np.asarray(conv_relu_pool(x, k, b, padding))
    np.testing.assert_allclose(got, numpy_block(x, k, b, pads), rtol=1e-4, atol=1e-4)
    ct = rng.normal(size=got.shape).astype(np.float32)
    grads = jax.grad(lambda *a: (conv_relu_pool(*a, padding) * ct).sum(), argnums=(0, 1, 2))(x, k, b)
    refs = jax.grad(lambda *a: (conv_relu_pool_reference(*a, padding) * ct).sum(), argnums=(0, 1, 2))(x, k, b)
    for g, r in zip(grads, refs):
        np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=1e-4, atol=1e-4)


def test_course_shapes_explicit_padding_and_finite_difference():
    rng = np.random.default_rng(1)
    for shape, cout, padding in [((4, 28, 28, 1), 16, "SAME"), ((3, 7, 7, 8), 6, "SAME"),
                                 ((2, 6, 7, 2), 3, ((2, 0), (1, 1)))]:
        x = rng.normal(size=shape).astype(np.float32)
        k = rng.normal(size=(3, 3, shape[-1], cout)).astype(np.float32)
        b = rng.normal(size=cout).astype(np.float32)
        np.testing.assert_allclose(np.asarray(conv_relu_pool(x, k, b, padding)),
                                   np.asarray(conv_relu_pool_reference(x, k, b, padding)), rtol=1e-5, atol=1e-5)
    # one kernel entry moved by +-eps: the custom VJP's kernel gradient is the slope
    x = rng.normal(size=(2, 6, 6, 2)).astype(np.float64)
    k = rng.normal(size=(3, 3, 2, 3)).astype(np.float32)
    b = np.zeros(3, np.float32)
    ct = rng.normal(size=(2, 3, 3, 3))
    pads = ((1, 1), (1, 1))
    dk = np.asarray(jax.grad(lambda k: (conv_relu_pool(x.astype(np.float32), k, b) * ct).sum())(k))
    eps = 1e-3
    for idx in [(0, 0, 0, 0), (1, 2, 1, 2), (2, 1, 0, 1)]:
        up, down = k.astype(np.float64), k.astype(np.float64)
        up[idx] += eps
        down[idx] -= eps
        slope = ((numpy_block(x, up, b, pads) - numpy_block(x, down, b, pads)) * ct).sum() / (2 * eps)
        np.testing.assert_allclose(dk[idx], slope, rtol=1e-2, atol=1e-3)


def test_ties_send_the_gradient_to_the_first_maximum_like_max_pool():
    x = jnp.ones((1, 4, 4, 1))  # a 1x1 identity kernel: every pooling window is a four-way tie
    k, b = jnp.ones((1, 1, 1, 1)), jnp.zeros(1)
    g = jax.grad(lambda x: conv_relu_pool(x, k, b, "VALID").sum())(x)
    r = jax.grad(lambda x: conv_relu_pool_reference(x, k, b, "VALID").sum())(x)
    np.testing.assert_array_equal(np.asarray(g), np.asarray(r))
    assert float(g.sum()) == 4.0  # one pixel per window, not all four


def test_phase_kernel_places_the_kernel_at_each_window_offset():
    k = jnp.arange(1.0, 10.0).reshape(3, 3, 1, 1)
    full = np.asarray(phase_kernel(k)).reshape(4, 4, 2, 2)  # (u, v, p, q)
    for p in range(2):
        for q in range(2):
            expected = np.zeros((4, 4))
            expected[p:p + 3, q:q + 3] = np.asarray(k[..., 0, 0])
            np.testing.assert_array_equal(full[:, :, p, q], expected)


def test_errors_name_the_argument_and_shapes():
    with pytest.raises(ShapeError, match="'x' must have shape"):
        conv_relu_pool(jnp.zeros((4, 4, 1)), jnp.zeros((3, 3, 1, 2)), jnp.zeros(2))
    with pytest.raises(ValueError, match=r"kernel \(kh, kw, 1, O\)"):
        conv_relu_pool(jnp.zeros((1, 4, 4, 1)), jnp.zeros((3, 3, 2, 2)), jnp.zeros(2))
    with pytest.raises(ValueError, match="smaller than one 2x2 pooling window"):
        conv_relu_pool(jnp.zeros((1, 3, 3, 1)), jnp.zeros((3, 3, 1, 2)), jnp.zeros(2), "VALID")


def test_simple_cnn_taps_use_the_unfused_layers_with_the_same_logits():
    model = SimpleCNN(features=(4, 8))
    x = jax.random.uniform(jax.random.key(0), (2, 16, 16, 1))
    variables = model.init(jax.random.key(1), x)
    fused = model.apply(variables, x)
    tapped, state = model.apply(variables, x, mutable=["intermediates"])
    assert set(state["intermediates"]) == {"block0", "block1"}
    np.testing.assert_allclose(np.asarray(fused), np.asarray(tapped), rtol=1e-5, atol=1e-6)
    if jax.default_backend() == "cpu":  # the fused path is the CPU branch of lax.platform_dependent
        hlo = jax.jit(model.apply).lower(variables, x).as_text()
        assert "reduce_window" not in hlo and "convolution" not in hlo


# ---------------------------------------------------------------- the two gradient paths, one by one

from medjax import native  # noqa: E402
from medjax.models import _conv_pool  # noqa: E402

needs_native = pytest.mark.skipif(not _conv_pool.native_available(),
                                  reason=f"native kernels not built: {native.status().get('conv_pool_grad')}")


def _block_grads(block, x, k, b, pads, ct):
    def f(x, k, b):
        return (block(x, k, b, (tuple(x.shape), pads)) * ct).sum()
    return jax.jit(jax.grad(f, argnums=(0, 1, 2)))(x, k, b)


# (x shape, cout, padding, kernel window): the course's three blocks (C = 1 -> the by-output-channel
# kernel, C = 16 and 32 -> the vector kernels), an odd map whose last row and column are dropped,
# explicit padding, shapes no vector kernel takes (the scalar loops), and 9-tap kernels that are not 3x3
SHAPES = [((3, 28, 28, 1), 16, "SAME", (3, 3)), ((3, 14, 14, 16), 32, "SAME", (3, 3)),
          ((2, 7, 7, 32), 64, "SAME", (3, 3)), ((2, 9, 11, 16), 16, "VALID", (3, 3)),
          ((2, 8, 6, 16), 32, ((2, 0), (0, 1)), (3, 3)), ((2, 6, 7, 3), 5, "SAME", (3, 3)),
          ((1, 5, 5, 2), 16, "SAME", (3, 3)), ((2, 6, 12, 16), 16, "SAME", (1, 9)), ((2, 12, 6, 16), 16, "SAME", (9, 1))]


@pytest.mark.parametrize("backward", ["native", "xla"])
@pytest.mark.parametrize("shape,cout,padding,window", SHAPES)
def test_each_backward_path_equals_lax_autodiff(backward, shape, cout, padding, window):
    if backward == "native" and not _conv_pool.native_available():
        pytest.skip(f"native kernels not built: {native.status().get('conv_pool_grad')}")
    block = _conv_pool._fused_native if backward == "native" else _conv_pool._fused
    rng = np.random.default_rng(sum(shape) + cout)
    x = rng.normal(size=shape).astype(np.float32)
    k = (rng.normal(size=(*window, shape[-1], cout)) / np.sqrt(9 * shape[-1])).astype(np.float32)
    b = rng.normal(size=cout).astype(np.float32) * 0.1
    pads = _conv_pool._pads(shape, k.shape, padding)
    ref_y = conv_relu_pool_reference(x, k, b, pads)
    ct = rng.normal(size=ref_y.shape).astype(np.float32)
    np.testing.assert_allclose(np.asarray(block(x, k, b, (shape, pads))), np.asarray(ref_y), rtol=1e-5, atol=1e-5)
    refs = jax.grad(lambda *a: (conv_relu_pool_reference(*a, pads) * ct).sum(), argnums=(0, 1, 2))(x, k, b)
    for name, g, r in zip("xkb", _block_grads(block, x, k, b, pads, ct), refs):
        np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=1e-4, atol=1e-4, err_msg=f"d{name}")


@needs_native
def test_native_gradient_under_vmap_and_scan_equals_the_xla_one():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3, 2, 14, 14, 16)).astype(np.float32)  # 3 groups of 2 images
    k = (rng.normal(size=(3, 3, 16, 32)) / 12).astype(np.float32)
    b = np.zeros(32, np.float32)
    pads = ((1, 1), (1, 1))

    def loss(block):
        return lambda k, x: (block(x, k, b, (x.shape, pads)) ** 2).sum()

    for block in (_conv_pool._fused_native, _conv_pool._fused):
        per_group = jax.jit(jax.vmap(jax.grad(loss(block)), in_axes=(None, 0)))(k, x)
        summed = jax.jit(lambda k: jax.lax.scan(lambda c, xi: (c + jax.grad(loss(block))(k, xi), None),
                                                jnp.zeros_like(k), x)[0])(k)
        if block is _conv_pool._fused_native:
            native_vmap, native_scan = per_group, summed
    np.testing.assert_allclose(np.asarray(native_vmap), np.asarray(per_group), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(native_scan), np.asarray(summed), rtol=1e-4, atol=1e-5)


@needs_native
def test_first_block_input_gradient_is_not_computed_when_unused():
    model = SimpleCNN(features=(16, 32))
    x = jnp.zeros((4, 28, 28, 1))
    params = model.init(jax.random.key(0), x)
    hlo = jax.jit(jax.grad(lambda p: model.apply(p, x).sum())).lower(params).compile().as_text()
    assert hlo.count(_conv_pool._KERNEL_GRAD) == 2  # both blocks' kernel gradients ...
    assert hlo.count(_conv_pool._INPUT_GRAD) == 1  # ... but only block 2 needs an input gradient


def test_bfloat16_blocks_take_the_xla_path_and_stay_close():
    x = jax.random.normal(jax.random.key(0), (2, 8, 8, 16), jnp.bfloat16)
    k = (jax.random.normal(jax.random.key(1), (3, 3, 16, 16)) / 12).astype(jnp.bfloat16)
    b = jnp.zeros(16, jnp.bfloat16)
    g = jax.grad(lambda k: conv_relu_pool(x, k, b).astype(jnp.float32).sum())(k)
    r = jax.grad(lambda k: conv_relu_pool_reference(x, k, b).astype(jnp.float32).sum())(k)
    assert g.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(g, np.float32), np.asarray(r, np.float32), rtol=0.1, atol=0.1)
