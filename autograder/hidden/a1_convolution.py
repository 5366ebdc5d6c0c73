"""Hidden cases of assignment a1 (convolution). Instructor-only: never shipped.

Edges: even kernels, stride > 1 with a floor, padding larger than the kernel,
non-square images, 1x1 and image-sized kernels, channels, negative values for
pooling (a max initialised at 0 fails), asymmetric kernels that expose a flip,
and the answers of the multiple-choice items.
"""
from __future__ import annotations

import numpy as np

from medjax.selfcheck.choices import ChoiceCase
from medjax.selfcheck.cases import Case

_rng = np.random.default_rng(31337)


def _ints(low: int, high: int, shape: tuple[int, ...]) -> np.ndarray:
    return _rng.integers(low, high, shape).astype(np.float32)


_IMG_6x9 = _ints(-5, 6, (6, 9))
_IMG_7x5 = _ints(0, 10, (7, 5))
_K2 = np.array([[1, -2], [3, 0]], np.float32)
_K4 = _ints(-3, 4, (4, 4))
_K3 = np.array([[0, 1, 2], [-1, 0, 0], [0, 0, 4]], np.float32)
_XC = _ints(-4, 5, (5, 7, 3))
_POOL_NEG = -np.abs(_ints(1, 9, (5, 7)))

HIDDEN: dict[str, tuple[Case, ...]] = {
    "test_output_size": (
        Case(args=(5, 4), what="even kernel"),
        Case(args=(10, 3), kwargs={"stride": 3, "padding": 1}, what="stride 3 with a floor"),
        Case(args=(28, 5), kwargs={"padding": 6}, what="padding larger than the kernel"),
        Case(args=(227, 11), kwargs={"stride": 4}, what="AlexNet's first layer"),
        Case(args=(6, 2), kwargs={"stride": 2}, what="2x2 pooling-like window"),
    ),
    "test_same_padding": (
        Case(args=(1,), what="1x1 kernel"), Case(args=(7,), what="7x7 kernel"), Case(args=(11,), what="11x11 kernel"),
    ),
    "test_pad": (
        Case(args=(_IMG_6x9[:2, :3], 3), what="padding larger than the image"),
        Case(args=(_IMG_6x9, 0), what="p = 0 changes nothing"),
        Case(args=(_IMG_7x5, 2), kwargs={"mode": "replicate"}, what="replicate on a non-square image"),
    ),
    "test_conv2d": (
        Case(args=(_IMG_6x9, _K2), what="even 2x2 asymmetric kernel"),
        Case(args=(_IMG_6x9, _K4), kwargs={"stride": 2}, what="4x4 kernel, stride 2"),
        Case(args=(_IMG_7x5, _K3), kwargs={"stride": 3, "padding": 1}, what="stride 3 on a non-square image"),
        Case(args=(_IMG_7x5, _K2), kwargs={"padding": 3}, what="padding larger than the kernel"),
        Case(args=(_IMG_6x9, _K3), kwargs={"stride": 2, "padding": 2, "mode": "replicate"},
             what="replicate padding with stride 2"),
        Case(args=(_IMG_7x5, np.array([[2.5]], np.float32)), what="1x1 kernel"),
        Case(args=(_IMG_7x5[:4, :4], _K4), what="kernel as large as the image"),
    ),
    "test_conv2d_multichannel": (
        Case(args=(_XC, _ints(-2, 3, (3, 3, 3, 1)), np.array([1.5], np.float32)),
             what="3 input channels, one filter"),
        Case(args=(_XC, _ints(-2, 3, (2, 2, 3, 4)), _ints(-3, 4, (4,))), kwargs={"stride": 2, "padding": 2},
             what="even kernels, stride 2, padding 2"),
        Case(args=(_XC[:, :, :1], _K3[:, :, None, None], np.zeros(1, np.float32)), kwargs={"padding": 1},
             what="one channel, asymmetric kernel"),
    ),
    **{gid: (
        Case(args=(_POOL_NEG,), what="negative values on a 5x7 image (odd sizes drop the last row/column)"),
        Case(args=(_IMG_7x5,), kwargs={"size": 3, "stride": 2}, what="overlapping 3x3 windows, stride 2"),
        Case(args=(_XC,), kwargs={"size": 2, "stride": 3}, what="three channels, stride larger than the window"),
    ) for gid in ("test_max_pool", "test_avg_pool", "test_min_pool")},
    "test_flatten": (
        Case(args=(_ints(0, 9, (2, 3, 4)),), what="(H, W, C) with C = 4"),
        Case(args=(np.arange(5, dtype=np.float32),), what="an already flat vector"),
        Case(args=(_ints(0, 9, (3, 1, 2)),), what="non-square with two channels"),
    ),
    "test_conv_param_count": (
        Case(args=(1, 64, 128), what="1x1 convolution"),
        Case(args=(7, 3, 64), kwargs={"bias": False}, what="7x7 without bias"),
        Case(args=(3, 1, 1), what="one filter on one channel"),
    ),
    "test_receptive_field": (
        Case(args=([3, 3, 3],), what="three 3x3 layers"),
        Case(args=([7, 5, 3],), what="mixed kernel sizes"),
        Case(args=([1, 1],), what="1x1 layers"),
        Case(args=([],), what="no layer at all"),
    ),
    "test_answer_kernel_a": (ChoiceCase(answer="edge", what="kernel A"),),
    "test_answer_kernel_b": (ChoiceCase(answer="blur", what="kernel B"),),
    "test_answer_kernel_c": (ChoiceCase(answer="sharpen", what="kernel C"),),
}
