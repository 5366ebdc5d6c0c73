"""Which code cells a graded name depends on.

A notebook's demonstration cells (plots, CT images passed through the student's
``conv2d``) cost JAX work in every submission and define nothing a graded item
reads. The trusted parent decides, from the submission's own source (never from
its metadata), which cells can change the graded names; the grader leaves out
the instructor's unchanged cells that none depends on
(:func:`autograder.grade.graded_cells`). The analysis is conservative: a cell is skipped
only when it provably binds or mutates no name that a kept cell (or a graded
item) reads, so the graded objects are the same as after running every cell.

A cell *binds* the names Python's symbol table says it assigns, imports or
deletes at module level, plus the root name of every attribute or item it
assigns or deletes (``kernels[0] = ...``), of every method it calls on a
non-module object (``cache.append(k)``), and of every plain name it passes to
a call (``fill(cache)``). Functions defined anywhere in the notebook may do the
same to global names when called: those effects count for every cell. A cell
*reads* the module-level names it or its functions and classes reference.
Cells that cannot be analysed (a syntax error, ``exec``, ``globals()``,
``setattr``, ``import *``, ``global`` statements, ``sys``/``builtins``, JAX's
``config``, ...) are always run.

Formula: keep = the least set containing the cells that cannot be analysed such that every cell
binding a name read by a kept cell or graded, ``binds(c) & reads(keep | graded)``,
is kept (a fixed point; the order of cells does not matter).

>>> cells = [(0, "import numpy as np"), (1, "def f(x):\\n    return np.sum(x) + bias"),
...          (2, "bias = 1.0"), (3, "import matplotlib.pyplot as plt\\nplt.plot(f([1, 2]))\\nplt.show()")]
>>> [i for i, _ in needed_cells(cells, ["f"])]
[0, 1, 2]
"""
from __future__ import annotations

import ast
import symtable
from collections.abc import Iterable
from dataclasses import dataclass, field

from autograder.static import _PARSE_LOCK

# Calls and names whose effects on the namespace cannot be read from the source.
OPAQUE_CALLS = frozenset({"exec", "eval", "compile", "globals", "locals", "vars", "setattr", "delattr",
                          "__import__", "breakpoint", "open", "input", "reload"})
OPAQUE_NAMES = frozenset({"sys", "builtins", "__builtins__", "importlib", "os", "ctypes", "gc", "inspect",
                          "get_ipython"})
OPAQUE_ATTRIBUTES = frozenset({"config", "__dict__", "__globals__", "__builtins__", "__code__", "__class__",
                               "f_globals", "modules", "rcParams", "seed"})


@dataclass
class CellFacts:
    """What one cell binds and reads at module level, and whether it can be analysed at all."""

    binds: set[str] = field(default_factory=set)
    reads: set[str] = field(default_factory=set)
    effects: set[str] = field(default_factory=set)  # what its functions may bind when called
    imports: set[str] = field(default_factory=set)
    assigns: set[str] = field(default_factory=set)  # bound other than by an import
    always: bool = False  # cannot be analysed: always run


def _root(node: ast.AST) -> str | None:
    """``a`` for ``a``, ``a.b.c``, ``a[0].b``; None for anything else (a call's result)."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _opaque(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            return True
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            return True
        if isinstance(node, ast.Name) and (node.id in OPAQUE_NAMES or node.id in OPAQUE_CALLS):
            return True
        if isinstance(node, ast.Attribute) and node.attr in OPAQUE_ATTRIBUTES:
            return True
    return False


def _touched(nodes: Iterable[ast.AST], modules: set[str]) -> set[str]:
    """Root names that these nodes may mutate (stores, method calls, call arguments), modules aside."""
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.add(_root(node))
        elif isinstance(node, ast.Call):
            if isinstance(node.func, (ast.Attribute, ast.Subscript)):
                root = _root(node.func)
                if root not in modules:
                    out.add(root)
            out |= {_root(arg) for arg in (*node.args, *(k.value for k in node.keywords))} - modules
    out.discard(None)
    return out


def _scope_globals(table: symtable.SymbolTable) -> set[str]:
    """Module-level names referenced from nested functions, classes and comprehensions."""
    out = set()
    for child in table.get_children():
        out |= {s.get_name() for s in child.get_symbols() if s.is_global() and s.is_referenced()}
        out |= _scope_globals(child)
    return out


def cell_facts(source: str, modules: set[str] = frozenset()) -> CellFacts:
    """Binds, reads and function effects of one cell (``always`` when it cannot be analysed).

    ``modules``: names bound only by imports in the whole notebook; calling their
    functions (``np.asarray``) is not taken as mutating them.

    >>> f = cell_facts("out = conv2d(img, k)\\naxes[0].imshow(out)")
    >>> [sorted(f.binds), sorted(f.reads)]
    [['axes', 'img', 'k', 'out'], ['axes', 'conv2d', 'img', 'k', 'out']]
    """
    try:
        with _PARSE_LOCK:  # the grader grades in threads; CPython's parser is not thread-safe
            tree = ast.parse(source)
            table = symtable.symtable(source, "<cell>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError, SystemError):
        return CellFacts(always=True)
    top = table.get_symbols()
    facts = CellFacts(always=_opaque(tree))
    facts.imports = {s.get_name() for s in top if s.is_imported()}
    facts.assigns = {s.get_name() for s in top if s.is_assigned()}
    facts.binds = facts.imports | facts.assigns
    facts.reads = {s.get_name() for s in top if s.is_referenced()} | _scope_globals(table)
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))]
    inner = {id(n) for f in functions for n in ast.walk(f) if n is not f}
    facts.binds |= _touched((n for n in ast.walk(tree) if id(n) not in inner), set(modules))
    facts.effects = _touched((n for f in functions for n in ast.walk(f) if n is not f), set(modules))
    facts.effects &= _scope_globals(table)
    return facts


def needed_cells(cells: list[tuple[int, str]], names: Iterable[str]) -> list[tuple[int, str]]:
    """The cells (in order) that can change the objects bound to ``names`` after all cells ran."""
    first = [cell_facts(source) for _, source in cells]
    modules = set().union(set(), *(f.imports for f in first)) - set().union(set(), *(f.assigns for f in first))
    facts = [cell_facts(source, modules) for _, source in cells]
    effects = set().union(set(), *(f.effects for f in facts))
    keep = {i for i, f in enumerate(facts) if f.always}
    wanted = set(names).union(*(facts[i].reads for i in keep))
    changed = True
    while changed:
        changed = False
        for i, f in enumerate(facts):
            if i not in keep and (f.binds | effects) & wanted:
                keep.add(i)
                wanted |= f.reads
                changed = True
    return [cell for i, cell in enumerate(cells) if i in keep]


__all__ = ["CellFacts", "cell_facts", "needed_cells"]
