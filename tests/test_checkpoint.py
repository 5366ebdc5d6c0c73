"""Checkpoints: round trip, resume equals an uninterrupted run, quiet stderr."""
import jax
import numpy as np
import optax
import pytest

from medjax.models import MLP, SimpleCNN
from medjax.train import create_train_state, fit, latest_step, restore_checkpoint, save_checkpoint, train_step

FAST = dict(progress=False, compilation_cache=False)


def data(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 12, 12, 1), dtype=np.float32)
    y = (x[:, 4:8, 4:8, 0].mean((1, 2)) > 0.5).astype(np.int32)
    return {"images": x, "labels": y}


def assert_trees_equal(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb) and la
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_round_trip(tmp_path, capfd):
    d = data(16, 0)
    model = SimpleCNN(features=(4,), batch_norm=True, dropout=0.2)
    state = create_train_state(model, jax.random.PRNGKey(1), d["images"][:1], optax.adam(1e-3))
    state, _ = train_step(state, d["images"], d["labels"], task="binary")
    saved = jax.tree.map(np.asarray, state)  # copies: later steps donate the state's buffers
    save_checkpoint(tmp_path / "ckpt", state)
    assert latest_step(tmp_path / "ckpt") == 1
    template = create_train_state(model, jax.random.PRNGKey(9), d["images"][:1], optax.adam(1e-3))
    restored = restore_checkpoint(tmp_path / "ckpt", template)
    assert int(restored.step) == 1
    assert_trees_equal(restored.params, saved.params)
    assert_trees_equal(restored.batch_stats, saved.batch_stats)
    assert_trees_equal(restored.opt_state, saved.opt_state)
    np.testing.assert_array_equal(np.asarray(restored.rng), np.asarray(saved.rng))
    # the restored state trains on
    restored, _ = train_step(restored, d["images"], d["labels"], task="binary")
    assert int(restored.step) == 2
    assert capfd.readouterr().err == ""  # orbax logging kept off stderr


def test_missing_checkpoint(tmp_path):
    state = create_train_state(SimpleCNN(features=(4,)), jax.random.PRNGKey(0), np.zeros((1, 8, 8, 1)),
                               optax.sgd(0.1))
    assert latest_step(tmp_path / "none") is None
    with pytest.raises(FileNotFoundError):
        restore_checkpoint(tmp_path, state)


class _Killed(Exception):
    """Stands for a run killed mid-way (a real KeyboardInterrupt would reach pytest's own handlers)."""


def test_resume_continues_identically(tmp_path):
    d, val = data(64, 1), data(32, 2)
    model = MLP(hidden=(8,), dropout=0.3)  # dropout: the resumed run must draw the same masks
    kwargs = dict(epochs=3, batch_size=16, **FAST)
    straight, h_straight = fit(model, d, val, **kwargs)
    folder = tmp_path / "run"

    def interrupt(record):
        if record["epoch"] == 1:
            raise _Killed  # a killed run, after its first checkpoint

    with pytest.raises(_Killed):
        fit(model, d, val, checkpoint_dir=str(folder), on_epoch=interrupt, **kwargs)
    assert latest_step(folder) == 4
    resumed, h_resumed = fit(model, d, val, checkpoint_dir=str(folder), resume=True, **kwargs)
    assert [r["epoch"] for r in h_resumed["epochs"]] == [2, 3]
    assert int(resumed.step) == int(straight.step) == 12
    for a, b in zip(jax.tree.leaves(resumed.params), jax.tree.leaves(straight.params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    assert h_resumed["epochs"][-1]["train_loss"] == pytest.approx(h_straight["epochs"][-1]["train_loss"], rel=1e-6)
