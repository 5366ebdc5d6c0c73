"""Pooling against brute-force NumPy windows; flatten order against PyTorch's NCHW convention."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medjax import ShapeError
from medjax.pooling import avg_pool, flatten, max_pool, min_pool

REDUCERS = {max_pool: np.max, min_pool: np.min, avg_pool: np.mean}


def brute_pool(img, win, stride, reduce):
    """img (H, W, C): reduce every window, position by position."""
    (wh, ww), (sh, sw) = win, stride
    h, w, c = img.shape
    oh, ow = (h - wh) // sh + 1, (w - ww) // sw + 1
    out = np.zeros((oh, ow, c), np.float64)
    for y in range(oh):
        for x in range(ow):
            out[y, x] = reduce(img[y * sh: y * sh + wh, x * sw: x * sw + ww], axis=(0, 1))
    return out


def test_worked_example_2x2():
    x = np.array([[1, 3, 2, 1], [4, 2, 0, 1], [5, 1, 2, 3], [0, 2, 4, 1]])
    np.testing.assert_array_equal(max_pool(x), [[4, 2], [5, 4]])
    np.testing.assert_array_equal(min_pool(x), [[1, 0], [0, 1]])
    np.testing.assert_array_equal(avg_pool(x), [[2.5, 1.0], [2.0, 2.5]])
    assert max_pool(x).dtype == jnp.int32 and avg_pool(x).dtype == jnp.float32


@settings(max_examples=10)
@given(h=st.integers(2, 9), w=st.integers(2, 9), c=st.integers(1, 3), wh=st.integers(1, 3), ww=st.integers(1, 3),
       stride=st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))), seed=st.integers(0, 2**16))
def test_matches_brute_force_in_every_layout(h, w, c, wh, ww, stride, seed):
    if wh > h or ww > w:
        return
    x = np.random.default_rng(seed).normal(size=(2, h, w, c)).astype(np.float32)
    s = (wh, ww) if stride is None else stride
    for pool, reduce in REDUCERS.items():
        expected = brute_pool(x[1], (wh, ww), s, reduce)
        np.testing.assert_allclose(pool(x, (wh, ww), stride)[1], expected, rtol=1e-5, atol=1e-6)
    # the other layouts give the same numbers (checked on one pool to keep compiles few)
    expected = brute_pool(x[1], (wh, ww), s, np.max)
    np.testing.assert_allclose(max_pool(x[1], (wh, ww), stride), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(max_pool(x[1, :, :, 0], (wh, ww), stride), expected[:, :, 0], rtol=1e-5, atol=1e-6)


def test_stride_defaults_to_window_and_overlap_works():
    x = np.arange(25.0).reshape(5, 5)
    assert max_pool(x, 2).shape == (2, 2)             # floor((5 - 2) / 2) + 1
    assert max_pool(x, 3, stride=1).shape == (3, 3)
    np.testing.assert_array_equal(max_pool(x, 3, stride=1), x[2:, 2:])


def test_gradients_route_to_the_winner_and_spread_for_avg():
    x = jnp.array([[1.0, 3.0], [4.0, 2.0]])
    np.testing.assert_array_equal(jax.grad(lambda a: max_pool(a).sum())(x), [[0, 0], [1, 0]])
    np.testing.assert_array_equal(jax.grad(lambda a: min_pool(a).sum())(x), [[1, 0], [0, 0]])
    np.testing.assert_array_equal(jax.grad(lambda a: avg_pool(a).sum())(x), np.full((2, 2), 0.25))


def test_jit_and_vmap():
    x = jnp.arange(32.0).reshape(2, 4, 4)
    f = jax.jit(lambda a: max_pool(a, 2))
    np.testing.assert_array_equal(jax.vmap(f)(x)[1], max_pool(x[1], 2))


def test_flatten_order_is_nhwc_channels_fastest():
    n, h, w, c = 2, 3, 4, 5
    x = np.arange(n * h * w * c).reshape(n, h, w, c)
    flat = np.asarray(flatten(x))
    assert flat.shape == (n, h * w * c)
    y, xx, ch = 1, 2, 3
    assert flat[1, (y * w + xx) * c + ch] == x[1, y, xx, ch]
    nchw = np.asarray(flatten(x.transpose(0, 3, 1, 2)))     # what PyTorch would flatten
    assert nchw[1, (ch * h + y) * w + xx] == x[1, y, xx, ch]
    assert not np.array_equal(flat, nchw)
    assert flatten(np.zeros((0, 2, 3))).shape == (0, 6)


@pytest.mark.parametrize("pool", list(REDUCERS))
def test_bad_inputs(pool):
    name = pool.__name__
    with pytest.raises(ShapeError, match=rf"{name}: 'x' must have shape \(H, W\), \(H, W, C\) or \(N, H, W, C\), got \(5,\)"):
        pool(np.ones(5))
    with pytest.raises(ValueError, match=rf"{name}: 'window' must be an integer >= 1, got 0"):
        pool(np.ones((4, 4)), 0)
    with pytest.raises(ValueError, match=rf"{name}: 'stride' must be an integer >= 1"):
        pool(np.ones((4, 4)), 2, -1)
    with pytest.raises(ValueError, match=rf"{name}: kernel of size 5 .* does not fit"):
        pool(np.ones((4, 4)), 5)


def test_flatten_needs_a_batch_axis():
    with pytest.raises(ShapeError, match="flatten: 'x' must have shape"):
        flatten(np.float32(3.0))
