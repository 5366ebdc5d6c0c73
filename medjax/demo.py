"""``medjax demo``: the course in one command, on embedded data.

Sections (each writes into ``--out`` and prints what it did):

1. *core*: a synthetic chest X-ray convolved with the classic kernels
   (``kernels.png``), a table of output sizes and the parameter counts of a
   small CNN, layer by layer.
2. *course*: the instructor's loop on a small generated roster: release all
   five assignments with per-student variants (a generated course secret; each
   version's test suite frozen), grade with the roster three example submissions of ``a1_convolution`` (full
   marks, typical mistakes, hostile) in the sandbox, export a Canvas CSV, write
   feedback and the class report (needs the course repository's ``autograder``).
3. *train*: a short training run of the reference CNN on ``synthetic_xray``
   (and on PneumoniaMNIST when ``MEDJAX_DATA_DIR`` has it) with its plots.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

SECTIONS = ("core", "course", "train")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("demo-out"), help="folder for the figures and reports (default: demo-out)")
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only this section (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the synthetic data (default: 0)")


def _table(rows: list[tuple], header: tuple) -> str:
    cells = [tuple(str(c) for c in header)] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def core(out: Path, seed: int) -> list[Path]:
    """Kernels on a synthetic X-ray, output sizes, parameter counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    import medjax
    from medjax import kernels
    from medjax.synthetic import synthetic_xray

    data = synthetic_xray(8, size=64, seed=seed, prevalence=1.0)
    image = data["images"][0, :, :, 0]
    names = list(kernels.CLASSIC)
    fig, axes = plt.subplots(2, (len(names) + 2) // 2, figsize=(2.6 * ((len(names) + 2) // 2), 5.6))
    axes = axes.ravel()
    axes[0].imshow(image, cmap="gray")
    axes[0].set_title("synthetic X-ray")
    for ax, name in zip(axes[1:], names):
        filtered = np.asarray(medjax.conv2d(image, kernels.CLASSIC[name], padding="same"))
        ax.imshow(filtered, cmap="gray")
        ax.set_title(name)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    path = out / "kernels.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)

    sizes = [(16, 3, 1, 0), (24, 5, 2, 2), (28, 3, 1, 1), (28, 2, 2, 0), (64, 7, 2, 3), (64, 4, 2, 1)]
    print("Output sizes: out = floor((in + 2p - f) / s) + 1")
    print(_table([(i, f, s, p, medjax.output_size(i, f, stride=s, padding=p)) for i, f, s, p in sizes],
                 ("in", "f", "s", "p", "out")))
    layers = [("conv 3x3, 1 -> 16", medjax.conv_param_count(3, 1, 16)),
              ("conv 3x3, 16 -> 32", medjax.conv_param_count(3, 16, 32)),
              ("conv 3x3, 32 -> 64", medjax.conv_param_count(3, 32, 64)),
              ("dense 3*3*64 -> 1", medjax.dense_param_count(3 * 3 * 64, 1))]
    print("\nParameters of a small CNN for 28x28 X-rays (3 conv-relu-pool blocks + dense head):")
    print(_table(layers + [("total", sum(n for _, n in layers))], ("layer", "parameters")))
    print(f"Receptive field of the three 3x3 convolutions with 2x2 pools between them: "
          f"{medjax.receptive_field([3, 2, 3, 2, 3], strides=[1, 2, 1, 2, 1])} pixels")
    return [path]


ROSTER = """student_id,first_name,last_name,email,lms_user_id,section
ada_full_marks,Ada,"Lovelace, Countess",ada@example.edu,1001,Lab A
ben_mistakes,Ben,Núñez,ben@example.edu,1002,Lab A
eve_hostile,Eve,O'Hacker,eve@example.edu,1003,Lab B
"""


def _cli(argv: list[str]) -> int:
    from medjax.cli import main as medjax_main

    return medjax_main(argv)


def course(out: Path, seed: int) -> list[Path]:
    """Release, grade example submissions, export to Canvas, feedback and the class report."""
    import csv

    from medjax.cli import _import_command

    _import_command("autograder.cli_grade")  # puts the course repository on the path
    from autograder.examples import write_examples
    from autograder.export import export
    from autograder.report import class_report

    import json
    import secrets

    from autograder.release import source_path
    from autograder.variants import for_student

    root = out / "course"
    roster = root / "roster.csv"
    root.mkdir(parents=True, exist_ok=True)
    roster.write_text(ROSTER, encoding="utf-8")
    secret = root / "course.secret"  # seeds every student's variant; keep it with the instructor
    secret.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
    course_args = ["--roster", str(roster), "--secret-file", str(secret), "--suites", str(root / "suites")]
    if _cli(["release", "--all", "--out", str(root / "release"), *course_args]) != 0:
        raise RuntimeError("medjax release failed")
    a1 = json.loads(source_path("a1_convolution").read_text(encoding="utf-8"))
    key = secret.read_text(encoding="utf-8").strip().encode()
    params = {s: for_student(a1, assignment="a1_convolution", student=s, secret=key)
              for s in ("ada_full_marks", "ben_mistakes")}
    described = write_examples(root / "submissions", params=params)  # each answers its own variant
    graded = root / "graded"
    if _cli(["grade", "--assignment", "a1_convolution", str(root / "submissions"), "--out", str(graded),
             "--jobs", "2", "--timeout", "240", "--test-timeout", "30", "--no-cache", *course_args]) != 0:
        raise RuntimeError("medjax grade failed")
    canvas = root / "canvas.csv"
    canvas.write_text(export(graded, "canvas", roster=roster, lms_assignment_id="4711"), encoding="utf-8")
    report = class_report(graded, root / "report")
    with open(graded / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    print("\nGrades (a1_convolution):")
    print(_table([(r["student"], f"{float(r['score']):.2f}/{float(r['max_score']):g}", r["status"], described.get(r["student"], ""))
                  for r in rows], ("student", "score", "status", "submission")))
    feedback = sorted(graded.glob("*/feedback.html"))
    return [root / "release", canvas, *feedback, *report]


def _train_run(out: Path, argv: list[str]) -> list[Path]:
    from medjax.train import cli as train_cli

    parser = argparse.ArgumentParser(prog="medjax train")
    train_cli.configure(parser)
    args = parser.parse_args([*argv, "--out", str(out)])
    if train_cli.main(args) != 0:
        raise RuntimeError(f"medjax train {' '.join(argv)} failed")
    return sorted(p for p in out.iterdir() if p.suffix in {".png", ".json"})


def train(out: Path, seed: int) -> list[Path]:
    """A short run of the reference CNN on synthetic X-rays (and PneumoniaMNIST if present)."""
    import os

    written = _train_run(out / "train-synthetic_xray",
                         ["--dataset", "synthetic_xray", "--model", "simple_cnn", "--epochs", "5", "--lr", "0.003", "--seed", str(seed)])
    data_dir = os.environ.get("MEDJAX_DATA_DIR", "")
    if data_dir and os.path.exists(os.path.join(data_dir, "pneumoniamnist.npz")):
        written += _train_run(out / "train-pneumoniamnist",
                              ["--dataset", "pneumoniamnist", "--model", "simple_cnn", "--epochs", "5", "--lr", "0.003", "--seed", str(seed)])
    else:
        print("(PneumoniaMNIST skipped: set MEDJAX_DATA_DIR to a folder with pneumoniamnist.npz)")
    return written


def main(args: argparse.Namespace) -> int:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in args.only or SECTIONS:
        start = time.perf_counter()
        print(f"\n== medjax demo: {name} ==")
        written += globals()[name](out, args.seed)
        print(f"({name}: {time.perf_counter() - start:.1f} s)")
    print("\nWrote:")
    for path in written:
        print(f"  {path}")
    return 0
