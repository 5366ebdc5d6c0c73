"""Harness pieces shared by the item modules: multiple-choice items and property checklists.

Nothing here computes a graded answer. A multiple-choice item (a variable
holding a string) is checked for its format only on the students' side; the
answer key lives in ``autograder/hidden`` as a :class:`ChoiceCase` and is
consulted only where the instructor's package is importable.

>>> item = choice_item(grade_id="test_q", name="q", points=1, what="a question", choices=("x", "y"),
...                    assignment="none")
>>> item.compare("X ", None, item.cases[0])
(True, 'ok')
>>> item.compare("z", None, item.cases[0])[0]
False
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Any

from medjax.selfcheck.cases import Case, Item, compare_values

__all__ = ["ChoiceCase", "checklist", "choice_item", "is_choice_item"]


@dataclass(frozen=True)
class ChoiceCase(Case):
    """A hidden multiple-choice case: ``answer`` stays on the trusted side (not an input)."""

    answer: str = ""


def _normal(text: Any) -> str:
    return str(text).strip().lower()


def _answer_probe(obj: Any) -> Any:
    """The student's answer must be a plain string."""
    if type(obj) is not str:
        raise TypeError(f"the answer should be a string such as \"blur\", got {type(obj).__name__}")
    return obj


def _trusted_answer(assignment: str, grade_id: str) -> str:
    """The answer from the instructor's hidden cases when they are importable (grader side), else ""."""
    try:
        hidden = importlib.import_module(f"autograder.hidden.{assignment}").HIDDEN
    except ImportError:  # a student's install: no answer key
        return ""
    return next((c.answer for c in hidden.get(grade_id, ()) if getattr(c, "answer", "")), "")


def choice_item(*, grade_id: str, name: str, points: float, what: str, choices: tuple[str, ...],
                assignment: str | None = None) -> Item:
    """A graded multiple-choice variable.

    Students' self-check only checks the format (one of ``choices``). Where the
    instructor's answer key is importable (the grader, an instructor's nbgrader),
    every case also checks the answer, so a wrong choice earns no partial credit.
    ``assignment`` defaults to the calling module's name (``medjax.selfcheck.<id>``).
    """
    if assignment is None:
        assignment = sys._getframe(1).f_globals.get("__name__", "").rpartition(".")[2]

    def compare(got: Any, expected: Any, case: Case) -> tuple[bool, str]:
        if not isinstance(got, str) or _normal(got) not in choices:
            return False, f"{name} should be one of {', '.join(repr(c) for c in choices)}, got {got!r}"
        answer = getattr(case, "answer", "") or _trusted_answer(assignment, grade_id)
        if answer and _normal(got) != _normal(answer):
            return False, f"{name} is not the right answer"
        return True, "ok"

    return Item(grade_id=grade_id, name=name, points=points, what=what, reference=None,
                cases=(Case(what=f"{name} is one of the choices {', '.join(choices)}"),),
                probe=_answer_probe, compare=compare)


def is_choice_item(item: Item) -> bool:
    """Whether ``item`` was made by :func:`choice_item` (a variable holding a string, no reference)."""
    return item.probe is _answer_probe


def checklist(hints: dict[str, str]):
    """A compare for probes that return a dict of properties: the first wrong key gives its hint.

    A hint may use ``{got}`` (the student's value, never the expected one).
    """
    def compare(got: Any, expected: Any, case: Case) -> tuple[bool, str]:
        if not isinstance(got, dict):
            return False, "the probe did not get a result it understands"
        for key, hint in hints.items():
            if key not in expected:  # a property this case does not ask about
                continue
            if key not in got or not compare_values(got[key], expected[key], rtol=1e-5, atol=1e-6)[0]:
                return False, hint.format(got=got.get(key))
        return True, "ok"
    return compare
