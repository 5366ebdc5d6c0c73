"""``medjax bundle gradescope``: a Gradescope autograder zip for one assignment."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", choices=["gradescope"], help="the service to bundle for")
    parser.add_argument("--assignment", required=True, help="assignment id, e.g. a1_convolution")
    parser.add_argument("--out", type=Path, default=Path("autograder.zip"), help="zip to write (default: autograder.zip)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per submission (default: 600)")


def main(args: argparse.Namespace) -> int:
    from autograder.bundle import build_gradescope_bundle

    try:
        path = build_gradescope_bundle(args.assignment, args.out, timeout=args.timeout)
    except ValueError as exc:
        print(f"medjax bundle: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}: upload it as the autograder of a Gradescope programming assignment")
    return 0
