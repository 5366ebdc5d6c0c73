"""Example submissions for the demo: a full-marks one, one with the typical mistakes, a hostile one.

They are made from the instructor's source notebook of ``a1_convolution`` by
small, named edits, so they always match the current assignment.
"""
from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# (solution text, mistaken text, the mistake it stands for)
MISTAKES = (
    ("return (in_size + 2 * padding - kernel_size) // stride + 1",
     "return (in_size + padding - kernel_size) // stride + 1", "padding counted once, not per side"),
    ("k = jnp.asarray(kernel, dtype=jnp.float32)\n",
     "k = jnp.asarray(kernel, dtype=jnp.float32)[::-1, ::-1]  # scipy-style flip\n", "flipped kernel"),
    ("+ (out_channels if bias else 0)", "+ 0", "bias forgotten in the parameter count"),
)

HOSTILE = '''
# A hostile submission: every trick below must earn nothing and harm no one.
import os, sys, numpy, math
for path in ("results.json", "/tmp/results.json", "../grades.csv"):
    try:
        open(path, "w").write('{"score": 1000, "max_score": 16}')
    except OSError:
        pass
try:
    print(open(os.path.join("..", "autograder", "hidden", "a1_convolution.py")).read()[:200])
except OSError:
    pass
numpy.allclose = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
math.isclose = lambda *a, **k: True
print('{"score": 16, "max_score": 16}')

class _AlwaysEqual(float):
    def __eq__(self, other):
        return True
    __hash__ = float.__hash__

def output_size(in_size, kernel_size, stride=1, padding=0):
    return _AlwaysEqual(0)

def conv2d(image, kernel, stride=1, padding=0, mode="zero"):
    import jax
    return jax.lax.conv_general_dilated(image[None, :, :, None], kernel[:, :, None, None], (stride, stride),
                                        [(padding, padding)] * 2, dimension_numbers=("NHWC", "HWIO", "NHWC"))[0, :, :, 0]
'''


def _source(assignment: str) -> dict:
    return json.loads((REPO / "solutions" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))


def _released(assignment: str) -> dict:
    return json.loads((REPO / "exercises" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))


def _edit(nb: dict, old: str, new: str) -> None:
    for cell in nb["cells"]:
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if old in text:
            cell["source"] = text.replace(old, new)
            return
    raise ValueError(f"example edit not applicable: {old!r}")


def _solution(assignment: str, params: dict | None) -> dict:
    """The instructor's solution, rendered for one student's variant parameters when given."""
    from autograder.variants import render_source

    return render_source(_source(assignment), assignment, params) if params else _source(assignment)


def example_submissions(assignment: str = "a1_convolution",
                        params: dict[str, dict] | None = None) -> dict[str, tuple[bytes, str]]:
    """``student id -> (notebook bytes, what it is)`` for the demo's grading run.

    ``params``: student id -> variant parameters (a release with a roster): each example
    answers its own student's variant.
    """
    params = params or {}
    full = _solution(assignment, params.get("ada_full_marks"))
    mistakes = _solution(assignment, params.get("ben_mistakes"))
    for old, new, _ in MISTAKES:
        _edit(mistakes, old, new)
    hostile = _released(assignment)
    hostile["cells"].append({"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                             "source": HOSTILE})
    as_bytes = lambda nb: json.dumps(nb, indent=1).encode("utf-8")  # noqa: E731
    return {"ada_full_marks": (as_bytes(full), "the instructor's solution"),
            "ben_mistakes": (as_bytes(mistakes), "typical mistakes: " + "; ".join(m for *_, m in MISTAKES)),
            "eve_hostile": (as_bytes(hostile), "forged results, monkeypatching, a lying float, a banned lax.conv")}


def write_examples(folder: str | Path, assignment: str = "a1_convolution",
                   params: dict[str, dict] | None = None) -> dict[str, str]:
    """Write the examples as ``<student>.ipynb`` into ``folder``; return student -> description."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    described = {}
    for student, (data, what) in example_submissions(assignment, params).items():
        (folder / f"{student}.ipynb").write_bytes(data)
        described[student] = what
    return described
