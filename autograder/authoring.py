"""Authoring helpers: build instructor notebooks with correct nbgrader metadata.

The ``.ipynb`` files in ``solutions/`` are the source of truth; these helpers only
make writing them (and keeping their metadata right) less error-prone::

    from autograder.authoring import md, code, solution, graded_tests, notebook, write

    nb = notebook([
        md("## Output size\\n$out = \\\\lfloor (in + 2p - f) / s \\\\rfloor + 1$"),
        code("import numpy as np", locked=True),
        solution('''def output_size(in_size, kernel_size, stride=1, padding=0):
        ### BEGIN SOLUTION
        return (in_size + 2 * padding - kernel_size) // stride + 1
        ### END SOLUTION''', grade_id="output_size_solution"),
        graded_tests("a1_convolution", "test_output_size", "output_size", points=1),
    ], assignment="a1_convolution", title="Convolution")
    write(nb, "solutions/a1_convolution/a1_convolution.ipynb")

Every cell gets nbgrader schema-3 metadata (``grade``, ``solution``, ``locked``,
``task``, ``grade_id``, ``schema_version`` and ``points`` for grade cells) and
nothing else under ``nbgrader``; medjax's own data lives under ``metadata.medjax``.
Cells given no ``grade_id`` get a stable one from their position
(``cell-md-3``, ``cell-code-4``) when :func:`notebook` assembles them.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.notebooknode import NotebookNode

__all__ = ["md", "code", "solution", "graded_tests", "notebook", "write"]

SCHEMA_VERSION = 3
_GRADE_ID = re.compile(r"^[a-zA-Z0-9_\-]+$")
_PENDING = "__medjax_pending__"  # placeholder grade id, replaced in notebook()


def _meta(*, grade: bool, solution: bool, locked: bool, grade_id: str | None,
          points: float | None = None) -> dict:
    if grade_id is not None and not _GRADE_ID.match(grade_id):
        raise ValueError(f"grade_id {grade_id!r} must match {_GRADE_ID.pattern}")
    meta = {"grade": grade, "solution": solution, "locked": locked, "task": False,
            "grade_id": grade_id if grade_id is not None else _PENDING,
            "schema_version": SCHEMA_VERSION}
    if grade:
        meta["points"] = points
    return meta


def _q(text: str) -> str:
    return json.dumps(text)


def _clean(source: str) -> str:
    return dedent(source).strip("\n")


def md(source: str, *, grade_id: str | None = None) -> NotebookNode:
    """A locked markdown cell (theory, instructions)."""
    cell = nbformat.v4.new_markdown_cell(_clean(source))
    cell.metadata["nbgrader"] = _meta(grade=False, solution=False, locked=True, grade_id=grade_id)
    return cell


def code(source: str, *, locked: bool = False, grade_id: str | None = None) -> NotebookNode:
    """A code cell: locked (setup, demos the student must not edit) or a free scratch cell."""
    cell = nbformat.v4.new_code_cell(_clean(source))
    if locked or grade_id is not None:
        cell.metadata["nbgrader"] = _meta(grade=False, solution=False, locked=locked, grade_id=grade_id)
    return cell


def solution(source: str, *, grade_id: str) -> NotebookNode:
    """A solution cell; its body must sit between ``### BEGIN SOLUTION`` / ``### END SOLUTION``."""
    text = _clean(source)
    if "### BEGIN SOLUTION" not in text or "### END SOLUTION" not in text:
        raise ValueError(f"solution cell {grade_id!r} needs ### BEGIN SOLUTION / ### END SOLUTION markers")
    cell = nbformat.v4.new_code_cell(text)
    cell.metadata["nbgrader"] = _meta(grade=False, solution=True, locked=False, grade_id=grade_id)
    return cell


def graded_tests(assignment: str, grade_id: str, name: str, *, points: float,
                 extra_visible: str = "") -> NotebookNode:
    """The standard grade cell: visible self-check, optional extra lines, hidden cases.

    The hidden block calls ``autograder.hidden.check_hidden``, which only exists on the
    instructor's side; nbgrader removes the block from released notebooks.
    """
    if points is None or points < 0:
        raise ValueError(f"grade cell {grade_id!r} needs points >= 0")
    lines = ["from medjax.selfcheck import check",
             f"check({_q(assignment)}, {_q(grade_id)}, {name})"]
    if extra_visible:
        lines.append(_clean(extra_visible))
    lines += ["### BEGIN HIDDEN TESTS",
              "from autograder.hidden import check_hidden",
              f"check_hidden({_q(assignment)}, {_q(grade_id)}, {name})",
              "### END HIDDEN TESTS"]
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["nbgrader"] = _meta(grade=True, solution=False, locked=True, grade_id=grade_id,
                                      points=points)
    return cell


def notebook(cells: list[NotebookNode], *, assignment: str, version: str = "1.0",
             title: str) -> NotebookNode:
    """Assemble a source notebook: a title cell, the cells, kernel and medjax metadata.

    Cells without a grade id get ``cell-<kind>-<index>``; duplicate grade ids raise.
    """
    header = md(f"# {title}\n\n*medjax course, assignment `{assignment}`.*")
    nb = nbformat.v4.new_notebook()
    nb.cells = [header, *cells]
    seen: set[str] = set()
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader")
        if meta is None:
            cell["id"] = f"cell-{index}"
            continue
        if meta["grade_id"] == _PENDING:
            meta["grade_id"] = f"cell-{'md' if cell.cell_type == 'markdown' else 'code'}-{index}"
        if meta["grade_id"] in seen:
            raise ValueError(f"duplicate grade_id {meta['grade_id']!r}")
        seen.add(meta["grade_id"])
        cell["id"] = meta["grade_id"][:64]  # stable cell ids: diffs stay readable
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python",
                                 "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["medjax"] = {"assignment": assignment, "version": version, "title": title}
    nbformat.validate(nb)
    return nb


def write(nb: NotebookNode, path: str | Path) -> Path:
    """Write a notebook (creating its folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path
