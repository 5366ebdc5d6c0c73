"""Versioned test suites: each released version is graded with its own frozen suite, also later.

``medjax release`` freezes the suite of the version it releases as plain data,
``<suites>/<assignment>/<version>.json`` (default ``autograder/suites/``: trusted,
instructor-only, never mounted into the sandbox)::

    {"assignment", "version", "variants": {declared parameters},
     "items": [{"grade_id", "name", "points", "what", "rtol", "atol", "banned",
                "mistakes": [{"name", "hint"}],
                "cases": [{"hidden", "what", "rtol", "atol", "answer"?, "args", "kwargs",
                           "expected", "mistakes": {name: output}}]}]}

A roster release also records who got which version (``<suites>/<assignment>/released.json``).
:class:`Suites` picks the suite of each submission: the version recorded for the student
at release, else the one in the notebook's ``metadata.medjax.version``; a version that was
never frozen (and is not the current source's) gets a clear status. With a roster and the
course secret, the items that vary get the student's own cases
(:func:`autograder.variants.student_cases` from the version's declared parameters), their
expected values computed here with the trusted references.

>>> frozen_path("a1_convolution", "2026.1", Path("suites")).as_posix()
'suites/a1_convolution/2026.1.json'
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
from pathlib import Path
from typing import Any

from medjax.selfcheck.cases import Case, Mistake, expected_value, from_plain, mistake_value, to_plain
from medjax.selfcheck.choices import ChoiceCase, is_choice_item

from autograder.child import _pack_args as _unpack  # undoes grade.pack_args after from_plain
from autograder.grade import GRADER_VERSION, Suite, pack_args

SUITES_DIR = Path(__file__).resolve().parent / "suites"
RECORD = "released.json"

__all__ = ["SUITES_DIR", "Suites", "freeze", "frozen_path", "load_frozen", "record_release", "snapshot",
           "with_variant"]


def frozen_path(assignment: str, version: str, suites_dir: Path = SUITES_DIR) -> Path:
    """Where the frozen suite of one released version lives (the tag made safe for a file name)."""
    safe = re.sub(r"[^A-Za-z0-9_.\-]+", "_", version).strip(".") or "_"
    return Path(suites_dir) / assignment / f"{safe}.json"


def _mistake_outputs(item, case: Case) -> dict[str, Any]:
    out = {}
    for m in item.mistakes:
        if m.output is None:
            continue
        try:
            out[m.name] = mistake_value(m, case)
        except Exception:  # noqa: BLE001 - a mistake model that does not apply to this case
            continue
    return out


def _answer_key(suite: Suite, item) -> str:
    return next((c.answer for c in suite.hidden.get(item.grade_id, ()) if getattr(c, "answer", "")), "")


def snapshot(suite: Suite) -> dict:
    """The suite as plain data: items, points, tolerances, cases with inputs, expected and mistake outputs."""
    suite.compute_expected()
    items = []
    for item in suite.items:
        cases = []
        for i, (case, hidden) in enumerate(suite.cases(item)):
            args, kwargs = suite.inputs[(item.grade_id, i)]
            entry = {"hidden": hidden, "what": case.what, "rtol": case.rtol, "atol": case.atol, "args": args,
                     "kwargs": kwargs, "expected": suite.expected[(item.grade_id, i)],
                     "mistakes": suite.mistakes.get((item.grade_id, i)) or _mistake_outputs(item, case)}
            if isinstance(case, ChoiceCase):
                entry["answer"] = case.answer
            elif is_choice_item(item) and _answer_key(suite, item):  # its compare would read today's key
                entry["answer"] = _answer_key(suite, item)
            cases.append(entry)
        items.append({"grade_id": item.grade_id, "name": item.name, "points": item.points, "what": item.what,
                      "rtol": item.rtol, "atol": item.atol, "banned": list(item.banned),
                      "mistakes": [{"name": m.name, "hint": m.hint} for m in item.mistakes], "cases": cases})
    return {"assignment": suite.assignment, "version": suite.tag, "grader": GRADER_VERSION,
            "variants": suite.spec, "items": items}


def freeze(suite: Suite, suites_dir: Path = SUITES_DIR) -> Path:
    """Write the frozen suite of ``suite.tag``; an existing, different one is an error (bump the version)."""
    target = frozen_path(suite.assignment, suite.tag, suites_dir)
    text = json.dumps(snapshot(suite), indent=1, sort_keys=True) + "\n"
    if target.exists():
        if target.read_text(encoding="utf-8") != text:
            raise ValueError(f"version {suite.tag} of {suite.assignment} was released with another test suite "
                             f"({target}); release the changed assignment under a new --version")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    return target


def _case(entry: dict) -> Case:
    fields = dict(args=tuple(_unpack(from_plain(entry["args"]))), kwargs=_unpack(from_plain(entry["kwargs"])),
                  what=entry["what"], rtol=entry["rtol"], atol=entry["atol"])
    return ChoiceCase(**fields, answer=entry["answer"]) if "answer" in entry else Case(**fields)


def load_frozen(path: Path) -> Suite:
    """A :class:`Suite` from a frozen file; probes and comparisons come from the shipped items of the same ids."""
    from medjax.selfcheck import items as shipped_items

    text = Path(path).read_text(encoding="utf-8")
    doc = json.loads(text)
    shipped = shipped_items(doc["assignment"])
    items, hidden, suite_inputs, expected, mistakes = [], {}, {}, {}, {}
    for entry in doc["items"]:
        gid = entry["grade_id"]
        if gid not in shipped:
            raise ValueError(f"{path}: item {gid} no longer exists in medjax.selfcheck.{doc['assignment']}")
        cases = [(_case(c), c["hidden"]) for c in entry["cases"]]
        items.append(dataclasses.replace(
            shipped[gid], name=entry["name"], points=entry["points"], what=entry["what"], rtol=entry["rtol"],
            atol=entry["atol"], banned=tuple(entry["banned"]), reference=None,
            mistakes=tuple(Mistake(m["name"], m["hint"]) for m in entry["mistakes"]),
            cases=tuple(c for c, h in cases if not h)))
        hidden[gid] = tuple(c for c, h in cases if h)
        for i, c in enumerate(sorted(entry["cases"], key=lambda c: c["hidden"])):  # visible first, as Suite.cases
            suite_inputs[(gid, i)] = (c["args"], c["kwargs"])
            expected[(gid, i)] = c["expected"]
            mistakes[(gid, i)] = c["mistakes"]
    version = hashlib.sha256(f"{GRADER_VERSION}|".encode() + text.encode()).hexdigest()
    return Suite(doc["assignment"], items, hidden, f"medjax.selfcheck.{doc['assignment']}", version,
                 expected=expected, inputs=suite_inputs, mistakes=mistakes, tag=doc["version"],
                 spec=dict(doc.get("variants") or {}))


def with_variant(suite: Suite, params: dict) -> Suite:
    """``suite`` with the varying items' cases for ``params``; expected values from the trusted references."""
    from autograder import variants
    from autograder.items import full_items

    suite.compute_expected()
    varying = variants.student_cases(suite.assignment, params)
    if not varying:
        return suite
    trusted = full_items(suite.assignment)
    keep = lambda d: {k: v for k, v in d.items() if k[0] not in varying}  # noqa: E731
    out = dataclasses.replace(
        suite, items=[dataclasses.replace(it, cases=varying[it.grade_id][0]) if it.grade_id in varying else it
                      for it in suite.items],
        hidden={**suite.hidden, **{gid: h for gid, (_v, h) in varying.items()}},
        expected=keep(suite.expected), inputs=keep(suite.inputs), mistakes=keep(suite.mistakes), select=None,
        version=hashlib.sha256(f"{suite.version}|{json.dumps(params, sort_keys=True)}".encode()).hexdigest())
    for gid, (visible, hidden) in varying.items():
        item = trusted[gid]
        for i, case in enumerate((*visible, *hidden)):
            out.inputs[(gid, i)] = (to_plain(pack_args(tuple(case.args))), to_plain(pack_args(dict(case.kwargs))))
            out.expected[(gid, i)] = expected_value(item, case)
            out.mistakes[(gid, i)] = _mistake_outputs(item, case)
    return out


def record_release(assignment: str, version: str, students: list[str], suites_dir: Path = SUITES_DIR) -> Path:
    """Remember which version each student was given (the grader trusts this, not the notebook)."""
    target = Path(suites_dir) / assignment / RECORD
    record = json.loads(target.read_text(encoding="utf-8")) if target.exists() else {}
    record.update({s: version for s in students})
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return target


def _notebook_version(data: bytes) -> str:
    try:
        meta = json.loads(data).get("metadata", {}).get("medjax", {})
    except (UnicodeDecodeError, ValueError, RecursionError, AttributeError):
        return ""
    version = meta.get("version") if isinstance(meta, dict) else None
    return version if isinstance(version, str) else ""


class Suites:
    """Chooses each submission's suite: its released version (frozen), then its variant (roster + secret)."""

    def __init__(self, live: Suite, *, suites_dir: Path = SUITES_DIR, roster: set[str] | None = None,
                 secret: bytes | None = None):
        self.live, self.dir, self.roster, self.secret = live, Path(suites_dir), roster, secret
        record = self.dir / live.assignment / RECORD
        self.record = json.loads(record.read_text(encoding="utf-8")) if record.exists() else {}
        self.lock = threading.Lock()
        self.bases: dict[str, Suite] = {}
        self.chosen: dict[tuple[str, str], Suite] = {}

    def released(self) -> list[str]:
        """The frozen versions of this assignment."""
        folder = self.dir / self.live.assignment
        return sorted(p.stem for p in folder.glob("*.json") if p.name != RECORD) if folder.exists() else []

    def _base(self, tag: str) -> Suite | None:
        if tag not in self.bases:
            path = frozen_path(self.live.assignment, tag, self.dir)
            current = tag == self.live.tag or not self.live.tag  # no source notebook here (a bundle): any version
            self.bases[tag] = load_frozen(path) if path.exists() else self.live if current else None
        return self.bases[tag]

    def _refuse(self, base: Suite, why: str) -> Suite:
        version = hashlib.sha256(f"{base.version}|{why}".encode()).hexdigest()
        return dataclasses.replace(base, refusal=why, select=None, version=version)

    def __call__(self, sub) -> Suite:
        tag = self.record.get(sub.student) or _notebook_version(sub.data) or self.live.tag
        with self.lock:
            key = (tag, sub.student)
            if key not in self.chosen:
                self.chosen[key] = self._choose(tag, sub.student)
            return self.chosen[key]

    def _choose(self, tag: str, student: str) -> Suite:
        from autograder import variants

        base = self._base(tag)
        if base is None:
            known = ", ".join(sorted({*self.released(), self.live.tag})) or "none"
            return self._refuse(self.live, f"unknown version {tag[:40]!r} of {self.live.assignment} "
                                           f"(released: {known})")
        if self.roster is None or self.secret is None or not base.spec:
            return dataclasses.replace(base, select=None)
        if student not in self.roster:
            return self._refuse(base, f"student {student!r} is not in the roster (no variant to grade against)")
        params = variants.draw(base.spec, secret=self.secret, student=student, assignment=base.assignment,
                               version=base.tag)
        return with_variant(base, params)
