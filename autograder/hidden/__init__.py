"""Hidden test cases (instructor-only) and ``check_hidden``, used in solution notebooks.

``autograder/hidden/<assignment>.py`` holds ``HIDDEN: dict[grade_id, tuple[Case, ...]]``.
Inside the ``### BEGIN HIDDEN TESTS`` block of a grade cell::

    from autograder.hidden import check_hidden
    check_hidden("a1_convolution", "test_conv2d", conv2d)

runs the hidden cases with the trusted item's probe, reference and mistakes
(:func:`autograder.items.full_items`), prints a
scorecard on stdout that names each case (``Case.what``) but never an expected
value, and raises ``AssertionError`` when a case fails, so that a real
``nbgrader autograde`` grades the same cases as ``medjax grade``.

While the student's function runs, the item's banned calls are blocked on a
best-effort basis (this path shares one kernel with the student; the sandboxed
grader is the secure one): banned functions found among the function's globals
fail the case, banned module attributes are replaced by a function that raises,
and banned top-level modules that are not yet imported cannot be imported.
"""
from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
import types
from collections.abc import Iterator
from typing import Any

from medjax.selfcheck import items
from medjax.selfcheck.cases import Case, Item, Verdict, call_probe, expected_value, judge, to_plain

__all__ = ["BannedCall", "check_hidden", "hidden_cases", "run_hidden"]


class BannedCall(RuntimeError):
    """Raised when graded code calls something the assignment forbids."""


def hidden_cases(assignment: str, grade_id: str) -> tuple[Case, ...]:
    """The hidden cases of one graded item (empty when it has none)."""
    items(assignment)  # validates the assignment id
    module = importlib.import_module(f"autograder.hidden.{assignment}")
    return tuple(module.HIDDEN.get(grade_id, ()))


# --------------------------------------------------------------------------- banned calls


def _resolve(dotted: str) -> Any:
    """The object a dotted name points at, without importing anything new."""
    parts = dotted.split(".")
    obj = sys.modules.get(parts[0])
    for part in parts[1:]:
        if obj is None:
            return None
        obj = getattr(obj, part, None) if isinstance(obj, types.ModuleType) else None
    return obj


def _referenced(fn: Any) -> list[tuple[str, Any]]:
    """Global objects used by fn, its nested code and the helper functions it calls from its notebook."""
    fn = inspect.unwrap(fn) if callable(fn) else fn
    glob = getattr(fn, "__globals__", None)
    if glob is None or getattr(fn, "__code__", None) is None:
        return []
    found = [(name, cell.cell_contents) for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ())
             if _filled(cell)]
    stack, seen = [fn.__code__], set()
    while stack:
        c = stack.pop()
        if id(c) in seen:
            continue
        seen.add(id(c))
        for n in c.co_names:
            if n not in glob:
                continue
            found.append((n, glob[n]))
            helper = glob[n]
            if isinstance(helper, types.FunctionType) and helper.__globals__ is glob:
                stack.append(helper.__code__)
        stack += [k for k in c.co_consts if isinstance(k, types.CodeType)]
    return found


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents
    except ValueError:  # an empty closure cell
        return False
    return True


def _banned_attrs(name: str) -> tuple[Any, list[str], bool]:
    """(parent module, attribute names, whole module?) that a banned name covers.

    A module bans all its public callables; ``pkg.mod.prefix`` bans ``prefix`` and
    ``prefix_*`` in ``pkg.mod`` (``jax.lax.conv`` covers ``conv_general_dilated``
    but not ``convert_element_type``).
    """
    target = _resolve(name)
    if isinstance(target, types.ModuleType):
        attrs = [a for a, v in list(vars(target).items()) if not a.startswith("_") and _patchable(v)]
        return target, attrs + [a for a in getattr(target, "_EXPORTS", {}) if a not in attrs], True
    head, _, last = name.rpartition(".")
    parent = _resolve(head) if head else None
    if not isinstance(parent, types.ModuleType):
        return None, [], False
    attrs = [a for a, v in list(vars(parent).items()) if (a == last or a.startswith(last + "_")) and _patchable(v)]
    return parent, attrs, False


def _is_banned(obj: Any, banned: tuple[str, ...]) -> str | None:
    """The banned name that ``obj`` is (or lives under), or None."""
    owner = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", None)
    for name in banned:
        if isinstance(owner, str) and (owner == name or owner.startswith(name + ".")):
            return name
        parent, attrs, whole = _banned_attrs(name)
        if parent is not None and callable(obj) and not isinstance(obj, type):
            if any(obj is vars(parent).get(a) for a in attrs) and not (whole and _everyday(obj)):
                return name
    return None


def _everyday(obj: Any) -> bool:
    """Functions that a banned module merely re-exports from numpy, jax.numpy or math (jax.nn.tanh)."""
    return any(obj is vars(mod).get(getattr(obj, "__name__", ""), None)
               for mod in (sys.modules.get("jax.numpy"), sys.modules.get("numpy"), sys.modules.get("math"))
               if mod is not None)


def static_violation(fn: Any, banned: tuple[str, ...]) -> str | None:
    """A banned name that ``fn`` refers to through its globals, or None."""
    for var, obj in _referenced(fn):
        hit = _is_banned(obj, banned)
        if hit:
            return f"{var} ({hit})"
    return None


def _raiser(name: str):
    def banned(*args: Any, **kwargs: Any) -> Any:
        raise BannedCall(f"{name} is not allowed in this exercise")
    return banned


def _patchable(value: Any) -> bool:
    return callable(value) and not isinstance(value, (type, types.ModuleType))


@contextlib.contextmanager
def blocked(banned: tuple[str, ...]) -> Iterator[None]:
    """Replace banned callables by raisers and make banned unimported modules unimportable.

    A banned module has every public callable replaced (and, for a lazy package like
    ``medjax``, every name of its ``_EXPORTS``); a banned function just itself.
    """
    saved: list[tuple[Any, str, Any]] = []
    missing = object()
    hidden_modules: list[str] = []

    def patch(parent: Any, attr: str, label: str) -> None:
        saved.append((parent, attr, parent.__dict__.get(attr, missing)))
        setattr(parent, attr, _raiser(label))

    try:
        for name in banned:
            parent, attrs, _ = _banned_attrs(name)
            if parent is None and "." not in name and name not in sys.modules:
                sys.modules[name] = None  # type: ignore[assignment]  # import now raises ImportError
                hidden_modules.append(name)
            for attr in attrs:
                patch(parent, attr, f"{parent.__name__}.{attr}")
        yield
    finally:
        for parent, attr, value in reversed(saved):
            if value is missing:
                delattr(parent, attr)
            else:
                setattr(parent, attr, value)
        for name in hidden_modules:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


# --------------------------------------------------------------------------- running


def run_hidden(item: Item, obj: Any, cases: tuple[Case, ...]) -> list[Verdict]:
    """Judge ``obj`` on hidden cases with ``reveal=False`` messages.

    ``item`` must be a trusted item (:func:`autograder.items.full_items`): the shipped
    items carry no reference, so there would be nothing to compare with.
    """
    from medjax.selfcheck.choices import is_choice_item

    if item.reference is None and not is_choice_item(item):
        raise ValueError(f"{item.grade_id}: run_hidden needs the trusted item (autograder.items.full_items), "
                         "not the shipped one without a reference")
    violation = static_violation(obj, item.banned) if item.banned else None
    verdicts = []
    for case in cases:
        if violation:
            verdicts.append(Verdict(False, f"{item.name} uses {violation}, which this exercise forbids", case.what))
            continue
        expected = expected_value(item, case)
        try:
            with blocked(item.banned):
                got = to_plain(call_probe(item, obj, case))
        except BannedCall as exc:
            verdicts.append(Verdict(False, f"{item.name} called a forbidden function: {exc}", case.what))
            continue
        except NotImplementedError:
            verdicts.append(Verdict(False, f"{item.name} is not implemented yet", case.what))
            continue
        except Exception as exc:  # the student's error, reported as a verdict
            verdicts.append(Verdict(False, f"{item.name} raised {type(exc).__name__}", case.what))
            continue
        verdicts.append(judge(item, case, got, expected, reveal=False))
    return verdicts


def check_hidden(assignment: str, grade_id: str, obj: Any) -> None:
    """Run the hidden cases of one item; print a value-free scorecard; raise on failure."""
    from autograder.items import full_items

    item = full_items(assignment)[grade_id]
    cases = hidden_cases(assignment, grade_id)
    verdicts = run_hidden(item, obj, cases)
    passed = sum(v.passed for v in verdicts)
    lines = [f"{'PASS' if passed == len(verdicts) else 'FAIL'} {item.name}: {passed}/{len(verdicts)} hidden checks passed"]
    for v in verdicts:
        lines.append(f"  [{'x' if v.passed else ' '}] {v.what or 'case'}" + ("" if v.passed else f": {v.message}"))
    print("\n".join(lines))
    if passed != len(verdicts):
        raise AssertionError(f"{item.name}: {len(verdicts) - passed} hidden check(s) failed")
