"""Tests for medjax.data.augment: shapes, determinism, per-image draws, jit, identities, ranges."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st

from medjax.data.augment import augment, random_flip, random_intensity, random_rotation, random_translation
from medjax._checks import ShapeError

ALL = [random_flip, random_rotation, random_translation, random_intensity, augment]


def _batch(n=6, h=12, w=10, c=1, seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(0, 1, (n, h, w, c)).astype(np.float32))


@pytest.mark.parametrize("fn", ALL)
def test_shape_dtype_and_determinism(fn):
    x = _batch(c=3)
    y = fn(jax.random.key(0), x)
    assert y.shape == x.shape and y.dtype == x.dtype
    np.testing.assert_array_equal(np.asarray(fn(jax.random.key(0), x)), np.asarray(y))


@pytest.mark.parametrize("fn", ALL)
def test_different_keys_differ_and_jit_matches(fn):
    x = _batch(n=16)
    outs = [np.asarray(fn(jax.random.key(k), x)) for k in range(3)]
    assert not np.array_equal(outs[0], outs[1]) or not np.array_equal(outs[0], outs[2])
    np.testing.assert_allclose(np.asarray(jax.jit(fn)(jax.random.key(0), x)), outs[0], atol=1e-5)


@pytest.mark.parametrize("fn, kwargs", [
    (random_flip, dict(horizontal=False, vertical=False)),
    (random_rotation, dict(max_degrees=0)),
    (random_translation, dict(max_pixels=0)),
    (random_intensity, dict(brightness=0, contrast=0)),
    (augment, dict(horizontal_flip=False, max_degrees=0, max_pixels=0, brightness=0, contrast=0)),
])
def test_zero_magnitude_is_identity(fn, kwargs):
    x = _batch()
    np.testing.assert_array_equal(np.asarray(fn(jax.random.key(3), x, **kwargs)), np.asarray(x))


def test_each_image_gets_its_own_draw():
    x = jnp.tile(_batch(n=1), (32, 1, 1, 1))  # 32 copies of one image
    for fn in ALL:
        y = np.asarray(fn(jax.random.key(1), x))
        distinct = {y[i].tobytes() for i in range(32)}
        assert len(distinct) > 1, fn.__name__


def test_flip_is_a_mirror_image_of_each_input():
    x = _batch(n=20)
    y = np.asarray(random_flip(jax.random.key(2), x, horizontal=True, vertical=True))
    xn = np.asarray(x)
    options = lambda im: [im, im[:, ::-1], im[::-1], im[::-1, ::-1]]
    for i in range(20):
        assert any(np.array_equal(y[i], o) for o in options(xn[i]))


def test_rotation_by_small_angles_of_a_constant_image_is_constant():
    x = jnp.full((4, 9, 9, 2), 0.3)
    np.testing.assert_allclose(np.asarray(random_rotation(jax.random.key(0), x, max_degrees=45)), 0.3, atol=1e-6)


def test_rotation_matches_a_numpy_bilinear_oracle():
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 1, (7, 8)).astype(np.float32)
    key = jax.random.key(4)
    got = np.asarray(random_rotation(key, jnp.asarray(img)[None, :, :, None], max_degrees=20))[0, :, :, 0]
    theta = np.deg2rad(float(jax.random.uniform(key, (1,), minval=-20, maxval=20)[0]))
    h, w = img.shape
    cy, cx = (h - 1) / 2, (w - 1) / 2
    want = np.zeros_like(img)
    for i in range(h):
        for j in range(w):
            sy = np.cos(theta) * (i - cy) - np.sin(theta) * (j - cx) + cy
            sx = np.sin(theta) * (i - cy) + np.cos(theta) * (j - cx) + cx
            sy, sx = min(max(sy, 0), h - 1), min(max(sx, 0), w - 1)  # edges extended
            y0, x0 = int(np.floor(sy)), int(np.floor(sx))
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            fy, fx = sy - y0, sx - x0
            want[i, j] = (img[y0, x0] * (1 - fy) * (1 - fx) + img[y0, x1] * (1 - fy) * fx
                          + img[y1, x0] * fy * (1 - fx) + img[y1, x1] * fy * fx)
    np.testing.assert_allclose(got, want, atol=1e-5)


@given(seed=st.integers(0, 1000), m=st.integers(1, 3))
def test_translation_is_an_integer_shift_with_edge_fill(seed, m):
    x = np.asarray(_batch(n=3, h=8, w=8, seed=seed))
    y = np.asarray(random_translation(jax.random.key(seed), jnp.asarray(x), max_pixels=m))
    for i in range(3):
        padded = np.pad(x[i], ((m, m), (m, m), (0, 0)), mode="edge")
        crops = [padded[m - dy:m - dy + 8, m - dx:m - dx + 8] for dy in range(-m, m + 1) for dx in range(-m, m + 1)]
        assert any(np.array_equal(y[i], c) for c in crops)


@given(seed=st.integers(0, 1000), b=st.floats(0, 1), c=st.floats(0, 1))
def test_intensity_stays_in_unit_range(seed, b, c):
    y = np.asarray(random_intensity(jax.random.key(seed), _batch(seed=seed), brightness=b, contrast=c))
    assert y.min() >= 0.0 and y.max() <= 1.0 and np.isfinite(y).all()


def test_intensity_without_clipping_is_the_affine_formula():
    x = jnp.full((3, 4, 4, 1), 0.5).at[:, 0, 0, 0].set(0.6)
    y = np.asarray(random_intensity(jax.random.key(0), x, brightness=0.05, contrast=0.2))
    xn = np.asarray(x)
    for i in range(3):
        mean = xn[i].mean()
        c = (y[i, 0, 0, 0] - y[i, 1, 1, 0]) / (0.6 - 0.5)
        b = y[i, 1, 1, 0] - (0.5 - mean) * c - mean
        assert 0.8 - 1e-4 <= c <= 1.2 + 1e-4 and abs(b) <= 0.05 + 1e-5
        np.testing.assert_allclose(y[i], (xn[i] - mean) * c + mean + b, atol=1e-5)


def test_augment_works_inside_a_jitted_step_with_split_keys():
    @jax.jit
    def step(key, x):
        key, sub = jax.random.split(key)
        return key, augment(sub, x)

    x = _batch(n=4)
    key, a = step(jax.random.key(0), x)
    _, b = step(key, x)
    assert a.shape == x.shape and not np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("fn", ALL)
def test_bad_inputs_raise(fn):
    with pytest.raises(ShapeError, match=rf"{fn.__name__}: 'images' must have shape \(N, H, W, C\), got \(8, 8\)"):
        fn(jax.random.key(0), jnp.zeros((8, 8)))
    with pytest.raises(TypeError, match="floating point"):
        fn(jax.random.key(0), jnp.zeros((1, 8, 8, 1), jnp.uint8))
