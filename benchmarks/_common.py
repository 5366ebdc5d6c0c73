"""Shared helpers for the benchmark scripts: medians, pinned threads, worker processes, a header line.

Each library under test runs in its own long-lived worker process (its own
thread pools, nothing spinning while the other one runs); the parent sends one
command per line and reads one JSON reply per line, so runs can be interleaved
(jax, torch, jax, torch, ...) on a machine whose load changes under us.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from typing import Any


def median(values: Sequence[float]) -> float:
    """The median of a non-empty list of numbers."""
    return float(statistics.median(values))


def available_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity mask)."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def pin_threads(n: int) -> int:
    """Pin this process to ``n`` of its CPUs, before JAX or PyTorch start their thread pools.

    XLA's CPU client sizes its intra-op thread pool from the affinity mask; PyTorch
    is told with ``torch.set_num_threads`` (the caller does that). Returns ``n``.
    """
    cpus = available_cpus()
    if not 1 <= n <= len(cpus):
        raise SystemExit(f"--threads must be between 1 and {len(cpus)} (the CPUs available), got {n}")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus[:n])
    return n


def header(name: str, **extra: Any) -> str:
    """One comment line: benchmark, UTC time, machine, Python, library versions, command line."""
    import importlib.metadata as md

    def version(pkg: str) -> str:
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return "absent"

    fields = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "machine": f"{platform.machine()} {len(available_cpus())} cpus",
              "python": platform.python_version(), "jax": version("jax"), "jaxlib": version("jaxlib"),
              "flax": version("flax"), "torch": version("torch"), **extra,
              "command": " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])}
    return f"# {name}: " + ", ".join(f"{k}={v}" for k, v in fields.items())


class Worker:
    """A child process running ``script --worker <kind> ...`` that answers one JSON line per command."""

    def __init__(self, script: str, kind: str, args: Sequence[str], env: dict[str, str] | None = None):
        self.kind = kind
        self.proc = subprocess.Popen([sys.executable, script, "--worker", kind, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
        self.hello = self.read()

    def read(self) -> dict[str, Any]:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark worker {self.kind!r} exited (code {self.proc.wait()})")
        return json.loads(line)

    def ask(self, command: str) -> dict[str, Any]:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def serve(handle) -> None:
    """The worker's loop: ``handle(command) -> dict`` for each stdin line, replies as JSON on stdout."""
    for line in sys.stdin:
        reply = handle(line.strip())
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


def reply(payload: dict[str, Any]) -> None:
    """Write one JSON line to the parent (used for the worker's first message)."""
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()
