"""``medjax release``: write student notebooks from the instructor's source notebooks.

    medjax release --assignment a1_convolution --out release/
    medjax release --all --version 2026.1 --out release/
    medjax release --all --roster roster.csv --secret-file course.secret --out release/

Each notebook goes through nbgrader's ``generate_assignment`` preprocessors (see
``autograder.release``) and records ``metadata.medjax = {"assignment", "version"}``.
With ``--roster`` (and the course secret: ``--secret-file`` or ``$MEDJAX_COURSE_SECRET``)
every student gets their own variant in ``DIR/<student>/<id>/<id>.ipynb``
(:mod:`autograder.variants`). Every release freezes the version's test suite
(:mod:`autograder.versions`) so that its submissions are graded with it later.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--assignment", metavar="ID", help="one assignment id, e.g. a1_convolution")
    which.add_argument("--all", action="store_true", help="every assignment that has a source notebook")
    parser.add_argument("--version", metavar="TAG", default=None,
                        help="version tag recorded in the notebooks (default: the source notebook's)")
    parser.add_argument("--out", metavar="DIR", type=Path, required=True,
                        help="output folder; notebooks go to DIR/<id>/<id>.ipynb (DIR/<student>/<id>/ with --roster)")
    parser.add_argument("--source", metavar="DIR", type=Path, default=None,
                        help="folder of source notebooks (default: the course repository's solutions/)")
    parser.add_argument("--roster", metavar="CSV", help="one variant per student of this roster (student_id column)")
    parser.add_argument("--secret-file", metavar="FILE",
                        help="the course secret that seeds the variants (default: $MEDJAX_COURSE_SECRET)")
    parser.add_argument("--suites", metavar="DIR", type=Path, default=None,
                        help="where released versions' test suites are frozen (default: autograder/suites)")


def _freeze(assignment: str, version: str | None, suites: Path) -> Path:
    from autograder import versions
    from autograder.grade import load_suite

    suite = load_suite(assignment)
    if version:
        suite.tag = version
    return versions.freeze(suite, suites)


def main(args: argparse.Namespace) -> int:
    from autograder import release as rel
    from autograder import variants, versions

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
    try:
        secret = variants.read_secret(args.secret_file) if args.roster else None
    except (OSError, ValueError) as exc:
        print(f"medjax release: {exc}", file=sys.stderr)
        return 2
    if args.roster and secret is None:
        print(f"medjax release: --roster needs the course secret (--secret-file FILE or ${variants.SECRET_ENV})",
              file=sys.stderr)
        return 2
    suites = args.suites or versions.SUITES_DIR
    for assignment in targets:
        try:
            frozen = _freeze(assignment, args.version, suites) if root == rel.SOLUTIONS else None
        except ValueError as exc:
            print(f"medjax release: {exc}", file=sys.stderr)
            return 2
        if args.roster:
            paths = rel.release_roster(assignment, args.out, roster=args.roster, secret=secret,
                                       version=args.version, root=root)
            tag = args.version or rel.default_version(json.loads(rel.source_path(assignment, root).read_text(encoding="utf-8")))
            versions.record_release(assignment, tag, [p.parents[1].name for p in paths], suites)
            print(f"released {assignment} -> {len(paths)} student notebooks in {args.out}")
        else:
            print(f"released {assignment} -> {rel.release(assignment, args.out, version=args.version, root=root)}")
        if frozen is not None:
            print(f"  test suite frozen: {frozen}")
    return 0
