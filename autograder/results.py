"""Grader output: Gradescope ``results.json``, ``grades.csv``, ``feedback.html`` and ``feedback.md``.

Each item becomes one Gradescope test for its visible cases (``visible``) and
one for its hidden cases (``after_published``). Hidden tests' output names the
problem (wrong shape, wrong values, a recognised mistake) but never an input or
an expected value. Files are written atomically (temp file + rename), so a
reader never sees half a file, and ``results.json`` is rewritten after every case.
"""
from __future__ import annotations

import csv
import html
import io
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

from autograder.grade import ItemResult, StudentResult


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _case_lines(item: ItemResult, hidden: bool) -> list[str]:
    lines = []
    for n, case in enumerate((c for c in item.cases if c.hidden == hidden), 1):
        label = f"hidden case {n}" if hidden else (case.what or f"case {n}")
        lines.append(f"[{'x' if case.passed else ' '}] {label}")
        if not case.passed:
            lines.append("    " + case.message.replace("\n", "\n    "))
    return lines


def _tests(result: StudentResult) -> list[dict]:
    tests = []
    for k, item in enumerate(result.items, 1):
        for hidden in (False, True):
            count = item.n_hidden if hidden else item.total_cases - item.n_hidden
            if count == 0:
                continue
            score, max_score = item.part(hidden)
            head = [item.banned] if item.banned else []
            if not hidden:
                head += [f"Checks: {item.what}"] + item.notes
            done = sum(1 for c in item.cases if c.hidden == hidden)
            tail = [f"({count - done} of {count} cases not run yet)"] if done < count else []
            tests.append({"name": f"{item.name} ({item.grade_id}){' hidden cases' if hidden else ''}",
                          "number": f"{k}.{2 if hidden else 1}", "score": score, "max_score": max_score,
                          "output": "\n".join(head + _case_lines(item, hidden) + tail),
                          "visibility": "after_published" if hidden else "visible"})
    return tests


def results_json(result: StudentResult) -> dict:
    """The Gradescope results object of one student."""
    output = [f"Status: {result.status}"] + [f"- {n}" for n in result.notes[:20]]
    return {"score": result.score, "max_score": result.max_score, "execution_time": result.execution_time,
            "output": "\n".join(output), "visibility": "visible", "stdout_visibility": "hidden",
            "tests": _tests(result),
            "extra_data": {"student_id": result.student, "assignment": result.assignment, "status": result.status,
                           "faults": result.faults, "output_bytes": result.output_bytes,
                           "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds")}}


def write_results(result: StudentResult, out_dir: Path) -> None:
    _atomic_write(out_dir / result.student / "results.json", json.dumps(results_json(result), indent=1))


def feedback_html(result: StudentResult) -> str:
    """A self-contained, html-escaped feedback page."""
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Feedback: {e(result.assignment)}</title>",
             "<style>body{font-family:sans-serif;max-width:50em;margin:2em auto}pre{background:#f4f4f4;"
             "padding:.5em;white-space:pre-wrap}.ok{color:#070}.bad{color:#a00}</style></head><body>",
             f"<h1>{e(result.assignment)}: {result.score:g} / {result.max_score:g}</h1>",
             f"<p>Student: {e(result.student)}. Status: <b>{e(result.status)}</b>.</p>"]
    if result.notes:
        parts.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in result.notes[:20]) + "</ul>")
    for item in result.items:
        score, max_score = item.part()
        cls = "ok" if score >= max_score else "bad"
        parts.append(f"<h2 class='{cls}'>{e(item.name)}: {score:g} / {max_score:g} points</h2>")
        parts.append(f"<p>What is checked: {e(item.what)}</p>")
        if item.banned:
            parts.append(f"<p class='bad'>{e(item.banned)}</p>")
        for note in item.notes:
            parts.append(f"<p>{e(note)}</p>")
        lines = _case_lines(item, False) + _case_lines(item, True)
        parts.append(f"<pre>{e(chr(10).join(lines))}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]()#|~!"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"})


def md_text(text: str) -> str:
    r"""Student-controlled text made inert in Markdown: no emphasis, links, HTML or line breaks.

    >>> print(md_text("**x**  <img src=y>\n[a](b)"))
    \*\*x\*\* &lt;img src=y&gt; \[a\]\(b\)
    """
    return " ".join(str(text).split()).translate(_MD_SPECIAL)


def md_code_block(text: str) -> str:
    """``text`` verbatim in a fenced block whose fence is longer than any run of backticks inside.

    >>> print(md_code_block("a ``` b"))
    ````text
    a ``` b
    ````
    """
    fence = "`" * max(3, 1 + max(map(len, re.findall(r"`+", text)), default=0))
    return f"{fence}text\n{text}\n{fence}"


def feedback_markdown(result: StudentResult) -> str:
    """The same feedback as :func:`feedback_html`, in Markdown (an LMS comment, a repository README)."""
    lines = [f"# {md_text(result.assignment)}: {result.score:g} / {result.max_score:g}", "",
             f"Student: {md_text(result.student)}. Status: **{md_text(result.status)}**.", ""]
    lines += [f"- {md_text(n)}" for n in result.notes[:20]] + [""]
    for item in result.items:
        score, max_score = item.part()
        lines += [f"## {md_text(item.name)}: {score:g} / {max_score:g} points", "",
                  f"What is checked: {md_text(item.what)}", ""]
        if item.banned:
            lines += [f"**{md_text(item.banned)}**", ""]
        lines += [line for n in item.notes for line in (md_text(n), "")]
        lines += [md_code_block("\n".join(_case_lines(item, False) + _case_lines(item, True))), ""]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).rstrip("\n") + "\n"


def write_feedback(result: StudentResult, out_dir: Path) -> None:
    """``feedback.html`` and ``feedback.md`` in the student's folder."""
    _atomic_write(out_dir / result.student / "feedback.html", feedback_html(result))
    _atomic_write(out_dir / result.student / "feedback.md", feedback_markdown(result))


def grades_csv(results: list[StudentResult], grade_ids: list[str]) -> str:
    """``student, score, max_score, <grade id>..., status``, one row per submission."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["student", "score", "max_score", *grade_ids, "status"])
    for r in sorted(results, key=lambda r: r.student):
        by_id = {i.grade_id: i.score for i in r.items}
        writer.writerow([r.student, f"{r.score:g}", f"{r.max_score:g}",
                         *(f"{by_id.get(g, 0):g}" for g in grade_ids), r.status])
    return buf.getvalue()


def write_grades(results: list[StudentResult], grade_ids: list[str], out_dir: Path) -> None:
    _atomic_write(out_dir / "grades.csv", grades_csv(results, grade_ids))
