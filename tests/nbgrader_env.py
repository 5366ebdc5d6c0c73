"""Helpers for tests that run the real nbgrader on a temporary course.

:func:`round_trip` is the whole check both assignment test files run: ``nbgrader
generate_assignment`` must produce exactly the committed ``exercises/``; then
``nbgrader autograde`` (nbclient, one kernel per notebook) grades ``alice``, who
submits the solutions and must get full marks with nothing on stderr, and ``bob``,
who submits the untouched exercises and must get 0 with every graded cell failing
cleanly (no hang, no dead kernel).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BUDGET_S = 180.0  # each solution notebook, top to bottom, in nbgrader's kernel
STUDENTS = {"alice": "source", "bob": "release"}  # student -> the course folder their notebooks come from


def nbgrader_env(tmp: Path, drop: tuple[str, ...] = ()) -> dict[str, str]:
    """An environment whose ``python3`` kernel is this venv's interpreter, with the repo importable."""
    kernel = tmp / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True, exist_ok=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (medjax venv)", "language": "python"}))
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",  # nbgrader runs `alembic` from PATH
               PYTHONPATH=str(REPO), JUPYTER_PATH=str(tmp / "jupyter"), JAX_PLATFORMS="cpu",
               TF_CPP_MIN_LOG_LEVEL="3")
    return env


def new_course(root: Path) -> Path:
    """An empty nbgrader course folder with its config."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        "c.CourseDirectory.course_id = 'medjax'\n"
        "c.ExecutePreprocessor.timeout = 300\n")
    return root


def run(cmd: list[str], course: Path, env: dict[str, str], timeout: float = 1200) -> subprocess.CompletedProcess:
    """Run a command in the course folder; fail the test with its output when it fails."""
    proc = subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def nbgrader(course: Path, env: dict[str, str], *args: str, quiet: bool = False) -> subprocess.CompletedProcess:
    """``nbgrader ARGS``; ``quiet``: also fail on an ERROR in its log (generate_assignment and db log failures only)."""
    proc = run([str(BIN / "nbgrader"), *args], course, env)
    if quiet:
        assert "| ERROR]" not in proc.stderr, proc.stderr[-3000:]
    return proc


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def grade_cells(nb: nbformat.NotebookNode) -> list:
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def seconds(cell) -> float:
    """Execution time nbclient recorded in a cell's metadata (0 when absent)."""
    t = cell.metadata.get("execution", {})
    if "iopub.execute_input" not in t or "shell.execute_reply" not in t:
        return 0.0
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(t["shell.execute_reply"]) - parse(t["iopub.execute_input"])).total_seconds()


def build_course(root: Path, env: dict[str, str], assignments: tuple[str, ...]) -> Path:
    """Source notebooks in, ``generate_assignment``, :data:`STUDENTS` submitted and autograded."""
    new_course(root)
    for a in assignments:
        (root / "source" / a).mkdir(parents=True)
        shutil.copy(REPO / "solutions" / a / f"{a}.ipynb", root / "source" / a)
    nbgrader(root, env, "generate_assignment", "*", "--force", quiet=True)
    for student, folder in STUDENTS.items():
        nbgrader(root, env, "db", "student", "add", student, quiet=True)
        for a in assignments:
            (root / "submitted" / student / a).mkdir(parents=True)
            shutil.copy(root / folder / a / f"{a}.ipynb", root / "submitted" / student / a)
    for student in STUDENTS:
        nbgrader(root, env, "autograde", "*", f"--student={student}")
    return root


def check_release_matches(course: Path, assignment: str) -> None:
    ours = read(REPO / "exercises" / assignment / f"{assignment}.ipynb")
    theirs = read(course / "release" / assignment / f"{assignment}.ipynb")
    assert ours.cells == theirs.cells
    strip = lambda nb: {k: v for k, v in nb.metadata.items() if k != "medjax"}  # noqa: E731
    assert strip(ours) == strip(theirs)
    assert ours.metadata.medjax["assignment"] == assignment and ours.metadata.medjax["version"]


def check_scores(course: Path, assignments: tuple[str, ...]) -> None:
    from nbgrader.api import Gradebook

    from medjax.selfcheck import items

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {(s, a): (gb.find_submission(a, s).score, gb.find_submission(a, s).max_score)
                  for s in STUDENTS for a in assignments}
    for a in assignments:
        total = sum(item.points for item in items(a).values())
        assert scores[("alice", a)] == (total, total), a
        assert scores[("bob", a)] == (0.0, total), a


def check_solution_run(course: Path, assignment: str) -> None:
    nb = read(course / "autograded" / "alice" / assignment / f"{assignment}.ipynb")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "every code cell ran"
    for c in code:
        for out in c.outputs:
            assert out.output_type != "error", f"{c.metadata.get('nbgrader', {}).get('grade_id')}: {out.get('evalue')}"
            assert not (out.output_type == "stream" and out.name == "stderr"), out.text
    for c in grade_cells(nb):
        text = "".join(o.get("text", "") for o in c.outputs)
        assert "visible checks passed" in text and "hidden checks passed" in text and "FAIL" not in text, text
    assert sum(seconds(c) for c in code) < BUDGET_S


def check_exercise_run(course: Path, assignment: str) -> None:
    from medjax.selfcheck import items

    nb = read(course / "autograded" / "bob" / assignment / f"{assignment}.ipynb")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "the kernel survived to the last cell"
    graded = grade_cells(nb)
    assert len(graded) == len(items(assignment))
    for c in graded:
        errors = [o for o in c.outputs if o.output_type == "error"]
        assert errors and errors[0].ename in {"AssertionError", "NameError"}, c.metadata.nbgrader.grade_id


def round_trip(tmp_path_factory, assignments: tuple[str, ...], drop_env: tuple[str, ...] = ()) -> None:
    """The whole real-nbgrader check of the module docstring, on one temporary course."""
    env = nbgrader_env(tmp_path_factory.mktemp("env"), drop=drop_env)
    course = build_course(tmp_path_factory.mktemp("course"), env, assignments)
    for a in assignments:
        check_release_matches(course, a)
    check_scores(course, assignments)
    for a in assignments:
        check_solution_run(course, a)
        check_exercise_run(course, a)
