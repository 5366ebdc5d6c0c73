"""``medjax check NOTEBOOK``: students' self-check in a clean process.

Runs the notebook's code (not its test cells) in a fresh Python process, then
every visible check of the assignment (a per-student variant's own checks for the
items that vary, registered by its ``use_variant`` cell), and prints a per-item scorecard with the
hints.  ``--zip`` also packs the notebook with a manifest (assignment, version,
student id, sha256) ready to upload.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebook", type=Path, help="your exercise notebook (.ipynb)")
    parser.add_argument("--assignment", help="assignment id (default: from the notebook)")
    parser.add_argument("--zip", action="store_true", help="also write NOTEBOOK.zip with a manifest, ready to upload")
    parser.add_argument("--student", default="", help="your student id, recorded in the zip manifest")


def scorecard(path: Path, assignment: str | None = None) -> tuple[str, float, float]:
    """Run the visible checks; return (report text, points earned, points possible)."""
    from medjax.selfcheck import format_verdicts, items, run_visible
    from medjax.selfcheck.notebook import assignment_of, execute, read

    nb = read(path)
    assignment = assignment or assignment_of(nb, path)
    graded = items(assignment)
    ns, errors = execute(nb)
    lines = [f"Self-check of {path.name} ({assignment}), visible tests only:\n"]
    lines += [f"  cell {e.index} raised {e.error}" for e in errors]
    earned = possible = 0.0
    for item in graded.values():
        possible += item.points
        if item.name not in ns:
            lines.append(f"FAIL {item.name}: not defined in the notebook (0/{item.points} points)")
            continue
        verdicts = run_visible(assignment, item, ns[item.name])
        share = sum(v.passed for v in verdicts) / max(len(verdicts), 1)
        earned += item.points * share
        lines.append(format_verdicts(item, verdicts))
    lines.append(f"\nVisible checks: {earned:g}/{possible:g} points. Hidden tests decide the final grade.")
    return "\n".join(lines), earned, possible


def pack(path: Path, assignment: str, student: str) -> Path:
    """Write ``<notebook>.zip`` holding the notebook and ``manifest.json``."""
    from medjax.selfcheck.notebook import read

    data = path.read_bytes()
    meta = read(path).get("metadata", {}).get("medjax", {})
    manifest = {"assignment": assignment, "version": meta.get("version", ""), "student_id": student,
                "notebook": path.name, "sha256": hashlib.sha256(data).hexdigest()}
    target = path.with_suffix(".zip")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(path.name, data)
        zf.writestr("manifest.json", json.dumps(manifest, indent=2))
    return target


def main(args: argparse.Namespace) -> int:
    if not args.notebook.exists():
        print(f"medjax check: no such notebook: {args.notebook}")
        return 2
    # A clean process: nothing from this interpreter (or an open kernel) leaks in.
    code = ("import sys; from pathlib import Path; from medjax.selfcheck.cli import scorecard; "
            "r, e, p = scorecard(Path(sys.argv[1]), sys.argv[2] or None); print(r)")
    proc = subprocess.run([sys.executable, "-c", code, str(args.notebook), args.assignment or ""],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True)
    print(proc.stdout, end="")
    if proc.returncode != 0:
        print(f"medjax check: the notebook could not be checked:\n{proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else 'unknown error'}")
        return 1
    if args.zip:
        from medjax.selfcheck.notebook import assignment_of, read

        assignment = args.assignment or assignment_of(read(args.notebook), args.notebook)
        print(f"Packed {pack(args.notebook, assignment, args.student)}")
    return 0
