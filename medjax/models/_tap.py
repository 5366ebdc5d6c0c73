"""Taps on intermediate activations, for Grad-CAM and feature inspection."""
from __future__ import annotations

import flax.linen as nn
import jax


def tap(module: nn.Module, name: str, x: jax.Array) -> jax.Array:
    """Expose activation ``x`` under ``name``; return it unchanged.

    The activation is sown into the ``"intermediates"`` collection (read it with
    ``mutable=["intermediates"]``) and passed through ``Module.perturb`` so that
    ``jax.grad`` with respect to a zero ``"perturbations"`` collection gives
    d output / d activation, which is what Grad-CAM needs. At ``init`` nothing is
    created, so ``model.init`` returns only ``params`` (and ``batch_stats``),
    and variables from a batch of one apply to any batch size.
    """
    module.sow("intermediates", name, x)
    if module.is_initializing():
        return x
    return module.perturb(name, x)
