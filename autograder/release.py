"""Release student notebooks from the instructor's source notebooks.

``solutions/<id>/<id>.ipynb`` (solutions and hidden tests) becomes
``<out>/<id>/<id>.ipynb`` through nbgrader's own ``generate_assignment``
preprocessors, applied in nbgrader's order (all but ``SaveCells``, which only
writes nbgrader's database): header/footer, autotests, cells locked, solutions
replaced by ``# YOUR CODE HERE`` / ``raise NotImplementedError()``, outputs cleared,
metadata checked, checksums, hidden tests removed, mark schemes removed, checksums
again. The result is what ``nbgrader generate_assignment`` writes (a test runs the
real command and compares), plus ``metadata.medjax = {"assignment", "version"}``.

Variants (:mod:`autograder.variants`): the source is first rendered with its parameters,
the defaults for the common release, one student's draw for :func:`release_roster`
(``<out>/<student>/<id>/<id>.ipynb``), whose notebook also records
``metadata.medjax.variant`` (the parameters) and, after the setup cell, a ``use_variant``
cell with the visible checks of the varying items (expected values as data), so the
notebook's own test cells and ``medjax check`` judge the student's numbers.

Check that ``exercises/`` is up to date (CI)::

    python -m autograder.release --check

Regenerate it::

    python -m autograder.release --write
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # nbformat (and its JSON-schema validators) loads only when notebooks are released
    from nbformat.notebooknode import NotebookNode

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
EXERCISES = REPO / "exercises"

__all__ = ["available", "release_notebook", "release", "release_roster", "stale", "main"]


def _preprocessors() -> list:
    """nbgrader's GenerateAssignment pipeline, minus the database step."""
    from nbgrader.converters.generate_assignment import GenerateAssignment
    from nbgrader.preprocessors import SaveCells

    pipeline = GenerateAssignment.class_traits()["preprocessors"].make_dynamic_default()
    return [cls() for cls in pipeline if cls is not SaveCells]


def source_path(assignment: str, root: Path = SOLUTIONS) -> Path:
    """Where an assignment's source notebook lives."""
    return Path(root) / assignment / f"{assignment}.ipynb"


def available(root: Path = SOLUTIONS) -> list[str]:
    """Known assignments that have a source notebook, in course order."""
    from medjax.selfcheck import ASSIGNMENTS

    return [a for a in ASSIGNMENTS if source_path(a, root).exists()]


def default_version(nb: NotebookNode) -> str:
    """The version written in the source notebook (``metadata.medjax.version``), else medjax's."""
    version = nb.get("metadata", {}).get("medjax", {}).get("version")
    if version:
        return str(version)
    from medjax import __version__

    return __version__


def release_notebook(source: NotebookNode, *, assignment: str, version: str | None = None,
                     path: Path | None = None, params: dict | None = None) -> NotebookNode:
    """The student version of a source notebook (the source is not modified).

    ``params``: one student's variant parameters (default: the common release's defaults).
    """
    import nbformat

    from autograder import variants
    from medjax.selfcheck import stored

    nb = copy.deepcopy(source)
    tag = version or default_version(source)
    spec = variants.spec_of(source)
    variants.render_source(nb, assignment, params if params is not None else variants.defaults(spec))
    resources = {"metadata": {"path": str(path or REPO)}, "nbgrader": {"assignment": assignment}}
    for pp in _preprocessors():
        nb, resources = pp(nb, resources)
    nb.metadata["medjax"] = {"assignment": assignment, "version": tag}
    if params is not None and spec:
        nb.metadata["medjax"]["variant"] = dict(params)
        setup = [i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "setup"]
        cell = nbformat.from_dict(stored.variant_cell(assignment, variants.checks(assignment, params)))
        nb.cells.insert(setup[0] + 1 if setup else 0, cell)
    nbformat.validate(nb)
    return nb


def _target(assignment: str, out: Path) -> Path:
    return Path(out) / assignment / f"{assignment}.ipynb"


def release(assignment: str, out: Path, *, version: str | None = None, root: Path = SOLUTIONS) -> Path:
    """Write ``<out>/<assignment>/<assignment>.ipynb``; return its path."""
    import nbformat

    src = source_path(assignment, root)
    if not src.exists():
        raise FileNotFoundError(f"no source notebook for {assignment!r}: {src}")
    nb = release_notebook(nbformat.read(str(src), as_version=4), assignment=assignment, version=version,
                          path=src.parent)
    target = _target(assignment, out)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(target))
    return target


def release_roster(assignment: str, out: Path, *, roster: str | Path, secret: bytes, version: str | None = None,
                   root: Path = SOLUTIONS) -> list[Path]:
    """One notebook per roster student, ``<out>/<student>/<assignment>/<assignment>.ipynb``, with their variant."""
    import nbformat

    from autograder import variants
    from autograder.export import read_roster
    from autograder.submissions import safe_id

    src = source_path(assignment, root)
    if not src.exists():
        raise FileNotFoundError(f"no source notebook for {assignment!r}: {src}")
    source = nbformat.read(str(src), as_version=4)
    tag = version or default_version(source)
    spec = variants.spec_of(source)
    written = []
    for student in read_roster(roster):
        sid = safe_id(student)
        params = variants.draw(spec, secret=secret, student=sid, assignment=assignment, version=tag)
        nb = release_notebook(source, assignment=assignment, version=tag, path=src.parent, params=params)
        target = Path(out) / sid / assignment / f"{assignment}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(target))
        written.append(target)
    return written


def _as_json(nb: NotebookNode) -> str:
    return json.dumps(nb, sort_keys=True)


def stale(out: Path = EXERCISES, root: Path = SOLUTIONS, assignments: list[str] | None = None) -> list[str]:
    """Assignments whose released notebook in ``out`` differs from a fresh release (or is missing).

    ``assignments`` limits the check (default: every assignment with a source notebook).
    """
    import nbformat

    result = []
    for assignment in assignments or available(root):
        src = source_path(assignment, root)
        fresh = release_notebook(nbformat.read(str(src), as_version=4), assignment=assignment, path=src.parent)
        target = _target(assignment, out)
        if not target.exists() or _as_json(nbformat.read(str(target), as_version=4)) != _as_json(fresh):
            result.append(assignment)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.release", description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--check", action="store_true", help="fail when exercises/ is stale")
    group.add_argument("--write", action="store_true", help="regenerate exercises/ from solutions/")
    parser.add_argument("assignments", nargs="*", metavar="ID", help="only these assignments (default: all)")
    args = parser.parse_args(argv)
    chosen = args.assignments or available()
    if args.write:
        for assignment in chosen:
            print(f"released {release(assignment, EXERCISES).relative_to(REPO)}")
        return 0
    bad = stale(assignments=chosen)
    if bad:
        print(f"exercises/ is stale for: {', '.join(bad)}. Run: python -m autograder.release --write {' '.join(bad)}")
        return 1
    print(f"exercises/ is up to date ({', '.join(chosen)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
