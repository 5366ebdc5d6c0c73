"""The class report: how a whole class did on one assignment.

``class_report(results_dir, out_dir)`` reads the grader's results folder and
writes ``report.md`` (summary, per-item difficulty, the most common mistakes,
submissions with errors and why), ``scores.png`` (score histogram) and
``items.png`` (mean share of points per item). Mistakes are the ones the
grader named in its feedback ("Likely mistake: flipped kernel. ...").
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from autograder.export import Result, read_results

_MISTAKE = re.compile(r"Likely mistake: ([^.\n]+)")


@dataclass(frozen=True)
class ItemStats:
    name: str
    max_score: float
    mean_share: float  # mean of score / max_score over students
    full_marks: int


def item_stats(results: list[Result]) -> list[ItemStats]:
    """Per-item difficulty, hardest first.

    >>> r = [Result("a", 3, 4, {"x": (1, 2), "y": (2, 2)}), Result("b", 4, 4, {"x": (2, 2), "y": (2, 2)})]
    >>> [(s.name, s.mean_share, s.full_marks) for s in item_stats(r)]
    [('x', 0.75, 1), ('y', 1.0, 2)]
    """
    names = sorted({n for r in results for n in r.items})
    stats = []
    for name in names:
        pairs = [r.items[name] for r in results if name in r.items]
        top = max(m for _, m in pairs)
        shares = [s / m if m else 0.0 for s, m in pairs]
        stats.append(ItemStats(name, top, sum(shares) / len(shares), sum(1 for s, m in pairs if m and s >= m)))
    return sorted(stats, key=lambda s: (s.mean_share, s.name))


def common_mistakes(results_dir: str | Path) -> Counter:
    """Count the named mistakes in every student's results (once per student and item)."""
    import json

    counts: Counter = Counter()
    for path in Path(results_dir).glob("*/results.json"):
        seen = set()
        for test in json.loads(path.read_text(encoding="utf-8")).get("tests", []):
            for name in _MISTAKE.findall(test.get("output", "")):
                seen.add((test.get("name", ""), name.strip()))
        counts.update(f"{item}: {mistake}" for item, mistake in seen)
    return counts


def _plots(results: list[Result], stats: list[ItemStats], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, ax = plt.subplots(figsize=(6, 3.5))
    top = max(r.max_score for r in results) or 1.0
    ax.hist([r.score for r in results], bins=min(20, max(5, len(results))), range=(0, top), color="#3b6ea5")
    ax.set_xlabel("score")
    ax.set_ylabel("students")
    ax.set_title(f"Scores (n = {len(results)}, max {top:g})")
    fig.tight_layout()
    paths.append(out / "scores.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 0.35 * len(stats) + 1.2))
    ax.barh([s.name for s in stats], [100 * s.mean_share for s in stats], color="#c0504d")
    ax.set_xlim(0, 100)
    ax.set_xlabel("mean share of points (%)")
    ax.set_title("Per-item difficulty (hardest at the top)")
    ax.invert_yaxis()
    fig.tight_layout()
    paths.append(out / "items.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def class_report(results_dir: str | Path, out_dir: str | Path, *, assignment: str = "") -> list[Path]:
    """Write ``report.md``, ``scores.png`` and ``items.png``; return their paths."""
    results = read_results(results_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stats = item_stats(results)
    mistakes = common_mistakes(results_dir)
    name = assignment or next((r.assignment for r in results if r.assignment), "") or Path(results_dir).name
    scores = sorted(r.score for r in results)
    top = max(r.max_score for r in results)
    lines = [f"# Class report: {name}", "",
             f"{len(results)} submissions; mean {sum(scores) / len(scores):.2f} / {top:g}, "
             f"median {scores[len(scores) // 2]:.2f}, full marks {sum(r.score >= r.max_score for r in results)}.", "",
             "![scores](scores.png) ![items](items.png)", "", "## Items, hardest first", "",
             "| item | points | mean share | full marks |", "|---|---|---|---|"]
    lines += [f"| {s.name} | {s.max_score:.3g} | {100 * s.mean_share:.0f}% | {s.full_marks} |" for s in stats]
    lines += ["", "## Most common mistakes", ""]
    lines += [f"- {m} ({n} students)" for m, n in mistakes.most_common(10)] or ["- none recognised"]
    errors = [r for r in results if r.status != "graded"]
    lines += ["", "## Submissions with errors", ""]
    lines += [f"- {r.student_id}: {r.status}" for r in errors] or ["- none"]
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [report, *_plots(results, stats, out)]
