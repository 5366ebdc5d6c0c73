"""Padding an image before a convolution: zero, replicate or reflect.

>>> import jax.numpy as jnp
>>> pad(jnp.array([[1, 2], [3, 4]]), 1, mode="replicate")
Array([[1, 1, 2, 2],
       [1, 1, 2, 2],
       [3, 3, 4, 4],
       [3, 3, 4, 4]], dtype=int32)
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from medjax._checks import check_choice, check_ndim, check_positive_int

PadPairs = tuple[tuple[int, int], tuple[int, int]]
MODES = ("zero", "replicate", "reflect")
_JNP_MODE = {"zero": "constant", "replicate": "edge", "reflect": "reflect"}


def normalize_padding(fn: str, padding: Any) -> PadPairs:
    """Turn ``p``, ``(ph, pw)`` or ``((top, bottom), (left, right))`` into the last form.

    An int pads every side by ``p``; a pair of ints pads top and bottom by
    ``ph`` and left and right by ``pw`` (PyTorch's convention).

    >>> normalize_padding("pad", 1)
    ((1, 1), (1, 1))
    >>> normalize_padding("pad", (1, 2))
    ((1, 1), (2, 2))
    """
    def count(v: Any) -> int:
        return check_positive_int(fn, "padding", v, minimum=0)

    if isinstance(padding, (tuple, list)) and len(padding) == 2:
        if all(isinstance(p, (tuple, list)) and len(p) == 2 for p in padding):
            (t, b), (l, r) = padding
            return (count(t), count(b)), (count(l), count(r))
        if not any(isinstance(p, (tuple, list)) for p in padding):
            ph, pw = count(padding[0]), count(padding[1])
            return (ph, ph), (pw, pw)
    if isinstance(padding, (tuple, list, str)):
        raise ValueError(f"{fn}: 'padding' must be an int, (ph, pw) or ((top, bottom), (left, right)), got {padding!r}")
    p = count(padding)
    return (p, p), (p, p)


def pad(x: ArrayLike, padding: Any, mode: str = "zero") -> jax.Array:
    """Pad the two spatial axes of an (H, W) or (N, H, W, C) image.

    Modes, shown on one row ``a b c d`` padded by 2:

    * ``"zero"``: ``0 0 | a b c d | 0 0``
    * ``"replicate"``: ``a a | a b c d | d d`` (repeat the edge pixel)
    * ``"reflect"``: ``c b | a b c d | c b`` (mirror without repeating the
      edge, as PyTorch's ``"reflect"``); needs padding < size on that axis.

    Args:
      x: an (H, W) image or an (N, H, W, C) batch.
      padding: ``p`` for every side, ``(ph, pw)`` or ``((top, bottom), (left, right))``.
      mode: ``"zero"``, ``"replicate"`` or ``"reflect"``.

    Returns:
      The padded array, shape (H + top + bottom, W + left + right) [with N, C kept].

    >>> pad(jnp.array([[1, 2, 3]]), ((0, 0), (2, 2)), mode="reflect")
    Array([[3, 2, 1, 2, 3, 2, 1]], dtype=int32)
    """
    fn = "pad"
    mode = check_choice(fn, "mode", mode, MODES)
    x = jnp.asarray(x)
    ndim = check_ndim(fn, "x", x, (2, 4), "(H, W) or (N, H, W, C)")
    (t, b), (l, r) = normalize_padding(fn, padding)
    h, w = x.shape[:2] if ndim == 2 else x.shape[1:3]
    if mode == "reflect" and (max(t, b) >= h or max(l, r) >= w):
        raise ValueError(f"{fn}: reflect padding must be smaller than the image on each axis: "
                         f"got padding ((top, bottom), (left, right)) = (({t}, {b}), ({l}, {r})) "
                         f"for an image of size (H, W) = ({h}, {w})")
    if mode == "replicate" and (h == 0 or w == 0) and t + b + l + r > 0:
        raise ValueError(f"{fn}: replicate padding needs a non-empty image, got (H, W) = ({h}, {w})")
    widths = ((t, b), (l, r)) if ndim == 2 else ((0, 0), (t, b), (l, r), (0, 0))
    return jnp.pad(x, widths, mode=_JNP_MODE[mode])
