"""Jit-compiled training and evaluation steps for the four course tasks.

One step is one compiled region: forward, loss, gradient, optimiser update and
the batch's metric sums. Metrics are sums (``loss``, ``correct``, ``count``) so
they add up across batches on the device and are fetched once per epoch.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import optax

from medjax.losses import bce_with_logits, cross_entropy, dice_loss
from medjax.train.state import TrainState, variables_of

TASKS = ("binary", "multiclass", "multilabel", "segmentation")
Augment = Callable[[jax.Array, jax.Array], jax.Array]
DICE_EPS = 1.0  # Dice smoothing in the loss: a soft start, and 0 loss on an empty pair


def _binary_logits(logits: jax.Array) -> jax.Array:
    if logits.ndim != 2 or logits.shape[-1] != 1:
        raise ValueError(f"task 'binary': the model must give logits (N, 1), got {logits.shape}; "
                         "use num_outputs=1")
    return logits[:, 0]


def per_example_loss(logits: jax.Array, labels: jax.Array, *, task: str, pos_weight: Any = None) -> jax.Array:
    """The loss of each example, shape ``(N,)``.

    - ``binary``: logits ``(N, 1)``, labels ``(N,)`` in {0, 1}; BCE with logits,
      positives weighted by ``pos_weight`` (``n_neg / n_pos`` balances the classes):
      ``l = pw * y * softplus(-z) + (1 - y) * softplus(z)``.
    - ``multiclass``: logits ``(N, K)``, integer labels ``(N,)``; softmax cross-entropy.
    - ``multilabel``: logits and labels ``(N, L)``; mean over labels of the weighted BCE.
    - ``segmentation``: logits and masks ``(N, H, W, 1)``; pixel-mean BCE + soft Dice loss.

    >>> import jax.numpy as jnp
    >>> z = jnp.array([[0.0], [2.0]]); y = jnp.array([1.0, 0.0])
    >>> per_example_loss(z, y, task="binary").round(4)
    Array([0.6931, 2.1269], dtype=float32)
    >>> per_example_loss(z, y, task="binary", pos_weight=3.0).round(4)
    Array([2.0794, 2.1269], dtype=float32)
    """
    if task == "binary":
        return bce_with_logits(_binary_logits(logits), labels.astype(logits.dtype), reduction="none",
                               pos_weight=pos_weight)
    if task == "multiclass":
        return cross_entropy(logits, labels.astype(jnp.int32), reduction="none")
    if task == "multilabel":
        return bce_with_logits(logits, labels.astype(logits.dtype), reduction="none",
                               pos_weight=pos_weight).mean(axis=-1)
    if task == "segmentation":
        masks = labels.astype(logits.dtype).reshape(logits.shape)
        bce = bce_with_logits(logits, masks, reduction="none", pos_weight=pos_weight)
        dice = dice_loss(jax.nn.sigmoid(logits), masks, eps=DICE_EPS, reduction="none")
        return bce.mean(axis=tuple(range(1, logits.ndim))) + dice
    raise ValueError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")


def probabilities(logits: jax.Array, *, task: str) -> jax.Array:
    """Sigmoid for binary ``(N,)``, multilabel and segmentation; softmax ``(N, K)`` for multiclass."""
    if task == "binary":
        return jax.nn.sigmoid(_binary_logits(logits))
    if task == "multiclass":
        return jax.nn.softmax(logits, axis=-1)
    return jax.nn.sigmoid(logits)


def _correct(probs: jax.Array, labels: jax.Array, task: str) -> jax.Array:
    """Per-example accuracy in [0, 1] at threshold 0.5 (argmax for multiclass)."""
    if task == "multiclass":
        return (probs.argmax(axis=-1) == labels).astype(jnp.float32)
    hits = ((probs >= 0.5) == (labels.reshape(probs.shape) >= 0.5)).astype(jnp.float32)
    return hits if task == "binary" else hits.mean(axis=tuple(range(1, hits.ndim)))


def _metric_sums(logits, labels, losses, mask, task):
    correct = _correct(probabilities(logits, task=task), labels, task)
    return {"loss": (losses * mask).sum(), "correct": (correct * mask).sum(), "count": mask.sum()}


def largest_divisor(n: int, at_most: int) -> int:
    """The largest divisor of ``n`` that is at most ``at_most`` (at least 1).

    >>> largest_divisor(500, 128), largest_divisor(512, 128), largest_divisor(7, 4)
    (125, 128, 1)
    """
    return max(d for d in range(1, max(1, min(at_most, n)) + 1) if n % d == 0)


def _gradients(state: TrainState, images, labels, pos_weight, task: str, dropout_key, micro_batch: int | None):
    """``(grads, logits, losses, batch_stats)`` of the mean loss over the batch.

    With ``micro_batch``, a batch larger than it is cut into equal chunks of at most
    ``micro_batch`` images (the largest divisor of the batch size; the whole batch when
    that divisor is below ``micro_batch / 2``, e.g. for a prime batch size) whose gradients of
    ``sum(losses) / N`` are added in a ``lax.scan``: the gradient of the mean, up to
    summation order, with less memory and better cache use (dropout draws one key per
    chunk). BatchNorm statistics are per batch, so a model with ``batch_stats`` refuses it.
    """
    n = images.shape[0]
    size = largest_divisor(n, micro_batch) if micro_batch else n
    if size < (micro_batch or 0) // 2:  # e.g. a prime batch size: tiny chunks would be slow
        size = n

    def loss_fn(params, x, y, key):
        logits, updates = state.apply_fn(variables_of(params, state.batch_stats), x, train=True,
                                         rngs={"dropout": key}, mutable=["batch_stats"])
        losses = per_example_loss(logits, y, task=task, pos_weight=pos_weight)
        return losses.sum() / n, (logits, losses, updates.get("batch_stats", state.batch_stats))

    grad_fn = jax.grad(loss_fn, has_aux=True)
    if size == n:
        grads, (logits, losses, batch_stats) = grad_fn(state.params, images, labels, dropout_key)
        return grads, logits, losses, batch_stats
    if jax.tree.leaves(state.batch_stats):
        raise ValueError(f"micro_batch={micro_batch}: a model with BatchNorm statistics must see the whole batch "
                         f"of {n}; use micro_batch=None")
    chunks = n // size

    def chunk(total, part):
        x, y, i = part
        grads, (logits, losses, _) = grad_fn(state.params, x, y, jax.random.fold_in(dropout_key, i))
        return jax.tree.map(jnp.add, total, grads), (logits, losses)

    split = lambda a: a.reshape(chunks, size, *a.shape[1:])  # noqa: E731
    zeros = jax.tree.map(jnp.zeros_like, state.params)
    grads, (logits, losses) = jax.lax.scan(chunk, zeros, (split(images), split(labels), jnp.arange(chunks)))
    return grads, logits.reshape(n, *logits.shape[2:]), losses.reshape(n, *losses.shape[2:]), state.batch_stats


def _train_step(state: TrainState, images, labels, pos_weight=None, *, task: str, augment: Augment | None = None,
                micro_batch: int | None = None):
    key = jax.random.fold_in(state.rng, state.step)
    aug_key, dropout_key = jax.random.split(key)
    if augment is not None:
        images = augment(aug_key, images)
    grads, logits, losses, batch_stats = _gradients(state, images, labels, pos_weight, task, dropout_key, micro_batch)
    updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
    state = state.replace(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                          batch_stats=batch_stats, opt_state=opt_state)
    mask = jnp.ones(losses.shape, losses.dtype)
    return state, _metric_sums(jax.lax.stop_gradient(logits), labels, losses, mask, task)


def _scan_steps(state: TrainState, images, labels, pos_weight=None, *, task: str, augment: Augment | None = None,
                unroll: int | bool = 1, micro_batch: int | None = None):
    def body(carry, batch):
        carry, metrics = _train_step(carry, *batch, pos_weight, task=task, augment=augment, micro_batch=micro_batch)
        return carry, metrics

    state, metrics = jax.lax.scan(body, state, (images, labels), unroll=unroll)
    return state, jax.tree.map(lambda m: m.sum(axis=0), metrics)


def _eval_step(state: TrainState, images, labels, pos_weight=None, mask=None, *, task: str):
    logits = state.apply_fn(state.variables, images, train=False)
    losses = per_example_loss(logits, labels, task=task, pos_weight=pos_weight)
    mask = jnp.ones(losses.shape, losses.dtype) if mask is None else mask.astype(losses.dtype)
    return _metric_sums(logits, labels, losses, mask, task), probabilities(logits, task=task)


_STATIC = ("task", "augment", "micro_batch")

train_step = jax.jit(_train_step, static_argnames=_STATIC, donate_argnums=0)
train_step.__doc__ = """One optimisation step: ``(state, images, labels, pos_weight=None, *, task, augment=None,
micro_batch=None) -> (new_state, metric_sums)``.

Dropout uses ``fold_in(state.rng, state.step)``; BatchNorm statistics are
updated; ``augment(key, images)`` (optional, static) runs inside the step. The
input ``state`` is donated: do not use it after the call. ``metric_sums`` has
``loss`` (sum of per-example losses), ``correct`` and ``count``. ``micro_batch``
(static) adds up the gradients of chunks of at most that many images (see
``_gradients``; BatchNorm models refuse it): ``fit`` uses 128, which at batch 512
ran 1.07-1.12x faster on 2 CPU cores (``benchmarks/README.md``).

>>> import jax, jax.numpy as jnp, optax
>>> from medjax.models import LogisticRegression
>>> from medjax.train import create_train_state, train_step
>>> x = jnp.zeros((4, 8, 8, 1)); y = jnp.array([0, 1, 0, 1])
>>> state = create_train_state(LogisticRegression(), jax.random.key(0), x, optax.sgd(0.1))
>>> state, m = train_step(state, x, y, task="binary")
>>> int(state.step), round(float(m["loss"] / m["count"]), 4)
(1, 0.6931)
"""

train_steps_scan = jax.jit(_scan_steps, static_argnames=(*_STATIC, "unroll"), donate_argnums=0)
train_steps_scan.__doc__ = """Several training steps in one call: ``lax.scan`` of :func:`train_step`
over stacked batches ``images (S, B, ...)`` and ``labels (S, B, ...)``;
returns the new state and the metric sums over all ``S`` steps. The results
equal ``S`` calls of :func:`train_step`, with one dispatch instead of ``S``.

Measured on 2 shared CPU cores (batch 128, S = 8, four interleaved rounds):
SimpleCNN 790-840 img/s with single steps, 1080-1230 img/s scanned (about
1.35x); LogisticRegression 0.5 -> 0.2 ms per step (dispatch-bound: 2.8x).
``unroll`` (static) is passed to ``lax.scan``.
"""

eval_step = jax.jit(_eval_step, static_argnames=("task",))
eval_step.__doc__ = """Evaluation on one batch: ``(state, images, labels, pos_weight=None, mask=None, *, task)
-> (metric_sums, probabilities)``. Dropout off, BatchNorm running averages,
nothing updated. ``mask`` (``(N,)`` of 0/1) drops padded rows from the sums.
"""


def compile_step(fn: Callable[..., Any], *, task: str, augment: Augment | None = None, donate: bool = True,
                 micro_batch: int | None = None):
    """A jitted ``fn`` with ``task``/``augment``/``micro_batch`` bound, ready for ``.lower(...).compile()`` (used by ``fit``)."""
    bound = (partial(fn, task=task) if fn is _eval_step
             else partial(fn, task=task, augment=augment, micro_batch=micro_batch))
    return jax.jit(bound, donate_argnums=0 if donate else ())
