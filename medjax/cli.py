"""The ``medjax`` command: one subcommand per job of the course kit.

Each subcommand lives in the module named in ``COMMANDS``; that module offers
``configure(parser)`` (cheap: no heavy imports) and ``main(args) -> int``.
Instructor commands (``grade``, ``release``, ``export``, ``bundle``, ``report``) come from
the ``autograder`` package, which sits beside ``medjax`` in the course
repository and is never shipped to students.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("medjax.demo", "run the course demo on embedded data and write its figures"),
    "train": ("medjax.train.cli", "train a model on a MedMNIST set or synthetic X-rays"),
    "check": ("medjax.selfcheck.cli", "self-check a notebook with its visible tests (students)"),
    "grade": ("autograder.cli_grade", "grade submissions in a sandbox (instructors)"),
    "release": ("autograder.cli_release", "release student notebooks from solutions/ (instructors)"),
    "export": ("autograder.cli_export", "export grades to Canvas, Moodle, nbgrader, Gradescope or LTI (instructors)"),
    "bundle": ("autograder.cli_bundle", "build a Gradescope autograder bundle (instructors)"),
    "report": ("autograder.cli_report", "write the class report of a graded assignment (instructors)"),
}


def _import_command(module: str):
    """Import a command module; put the course repository on the path for ``autograder``."""
    if module.startswith("autograder."):
        repo = Path(__file__).resolve().parents[1]
        if (repo / "autograder").is_dir() and str(repo) not in sys.path:
            sys.path.insert(0, str(repo))
    return importlib.import_module(module)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medjax",
        description="medjax: deep learning for medical images in JAX, with auto-graded exercises.",
        epilog="Run 'medjax COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"medjax {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        try:
            mod = _import_command(module)
        except ImportError as exc:  # e.g. autograder absent in a student install
            p.set_defaults(_unavailable=f"'medjax {name}' is not available here: {exc}")
            continue
        mod.configure(p)
        p.set_defaults(_main=mod.main)
    return parser


def _version() -> str:
    from medjax import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if getattr(args, "_unavailable", None):
        print(f"medjax: {args._unavailable}", file=sys.stderr)
        return 2
    try:
        return int(args._main(args) or 0)
    except KeyboardInterrupt:
        print("medjax: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
