"""Run every benchmark script in this folder in turn (``make bench``); extra arguments (e.g. ``--quick``) pass through.

Scripts are the ``*.py`` files here except this one and private ``_*.py``
helpers, in name order; with ``--quick``, scripts without that flag are skipped. Exit status: the number of scripts that failed.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def scripts() -> list[Path]:
    """The benchmark scripts, in name order."""
    return sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name and not p.name.startswith("_"))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    failed = []
    for script in scripts():
        if "--quick" in argv and '"--quick"' not in script.read_text():
            print(f"== {script.name}: skipped (it has no --quick mode)", flush=True)
            continue
        print(f"== {script.name} {' '.join(argv)}", flush=True)
        t0 = time.perf_counter()
        code = subprocess.call([sys.executable, str(script), *argv])
        print(f"== {script.name}: exit {code} in {time.perf_counter() - t0:.0f} s", flush=True)
        if code:
            failed.append(script.name)
    if failed:
        print(f"== failed: {', '.join(failed)}")
    return len(failed)


if __name__ == "__main__":
    sys.exit(main())
