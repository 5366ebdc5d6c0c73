"""Data parallelism over the local devices with ``jax.sharding``.

The batch is split along its first axis over a one-axis mesh ``("data",)``;
the state is replicated. Inside the jitted step XLA's partitioner inserts the
gradient all-reduce, and BatchNorm means over the batch become global means,
so N devices compute the same step as one device (up to summation order).
"""
from __future__ import annotations

from typing import Any

import jax
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P


def data_mesh(num_devices: int | None = None) -> Mesh:
    """A mesh ``("data",)`` over the first ``num_devices`` local devices (default: all).

    >>> data_mesh(1).axis_names
    ('data',)
    """
    n = jax.local_device_count() if num_devices is None else num_devices
    if not 1 <= n <= jax.local_device_count():
        raise ValueError(f"data_mesh: 'num_devices' must be between 1 and {jax.local_device_count()}, got {n}")
    # Auto axes: XLA propagates the shardings (Explicit axes would put shardings in the
    # types, which Flax's dropout and BatchNorm do not expect).
    return jax.make_mesh((n,), ("data",), axis_types=(AxisType.Auto,), devices=jax.local_devices()[:n])


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Put every array of ``tree`` on all devices of ``mesh`` (for the train state)."""
    return jax.device_put(tree, NamedSharding(mesh, P()))


def shard_batch(batch: Any, mesh: Mesh, *, stacked: bool = False) -> Any:
    """Split arrays along the batch axis over ``"data"`` (axis 1 when ``stacked`` for ``lax.scan``).

    The batch size must be a multiple of the mesh size.
    """
    spec = P(None, "data") if stacked else P("data")
    n = mesh.devices.size
    for leaf in jax.tree.leaves(batch):
        size = leaf.shape[1 if stacked else 0]
        if size % n:
            raise ValueError(f"shard_batch: batch size {size} is not a multiple of the {n} devices")
    return jax.device_put(batch, NamedSharding(mesh, spec))
