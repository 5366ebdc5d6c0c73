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

__all__ = ["Case", "Item", "Mistake", "Verdict", "check", "compare_values", "items", "run_item", "run_visible",
           "use_variant"]

ASSIGNMENTS = ("a1_convolution", "a2_logistic_regression", "a3_neural_networks",
               "a4_cnn_pneumonia", "a5_resnet_unet")


def items(assignment: str) -> dict[str, Item]:
    """The graded items of an assignment, keyed by grade id."""
    if assignment not in ASSIGNMENTS:
        raise ValueError(f"unknown assignment {assignment!r}; known: {', '.join(ASSIGNMENTS)}")
    module = importlib.import_module(f"medjax.selfcheck.{assignment}")
    return {item.grade_id: item for item in module.ITEMS}


# assignment -> grade_id -> (cases, expected, mistake outputs) of this notebook's own variant
_VARIANTS: dict[str, dict[str, tuple]] = {}


def use_variant(assignment: str, blob: str) -> None:
    """Use a per-student variant's visible checks (the call its release writes) for the items that vary."""
    from medjax.selfcheck import stored

    items(assignment)  # validates the id
    _VARIANTS[assignment] = stored.from_checks(stored.unpack(blob))


def run_visible(assignment: str, item: Item, obj: Any) -> list[Verdict]:
    """Judge ``obj`` on the visible cases of ``item``: the variant's own cases where it has them, else the
    stored expectations (or the item's reference)."""
    own = _VARIANTS.get(assignment, {}).get(item.grade_id)
    if own is not None:
        cases, expected, mistakes = own
        return run_item(item, obj, cases, expected=expected, mistake_outputs=mistakes)
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
