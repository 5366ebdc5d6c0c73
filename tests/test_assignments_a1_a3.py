"""a1-a3 notebooks end to end, through the real nbgrader 0.9 commands.

One test (so that pytest-xdist builds the course once) and one temporary nbgrader
course with the three source notebooks: ``nbgrader generate_assignment`` must
produce exactly the committed ``exercises/``; then ``nbgrader autograde`` (which
executes notebooks with nbclient, one kernel per notebook) grades two students:
``alice`` submits the solution notebooks and must get full marks with nothing on
stderr, ``bob`` submits the untouched exercises and must get 0, every graded cell
failing cleanly (no hang, no dead kernel).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from medjax.selfcheck import items

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ("a1_convolution", "a2_logistic_regression", "a3_neural_networks")
BIN = Path(sys.executable).parent
BUDGET_S = 180.0  # each solution notebook, top to bottom


def _env(tmp: Path) -> dict[str, str]:
    kernel = tmp / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (medjax venv)", "language": "python"}))
    env = dict(os.environ)
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",  # nbgrader runs `alembic` from PATH
               PYTHONPATH=str(REPO), JUPYTER_PATH=str(tmp / "jupyter"), JAX_PLATFORMS="cpu",
               TF_CPP_MIN_LOG_LEVEL="3")
    return env


def _nbgrader(course: Path, env: dict[str, str], *args: str, quiet: bool = True) -> None:
    proc = subprocess.run([str(BIN / "nbgrader"), *args], cwd=course, env=env, capture_output=True,
                          text=True, timeout=900, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    if quiet:  # generate_assignment and db report failures only in the log
        assert "| ERROR]" not in proc.stderr, proc.stderr[-3000:]


def _build_course(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("course")
    env = _env(tmp_path_factory.mktemp("env"))
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        "c.CourseDirectory.course_id = 'medjax'\n"
        "c.ExecutePreprocessor.timeout = 300\n")
    for a in ASSIGNMENTS:
        (root / "source" / a).mkdir(parents=True)
        shutil.copy(REPO / "solutions" / a / f"{a}.ipynb", root / "source" / a)
    _nbgrader(root, env, "generate_assignment", "*", "--force")
    for student, folder in (("alice", "source"), ("bob", "release")):
        _nbgrader(root, env, "db", "student", "add", student)
        for a in ASSIGNMENTS:
            (root / "submitted" / student / a).mkdir(parents=True)
            shutil.copy(root / folder / a / f"{a}.ipynb", root / "submitted" / student / a)
    for student in ("alice", "bob"):
        _nbgrader(root, env, "autograde", "*", f"--student={student}", quiet=False)
    return root


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def _grade_cells(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def _check_release_matches(course: Path, assignment: str) -> None:
    ours = _read(REPO / "exercises" / assignment / f"{assignment}.ipynb")
    theirs = _read(course / "release" / assignment / f"{assignment}.ipynb")
    assert ours.cells == theirs.cells
    strip = lambda nb: {k: v for k, v in nb.metadata.items() if k != "medjax"}  # noqa: E731
    assert strip(ours) == strip(theirs)
    assert ours.metadata.medjax == {"assignment": assignment, "version": "1.0"}


def _scores(course: Path) -> dict[tuple[str, str], tuple[float, float]]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {(s, a): (gb.find_submission(a, s).score, gb.find_submission(a, s).max_score)
                for s in ("alice", "bob") for a in ASSIGNMENTS}


def _check_scores(course: Path) -> None:
    scores = _scores(course)
    for a in ASSIGNMENTS:
        total = sum(item.points for item in items(a).values())
        assert scores[("alice", a)] == (total, total), a
        assert scores[("bob", a)] == (0.0, total), a


def _seconds(cell) -> float:
    from datetime import datetime

    t = cell.metadata.get("execution", {})
    if "iopub.execute_input" not in t or "shell.execute_reply" not in t:
        return 0.0
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(t["shell.execute_reply"]) - parse(t["iopub.execute_input"])).total_seconds()


def _check_solution_run(course: Path, assignment: str) -> None:
    nb = _read(course / "autograded" / "alice" / assignment / f"{assignment}.ipynb")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "every code cell ran"
    for c in code:
        for out in c.outputs:
            assert out.output_type != "error", f"{c.metadata.get('nbgrader', {}).get('grade_id')}: {out.get('evalue')}"
            assert not (out.output_type == "stream" and out.name == "stderr"), out.text
    for c in _grade_cells(nb):
        text = "".join(o.get("text", "") for o in c.outputs)
        assert "visible checks passed" in text and "hidden checks passed" in text, text
        assert "FAIL" not in text, text
    assert sum(_seconds(c) for c in code) < BUDGET_S


def _check_exercise_run(course: Path, assignment: str) -> None:
    nb = _read(course / "autograded" / "bob" / assignment / f"{assignment}.ipynb")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "the kernel survived to the last cell"
    graded = _grade_cells(nb)
    assert len(graded) == len(items(assignment))
    for c in graded:
        errors = [o for o in c.outputs if o.output_type == "error"]
        assert errors and errors[0].ename in {"AssertionError", "NameError"}, c.metadata.nbgrader.grade_id


@pytest.mark.slow
def test_nbgrader_round_trip_a1_a3(tmp_path_factory):
    """One test (one xdist worker, one course): release equality, scores, clean runs, clean failures."""
    course = _build_course(tmp_path_factory)
    for assignment in ASSIGNMENTS:
        _check_release_matches(course, assignment)
    _check_scores(course)
    for assignment in ASSIGNMENTS:
        _check_solution_run(course, assignment)
        _check_exercise_run(course, assignment)
