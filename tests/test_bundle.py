"""The Gradescope bundle: unpacked into a fake /autograder tree and run as Gradescope would."""
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.bundle import build_gradescope_bundle, unpack
from medjax.selfcheck import items

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "a2_logistic_regression"


def test_bundle_layout(tmp_path):
    bundle = build_gradescope_bundle(ASSIGNMENT, tmp_path / "autograder.zip")
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        modes = {i.filename: (i.external_attr >> 16) for i in zf.infolist()}
    assert {"setup.sh", "run_autograder", "pyproject.toml", "autograder/grade.py", "medjax/__init__.py"} <= names
    assert modes["setup.sh"] & stat.S_IXUSR and modes["run_autograder"] & stat.S_IXUSR
    assert not any(n.startswith(("solutions/", "tests/", "exercises/", ".venv/")) for n in names)
    assert not any("__pycache__" in n for n in names)
    with pytest.raises(ValueError, match="unknown assignment"):
        build_gradescope_bundle("a9_nothing", tmp_path / "x.zip")


def test_run_autograder_writes_results(tmp_path):
    root = tmp_path / "autograder"
    unpack(build_gradescope_bundle(ASSIGNMENT, tmp_path / "autograder.zip", timeout=300), root / "source")
    (root / "submission").mkdir()
    shutil.copy(REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", root / "submission")
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), MEDJAX_PYTHON=sys.executable, JAX_PLATFORMS="cpu")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((root / "results" / "results.json").read_text())
    total = sum(item.points for item in items(ASSIGNMENT).values())
    assert results["score"] == total and results["max_score"] == total
    assert {t["visibility"] for t in results["tests"]} <= {"visible", "after_published"}
    assert all({"name", "score", "max_score", "output", "visibility"} <= set(t) for t in results["tests"])


def test_run_autograder_without_notebook_explains(tmp_path):
    root = tmp_path / "autograder"
    unpack(build_gradescope_bundle(ASSIGNMENT, tmp_path / "autograder.zip"), root / "source")
    (root / "submission").mkdir()
    (root / "submission" / "answers.txt").write_text("no notebook here")
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), MEDJAX_PYTHON=sys.executable, JAX_PLATFORMS="cpu")
    subprocess.run([str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                   timeout=300, stdin=subprocess.DEVNULL)
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 0 and "no notebook" in results["output"]
