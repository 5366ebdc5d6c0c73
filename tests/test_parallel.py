"""Data parallel training over two simulated CPU devices equals one device."""
import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from medjax.train import data_mesh, shard_batch

SCRIPT = textwrap.dedent("""
    import json
    import jax, numpy as np
    from medjax.models import SimpleCNN
    from medjax.train import fit
    assert jax.local_device_count() == 2, jax.devices()
    rng = np.random.default_rng(0)
    x = rng.random((64, 12, 12, 1), dtype=np.float32)
    y = (x[:, 4:8, 4:8, 0].mean((1, 2)) > 0.5).astype(np.int32)
    d = {"images": x, "labels": y}
    val = {"images": x[:20], "labels": y[:20]}  # 20: the padded eval batch must split too
    out = {}
    for dp in (False, True):
        state, h = fit(SimpleCNN(features=(4, 8), batch_norm=True, dropout=0.2), d, val, epochs=2,
                       batch_size=16, scan_steps=2, data_parallel=dp, progress=False, compilation_cache=False)
        leaf = jax.tree.leaves(state.params)[0]
        out[str(dp)] = {"train": [r["train_loss"] for r in h["epochs"]],
                        "val": [r["val_loss"] for r in h["epochs"]],
                        "devices": len(leaf.sharding.device_set),
                        "params": [np.asarray(p).ravel()[:5].tolist() for p in jax.tree.leaves(state.params)]}
    print(json.dumps(out))
""")


def test_two_devices_match_one():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == ""
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    one, two = out["False"], out["True"]
    assert one["devices"] == 1 and two["devices"] == 2
    np.testing.assert_allclose(two["train"], one["train"], rtol=1e-4)
    np.testing.assert_allclose(two["val"], one["val"], rtol=1e-4)
    for a, b in zip(two["params"], one["params"]):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def test_shard_batch_checks_divisibility():
    mesh = data_mesh(1)
    x = shard_batch(np.zeros((3, 2), np.float32), mesh)
    assert x.shape == (3, 2)
    with pytest.raises(ValueError, match="num_devices"):
        data_mesh(jax.local_device_count() + 1)
