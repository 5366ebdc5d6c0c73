"""``medjax release``: write student notebooks from the instructor's source notebooks.

    medjax release --assignment a1_convolution --out release/
    medjax release --all --version 2026.1 --out release/

Each notebook goes through nbgrader's ``generate_assignment`` preprocessors (see
``autograder.release``) and records ``metadata.medjax = {"assignment", "version"}``.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--assignment", metavar="ID", help="one assignment id, e.g. a1_convolution")
    which.add_argument("--all", action="store_true", help="every assignment that has a source notebook")
    parser.add_argument("--version", metavar="TAG", default=None,
                        help="version tag recorded in the notebooks (default: the source notebook's)")
    parser.add_argument("--out", metavar="DIR", type=Path, required=True,
                        help="output folder; notebooks go to DIR/<id>/<id>.ipynb")
    parser.add_argument("--source", metavar="DIR", type=Path, default=None,
                        help="folder of source notebooks (default: the course repository's solutions/)")


def main(args: argparse.Namespace) -> int:
    from autograder import release as rel

    root = args.source or rel.SOLUTIONS
    known = rel.available(root)
    if args.all:
        targets = known
    elif args.assignment in known:
        targets = [args.assignment]
    else:
        print(f"medjax release: no source notebook for {args.assignment!r} in {root} "
              f"(available: {', '.join(known) or 'none'})")
        return 2
    for assignment in targets:
        path = rel.release(assignment, args.out, version=args.version, root=root)
        print(f"released {assignment} -> {path}")
    return 0
