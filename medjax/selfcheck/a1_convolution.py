"""Assignment a1 (images as arrays, kernels, convolution): graded items and visible cases.

The visible cases are the course's worked examples plus one asymmetric kernel
(a flipped kernel, i.e. true convolution instead of cross-correlation, fails it).

>>> from medjax.selfcheck import items
>>> sorted(items("a1_convolution"))[:3]
['test_answer_kernel_a', 'test_answer_kernel_b', 'test_answer_kernel_c']
"""
from __future__ import annotations

import numpy as np

from medjax.selfcheck import _reference as ref
from medjax.selfcheck.cases import Case, Item, Mistake

ASSIGNMENT = "a1_convolution"
KERNEL_CHOICES = ("blur", "sharpen", "edge", "identity")

# Worked examples from the course.
EDGE_IMAGE = np.array([[7, 2, 3, 3, 8], [4, 5, 3, 8, 4], [3, 3, 2, 8, 4],
                       [2, 8, 7, 2, 7], [5, 4, 4, 5, 4]], dtype=np.float32)
VERTICAL_EDGE = np.array([[1, 0, -1]] * 3, dtype=np.float32)
CT_PATCH = np.array([[105, 102, 100, 97, 96], [103, 99, 103, 101, 102], [101, 98, 104, 102, 100],
                     [99, 101, 106, 104, 99], [104, 104, 104, 100, 98]], dtype=np.float32)
SHARPEN = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float32)
ASYMMETRIC = np.array([[1, 2, 0], [0, -1, 3], [-2, 0, 1]], dtype=np.float32)
_RAMP = np.arange(30, dtype=np.float32).reshape(5, 6) % 7
_rng = np.random.default_rng(11)
_MC_IMAGE = _rng.integers(-3, 4, (4, 4, 2)).astype(np.float32)
_MC_KERNELS = _rng.integers(-2, 3, (2, 2, 2, 3)).astype(np.float32)
_POOL_X = np.array([[1, 3, 2, 9], [5, 6, 1, 0], [7, 2, 4, 4], [0, 8, 3, 1]], dtype=np.float32)
_POOL_XC = np.stack([_POOL_X, -_POOL_X], axis=-1)


# --------------------------------------------------------------------------- mistake models

def _size_total_padding(in_size, kernel_size, stride=1, padding=0):
    return (in_size + padding - kernel_size) // stride + 1


def _size_no_floor(in_size, kernel_size, stride=1, padding=0):
    return (in_size + 2 * padding - kernel_size) / stride + 1


def _size_no_plus_one(in_size, kernel_size, stride=1, padding=0):
    return (in_size + 2 * padding - kernel_size) // stride


def _conv_flipped(image, kernel, stride=1, padding=0, mode="zero"):
    return ref.conv2d(image, np.asarray(kernel)[::-1, ::-1], stride, padding, mode)


def _conv_half_padding(image, kernel, stride=1, padding=0, mode="zero"):
    return ref.conv2d(image, kernel, stride, padding // 2, mode)


def _conv_zero_always(image, kernel, stride=1, padding=0, mode="zero"):
    return ref.conv2d(image, kernel, stride, padding, "zero")


def _mc_flipped(image, kernels, bias, stride=1, padding=0):
    return ref.conv2d_multichannel(image, np.asarray(kernels)[::-1, ::-1], bias, stride, padding)


def _mc_no_bias(image, kernels, bias, stride=1, padding=0):
    return ref.conv2d_multichannel(image, kernels, np.zeros_like(np.asarray(bias)), stride, padding)


def _mc_bias_per_channel(image, kernels, bias, stride=1, padding=0):
    c = np.asarray(image).shape[-1]
    return ref.conv2d_multichannel(image, kernels, c * np.asarray(bias, dtype=np.float64), stride, padding)


def _pad_half(image, p, mode="zero"):
    return ref.pad(image, p // 2, mode)


def _pad_reflect(image, p, mode="zero"):
    return np.pad(np.asarray(image, dtype=np.float64), p, mode="reflect" if mode == "replicate" else "constant")


def _pool_stride_one(reduce):
    return lambda x, size=2, stride=None: ref._pool(x, size, 1 if stride is None else stride, reduce)


def _pool_over_channels(reduce):
    def output(x, size=2, stride=None):
        out = ref._pool(x, size, stride, reduce)
        return reduce(out, axis=-1) if np.asarray(x).ndim == 3 else out
    return output


def _flatten_channels_first(x):
    x = np.asarray(x)
    return np.moveaxis(x, -1, 0).reshape(-1) if x.ndim == 3 else x.reshape(-1, order="F")


def _flatten_column_major(x):
    return np.asarray(x).reshape(-1, order="F")


POOL_HINT = "the stride defaults to the window size (non-overlapping windows)."
CHANNEL_HINT = "pool each channel on its own: the output keeps the channel axis."


def _pool_item(grade_id: str, name: str, reference, reduce, word: str) -> Item:
    return Item(
        grade_id=grade_id, name=name, points=1,
        what=f"{name}(x, size=2, stride=None) takes the {word} of each size x size window",
        reference=reference,
        cases=(Case(args=(_POOL_X,), what="4x4 image, 2x2 windows, default stride"),
               Case(args=(_POOL_X,), kwargs={"size": 3, "stride": 1}, what="3x3 windows with stride 1"),
               Case(args=(_POOL_XC,), what="(H, W, C) image: each channel pooled on its own")),
        mistakes=(Mistake("stride 1 by default", POOL_HINT, _pool_stride_one(reduce)),
                  Mistake("pooling across channels", CHANNEL_HINT, _pool_over_channels(reduce))),
        banned=("jax.lax.reduce_window", "medjax"))


CONV_BANNED = ("jax.lax.conv", "jax.lax.conv_general_dilated", "jax.scipy.signal", "numpy.convolve",
               "scipy", "torch", "medjax.conv2d", "medjax.conv")
FLIP_HINT = ("deep-learning 'convolution' is cross-correlation: slide the kernel as it is, "
             "do not flip it (scipy's convolve2d flips).")

ITEMS: list[Item] = [
    Item(grade_id="test_output_size", name="output_size", points=1,
         what="output_size(in_size, kernel_size, stride=1, padding=0) = (in + 2p - f) // s + 1",
         reference=ref.output_size,
         cases=(Case(args=(16, 3), what="16 with a 3x3 kernel, stride 1 -> 14"),
                Case(args=(24, 5), kwargs={"stride": 2, "padding": 2}, what="24 with f=5, s=2, p=2 -> 12"),
                Case(args=(7, 3), kwargs={"stride": 2}, what="7 with f=3, s=2 (floor) -> 3")),
         mistakes=(Mistake("total instead of per-side padding",
                           "padding p is added on each side, so the size grows by 2p.", _size_total_padding),
                   Mistake("missing floor", "the division by the stride is an integer (floor) division: use //.",
                           _size_no_floor),
                   Mistake("off by one", "count the first position too: ... // s + 1.", _size_no_plus_one))),
    Item(grade_id="test_same_padding", name="same_padding", points=1,
         what="same_padding(kernel_size) = (f - 1) // 2 keeps the size at stride 1 (odd f)",
         reference=ref.same_padding,
         cases=(Case(args=(3,), what="3x3 kernel -> 1"), Case(args=(5,), what="5x5 kernel -> 2")),
         mistakes=(Mistake("total padding", "the function returns the padding for ONE side.",
                           lambda f: f - 1),)),
    Item(grade_id="test_pad", name="pad", points=1,
         what='pad(image, p, mode="zero") adds p rows/columns on every side (zeros or copies of the edge)',
         reference=ref.pad,
         cases=(Case(args=(_RAMP, 1), what="zero padding of a 5x6 image by 1"),
                Case(args=(_RAMP, 2), kwargs={"mode": "replicate"}, what="replicate padding by 2")),
         mistakes=(Mistake("total instead of per-side padding", "p is added on EACH side.", _pad_half),
                   Mistake("mirror instead of replicate", "replicate copies the edge pixel itself (aaa|abc).",
                           _pad_reflect))),
    Item(grade_id="test_conv2d", name="conv2d", points=2,
         what='conv2d(image, kernel, stride=1, padding=0, mode="zero"): 2-D cross-correlation',
         reference=ref.conv2d,
         cases=(Case(args=(EDGE_IMAGE, VERTICAL_EDGE), what="course example: vertical-edge kernel, valid (top-left 6)"),
                Case(args=(CT_PATCH, SHARPEN), kwargs={"padding": 1}, what="course example: sharpen with p=1 (top-left 320)"),
                Case(args=(_RAMP, ASYMMETRIC), kwargs={"stride": 2, "padding": 1},
                     what="asymmetric kernel, stride 2, padding 1"),
                Case(args=(_RAMP, ASYMMETRIC), kwargs={"padding": 1, "mode": "replicate"},
                     what="replicate padding")),
         mistakes=(Mistake("flipped kernel", FLIP_HINT, _conv_flipped),
                   Mistake("padding halved", "padding p is per side: pad(image, p) before sliding.", _conv_half_padding),
                   Mistake("mode ignored", 'pass mode on to pad: "replicate" copies the edge pixels.', _conv_zero_always)),
         banned=CONV_BANNED),
    Item(grade_id="test_conv2d_multichannel", name="conv2d_multichannel", points=2,
         what="conv2d_multichannel(image (H,W,C), kernels (f,f,C,K), bias (K,), stride=1, padding=0) -> (H',W',K)",
         reference=ref.conv2d_multichannel,
         cases=(Case(args=(_MC_IMAGE, _MC_KERNELS, np.array([0.5, -1.0, 2.0], np.float32)),
                     what="4x4x2 image, three 2x2x2 filters with bias"),
                Case(args=(_MC_IMAGE, _MC_KERNELS, np.zeros(3, np.float32)), kwargs={"stride": 2, "padding": 1},
                     what="stride 2 and padding 1")),
         mistakes=(Mistake("flipped kernel", FLIP_HINT, _mc_flipped),
                   Mistake("missing bias", "add bias[k] once to every output position of filter k.", _mc_no_bias),
                   Mistake("bias added per input channel", "the bias is added once per filter, after summing the channels.",
                           _mc_bias_per_channel)),
         banned=CONV_BANNED),
    _pool_item("test_max_pool", "max_pool", ref.max_pool, np.max, "maximum"),
    _pool_item("test_avg_pool", "avg_pool", ref.avg_pool, np.mean, "mean"),
    _pool_item("test_min_pool", "min_pool", ref.min_pool, np.min, "minimum"),
    Item(grade_id="test_flatten", name="flatten", points=1,
         what="flatten(x) lists all entries in row-major order (for (H,W,C) the channel varies fastest)",
         reference=ref.flatten,
         cases=(Case(args=(_POOL_X,), what="a 4x4 image"),
                Case(args=(_MC_IMAGE,), what="an (H, W, C) image in NHWC order")),
         mistakes=(Mistake("channels-first (NCHW) order",
                           "medjax images are NHWC: flatten (H, W, C) as it is, without moving the channels first.",
                           _flatten_channels_first),
                   Mistake("column-major order", "use row-major (C) order, as reshape(-1) does.", _flatten_column_major))),
    Item(grade_id="test_conv_param_count", name="conv_param_count", points=1,
         what="conv_param_count(kernel_size, in_channels, out_channels, bias=True) = f*f*C*K + K",
         reference=ref.conv_param_count,
         cases=(Case(args=(3, 228, 32), what="32 filters 3x3 on 228 channels -> 65,696"),
                Case(args=(5, 3, 8), kwargs={"bias": False}, what="no bias")),
         mistakes=(Mistake("forgot the bias", "each filter has one bias: + K.",
                           lambda f, c, k, bias=True: f * f * c * k),
                   Mistake("forgot the input channels", "each filter spans all C input channels: f*f*C weights.",
                           lambda f, c, k, bias=True: f * f * k + (k if bias else 0)))),
    Item(grade_id="test_receptive_field", name="receptive_field", points=1,
         what="receptive_field(kernel_sizes) = 1 + sum(k - 1) for stride-1 layers",
         reference=ref.receptive_field,
         cases=(Case(args=([3, 3],), what="two 3x3 layers -> 5"), Case(args=([5],), what="one 5x5 layer -> 5")),
         mistakes=(Mistake("summed the kernel sizes", "each extra layer adds k - 1 pixels, not k.",
                           lambda ks: sum(ks)),
                   Mistake("forgot the + 1", "start from the single centre pixel: R = 1 + sum(k - 1).",
                           lambda ks: sum(k - 1 for k in ks)))),
    ref.choice_item(assignment=ASSIGNMENT, grade_id="test_answer_kernel_a", name="answer_kernel_a", points=1,
                    what="what kernel A does", choices=KERNEL_CHOICES),
    ref.choice_item(assignment=ASSIGNMENT, grade_id="test_answer_kernel_b", name="answer_kernel_b", points=1,
                    what="what kernel B does", choices=KERNEL_CHOICES),
    ref.choice_item(assignment=ASSIGNMENT, grade_id="test_answer_kernel_c", name="answer_kernel_c", points=1,
                    what="what kernel C does", choices=KERNEL_CHOICES),
]
