"""Random train/validation/test splits of ``range(n)``, optionally stratified.

Sizes: every split but the first gets ``floor(n * fraction)`` indices and the
first split gets the rest, so the sizes always add up to ``n``::

    size_i = floor(n * f_i)  for i >= 1,    size_0 = n - sum_{i >= 1} size_i

With ``stratify=labels`` the same rule is applied inside every class, so each
split keeps the class proportions (up to one image per class and split); the
overall sizes can then differ by a few images from the unstratified ones.

Which indices land in which split is random (seeded); inside a split the
indices are sorted, so shuffle them (or use ``medjax.data.load(shuffle=True)``)
for training.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from jax.typing import ArrayLike

from medjax._checks import check_positive_int

_SALT = 0x73706C74  # 'splt': not the stream of default_rng(seed) used elsewhere


def split_sizes(n: int, fractions: Sequence[float]) -> tuple[int, ...]:
    """Split sizes for ``n`` items: floor for all but the first, the remainder to the first.

    >>> split_sizes(10, (0.6, 0.2, 0.2))
    (6, 2, 2)
    >>> split_sizes(11, (0.6, 0.2, 0.2))
    (7, 2, 2)
    """
    rest = [int(np.floor(n * f + 1e-9)) for f in fractions[1:]]
    return (n - sum(rest), *rest)


def _check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    fr = tuple(float(f) for f in fractions)
    if len(fr) < 1 or any(not np.isfinite(f) or f <= 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
        raise ValueError(f"split_indices: 'fractions' must be positive and sum to 1, got {tuple(fractions)!r}")
    return fr


def split_indices(n: int, fractions: Sequence[float] = (0.6, 0.2, 0.2), seed: int = 0, *,
                  stratify: ArrayLike | None = None) -> tuple[np.ndarray, ...]:
    """Disjoint random splits of ``range(n)`` with the given fractions.

    Args:
      n: number of items.
      fractions: one positive fraction per split, summing to 1.
      seed: seed of the shuffle; same seed, same splits.
      stratify: optional (n,) labels; each class is split with the same
        fractions, so every split keeps the class proportions.

    Returns:
      One sorted int64 array per split; together they hold each of
      ``0, ..., n - 1`` exactly once. Sizes follow ``split_sizes`` (the first
      split takes the remainder of the floors).

    >>> train, val, test = split_indices(10, seed=0)
    >>> len(train), len(val), len(test)
    (6, 2, 2)
    >>> sorted(np.concatenate([train, val, test]).tolist()) == list(range(10))
    True
    >>> labels = np.array([0] * 8 + [1] * 2)
    >>> [int(labels[s].sum()) for s in split_indices(10, (0.5, 0.5), stratify=labels)]
    [1, 1]
    """
    n = check_positive_int("split_indices", "n", n, minimum=0)
    fr = _check_fractions(fractions)
    rng = np.random.default_rng([_SALT, seed])
    if stratify is None:
        groups = [np.arange(n)]
    else:
        labels = np.asarray(stratify)
        if labels.shape != (n,):
            raise ValueError(f"split_indices: 'stratify' must have shape ({n},), got {labels.shape}")
        groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    parts: list[list[np.ndarray]] = [[] for _ in fr]
    for group in groups:
        order = rng.permutation(group)
        bounds = np.cumsum(split_sizes(len(group), fr))[:-1]
        for part, chunk in zip(parts, np.split(order, bounds)):
            part.append(chunk)
    return tuple(np.sort(np.concatenate(p)).astype(np.int64) for p in parts)
