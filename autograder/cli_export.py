"""``medjax export``: grades from a results folder to an LMS import file."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.export import FORMATS


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=Path, required=True, help="folder written by 'medjax grade'")
    parser.add_argument("--format", choices=FORMATS, required=True, help="target system")
    parser.add_argument("--roster", type=Path, help="roster CSV: student_id plus name, email, lms_user_id, sis_user_id, section...")
    parser.add_argument("--assignment", help="assignment name in the LMS (default: the graded assignment id)")
    parser.add_argument("--lms-assignment-id", default="", help="Canvas assignment id, shown as 'Name (id)' in the header")
    parser.add_argument("--out", type=Path, required=True, help="file to write")


def main(args: argparse.Namespace) -> int:
    from autograder.export import export

    try:
        text = export(args.results, args.format, roster=args.roster, assignment=args.assignment,
                      lms_assignment_id=args.lms_assignment_id)
    except (OSError, ValueError) as exc:
        print(f"medjax export: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({args.format}, {text.count(chr(10))} lines)")
    return 0
