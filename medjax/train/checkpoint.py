"""Checkpoints of a :class:`TrainState` with orbax, quiet on stderr."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import jax

from medjax.train.state import TrainState


def _quiet() -> None:
    """Orbax logs through absl at INFO/WARNING level: keep stderr clean (notebooks)."""
    for name in ("absl", "orbax", "orbax.checkpoint"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _arrays(state: TrainState) -> dict[str, Any]:
    return {"step": state.step, "params": state.params, "batch_stats": state.batch_stats,
            "opt_state": state.opt_state, "rng": state.rng}


def _manager(directory: str | os.PathLike[str], max_to_keep: int | None = None):
    _quiet()
    import orbax.checkpoint as ocp

    options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
    return ocp.CheckpointManager(Path(directory).absolute(), options=options)


def save_checkpoint(directory: str | os.PathLike[str], state: TrainState, step: int | None = None,
                    *, max_to_keep: int | None = 3) -> Path:
    """Write ``state`` to ``directory/<step>`` and wait until it is on disk.

    Args:
        directory: checkpoint folder (created).
        state: the state to save (``apply_fn`` and ``tx`` are code, not saved).
        step: the checkpoint's number; default ``state.step``.
        max_to_keep: keep only this many newest checkpoints (``None``: all).

    Returns:
        The folder of this checkpoint.
    """
    import orbax.checkpoint as ocp

    step = int(jax.device_get(state.step)) if step is None else int(step)
    with _manager(directory, max_to_keep) as manager:
        manager.save(step, args=ocp.args.StandardSave(_arrays(state)), force=True)
        manager.wait_until_finished()
    return Path(directory).absolute() / str(step)


def latest_step(directory: str | os.PathLike[str]) -> int | None:
    """The newest checkpoint number in ``directory``, or ``None`` if there is none."""
    if not Path(directory).is_dir():
        return None
    with _manager(directory) as manager:
        return manager.latest_step()


def restore_checkpoint(directory: str | os.PathLike[str], state_template: TrainState,
                       step: int | None = None) -> TrainState:
    """Load a checkpoint into the structure (and shardings) of ``state_template``.

    Args:
        directory: checkpoint folder written by :func:`save_checkpoint`.
        state_template: a state built the same way (same model and optimiser),
            e.g. from ``create_train_state``; it gives the tree, dtypes, shapes,
            and the ``apply_fn`` / ``tx`` of the result.
        step: which checkpoint; default the newest.

    Raises:
        FileNotFoundError: no checkpoint in ``directory``.
    """
    import orbax.checkpoint as ocp

    with _manager(directory) as manager:
        step = manager.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"restore_checkpoint: no checkpoint in {directory}")
        restored = manager.restore(step, args=ocp.args.StandardRestore(_arrays(state_template)))
    return state_template.replace(**restored)
