"""Lazy re-exports for package ``__init__`` modules: names load their module on first use.

This keeps ``import medjax`` and ``medjax --help`` fast: JAX, Flax and
tensorflow-datasets are imported only when a name that needs them is used.

>>> import medjax.train
>>> medjax.train.fit.__module__  # loaded from medjax.train.loop on first use
'medjax.train.loop'
"""
from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str], public: Iterable[str],
                 submodules: Iterable[str] = ()) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__``: ``name -> package.exports[name]``, and
    each of ``submodules`` imported as ``package.name`` on first use."""
    names = sorted(public)
    subs = frozenset(submodules)

    def __getattr__(name: str) -> Any:
        if name in subs:
            value = importlib.import_module(f"{package}.{name}")
        elif name in exports:
            value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
