"""Throughput of ``medjax grade`` against real ``nbgrader autograde`` on the same submissions.

Builds a temporary nbgrader course from ``solutions/<id>/<id>.ipynb``
(``nbgrader generate_assignment``), generates submissions from the released
notebook (every solution cell filled in with the instructor's code, except a
random set of items left as the stub ``raise NotImplementedError()``, plus a few
notebooks with a syntax error), then

* grades ``--n`` submissions with ``medjax grade --jobs J`` (sandboxed, warm children);
* grades the first ``--nbgrader-n`` of them with ``nbgrader autograde`` (serial, one
  Jupyter kernel per notebook; hidden tests restored from the gradebook);
* prints both throughputs (submissions per minute), the ratio, and whether the
  scores of the submissions graded by both are identical.

Stubs fail every case of their item, so nbgrader's all-or-nothing cells and
medjax's per-case partial credit agree on these submissions.

Usage: ``python benchmarks/grade_vs_nbgrader.py [--assignment a1_convolution] [--n 100]
[--nbgrader-n 10] [--jobs 2]``.
"""
from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
_SOLUTION = re.compile(r"^[ \t]*### BEGIN SOLUTION[ \t]*\n|^[ \t]*### END SOLUTION[ \t]*\n?", re.M)


def _env() -> dict[str, str]:
    env = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # nbgrader runs `alembic`, jupyter kernels
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env['PYTHONPATH']}" if env.get("PYTHONPATH") else str(REPO)
    return env


def make_course(root: Path, assignment: str) -> dict:
    """An nbgrader course with the assignment generated; returns the released notebook."""
    (root / "source" / assignment).mkdir(parents=True)
    shutil.copy(REPO / "solutions" / assignment / f"{assignment}.ipynb", root / "source" / assignment)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.root = %r\nc.CourseDirectory.course_id = 'bench'\n"
        "c.ExecutePreprocessor.timeout = 600\nc.Execute.timeout = 600\n" % str(root))
    subprocess.run([str(BIN / "nbgrader"), "generate_assignment", assignment, "--force"], cwd=root, env=_env(),
                   check=True, capture_output=True)
    return json.loads((root / "release" / assignment / f"{assignment}.ipynb").read_text())


def solution_cells(assignment: str) -> dict[str, str]:
    """grade_id -> the instructor's solution code with the markers removed."""
    nb = json.loads((REPO / "solutions" / assignment / f"{assignment}.ipynb").read_text())
    out = {}
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "code" and meta.get("solution"):
            out[meta["grade_id"]] = _SOLUTION.sub("", "".join(cell["source"]))
    return out


def make_submission(release: dict, solutions: dict[str, str], stubbed: set[str], syntax_error: bool) -> dict:
    nb = copy.deepcopy(release)
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if cell["cell_type"] == "code" and meta.get("solution") and gid in solutions and gid not in stubbed:
            cell["source"] = solutions[gid]
            if syntax_error:
                cell["source"] += "\nthis is not python(\n"
                syntax_error = False
    return nb


def generate(root: Path, assignment: str, n: int, seed: int) -> tuple[Path, dict]:
    release = make_course(root, assignment)
    solutions = solution_cells(assignment)
    rng = random.Random(seed)
    folder = root / "submissions"
    folder.mkdir()
    kinds = {}
    for k in range(n):
        sid = f"s{k:03d}"
        r = rng.random()
        stubbed = set() if r < 0.4 else set(rng.sample(sorted(solutions), rng.randint(1, 4)))
        broken = 0.9 < r
        nb = make_submission(release, solutions, stubbed, broken)
        kinds[sid] = {"stubbed": sorted(stubbed), "syntax_error": broken}
        data = json.dumps(nb)
        (folder / f"{sid}.ipynb").write_text(data)
    return folder, kinds


def _own_cpu(root: int, seen: dict[int, float]) -> None:
    """Record the CPU seconds (own user + system, children excluded) of ``root`` and all its descendants.

    The sandbox's processes are reaped inside its namespaces, so ``RUSAGE_CHILDREN``
    never sees them: the benchmark samples ``/proc`` instead (a process's last
    sampling interval is missed).
    """
    tick, parent, own = os.sysconf("SC_CLK_TCK"), {}, {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            parent[int(entry.name)], own[int(entry.name)] = int(fields[1]), (int(fields[11]) + int(fields[12])) / tick
    tree, stack = {root}, [root]
    children: dict[int, list[int]] = {}
    for pid, ppid in parent.items():
        children.setdefault(ppid, []).append(pid)
    while stack:
        for kid in children.get(stack.pop(), ()):
            tree.add(kid)
            stack.append(kid)
    for pid in tree & own.keys():
        seen[pid] = max(seen.get(pid, 0.0), own[pid])


def run_medjax(folder: Path, out: Path, assignment: str, jobs: int) -> tuple[float, float, dict[str, float]]:
    """Wall seconds, CPU seconds (grader and sandbox, sampled) and scores of one ``medjax grade`` run."""
    start = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "medjax"), "grade", "--assignment", assignment, str(folder), "--out", str(out),
                             "--jobs", str(jobs), "--no-cache"], env=_env())
    seen: dict[int, float] = {}
    while proc.poll() is None:
        _own_cpu(proc.pid, seen)
        time.sleep(0.1)
    elapsed = time.perf_counter() - start
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, proc.args)
    with (out / "grades.csv").open() as fh:
        return elapsed, sum(seen.values()), {row["student"]: float(row["score"]) for row in csv.DictReader(fh)}


def run_nbgrader(root: Path, folder: Path, assignment: str, students: list[str]) -> tuple[float, dict[str, float]]:
    for sid in students:
        dest = root / "submitted" / sid / assignment
        dest.mkdir(parents=True)
        shutil.copy(folder / f"{sid}.ipynb", dest / f"{assignment}.ipynb")
    start = time.perf_counter()
    subprocess.run([str(BIN / "nbgrader"), "autograde", assignment, "--force"], cwd=root, env=_env(),
                   check=True, capture_output=True)
    elapsed = time.perf_counter() - start
    subprocess.run([str(BIN / "nbgrader"), "export", "--to", str(root / "export.csv")], cwd=root, env=_env(),
                   check=True, capture_output=True)
    with (root / "export.csv").open() as fh:
        return elapsed, {row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(fh)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default="a1_convolution")
    parser.add_argument("--n", type=int, default=100, help="submissions graded by medjax")
    parser.add_argument("--nbgrader-n", type=int, default=10, help="of those, graded by nbgrader too")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="medjax-bench-") as tmp:
        root = Path(tmp) / "course"
        folder, kinds = generate(root, args.assignment, args.n, args.seed)
        load = Path("/proc/loadavg").read_text().split()[:3]
        t_mj, cpu_mj, s_mj = run_medjax(folder, Path(tmp) / "medjax-out", args.assignment, args.jobs)
        subset = sorted(kinds)[: args.nbgrader_n]
        cpu0 = os.times()
        t_nb, s_nb = run_nbgrader(root, folder, args.assignment, subset)
        cpu1 = os.times()
    cpu_nb = cpu1.children_user + cpu1.children_system - cpu0.children_user - cpu0.children_system
    rate_mj, rate_nb = 60 * args.n / t_mj, 60 * len(subset) / t_nb
    same = [s for s in subset if abs(s_mj.get(s, -1) - s_nb.get(s, -2)) < 1e-6]
    print(f"assignment {args.assignment}, {os.cpu_count()} CPUs, load average at the start {' '.join(load)}")
    print(f"medjax grade   : {args.n} submissions in {t_mj:.1f} s  ({rate_mj:.1f}/min, --jobs {args.jobs}); "
          f"CPU {cpu_mj:.1f} s ({cpu_mj / args.n:.2f} s per submission, sampled from /proc)")
    print(f"nbgrader autograde: {len(subset)} submissions in {t_nb:.1f} s  ({rate_nb:.1f}/min, serial); "
          f"CPU {cpu_nb:.1f} s ({cpu_nb / max(len(subset), 1):.2f} s per submission)")
    print(f"throughput ratio: {rate_mj / rate_nb:.1f}x")
    print(f"identical scores: {len(same)}/{len(subset)}")
    for s in subset:
        if s not in same:
            print(f"  {s}: medjax {s_mj.get(s)} nbgrader {s_nb.get(s)} ({kinds[s]})")
    return 0 if len(same) == len(subset) else 1


if __name__ == "__main__":
    sys.exit(main())
