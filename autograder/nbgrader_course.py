"""nbgrader course integration: grade ``submitted/`` and record scores in ``gradebook.db``.

``medjax grade --course DIR --assignment ID`` reads
``DIR/submitted/<student>/<ID>/<ID>.ipynb``, grades every submission with
medjax's sandboxed grader into ``DIR/medjax/<ID>/`` and then writes each grade
cell's score into the course's gradebook through nbgrader's own API
(:class:`nbgrader.api.Gradebook`), so ``nbgrader export``, formgrader and
``nbgrader generate_feedback`` keep working. The submitted notebook is copied to
``autograded/<student>/<ID>/`` as nbgrader's autograde would.

The assignment must already be in the gradebook (``nbgrader generate_assignment ID``
puts it there with its grade cells).
"""
from __future__ import annotations

import csv
import shutil
from datetime import datetime
from pathlib import Path


def submitted_notebooks(course: str | Path, assignment: str) -> list[tuple[str, Path]]:
    """(student id, notebook path) for every ``submitted/<student>/<assignment>/<assignment>.ipynb``."""
    root = Path(course) / "submitted"
    found = []
    for folder in sorted(root.glob(f"*/{assignment}")):
        notebook = folder / f"{assignment}.ipynb"
        if not notebook.is_file():
            candidates = sorted(folder.glob("*.ipynb"))
            if not candidates:
                continue
            notebook = candidates[0]
        found.append((folder.parent.name, notebook))
    return found


def _timestamp(folder: Path) -> datetime | None:
    stamp = folder / "timestamp.txt"
    if not stamp.is_file():
        return None
    from nbgrader.utils import parse_utc

    try:
        return parse_utc(stamp.read_text().strip())
    except (ValueError, TypeError):
        return None


def _item_scores(out_dir: Path) -> dict[str, dict[str, float]]:
    """student -> grade id -> score, from the grader's grades.csv."""
    with open(out_dir / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    skip = {"student", "score", "max_score", "status"}
    return {r["student"]: {k: float(v or 0) for k, v in r.items() if k not in skip} for r in rows}


def require_assignment(course: str | Path, assignment: str) -> None:
    """Raise ``ValueError`` unless the gradebook knows ``assignment`` (checked before grading)."""
    from nbgrader.api import Gradebook, MissingEntry

    db = Path(course) / "gradebook.db"
    with Gradebook(f"sqlite:///{db}") as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            raise ValueError(f"assignment {assignment!r} is not in {db}: "
                             f"run 'nbgrader generate_assignment {assignment}' first") from None


def record(course: str | Path, assignment: str, out_dir: str | Path) -> int:
    """Write the grader's per-cell scores into ``gradebook.db``; return the number of submissions."""
    from nbgrader.api import Gradebook, MissingEntry

    course, out_dir = Path(course), Path(out_dir)
    scores = _item_scores(out_dir)
    subs = dict(submitted_notebooks(course, assignment))
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        try:
            gb_assignment = gb.find_assignment(assignment)
        except MissingEntry:
            raise ValueError(f"assignment {assignment!r} is not in {course / 'gradebook.db'}: "
                             f"run 'nbgrader generate_assignment {assignment}' first") from None
        notebooks = [nb.name for nb in gb_assignment.notebooks]
        for student, per_cell in sorted(scores.items()):
            gb.update_or_create_student(student)
            submitted = subs.get(student)
            stamp = _timestamp(submitted.parent) if submitted else None
            try:
                gb.find_submission(assignment, student)
                gb.remove_submission(assignment, student)  # a regrade replaces the old record
            except MissingEntry:
                pass
            gb.add_submission(assignment, student, **({"timestamp": stamp} if stamp else {}))
            for notebook in notebooks:
                for cell in gb.find_notebook(notebook, assignment).grade_cells:
                    grade = gb.find_grade(cell.name, notebook, assignment, student)
                    grade.auto_score = min(max(per_cell.get(cell.name, 0.0), 0.0), float(cell.max_score))
                    grade.needs_manual_grade = False
            gb.db.commit()
            if submitted:
                target = course / "autograded" / student / assignment
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(submitted, target / f"{notebooks[0] if len(notebooks) == 1 else submitted.stem}.ipynb")
                if (submitted.parent / "timestamp.txt").is_file():
                    shutil.copy(submitted.parent / "timestamp.txt", target / "timestamp.txt")
    return len(scores)
