"""Padding modes against a brute-force index oracle written here."""
import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medjax import ShapeError
from medjax.padding import normalize_padding, pad


def brute_pad(img, t, b, l, r, mode):
    """Index-by-index padding of one (H, W) image."""
    h, w = img.shape
    out = np.zeros((h + t + b, w + l + r), img.dtype)

    def src(i, n):
        if 0 <= i < n:
            return i
        if mode == "replicate":
            return min(max(i, 0), n - 1)
        return -i if i < 0 else 2 * (n - 1) - i   # reflect, edge not repeated

    for y in range(out.shape[0]):
        for x in range(out.shape[1]):
            i, j = y - t, x - l
            inside = 0 <= i < h and 0 <= j < w
            if mode == "zero" and not inside:
                continue
            out[y, x] = img[src(i, h), src(j, w)]
    return out


def test_worked_row_in_each_mode():
    row = np.array([[1, 2, 3, 4]])
    widths = ((0, 0), (2, 2))
    np.testing.assert_array_equal(pad(row, widths, "zero"), [[0, 0, 1, 2, 3, 4, 0, 0]])
    np.testing.assert_array_equal(pad(row, widths, "replicate"), [[1, 1, 1, 2, 3, 4, 4, 4]])
    np.testing.assert_array_equal(pad(row, widths, "reflect"), [[3, 2, 1, 2, 3, 4, 3, 2]])


@settings(max_examples=20)
@given(h=st.sampled_from([2, 5]), w=st.sampled_from([3, 6]), t=st.integers(0, 3), b=st.integers(0, 3),
       l=st.integers(0, 3), r=st.integers(0, 3), mode=st.sampled_from(["zero", "replicate", "reflect"]),
       seed=st.integers(0, 2**16))
def test_matches_brute_force_2d_and_4d(h, w, t, b, l, r, mode, seed):
    if mode == "reflect" and (max(t, b) >= h or max(l, r) >= w):
        return
    rng = np.random.default_rng(seed)
    batch = rng.normal(size=(2, h, w, 3)).astype(np.float32)
    got = np.asarray(pad(batch, ((t, b), (l, r)), mode))
    for n in range(2):
        for c in range(3):
            np.testing.assert_array_equal(got[n, :, :, c], brute_pad(batch[n, :, :, c], t, b, l, r, mode))
    np.testing.assert_array_equal(pad(batch[0, :, :, 0], ((t, b), (l, r)), mode), got[0, :, :, 0])


def test_int_and_pair_forms():
    assert normalize_padding("pad", 2) == ((2, 2), (2, 2))
    assert normalize_padding("pad", (1, 3)) == ((1, 1), (3, 3))
    assert normalize_padding("pad", ((0, 1), (2, 3))) == ((0, 1), (2, 3))
    assert pad(np.ones((3, 4)), (1, 2)).shape == (5, 8)


def test_reflect_needs_padding_smaller_than_size():
    with pytest.raises(ValueError, match=r"pad: reflect padding must be smaller.*\(H, W\) = \(2, 5\)"):
        pad(np.ones((2, 5)), 2, mode="reflect")
    assert pad(np.ones((3, 5)), 2, mode="reflect").shape == (7, 9)


@pytest.mark.parametrize("x, padding, mode, err, match", [
    (np.ones((2, 3, 4)), 1, "zero", ShapeError, r"pad: 'x' must have shape \(H, W\) or \(N, H, W, C\), got \(2, 3, 4\)"),
    (np.ones((3, 3)), 1, "wrap", ValueError, "pad: 'mode' must be one of"),
    (np.ones((3, 3)), -1, "zero", ValueError, "pad: 'padding' must be an integer >= 0"),
    (np.ones((3, 3)), (1, 2, 3), "zero", ValueError, "pad: 'padding' must be an int"),
    (np.ones((3, 3)), "same", "zero", ValueError, "pad: 'padding' must be an int"),
])
def test_bad_input_errors(x, padding, mode, err, match):
    with pytest.raises(err, match=match):
        pad(x, padding, mode)


def test_jit_and_grad():
    x = np.arange(12.0).reshape(3, 4)
    f = jax.jit(lambda a: pad(a, 1, "replicate"))
    np.testing.assert_array_equal(f(x), np.pad(x, 1, mode="edge"))
    g = jax.grad(lambda a: pad(a, 1, "replicate").sum())(x)
    # each corner pixel appears 4 times, edge pixels twice, the inside once
    np.testing.assert_array_equal(g, [[4, 2, 2, 4], [2, 1, 1, 2], [4, 2, 2, 4]])
