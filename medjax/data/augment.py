"""Random data augmentation for (N, H, W, C) float image batches, pure and jittable.

Every function takes ``(key, images)`` and draws one random transform per
image from ``key``: the same key gives the same output, and a new key (split
it every step!) a new one. The magnitudes are static Python numbers; a
magnitude of 0 returns the images unchanged.

* ``random_flip``: mirror left-right (and/or up-down) with probability 1/2.
* ``random_rotation``: rotate by ``theta ~ U(-max_degrees, max_degrees)``
  about the image centre, bilinear, edges extended (``mode="nearest"``)::

      src = R(-theta) (p - c) + c,   out(p) = bilinear(image, src)

* ``random_translation``: shift by integers ``dy, dx ~ U{-m, ..., m}``, the
  uncovered border repeats the edge pixels.
* ``random_intensity``: ``clip((x - mean) * c + mean + b, 0, 1)`` with
  ``c ~ U(1 - contrast, 1 + contrast)``, ``b ~ U(-brightness, brightness)`` and
  ``mean`` the image's own mean.
* ``augment``: flip, rotation, translation, intensity in that order, each
  with its own split of ``key``.

Note: a left-right flip of a chest X-ray puts the heart on the wrong side;
it is a common, harmless augmentation for pneumonia classification, but not
for tasks where laterality matters.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from medjax._checks import check_ndim

_LAYOUT = "(N, H, W, C)"


def _batch(fn: str, images: ArrayLike) -> jax.Array:
    check_ndim(fn, "images", images, (4,), _LAYOUT)
    x = jnp.asarray(images)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{fn}: 'images' must be floating point (e.g. float32 in [0, 1]), got {x.dtype}")
    return x


def _per_image(draw: jax.Array) -> jax.Array:
    """(N,) -> (N, 1, 1, 1), to combine with an (N, H, W, C) batch without rank promotion."""
    return draw.reshape(draw.shape[0], 1, 1, 1)


def random_flip(key: jax.Array, images: ArrayLike, horizontal: bool = True, vertical: bool = False) -> jax.Array:
    """Flip each image left-right (and/or up-down) with probability 1/2.

    >>> x = jnp.arange(8.0).reshape(2, 1, 4, 1)
    >>> y = random_flip(jax.random.key(0), x)
    >>> all(bool((y[i] == x[i]).all() or (y[i] == x[i, :, ::-1]).all()) for i in range(2))
    True
    """
    x = _batch("random_flip", images)
    kh, kv = jax.random.split(key)
    if horizontal:
        x = jnp.where(_per_image(jax.random.bernoulli(kh, 0.5, (x.shape[0],))), x[:, :, ::-1], x)
    if vertical:
        x = jnp.where(_per_image(jax.random.bernoulli(kv, 0.5, (x.shape[0],))), x[:, ::-1], x)
    return x


def _rotate(image: jax.Array, angle: jax.Array) -> jax.Array:
    """Rotate one (H, W) image by ``angle`` radians about its centre, bilinear."""
    h, w = image.shape
    yy, xx = jnp.meshgrid(jnp.arange(h, dtype=image.dtype), jnp.arange(w, dtype=image.dtype), indexing="ij")
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    cos, sin = jnp.cos(angle).astype(image.dtype), jnp.sin(angle).astype(image.dtype)
    src_y = cos * (yy - cy) - sin * (xx - cx) + cy
    src_x = sin * (yy - cy) + cos * (xx - cx) + cx
    return jax.scipy.ndimage.map_coordinates(image, [src_y, src_x], order=1, mode="nearest")


def random_rotation(key: jax.Array, images: ArrayLike, max_degrees: float = 10) -> jax.Array:
    """Rotate each image by its own angle ``U(-max_degrees, max_degrees)``, bilinear.

    >>> x = jnp.zeros((3, 9, 9, 1)).at[:, 4, :, :].set(1.0)  # a horizontal bar
    >>> y = random_rotation(jax.random.key(1), x, max_degrees=30)
    >>> y.shape, bool(jnp.abs(y - x).max() > 0.1), bool(jnp.allclose(y[:, 4, 4], 1.0))
    ((3, 9, 9, 1), True, True)
    """
    x = _batch("random_rotation", images)
    if max_degrees == 0:
        return x
    angles = jnp.deg2rad(jax.random.uniform(key, (x.shape[0],), minval=-max_degrees, maxval=max_degrees))
    return _rotate_batch(x, angles)


@jax.jit
def _rotate_batch(x: jax.Array, angles: jax.Array) -> jax.Array:
    per_channel = jax.vmap(_rotate, in_axes=(2, None), out_axes=2)  # (H, W, C)
    return jax.vmap(per_channel)(x, angles).astype(x.dtype)


def random_translation(key: jax.Array, images: ArrayLike, max_pixels: int = 2) -> jax.Array:
    """Shift each image by its own integers ``dy, dx`` in ``[-max_pixels, max_pixels]``.

    The border that comes into view repeats the edge pixels.

    >>> x = jnp.arange(25.0).reshape(1, 5, 5, 1)
    >>> y = random_translation(jax.random.key(0), x, max_pixels=1)
    >>> y.shape, set(y.ravel().tolist()) <= set(x.ravel().tolist())
    ((1, 5, 5, 1), True)
    """
    x = _batch("random_translation", images)
    if max_pixels == 0:
        return x
    shifts = jax.random.randint(key, (x.shape[0], 2), -int(max_pixels), int(max_pixels) + 1)
    return _translate_batch(x, shifts, int(max_pixels))


@partial(jax.jit, static_argnums=2)
def _translate_batch(x: jax.Array, shifts: jax.Array, m: int) -> jax.Array:
    _, h, w, c = x.shape
    padded = jnp.pad(x, ((0, 0), (m, m), (m, m), (0, 0)), mode="edge")

    def crop(img, shift):
        return jax.lax.dynamic_slice(img, (m - shift[0], m - shift[1], 0), (h, w, c))

    return jax.vmap(crop)(padded, shifts)


def random_intensity(key: jax.Array, images: ArrayLike, brightness: float = 0.1, contrast: float = 0.1) -> jax.Array:
    """Random brightness and contrast per image, clipped to [0, 1].

    ``out = clip((x - mean) * c + mean + b, 0, 1)``, ``c ~ U(1 - contrast, 1 + contrast)``,
    ``b ~ U(-brightness, brightness)``, ``mean`` over each image.

    >>> x = jnp.full((4, 2, 2, 1), 0.95)
    >>> y = random_intensity(jax.random.key(0), x, brightness=0.5)
    >>> bool(y.min() >= 0.0 and y.max() <= 1.0), bool((y != x).any())
    (True, True)
    """
    x = _batch("random_intensity", images)
    if brightness == 0 and contrast == 0:
        return x
    kb, kc = jax.random.split(key)
    n = x.shape[0]
    b = _per_image(jax.random.uniform(kb, (n,), x.dtype, -brightness, brightness))
    c = _per_image(jax.random.uniform(kc, (n,), x.dtype, 1.0 - contrast, 1.0 + contrast))
    mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
    return jnp.clip((x - mean) * c + mean + b, 0.0, 1.0)


def augment(key: jax.Array, images: ArrayLike, *, horizontal_flip: bool = True, vertical_flip: bool = False,
            max_degrees: float = 10, max_pixels: int = 2, brightness: float = 0.1,
            contrast: float = 0.1) -> jax.Array:
    """Flip, rotate, translate and change the intensity of each image (one key split four ways).

    Use it inside a jitted training step with a fresh key every step::

        key, sub = jax.random.split(key)
        images = augment(sub, images)

    >>> x = jnp.full((2, 8, 8, 1), 0.5)
    >>> fast = jax.jit(augment)
    >>> y = fast(jax.random.key(0), x)
    >>> y.shape, y.dtype, bool((fast(jax.random.key(0), x) == y).all())
    ((2, 8, 8, 1), dtype('float32'), True)
    """
    x = _batch("augment", images)
    k_flip, k_rot, k_shift, k_int = jax.random.split(key, 4)
    x = random_flip(k_flip, x, horizontal=horizontal_flip, vertical=vertical_flip)
    x = random_rotation(k_rot, x, max_degrees=max_degrees)
    x = random_translation(k_shift, x, max_pixels=max_pixels)
    return random_intensity(k_int, x, brightness=brightness, contrast=contrast)
