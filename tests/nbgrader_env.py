"""Helpers for tests that run the real nbgrader on a temporary course."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def nbgrader_env(tmp: Path) -> dict[str, str]:
    """An environment whose ``python3`` kernel is this venv's interpreter, with the repo importable."""
    kernel = tmp / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True, exist_ok=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (medjax venv)", "language": "python"}))
    env = dict(os.environ)
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


def run(cmd: list[str], course: Path, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    """Run a command in the course folder; fail the test with its output when it fails."""
    proc = subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def nbgrader(course: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return run([str(BIN / "nbgrader"), *args], course, env)
