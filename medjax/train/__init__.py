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

from medjax.train.cache import enable_compilation_cache
from medjax.train.checkpoint import latest_step, restore_checkpoint, save_checkpoint
from medjax.train.evaluation import binary_report, choose_threshold, roc_auc, roc_curve
from medjax.train.loop import balanced_pos_weight, evaluate, fit, make_optimizer, make_schedule, predict
from medjax.train.parallel import data_mesh, replicate, shard_batch
from medjax.train.state import TrainState, create_train_state
from medjax.train.steps import TASKS, eval_step, per_example_loss, probabilities, train_step, train_steps_scan

__all__ = [
    "TASKS", "TrainState", "balanced_pos_weight", "binary_report", "choose_threshold", "create_train_state",
    "data_mesh", "enable_compilation_cache", "eval_step", "evaluate", "fit", "latest_step", "make_optimizer",
    "make_schedule", "per_example_loss", "predict", "probabilities", "replicate", "restore_checkpoint",
    "roc_auc", "roc_curve", "save_checkpoint", "shard_batch", "train_step", "train_steps_scan",
]
