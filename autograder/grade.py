"""The trusted side of the grader: per submission, per item, per case.

For each submission the parent reads the notebook as JSON (never executes it),
checks banned names in its source (:mod:`autograder.static`), sends its code
cells to a fresh sandboxed child (:mod:`autograder.sandbox`), then for every
:class:`~medjax.selfcheck.cases.Item` and every case (visible, then hidden) sends
the case's inputs as plain data, receives the output as plain data, and judges
it against the expected value computed here from the trusted reference.
Expected values never enter the child; points come from the trusted item list.

Partial credit: an item earns ``points * passed / cases``; a banned call earns 0.
A fault (syntax error, import error, timeout, out of memory, crash) gives the
status ``error: <reason>`` and keeps what was earned before it; after a crash
or timeout a fresh child (skipping the cell at fault) grades the next items.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medjax.selfcheck.cases import Case, Item, expected_value, judge, to_plain

from autograder import static
from autograder.dependencies import needed_cells
from autograder.sandbox import Child, ChildTimeout
from autograder.submissions import Submission

GRADER_VERSION = "1"
MAX_CODE_BYTES = 2 << 20
MAX_RESTARTS = 3
# Banned in every item: the self-check's stored expectations ship with medjax, and the
# instructor's package holds the answers.
ALWAYS_BANNED = ("medjax.selfcheck", "autograder")
_RUN_CELL_MAGICS = ("%%time", "%%timeit", "%%capture")


# --------------------------------------------------------------------------- the trusted test suite


@dataclass
class Suite:
    """An assignment's trusted items, hidden cases and expected values (computed once)."""

    assignment: str
    items: list[Item]
    hidden: dict[str, tuple[Case, ...]]
    items_module: str
    version: str
    expected: dict[tuple[str, int], Any] = field(default_factory=dict)
    inputs: dict[tuple[str, int], tuple[Any, Any]] = field(default_factory=dict)
    # Stored outputs of the known mistakes per case (frozen suites, variant cases); models are used otherwise.
    mistakes: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    tag: str = ""  # the assignment version this suite grades (the release's ``metadata.medjax.version``)
    spec: dict = field(default_factory=dict)  # variant parameters declared by that version
    refusal: str = ""  # set when this submission cannot be graded with any suite (e.g. unknown version)
    # Picks the suite of one submission (its released version, its variant): autograder.versions.Suites.
    select: Callable[[Submission], "Suite"] | None = None

    def for_submission(self, sub: Submission) -> "Suite":
        """The suite that grades ``sub``: itself, unless a selector picks a version or variant."""
        return self.select(sub) if self.select is not None else self

    def cases(self, item: Item) -> list[tuple[Case, bool]]:
        """(case, hidden) pairs: visible first."""
        return [(c, False) for c in item.cases] + [(c, True) for c in self.hidden.get(item.grade_id, ())]

    def expected_for(self, item: Item, index: int) -> Any:
        return self.expected[(item.grade_id, index)]

    def compute_expected(self) -> None:
        """Run the trusted references once for every case (kept in memory, shared by all submissions)."""
        if self.expected:
            return
        for item in self.items:
            for i, (case, _hidden) in enumerate(self.cases(item)):
                self.inputs[(item.grade_id, i)] = (to_plain(pack_args(tuple(case.args))),
                                                   to_plain(pack_args(dict(case.kwargs))))
                self.expected[(item.grade_id, i)] = expected_value(item, case)


def _source_hash(modules: list[str]) -> str:
    h = hashlib.sha256(GRADER_VERSION.encode())
    roots = [Path(__file__).parent, Path(importlib.import_module("medjax").__file__).parent]
    for root in roots:
        for p in sorted(root.rglob("*.py")):
            if "hidden" not in p.parts:
                h.update(p.read_bytes())
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec and spec.origin:
            h.update(Path(spec.origin).read_bytes())
    return h.hexdigest()


def load_suite(assignment: str, *, items_module: str | None = None, hidden_module: str | None = None) -> Suite:
    """The suite of ``assignment``: ``medjax.selfcheck.<id>`` and ``autograder.hidden.<id>`` by default.

    The shipped items of ``medjax.selfcheck.<id>`` carry no answers: the suite uses the
    trusted items of :func:`autograder.items.full_items` (references and mistake models
    attached). The sandboxed child imports ``items_module`` for the probes only.
    """
    items_module = items_module or f"medjax.selfcheck.{assignment}"
    hidden_module = hidden_module or f"autograder.hidden.{assignment}"
    if items_module == f"medjax.selfcheck.{assignment}":
        from autograder.items import full_items

        items = list(full_items(assignment).values())
    else:  # a custom items module (tests, a course's own) brings its references itself
        items = list(importlib.import_module(items_module).ITEMS)
    try:
        hidden = dict(importlib.import_module(hidden_module).HIDDEN)
    except ModuleNotFoundError as exc:
        if exc.name and hidden_module.startswith(exc.name):
            hidden = {}
        else:
            raise
    ids = [item.grade_id for item in items]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{items_module}: duplicate grade ids")
    from autograder import release, variants

    source = release.source_path(assignment)
    tag, spec = "", {}
    if source.exists():
        nb = json.loads(source.read_text(encoding="utf-8"))
        tag, spec = release.default_version(nb), variants.spec_of(nb)
    return Suite(assignment, items, hidden, items_module, _source_hash([items_module, hidden_module]),
                 tag=tag, spec=spec)


# --------------------------------------------------------------------------- results


@dataclass
class CaseResult:
    passed: bool
    message: str
    what: str
    hidden: bool
    mistake: str | None = None


@dataclass
class ItemResult:
    grade_id: str
    name: str
    points: float
    what: str
    cases: list[CaseResult] = field(default_factory=list)
    total_cases: int = 0
    n_hidden: int = 0
    banned: str = ""
    notes: list[str] = field(default_factory=list)

    def part(self, hidden: bool | None = None) -> tuple[float, float]:
        """(score, max score) of the visible part, the hidden part, or the whole item."""
        n = max(self.total_cases, 1)
        mine = [c for c in self.cases if hidden is None or c.hidden == hidden]
        count = self.total_cases if hidden is None else self._count(hidden)
        earned = 0.0 if self.banned else self.points * sum(c.passed for c in mine) / n
        return round(earned, 6), round(self.points * count / n, 6)

    def _count(self, hidden: bool) -> int:
        return self.n_hidden if hidden else self.total_cases - self.n_hidden

    @property
    def score(self) -> float:
        return self.part()[0]


@dataclass
class StudentResult:
    student: str
    assignment: str
    status: str = "graded"
    items: list[ItemResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    execution_time: float = 0.0
    output_bytes: int = 0
    cached: bool = False

    @property
    def score(self) -> float:
        return round(sum(i.score for i in self.items), 6)

    @property
    def max_score(self) -> float:
        return round(sum(i.points for i in self.items), 6)

    def fault(self, reason: str) -> None:
        self.faults.append(reason)
        self.status = f"error: {self.faults[0]}"

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "StudentResult":
        items = [ItemResult(**{**i, "cases": [CaseResult(**c) for c in i["cases"]]}) for i in d["items"]]
        return cls(**{**d, "items": items})


# --------------------------------------------------------------------------- notebook -> cells


def code_cells(nb: dict) -> list[tuple[int, str]]:
    """(index, source) of the code cells to run: IPython magics and shell lines removed.

    Pure test cells (nbgrader ``grade`` without ``solution``) are skipped: the
    grader runs its own checks instead, and their content is the instructor's.
    """
    cells = []
    raw = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(raw, list):
        raise ValueError("the notebook has no list of cells")
    for i, cell in enumerate(raw):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        nbg = meta.get("nbgrader") if isinstance(meta.get("nbgrader"), dict) else {}
        if nbg.get("grade") is True and nbg.get("solution") is not True:
            continue
        source = cell.get("source", "")
        source = "".join(str(s) for s in source) if isinstance(source, list) else str(source)
        lines = source.splitlines()
        if lines and lines[0].lstrip().startswith("%%"):
            if not lines[0].lstrip().startswith(_RUN_CELL_MAGICS):
                continue  # %%bash, %%writefile, ...: not Python
            lines = lines[1:]
        lines = [ln for ln in lines if not ln.lstrip().startswith(("%", "!"))]
        cells.append((i, "\n".join(lines)))
    return cells


def read_notebook(data: bytes) -> list[tuple[int, str]]:
    """Parse a notebook (bytes) into code cells; ``ValueError`` with a reason when unreadable."""
    try:
        nb = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"unreadable notebook: {type(exc).__name__}: {str(exc)[:200]}") from None
    try:
        cells = code_cells(nb)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"unreadable notebook: {exc}") from None
    size = sum(len(s.encode("utf-8", "replace")) for _, s in cells)
    if size > MAX_CODE_BYTES:
        raise ValueError(f"unreadable notebook: {size} bytes of code (limit {MAX_CODE_BYTES})")
    return cells


def graded_cells(cells: list[tuple[int, str]], suite: Suite, trusted: Collection[str] = ()) -> list[tuple[int, str]]:
    """The cells the child runs: all but the instructor's own cells that no graded name depends on.

    ``trusted``: the sources of the code cells of the instructor's notebook (read by
    the grader from its own copy, never from the submission). A submitted cell is
    skipped only when its source is one of them, unchanged, and the dependency
    analysis (:mod:`autograder.dependencies`) shows that no graded name can depend
    on it: the instructor's demonstration cells (plots, CT examples). Every cell the
    student wrote or edited runs, so its faults are reported as before. Sources are
    compared without the values of ``# variant:`` lines, so a per-student variant's
    demonstration cells are recognised too.
    """
    if not trusted:
        return cells
    from autograder.variants import without_values

    known = {without_values(t) for t in trusted}
    needed = {i for i, _ in needed_cells(cells, [item.name for item in suite.items])}
    return [(i, s) for i, s in cells if i in needed or without_values(s) not in known]


def pack_args(value: Any) -> Any:
    """Mark tuples so the child gets tuples back (``to_plain`` turns them into lists)."""
    if isinstance(value, tuple):
        return {"__tuple__": [pack_args(v) for v in value]}
    if isinstance(value, list):
        return [pack_args(v) for v in value]
    if isinstance(value, dict):
        return {k: pack_args(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- grading one submission


@dataclass
class Limits:
    """Wall-clock limits of the grader (seconds)."""

    submission: float = 120.0  # whole submission, all restarts included
    test: float = 30.0  # one test case
    cell: float | None = None  # one notebook cell (default: the test limit)

    @property
    def cell_limit(self) -> float:
        return self.test if self.cell is None else self.cell


class _Session:
    """One submission's child processes: run cells, probe, restart after a fault."""

    def __init__(self, get_child: Callable[[], Child], cells: list[tuple[int, str]], result: StudentResult,
                 limits: Limits):
        self.get_child, self.cells, self.result, self.limits = get_child, cells, result, limits
        self.deadline = time.monotonic() + limits.submission
        self.skip: set[int] = set()
        self.child: Child | None = None
        self.restarts = -1
        self.cell_errors: dict[int, str] = {}
        self.seq = 0

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def _death(self, child: Child) -> str:
        try:
            msg = child.exit or child.recv(1.0)
        except ChildTimeout:
            msg = None
        if msg and msg.get("op") == "exit":
            sig, code = msg.get("signal", 0), msg.get("code", 0)
            import signal as _signal

            if sig == _signal.SIGXCPU:
                return "timeout (CPU time limit)"
            return f"crashed (signal {_signal.Signals(sig).name})" if sig else f"crashed (exit code {code})"
        return "crashed"

    def close(self) -> None:
        if self.child is not None:
            self.result.output_bytes += self.child.output.total
            self.child.close()
            self.child = None

    def ensure(self) -> Child | None:
        """A child that has run the notebook's cells, or None when out of restarts or time."""
        while self.child is None:
            self.restarts += 1
            if self.restarts > MAX_RESTARTS or self.left() <= 1:
                return None
            child = self.get_child()
            self.child = child
            cells = [[i, s] for i, s in self.cells if i not in self.skip]
            if not child.send({"op": "run", "cells": cells}):
                self.result.fault("crashed")
                self.close()
                continue
            current = None
            until = self._until(self.limits.cell_limit)
            while True:
                try:
                    msg = child.recv(self._remaining(until))
                except ChildTimeout:
                    self.result.fault(self._late(f" in cell {current}" if current is not None else "",
                                                 self.limits.cell_limit))
                    self._skip(current)
                    break
                if msg is None or msg.get("op") == "exit":
                    reason = self._death(child) if msg is None else self._death_from(msg)
                    where = f" in cell {current}" if current is not None else ""
                    self.result.fault(f"{reason}{where}")
                    self._skip(current)
                    break
                if msg.get("op") == "cell":
                    if msg.get("status") == "start":
                        current, until = msg.get("index"), self._until(self.limits.cell_limit)
                    if msg.get("status") == "error":
                        self._cell_error(msg)
                elif msg.get("op") == "ready":
                    return child
                elif msg.get("op") == "fatal":
                    self.result.fault(f"crashed ({msg.get('error', '')[:200]})")
                    self._skip(None)
                    break
            self.close()
        return self.child

    def _death_from(self, msg: dict) -> str:
        self.child.exit = msg
        return self._death(self.child)

    def _skip(self, index: int | None) -> None:
        if index is None:
            self.restarts = MAX_RESTARTS  # a fault outside any cell: no point in retrying
        else:
            self.skip.add(index)

    def _cell_error(self, msg: dict) -> None:
        index, kind, error = msg.get("index"), str(msg.get("kind", "")), str(msg.get("error", ""))
        if index in self.cell_errors:
            return
        self.cell_errors[index] = error
        if kind in ("SyntaxError", "IndentationError", "TabError"):
            self.result.fault(f"syntax error in cell {index}")
        elif kind in ("ImportError", "ModuleNotFoundError"):
            self.result.fault(f"import error in cell {index}: {error[:200]}")
        elif kind == "MemoryError" or "RESOURCE_EXHAUSTED" in error:
            self.result.fault(f"out of memory in cell {index}")
        elif kind in ("SystemExit", "KeyboardInterrupt", "GeneratorExit"):
            self.result.fault(f"crashed in cell {index} ({kind})")
        if kind != "NotImplementedError":
            self.result.notes.append(f"cell {index} raised {error[:300]}")

    def _until(self, limit: float) -> float:
        """A deadline for one cell or case, never past the submission's."""
        return min(time.monotonic() + limit, self.deadline)

    @staticmethod
    def _remaining(until: float) -> float:
        """Seconds left before ``until``; :class:`ChildTimeout` when none (a flood of lines cannot extend it)."""
        left = until - time.monotonic()
        if left <= 0:
            raise ChildTimeout()
        return left

    def _late(self, where: str, limit: float) -> str:
        if self.left() <= 0.05:
            return f"timeout{where} (the submission ran over {self.limits.submission:g} s)"
        return f"timeout{where} (over {limit:g} s)"

    def probe(self, item: Item, inputs: tuple[Any, Any], jaxpr: bool) -> tuple[str, dict]:
        """Run one case (its encoded args and kwargs): ('ok'|'error'|'timeout'|'crash'|'gone', answer)."""
        child = self.ensure()
        if child is None:
            return "gone", {}
        self.seq += 1
        req = {"op": "probe", "seq": self.seq, "grade_id": item.grade_id, "args": inputs[0], "kwargs": inputs[1],
               "jaxpr": jaxpr}
        if not child.send(req):
            reason = self._death(child)
            self.result.fault(f"{reason} in {item.name}")
            self.close()
            return "crash", {}
        until = self._until(self.limits.test)
        while True:
            try:
                msg = child.recv(self._remaining(until))
            except ChildTimeout:
                self.result.fault(self._late(f" in {item.name}", self.limits.test))
                self.close()
                return "timeout", {}
            if msg is None or msg.get("op") == "exit":
                reason = self._death(child) if msg is None else self._death_from(msg)
                self.result.fault(f"{reason} in {item.name}")
                self.close()
                return "crash", {}
            if msg.get("op") == "result" and msg.get("seq") == self.seq:  # others: forged or stale
                return ("ok" if msg.get("ok") else "error"), msg


def _error_verdict(item: Item, answer: dict, hidden: bool) -> str:
    kind = str(answer.get("kind", "Error"))
    if kind == "NotImplementedError":
        return f"{item.name} is not implemented yet (it raises NotImplementedError)"
    if kind == "NameError" and not answer.get("error", "").startswith("NameError"):
        return str(answer.get("error"))
    if hidden:  # the student's own message could carry the hidden inputs back out
        return f"{item.name} raised {kind}"
    return f"{item.name} raised {str(answer.get('error', kind))[:500]}"


def _judge_answer(item: Item, case: Case, answer: dict, expected: Any, hidden: bool,
                  mistakes: dict[str, Any] | None = None) -> CaseResult:
    try:
        verdict = judge(item, case, answer.get("value"), expected, reveal=not hidden, mistake_outputs=mistakes)
    except (TypeError, ValueError) as exc:
        return CaseResult(False, f"the result could not be read ({type(exc).__name__})", _what(case, hidden), hidden)
    return CaseResult(verdict.passed, verdict.message, _what(case, hidden), hidden, verdict.mistake)


def _what(case: Case, hidden: bool) -> str:
    return "" if hidden else case.what  # a hidden case's description stays on the instructor's side


def _banned_message(item: Item, name: str) -> str:
    return (f"{item.name} calls {name}, which this exercise asks you to implement yourself: "
            f"0 of {item.points:g} points")


def grade_submission(sub: Submission, suite: Suite, get_child: Callable[[], Child], *, limits: Limits = Limits(),
                     on_update: Callable[[StudentResult], None] | None = None,
                     trusted: Collection[str] = ()) -> StudentResult:
    """Grade one submission; ``on_update`` is called after every case (results as they come).

    ``trusted``: the instructor's cell sources, see :func:`graded_cells`.
    """
    start = time.monotonic()
    suite = suite.for_submission(sub)
    suite.compute_expected()
    result = StudentResult(sub.student, suite.assignment)
    result.items = [ItemResult(it.grade_id, it.name, float(it.points), it.what,
                               total_cases=len(suite.cases(it)), n_hidden=len(suite.hidden.get(it.grade_id, ())))
                    for it in suite.items]
    update = on_update or (lambda r: None)
    try:
        if sub.error or suite.refusal:
            raise ValueError(sub.error or suite.refusal)
        cells = read_notebook(sub.data)
    except ValueError as exc:
        result.fault(str(exc))
        result.execution_time = round(time.monotonic() - start, 3)
        update(result)
        return result
    sources = static.parse(s for _, s in cells)  # banned calls are looked for in every cell
    session = _Session(get_child, graded_cells(cells, suite, trusted), result, limits)
    try:
        for item, res in zip(suite.items, result.items):
            _grade_item(item, res, suite, sources, session, update)
    finally:
        session.close()
    result.execution_time = round(time.monotonic() - start, 3)
    update(result)
    return result


def _grade_item(item: Item, res: ItemResult, suite: Suite, sources: list[str], session: _Session,
                update: Callable[[StudentResult], None]) -> None:
    hits = static.banned_names(sources, item.name, (*item.banned, *ALWAYS_BANNED))
    if hits:
        res.banned = _banned_message(item, hits[0])
    odd = static.suspicious_names(sources, item.name)
    if odd:
        res.notes.append(f"{item.name} uses {', '.join(odd)}: checked through its traced operations")
    stop, traced = "", False
    for index, (case, hidden) in enumerate(suite.cases(item)):
        if stop:
            res.cases.append(CaseResult(False, stop, _what(case, hidden), hidden))
            continue
        want_jaxpr = bool(item.banned) and not res.banned and not traced  # until one answer was traced
        state, answer = session.probe(item, suite.inputs[(item.grade_id, index)], want_jaxpr)
        if state == "ok":
            traced = traced or "primitives" in answer
            res.cases.append(_judge_answer(item, case, answer, suite.expected_for(item, index), hidden,
                                           suite.mistakes.get((item.grade_id, index))))
            prims = static.banned_primitives(answer.get("primitives", ()), item.banned)
            if prims and not res.banned:
                source = static.primitive_source(prims[0], item.banned)
                res.banned = _banned_message(item, f"{source} (its traced operations contain {prims[0]})")
        elif state == "error":
            res.cases.append(CaseResult(False, _error_verdict(item, answer, hidden), _what(case, hidden), hidden))
            if answer.get("kind") in ("SystemExit", "KeyboardInterrupt"):
                session.result.fault(f"crashed in {item.name} ({answer.get('kind')})")
            if answer.get("kind") == "MemoryError" or "RESOURCE_EXHAUSTED" in str(answer.get("error", "")):
                session.result.fault(f"out of memory in {item.name}")
            if answer.get("kind") == "NameError" and "is not defined in the notebook" in str(answer.get("error")):
                stop = str(answer.get("error"))
        else:
            what = {"timeout": "timed out", "crash": "crashed the grader's sandbox",
                    "gone": "could not be run (the notebook faulted earlier)"}[state]
            res.cases.append(CaseResult(False, f"{item.name} {what}", _what(case, hidden), hidden))
            stop = f"not run: {item.name} {what} on an earlier case"
        update(session.result)


# --------------------------------------------------------------------------- regrade cache


def cache_key(sub: Submission, suite: Suite, limits: Limits) -> str:
    """sha256 of the submission, the suite that grades it (version tag, variant) and the limits."""
    suite = suite.for_submission(sub)
    h = hashlib.sha256(sub.data)
    h.update(f"|{suite.tag}|{suite.version}|{limits.submission}|{limits.test}|{limits.cell_limit}".encode())
    return h.hexdigest()


class ResultCache:
    """Results keyed by sha256(submission + test-suite version); only fault-free or deterministic ones."""

    def __init__(self, folder: Path | None):
        self.folder = folder
        self.lock = threading.Lock()

    def get(self, key: str) -> StudentResult | None:
        if self.folder is None:
            return None
        path = self.folder / f"{key}.json"
        try:
            return StudentResult.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def put(self, key: str, result: StudentResult) -> None:
        if self.folder is None or any(f.startswith("timeout") for f in result.faults):
            return  # timeouts depend on the machine's load: grade again next time
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{key}.tmp"
        tmp.write_text(json.dumps(result.to_dict()))
        tmp.replace(self.folder / f"{key}.json")
