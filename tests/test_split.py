"""Tests for medjax.data.split: sizes, disjointness, coverage, seeding, stratification."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from medjax.data.split import split_indices, split_sizes

fractions_st = st.lists(st.integers(1, 20), min_size=1, max_size=4).map(lambda w: tuple(x / sum(w) for x in w))


@given(n=st.integers(0, 300), fractions=fractions_st, seed=st.integers(0, 2**31))
def test_disjoint_cover_sorted_and_sized(n, fractions, seed):
    parts = split_indices(n, fractions, seed)
    assert len(parts) == len(fractions)
    allidx = np.concatenate(parts)
    np.testing.assert_array_equal(np.sort(allidx), np.arange(n))  # each index exactly once
    for p, f in zip(parts[1:], fractions[1:]):
        assert len(p) == int(np.floor(n * f + 1e-9))  # floor for all but the first
    assert len(parts[0]) == n - sum(len(p) for p in parts[1:])
    for p in parts:
        assert p.dtype == np.int64 and (np.diff(p) > 0).all()


@given(n=st.integers(2, 200), seed=st.integers(0, 1000))
def test_same_seed_same_split(n, seed):
    a, b = split_indices(n, (0.5, 0.5), seed), split_indices(n, (0.5, 0.5), seed)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_other_seed_other_split_and_random_membership():
    a = split_indices(100, seed=0)[0]
    b = split_indices(100, seed=1)[0]
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, np.arange(60))  # not simply the first 60


def test_worked_sizes():
    assert split_sizes(10, (0.6, 0.2, 0.2)) == (6, 2, 2)
    assert split_sizes(11, (0.6, 0.2, 0.2)) == (7, 2, 2)
    assert split_sizes(100, (0.71, 0.29)) == (71, 29)  # 0.29 * 100 = 28.999999999999996
    assert split_sizes(0, (0.5, 0.5)) == (0, 0)


@given(labels=st.lists(st.integers(0, 2), min_size=1, max_size=200), seed=st.integers(0, 100))
def test_stratified_keeps_class_proportions(labels, seed):
    y = np.array(labels)
    fractions = (0.6, 0.2, 0.2)
    parts = split_indices(len(y), fractions, seed, stratify=y)
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(len(y)))
    for c in np.unique(y):
        count = int((y == c).sum())
        expected = split_sizes(count, fractions)
        assert tuple(int((y[p] == c).sum()) for p in parts) == expected


def test_stratified_imbalanced_example():
    y = np.array([1] * 90 + [0] * 10)
    train, val, test = split_indices(100, (0.6, 0.2, 0.2), stratify=y)
    assert [int((y[s] == 0).sum()) for s in (train, val, test)] == [6, 2, 2]


@pytest.mark.parametrize("fractions", [(0.5, 0.4), (0.7, 0.4, -0.1), (1.0, 0.0), (), (float("nan"), 1.0)])
def test_bad_fractions_raise(fractions):
    with pytest.raises(ValueError, match="split_indices: 'fractions'"):
        split_indices(10, fractions)


def test_bad_stratify_and_n_raise():
    with pytest.raises(ValueError, match=r"'stratify' must have shape \(10,\)"):
        split_indices(10, stratify=np.zeros(9))
    with pytest.raises(ValueError, match="split_indices: 'n'"):
        split_indices(-1)
