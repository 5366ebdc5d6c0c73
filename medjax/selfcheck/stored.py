"""The stored expectations of the visible cases: ``medjax/selfcheck/expected/<assignment>.json``.

The shipped items carry no reference answers. What a visible case should return,
and what each known mistake returns on it, is generated on the instructor's side
(``python -m autograder.visible --write``) and shipped as plain data::

    {"assignment": "a1_convolution",
     "items": {"test_conv2d": [{"expected": <plain>, "mistakes": {"flipped kernel": <plain>}}, ...]}}

with one entry per visible case, in the order of ``Item.cases``.

>>> sorted(load("a1_convolution")["test_output_size"][0])
['expected', 'mistakes']
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from medjax.selfcheck.cases import Item, Plain

EXPECTED_DIR = Path(__file__).resolve().parent / "expected"

__all__ = ["EXPECTED_DIR", "for_item", "load", "path"]


def path(assignment: str) -> Path:
    """Where the stored expectations of ``assignment`` live."""
    return EXPECTED_DIR / f"{assignment}.json"


@functools.lru_cache(maxsize=None)
def load(assignment: str) -> dict[str, list[dict[str, Any]]]:
    """Per grade id, per visible case: ``{"expected": plain, "mistakes": {name: plain}}``."""
    target = path(assignment)
    if not target.exists():
        raise FileNotFoundError(f"no stored expectations for {assignment} ({target}); "
                                "an instructor regenerates them with `python -m autograder.visible --write`")
    return json.loads(target.read_text())["items"]


def for_item(assignment: str, item: Item) -> tuple[list[Plain], list[dict[str, Plain]]]:
    """(expected values, mistake outputs) of the visible cases of ``item``, ready for ``run_item``."""
    entries = load(assignment).get(item.grade_id)
    if entries is None or len(entries) != len(item.cases):
        raise LookupError(f"the stored expectations of {assignment} do not match {item.grade_id} "
                          f"({0 if entries is None else len(entries)} stored, {len(item.cases)} cases); "
                          "regenerate them with `python -m autograder.visible --write`")
    return [e["expected"] for e in entries], [dict(e.get("mistakes", {})) for e in entries]
