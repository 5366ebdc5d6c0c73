"""Versioned suites: a submission is graded with the frozen suite of the version it was released with."""
from __future__ import annotations

import dataclasses
import json

import pytest

from autograder import versions
from autograder.grade import Limits, cache_key, load_suite
from autograder.pool import grade_all
from autograder.submissions import Submission
from medjax.selfcheck.cases import Case

A1 = "a1_convolution"
SIZE = "def output_size(in_size, kernel_size, stride=1, padding=0):\n    return (in_size + 2 * padding - kernel_size) // stride + 1\n"
TOTAL_PADDING = SIZE.replace("2 * padding", "padding")


def _nb(code: str, version: str | None) -> bytes:
    meta = {"medjax": {"assignment": A1, "version": version}} if version else {}
    return json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "source": code, "outputs": [],
                                  "execution_count": None}], "metadata": meta, "nbformat": 4,
                       "nbformat_minor": 5}).encode()


def _version_2() -> object:
    """Version 2.0 of a1: output_size is worth 3 points and has other hidden cases."""
    live = load_suite(A1)
    items = [dataclasses.replace(i, points=3) if i.grade_id == "test_output_size" else i for i in live.items]
    hidden = {**live.hidden, "test_output_size": (Case(args=(9, 3), what="new"), Case(args=(12, 5), kwargs={"stride": 3}))}
    return dataclasses.replace(live, items=items, hidden=hidden, tag="2.0", version="v2-" + live.version,
                               expected={}, inputs={})


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    suites = tmp_path_factory.mktemp("suites")
    path = versions.freeze(load_suite(A1), suites)  # version 1.0 released ...
    live = _version_2()  # ... then 2.0 is the current source
    live.select = versions.Suites(live, suites_dir=suites)
    return suites, path, live


@pytest.fixture(scope="module")
def graded(released, tmp_path_factory):
    _, _, live = released
    subs = [Submission("old", _nb(SIZE, "1.0"), "old"), Submission("new", _nb(SIZE, "2.0"), "new"),
            Submission("unknown", _nb(SIZE, "9.9"), "unknown"), Submission("mistake", _nb(TOTAL_PADDING, "1.0"), "m")]
    results = grade_all(subs, live, tmp_path_factory.mktemp("graded"), jobs=2, limits=Limits(submission=120, test=30),
                        use_cache=False)
    return {r.student: r for r in results}


def _size_item(result):
    return next(i for i in result.items if i.grade_id == "test_output_size")


def test_old_version_is_graded_with_its_frozen_suite(graded):
    old, new = graded["old"], graded["new"]
    assert old.status == new.status == "graded"
    assert old.max_score == 16 and _size_item(old).points == 1 and _size_item(old).total_cases == 3 + 5
    assert new.max_score == 18 and _size_item(new).points == 3 and _size_item(new).total_cases == 3 + 2
    assert _size_item(old).score == 1 and _size_item(new).score == 3


def test_frozen_suite_recognises_mistakes_from_stored_outputs(graded):
    item = _size_item(graded["mistake"])
    assert item.score < 1 and any("total instead of per-side padding" in c.message for c in item.cases)


def test_unknown_version_gets_a_clear_status(graded):
    r = graded["unknown"]
    assert r.status.startswith("error: unknown version '9.9' of a1_convolution") and "1.0" in r.status
    assert r.score == 0


def test_a_released_version_cannot_be_frozen_again_with_other_cases(released):
    suites, path, _ = released
    changed = load_suite(A1)
    changed.hidden["test_same_padding"] = (Case(args=(9,)),)
    before = path.read_text()
    with pytest.raises(ValueError, match="new --version"):
        versions.freeze(changed, suites)
    assert path.read_text() == before
    assert versions.freeze(load_suite(A1), suites) == path  # the same suite again: fine


def test_frozen_suite_matches_the_live_one(released):
    _, path, _ = released
    frozen, live = versions.load_frozen(path), load_suite(A1)
    live.compute_expected()
    assert frozen.tag == "1.0" and frozen.inputs == live.inputs and frozen.expected == live.expected
    assert [(i.grade_id, i.points, len(frozen.cases(i))) for i in frozen.items] == \
           [(i.grade_id, i.points, len(live.cases(i))) for i in live.items]


def test_release_record_wins_over_the_notebooks_version(released, tmp_path):
    suites, path, live = released
    mine = tmp_path / "suites"
    (mine / A1).mkdir(parents=True)
    (mine / A1 / path.name).write_text(path.read_text())
    versions.record_release(A1, "1.0", ["carol"], mine)
    chooser = versions.Suites(live, suites_dir=mine)
    assert chooser(Submission("carol", _nb(SIZE, "2.0"), "c")).tag == "1.0"  # edited version: ignored
    assert chooser(Submission("dave", _nb(SIZE, "2.0"), "d")).tag == "2.0"
    assert chooser(Submission("erin", _nb(SIZE, None), "e")).tag == "2.0"  # no version: the current one


def test_cache_keys_include_the_suite_version(released, tmp_path):
    suites, path, live = released
    versions.record_release(A1, "1.0", ["carol"], tmp_path)
    (tmp_path / A1 / path.name).write_text(path.read_text())
    recorded = dataclasses.replace(live, select=None)
    recorded.select = versions.Suites(recorded, suites_dir=tmp_path)
    sub, limits = Submission("carol", _nb(SIZE, "2.0"), "c"), Limits()
    assert cache_key(sub, live, limits) != cache_key(sub, recorded, limits)  # same bytes, graded as 2.0 vs 1.0
