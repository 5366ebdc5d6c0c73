"""medjax: pure-JAX building blocks for a course on deep learning for medical images.

Images are NHWC (or a single (H, W) grey image), kernels HWIO, and every function
is pure, so it works under ``jax.jit``, ``jax.vmap`` and ``jax.grad``.

>>> import medjax
>>> medjax.output_size(16, 3)
14

Names are resolved lazily, so ``import medjax`` stays fast and the heavy
subpackages (``medjax.data`` pulls in tensorflow-datasets) load on first use.
"""
from __future__ import annotations

from medjax._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # sizes and counts
    "output_size": "sizes", "same_padding": "sizes", "receptive_field": "sizes",
    "conv_param_count": "sizes", "dense_param_count": "sizes", "param_count": "sizes",
    # convolution, padding, pooling
    "pad": "padding", "conv2d": "conv", "conv2d_naive": "conv",
    "max_pool": "pooling", "avg_pool": "pooling", "min_pool": "pooling", "flatten": "pooling",
    # activations
    "sigmoid": "activations", "tanh": "activations", "relu": "activations",
    "leaky_relu": "activations", "elu": "activations", "softmax": "activations",
    "log_softmax": "activations", "maxout": "activations",
    # losses
    "bce": "losses", "bce_with_logits": "losses", "cross_entropy": "losses", "mse": "losses",
    "dice_coefficient": "losses", "dice_loss": "losses",
    # metrics
    "confusion_matrix": "metrics", "accuracy": "metrics", "precision": "metrics",
    "recall": "metrics", "sensitivity": "metrics", "specificity": "metrics",
    "f1_score": "metrics", "roc_auc": "metrics",
    # optimisation
    "gradient_descent_step": "optim", "gradient_descent": "optim", "minibatches": "optim",
    # errors
    "ShapeError": "_checks",
}
_SUBMODULES = ("kernels", "data", "io", "models", "train", "interpret", "plots", "synthetic")

__all__ = sorted([*_EXPORTS, *_SUBMODULES])


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__, _SUBMODULES)
