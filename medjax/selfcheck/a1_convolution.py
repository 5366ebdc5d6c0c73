"""Assignment a1 (images as arrays, kernels, convolution): graded items and visible cases.

The visible cases are the course's worked examples plus one asymmetric kernel
(a flipped kernel, i.e. true convolution instead of cross-correlation, fails it).
No answers here: expected values are stored data, the references and mistake
models live in the instructor-only ``autograder.items.a1_convolution``.

>>> from medjax.selfcheck import items
>>> sorted(items("a1_convolution"))[:3]
['test_answer_kernel_a', 'test_answer_kernel_b', 'test_answer_kernel_c']
"""
from __future__ import annotations

import numpy as np

from medjax.selfcheck.cases import Case, Item, Mistake
from medjax.selfcheck.choices import choice_item

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


POOL_HINT = "the stride defaults to the window size (non-overlapping windows)."
CHANNEL_HINT = "pool each channel on its own: the output keeps the channel axis."


def _pool_item(grade_id: str, name: str, word: str) -> Item:
    return Item(
        grade_id=grade_id, name=name, points=1,
        what=f"{name}(x, size=2, stride=None) takes the {word} of each size x size window",
        reference=None,
        cases=(Case(args=(_POOL_X,), what="4x4 image, 2x2 windows, default stride"),
               Case(args=(_POOL_X,), kwargs={"size": 3, "stride": 1}, what="3x3 windows with stride 1"),
               Case(args=(_POOL_XC,), what="(H, W, C) image: each channel pooled on its own")),
        mistakes=(Mistake("stride 1 by default", POOL_HINT),
                  Mistake("pooling across channels", CHANNEL_HINT)),
        banned=("jax.lax.reduce_window", "medjax"))


CONV_BANNED = ("jax.lax.conv", "jax.lax.conv_general_dilated", "jax.scipy.signal", "numpy.convolve",
               "scipy", "torch", "medjax.conv2d", "medjax.conv")
FLIP_HINT = ("deep-learning 'convolution' is cross-correlation: slide the kernel as it is, "
             "do not flip it (scipy's convolve2d flips).")

ITEMS: list[Item] = [
    Item(grade_id="test_output_size", name="output_size", points=1,
         what="output_size(in_size, kernel_size, stride=1, padding=0) = (in + 2p - f) // s + 1",
         reference=None,
         cases=(Case(args=(16, 3), what="16 with a 3x3 kernel, stride 1 -> 14"),
                Case(args=(24, 5), kwargs={"stride": 2, "padding": 2}, what="24 with f=5, s=2, p=2 -> 12"),
                Case(args=(7, 3), kwargs={"stride": 2}, what="7 with f=3, s=2 (floor) -> 3")),
         mistakes=(Mistake("total instead of per-side padding",
                           "padding p is added on each side, so the size grows by 2p."),
                   Mistake("missing floor", "the division by the stride is an integer (floor) division: use //."),
                   Mistake("off by one", "count the first position too: ... // s + 1."))),
    Item(grade_id="test_same_padding", name="same_padding", points=1,
         what="same_padding(kernel_size) = (f - 1) // 2 keeps the size at stride 1 (odd f)",
         reference=None,
         cases=(Case(args=(3,), what="3x3 kernel -> 1"), Case(args=(5,), what="5x5 kernel -> 2")),
         mistakes=(Mistake("total padding", "the function returns the padding for ONE side."),)),
    Item(grade_id="test_pad", name="pad", points=1,
         what='pad(image, p, mode="zero") adds p rows/columns on every side (zeros or copies of the edge)',
         reference=None,
         cases=(Case(args=(_RAMP, 1), what="zero padding of a 5x6 image by 1"),
                Case(args=(_RAMP, 2), kwargs={"mode": "replicate"}, what="replicate padding by 2")),
         mistakes=(Mistake("total instead of per-side padding", "p is added on EACH side."),
                   Mistake("mirror instead of replicate", "replicate copies the edge pixel itself (aaa|abc)."))),
    Item(grade_id="test_conv2d", name="conv2d", points=2,
         what='conv2d(image, kernel, stride=1, padding=0, mode="zero"): 2-D cross-correlation',
         reference=None,
         cases=(Case(args=(EDGE_IMAGE, VERTICAL_EDGE), what="course example: vertical-edge kernel, valid (top-left 6)"),
                Case(args=(CT_PATCH, SHARPEN), kwargs={"padding": 1}, what="course example: sharpen with p=1 (top-left 320)"),
                Case(args=(_RAMP, ASYMMETRIC), kwargs={"stride": 2, "padding": 1},
                     what="asymmetric kernel, stride 2, padding 1"),
                Case(args=(_RAMP, ASYMMETRIC), kwargs={"padding": 1, "mode": "replicate"},
                     what="replicate padding")),
         mistakes=(Mistake("flipped kernel", FLIP_HINT),
                   Mistake("padding halved", "padding p is per side: pad(image, p) before sliding."),
                   Mistake("mode ignored", 'pass mode on to pad: "replicate" copies the edge pixels.')),
         banned=CONV_BANNED),
    Item(grade_id="test_conv2d_multichannel", name="conv2d_multichannel", points=2,
         what="conv2d_multichannel(image (H,W,C), kernels (f,f,C,K), bias (K,), stride=1, padding=0) -> (H',W',K)",
         reference=None,
         cases=(Case(args=(_MC_IMAGE, _MC_KERNELS, np.array([0.5, -1.0, 2.0], np.float32)),
                     what="4x4x2 image, three 2x2x2 filters with bias"),
                Case(args=(_MC_IMAGE, _MC_KERNELS, np.zeros(3, np.float32)), kwargs={"stride": 2, "padding": 1},
                     what="stride 2 and padding 1")),
         mistakes=(Mistake("flipped kernel", FLIP_HINT),
                   Mistake("missing bias", "add bias[k] once to every output position of filter k."),
                   Mistake("bias added per input channel", "the bias is added once per filter, after summing the channels.")),
         banned=CONV_BANNED),
    _pool_item("test_max_pool", "max_pool", "maximum"),
    _pool_item("test_avg_pool", "avg_pool", "mean"),
    _pool_item("test_min_pool", "min_pool", "minimum"),
    Item(grade_id="test_flatten", name="flatten", points=1,
         what="flatten(x) lists all entries in row-major order (for (H,W,C) the channel varies fastest)",
         reference=None,
         cases=(Case(args=(_POOL_X,), what="a 4x4 image"),
                Case(args=(_MC_IMAGE,), what="an (H, W, C) image in NHWC order")),
         mistakes=(Mistake("channels-first (NCHW) order",
                           "medjax images are NHWC: flatten (H, W, C) as it is, without moving the channels first."),
                   Mistake("column-major order", "use row-major (C) order, as reshape(-1) does."))),
    Item(grade_id="test_conv_param_count", name="conv_param_count", points=1,
         what="conv_param_count(kernel_size, in_channels, out_channels, bias=True) = f*f*C*K + K",
         reference=None,
         cases=(Case(args=(3, 228, 32), what="32 filters 3x3 on 228 channels -> 65,696"),
                Case(args=(5, 3, 8), kwargs={"bias": False}, what="no bias")),
         mistakes=(Mistake("forgot the bias", "each filter has one bias: + K."),
                   Mistake("forgot the input channels", "each filter spans all C input channels: f*f*C weights."))),
    Item(grade_id="test_receptive_field", name="receptive_field", points=1,
         what="receptive_field(kernel_sizes) = 1 + sum(k - 1) for stride-1 layers",
         reference=None,
         cases=(Case(args=([3, 3],), what="two 3x3 layers -> 5"), Case(args=([5],), what="one 5x5 layer -> 5")),
         mistakes=(Mistake("summed the kernel sizes", "each extra layer adds k - 1 pixels, not k."),
                   Mistake("forgot the + 1", "start from the single centre pixel: R = 1 + sum(k - 1)."))),
    choice_item(assignment=ASSIGNMENT, grade_id="test_answer_kernel_a", name="answer_kernel_a", points=1,
                what="what kernel A does", choices=KERNEL_CHOICES),
    choice_item(assignment=ASSIGNMENT, grade_id="test_answer_kernel_b", name="answer_kernel_b", points=1,
                what="what kernel B does", choices=KERNEL_CHOICES),
    choice_item(assignment=ASSIGNMENT, grade_id="test_answer_kernel_c", name="answer_kernel_c", points=1,
                what="what kernel C does", choices=KERNEL_CHOICES),
]
