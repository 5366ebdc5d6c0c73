"""Sizes and counts for convolutional networks: plain Python integers.

These are the numbers a student computes on paper before writing a layer:
the output size of a convolution or pooling, the padding that keeps the size,
the receptive field of a stack of layers and the number of parameters.

>>> output_size(16, 3)
14
>>> conv_param_count(3, 228, 32)
65696
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from medjax._checks import check_positive_int

Padding1D = int | str | tuple[int, int]


def _pads_1d(fn: str, in_size: int, kernel_size: int, stride: int, padding: Padding1D,
             dilation: int) -> tuple[int, int]:
    """Explicit (before, after) padding for one spatial dimension."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return 0, 0
        if mode == "same":
            out = -(-in_size // stride)
            effective = dilation * (kernel_size - 1) + 1
            total = max((out - 1) * stride + effective - in_size, 0)
            return total // 2, total - total // 2
        raise ValueError(f"{fn}: 'padding' must be an int, a (before, after) pair, 'valid' or 'same', got {padding!r}")
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise ValueError(f"{fn}: 'padding' pair must be (before, after), got {padding!r}")
        before = check_positive_int(fn, "padding", padding[0], minimum=0)
        after = check_positive_int(fn, "padding", padding[1], minimum=0)
        return before, after
    p = check_positive_int(fn, "padding", padding, minimum=0)
    return p, p


def output_size(in_size: int, kernel_size: int, stride: int = 1, padding: Padding1D = 0,
                dilation: int = 1) -> int:
    """Output length of a convolution or pooling along one spatial dimension.

    ``out = floor((in + 2p - d(k - 1) - 1) / s) + 1`` with ``p`` the padding on
    EACH side (``p_before + p_after`` replaces ``2p`` for a pair). ``"valid"``
    means ``p = 0``; ``"same"`` gives ``ceil(in / s)`` as ``lax``'s ``SAME``.

    Args:
      in_size: input length (height or width).
      kernel_size: kernel (or pooling window) length ``k``.
      stride: step ``s`` between windows.
      padding: per-side padding ``p`` (int), a ``(before, after)`` pair,
        ``"valid"`` or ``"same"``.
      dilation: spacing ``d`` between kernel taps.

    Returns:
      The output length, an int.

    Raises:
      ValueError: for non-positive sizes, negative padding, or a kernel that
        does not fit in the padded input.

    >>> output_size(16, 3)                        # valid, stride 1
    14
    >>> output_size(24, 5, stride=2, padding=2)   # p = f // 2
    12
    >>> output_size(24, 5, stride=2, padding="same")
    12
    >>> output_size(7, 3, stride=2)               # floor((7 - 3) / 2) + 1
    3
    """
    return conv_geometry("output_size", in_size, kernel_size, stride, padding, dilation)[2]


def conv_geometry(fn: str, in_size: int, kernel_size: int, stride: int = 1, padding: Padding1D = 0,
                  dilation: int = 1) -> tuple[int, int, int]:
    """``(pad_before, pad_after, out_size)`` along one axis; errors are reported as from ``fn``.

    >>> conv_geometry("conv2d", 5, 4, padding="same")   # even kernel: extra after
    (1, 2, 5)
    """
    in_size = check_positive_int(fn, "in_size", in_size)
    kernel_size = check_positive_int(fn, "kernel_size", kernel_size)
    stride = check_positive_int(fn, "stride", stride)
    dilation = check_positive_int(fn, "dilation", dilation)
    before, after = _pads_1d(fn, in_size, kernel_size, stride, padding, dilation)
    span = in_size + before + after - dilation * (kernel_size - 1) - 1
    if span < 0:
        raise ValueError(
            f"{fn}: kernel of size {kernel_size} (dilation {dilation}) does not fit in an input of "
            f"size {in_size} padded by ({before}, {after})")
    return before, after, span // stride + 1


def same_padding(kernel_size: int, dilation: int = 1) -> int | tuple[int, int]:
    """Per-side padding that keeps the size at stride 1 (``"same"`` padding).

    For an odd kernel the answer is ``(k - 1) // 2`` on every side (``d(k-1)/2``
    with dilation ``d``). For an even kernel the total ``k - 1`` is odd and
    cannot be split evenly: JAX's ``SAME`` puts the extra row bottom/right, so
    the answer is the pair ``((k - 1) // 2, k // 2)`` = (top/left, bottom/right).
    (PyTorch's ``padding="same"`` also puts the extra on the bottom/right.)

    >>> same_padding(3), same_padding(5)
    (1, 2)
    >>> same_padding(4)
    (1, 2)
    >>> same_padding(3, dilation=2)
    2
    """
    kernel_size = check_positive_int("same_padding", "kernel_size", kernel_size)
    dilation = check_positive_int("same_padding", "dilation", dilation)
    total = dilation * (kernel_size - 1)
    if total % 2 == 0:
        return total // 2
    return total // 2, total - total // 2


def receptive_field(kernel_sizes: Sequence[int], strides: Sequence[int] | None = None) -> int:
    """Receptive field of a stack of convolution/pooling layers, in input pixels.

    ``R = 1 + sum_i (k_i - 1) * prod_{j<i} s_j``; with all strides 1 this is
    ``1 + sum_i (k_i - 1)``.

    >>> receptive_field([3, 3])            # two stacked 3x3 layers: 1 + 2 + 2
    5
    >>> receptive_field([3, 2, 3], [1, 2, 1])   # conv, 2x2 pool, conv
    8
    """
    fn = "receptive_field"
    ks = [check_positive_int(fn, "kernel_sizes", k) for k in kernel_sizes]
    ss = [1] * len(ks) if strides is None else [check_positive_int(fn, "strides", s) for s in strides]
    if len(ss) != len(ks):
        raise ValueError(f"{fn}: 'strides' must have one entry per kernel ({len(ks)}), got {len(ss)}")
    field, jump = 1, 1
    for k, s in zip(ks, ss):
        field += (k - 1) * jump
        jump *= s
    return field


def _kernel_hw(fn: str, kernel_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(kernel_size, (tuple, list)):
        if len(kernel_size) != 2:
            raise ValueError(f"{fn}: 'kernel_size' must be an int or (kh, kw), got {kernel_size!r}")
        return (check_positive_int(fn, "kernel_size", kernel_size[0]),
                check_positive_int(fn, "kernel_size", kernel_size[1]))
    k = check_positive_int(fn, "kernel_size", kernel_size)
    return k, k


def conv_param_count(kernel_size: int | Sequence[int], in_channels: int, out_channels: int,
                     bias: bool = True) -> int:
    """Parameters of a 2-D convolution layer: ``(kh * kw * C_in + 1) * C_out``.

    The ``+ 1`` is the bias of each filter (drop it with ``bias=False``). The
    count does not depend on the image size.

    >>> conv_param_count(3, 228, 32)       # (3*3*228 + 1) * 32
    65696
    >>> conv_param_count((1, 5), 3, 8, bias=False)
    120
    """
    fn = "conv_param_count"
    kh, kw = _kernel_hw(fn, kernel_size)
    cin = check_positive_int(fn, "in_channels", in_channels)
    cout = check_positive_int(fn, "out_channels", out_channels)
    return (kh * kw * cin + int(bool(bias))) * cout


def dense_param_count(in_features: int, out_features: int, bias: bool = True) -> int:
    """Parameters of a fully connected layer: ``(in + 1) * out``.

    >>> dense_param_count(784, 10)
    7850
    """
    fn = "dense_param_count"
    fin = check_positive_int(fn, "in_features", in_features)
    fout = check_positive_int(fn, "out_features", out_features)
    return (fin + int(bool(bias))) * fout


def param_count(pytree: Any) -> int:
    """Total number of scalars in a pytree of arrays (e.g. Flax ``variables``).

    >>> import numpy as np
    >>> param_count({"params": {"w": np.zeros((3, 3, 1, 8)), "b": np.zeros(8)}})
    80
    """
    import jax  # deferred: the other functions here need no JAX

    return sum(math.prod(getattr(leaf, "shape", ())) for leaf in jax.tree.leaves(pytree))
