"""``medjax report``: the class report of one graded assignment.

``medjax report --results DIR --out DIR [--assignment NAME]`` reads the folder
``medjax grade`` wrote and writes ``report.md`` (summary, items hardest first,
the most common recognised mistakes, submissions with errors and why),
``scores.png`` (score histogram) and ``items.png`` (per-item difficulty).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=Path, required=True, help="folder written by 'medjax grade'")
    parser.add_argument("--out", type=Path, required=True, help="folder for report.md, scores.png, items.png")
    parser.add_argument("--assignment", default="", help="title of the report (default: the graded assignment id)")


def main(args: argparse.Namespace) -> int:
    from autograder.report import class_report

    if not any(args.results.glob("*/results.json")):
        print(f"medjax report: no '<student>/results.json' under {args.results}: run 'medjax grade' first",
              file=sys.stderr)
        return 2
    for path in class_report(args.results, args.out, assignment=args.assignment):
        print(f"wrote {path}")
    return 0
