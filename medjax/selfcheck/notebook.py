"""Run a notebook's code as a plain Python namespace (no Jupyter kernel needed).

Used by ``medjax check``: the student's code cells run top to bottom in a fresh
process; grade cells are skipped (their checks are run directly instead).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class CellError:
    index: int
    error: str


def code_cells(nb: dict) -> list[tuple[int, str]]:
    """(index, source) of the code cells to run: not grade cells, IPython magics removed."""
    cells = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        cells.append((i, "\n".join(lines)))
    return cells


def execute(nb: dict, namespace: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[CellError]]:
    """Execute the notebook's code cells in one namespace; collect, don't raise, cell errors."""
    ns: dict[str, Any] = {"__name__": "__main__"} if namespace is None else namespace
    errors = []
    for index, source in code_cells(nb):
        try:
            exec(compile(source, f"<cell {index}>", "exec"), ns)  # noqa: S102 - the student's own code
        except NotImplementedError:
            continue  # an unanswered stub: its item reports it
        except Exception as exc:  # noqa: BLE001
            errors.append(CellError(index, f"{type(exc).__name__}: {exc}"))
    return ns, errors


def read(path: str | Path) -> dict:
    """Read a notebook as JSON with a readable error."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read notebook {path}: {exc}") from exc


def assignment_of(nb: dict, path: str | Path) -> str:
    """The assignment id: from medjax metadata, else the file name."""
    meta = nb.get("metadata", {}).get("medjax", {})
    return str(meta.get("assignment") or Path(path).stem)
