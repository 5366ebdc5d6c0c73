"""``medjax grade --assignment ID SUBMISSION... --out DIR [--jobs N] [--timeout SECONDS]``.

``medjax grade --course DIR --assignment ID`` grades an nbgrader course instead:
``DIR/submitted/<student>/<ID>/`` in, results in ``DIR/medjax/<ID>/`` (or ``--out``),
and every grade cell's score recorded in ``DIR/gradebook.db`` with nbgrader's API.

Writes ``DIR/<student>/results.json`` (Gradescope), ``DIR/<student>/feedback.html``
and ``DIR/grades.csv``. Exit status 0 when every submission got its result
(a student's error is a result), non-zero only when the grader itself failed.
"""
from __future__ import annotations

import argparse
import os
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--assignment", required=True, help="assignment id, e.g. a1_convolution")
    parser.add_argument("submissions", nargs="*", metavar="SUBMISSION",
                        help="notebooks, folders of notebooks, or LMS zip downloads")
    parser.add_argument("--course", metavar="DIR",
                        help="an nbgrader course folder: grade submitted/ and record scores in its gradebook.db")
    parser.add_argument("--out", help="output folder (default with --course: DIR/medjax/<ID>)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel submissions (default: CPUs)")
    parser.add_argument("--timeout", type=float, default=600.0, help="wall-clock seconds per submission (default 600)")
    parser.add_argument("--test-timeout", type=float, default=60.0, help="wall-clock seconds per test case (default 60)")
    parser.add_argument("--cell-timeout", type=float, default=300.0,
                        help="wall-clock seconds per notebook cell (default 300)")
    parser.add_argument("--roster", help="CSV with student_id and lms_user_id/file columns; with the course secret, "
                                         "each student is graded on their own variant")
    parser.add_argument("--secret-file", metavar="FILE",
                        help="the course secret the variants were drawn with (default: $MEDJAX_COURSE_SECRET)")
    parser.add_argument("--suites", metavar="DIR",
                        help="frozen test suites of released versions (default: autograder/suites)")
    parser.add_argument("--items-module", help=argparse.SUPPRESS)
    parser.add_argument("--hidden-module", help=argparse.SUPPRESS)
    parser.add_argument("--no-cache", action="store_true", help="grade again even if a cached result exists")
    parser.add_argument("--warmup", metavar="NOTEBOOK",
                        help="instructor's solution run once to fill the shared compilation cache "
                             "(default: solutions/<ID>/<ID>.ipynb when present)")
    parser.add_argument("--no-warmup", action="store_true", help="no shared compilation cache")


def _warmup_notebook(args: argparse.Namespace):
    from pathlib import Path

    if args.warmup:
        return Path(args.warmup)
    default = Path(__file__).resolve().parents[1] / "solutions" / args.assignment / f"{args.assignment}.ipynb"
    return default if default.is_file() else None


def _selector(suite, args: argparse.Namespace):
    """Per submission: the frozen suite of its released version and, with roster + secret, its variant."""
    from pathlib import Path

    from autograder import variants, versions
    from autograder.export import read_roster
    from autograder.submissions import safe_id

    secret = variants.read_secret(args.secret_file) if args.roster else None
    if args.roster and secret is None and suite.spec:
        raise ValueError(f"{suite.assignment} has per-student variants: --roster needs the course secret "
                         f"(--secret-file FILE or ${variants.SECRET_ENV})")
    roster = {safe_id(s) for s in read_roster(args.roster)} if args.roster else None
    return versions.Suites(suite, suites_dir=Path(args.suites) if args.suites else versions.SUITES_DIR,
                           roster=roster, secret=secret)


def main(args: argparse.Namespace) -> int:
    from autograder import sandbox
    from autograder.grade import Limits, load_suite
    from autograder.pool import grade_all
    from autograder.submissions import collect

    try:
        suite = load_suite(args.assignment, items_module=args.items_module, hidden_module=args.hidden_module)
    except (ImportError, ValueError) as exc:
        print(f"medjax grade: cannot load assignment {args.assignment!r}: {exc}", file=sys.stderr)
        return 2
    from pathlib import Path

    if args.course:
        args.submissions = [*args.submissions, str(Path(args.course) / "submitted")]
        args.out = args.out or str(Path(args.course) / "medjax" / args.assignment)
        from autograder.nbgrader_course import require_assignment

        try:
            require_assignment(args.course, args.assignment)
        except ValueError as exc:
            print(f"medjax grade: {exc}", file=sys.stderr)
            return 2
    if not args.submissions or not args.out:
        print("medjax grade: give SUBMISSION... and --out DIR, or --course DIR", file=sys.stderr)
        return 2
    subs = collect(args.submissions, assignment=args.assignment, roster=args.roster)
    if not subs:
        print("medjax grade: no submissions found (expected .ipynb files, folders or zips)", file=sys.stderr)
        return 2
    try:
        suite.select = _selector(suite, args)
    except (OSError, ValueError) as exc:
        print(f"medjax grade: {exc}", file=sys.stderr)
        return 2
    if not sandbox.strong_mode_available():
        sandbox.warn_weak_mode()
    limits = Limits(submission=args.timeout, test=min(args.test_timeout, args.timeout),
                    cell=min(args.cell_timeout, args.timeout))
    try:
        results = grade_all(subs, suite, args.out, jobs=args.jobs, limits=limits, use_cache=not args.no_cache,
                            warmup=None if args.no_warmup else _warmup_notebook(args))
    except Exception as exc:  # noqa: BLE001 - the grader itself failed
        print(f"medjax grade: grader failure: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    from autograder.pool import GRADER_FAILURE

    if len(results) != len(subs) or any(GRADER_FAILURE in r.status for r in results):
        return 1
    if args.course:
        from autograder.nbgrader_course import record

        try:
            n = record(args.course, args.assignment, args.out)
        except ValueError as exc:
            print(f"medjax grade: {exc}", file=sys.stderr)
            return 2
        print(f"recorded {n} submissions in {Path(args.course) / 'gradebook.db'}")
    errors = sum(r.status != "graded" for r in results)
    if sys.stderr.isatty():
        print(f"medjax grade: {len(results)} submissions, {errors} with errors -> {args.out}", file=sys.stderr)
    return 0
