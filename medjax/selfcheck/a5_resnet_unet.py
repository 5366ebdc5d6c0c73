"""Assignment a5, ResNet and U-Net: Dice, the residual block, a U-Net, and where a CNN looks.

Conventions (stated in the notebook): Dice is ``(2 sum(P T) + eps) / (sum(P) +
sum(T) + eps)`` over all elements (so two empty masks score 1); the residual
block is ``relu(BN(conv3x3(relu(BN(conv3x3_s(x))))) + shortcut(x))`` with convs
without bias and a 1x1 conv + BN projection exactly when channels or stride
change; parameter counts include BatchNorm's scale and bias (not its running
statistics).

No answers here: expected values are stored data, the references and mistake
models live in the instructor-only ``autograder.items.a5_resnet_unet``.

>>> from medjax.selfcheck import items
>>> [m.name for m in items("a5_resnet_unet")["test_dice_coefficient"].mistakes]
['eps only in the denominator', '0/0 on empty masks']
"""
from __future__ import annotations

from typing import Any

import numpy as np

from medjax.selfcheck.cases import Case, Item, Mistake
from medjax.selfcheck.choices import checklist, choice_item

__all__ = ["ITEMS"]

_rng = np.random.default_rng(5)

# --------------------------------------------------------------------------- Dice

_TARGET = np.zeros((6, 6), np.float32)
_TARGET[1:4, 2:5] = 1.0
_SOFT = np.clip(_TARGET * 0.8 + _rng.uniform(0.0, 0.3, (6, 6)).astype(np.float32), 0.0, 1.0)
_EMPTY = np.zeros((5, 5), np.float32)


_DICE_MISTAKES = (
    Mistake("eps only in the denominator", "With eps only below the line two empty masks give 0/eps = 0, "
            "but an empty prediction of an empty mask is perfect: add eps above AND below."),
    Mistake("0/0 on empty masks", "Two empty masks make 0/0 = NaN: add eps to the numerator and the "
            "denominator."),
)


def _dice_loss_probe(dice_loss, pred, target) -> dict:
    """The loss and its gradient with respect to ``pred`` (so it must be written in jax.numpy)."""
    import jax
    import jax.numpy as jnp

    t = jnp.asarray(target, jnp.float32)
    value, grad = jax.value_and_grad(lambda q: dice_loss(q, t))(jnp.asarray(pred, jnp.float32))
    return {"loss": np.asarray(value), "grad": np.asarray(grad)}


# --------------------------------------------------------------------------- residual block


def _count(tree) -> int:
    import jax

    return sum(int(np.prod(np.shape(p))) for p in jax.tree_util.tree_leaves(tree))


def _block_probe(block_cls, in_shape, features: int, strides: int = 1, seed: int = 0) -> dict:
    """Init the student's block; count params and running stats; run it with every weight set to 0."""
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(np.random.default_rng(seed).normal(size=tuple(in_shape)).astype(np.float32))
    block = block_cls(features=features, strides=strides)
    variables = dict(jax.eval_shape(block.init, jax.random.key(seed), x))  # shapes only
    out = jax.eval_shape(block.apply, variables, x)
    # every weight 0 (running statistics 1: any value gives 0 once BatchNorm's scale and bias are 0)
    zeros = {k: jax.tree_util.tree_map(lambda v, k=k: (jnp.zeros if k == "params" else jnp.ones)(v.shape, v.dtype), v)
             for k, v in variables.items()}
    return {"params": _count(variables["params"]), "batch_stats": _count(variables.get("batch_stats", {})),
            "output_shape": [int(s) for s in out.shape], "zero_weights": np.asarray(block.apply(zeros, x))}


_BLOCK_HINTS = {
    "params": ("{got} parameters: expected two 3x3 convs WITHOUT bias, two BatchNorms (scale and bias), "
               "and a 1x1 conv (no bias) + BatchNorm on the shortcut exactly when the channels or the stride change"),
    "batch_stats": ("{got} running statistics: each BatchNorm keeps a mean and a variance per channel in "
                    "'batch_stats' (use nn.BatchNorm(use_running_average=not train))"),
    "output_shape": ("the output shape {got} is wrong: the FIRST conv has stride `strides` (SAME padding) "
                     "and the block outputs `features` channels"),
    "zero_weights": ("with every weight set to 0 the block must return relu(shortcut(x)): relu(x) with the "
                     "identity shortcut, 0 with a projection. Add the shortcut BEFORE the final ReLU."),
}


# --------------------------------------------------------------------------- U-Net


def _unet_probe(model_cls, shapes) -> list:
    """Output shapes of the student's UNet (default arguments) for zero images of each shape."""
    import jax
    import jax.numpy as jnp

    model = model_cls()
    result = []
    for shape in shapes:  # shapes only: trace with jax.eval_shape, compute nothing
        x = jax.ShapeDtypeStruct(tuple(int(s) for s in shape), jnp.float32)
        variables = jax.eval_shape(model.init, jax.random.key(0), x)
        result.append([int(s) for s in jax.eval_shape(model.apply, variables, x).shape])
    return result


def _compare_unet(got: Any, expected: Any, case: Case) -> tuple[bool, str]:
    for shape, g, e in zip(case.args[0], got, expected):
        if list(g) != list(e):
            return False, (f"for an input of shape {tuple(shape)} the UNet returned shape {tuple(g)}: "
                           "a segmentation network outputs one logit per pixel, (N, H, W, 1)")
    return (len(got) == len(expected)), "ok"


# --------------------------------------------------------------------------- saliency and Grad-CAM


def _saliency_probe(saliency_map, seed: int, h: int, w: int, c: int):
    """Saliency of a known smooth logit function: logit(x) = sum(w x) + sum(v x^2)."""
    import jax.numpy as jnp

    rng = np.random.default_rng(seed)
    weights = jnp.asarray(rng.normal(size=(1, h, w, c)).astype(np.float32))
    curvature = jnp.asarray(rng.normal(size=(1, h, w, c)).astype(np.float32))
    image = rng.uniform(0.0, 1.0, (h, w, c)).astype(np.float32)

    def logit_fn(x):  # (N, H, W, C) -> (N, 1), like a bound model.apply
        return (jnp.sum(weights * x, axis=(1, 2, 3)) + jnp.sum(curvature * x * x, axis=(1, 2, 3)))[:, None]

    return np.asarray(saliency_map(logit_fn, jnp.asarray(image)))


def _activations(h, w, k, seed):
    rng = np.random.default_rng(seed)
    return (np.maximum(rng.normal(size=(h, w, k)), 0).astype(np.float32),
            rng.normal(0.0, 1.0, (h, w, k)).astype(np.float32))


_CAM_A, _CAM_G = _activations(5, 4, 3, 11)


SHORTCUT_CHOICES = ("a", "b", "c", "d")
# the library's versions of what the student writes
_BANNED_DICE = ("medjax.losses", "medjax.losses.dice_coefficient", "medjax.losses.dice_loss")
_BANNED_INTERPRET = ("medjax.interpret", "medjax.interpret.saliency", "medjax.interpret.grad_cam")

ITEMS: list[Item] = [
    Item(grade_id="test_dice_coefficient", name="dice_coefficient", points=2,
         what="(2 sum(P T) + eps) / (sum(P) + sum(T) + eps); two empty masks give 1",
         reference=None, mistakes=_DICE_MISTAKES, banned=_BANNED_DICE,
         cases=(Case(args=(_SOFT, _TARGET), what="a soft prediction of a 3x3 square"),
                Case(args=(_TARGET, _TARGET), what="perfect overlap gives 1"),
                Case(args=(_EMPTY, _EMPTY), what="empty prediction of an empty mask gives 1, not 0 or NaN"))),
    Item(grade_id="test_dice_loss", name="dice_loss", points=2,
         what="1 - Dice, differentiable with jax.grad (value and gradient checked)",
         reference=None, probe=_dice_loss_probe, rtol=1e-4, atol=1e-6, banned=_BANNED_DICE,
         cases=(Case(args=(_SOFT, _TARGET), what="loss and gradient for a soft prediction"),
                Case(args=(_TARGET, _TARGET), what="perfect overlap: loss 0"))),
    Item(grade_id="test_residual_block", name="ResidualBlock", points=3,
         what="conv3x3-BN-ReLU-conv3x3-BN + shortcut, ReLU; projection when channels or stride change",
         reference=None, probe=_block_probe, compare=checklist(_BLOCK_HINTS),
         cases=(Case(args=([1, 8, 8, 4], 4, 1), what="4 -> 4 channels, stride 1: identity shortcut"),
                Case(args=([2, 8, 8, 4], 8, 1), what="4 -> 8 channels: projection shortcut"))),
    Item(grade_id="test_residual_block_param_count", name="residual_block_param_count", points=2,
         what="parameters of a stride-1 block, BatchNorm scale and bias included",
         reference=None,
         cases=(Case(args=(16, 16), what="16 -> 16 (identity shortcut)"),
                Case(args=(16, 32), what="16 -> 32 (projection shortcut)")),
         mistakes=(Mistake("BatchNorm forgotten", "Each BatchNorm learns a scale and a bias per channel: "
                           "2 C_out parameters each."),
                   Mistake("projection forgotten", "When C_in != C_out the shortcut is a 1x1 conv "
                           "(C_in C_out weights) plus a BatchNorm (2 C_out)."),
                   Mistake("conv biases counted", "The convs have no bias (use_bias=False): BatchNorm's "
                           "shift replaces it."))),
    Item(grade_id="test_unet", name="UNet", points=2,
         what="per-pixel logits with the input's spatial shape, (N, H, W, 1)",
         reference=None, probe=_unet_probe, compare=_compare_unet,
         cases=(Case(args=([[1, 28, 28, 1], [1, 64, 64, 1]],), what="28x28 and 64x64 inputs"),)),
    Item(grade_id="test_saliency_map", name="saliency_map", points=2,
         what="max over channels of |d logit / d pixel|, shape (H, W)",
         reference=None, probe=_saliency_probe, banned=_BANNED_INTERPRET,
         cases=(Case(args=(0, 6, 5, 3), what="a known logit function, 6x5 image with 3 channels"),),
         mistakes=(Mistake("no absolute value", "Saliency is the MAGNITUDE |d logit / d x|."),
                   Mistake("summed over channels", "Take the max over channels, not the sum."))),
    Item(grade_id="test_grad_cam", name="grad_cam", points=2,
         what="relu(sum_k alpha_k A_k) with alpha_k the spatial mean of the gradients",
         reference=None, rtol=1e-4, atol=1e-5, banned=_BANNED_INTERPRET,
         cases=(Case(args=(_CAM_A, _CAM_G), what="5x4 feature map with 3 channels"),),
         mistakes=(Mistake("no ReLU", "Grad-CAM keeps only positive evidence: apply a ReLU to the sum."),
                   Mistake("summed gradients", "alpha_k is the MEAN of the gradients over the feature map, "
                           "not their sum."),
                   Mistake("pixelwise product", "Average the gradients over space first (one weight per "
                           "channel), then weight the activation maps."))),
    choice_item(grade_id="test_shortcut_answer", name="shortcut_answer", points=1,
                what="multiple choice: what a Grad-CAM map on the hospital marker means",
                choices=SHORTCUT_CHOICES),
]
