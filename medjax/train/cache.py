"""JAX's persistent compilation cache, in a per-user folder."""
from __future__ import annotations

import os
from pathlib import Path

import jax
from jax.experimental.compilation_cache import compilation_cache


def default_cache_dir() -> Path:
    """``$MEDJAX_CACHE_DIR``, else ``$XDG_CACHE_HOME/medjax/jax``, else ``~/.cache/medjax/jax``."""
    if os.environ.get("MEDJAX_CACHE_DIR"):
        return Path(os.environ["MEDJAX_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "medjax" / "jax"


def enable_compilation_cache(path: str | os.PathLike[str] | None = None) -> Path:
    """Turn on JAX's persistent compilation cache and return its folder.

    Compiled steps are written to disk and reused by later processes, so the
    second run of a notebook or of ``medjax train`` skips compilation. Every
    entry is cached (``jax_persistent_cache_min_compile_time_secs=0`` and
    ``jax_persistent_cache_min_entry_size_bytes=-1``).

    Args:
        path: cache folder; default :func:`default_cache_dir`.

    >>> import tempfile
    >>> folder = enable_compilation_cache(tempfile.mkdtemp())
    >>> folder.is_dir()
    True
    """
    folder = Path(path) if path is not None else default_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    if jax.config.jax_compilation_cache_dir == str(folder):
        return folder
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    # JAX decides once, at the first compilation, whether a cache is in use:
    # start over so that a cache turned on after some work still takes effect.
    compilation_cache.reset_cache()
    return folder
