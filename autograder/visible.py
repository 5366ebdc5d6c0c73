"""Generate the stored expectations of the visible cases shipped with medjax.

The shipped items hold no answers, so what each visible case should return (and
what each known mistake returns on it) is computed here from the trusted items
(:func:`autograder.items.full_items`) and written as plain data to
``medjax/selfcheck/expected/<assignment>.json`` (format: :mod:`medjax.selfcheck.stored`).
Only visible cases are written: hidden cases never leave ``autograder/``.

Check that the stored files are up to date (CI)::

    python -m autograder.visible --check

Regenerate them (all assignments, or the ones named)::

    python -m autograder.visible --write [a1_convolution ...]
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from medjax.selfcheck import ASSIGNMENTS, stored
from medjax.selfcheck.cases import compare_values, expected_value, from_plain, mistake_value

__all__ = ["generate", "main", "render", "stale", "write"]

RTOL, ATOL = 1e-6, 1e-9  # --check tolerance: float round-off between machines is not staleness


def generate(assignment: str) -> dict[str, Any]:
    """The stored-expectation document of ``assignment`` (visible cases only)."""
    from autograder.items import full_items

    doc: dict[str, Any] = {"assignment": assignment, "items": {}}
    for gid, item in full_items(assignment).items():
        entries = []
        for case in item.cases:
            outputs = {}
            for mistake in item.mistakes:
                try:
                    outputs[mistake.name] = mistake_value(mistake, case)
                except Exception:  # noqa: BLE001 - a mistake model that does not apply to this case
                    continue
            entries.append({"expected": expected_value(item, case), "mistakes": outputs})
        doc["items"][gid] = entries
    return doc


def render(doc: dict[str, Any]) -> str:
    """The JSON text written to disk (stable: items in notebook order)."""
    return json.dumps(doc, indent=1) + "\n"


def write(assignment: str) -> None:
    """Regenerate ``medjax/selfcheck/expected/<assignment>.json``."""
    target = stored.path(assignment)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(generate(assignment)))
    stored.load.cache_clear()


def _same(a: Any, b: Any) -> bool:
    return compare_values(from_plain(a), from_plain(b), rtol=RTOL, atol=ATOL)[0]


def stale(assignment: str) -> list[str]:
    """What differs between the stored file and a fresh generation (empty when up to date)."""
    target = stored.path(assignment)
    if not target.exists():
        return [f"{assignment}: {target.name} is missing"]
    fresh = generate(assignment)["items"]
    old = json.loads(target.read_text()).get("items", {})
    problems = [f"{assignment}: {gid} is not stored" for gid in fresh if gid not in old]
    problems += [f"{assignment}: {gid} is stored but is no item" for gid in old if gid not in fresh]
    for gid, entries in fresh.items():
        if gid not in old:
            continue
        if len(entries) != len(old[gid]):
            problems.append(f"{assignment}: {gid} has {len(entries)} visible cases, {len(old[gid])} stored")
            continue
        for i, (new, was) in enumerate(zip(entries, old[gid])):
            if not _same(new["expected"], was.get("expected")):
                problems.append(f"{assignment}: {gid} case {i}: expected value changed")
            if set(new["mistakes"]) != set(was.get("mistakes", {})) or not all(
                    _same(v, was["mistakes"][k]) for k, v in new["mistakes"].items()):
                problems.append(f"{assignment}: {gid} case {i}: mistake outputs changed")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.visible", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate the stored expectations")
    mode.add_argument("--check", action="store_true", help="fail when a stored file is stale")
    parser.add_argument("assignments", nargs="*", help=f"assignment ids (default: all of {', '.join(ASSIGNMENTS)})")
    args = parser.parse_args(argv)
    unknown = [a for a in args.assignments if a not in ASSIGNMENTS]
    if unknown:
        parser.error(f"unknown assignment(s): {', '.join(unknown)}")
    chosen = args.assignments or list(ASSIGNMENTS)
    if args.write:
        for assignment in chosen:
            write(assignment)
            print(f"wrote {stored.path(assignment)}")
        return 0
    problems = [p for a in chosen for p in stale(a)]
    for p in problems:
        print(p)
    if problems:
        print("stale: run `python -m autograder.visible --write`")
        return 1
    print(f"up to date: {', '.join(chosen)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
