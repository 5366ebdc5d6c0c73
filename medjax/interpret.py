"""Where does the model look? Saliency maps and Grad-CAM.

Both take one image ``(H, W, C)`` (or a batch of one) and return a map
``(H, W)``. Use them on models from :mod:`medjax.models`; Grad-CAM needs the
activation taps that :class:`~medjax.models.SimpleCNN` (``block0..``) and
:class:`~medjax.models.ResNet` (``stage0..``) provide.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from medjax._checks import check_ndim


def _one_image(fn: str, image: jax.typing.ArrayLike) -> jax.Array:
    x = jnp.asarray(image, dtype=jnp.float32)
    ndim = check_ndim(fn, "image", x, (3, 4), "(H, W, C) or (1, H, W, C)")
    if ndim == 4 and x.shape[0] != 1:
        raise ValueError(f"{fn}: 'image' must be one image, got a batch of {x.shape[0]}")
    return x if ndim == 4 else x[None]


def _target_logit(logits: jax.Array, target: int | None) -> jax.Array:
    """The chosen logit of the single image: ``target``, else the only one, else the argmax."""
    row = logits.reshape(logits.shape[0], -1)[0]
    if target is None:
        return row[0] if row.shape[0] == 1 else row[jnp.argmax(jax.lax.stop_gradient(row))]
    return row[target]


def saliency(apply_fn: Callable[..., jax.Array], variables: Any, image: jax.typing.ArrayLike,
             target: int | None = None) -> jax.Array:
    """Gradient saliency: ``S[i, j] = max_c |d logit / d x[i, j, c]|``.

    Args:
        apply_fn: ``model.apply`` (called as ``apply_fn(variables, x)``, i.e. in
            evaluation mode).
        variables: the model's variables (``params``, and ``batch_stats`` if any).
        image: one image ``(H, W, C)`` or ``(1, H, W, C)``.
        target: which output logit; default the only one (binary) or the argmax.

    Returns:
        ``(H, W)`` non-negative map.

    >>> import jax, jax.numpy as jnp
    >>> from medjax.models import LogisticRegression
    >>> model = LogisticRegression()
    >>> variables = model.init(jax.random.key(0), jnp.zeros((1, 4, 4, 1)))
    >>> s = saliency(model.apply, variables, jnp.zeros((4, 4, 1)))
    >>> bool(jnp.allclose(s, jnp.abs(variables["params"]["Dense_0"]["kernel"]).reshape(4, 4)))
    True
    """
    return _saliency(apply_fn, variables, _one_image("saliency", image), target)


@partial(jax.jit, static_argnums=(0, 3))
def _saliency(apply_fn, variables, x, target):
    grads = jax.grad(lambda x: _target_logit(apply_fn(variables, x), target))(x)
    return jnp.abs(grads[0]).max(axis=-1)


def taps(model: nn.Module, variables: Any, image: jax.typing.ArrayLike) -> dict[str, jax.Array]:
    """The tapped activations of ``model`` for one image, by name (``{"block0": (1, h, w, k), ...}``)."""
    x = _one_image("taps", image)
    _, state = model.apply(_core(variables), x, mutable=["intermediates"])
    return {name: value[0] for name, value in state.get("intermediates", {}).items()}


def _core(variables: Any) -> dict[str, Any]:
    return {k: v for k, v in variables.items() if k in ("params", "batch_stats")}


METHODS = ("gradcam", "hirescam")


def grad_cam(model: nn.Module, variables: Any, image: jax.typing.ArrayLike, *, layer: str | None = None,
             target: int | None = None, method: str = "gradcam") -> jax.Array:
    """Grad-CAM (Selvaraju et al., 2017) on a tapped conv layer, upsampled to the image.

    With activations ``A_k`` (``h x w``) of the chosen layer and the target logit ``y``:

    - ``gradcam``: ``alpha_k = mean_ij dy / dA_k[i, j]``, ``L = relu(sum_k alpha_k A_k)``;
    - ``hirescam`` (Draelos and Carin, 2020): ``L = relu(sum_k dy/dA_k * A_k)``,
      the gradient kept per position instead of averaged.

    The map is bilinearly resized to ``(H, W)`` and divided by its maximum (all
    zeros if it is zero everywhere). Which method fits which head:

    - Global-average-pool head (ResNet; ``SimpleCNN(global_pool=True)``): the
      averaged gradient is the head's weight ``w_k`` (divided by ``h w``), so
      ``gradcam`` is the class activation map ``relu(sum_k w_k A_k)``. On ResNet's
      stage taps the gradient is the same at every position and both methods
      agree; on SimpleCNN's block taps (before the 2x2 max pool) they differ a
      little. Classic Grad-CAM localises well here: on ``synthetic_xray``, for
      correctly classified pneumonia images, about 3x the uniform share of its
      mass falls on the opacities (``tests/test_interpret.py``).
    - Flatten + dense head (``SimpleCNN()``): each position has its own weights
      and averaging them away points nowhere in particular (about the uniform
      share, 0.8-1.2x); use ``method="hirescam"`` (4-11x) or a GAP head.

    The default ``layer`` is the last tap: the last conv block before the
    pooling, the coarsest and most class-specific map; earlier taps give finer
    ``hirescam`` maps but a less faithful ``gradcam``.

    Args:
        model: a module with activation taps (SimpleCNN: ``block0..``, ResNet: ``stage0..``).
        variables: the model's variables.
        image: one image ``(H, W, C)`` or ``(1, H, W, C)``.
        layer: tap name; default the last one (coarsest, most semantic).
        target: which output logit; default the only one or the argmax.
        method: ``"gradcam"`` or ``"hirescam"``.

    Returns:
        ``(H, W)`` map in [0, 1].

    >>> import jax, jax.numpy as jnp
    >>> from medjax.models import SimpleCNN
    >>> model = SimpleCNN(features=(4, 8))
    >>> variables = model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))
    >>> x = jax.random.uniform(jax.random.key(1), (28, 28, 1))
    >>> cam = grad_cam(model, variables, x, layer="block1")
    >>> cam.shape, bool(cam.min() >= 0), bool(cam.max() <= 1)
    ((28, 28), True, True)
    """
    if method not in METHODS:
        raise ValueError(f"grad_cam: 'method' must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    return _grad_cam(model, _core(variables), _one_image("grad_cam", image), layer, target, method)


@partial(jax.jit, static_argnums=(0, 3, 4, 5))
def _grad_cam(model, core, x, layer, target, method):
    """The map, compiled once per model, image shape, layer, target and method."""
    _, state = model.apply(core, x, mutable=["intermediates", "perturbations"])
    zeros = state.get("perturbations", {})
    if not zeros:
        raise ValueError(f"grad_cam: {type(model).__name__} has no activation taps; use SimpleCNN or ResNet")
    layer = list(zeros)[-1] if layer is None else layer
    if layer not in zeros:
        raise ValueError(f"grad_cam: 'layer' must be one of {', '.join(map(repr, zeros))}, got {layer!r}")
    grads = jax.grad(lambda p: _target_logit(model.apply({**core, "perturbations": p}, x), target))(zeros)
    acts, grad = state["intermediates"][layer][0][0], grads[layer][0]
    weights = grad.mean(axis=(0, 1), keepdims=True) if method == "gradcam" else grad  # (1, 1, k) or (h, w, k)
    cam = jax.nn.relu((acts * weights).sum(axis=-1))
    cam = jax.image.resize(cam, x.shape[1:3], method="bilinear")
    top = cam.max()
    return jnp.where(top > 0, cam / jnp.where(top > 0, top, 1.0), 0.0)
