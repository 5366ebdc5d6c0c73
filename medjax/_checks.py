"""Argument checks shared by medjax functions.

Every error names the function, the argument, what was expected and what was
given, so a student reads the fix in the message instead of a traceback::

    conv2d: 'kernel' must have shape (kh, kw, C=3, K), got (3, 3, 1, 8)
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class ShapeError(ValueError):
    """A wrong shape or rank; a ``ValueError`` so ``except ValueError`` works."""


def shape_of(x: Any) -> tuple[int, ...]:
    """The shape of an array-like (``()`` for Python scalars)."""
    return tuple(np.shape(x))


def check_ndim(fn: str, name: str, x: Any, ndims: Sequence[int], layout: str) -> int:
    """Raise ``ShapeError`` unless ``x.ndim`` is one of ``ndims``; return it.

    >>> check_ndim("pad", "x", np.zeros((2, 3)), (2, 4), "(H, W) or (N, H, W, C)")
    2
    >>> check_ndim("pad", "x", np.zeros(3), (2, 4), "(H, W) or (N, H, W, C)")
    Traceback (most recent call last):
    ...
    medjax._checks.ShapeError: pad: 'x' must have shape (H, W) or (N, H, W, C), got (3,)
    """
    shape = shape_of(x)
    if len(shape) not in tuple(ndims):
        raise ShapeError(f"{fn}: '{name}' must have shape {layout}, got {shape}")
    return len(shape)


def check_same_shape(fn: str, a_name: str, a: Any, b_name: str, b: Any) -> None:
    """Raise unless ``a`` and ``b`` have exactly the same shape (no broadcasting).

    This is the guard against the (N, 1) versus (N,) mistake, where a loss
    silently broadcasts to an N x N matrix.

    >>> check_same_shape("bce", "probs", np.zeros((4, 1)), "targets", np.zeros(4))
    Traceback (most recent call last):
    ...
    medjax._checks.ShapeError: bce: 'probs' and 'targets' must have the same shape, got (4, 1) and (4,) (an (N, 1) against (N,) pair would broadcast to (N, N): reshape one of them)
    """
    sa, sb = shape_of(a), shape_of(b)
    if sa != sb:
        hint = ""
        if len(sa) != len(sb) and (sa[-1:] == (1,) or sb[-1:] == (1,)):
            hint = " (an (N, 1) against (N,) pair would broadcast to (N, N): reshape one of them)"
        raise ShapeError(f"{fn}: '{a_name}' and '{b_name}' must have the same shape, got {sa} and {sb}{hint}")


def check_positive_int(fn: str, name: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` as an int, raising ``ValueError`` unless it is an integer >= ``minimum``.

    >>> check_positive_int("output_size", "stride", 0)
    Traceback (most recent call last):
    ...
    ValueError: output_size: 'stride' must be an integer >= 1, got 0
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{fn}: '{name}' must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_choice(fn: str, name: str, value: Any, choices: Sequence[str]) -> str:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``.

    >>> check_choice("pad", "mode", "wrap", ("zero", "replicate", "reflect"))
    Traceback (most recent call last):
    ...
    ValueError: pad: 'mode' must be one of 'zero', 'replicate', 'reflect', got 'wrap'
    """
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{fn}: '{name}' must be one of {options}, got {value!r}")
    return value
