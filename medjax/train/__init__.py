"""Training: state, jit-compiled steps, the ``fit`` loop, checkpoints, data parallelism.

>>> import numpy as np
>>> from medjax.models import LogisticRegression
>>> from medjax.train import fit
>>> rng = np.random.default_rng(0)
>>> x = rng.random((64, 8, 8, 1), dtype=np.float32); y = (x.mean((1, 2, 3)) > 0.5).astype(np.int32)
>>> state, history = fit(LogisticRegression(), {"images": x, "labels": y}, epochs=2, batch_size=32,
...                      progress=False, compilation_cache=False)
>>> len(history["epochs"]), int(state.step)
(2, 4)
"""
from __future__ import annotations

from medjax._lazy import lazy_exports

# public name -> submodule; resolved on first use so that ``medjax train --help``
# and ``import medjax.train.cli`` do not pay for importing JAX and Flax.
_EXPORTS = {
    "enable_compilation_cache": "cache",
    "latest_step": "checkpoint",
    "restore_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "binary_report": "evaluation",
    "choose_threshold": "evaluation",
    "roc_auc": "evaluation",
    "roc_curve": "evaluation",
    "balanced_pos_weight": "loop",
    "evaluate": "loop",
    "fit": "loop",
    "make_optimizer": "loop",
    "make_schedule": "loop",
    "predict": "loop",
    "data_mesh": "parallel",
    "replicate": "parallel",
    "shard_batch": "parallel",
    "TrainState": "state",
    "create_train_state": "state",
    "TASKS": "steps",
    "eval_step": "steps",
    "per_example_loss": "steps",
    "probabilities": "steps",
    "train_step": "steps",
    "train_steps_scan": "steps",
}

__all__ = [
    "TASKS", "TrainState", "balanced_pos_weight", "binary_report", "choose_threshold", "create_train_state",
    "data_mesh", "enable_compilation_cache", "eval_step", "evaluate", "fit", "latest_step", "make_optimizer",
    "make_schedule", "per_example_loss", "predict", "probabilities", "replicate", "restore_checkpoint",
    "roc_auc", "roc_curve", "save_checkpoint", "shard_batch", "train_step", "train_steps_scan",
]


__getattr__, __dir__ = lazy_exports("medjax.train", _EXPORTS, __all__)
