"""Hidden cases of assignment a5 (ResNet, U-Net, Dice, saliency). Instructor-only: never shipped.

Edges: an empty prediction of a non-empty mask, all-ones masks, batched 4-D
masks, a custom eps, stride-2 blocks with and without a channel change, odd
sizes, other channel counts, batch sizes and image sizes for the U-Net,
non-square and single-channel saliency, Grad-CAM whose weighted sum is negative
everywhere, and the multiple-choice answer.
"""
from __future__ import annotations

import numpy as np

from medjax.selfcheck.choices import ChoiceCase
from medjax.selfcheck.cases import Case

_rng = np.random.default_rng(55)
_MASKS = (_rng.uniform(size=(2, 8, 8, 1)) < 0.3).astype(np.float32)
_PROBS = np.clip(_MASKS * 0.7 + _rng.uniform(0, 0.4, _MASKS.shape), 0, 1).astype(np.float32)
_SQUARE = np.zeros((6, 6), np.float32)
_SQUARE[2:5, 1:4] = 1.0
_ONES = np.ones((4, 4), np.float32)

_A = np.maximum(_rng.normal(size=(7, 7, 16)), 0).astype(np.float32)
_G = _rng.normal(size=(7, 7, 16)).astype(np.float32)
_A_NS = np.maximum(_rng.normal(size=(3, 5, 2)), 0).astype(np.float32)
_G_NS = _rng.normal(size=(3, 5, 2)).astype(np.float32)
_G_NEG = -np.abs(_rng.normal(size=(3, 5, 2))).astype(np.float32)  # every alpha < 0: the map is all zero

HIDDEN: dict[str, tuple[Case, ...]] = {
    "test_dice_coefficient": (
        Case(args=(np.zeros_like(_SQUARE), _SQUARE), what="empty prediction of a non-empty mask (about 0)"),
        Case(args=(_ONES, _ONES), what="all-ones masks"),
        Case(args=(_PROBS, _MASKS), what="a batch of (2, 8, 8, 1) soft masks"),
        Case(args=(_PROBS, _MASKS), kwargs={"eps": 1.0}, what="a custom eps"),
        Case(args=(np.zeros((2, 8, 8, 1), np.float32), np.zeros((2, 8, 8, 1), np.float32)),
             what="a batch of empty masks"),
    ),
    "test_dice_loss": (
        Case(args=(_PROBS, _MASKS), what="a batch of soft masks"),
        Case(args=(np.zeros_like(_SQUARE), _SQUARE), what="empty prediction of a non-empty mask"),
    ),
    "test_residual_block": (
        Case(args=([2, 8, 8, 8], 8, 2), what="stride 2, same channels: projection needed"),
        Case(args=([1, 7, 7, 3], 6, 2), what="odd size 7, stride 2, 3 -> 6 channels"),
        Case(args=([1, 5, 6, 2], 2, 1, 3), what="non-square, identity shortcut"),
    ),
    "test_residual_block_param_count": tuple(
        Case(args=(a, b), what=f"{a} -> {b} channels") for a, b in ((1, 8), (64, 64), (3, 5), (32, 16))),
    "test_unet": (
        Case(args=([[2, 32, 32, 1]],), what="a batch of two 32x32 images"),
        Case(args=([[3, 28, 28, 1]],), what="a batch of three 28x28 images"),
    ),
    "test_saliency_map": (
        Case(args=(1, 28, 28, 1), what="a 28x28 grey image"),
        Case(args=(2, 4, 7, 2), what="non-square, 2 channels"),
    ),
    "test_grad_cam": (
        Case(args=(_A, _G), what="7x7 map with 16 channels"),
        Case(args=(_A_NS, _G_NS), what="non-square 3x5 map"),
        Case(args=(_A_NS, _G_NEG), what="only negative evidence: an all-zero map"),
    ),
    "test_shortcut_answer": (ChoiceCase(answer="b", what="the shortcut question"),),
}
