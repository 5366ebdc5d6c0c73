"""conv2d and conv2d_naive against a brute-force NumPy loop and scipy's correlate2d."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import convolve2d, correlate2d

from medjax import ShapeError
from medjax.conv import conv2d, conv2d_naive
from medjax.sizes import output_size

CONVS = [conv2d, conv2d_naive]


def brute_conv(x, w, b, stride, pads, dilation):
    """Loop over every output position and kernel tap. x (N,H,W,C), w (kh,kw,C,K), zero padding."""
    (t, bt), (l, r) = pads
    xp = np.pad(x, ((0, 0), (t, bt), (l, r), (0, 0)))
    n, hp, wp, c = xp.shape
    kh, kw, _, k = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    oh = (hp - dh * (kh - 1) - 1) // sh + 1
    ow = (wp - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, oh, ow, k), np.float64)
    for y in range(oh):
        for x_ in range(ow):
            for i in range(kh):
                for j in range(kw):
                    out[:, y, x_, :] += xp[:, y * sh + i * dh, x_ * sw + j * dw, :] @ w[i, j]
    return out + (0 if b is None else b)


# --- worked examples from the course ------------------------------------------

VERTICAL = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]])
SHARPEN = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])


@pytest.mark.parametrize("conv", CONVS)
def test_vertical_edge_worked_example(conv):
    image = np.array([[7, 2, 3, 3, 8], [4, 5, 3, 8, 4], [3, 3, 2, 8, 4], [2, 8, 7, 2, 7], [5, 4, 4, 5, 4]])
    out = conv(image, VERTICAL, stride=1, padding="valid")
    assert out.shape == (3, 3)
    assert out[0, 0] == 6
    np.testing.assert_array_equal(out, correlate2d(image, VERTICAL, mode="valid"))


@pytest.mark.parametrize("conv", CONVS)
def test_sharpen_with_zero_padding_gives_320(conv):
    image = np.array([[105, 102, 100, 97, 96], [103, 99, 103, 101, 102], [101, 98, 104, 102, 100],
                      [99, 101, 106, 104, 99], [104, 104, 104, 100, 98]])
    out = conv(image, SHARPEN, padding=1)
    assert out.shape == (5, 5)
    assert out[0, 0] == 320   # 5*105 - 102 - 103
    np.testing.assert_array_equal(out, correlate2d(image, SHARPEN, mode="same"))


@pytest.mark.parametrize("conv", CONVS)
def test_sharpen_valid_gives_6(conv):
    image = np.array([[-5, 3, 2, -5, 3], [4, 3, 2, 1, -3], [1, 0, 3, 3, 5], [-2, 0, 1, 4, 4], [5, 6, 7, 9, -1]])
    assert conv(image, SHARPEN)[0, 0] == 6


@pytest.mark.parametrize("conv", CONVS)
def test_pattern_kernel_scores(conv):
    pattern = np.array([[0, 0, 0], [0, 1, 0], [0, 1, 1]])
    assert conv(pattern, pattern)[0, 0] == 3
    assert conv(np.array([[1, 0, 1], [0, 1, 0], [0, 0, 0]]), pattern)[0, 0] == 1


@pytest.mark.parametrize("conv", CONVS)
def test_no_kernel_flip(conv):
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(6, 7)), rng.normal(size=(3, 2))
    got = np.asarray(conv(x.astype(np.float32), w.astype(np.float32)))
    np.testing.assert_allclose(got, correlate2d(x, w, mode="valid"), rtol=1e-5, atol=1e-5)
    assert not np.allclose(got, convolve2d(x, w, mode="valid"), atol=1e-3)


# --- properties ------------------------------------------------------------------

geometry = st.fixed_dictionaries({
    "h": st.integers(3, 9), "w": st.integers(3, 9), "kh": st.integers(1, 3), "kw": st.integers(1, 3),
    "c": st.integers(1, 3), "k": st.integers(1, 3),
    "stride": st.tuples(st.integers(1, 3), st.integers(1, 3)),
    "dilation": st.tuples(st.integers(1, 2), st.integers(1, 2)),
    "padding": st.one_of(st.integers(0, 2), st.just("valid"), st.just("same"),
                         st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)),
                                   st.tuples(st.integers(0, 2), st.integers(0, 2)))),
    "seed": st.integers(0, 2**16), "bias": st.booleans(),
})


def explicit_pads(g):
    p = g["padding"]
    if p == "valid":
        return ((0, 0), (0, 0))
    if p == "same":
        return tuple(tuple(a) for a in jax.lax.padtype_to_pads(
            (g["h"], g["w"]), [d * (k - 1) + 1 for d, k in zip(g["dilation"], (g["kh"], g["kw"]))],
            g["stride"], "SAME"))
    return ((p, p), (p, p)) if isinstance(p, int) else p


@settings(max_examples=20)   # each new shape compiles both convolutions: keep the suite fast
@given(g=geometry)
def test_shape_matches_output_size_and_brute_force(g):
    rng = np.random.default_rng(g["seed"])
    x = rng.normal(size=(2, g["h"], g["w"], g["c"])).astype(np.float32)
    w = rng.normal(size=(g["kh"], g["kw"], g["c"], g["k"])).astype(np.float32)   # asymmetric
    b = rng.normal(size=g["k"]).astype(np.float32) if g["bias"] else None
    pads = explicit_pads(g)
    kwargs = dict(stride=g["stride"], padding=g["padding"], dilation=g["dilation"])
    expected = brute_conv(x, w, b, g["stride"], pads, g["dilation"])
    if 0 in expected.shape:
        for conv in CONVS:
            with pytest.raises(ValueError, match="does not fit"):
                conv(x, w, b, **kwargs)
        return
    sizes = [output_size(n, k, s, pp, d) for n, k, s, pp, d in
             zip((g["h"], g["w"]), (g["kh"], g["kw"]), g["stride"], pads, g["dilation"])]
    fast = np.asarray(conv2d(x, w, b, **kwargs))
    naive = np.asarray(conv2d_naive(x, w, b, **kwargs))
    assert fast.shape == naive.shape == (2, *sizes, g["k"])
    np.testing.assert_allclose(fast, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(naive, fast, rtol=1e-5, atol=1e-5)


@given(h=st.integers(3, 7), w=st.integers(3, 7), p=st.integers(0, 2), mode=st.sampled_from(["replicate", "reflect"]),
       s=st.integers(1, 2), seed=st.integers(0, 2**16))
@settings(max_examples=8)
def test_padding_modes_equal_pad_then_valid(h, w, p, mode, s, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(h, w)).astype(np.float32)
    k = rng.normal(size=(3, 2)).astype(np.float32)
    np_mode = {"replicate": "edge", "reflect": "reflect"}[mode]
    expected = brute_conv(np.pad(x, p, mode=np_mode)[None, :, :, None], k[:, :, None, None], None,
                          (s, s), ((0, 0), (0, 0)), (1, 1))[0, :, :, 0]
    for conv in CONVS:
        got = conv(x, k, stride=s, padding=p, padding_mode=mode)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_even_kernel_same_puts_extra_bottom_right():
    x = np.arange(16.0, dtype=np.float32).reshape(4, 4)
    k = np.zeros((2, 2), np.float32)
    k[0, 0] = 1.0          # picks the top-left tap: output equals the input with no shift
    for conv in CONVS:
        np.testing.assert_array_equal(conv(x, k, padding="same"), x)


def test_jit_vmap_and_integer_input():
    x = jnp.arange(25).reshape(5, 5)
    k = jnp.asarray(VERTICAL)
    for conv in CONVS:
        jitted = jax.jit(lambda a, b: conv(a, b, padding=1))
        np.testing.assert_array_equal(jitted(x, k), conv(x, k, padding=1))
        batched = jax.vmap(lambda a: conv(a, k))(jnp.stack([x, 2 * x]))
        np.testing.assert_array_equal(batched[1], 2 * batched[0])
        assert conv(x, k).dtype == jnp.float32


@pytest.mark.parametrize("conv", CONVS)
def test_grad_wrt_kernel_and_input_match_brute_force(conv):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 6, 5, 2)).astype(np.float32)
    w = rng.normal(size=(3, 2, 2, 3)).astype(np.float32)
    cot = rng.normal(size=(2, 3, 6, 3)).astype(np.float32)   # output shape at stride (2, 1), padding 1
    f = lambda xx, ww: jnp.sum(conv(xx, ww, stride=(2, 1), padding=1) * cot)
    gx, gw = jax.grad(f, argnums=(0, 1))(x, w)
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    expected_gw = np.zeros_like(w, dtype=np.float64)
    expected_gxp = np.zeros_like(xp, dtype=np.float64)
    for i in range(3):
        for j in range(2):
            win = xp[:, i: i + 2 * 2 + 1: 2, j: j + 6, :]          # (N, 3, 6, C)
            expected_gw[i, j] = np.einsum("nhwc,nhwk->ck", win, cot)
            expected_gxp[:, i: i + 5: 2, j: j + 6, :] += np.einsum("nhwk,ck->nhwc", cot, w[i, j])
    np.testing.assert_allclose(gw, expected_gw, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gx, expected_gxp[:, 1:-1, 1:-1, :], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("conv", CONVS)
def test_pytorch_layouts_get_a_hint(conv):
    with pytest.raises(ShapeError, match=r"'x' looks NCHW.*transpose\(0, 2, 3, 1\)"):
        conv(np.ones((2, 3, 8, 8)), np.ones((3, 3, 3, 4)))          # NCHW image
    with pytest.raises(ShapeError, match=r"'kernel' looks OIHW.*transpose\(2, 3, 1, 0\)"):
        conv(np.ones((2, 8, 8, 3)), np.ones((4, 3, 5, 5)))          # OIHW kernel (K=4, C=3, 5x5)


def test_bias_scalar_for_2d_and_vector_for_4d():
    x = np.ones((4, 4), np.float32)
    np.testing.assert_array_equal(conv2d(x, np.ones((3, 3)), 0.5), np.full((2, 2), 9.5))
    out = conv2d(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 2)), np.array([1.0, -1.0]))
    np.testing.assert_array_equal(out[0, 0, 0], [10.0, 8.0])


@pytest.mark.parametrize("conv", CONVS)
@pytest.mark.parametrize("args, kwargs, err, match", [
    ((np.ones((1, 5, 5, 3)), np.ones((3, 3, 1, 8))), {}, ShapeError,
     r"'kernel' must have shape \(kh, kw, C=3, K\), got \(3, 3, 1, 8\)"),
    ((np.ones((5, 5, 3)), np.ones((3, 3))), {}, ShapeError, r"'x' must have shape \(H, W\) or \(N, H, W, C\), got \(5, 5, 3\)"),
    ((np.ones((5, 5)), np.ones((3, 3, 1, 1))), {}, ShapeError, r"'kernel' must have shape \(kh, kw\)"),
    ((np.ones((1, 5, 5, 1)), np.ones((3, 3, 1, 2)), np.ones(3)), {}, ShapeError, r"'bias' must have shape \(K=2,\), got \(3,\)"),
    ((np.ones((5, 5)), np.ones((3, 3))), {"stride": 0}, ValueError, "'stride' must be an integer >= 1"),
    ((np.ones((5, 5)), np.ones((3, 3))), {"padding": -1}, ValueError, "'padding' must be an integer >= 0"),
    ((np.ones((5, 5)), np.ones((3, 3))), {"padding": "full"}, ValueError, "'padding' must be"),
    ((np.ones((5, 5)), np.ones((3, 3))), {"padding_mode": "circular"}, ValueError, "'padding_mode' must be one of"),
    ((np.ones((5, 5)), np.ones((3, 3))), {"dilation": 0}, ValueError, "'dilation' must be an integer >= 1"),
    ((np.ones((2, 2)), np.ones((3, 3))), {}, ValueError, "kernel of size 3 .* does not fit"),
    ((np.ones((2, 5)), np.ones((3, 3))), {"padding": 2, "padding_mode": "reflect"}, ValueError, "reflect padding"),
])
def test_bad_inputs_raise_named_errors(conv, args, kwargs, err, match):
    with pytest.raises(err, match=match) as info:
        conv(*args, **kwargs)
    assert str(info.value).startswith(conv.__name__ + ":") or "reflect" in match
