"""Graded items and their test cases: the single source of truth for exercises.

The same :class:`Item` objects drive three places:

* the visible test cells of a student's notebook (``medjax.selfcheck.check``),
* ``medjax check NOTEBOOK`` (students' clean-process self-check),
* the instructor's grader (``autograder``), which adds hidden cases kept only in
  ``autograder/hidden/`` and in the instructor's ``solutions/`` notebooks.

An item names the student's function (``name``) and the nbgrader grade cell that
tests it (``grade_id``, ``points``). The items shipped in ``medjax.selfcheck``
carry no answers (``reference=None``, mistakes without ``output``): their expected
values are stored data (``medjax/selfcheck/expected/<assignment>.json``, written by
``python -m autograder.visible --write``), passed to :func:`run_item` as
``expected=`` and ``mistake_outputs=``. The instructor's ``autograder.items``
attaches the trusted references and mistake models. For each
:class:`Case`, the *probe* turns the student's object and the case's inputs into
plain data (numbers, strings, arrays); by default it simply calls the function.
Probes run next to the student's code (in the grader: inside the sandboxed
child); the comparison of plain data always runs on the trusted side.

>>> import numpy as np
>>> item = Item(grade_id="test_double", name="double", points=1, what="doubles its input",
...             reference=lambda x: 2 * np.asarray(x), cases=(Case(args=([1.0, 2.0],)),))
>>> [v.passed for v in run_item(item, lambda x: 2 * np.asarray(x))]
[True]
>>> [v.passed for v in run_item(item, lambda x: 3 * np.asarray(x))]
[False]
"""
from __future__ import annotations

import base64
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Plain = Any  # None | bool | int | float | str | list | dict | {"__ndarray__": ...}

_ARRAY_KINDS = "biufc"  # bool, int, uint, float, complex


@dataclass(frozen=True)
class Case:
    """One set of inputs. ``what`` says in words what it checks (shown in feedback)."""

    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    what: str = ""
    rtol: float | None = None
    atol: float | None = None


@dataclass(frozen=True)
class Mistake:
    """A known learner mistake: ``output(*args, **kwargs)`` is what it returns; ``hint`` teaches.

    ``output`` is None in the shipped items: the outputs of the visible cases are stored data.
    """

    name: str
    hint: str
    output: Callable[..., Any] | None = None


@dataclass(frozen=True)
class Item:
    """A graded function (or class) of an assignment.

    Attributes:
      grade_id: the nbgrader grade cell id (``^[a-zA-Z0-9_-]+$``), unique in the notebook.
      name: the name the student defines in the notebook.
      points: the cell's points; partial credit is ``points * passed / cases``.
      what: one line saying what is checked, shown to students.
      reference: the trusted answer; ``probe(reference, case)`` gives the expected value.
        None in the shipped items (expected values are stored data) and for multiple choice.
      cases: the visible cases (hidden ones live in ``autograder/hidden``).
      probe: ``probe(obj, *args, **kwargs) -> plain data``; default calls ``obj(*args, **kwargs)``.
        Give a probe for classes (e.g. build a Flax module and count its parameters).
      compare: ``compare(got, expected, case) -> (ok, message)`` on plain data; default
        :func:`compare_values` with the item's tolerances.
      mistakes: known mistakes whose outputs are recognised and named in the feedback.
      banned: dotted names or prefixes the function must not call (``"jax.lax.conv"``).
    """

    grade_id: str
    name: str
    points: float
    what: str
    reference: Callable[..., Any] | None
    cases: tuple[Case, ...]
    probe: Callable[..., Any] | None = None
    compare: Callable[[Plain, Plain, Case], tuple[bool, str]] | None = None
    mistakes: tuple[Mistake, ...] = ()
    banned: tuple[str, ...] = ()
    rtol: float = 1e-5
    atol: float = 1e-6


@dataclass(frozen=True)
class Verdict:
    """The outcome of one case. ``message`` never contains hidden values when ``reveal`` was False."""

    passed: bool
    message: str
    what: str = ""
    mistake: str | None = None


# --------------------------------------------------------------------------- plain data


def to_plain(value: Any, *, _depth: int = 0) -> Plain:
    """Encode a value as JSON-safe plain data; arrays become base64 buffers.

    Anything that is not a number, string, bool, None, sequence, mapping or a
    numeric array raises ``TypeError``: the grader never ships objects.

    >>> to_plain((1, 2.5, "a"))
    [1, 2.5, 'a']
    >>> from_plain(to_plain(np.arange(3, dtype=np.int32)))
    array([0, 1, 2], dtype=int32)
    """
    if _depth > 20:
        raise TypeError("value nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)) and type(value) in (int, float):
        return value
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        return [to_plain(v, _depth=_depth + 1) for v in value]
    if isinstance(value, dict) and type(value) is dict:
        return {str(k): to_plain(v, _depth=_depth + 1) for k, v in value.items()}
    arr = np.asarray(value)  # jax arrays, numpy scalars, numpy arrays
    if arr.dtype.kind not in _ARRAY_KINDS:
        raise TypeError(f"cannot send a value of type {type(value).__name__} (dtype {arr.dtype})")
    # tobytes(order="C") copies any layout; np.ascontiguousarray would turn a 0-d array into shape (1,)
    return {"__ndarray__": base64.b64encode(arr.tobytes(order="C")).decode("ascii"),
            "dtype": arr.dtype.str, "shape": list(arr.shape)}


def from_plain(value: Plain, *, _depth: int = 0) -> Any:
    """Decode :func:`to_plain` data into Python and NumPy values, building only plain types."""
    if _depth > 20:
        raise TypeError("value nested too deeply")
    if isinstance(value, dict) and set(value) == {"__ndarray__", "dtype", "shape"}:
        dtype = np.dtype(str(value["dtype"]))
        if dtype.kind not in _ARRAY_KINDS or dtype.hasobject:
            raise TypeError(f"refusing dtype {dtype}")
        shape = tuple(int(s) for s in value["shape"])
        data = base64.b64decode(str(value["__ndarray__"]), validate=True)
        if len(data) != dtype.itemsize * math.prod(shape):
            raise TypeError("array buffer does not match its shape")
        return np.frombuffer(data, dtype=dtype).reshape(shape).copy()
    if isinstance(value, dict):
        return {str(k): from_plain(v, _depth=_depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [from_plain(v, _depth=_depth + 1) for v in value]
    if value is None or type(value) in (bool, int, float, str):
        return value
    raise TypeError(f"not plain data: {type(value).__name__}")


# --------------------------------------------------------------------------- comparison


def _describe(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape}" if x.ndim else "a scalar array"
    return type(x).__name__


def compare_values(got: Any, expected: Any, *, rtol: float = 1e-5, atol: float = 1e-6,
                   reveal: bool = True, path: str = "the result") -> tuple[bool, str]:
    """Compare decoded plain data strictly: same structure, same shape, close values.

    A scalar never passes for an array (no broadcasting), NaN never passes for a
    number, integers must match exactly, strings compare case- and space-insensitively.
    With ``reveal=False`` the message names the problem but no expected value.

    >>> compare_values(np.float64(1.0), 1.0)
    (True, 'ok')
    >>> compare_values(np.zeros(3), np.zeros((3, 1)))[1]
    'the result has shape (3,), expected shape (3, 1)'
    >>> compare_values(np.array(np.nan), 0.5, reveal=False)[1]
    'the result contains NaN'
    """
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            return False, f"{path} should be a sequence of {len(expected)} values, got {_describe(got)}"
        if len(got) != len(expected):
            return False, f"{path} has {len(got)} elements, expected {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            ok, msg = compare_values(g, e, rtol=rtol, atol=atol, reveal=reveal, path=f"{path}[{i}]")
            if not ok:
                return ok, msg
        return True, "ok"
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            return False, f"{path} should be a dict with keys {sorted(expected)}"
        for k in expected:
            ok, msg = compare_values(got[k], expected[k], rtol=rtol, atol=atol, reveal=reveal, path=f"{path}[{k!r}]")
            if not ok:
                return ok, msg
        return True, "ok"
    if isinstance(expected, str):
        if not isinstance(got, str):
            return False, f"{path} should be a string, got {_describe(got)}"
        ok = got.strip().lower() == expected.strip().lower()
        return ok, "ok" if ok else (f"{path} is {got!r}, expected {expected!r}" if reveal else f"{path} is not the right answer")
    if expected is None:
        return (got is None), "ok" if got is None else f"{path} should be None"
    if isinstance(got, (str, list, dict)) or got is None:
        return False, f"{path} should be a number or an array, got {_describe(got)}"
    e = np.asarray(expected)
    g = np.asarray(got)
    if g.dtype.kind not in _ARRAY_KINDS:
        return False, f"{path} is not numeric"
    if g.shape != e.shape:
        return False, f"{path} has shape {g.shape}, expected shape {e.shape}"
    g_bad, e_bad = ~np.isfinite(g.astype(complex)), ~np.isfinite(e.astype(complex))
    if np.isnan(g.astype(complex)).any() and not np.isnan(e.astype(complex)).any():
        return False, f"{path} contains NaN"
    if g_bad.any() and not e_bad.any():
        return False, f"{path} contains inf"
    if e.dtype.kind in "biu" and g.dtype.kind in "biu":
        ok = bool(np.array_equal(g, e))
    else:
        ok = bool(np.allclose(g.astype(np.complex128), e.astype(np.complex128), rtol=rtol, atol=atol, equal_nan=True))
    if ok:
        return True, "ok"
    if reveal:
        return False, f"{path} differs from the expected value (max abs difference {float(np.max(np.abs(g.astype(complex) - e.astype(complex)))):.4g}):\n  got      {np.array2string(g, precision=4)}\n  expected {np.array2string(e, precision=4)}"
    return False, f"{path} has the right shape but wrong values"


# --------------------------------------------------------------------------- running


def call_probe(item: Item, obj: Any, case: Case) -> Any:
    """Run the item's probe (or a plain call) on ``obj`` for ``case``."""
    if item.probe is not None:
        return item.probe(obj, *case.args, **dict(case.kwargs))
    return obj(*case.args, **dict(case.kwargs))


def expected_value(item: Item, case: Case) -> Plain:
    """The trusted expected value for a case, as plain data."""
    return to_plain(call_probe(item, item.reference, case)) if item.reference is not None else None


def mistake_value(mistake: Mistake, case: Case) -> Plain:
    """A mistake model's output for ``case`` as plain data; raises when the model does not apply."""
    if mistake.output is None:
        raise ValueError(f"the mistake {mistake.name!r} has no output model here")
    return to_plain(mistake.output(*case.args, **dict(case.kwargs)))


def judge(item: Item, case: Case, got: Plain, expected: Plain, *, reveal: bool,
          mistake_outputs: Mapping[str, Plain] | None = None) -> Verdict:
    """Compare plain ``got`` with plain ``expected`` and name a recognised mistake.

    A mistake without an ``output`` model is recognised from ``mistake_outputs``
    (mistake name -> plain output for this case), when given.
    """
    g, e = from_plain(got), from_plain(expected)
    rtol = case.rtol if case.rtol is not None else item.rtol
    atol = case.atol if case.atol is not None else item.atol
    if item.compare is not None:
        ok, msg = item.compare(g, e, case)
    else:
        ok, msg = compare_values(g, e, rtol=rtol, atol=atol, reveal=reveal)
    if ok:
        return Verdict(True, "ok", case.what)
    stored = mistake_outputs or {}
    for mistake in item.mistakes:
        if mistake.output is None and mistake.name not in stored:
            continue
        try:
            m = from_plain(mistake_value(mistake, case) if mistake.output is not None else stored[mistake.name])
        except Exception:  # a mistake model that does not apply to these inputs
            continue
        if compare_values(g, m, rtol=rtol, atol=atol)[0]:
            return Verdict(False, f"{msg}\n  Likely mistake: {mistake.name}. {mistake.hint}", case.what, mistake.name)
    return Verdict(False, msg, case.what)


def run_item(item: Item, obj: Any, cases: Sequence[Case] | None = None, *, reveal: bool = True,
             expected: Sequence[Plain] | None = None,
             mistake_outputs: Sequence[Mapping[str, Plain]] | None = None) -> list[Verdict]:
    """Run ``obj`` on every case in this process and judge each (self-check path).

    Without a ``reference`` on the item, ``expected[i]`` is the plain expected value
    of case ``i`` and ``mistake_outputs[i]`` the plain outputs of its known mistakes.
    """
    verdicts = []
    for i, case in enumerate(item.cases if cases is None else cases):
        want = expected_value(item, case) if item.reference is not None or expected is None else expected[i]
        mistakes = mistake_outputs[i] if mistake_outputs is not None else None
        try:
            got = to_plain(call_probe(item, obj, case))
        except NotImplementedError:
            verdicts.append(Verdict(False, f"{item.name} is not implemented yet (it raises NotImplementedError)", case.what))
            continue
        except Exception as exc:  # the student's error, reported as a verdict
            verdicts.append(Verdict(False, f"{item.name} raised {type(exc).__name__}: {exc}", case.what))
            continue
        verdicts.append(judge(item, case, got, want, reveal=reveal, mistake_outputs=mistakes))
    return verdicts
