"""Smoke runs of the throughput and compile-latency benchmarks (``--quick``): they run and print parseable lines.

No timing is asserted (the machine is shared); the figures' format, their
sanity (positive, finite) and a clean stderr are.
"""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
NUMBER = r"([0-9]+(?:\.[0-9]+)?)"
pytestmark = pytest.mark.slow


def run(script: str, *args: str) -> str:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                          timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    return proc.stdout


def test_train_throughput_quick_prints_rates_and_min_ratio():
    out = run("train_throughput.py", "--quick")
    assert out.startswith("# train_throughput: date=")
    assert "threads=" in out.splitlines()[0] and "jax=" in out.splitlines()[0]
    if "skip: PyTorch is not installed" in out:
        pytest.skip("PyTorch (the bench extra) is not installed")
    rows = re.findall(rf"^batch=(\d+) medjax_img_s={NUMBER} torch_img_s={NUMBER} ratio={NUMBER}$", out, re.M)
    assert [int(r[0]) for r in rows] == [8]
    jax_rate, torch_rate, ratio = map(float, rows[0][1:])
    assert jax_rate > 0 and torch_rate > 0 and math.isclose(ratio, jax_rate / torch_rate, rel_tol=0.02, abs_tol=0.01)
    (minimum,) = re.findall(rf"^min_ratio={NUMBER} \(target >= 1\.5\)$", out, re.M)
    assert float(minimum) == pytest.approx(ratio, abs=0.005)
    assert re.search(r"^# params=23873 ", out, re.M)


def test_compile_latency_quick_prints_cold_and_warm():
    out = run("compile_latency.py", "--quick")
    assert out.startswith("# compile_latency: date=")
    found = {}
    for phase, target in (("cold", "3"), ("warm", "1")):
        m = re.search(rf"^{phase} train_step_s={NUMBER} train_steps_scan_s={NUMBER} train_step_cpu_s={NUMBER} "
                      rf"train_steps_scan_cpu_s={NUMBER} second_step_s={NUMBER} setup_s={NUMBER} "
                      rf"\(target <= {target} s\)$", out, re.M)
        assert m, out
        found[phase] = [float(v) for v in m.groups()]
        assert all(v >= 0 for v in found[phase])
    # the warm process loads the step from the cache: its first call cannot cost more than the cold compile
    assert found["warm"][2] < found["cold"][2]


def test_run_all_lists_every_script_but_itself_and_helpers():
    sys.path.insert(0, str(BENCH))
    try:
        import run_all
    finally:
        sys.path.remove(str(BENCH))
    names = [p.name for p in run_all.scripts()]
    assert "train_throughput.py" in names and "compile_latency.py" in names
    assert "run_all.py" not in names and not any(n.startswith("_") for n in names)
    assert names == sorted(names)
