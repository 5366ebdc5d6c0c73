"""medjax.native: real builds with the system compiler, the cache, and every way of falling back to XLA.

Each scenario runs in a fresh Python process (what is loaded is decided once per process), with
its own ``MEDJAX_NATIVE_DIR``. The kernels' numbers are checked in ``tests/test_conv_pool.py``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from medjax import native

needs_compiler = pytest.mark.skipif(native._compiler() is None, reason="no C++ compiler on this machine")

# the gradient of SimpleCNN's loss, the targets its compiled step calls, and what medjax.native says
PROBE = textwrap.dedent("""
    import json, jax, jax.numpy as jnp, numpy as np
    from medjax import native
    from medjax.models import SimpleCNN
    from medjax.models._conv_pool import conv_relu_pool, conv_relu_pool_reference
    x = jax.random.normal(jax.random.key(0), (2, 8, 8, 16)); k = jax.random.normal(jax.random.key(1), (3, 3, 16, 16)) / 12
    b = jnp.zeros(16)
    f = jax.jit(jax.grad(lambda k: (conv_relu_pool(x, k, b) ** 2).sum()))
    r = jax.grad(lambda k: (conv_relu_pool_reference(x, k, b) ** 2).sum())(k)
    hlo = f.lower(k).compile().as_text()
    print(json.dumps({"status": native.status(), "custom_calls": hlo.count("medjax_conv_pool"),
                      "error": float(jnp.max(jnp.abs(f(k) - r)))}))
""")


def probe(tmp_path: Path, **env: str) -> dict:
    full = {**os.environ, "MEDJAX_NATIVE_DIR": str(tmp_path / "native"), "JAX_PLATFORMS": "cpu", **env}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=full, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr == "", done.stderr  # nothing on stderr: nbgrader zeroes a test cell that warns
    return json.loads(done.stdout.strip().splitlines()[-1])


@needs_compiler
def test_a_cold_cache_builds_once_and_a_warm_one_reuses_the_library(tmp_path):
    first = probe(tmp_path)
    assert first["status"]["conv_pool_grad"] == "loaded"
    assert first["custom_calls"] >= 2 and first["error"] < 1e-4
    (library,) = (tmp_path / "native").glob("_conv_pool_grad-*.so")
    stamp = library.stat().st_mtime_ns
    second = probe(tmp_path)
    assert second["status"]["conv_pool_grad"] == "loaded"
    assert library.stat().st_mtime_ns == stamp and len(list((tmp_path / "native").iterdir())) == 1


@pytest.mark.parametrize("env,reason", [({"MEDJAX_NATIVE": "0"}, "disabled by MEDJAX_NATIVE=0"),
                                        ({"PATH": "/nonexistent", "CXX": ""}, "no C++ compiler found")])
def test_without_the_kernels_the_gradient_is_xla_and_the_same(tmp_path, env, reason):
    out = probe(tmp_path, **env)
    assert out["status"]["conv_pool_grad"].startswith(reason)
    assert out["custom_calls"] == 0 and out["error"] < 1e-4
    assert not (tmp_path / "native").exists()


@needs_compiler
def test_a_source_that_does_not_compile_is_reported_not_raised(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDJAX_NATIVE_DIR", str(tmp_path))
    broken = tmp_path / "broken_kernel_for_test.cc"
    broken.write_text("this is not C++;\n")
    assert native.load(broken, {"medjax_test_broken": "Nothing"}) is False
    reason = native.status()["broken_kernel_for_test"]
    assert reason.startswith("RuntimeError:") and "failed" in reason and "error" in reason
    assert list(tmp_path.glob("*.so")) == []  # no half-written library left in the cache
    assert native.load(broken, {"medjax_test_broken": "Nothing"}) is False  # decided once per process


def test_disable_switches_this_process_to_xla_for_kernels_not_loaded_yet(tmp_path):
    code = ("import json; from medjax import native; native.disable(); "
            "from medjax.models import _conv_pool; print(json.dumps([_conv_pool.native_available(), native.status()]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MEDJAX_NATIVE_DIR": str(tmp_path)})
    assert json.loads(done.stdout) == [False, {"conv_pool_grad": "disabled"}]
    assert list(tmp_path.iterdir()) == []  # nothing was compiled
