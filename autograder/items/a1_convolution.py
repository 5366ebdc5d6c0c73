"""Trusted side of assignment a1: references and models of the known mistakes (instructor-only)."""
from __future__ import annotations

import numpy as np

from autograder.reference import a1_a3 as ref


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


def _pool_mistakes(reduce) -> dict:
    return {"stride 1 by default": _pool_stride_one(reduce), "pooling across channels": _pool_over_channels(reduce)}


REFERENCES = {
    "test_output_size": ref.output_size,
    "test_same_padding": ref.same_padding,
    "test_pad": ref.pad,
    "test_conv2d": ref.conv2d,
    "test_conv2d_multichannel": ref.conv2d_multichannel,
    "test_max_pool": ref.max_pool,
    "test_avg_pool": ref.avg_pool,
    "test_min_pool": ref.min_pool,
    "test_flatten": ref.flatten,
    "test_conv_param_count": ref.conv_param_count,
    "test_receptive_field": ref.receptive_field,
}

MISTAKES = {
    "test_output_size": {
        "total instead of per-side padding": _size_total_padding,
        "missing floor": _size_no_floor,
        "off by one": _size_no_plus_one,
    },
    "test_same_padding": {"total padding": lambda f: f - 1},
    "test_pad": {"total instead of per-side padding": _pad_half, "mirror instead of replicate": _pad_reflect},
    "test_conv2d": {
        "flipped kernel": _conv_flipped,
        "padding halved": _conv_half_padding,
        "mode ignored": _conv_zero_always,
    },
    "test_conv2d_multichannel": {
        "flipped kernel": _mc_flipped,
        "missing bias": _mc_no_bias,
        "bias added per input channel": _mc_bias_per_channel,
    },
    "test_max_pool": _pool_mistakes(np.max),
    "test_avg_pool": _pool_mistakes(np.mean),
    "test_min_pool": _pool_mistakes(np.min),
    "test_flatten": {
        "channels-first (NCHW) order": _flatten_channels_first,
        "column-major order": _flatten_column_major,
    },
    "test_conv_param_count": {
        "forgot the bias": lambda f, c, k, bias=True: f * f * c * k,
        "forgot the input channels": lambda f, c, k, bias=True: f * f * k + (k if bias else 0),
    },
    "test_receptive_field": {
        "summed the kernel sizes": lambda ks: sum(ks),
        "forgot the + 1": lambda ks: sum(k - 1 for k in ks),
    },
}


# --------------------------------------------------------------------------- per-student variants
# Parameters declared in solutions/a1_convolution/a1_convolution.ipynb (metadata.medjax.variants):
# kernels (which of A, B, C is edge, blur, sharpen), n f s p (the student's own output-size example),
# conv_h conv_w conv_k seed (the student's own convolution case).

KERNEL_CODE = {
    "edge": "np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float32)",
    "blur": "np.full((3, 3), 1 / 9, dtype=np.float32)",
    "sharpen": "np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float32)",
}
_LETTERS = ("a", "b", "c")


def _kernels(params: dict) -> list[str]:
    return str(params["kernels"]).split(",")


def _conv_data(params: dict) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(int(params["seed"]))
    image = rng.integers(-5, 6, (int(params["conv_h"]), int(params["conv_w"]))).astype(np.float32)
    k = int(params["conv_k"])
    kernel = rng.integers(-3, 4, (k, k)).astype(np.float32)
    kernel[0, -1] = 4.0  # asymmetric: a flipped kernel never passes
    return image, kernel


def VARIANT_CASES(params: dict) -> dict:  # noqa: N802 - the name autograder.variants looks up
    """The cases of the items that vary with a student's ``params``: (visible, hidden) per grade id."""
    from autograder.hidden.a1_convolution import HIDDEN
    from medjax.selfcheck import items
    from medjax.selfcheck.cases import Case
    from medjax.selfcheck.choices import ChoiceCase

    shipped = items("a1_convolution")
    n, f, s, p = (int(params[k]) for k in ("n", "f", "s", "p"))
    image, kernel = _conv_data(params)
    h, w, k = image.shape[0], image.shape[1], kernel.shape[0]
    out = {
        "test_output_size": (
            (*shipped["test_output_size"].cases,
             Case(args=(n, f), kwargs={"stride": s, "padding": p}, what=f"your example: n={n}, f={f}, s={s}, p={p}")),
            (*HIDDEN["test_output_size"],
             Case(args=(n + 3, f), kwargs={"stride": s + 1, "padding": p}, what="your example, larger and strided"))),
        "test_conv2d": (
            (*shipped["test_conv2d"].cases,
             Case(args=(image, kernel), what=f"your case: a {h}x{w} image, a {k}x{k} kernel")),
            (*HIDDEN["test_conv2d"],
             Case(args=(image, kernel), kwargs={"stride": 2, "padding": 1}, what="your case, stride 2 and padding 1"),
             Case(args=(image.T.copy(), kernel), kwargs={"padding": k // 2, "mode": "replicate"},
                  what="your case transposed, replicate padding"))),
    }
    for letter, answer in zip(_LETTERS, _kernels(params)):
        gid = f"test_answer_kernel_{letter}"
        visible = tuple(ChoiceCase(what=c.what, answer=answer) for c in shipped[gid].cases)  # the key stays here
        out[gid] = (visible, (ChoiceCase(answer=answer, what=f"kernel {letter.upper()}"),))
    return out


def VARIANT_TEXT(params: dict) -> dict:  # noqa: N802
    """Notebook text for ``params``: the kernels A, B, C (code) and the solution's answers."""
    text = {}
    for letter, name in zip(_LETTERS, _kernels(params)):
        text[f"kernel_{letter}"] = KERNEL_CODE[name]
        text[f"answer_kernel_{letter}"] = f'"{name}"'
    return text
