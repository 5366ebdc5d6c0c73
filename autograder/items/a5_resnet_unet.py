"""Trusted side of assignment a5: references and models of the known mistakes (instructor-only)."""
from __future__ import annotations

import numpy as np

from autograder.reference import a4_a5 as ref


def _dice_eps_denominator_only(pred, target, eps=1e-6):
    p, t = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    return 2.0 * np.sum(p * t) / (np.sum(p) + np.sum(t) + eps)


def _dice_no_eps(pred, target, eps=1e-6):
    p, t = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.float64(2.0 * np.sum(p * t)) / np.float64(np.sum(p) + np.sum(t))


def _count_without_bn(c_in, c_out):
    return ref.residual_block_param_count(c_in, c_out) - 4 * c_out - (2 * c_out if c_in != c_out else 0)


def _count_without_projection(c_in, c_out):
    return 9 * c_in * c_out + 9 * c_out * c_out + 4 * c_out


def _count_with_conv_bias(c_in, c_out):
    return ref.residual_block_param_count(c_in, c_out) + 2 * c_out + (c_out if c_in != c_out else 0)


def saliency_analytic(seed, h, w, c, *, reduce=np.max, absolute=True):
    """The probe's logit sum(w x) + sum(v x^2) has gradient w + 2 v x: the saliency in closed form."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(1, h, w, c)).astype(np.float32)[0]
    curvature = rng.normal(size=(1, h, w, c)).astype(np.float32)[0]
    image = rng.uniform(0.0, 1.0, (h, w, c)).astype(np.float32)
    grad = weights + 2 * curvature * image
    return reduce(np.abs(grad) if absolute else grad, axis=-1)


def _cam_no_relu(a, g):
    return (np.asarray(a, np.float64) * np.asarray(g, np.float64).mean(axis=(0, 1))[None, None]).sum(-1)


def _cam_sum_weights(a, g):
    return np.maximum(_cam_no_relu(a, g) * np.shape(g)[0] * np.shape(g)[1], 0.0)


def _cam_pixelwise(a, g):
    return np.maximum((np.asarray(a, np.float64) * np.asarray(g, np.float64)).sum(-1), 0.0)


REFERENCES = {
    "test_dice_coefficient": ref.dice_coefficient,
    "test_dice_loss": ref.dice_loss,
    "test_residual_block": ref.ResidualBlock,
    "test_residual_block_param_count": ref.residual_block_param_count,
    "test_unet": ref.UNet,
    "test_saliency_map": ref.saliency_map,
    "test_grad_cam": ref.grad_cam,
}

MISTAKES = {
    "test_dice_coefficient": {"eps only in the denominator": _dice_eps_denominator_only,
                              "0/0 on empty masks": _dice_no_eps},
    "test_residual_block_param_count": {"BatchNorm forgotten": _count_without_bn,
                                        "projection forgotten": _count_without_projection,
                                        "conv biases counted": _count_with_conv_bias},
    "test_saliency_map": {"no absolute value": lambda *a: saliency_analytic(*a, absolute=False),
                          "summed over channels": lambda *a: saliency_analytic(*a, reduce=np.sum)},
    "test_grad_cam": {"no ReLU": _cam_no_relu, "summed gradients": _cam_sum_weights,
                      "pixelwise product": _cam_pixelwise},
}
