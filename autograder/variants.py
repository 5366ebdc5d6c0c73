"""Per-student variants: parameters drawn from a course secret, rendered into each student's notebook.

A source notebook declares its parameters in ``metadata.medjax.variants``::

    {"kernels": {"choices": ["edge,blur,sharpen", "blur,edge,sharpen"], "default": "edge,blur,sharpen"},
     "n": {"range": [20, 64], "default": 32}}

(``range`` is inclusive, integers; ``default`` is what the common release without a
roster uses, else the first choice or the low end). Each student's values come from

    value(name) = choices[u % len(choices)]   or   lo + u % (hi - lo + 1),
    u = first 8 bytes of HMAC-SHA256(secret, student | assignment | version | name)

so a student's draw is fixed by the course secret, the student id, the assignment and
its version, and never read back from the notebook. The trusted module
``autograder.items.<assignment>`` says what varies:

* ``VARIANT_CASES(params) -> {grade_id: (visible cases, hidden cases)}``: the cases of
  the items that vary (items not named keep their cases);
* ``VARIANT_TEXT(params) -> {placeholder: text}``: extra text for the notebook.

Rendering: a markdown cell with ``metadata.medjax.template`` gets that template with
every ``{{name}}`` replaced by the value; a code line ending in ``# variant: name`` gets
``name``'s text as the right-hand side of its ``=``. The source notebook itself shows the
defaults (so nbgrader's own ``generate_assignment`` gives the common release).

>>> spec = {"lr": {"choices": [0.05, 0.1, 0.2]}, "n": {"range": [10, 20]}}
>>> a = draw(spec, secret=b"course secret 2026", student="s1", assignment="a2", version="1.0")
>>> a == draw(spec, secret=b"course secret 2026", student="s1", assignment="a2", version="1.0")
True
>>> a["lr"] in (0.05, 0.1, 0.2) and 10 <= a["n"] <= 20
True
>>> render_text("n = {{n}}", {"n": 12})
'n = 12'
"""
from __future__ import annotations

import hashlib
import hmac
import importlib
import importlib.util
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["MIN_SECRET_BYTES", "SECRET_ENV", "checks", "defaults", "draw", "for_student", "read_secret", "render_cell",
           "render_source", "render_text", "spec_of", "student_cases", "text_values", "without_values"]

SECRET_ENV = "MEDJAX_COURSE_SECRET"
MIN_SECRET_BYTES = 16
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_CODE_LINE = re.compile(r"^(?P<lhs>\s*[A-Za-z_][A-Za-z0-9_, ]*?\s*=\s*).*?(?P<tag>\s*#\s*variant:\s*(?P<name>\w+)\s*)$")


def spec_of(nb: Mapping) -> dict[str, dict]:
    """The variant parameters a source notebook declares (``metadata.medjax.variants``), checked."""
    spec = dict(nb.get("metadata", {}).get("medjax", {}).get("variants", {}) or {})
    for name, entry in spec.items():
        has = [k for k in ("choices", "range") if k in entry]
        if len(has) != 1:
            raise ValueError(f"variant {name!r}: give exactly one of 'choices' or 'range', got {sorted(entry)}")
        if "choices" in entry and not entry["choices"]:
            raise ValueError(f"variant {name!r}: 'choices' is empty")
        if "range" in entry:
            lo, hi = entry["range"]
            if not (isinstance(lo, int) and isinstance(hi, int) and lo <= hi):
                raise ValueError(f"variant {name!r}: 'range' must be [lo, hi] integers with lo <= hi, got {entry['range']}")
    return spec


def defaults(spec: Mapping[str, Mapping]) -> dict[str, Any]:
    """The common release's values: each parameter's ``default``, else its first choice or low end."""
    return {name: e.get("default", e["choices"][0] if "choices" in e else e["range"][0])
            for name, e in sorted(spec.items())}


def draw(spec: Mapping[str, Mapping], *, secret: bytes, student: str, assignment: str, version: str) -> dict[str, Any]:
    """One student's parameters: a pure function of (secret, student, assignment, version, spec)."""
    params = {}
    for name, entry in sorted(spec.items()):
        message = "\x1f".join((student, assignment, version, name)).encode("utf-8")
        u = int.from_bytes(hmac.new(secret, message, hashlib.sha256).digest()[:8], "big")
        if "choices" in entry:
            params[name] = entry["choices"][u % len(entry["choices"])]
        else:
            lo, hi = entry["range"]
            params[name] = lo + u % (hi - lo + 1)
    return params


def for_student(nb: Mapping, *, assignment: str, student: str, secret: bytes, version: str | None = None) -> dict:
    """The draw of ``student`` for the parameters a source notebook declares (its version by default)."""
    tag = version or str(nb.get("metadata", {}).get("medjax", {}).get("version") or "")
    return draw(spec_of(nb), secret=secret, student=student, assignment=assignment, version=tag)


def read_secret(secret_file: str | Path | None = None) -> bytes | None:
    """The course secret: the file's content, else ``$MEDJAX_COURSE_SECRET``, else None.

    Raises ``ValueError`` for a secret shorter than ``MIN_SECRET_BYTES`` (it could be guessed).
    """
    if secret_file:
        secret = Path(secret_file).read_bytes().strip()
        where = str(secret_file)
    else:
        secret = os.environ.get(SECRET_ENV, "").strip().encode("utf-8")
        where = f"${SECRET_ENV}"
        if not secret:
            return None
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the course secret in {where} has {len(secret)} bytes; use at least {MIN_SECRET_BYTES} "
                         "random ones, e.g. `python -c \"import secrets; print(secrets.token_hex(32))\"`")
    return secret


# --------------------------------------------------------------------------- what varies (trusted side)


def _module(assignment: str):
    name = f"autograder.items.{assignment}"
    return importlib.import_module(name) if importlib.util.find_spec(name) else None


def student_cases(assignment: str, params: Mapping[str, Any]) -> dict[str, tuple[tuple, tuple]]:
    """``grade_id -> (visible cases, hidden cases)`` of the items that vary (empty when none do)."""
    module = _module(assignment)
    make = getattr(module, "VARIANT_CASES", None)
    return {gid: (tuple(v), tuple(h)) for gid, (v, h) in make(dict(params)).items()} if make and params else {}


def text_values(assignment: str, params: Mapping[str, Any]) -> dict[str, str]:
    """Placeholder -> text: every parameter (``str``) plus the module's ``VARIANT_TEXT(params)``."""
    values = {name: str(value) for name, value in params.items()}
    make = getattr(_module(assignment), "VARIANT_TEXT", None)
    if make and params:
        values.update(make(dict(params)))
    return values


def render_text(text: str, values: Mapping[str, str], *, code: bool = False) -> str:
    """Fill ``{{name}}`` placeholders (markdown) or ``# variant: name`` lines (code)."""
    if not code:
        return _PLACEHOLDER.sub(lambda m: str(values[m[1]]) if m[1] in values else m[0], text)
    lines = []
    for line in text.split("\n"):
        m = _CODE_LINE.match(line)
        if m and m["name"] in values:
            line = f"{m['lhs']}{values[m['name']]}{m['tag']}"
        lines.append(line)
    return "\n".join(lines)


def without_values(source: str) -> str:
    """A code cell's text with the value of every ``# variant: name`` line removed.

    Two students' renderings of one instructor cell give the same text, so the grader
    recognises the instructor's demonstration cells in every variant.

    >>> without_values("n = 42  # variant: n") == without_values("n = 17  # variant: n")
    True
    """
    return "\n".join(_CODE_LINE.sub(lambda m: m["lhs"] + m["tag"], line) for line in source.split("\n"))


def render_cell(cell: dict, values: Mapping[str, str]) -> None:
    """Render one cell in place: a markdown cell from its ``metadata.medjax.template``, code line by line."""
    template = cell.get("metadata", {}).get("medjax", {}).get("template")
    if template is not None and cell.get("cell_type") == "markdown":
        cell["source"] = render_text(template, values)
        return
    source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    if cell.get("cell_type") == "code":
        cell["source"] = render_text(source, values, code=True)


def render_source(nb: dict, assignment: str, params: Mapping[str, Any]) -> dict:
    """The source notebook rendered for ``params`` (in place; returned): one student's solution notebook."""
    values = text_values(assignment, params)
    for cell in nb.get("cells", []):
        render_cell(cell, values)
    return nb


def checks(assignment: str, params: Mapping[str, Any]) -> dict[str, list[dict]]:
    """The visible checks of the varying items for ``params``, as plain data for the student's notebook.

    Per grade id, per visible case: ``{"args", "kwargs", "what", "rtol", "atol", "expected", "mistakes"}``
    (format of :mod:`medjax.selfcheck.stored`, plus the inputs). Hidden cases are never included.
    """
    from autograder.items import full_items
    from medjax.selfcheck.cases import expected_value, mistake_value, to_plain

    trusted = full_items(assignment)
    out = {}
    for gid, (visible, _hidden) in student_cases(assignment, params).items():
        item = trusted[gid]
        entries = []
        for case in visible:
            mistakes = {}
            for m in item.mistakes:
                try:
                    mistakes[m.name] = mistake_value(m, case)
                except Exception:  # noqa: BLE001 - a mistake model that does not apply here
                    continue
            entries.append({"args": to_plain(list(case.args)), "kwargs": to_plain(dict(case.kwargs)),
                            "what": case.what, "rtol": case.rtol, "atol": case.atol,
                            "expected": expected_value(item, case), "mistakes": mistakes})
        out[gid] = entries
    return out
