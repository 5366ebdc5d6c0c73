"""Banned shortcuts: a static check of the submitted source and a check of the traced primitives.

An :class:`~medjax.selfcheck.cases.Item` lists ``banned`` dotted names or prefixes
(``"jax.lax.conv"``). Two independent checks, both run by the trusted parent:

* :func:`banned_names`: the AST of the submission (parsed here, never executed)
  resolves ``import x as y`` / ``from x import y as z`` aliases and lists every
  dotted name the graded function, and the notebook's own helper functions it
  uses, refers to that starts with a banned prefix.
* :func:`banned_primitives`: the child traces the probe with ``jax.make_jaxpr``
  and reports the primitive names; a primitive that a banned function lowers to
  (``conv_general_dilated`` for ``jax.lax.conv``) is a hit even when the call was
  hidden behind ``getattr`` or ``eval``.

Dynamic lookups (``getattr``, ``eval``, ``__import__``, ...) inside a graded
function are reported by :func:`suspicious_names` for the instructor.

>>> src = "import jax.lax as L\\ndef conv2d(x, k):\\n    return L.conv_general_dilated(x, k, (1, 1), 'VALID')\\n"
>>> banned_names([src], "conv2d", ("jax.lax.conv",))
['jax.lax.conv_general_dilated']
>>> sorted(primitives_for(("jax.lax.conv",)))
['conv_general_dilated']
"""
from __future__ import annotations

import ast
import threading
from collections.abc import Iterable, Sequence

_PARSE_LOCK = threading.Lock()  # CPython 3.11's ast.parse is not safe in concurrent threads

SHORT = {"jnp": "jax.numpy", "np": "numpy", "lax": "jax.lax", "nn": "flax.linen"}
SUSPICIOUS = ("getattr", "__import__", "importlib", "eval", "exec", "compile", "globals", "vars",
              "__builtins__", "builtins", "sys.modules", "locals")

_CONV = ("conv_general_dilated",)
_WINDOWS = ("reduce_window_max", "reduce_window_min", "reduce_window_sum", "reduce_window")
# public function -> the jaxpr primitives it lowers to (only unmistakable ones)
PRIMITIVES: dict[str, tuple[str, ...]] = {
    **{f"jax.lax.{n}": _CONV for n in ("conv", "conv_general_dilated", "conv_with_general_padding",
                                      "conv_transpose")},
    **{f"jax.numpy.{n}": _CONV for n in ("convolve", "correlate")},
    **{f"jax.scipy.signal.{n}": _CONV for n in ("convolve", "convolve2d", "correlate", "correlate2d")},
    "flax.linen.Conv": _CONV, "medjax.conv2d": _CONV, "medjax.conv": _CONV,
    "jax.lax.reduce_window": _WINDOWS, "flax.linen.max_pool": ("reduce_window_max",),
    "flax.linen.min_pool": ("reduce_window_min",), "flax.linen.avg_pool": ("reduce_window_sum",),
    "medjax.max_pool": ("reduce_window_max",), "medjax.avg_pool": ("reduce_window_sum",),
    "jax.nn.sigmoid": ("logistic",), "jax.scipy.special.expit": ("logistic",),
}


def _normal(name: str) -> str:
    head, _, rest = name.partition(".")
    return f"{SHORT[head]}.{rest}" if head in SHORT and rest else SHORT.get(name, name)


def parse(sources: Iterable[str | ast.Module]) -> list[ast.Module]:
    """Parse the cells once (already parsed trees pass through); unparsable cells are left out."""
    trees = []
    for source in sources:
        if isinstance(source, ast.Module):
            trees.append(source)
            continue
        try:
            with _PARSE_LOCK:
                trees.append(ast.parse(source))
        except (SyntaxError, ValueError, RecursionError, MemoryError, SystemError):
            continue  # reported by the child as a cell error
    return trees


def aliases(trees: Sequence[ast.AST]) -> dict[str, set[str]]:
    """Local name -> every dotted name it was imported as, anywhere in the submission."""
    out: dict[str, set[str]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    local = a.asname or a.name.split(".")[0]
                    out.setdefault(local, set()).add(a.name if a.asname else a.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    out.setdefault(a.asname or a.name, set()).add(f"{node.module}.{a.name}")
    return out


def _dotted(node: ast.AST) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def _definitions(trees: Sequence[ast.Module]) -> dict[str, list[ast.AST]]:
    defs: dict[str, list[ast.AST]] = {}
    for tree in trees:
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defs.setdefault(node.name, []).append(node)
    return defs


def referenced_names(sources: Iterable[str | ast.Module], name: str) -> set[str]:
    """Resolved dotted names used by ``name`` and the notebook's helpers it reaches."""
    trees = parse(sources)
    alias, defs = aliases(trees), _definitions(trees)
    seen, todo, names = set(), [name], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for definition in defs.get(current, []):
            for node in ast.walk(definition):
                parts = _dotted(node) if isinstance(node, (ast.Attribute, ast.Name)) else None
                if not parts:
                    continue
                if parts[0] in defs and len(parts) == 1:
                    todo.append(parts[0])
                heads = alias.get(parts[0], {parts[0]})
                for head in heads:
                    names.add(_normal(".".join([head, *parts[1:]])))
    return names


def banned_names(sources: Iterable[str | ast.Module], name: str, banned: Sequence[str]) -> list[str]:
    """The dotted names ``name`` uses that start with a banned prefix (sorted, longest form)."""
    if not banned:
        return []
    prefixes = [_normal(b) for b in banned]
    used = referenced_names(sources, name)
    hits = {u for u in used if any(u == p or u.startswith(p) for p in prefixes)}
    return sorted(h for h in hits if not any(o != h and o.startswith(h + ".") for o in hits))


def suspicious_names(sources: Iterable[str | ast.Module], name: str) -> list[str]:
    """Dynamic lookups inside the graded function that a static check cannot see through."""
    used = referenced_names(sources, name)
    return sorted(u for u in used if any(u == s or u.startswith(s + ".") for s in SUSPICIOUS))


def primitives_for(banned: Sequence[str]) -> set[str]:
    """The jaxpr primitives that betray a banned function."""
    prefixes = [_normal(b) for b in banned]
    return {p for public, prims in PRIMITIVES.items() if any(public.startswith(b) for b in prefixes) for p in prims}


def banned_primitives(primitives: Iterable[str], banned: Sequence[str]) -> list[str]:
    """The reported primitives that come only from banned functions."""
    return sorted(set(primitives) & primitives_for(banned))


def primitive_source(primitive: str, banned: Sequence[str]) -> str:
    """A banned public name that lowers to ``primitive`` (for the feedback message)."""
    prefixes = [_normal(b) for b in banned]
    for public, prims in PRIMITIVES.items():
        if primitive in prims and any(public.startswith(b) for b in prefixes):
            return public
    return primitive
