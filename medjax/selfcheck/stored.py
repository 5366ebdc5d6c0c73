"""The stored expectations of the visible cases: ``medjax/selfcheck/expected/<assignment>.json``.

The shipped items carry no reference answers. What a visible case should return,
and what each known mistake returns on it, is generated on the instructor's side
(``python -m autograder.visible --write``) and shipped as plain data::

    {"assignment": "a1_convolution",
     "items": {"test_conv2d": [{"expected": <plain>, "mistakes": {"flipped kernel": <plain>}}, ...]}}

with one entry per visible case, in the order of ``Item.cases``.

A per-student variant notebook carries its own visible checks for the items that
vary (``metadata.medjax.checks``, same entries plus the inputs ``args``/``kwargs``
and the case's ``what``, ``rtol``, ``atol``); :func:`from_notebook` reads them.

>>> sorted(load("a1_convolution")["test_output_size"][0])
['expected', 'mistakes']
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from medjax.selfcheck.cases import Case, Item, Plain, from_plain

EXPECTED_DIR = Path(__file__).resolve().parent / "expected"

__all__ = ["EXPECTED_DIR", "for_item", "from_notebook", "load", "path"]


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


def from_notebook(nb: dict) -> dict[str, tuple[list[Case], list[Plain], list[dict[str, Plain]]]]:
    """``grade_id -> (cases, expected values, mistake outputs)`` embedded in a variant notebook (else empty)."""
    meta = nb.get("metadata", {}).get("medjax", {})
    embedded = meta.get("checks") if isinstance(meta, dict) else None
    out = {}
    for gid, entries in (embedded or {}).items():
        cases = [Case(args=tuple(from_plain(e["args"])), kwargs=from_plain(e["kwargs"]), what=str(e.get("what", "")),
                      rtol=e.get("rtol"), atol=e.get("atol")) for e in entries]
        out[str(gid)] = (cases, [e["expected"] for e in entries], [dict(e.get("mistakes", {})) for e in entries])
    return out
