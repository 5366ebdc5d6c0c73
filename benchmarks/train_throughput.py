"""Training throughput: medjax's SimpleCNN train step against the same network in PyTorch eager, on CPU.

Both sides train the same network (Conv3x3(16)-ReLU-MaxPool2, Conv3x3(32)-..., Conv3x3(64)-...,
flatten, Dense(1); 23,873 parameters, asserted equal) on the same batch shapes
(28x28x1 images; NHWC in JAX, NCHW in PyTorch) with BCE-with-logits and Adam (lr 1e-3),
using the same number of CPU threads (each worker is pinned to ``--threads`` CPUs;
``torch.set_num_threads`` on the PyTorch side). medjax runs the path ``fit`` uses:
``train_steps_scan`` over chunks of ``--scan-steps`` batches, state donated, each batch
larger than ``--micro-batch`` (fit's default 128) in gradient-summed chunks of that size,
with the native gradient kernels of :mod:`medjax.native` when they are built
(``--native off``: the pure-XLA gradient; the header line says which ran).

Each library runs in its own worker process; for each batch size the runs are
interleaved (jax, torch, jax, torch, ...) and the median of ``--runs`` runs of
``--steps`` steps is reported:

    batch=128 medjax_img_s=... torch_img_s=... ratio=...
    min_ratio=...

Usage: ``python benchmarks/train_throughput.py [--batch-sizes 32,128,512] [--runs 5] [--quick]``.
PyTorch is the optional ``bench`` extra (``pip install torch==2.13.0`` from a CPU wheel);
without it the script says so and exits 0.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

FEATURES = (16, 32, 64)
SIZE = 28


# ----------------------------------------------------------------------------- workers

def jax_worker(args: argparse.Namespace) -> None:
    import jax
    import numpy as np
    import optax

    from medjax.models import SimpleCNN
    from medjax.train import create_train_state, train_steps_scan

    model = SimpleCNN(features=FEATURES)
    cache: dict[int, dict] = {}

    def setup(batch: int) -> dict:
        rng = np.random.default_rng(batch)
        xs = rng.random((args.scan_steps, batch, SIZE, SIZE, 1), dtype=np.float32)
        ys = (rng.random((args.scan_steps, batch)) > 0.5).astype(np.float32)
        state = create_train_state(model, jax.random.key(0), xs[0, :1], optax.adam(1e-3))
        return {"state": state, "xs": jax.device_put(xs), "ys": jax.device_put(ys)}

    def run(batch: int) -> float:
        if batch not in cache:
            cache[batch] = setup(batch)
        c = cache[batch]
        t0 = time.perf_counter()
        for _ in range(args.steps // args.scan_steps):
            c["state"], sums = train_steps_scan(c["state"], c["xs"], c["ys"], task="binary",
                                                micro_batch=args.micro_batch or None)
        jax.block_until_ready(sums)
        return time.perf_counter() - t0

    state = create_train_state(model, jax.random.key(0), np.zeros((1, SIZE, SIZE, 1), np.float32),
                               optax.adam(1e-3))
    params = sum(p.size for p in jax.tree.leaves(state.params))
    from medjax import native
    from medjax.models import _conv_pool

    _conv_pool.native_available()
    _common.reply({"params": int(params), "backend": jax.default_backend(),
                   "threads": len(_common.available_cpus()),
                   "native": native.status().get("conv_pool_grad", "not tried").replace(" ", "_")})
    _common.serve(lambda cmd: {"seconds": run(int(cmd))})


def torch_worker(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    layers, cin = [], 1
    for width in FEATURES:
        layers += [torch.nn.Conv2d(cin, width, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2)]
        cin = width
    side = SIZE
    for _ in FEATURES:
        side //= 2
    net = torch.nn.Sequential(*layers, torch.nn.Flatten(), torch.nn.Linear(side * side * cin, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    cache: dict[int, tuple] = {}

    def run(batch: int) -> float:
        if batch not in cache:
            g = torch.Generator().manual_seed(batch)
            cache[batch] = (torch.rand(args.scan_steps, batch, 1, SIZE, SIZE, generator=g),  # NCHW
                            (torch.rand(args.scan_steps, batch, generator=g) > 0.5).float())
        xs, ys = cache[batch]
        t0 = time.perf_counter()
        for step in range(args.steps):
            i = step % args.scan_steps
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(xs[i])[:, 0], ys[i])
            loss.backward()
            opt.step()
        loss.item()
        return time.perf_counter() - t0

    _common.reply({"params": sum(p.numel() for p in net.parameters()), "backend": "cpu",
                   "threads": torch.get_num_threads()})
    _common.serve(lambda cmd: {"seconds": run(int(cmd))})


# ----------------------------------------------------------------------------- parent

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-sizes", default="32,128,512", help="comma-separated (default 32,128,512)")
    p.add_argument("--steps", type=int, default=16, help="training steps per timed run (default 16)")
    p.add_argument("--scan-steps", type=int, default=8, help="medjax steps per compiled call, as fit (default 8)")
    p.add_argument("--micro-batch", type=int, default=128,
                   help="medjax gradient-summed chunk size, as fit (default 128; 0: whole batches)")
    p.add_argument("--runs", type=int, default=5, help="timed runs per library and batch size (default 5)")
    p.add_argument("--threads", type=int, default=len(_common.available_cpus()),
                   help="CPU threads for both libraries (default: all CPUs available)")
    p.add_argument("--jax-platform", default="cpu", help="JAX_PLATFORMS for the medjax worker (default cpu)")
    p.add_argument("--native", choices=("auto", "off"), default="auto",
                   help="medjax's native gradient kernels: auto (used when built) or off (MEDJAX_NATIVE=0, pure XLA)")
    p.add_argument("--quick", action="store_true", help="a seconds-long smoke run (batch 8, 2 steps, 1 run)")
    p.add_argument("--worker", choices=("jax", "torch"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.batch_sizes, args.steps, args.scan_steps, args.runs = "8", 2, 2, 1
    if args.steps % args.scan_steps:
        p.error(f"--steps ({args.steps}) must be a multiple of --scan-steps ({args.scan_steps})")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        _common.pin_threads(args.threads)
        (jax_worker if args.worker == "jax" else torch_worker)(args)
        return 0
    batches = [int(b) for b in args.batch_sizes.split(",")]
    print(_common.header("train_throughput", threads=args.threads, steps_per_run=args.steps,
                         scan_steps=args.scan_steps, micro_batch=args.micro_batch, runs=args.runs), flush=True)
    if importlib.util.find_spec("torch") is None:
        print("skip: PyTorch is not installed; install the bench extra: pip install torch==2.13.0 "
              "(a CPU wheel, e.g. --index-url https://download.pytorch.org/whl/cpu)")
        return 0
    passed = [f"--{k.replace('_', '-')}={v}" for k, v in
              (("steps", args.steps), ("scan_steps", args.scan_steps), ("threads", args.threads),
               ("micro_batch", args.micro_batch))]
    script = os.path.abspath(__file__)
    jax_env = {"JAX_PLATFORMS": args.jax_platform, **({"MEDJAX_NATIVE": "0"} if args.native == "off" else {})}
    workers = {"jax": _common.Worker(script, "jax", passed, jax_env),
               "torch": _common.Worker(script, "torch", passed)}
    try:
        counts = {k: w.hello["params"] for k, w in workers.items()}
        assert counts["jax"] == counts["torch"], f"parameter counts differ: {counts}"
        print(f"# params={counts['jax']} medjax_backend={workers['jax'].hello['backend']} "
              f"native_kernels={workers['jax'].hello['native']} "
              f"threads jax={workers['jax'].hello['threads']} torch={workers['torch'].hello['threads']}", flush=True)
        ratios = []
        for batch in batches:
            for w in workers.values():
                w.ask(str(batch))  # warm-up: compile (JAX), allocator and oneDNN primitives (PyTorch)
            seconds = {"jax": [], "torch": []}
            for _ in range(args.runs):
                for kind, w in workers.items():  # interleaved: jax, torch, jax, torch, ...
                    seconds[kind].append(w.ask(str(batch))["seconds"])
            rate = {k: args.steps * batch / _common.median(v) for k, v in seconds.items()}
            ratios.append(rate["jax"] / rate["torch"])
            print(f"batch={batch} medjax_img_s={rate['jax']:.1f} torch_img_s={rate['torch']:.1f} "
                  f"ratio={ratios[-1]:.2f}", flush=True)
        print(f"min_ratio={min(ratios):.2f} (target >= 1.5)")
    finally:
        for w in workers.values():
            w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
