"""The stored expectations of the visible cases: ``medjax/selfcheck/expected/<assignment>.json``.

The shipped items carry no reference answers. What a visible case should return,
and what each known mistake returns on it, is generated on the instructor's side
(``python -m autograder.visible --write``) and shipped as plain data::

    {"assignment": "a1_convolution",
     "items": {"test_conv2d": [{"expected": <plain>, "mistakes": {"flipped kernel": <plain>}}, ...]}}

with one entry per visible case, in the order of ``Item.cases``.

A per-student variant notebook carries its own visible checks for the items that
vary (same entries plus the inputs ``args``/``kwargs`` and the case's ``what``,
``rtol``, ``atol``), packed by :func:`pack` into one code cell that the release
writes after the setup cell (:func:`variant_cell`)::

    from medjax.selfcheck import use_variant
    use_variant("a1_convolution", "eJy...")

Running it registers those checks, so the notebook's own test cells and
``medjax check`` judge the student's numbers; :func:`checks_in` reads them back
without running anything.

>>> blob = pack({"test_f": [{"args": [1], "kwargs": {}, "expected": 2}]})
>>> unpack(blob)["test_f"][0]["expected"]
2

>>> sorted(load("a1_convolution")["test_output_size"][0])
['expected', 'mistakes']
"""
from __future__ import annotations

import functools
import ast
import base64
import json
import zlib
from pathlib import Path
from typing import Any

from medjax.selfcheck.cases import Case, Item, Plain, from_plain

EXPECTED_DIR = Path(__file__).resolve().parent / "expected"

__all__ = ["EXPECTED_DIR", "VARIANT_CALL", "checks_in", "for_item", "from_checks", "load", "pack", "path",
           "unpack", "variant_cell"]

VARIANT_CALL = "use_variant"


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


def pack(checks: dict[str, list[dict[str, Plain]]]) -> str:
    """Checks as compact text for a code cell: JSON, zlib, base64."""
    return base64.b64encode(zlib.compress(json.dumps(checks, separators=(",", ":")).encode("utf-8"), 9)).decode("ascii")


def unpack(blob: str) -> dict[str, list[dict[str, Plain]]]:
    """The inverse of :func:`pack`, with a readable error for edited text."""
    try:
        checks = json.loads(zlib.decompress(base64.b64decode("".join(blob.split()), validate=True)))
    except (ValueError, zlib.error) as exc:
        raise ValueError("the variant's checks were edited and cannot be read: restore the cell "
                         "from your released notebook (the grader does not use it)") from exc
    if not isinstance(checks, dict):
        raise ValueError("the variant's checks must be a mapping of grade ids")
    return checks


def from_checks(checks: dict[str, list[dict[str, Plain]]]) -> dict[str, tuple[list[Case], list[Plain], list[dict[str, Plain]]]]:
    """``grade_id -> (cases, expected values, mistake outputs)``, ready for ``run_item``."""
    out = {}
    for gid, entries in checks.items():
        cases = [Case(args=tuple(from_plain(e["args"])), kwargs=from_plain(e["kwargs"]), what=str(e.get("what", "")),
                      rtol=e.get("rtol"), atol=e.get("atol")) for e in entries]
        out[str(gid)] = (cases, [e["expected"] for e in entries], [dict(e.get("mistakes", {})) for e in entries])
    return out


def variant_cell(assignment: str, checks: dict[str, list[dict[str, Plain]]]) -> dict[str, Any]:
    """The code cell (nbformat 4 dict) a variant release writes after the setup cell."""
    blob = pack(checks)
    lines = "\n".join(f'    "{blob[i:i + 96]}"' for i in range(0, len(blob), 96))
    source = ("# Your own variant of this assignment: the visible checks below use your numbers.\n"
              "# (Editing this cell changes only your self-check; the grader derives your variant itself.)\n"
              f"from medjax.selfcheck import {VARIANT_CALL}\n"
              f"{VARIANT_CALL}({assignment!r}, (\n{lines}\n))")
    return {"cell_type": "code", "execution_count": None, "id": "medjax-variant",
            "metadata": {"medjax": {"variant_checks": True}, "editable": False, "deletable": False},
            "outputs": [], "source": source}


def checks_in(nb: dict) -> dict[str, list[dict[str, Plain]]]:
    """The checks in a notebook's variant cell (empty when it has none), read without running code."""
    for cell in nb.get("cells", []):
        if not cell.get("metadata", {}).get("medjax", {}).get("variant_checks"):
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == VARIANT_CALL and len(node.args) == 2:
                return unpack(ast.literal_eval(node.args[1]))
    return {}
