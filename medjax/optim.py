"""Plain gradient descent on pytrees, and seeded minibatch indices.

>>> import jax.numpy as jnp
>>> loss = lambda w: jnp.sum((w - 3.0) ** 2)
>>> w, history = gradient_descent(loss, jnp.zeros(2), lr=0.25, num_steps=3)
>>> print(w, history)
[2.625 2.625] [18.     4.5    1.125]
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

from medjax._checks import check_positive_int

PyTree = Any


def gradient_descent_step(params: PyTree, grads: PyTree, lr: ArrayLike) -> PyTree:
    """One step downhill: ``theta <- theta - lr * grad`` for every leaf of the pytree.

    Minus, not plus: the gradient points uphill. ``params`` and ``grads``
    must have the same structure (``jax.grad`` of a loss of ``params`` does).

    >>> new = gradient_descent_step({"w": jnp.array([1.0, 2.0])}, {"w": jnp.array([4.0, -1.0])}, 0.1)
    >>> print(new["w"])
    [0.6 2.1]
    """
    p_def, g_def = jax.tree.structure(params), jax.tree.structure(grads)
    if p_def != g_def:
        raise ValueError(f"gradient_descent_step: 'params' and 'grads' must have the same tree structure, "
                         f"got {p_def} and {g_def}")
    return jax.tree.map(lambda p, g: p - lr * g, params, grads)


def gradient_descent(loss_fn: Callable[[PyTree], jax.Array], params: PyTree, lr: ArrayLike,
                     num_steps: int) -> tuple[PyTree, jax.Array]:
    """Run ``num_steps`` steps of full-batch gradient descent on ``loss_fn``.

    Each step computes ``loss, grad = jax.value_and_grad(loss_fn)(params)``
    and applies :func:`gradient_descent_step`; the steps run inside one
    ``lax.scan``, so the loop compiles once and the whole call is jittable
    (``jax.jit(gradient_descent, static_argnums=(0, 3))``).

    Args:
      loss_fn: scalar loss of the parameters (a pure function).
      params: the starting parameters, any pytree of float arrays.
      lr: learning rate.
      num_steps: how many steps (a Python int).

    Returns:
      ``(params, losses)``: the final parameters and a (num_steps,) array
      whose entry ``t`` is the loss BEFORE step ``t``.

    >>> params = {"w": jnp.array([1.0, -1.0]), "b": jnp.array(0.0)}
    >>> loss = lambda p: jnp.mean((jnp.array([[1.0, 2.0]]) @ p["w"] + p["b"] - 1.0) ** 2)
    >>> params, losses = gradient_descent(loss, params, lr=0.1, num_steps=20)
    >>> bool(losses[-1] < losses[0]), losses.shape
    (True, (20,))
    """
    num_steps = check_positive_int("gradient_descent", "num_steps", num_steps, minimum=0)
    value_and_grad = jax.value_and_grad(loss_fn)

    def step(p: PyTree, _: None) -> tuple[PyTree, jax.Array]:
        loss, grads = value_and_grad(p)
        return gradient_descent_step(p, grads, lr), loss

    return lax.scan(step, params, None, length=num_steps)


def minibatches(key: jax.Array, n: int, batch_size: int, *, drop_remainder: bool = False) -> list[jax.Array]:
    """Shuffle ``range(n)`` with ``key`` and cut it into batches of indices.

    Every index appears exactly once per epoch; the last batch is shorter when
    ``batch_size`` does not divide ``n`` (dropped with ``drop_remainder=True``).
    Use a new key each epoch (``jax.random.fold_in(key, epoch)``): the same
    key gives the same order.

    >>> sorted(i for b in minibatches(jax.random.key(0), 5, 2) for i in b.tolist())
    [0, 1, 2, 3, 4]
    >>> [len(b) for b in minibatches(jax.random.key(0), 10, 4)]
    [4, 4, 2]
    >>> [len(b) for b in minibatches(jax.random.key(0), 10, 4, drop_remainder=True)]
    [4, 4]
    """
    n = check_positive_int("minibatches", "n", n, minimum=0)
    batch_size = check_positive_int("minibatches", "batch_size", batch_size)
    order = np.asarray(jax.random.permutation(key, n))   # cut on the host: no compile per slice
    stop = n - n % batch_size if drop_remainder else n
    return [jnp.asarray(order[i: i + batch_size]) for i in range(0, stop, batch_size)]
