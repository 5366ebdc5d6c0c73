"""Submissions in: a notebook, a folder, or an LMS zip -> ``(student_id, notebook bytes)``.

The student id is the file stem, except for

* Canvas downloads (``smithjohn_12345_67890_a1_convolution.ipynb``, or with
  ``_LATE_``): the login part, ``smithjohn``;
* nbgrader's layout ``submitted/<student>/<assignment>/<assignment>.ipynb``: ``<student>``;
* a roster CSV (``student_id`` plus ``lms_user_id`` or ``file`` columns) that maps
  the Canvas user id or the file name to the id.

Notebook metadata is written by the student's own Jupyter and is never trusted
for identity. Ids are made safe for folder names and never collide (``-2``, ``-3``).

>>> canvas_student("smithjohn_LATE_12345_67890_a1_convolution.ipynb")
('smithjohn', '12345')
>>> safe_id("../../etc/passwd")
'etc_passwd'
"""
from __future__ import annotations

import csv
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAX_NOTEBOOK_BYTES = 100 << 20
_CANVAS = re.compile(r"^(?P<login>[A-Za-z0-9\-]+)_(?:LATE_)?(?P<uid>\d+)_(?P<sub>\d+)_(?P<rest>.+)$")


@dataclass(frozen=True)
class Submission:
    """One student's notebook as bytes (parsed later, in the grader); ``error`` when unreadable."""

    student: str
    data: bytes
    source: str
    error: str = ""


def safe_id(text: str) -> str:
    """A folder-safe student id: letters, digits, ``-``, ``_`` and ``.`` (no leading dots)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]+", "_", text).strip("._-")
    cleaned = re.sub(r"_+", "_", cleaned.replace("..", "_"))
    return cleaned or "student"


def canvas_student(name: str) -> tuple[str, str] | None:
    """(login, Canvas user id) from a Canvas submission file name, else None."""
    m = _CANVAS.match(PurePosixPath(name).name)
    return (m["login"], m["uid"]) if m else None


def read_roster(path: str | Path | None) -> dict[str, str]:
    """Key (Canvas user id, login or file name) -> student id."""
    if not path:
        return {}
    out = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            sid = (row.get("student_id") or "").strip()
            for key in ("lms_user_id", "file", "login", "sis_login_id"):
                if sid and (row.get(key) or "").strip():
                    out[row[key].strip()] = sid
    return out


def _student_for(name: str, parts: tuple[str, ...], assignment: str, roster: dict[str, str]) -> str:
    stem = PurePosixPath(name).stem
    canvas = canvas_student(name)
    for key in ((canvas[1], canvas[0]) if canvas else ()) + (PurePosixPath(name).name, stem):
        if key in roster:
            return roster[key]
    if canvas:
        return canvas[0]
    if assignment and stem == assignment and len(parts) >= 3 and parts[-2] == assignment:
        return parts[-3]  # nbgrader: <student>/<assignment>/<assignment>.ipynb
    return stem


def _from_zip(path: Path, assignment: str, roster: dict[str, str]) -> list[tuple[str, Submission]]:
    out = []
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                name = info.filename
                parts = PurePosixPath(name).parts
                if info.is_dir() or not name.endswith(".ipynb") or "__MACOSX" in parts or "/." in "/" + name:
                    continue
                student = _student_for(name, parts, assignment, roster)
                if info.file_size > MAX_NOTEBOOK_BYTES:
                    out.append((student, Submission(student, b"", f"{path}:{name}",
                                                    f"unreadable notebook: {info.file_size} bytes (limit {MAX_NOTEBOOK_BYTES})")))
                    continue
                out.append((student, Submission(student, zf.read(info), f"{path}:{name}")))
    except (zipfile.BadZipFile, OSError) as exc:
        out.append((safe_id(path.stem), Submission(safe_id(path.stem), b"", str(path), f"unreadable zip: {exc}")))
    return out


def _from_file(path: Path, assignment: str, roster: dict[str, str], base: Path | None) -> tuple[str, Submission]:
    parts = path.relative_to(base).parts if base else path.parts
    student = _student_for(str(PurePosixPath(*parts)), tuple(parts), assignment, roster)
    try:
        size = path.stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            return student, Submission(student, b"", str(path), f"unreadable notebook: {size} bytes (limit {MAX_NOTEBOOK_BYTES})")
        return student, Submission(student, path.read_bytes(), str(path))
    except OSError as exc:
        return student, Submission(student, b"", str(path), f"unreadable notebook: {exc}")


def collect(paths: list[str | Path], *, assignment: str = "", roster: str | Path | None = None) -> list[Submission]:
    """Every submission under ``paths`` (notebooks, folders, zips), with unique safe ids."""
    mapping = read_roster(roster)
    found: list[tuple[str, Submission]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for p in sorted(path.rglob("*")):
                rel = p.relative_to(path).parts
                if any(part.startswith(".") for part in rel) or not p.is_file():
                    continue
                if p.suffix == ".ipynb":
                    found.append(_from_file(p, assignment, mapping, path.parent))
                elif p.suffix == ".zip":
                    found.extend(_from_zip(p, assignment, mapping))
        elif path.suffix == ".zip":
            found.extend(_from_zip(path, assignment, mapping))
        else:
            found.append(_from_file(path, assignment, mapping, None))
    taken: dict[str, int] = {}
    out = []
    for student, sub in found:
        sid = safe_id(student)
        taken[sid] = taken.get(sid, 0) + 1
        if taken[sid] > 1:
            sid = f"{sid}-{taken[sid]}"
        out.append(Submission(sid, sub.data, sub.source, sub.error))
    return out
