"""Gradescope autograder bundles: ``medjax bundle gradescope --assignment ID --out autograder.zip``.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once
when building the image, then ``run_autograder`` for every submission; the
submission is in ``/autograder/submission`` and the grade goes to
``/autograder/results/results.json``.  The bundle carries medjax's source, the
``autograder`` package (hidden cases included: Gradescope keeps the source
out of the students' reach) and these two scripts.  ``AUTOGRADER_ROOT`` and
``MEDJAX_PYTHON`` override ``/autograder`` and ``python3`` for local testing.
"""
from __future__ import annotations

import stat
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SETUP_SH = """#!/usr/bin/env bash
# Gradescope image build: install medjax, the grader and the sandbox tool.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
apt-get update -qq && apt-get install -y -qq bubblewrap python3-pip python3-venv >/dev/null || \\
  echo "medjax: bubblewrap not installed; the grader will run in its weaker mode" >&2
python3 -m pip install --quiet "$ROOT/source"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope entry point: grade /autograder/submission, write /autograder/results/results.json.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PY="${{MEDJAX_PYTHON:-python3}}"
OUT="$(mktemp -d)"
mkdir -p "$ROOT/results"
cd "$ROOT/source"
PYTHONPATH="$ROOT/source${{PYTHONPATH:+:$PYTHONPATH}}" "$PY" -m medjax.cli grade --assignment {assignment} \\
  --jobs 1 --timeout {timeout} --out "$OUT" "$ROOT/submission"
status=$?
result="$(find "$OUT" -mindepth 2 -maxdepth 2 -name results.json | sort | head -n 1)"
if [ -n "$result" ]; then
  cp "$result" "$ROOT/results/results.json"
else
  printf '{{"score": 0, "output": "The grader found no notebook in the submission (exit %s). Upload your .ipynb file.", "tests": []}}\\n' "$status" \\
    > "$ROOT/results/results.json"
fi
"""

# What the bundle carries from the repository (never solutions/ or tests/).
_INCLUDE = ("pyproject.toml", "README.md", "LICENSE", "medjax", "autograder")


def _files() -> list[Path]:
    files = []
    for name in _INCLUDE:
        path = REPO / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += [p for p in sorted(path.rglob("*")) if p.is_file() and "__pycache__" not in p.parts
                      and p.suffix not in {".pyc"}]
    return files


def build_gradescope_bundle(assignment: str, out: str | Path, *, timeout: int = 600) -> Path:
    """Write a Gradescope autograder zip for ``assignment``; return its path."""
    from medjax.selfcheck import ASSIGNMENTS

    if assignment not in ASSIGNMENTS:
        raise ValueError(f"unknown assignment {assignment!r}; known: {', '.join(ASSIGNMENTS)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    executable = (stat.S_IFREG | 0o755) << 16
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER.format(assignment=assignment, timeout=timeout))):
            info = zipfile.ZipInfo(name)
            info.external_attr = executable
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text)
        for path in _files():
            zf.write(path, path.relative_to(REPO).as_posix())
    return out


def unpack(bundle: str | Path, dest: str | Path) -> Path:
    """Unpack a bundle keeping the executable bits (as Gradescope does)."""
    dest = Path(dest)
    with zipfile.ZipFile(bundle) as zf:
        for info in zf.infolist():
            target = zf.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                Path(target).chmod(mode)
    return dest
