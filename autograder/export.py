"""Grade exports for learning-management systems, from a folder of grader results.

Input: the folder written by ``medjax grade`` (``<student>/results.json`` in
Gradescope's format) and an optional roster CSV. Output, one function a format:

* :func:`canvas_csv`   Canvas gradebook import: ``Student, ID, SIS User ID, SIS Login ID,
  Section, <Assignment> (<id>)``, then a ``Points Possible`` row.
* :func:`moodle_csv`   Moodle grade import: an identifier column (email, else ID number)
  plus one column per grade item.
* :func:`nbgrader_csv` nbgrader's ``export`` columns.
* :func:`gradescope_csv` Gradescope's offline score template
  (``First Name, Last Name, SID, Email, Total Score``).
* :func:`lti_ags_jsonl` LTI 1.3 Assignment and Grade Services score bodies, one JSON
  object a line, each ready to POST to ``{lineitem}/scores``.

The roster maps the grader's student id to LMS identities; its columns are
``student_id`` (required) and any of ``name, first_name, last_name, email,
lms_user_id, sis_user_id, sis_login_id, section``.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

FORMATS = ("canvas", "moodle", "nbgrader", "gradescope", "lti-ags")
ROSTER_FIELDS = ("student_id", "name", "first_name", "last_name", "email",
                 "lms_user_id", "sis_user_id", "sis_login_id", "section")


@dataclass(frozen=True)
class Student:
    """One roster row; every field but ``student_id`` may be empty."""

    student_id: str
    name: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms_user_id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""

    @property
    def sortable_name(self) -> str:
        """Canvas shows students as ``Last, First``."""
        if self.last_name or self.first_name:
            return ", ".join(p for p in (self.last_name, self.first_name) if p)
        return self.name or self.student_id


@dataclass(frozen=True)
class Result:
    """One student's grade as the grader wrote it."""

    student_id: str
    score: float
    max_score: float
    items: dict[str, tuple[float, float]] = field(default_factory=dict)
    status: str = "graded"
    assignment: str = ""
    timestamp: str = ""


def read_roster(path: str | Path | None) -> dict[str, Student]:
    """Read a roster CSV (UTF-8, BOM tolerated) keyed by ``student_id``.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "roster.csv")
    >>> _ = open(p, "w", encoding="utf-8").write('student_id,name,email\\ns1,"Núñez, Ana",ana@uni.edu\\n')
    >>> read_roster(p)["s1"].name
    'Núñez, Ana'
    """
    if path is None:
        return {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "student_id" not in reader.fieldnames:
            raise ValueError(f"roster {path}: needs a 'student_id' column, has {reader.fieldnames}")
        roster = {}
        for row in reader:
            values = {k: (row.get(k) or "").strip() for k in ROSTER_FIELDS}
            if values["student_id"]:
                roster[values["student_id"]] = Student(**values)
    return roster


def read_results(folder: str | Path) -> list[Result]:
    """Read every ``<student>/results.json`` under ``folder``, sorted by student id."""
    folder = Path(folder)
    statuses = {}
    grades_csv = folder / "grades.csv"
    if grades_csv.exists():
        with open(grades_csv, newline="", encoding="utf-8") as fh:
            statuses = {r["student"]: r.get("status", "graded") for r in csv.DictReader(fh)}
    results = []
    for path in sorted(folder.glob("*/results.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        extra = data.get("extra_data") or {}
        items: dict[str, tuple[float, float]] = {}
        for t in data.get("tests", []):  # the grader reports visible and hidden cases as two tests
            name = str(t["name"]).removesuffix(" hidden cases")
            score, top = items.get(name, (0.0, 0.0))
            items[name] = (score + float(t.get("score", 0)), top + float(t.get("max_score", 0)))
        student = str(extra.get("student_id") or path.parent.name)
        results.append(Result(student_id=student, score=float(data.get("score", 0.0)),
                              max_score=float(data.get("max_score", sum(m for _, m in items.values()))),
                              items=items, status=statuses.get(student, extra.get("status", "graded")),
                              assignment=str(extra.get("assignment", "")), timestamp=str(extra.get("timestamp", ""))))
    if not results:
        raise ValueError(f"no results found: expected {folder}/<student>/results.json (run 'medjax grade' first)")
    return results


def _student(roster: dict[str, Student], student_id: str) -> Student:
    return roster.get(student_id) or Student(student_id=student_id)


def _csv(rows: Iterable[Iterable[object]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for row in rows:
        writer.writerow(row)
    return buf.getvalue()


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def canvas_csv(results: list[Result], roster: dict[str, Student], *, assignment: str, lms_assignment_id: str = "") -> str:
    """Canvas gradebook import CSV; imported scores overwrite existing ones in Canvas.

    >>> r = [Result("s1", 7.5, 10.0)]
    >>> print(canvas_csv(r, {"s1": Student("s1", first_name="Ana", last_name="Núñez", lms_user_id="42")},
    ...                  assignment="a1_convolution", lms_assignment_id="991"), end="")
    Student,ID,SIS User ID,SIS Login ID,Section,a1_convolution (991)
    Points Possible,,,,,10
    "Núñez, Ana",42,,,,7.5
    """
    title = f"{assignment} ({lms_assignment_id})" if lms_assignment_id else assignment
    max_score = max((r.max_score for r in results), default=0.0)
    rows = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", title],
            ["Points Possible", "", "", "", "", _fmt(max_score)]]
    for r in results:
        s = _student(roster, r.student_id)
        # Canvas matches a row by ID, SIS User ID or SIS Login ID: without a Canvas ID, use ours.
        sis_user_id = s.sis_user_id or ("" if s.lms_user_id else s.student_id)
        rows.append([s.sortable_name, s.lms_user_id, sis_user_id, s.sis_login_id, s.section, _fmt(r.score)])
    return _csv(rows)


def moodle_csv(results: list[Result], roster: dict[str, Student], *, assignment: str, per_item: bool = False) -> str:
    """Moodle grade import CSV: ``Email address`` (or ``ID number``) plus grade item columns.

    >>> print(moodle_csv([Result("s1", 3.0, 4.0, {"conv2d": (3.0, 4.0)})], {}, assignment="a1"), end="")
    ID number,a1
    s1,3
    """
    use_email = bool(roster) and all(_student(roster, r.student_id).email for r in results)
    items = sorted({name for r in results for name in r.items}) if per_item else []
    rows = [["Email address" if use_email else "ID number", assignment, *items]]
    for r in results:
        s = _student(roster, r.student_id)
        rows.append([s.email if use_email else s.student_id, _fmt(r.score),
                     *(_fmt(r.items.get(i, (0.0, 0.0))[0]) for i in items)])
    return _csv(rows)


def nbgrader_csv(results: list[Result], roster: dict[str, Student], *, assignment: str, duedate: str = "") -> str:
    """The columns of ``nbgrader export``."""
    rows = [["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
             "raw_score", "late_submission_penalty", "score", "max_score"]]
    for r in results:
        s = _student(roster, r.student_id)
        rows.append([assignment, duedate, r.timestamp, s.student_id, s.last_name, s.first_name, s.email,
                     _fmt(r.score), "0", _fmt(r.score), _fmt(r.max_score)])
    return _csv(rows)


def gradescope_csv(results: list[Result], roster: dict[str, Student], *, assignment: str) -> str:
    """Gradescope's offline-assignment score template (scores matched by SID or Email)."""
    rows = [["First Name", "Last Name", "SID", "Email", "Total Score"]]
    for r in results:
        s = _student(roster, r.student_id)
        first, last = s.first_name, s.last_name
        if not (first or last) and s.name:
            first = s.name
        rows.append([first, last, s.sis_user_id or s.student_id, s.email, _fmt(r.score)])
    return _csv(rows)


def lti_ags_jsonl(results: list[Result], roster: dict[str, Student], *, assignment: str, timestamp: str | None = None) -> str:
    """LTI 1.3 AGS score bodies (``application/vnd.ims.lis.v1.score+json``), one per line.

    ``userId`` is the roster's ``lms_user_id`` (the LTI ``sub``), else the student id.

    >>> line = lti_ags_jsonl([Result("s1", 2.0, 4.0)], {}, assignment="a1", timestamp="2026-12-01T10:00:00+00:00")
    >>> json.loads(line)["gradingProgress"]
    'FullyGraded'
    """
    stamp = timestamp or datetime.now(timezone.utc).isoformat(timespec="seconds")
    lines = []
    for r in results:
        s = _student(roster, r.student_id)
        graded = r.status == "graded"
        comment = f"{assignment}: {_fmt(r.score)}/{_fmt(r.max_score)}" + ("" if graded else f" ({r.status})")
        body = {"userId": s.lms_user_id or s.student_id, "scoreGiven": r.score, "scoreMaximum": r.max_score,
                "comment": comment, "timestamp": stamp, "activityProgress": "Completed",
                "gradingProgress": "FullyGraded" if graded else "PendingManual"}
        lines.append(json.dumps(body, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def export(folder: str | Path, fmt: str, *, roster: str | Path | None = None, assignment: str | None = None,
           lms_assignment_id: str = "") -> str:
    """Read results (and roster) and render ``fmt``; ``assignment`` defaults to the results' own."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    results = read_results(folder)
    people = read_roster(roster)
    name = assignment or next((r.assignment for r in results if r.assignment), "") or Path(folder).name
    if fmt == "canvas":
        return canvas_csv(results, people, assignment=name, lms_assignment_id=lms_assignment_id)
    render = {"moodle": moodle_csv, "nbgrader": nbgrader_csv, "gradescope": gradescope_csv, "lti-ags": lti_ags_jsonl}[fmt]
    return render(results, people, assignment=name)
