"""The training state: everything a step reads and writes, as one pytree."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct


@struct.dataclass
class TrainState:
    """Step counter, parameters, BatchNorm statistics, optimiser state and PRNG key.

    A ``flax.struct.dataclass``: the arrays are pytree leaves (so the state goes
    through ``jax.jit``, ``lax.scan``, sharding and orbax as one value), while
    ``apply_fn`` (the model's ``apply``) and ``tx`` (the optax transformation)
    are static. ``batch_stats`` is ``{}`` for models without BatchNorm. ``rng``
    is a raw ``uint32[2]`` key; step ``t`` uses ``fold_in(rng, t)``, so a
    resumed run draws the same dropout masks as an uninterrupted one.
    """

    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any
    rng: jax.Array
    apply_fn: Callable[..., Any] = struct.field(pytree_node=False)
    tx: optax.GradientTransformation = struct.field(pytree_node=False)

    @property
    def variables(self) -> dict[str, Any]:
        """The ``variables`` dict that ``model.apply`` expects."""
        return variables_of(self.params, self.batch_stats)


def variables_of(params: Any, batch_stats: Any) -> dict[str, Any]:
    """``{"params": ..., "batch_stats": ...}``, leaving out empty batch statistics."""
    return {"params": params, "batch_stats": batch_stats} if batch_stats else {"params": params}


def _raw_key(key: jax.Array) -> jax.Array:
    """A legacy ``uint32[2]`` key from either a typed or a raw key."""
    key = jnp.asarray(key)
    return jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key


def create_train_state(model: nn.Module, key: jax.Array, sample_input: jax.typing.ArrayLike,
                       tx: optax.GradientTransformation) -> TrainState:
    """Initialise ``model`` on ``sample_input`` and wrap it with a fresh optimiser state.

    Args:
        model: a Flax linen module taking ``(x, train=False)``.
        key: PRNG key (``jax.random.key`` or ``jax.random.PRNGKey``); split into
            the init key and the state's step key.
        sample_input: a batch with the input shape, e.g. ``images[:1]``.
        tx: optax transformation, e.g. ``optax.adamw(1e-3)``.

    >>> import jax, jax.numpy as jnp, optax
    >>> from medjax.models import SimpleCNN
    >>> state = create_train_state(SimpleCNN(), jax.random.key(0), jnp.zeros((1, 28, 28, 1)), optax.adam(1e-3))
    >>> int(state.step), state.batch_stats
    (0, {})
    """
    init_key, step_key = jax.random.split(_raw_key(key))
    variables = model.init({"params": init_key}, jnp.asarray(sample_input), train=False)
    params = variables["params"]
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        batch_stats=variables.get("batch_stats", {}),
        opt_state=tx.init(params),
        rng=step_key,
        apply_fn=model.apply,
        tx=tx,
    )
