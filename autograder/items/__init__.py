"""The trusted items: ``medjax.selfcheck`` items with their references and mistake models attached.

The shipped items (``medjax/selfcheck/<assignment>.py``) hold metadata, visible
inputs, probes and mistake names with hints, but no answers. Each
``autograder/items/<assignment>.py`` provides::

    REFERENCES: dict[grade_id, callable]              # the trusted answer (probed like the student's)
    MISTAKES: dict[grade_id, dict[mistake name, callable]]  # outputs of known mistakes

and :func:`full_items` joins the two with ``dataclasses.replace``. The grader,
``check_hidden`` and ``python -m autograder.visible`` use the full items. An
assignment without such a module keeps its items as they are (they must then
carry their references themselves).

>>> item = full_items("a1_convolution")["test_output_size"]
>>> item.reference(24, 5, stride=2, padding=2), item.mistakes[2].output(24, 5, stride=2, padding=2)
(12, 11)
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util

from medjax.selfcheck import items
from medjax.selfcheck.cases import Item

__all__ = ["full_items"]


def attach(item: Item, references: dict, mistakes: dict) -> Item:
    """``item`` with its trusted reference and mistake outputs (multiple choice keeps ``reference=None``)."""
    models = mistakes.get(item.grade_id, {})
    missing = [m.name for m in item.mistakes if m.name not in models]
    extra = set(models) - {m.name for m in item.mistakes}
    if missing or extra:
        raise LookupError(f"{item.grade_id}: mistake models missing {missing} or unknown {sorted(extra)}")
    return dataclasses.replace(
        item, reference=references.get(item.grade_id, item.reference),
        mistakes=tuple(dataclasses.replace(m, output=models[m.name]) for m in item.mistakes))


@functools.lru_cache(maxsize=None)
def _full(assignment: str) -> tuple[Item, ...]:
    shipped = items(assignment)
    name = f"autograder.items.{assignment}"
    if importlib.util.find_spec(name) is None:
        return tuple(shipped.values())
    module = importlib.import_module(name)
    unknown = set(module.REFERENCES) - set(shipped)
    if unknown:
        raise LookupError(f"autograder.items.{assignment}: references for unknown items {sorted(unknown)}")
    return tuple(attach(item, module.REFERENCES, module.MISTAKES) for item in shipped.values())


def full_items(assignment: str) -> dict[str, Item]:
    """The trusted items of ``assignment``, keyed by grade id, in the notebook's order."""
    return {item.grade_id: item for item in _full(assignment)}
