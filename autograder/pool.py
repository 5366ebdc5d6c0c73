"""Parallel grading with warm children.

:class:`WarmPool` keeps ``jobs`` spare student processes forked ahead from the
zygote (NumPy and JAX already imported, backend initialised while they wait);
each serves exactly one submission and is then killed. :func:`grade_all` runs
``jobs`` submissions at a time in threads of the trusted parent (the heavy work
happens in the children), consults the regrade cache, and writes every
student's files as soon as they change and ``grades.csv`` after every submission.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from autograder import results as out
from autograder.grade import Limits, ResultCache, StudentResult, Suite, cache_key, grade_submission
from autograder.sandbox import Child, SandboxLimits, Zygote
from autograder.submissions import Submission


class WarmPool:
    """Pre-forked sandboxed interpreters, one per submission."""

    def __init__(self, items_module: str, *, spares: int = 2, limits: SandboxLimits = SandboxLimits(),
                 strong: bool | None = None):
        self.zygote = Zygote(items_module, limits=limits, strong=strong)
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


def grade_all(subs: list[Submission], suite: Suite, out_dir: str | Path, *, jobs: int | None = None,
              limits: Limits = Limits(), sandbox: SandboxLimits = SandboxLimits(), strong: bool | None = None,
              use_cache: bool = True, on_result: Callable[[StudentResult], None] | None = None) -> list[StudentResult]:
    """Grade every submission into ``out_dir``; one result per submission, in input order."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = max(1, jobs or os.cpu_count() or 1)
    cache = ResultCache(out_dir / ".cache" if use_cache else None)
    suite.compute_expected(out_dir / ".cache" if use_cache else None)
    progress = Progress(len(subs))
    grade_ids = [i.grade_id for i in suite.items]
    done: dict[int, StudentResult] = {}
    lock = threading.Lock()
    pool = WarmPool(suite.items_module, spares=jobs, limits=sandbox, strong=strong)

    def work(index: int, sub: Submission) -> StudentResult:
        key = cache_key(sub, suite, limits)
        cached = cache.get(key)
        if cached is not None:
            cached.student, cached.cached = sub.student, True
            result = cached
        else:
            result = grade_submission(sub, suite, pool.get, limits=limits,
                                      on_update=lambda r: out.write_results(r, out_dir))
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
