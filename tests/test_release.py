"""Releasing student notebooks: no solution or hidden material leaks, metadata is right, exercises/ is fresh."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jax
import nbformat
import numpy as np
import pytest

from autograder import release as rel
from autograder.authoring import code, graded_tests, md, notebook, solution
from autograder.hidden import hidden_cases
from medjax.selfcheck import items

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ("a1_convolution", "a2_logistic_regression", "a3_neural_networks")
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS",
           "check_hidden", "autograder")


def _exercise(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(str(REPO / "exercises" / assignment / f"{assignment}.ipynb"), as_version=4)


def _source(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(str(rel.source_path(assignment)), as_version=4)


def _text(nb) -> str:
    return "\n".join(c.source for c in nb.cells)


def test_exercises_are_up_to_date():
    assert rel.stale(assignments=list(ASSIGNMENTS)) == [], "run: python -m autograder.release --write"


def test_check_script_passes_and_detects_a_stale_copy(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "autograder.release", "--check", *ASSIGNMENTS], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    for a in ASSIGNMENTS:
        rel.release(a, tmp_path)
    assert rel.stale(tmp_path, assignments=list(ASSIGNMENTS)) == []
    target = tmp_path / "a2_logistic_regression" / "a2_logistic_regression.ipynb"
    nb = nbformat.read(str(target), as_version=4)
    nb.cells[1].source += " (edited)"
    nbformat.write(nb, str(target))
    (tmp_path / "a3_neural_networks" / "a3_neural_networks.ipynb").unlink()
    assert rel.stale(tmp_path, assignments=list(ASSIGNMENTS)) == ["a2_logistic_regression", "a3_neural_networks"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_solution_or_hidden_marker_is_released(assignment):
    text = _text(_exercise(assignment))
    for marker in MARKERS:
        assert marker not in text


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_cells_become_stubs(assignment):
    nb = _exercise(assignment)
    stubs = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert stubs
    for cell in stubs:
        assert "# YOUR CODE HERE" in cell.source and "raise NotImplementedError()" in cell.source
    src_names = re.findall(r"^def (\w+)\(([^)]*)\)", _text(_source(assignment)), re.M)
    ex_names = re.findall(r"^def (\w+)\(([^)]*)\)", _text(nb), re.M)
    assert src_names == ex_names, "signatures (names, argument order, defaults) are kept"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_hidden_case_values_and_answers_do_not_leak(assignment):
    text = _text(_exercise(assignment))
    raw = (REPO / "exercises" / assignment / f"{assignment}.ipynb").read_text()
    assert "HIDDEN" not in raw and "ChoiceCase" not in raw
    for gid, item in items(assignment).items():
        for case in hidden_cases(assignment, gid):
            answer = getattr(case, "answer", "")
            if answer:
                assert not re.search(rf"{item.name}\s*=\s*['\"]", text), f"answer to {item.name} leaked"
            for leaf in jax.tree.leaves(case.args):
                a = np.asarray(leaf)
                if a.size >= 6:  # distinctive arrays: their leading values must not appear
                    assert np.array2string(a.ravel()[:6], separator=", ") not in raw


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_grade_cells_match_the_items(assignment):
    nb = _exercise(assignment)
    graded = {c.metadata.nbgrader.grade_id: c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}
    expected = items(assignment)
    assert set(graded) == set(expected)
    for gid, cell in graded.items():
        meta = cell.metadata.nbgrader
        assert meta.points == expected[gid].points and meta.locked and not meta.solution
        assert meta.schema_version == 3 and "checksum" in meta
        assert f'check("{assignment}", "{gid}", {expected[gid].name})' in cell.source
    ids = [c.metadata.nbgrader.grade_id for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids))
    assert nb.metadata.medjax == {"assignment": assignment, "version": "1.0"}


def test_source_cells_have_schema_3_metadata_only():
    allowed = {"grade", "solution", "locked", "task", "grade_id", "schema_version", "points"}
    for a in ASSIGNMENTS:
        for cell in _source(a).cells:
            meta = cell.metadata.get("nbgrader")
            if meta:
                assert set(meta) <= allowed and meta["schema_version"] == 3 and meta["task"] is False
                assert ("points" in meta) == meta["grade"]
                if cell.cell_type == "markdown":
                    assert meta["locked"]


def test_cli_release_records_the_version(tmp_path):
    from medjax.cli import main

    suites = ["--suites", str(tmp_path / "suites")]  # the release freezes its suite: not into the repository
    assert main(["release", "--assignment", "a1_convolution", "--version", "2026.1", "--out", str(tmp_path), *suites]) == 0
    nb = json.loads((tmp_path / "a1_convolution" / "a1_convolution.ipynb").read_text())
    assert nb["metadata"]["medjax"] == {"assignment": "a1_convolution", "version": "2026.1"}
    assert main(["release", "--assignment", "a9_nope", "--out", str(tmp_path)]) == 2
    assert main(["release", "--all", "--out", str(tmp_path / "all"), *suites]) == 0
    assert {p.name for p in (tmp_path / "all").iterdir()} >= set(ASSIGNMENTS)


def test_release_does_not_modify_the_source():
    src = _source("a3_neural_networks")
    before = json.dumps(src, sort_keys=True)
    rel.release_notebook(src, assignment="a3_neural_networks")
    assert json.dumps(src, sort_keys=True) == before


def test_authoring_helpers_build_a_releasable_notebook():
    nb = notebook([md("## Theory\n$y = 2x$"), code("import numpy as np", locked=True),
                   solution("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
                            grade_id="double_solution"),
                   graded_tests("a1_convolution", "test_double", "double", points=2)],
                  assignment="a1_convolution", title="Demo")
    metas = [c.metadata.nbgrader for c in nb.cells]
    assert [m.grade_id for m in metas] == ["cell-md-0", "cell-md-1", "cell-code-2", "double_solution", "test_double"]
    assert metas[-1].points == 2 and metas[-1].grade and metas[-1].locked
    assert [c.id for c in nb.cells] == [m.grade_id for m in metas]
    out = rel.release_notebook(nb, assignment="a1_convolution")
    assert "return 2 * x" not in _text(out) and "check_hidden" not in _text(out)
    with pytest.raises(ValueError, match="BEGIN SOLUTION"):
        solution("def f(): pass", grade_id="f")
    with pytest.raises(ValueError, match="duplicate"):
        notebook([md("a", grade_id="x"), md("b", grade_id="x")], assignment="a1_convolution", title="t")
    with pytest.raises(ValueError, match="grade_id"):
        md("a", grade_id="bad id!")
