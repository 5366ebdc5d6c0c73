"""Parallel grading with warm children.

:class:`WarmPool` keeps ``jobs`` spare student processes forked ahead from the
zygote (NumPy and JAX already imported, backend initialised while they wait);
each serves exactly one submission and is then killed. :func:`grade_all` runs
``jobs`` submissions at a time in threads of the trusted parent (the heavy work
happens in the children), consults the regrade cache, and writes every
student's files as soon as they change and ``grades.csv`` after every submission.
"""
from __future__ import annotations

import ast
import os
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from autograder import results as out
from autograder import static
from autograder.grade import (Limits, ResultCache, StudentResult, Suite, _Session, cache_key, grade_submission,
                              graded_cells, read_notebook)
from autograder.sandbox import PRELOAD, Child, SandboxLimits, Zygote, strong_mode_available
from autograder.submissions import Submission


class WarmPool:
    """Pre-forked sandboxed interpreters, one per submission."""

    def __init__(self, items_module: str, *, spares: int = 2, limits: SandboxLimits = SandboxLimits(),
                 strong: bool | None = None, jax_cache: Path | None = None, preload: tuple[str, ...] = PRELOAD):
        self.zygote = Zygote(items_module, limits=limits, strong=strong, jax_cache=jax_cache, preload=preload)
        self.spares: deque[Child] = deque()
        self.size = max(1, spares)
        self.lock = threading.Lock()
        for _ in range(self.size):
            self.spares.append(self.zygote.spawn())

    @property
    def strong(self) -> bool:
        return self.zygote.strong

    def get(self) -> Child:
        """A warm child for one submission; a fresh spare is forked in its place."""
        with self.lock:
            child = self.spares.popleft() if self.spares else self.zygote.spawn()
            self.spares.append(self.zygote.spawn())
        return child

    def close(self) -> None:
        with self.lock:
            while self.spares:
                self.spares.popleft().close()
        self.zygote.close()

    def __enter__(self) -> "WarmPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Progress:
    """``done/total, rate, failures`` on stderr, only when stderr is a terminal."""

    def __init__(self, total: int, stream=None):
        self.total, self.done, self.failed, self.start = total, 0, 0, time.monotonic()
        self.stream = stream or sys.stderr
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()

    def tick(self, result: StudentResult) -> None:
        self.done += 1
        self.failed += result.status != "graded"
        if self.enabled:
            rate = self.done / max(time.monotonic() - self.start, 1e-9)
            end = "\n" if self.done == self.total else ""
            print(f"\rgraded {self.done}/{self.total}  {rate:.1f}/s  errors {self.failed}",
                  end=end, file=self.stream, flush=True)


GRADER_FAILURE = "grader failure"
_CACHE_ENTRY = re.compile(r"^(?:jit|pjit|pmap)_(?P<name>.*)-[0-9a-f]{64}(?:-.*)?$")


def warm_up(pool: WarmPool, suite: Suite, notebook: Path, cache_dir: Path, limits: Limits) -> None:
    """Fill the shared compilation cache by grading the instructor's solution in trusted children.

    Students later read the cache (read-only) and skip compiling the same small
    programs (``jnp`` operations on the same shapes). Entries compiled for
    functions the solution defines (a jitted solution function) are deleted, so
    the cache holds library operations only, never the solution's own code. One
    child per job takes the next item until none is left (compiling is the cost).
    """
    every = read_notebook(notebook.read_bytes())
    cells = graded_cells(every, suite, {source for _, source in every})
    cache_dir.chmod(0o777)
    limits = Limits(submission=max(limits.submission, 900), test=max(limits.test, 120),
                    cell=max(limits.cell_limit, 600))
    todo = deque(suite.items)

    def run() -> None:
        session = _Session(lambda: pool.zygote.spawn(writable_cache=True), cells,
                           StudentResult("warm-up", suite.assignment), limits)
        try:
            while True:
                try:
                    item = todo.popleft()
                except IndexError:
                    return
                for index in range(len(suite.cases(item))):
                    session.probe(item, suite.inputs[(item.grade_id, index)], False)
        finally:
            session.close()

    with ThreadPoolExecutor(max_workers=pool.size) as ex:
        for fut in [ex.submit(run) for _ in range(min(pool.size, len(todo)))]:
            fut.result()
    own = _defined_names(static.parse(s for _, s in every))
    for entry in cache_dir.iterdir():
        m = _CACHE_ENTRY.match(entry.name)
        if entry.is_file() and (m is None or m["name"] in own or m["name"].startswith("<")):
            entry.unlink()
    cache_dir.chmod(0o755)
    (cache_dir / ".complete").write_text(notebook.name)


def instructor_cells(notebook: Path | None) -> frozenset[str]:
    """The code cell sources of the instructor's notebook (empty when there is none or it is unreadable)."""
    if notebook is None:
        return frozenset()
    try:
        return frozenset(source for _, source in read_notebook(Path(notebook).read_bytes()))
    except (OSError, ValueError):
        return frozenset()


def imported_modules(sources: Iterable[str]) -> tuple[str, ...]:
    """The absolute imports of these (trusted) cells, in order: what the zygote preloads.

    >>> imported_modules(["import numpy as np, jax.numpy\\nfrom matplotlib import pyplot", "from . import x"])
    ('numpy', 'jax.numpy', 'matplotlib', 'matplotlib.font_manager')
    """
    names: list[str] = []
    for tree in static.parse(sources):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.append(node.module)
    if any(n.split(".")[0] == "matplotlib" for n in names):
        names.append("matplotlib.font_manager")  # its font list is built once, in the zygote
    return tuple(dict.fromkeys(names))


def _defined_names(trees) -> set[str]:
    names = {"<lambda>", "<unnamed function>", "<unnamed wrapped function>"}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return names


def grade_all(subs: list[Submission], suite: Suite, out_dir: str | Path, *, jobs: int | None = None,
              limits: Limits = Limits(), sandbox: SandboxLimits = SandboxLimits(), strong: bool | None = None,
              use_cache: bool = True, warmup: Path | None = None,
              on_result: Callable[[StudentResult], None] | None = None) -> list[StudentResult]:
    """Grade every submission into ``out_dir``; one result per submission, in input order.

    ``warmup``: the instructor's solution notebook, run once (trusted) to fill the
    shared read-only compilation cache (strong sandbox mode only); its unchanged
    demonstration cells are not run in submissions (:func:`autograder.grade.graded_cells`).
    """
    out_dir = Path(out_dir).resolve()  # absolute: the sandbox runs elsewhere and mounts the cache by path
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = max(1, jobs or os.cpu_count() or 1)
    cache = ResultCache(out_dir / ".cache" if use_cache else None)
    progress = Progress(len(subs))
    grade_ids = [i.grade_id for i in suite.items]
    done: dict[int, StudentResult] = {}
    lock = threading.Lock()
    suite.compute_expected()
    trusted = instructor_cells(warmup)
    strong = strong_mode_available() if strong is None else strong
    xla = out_dir / ".cache" / f"xla-{suite.version[:16]}" if warmup and strong else None
    if xla is not None:
        xla.mkdir(parents=True, exist_ok=True)
    pool = WarmPool(suite.items_module, spares=jobs, limits=sandbox, strong=strong, jax_cache=xla,
                    preload=imported_modules(sorted(trusted)) if trusted else PRELOAD)
    if xla is not None and not (xla / ".complete").exists():
        try:
            warm_up(pool, suite, Path(warmup), xla, limits)
        except BaseException:
            pool.close()
            raise

    def work(index: int, sub: Submission) -> StudentResult:
        key = cache_key(sub, suite, limits)
        cached = cache.get(key)
        if cached is not None:
            cached.student, cached.cached = sub.student, True
            result = cached
        else:
            try:
                result = grade_submission(sub, suite, pool.get, limits=limits,
                                          on_update=lambda r: out.write_results(r, out_dir), trusted=trusted)
            except Exception as exc:  # noqa: BLE001 - a grader bug: this row says so, the run goes on
                result = StudentResult(sub.student, suite.assignment)
                result.fault(f"{GRADER_FAILURE}: {type(exc).__name__}: {exc}")
            else:
                cache.put(key, result)
        out.write_results(result, out_dir)
        out.write_feedback(result, out_dir)
        return result

    try:
        with ThreadPoolExecutor(max_workers=jobs) as ex:
            futures = {ex.submit(work, i, s): i for i, s in enumerate(subs)}
            for fut in as_completed(futures):
                result = fut.result()
                with lock:
                    done[futures[fut]] = result
                    out.write_grades(list(done.values()), grade_ids, out_dir)
                progress.tick(result)
                if on_result:
                    on_result(result)
    finally:
        pool.close()
    return [done[i] for i in range(len(subs))]
