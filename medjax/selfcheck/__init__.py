"""Students' self-check: the visible tests of every assignment.

A visible test cell in an exercise notebook reads::

    from medjax.selfcheck import check
    check("a1_convolution", "test_conv2d", conv2d)

It runs the item's visible cases against their stored expected values
(``medjax/selfcheck/expected/<assignment>.json``: the shipped package holds no
reference answers), prints a short scorecard on stdout and raises
``AssertionError`` with a teaching message when a case fails (so nbgrader and
Jupyter mark the cell as failed). Nothing is ever written to stderr.
"""
from __future__ import annotations

import importlib
from typing import Any

from medjax.selfcheck.cases import Case, Item, Mistake, Verdict, compare_values, run_item

__all__ = ["Case", "Item", "Mistake", "Verdict", "check", "compare_values", "items", "run_item", "run_visible"]

ASSIGNMENTS = ("a1_convolution", "a2_logistic_regression", "a3_neural_networks",
               "a4_cnn_pneumonia", "a5_resnet_unet")


def items(assignment: str) -> dict[str, Item]:
    """The graded items of an assignment, keyed by grade id."""
    if assignment not in ASSIGNMENTS:
        raise ValueError(f"unknown assignment {assignment!r}; known: {', '.join(ASSIGNMENTS)}")
    module = importlib.import_module(f"medjax.selfcheck.{assignment}")
    return {item.grade_id: item for item in module.ITEMS}


def run_visible(assignment: str, item: Item, obj: Any) -> list[Verdict]:
    """Judge ``obj`` on the visible cases of ``item`` (stored expectations unless the item has a reference)."""
    if item.reference is not None:
        return run_item(item, obj)
    from medjax.selfcheck import stored

    expected, mistakes = stored.for_item(assignment, item)
    return run_item(item, obj, expected=expected, mistake_outputs=mistakes)


def format_verdicts(item: Item, verdicts: list[Verdict]) -> str:
    """A scorecard: one line per case, then the first failure's explanation."""
    passed = sum(v.passed for v in verdicts)
    lines = [f"{'PASS' if passed == len(verdicts) else 'FAIL'} {item.name}: {passed}/{len(verdicts)} visible checks passed ({item.what})"]
    for v in verdicts:
        lines.append(f"  [{'x' if v.passed else ' '}] {v.what or 'case'}")
    failed = [v for v in verdicts if not v.passed]
    if failed:
        lines.append("")
        lines.append(f"First problem ({failed[0].what or 'case'}):")
        lines.append("  " + failed[0].message.replace("\n", "\n  "))
    return "\n".join(lines)


def check(assignment: str, grade_id: str, obj: Any) -> None:
    """Run the visible cases of one graded item on ``obj``; raise ``AssertionError`` on failure."""
    item = items(assignment)[grade_id]
    verdicts = run_visible(assignment, item, obj)
    report = format_verdicts(item, verdicts)
    print(report)
    if not all(v.passed for v in verdicts):
        raise AssertionError(f"{item.name}: some visible checks failed (see above)")
