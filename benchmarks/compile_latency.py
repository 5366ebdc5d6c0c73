"""Compile latency of the first SimpleCNN training step: cold (empty persistent cache) and warm.

Two fresh Python processes share one new JAX compilation-cache folder
(``medjax.train.enable_compilation_cache``). In each, after the imports and
the model's initialisation, the wall time of the first call of each step is
measured (trace, lower, compile or load from the cache, run once), in wall time
and in the process's CPU time (``*_cpu_s``; on a loaded machine the wall time
counts other processes' turns, the CPU time does not):
``train_step`` (one batch) and ``train_steps_scan`` (a chunk of ``--scan-steps``
batches, what ``fit`` compiles). The first process finds the cache empty
(cold), the second finds it filled (warm). Targets: cold <= 3 s, warm <= 1 s.

    cold train_step_s=... train_steps_scan_s=... (target <= 3 s)
    warm train_step_s=... train_steps_scan_s=... (target <= 1 s)

Usage: ``python benchmarks/compile_latency.py [--batch-size 128] [--quick]``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

TARGETS = {"cold": 3.0, "warm": 1.0}


def child(args: argparse.Namespace) -> None:
    """One fresh process: enable the cache in ``args.cache``, time each step's first call, print JSON."""
    t_start = time.perf_counter()
    import jax
    import numpy as np
    import optax

    from medjax.models import SimpleCNN
    from medjax.train import create_train_state, enable_compilation_cache, train_step, train_steps_scan

    enable_compilation_cache(args.cache)
    rng = np.random.default_rng(0)
    xs = rng.random((args.scan_steps, args.batch_size, 28, 28, 1), dtype=np.float32)
    ys = (rng.random((args.scan_steps, args.batch_size)) > 0.5).astype(np.float32)
    state = create_train_state(SimpleCNN(), jax.random.key(0), xs[0, :1], optax.adam(1e-3))
    jax.block_until_ready(state)
    result = {"setup_s": time.perf_counter() - t_start}
    t0, c0 = time.perf_counter(), time.process_time()
    state, sums = train_step(state, xs[0], ys[0], task="binary")
    jax.block_until_ready(sums)
    result["train_step_s"], result["train_step_cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    state, sums = train_steps_scan(state, xs, ys, task="binary")
    jax.block_until_ready(sums)
    result["train_steps_scan_s"] = time.perf_counter() - t0
    result["train_steps_scan_cpu_s"] = time.process_time() - c0
    t0 = time.perf_counter()
    state, sums = train_step(state, xs[0], ys[0], task="binary")
    jax.block_until_ready(sums)
    result["second_step_s"] = time.perf_counter() - t0  # run time alone, to read the compile share
    print(json.dumps(result), flush=True)


def measure(script: str, cache: str, args: argparse.Namespace) -> dict:
    out = subprocess.run([sys.executable, script, "--child", "--cache", cache, "--batch-size", str(args.batch_size),
                          "--scan-steps", str(args.scan_steps)], capture_output=True, text=True, check=True,
                         env={**os.environ, "JAX_PLATFORMS": args.jax_platform})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--scan-steps", type=int, default=8, help="batches per train_steps_scan call, as fit (default 8)")
    p.add_argument("--jax-platform", default="cpu", help="JAX_PLATFORMS for the child processes (default cpu)")
    p.add_argument("--quick", action="store_true", help="a smoke run (batch 8, 2 scan steps)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--cache", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.batch_size, args.scan_steps = 8, 2
    if args.child:
        child(args)
        return 0
    print(_common.header("compile_latency", batch_size=args.batch_size, scan_steps=args.scan_steps), flush=True)
    with tempfile.TemporaryDirectory(prefix="medjax-compile-cache-") as cache:
        for phase in ("cold", "warm"):
            r = measure(os.path.abspath(__file__), cache, args)
            print(f"{phase} train_step_s={r['train_step_s']:.2f} train_steps_scan_s={r['train_steps_scan_s']:.2f} "
                  f"train_step_cpu_s={r['train_step_cpu_s']:.2f} train_steps_scan_cpu_s={r['train_steps_scan_cpu_s']:.2f} "
                  f"second_step_s={r['second_step_s']:.3f} setup_s={r['setup_s']:.2f} "
                  f"(target <= {TARGETS[phase]:g} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
