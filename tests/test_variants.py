"""Per-student variants: the draw, the rendered notebooks, grading with the roster, `medjax check` on a variant."""
from __future__ import annotations

import copy
import csv
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import release as rel
from autograder import variants, versions
from autograder.grade import Limits, load_suite
from autograder.pool import grade_all
from autograder.submissions import Submission
from medjax.cli import main as medjax_main
from medjax.selfcheck import stored

REPO = Path(__file__).resolve().parents[1]
A1 = "a1_convolution"
SECRET = b"test-course-secret-0123456789"
KERNEL_ITEMS = ("test_answer_kernel_a", "test_answer_kernel_b", "test_answer_kernel_c")


def _spec(assignment: str = A1) -> dict:
    return variants.spec_of(nbformat.read(str(rel.source_path(assignment)), as_version=4))


def _params(student: str, assignment: str = A1) -> dict:
    return variants.draw(_spec(assignment), secret=SECRET, student=student, assignment=assignment, version="1.0")


def _two_students() -> tuple[str, str]:
    """The first two candidate ids whose kernels A, B, C differ (fixed by the secret)."""
    ids = [f"s{i:03d}" for i in range(50)]
    first = ids[0]
    second = next(s for s in ids[1:] if _params(s)["kernels"] != _params(first)["kernels"])
    return first, second


ANN, BOB = _two_students()


def _text(nb: dict) -> str:
    return "\n".join("".join(c["source"]) for c in nb["cells"])


def _filled(released: dict, student: str) -> dict:
    """The student's released variant with the solution cells filled in (the solution rendered for them)."""
    source = variants.render_source(json.loads(rel.source_path(A1).read_text()), A1, _params(student))
    answers = {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in source["cells"]
               if c["metadata"].get("nbgrader", {}).get("solution")}
    nb = copy.deepcopy(released)
    for cell in nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if cell["metadata"].get("nbgrader", {}).get("solution"):
            cell["source"] = "\n".join(line for line in answers[gid].split("\n") if "### " not in line)
    return nb


# --------------------------------------------------------------------------- the draw


def test_draw_is_deterministic_and_depends_on_secret_student_assignment_and_version():
    spec = {"x": {"range": [0, 10**9]}, "c": {"choices": list(range(1000))}}
    base = dict(secret=SECRET, student="ann", assignment=A1, version="1.0")
    first = variants.draw(spec, **base)
    assert first == variants.draw(spec, **base)
    for change in ({"secret": SECRET + b"!"}, {"student": "bob"}, {"assignment": "a2_logistic_regression"},
                   {"version": "2.0"}):
        assert variants.draw(spec, **{**base, **change}) != first, change
    assert 0 <= first["x"] <= 10**9 and first["c"] in spec["c"]["choices"]


def test_draws_cover_the_choices_and_stay_in_range():
    spec = _spec()
    seen = [_params(f"student{i}") for i in range(60)]
    assert {p["kernels"] for p in seen} == set(spec["kernels"]["choices"])  # all six orders of A, B, C occur
    for p in seen:
        lo, hi = spec["n"]["range"]
        assert lo <= p["n"] <= hi and p["f"] in spec["f"]["choices"]


def test_spec_errors_and_weak_secrets_are_refused(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="exactly one of"):
        variants.spec_of({"metadata": {"medjax": {"variants": {"x": {"choices": [1], "range": [0, 1]}}}}})
    with pytest.raises(ValueError, match="lo <= hi"):
        variants.spec_of({"metadata": {"medjax": {"variants": {"x": {"range": [3, 1]}}}}})
    short = tmp_path / "short.secret"
    short.write_text("abc\n")
    with pytest.raises(ValueError, match="at least 16"):
        variants.read_secret(short)
    monkeypatch.delenv(variants.SECRET_ENV, raising=False)
    assert variants.read_secret(None) is None
    monkeypatch.setenv(variants.SECRET_ENV, "x" * 20)
    assert variants.read_secret(None) == b"x" * 20


# --------------------------------------------------------------------------- release with a roster


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("variants")
    (root / "roster.csv").write_text(f"student_id,name,email\n{ANN},Ann,ann@example.edu\n{BOB},\"Bob, Jr\",b@x.edu\n",
                                     encoding="utf-8")
    (root / "course.secret").write_bytes(SECRET + b"\n")
    argv = ["release", "--assignment", A1, "--roster", str(root / "roster.csv"), "--secret-file",
            str(root / "course.secret"), "--out", str(root / "release"), "--suites", str(root / "suites")]
    assert medjax_main(argv) == 0
    released = {s: json.loads((root / "release" / s / A1 / f"{A1}.ipynb").read_text()) for s in (ANN, BOB)}
    return root, released


def test_two_students_get_different_numbers_and_metadata(course):
    _, released = course
    ann, bob = released[ANN], released[BOB]
    assert _text(ann) != _text(bob)
    for student, nb in released.items():
        meta = nb["metadata"]["medjax"]
        assert meta["variant"] == _params(student) and meta["version"] == "1.0"
        p = meta["variant"]
        assert f"$n = {p['n']}$, $f = {p['f']}$, $s = {p['s']}$, $p = {p['p']}$" in _text(nb)
        assert "{{" not in _text(nb) and "### BEGIN SOLUTION" not in _text(nb)
        assert all("variant" not in c["metadata"].get("nbgrader", {}) for c in nb["cells"])
        nbformat.validate(nbformat.from_dict(nb))
    assert stored.checks_in(ann)["test_conv2d"] != stored.checks_in(bob)["test_conv2d"]


def test_no_hidden_answer_is_embedded(course):
    _, released = course
    for student, nb in released.items():
        checks = stored.checks_in(nb)
        for gid in KERNEL_ITEMS:  # the visible case checks the format only: no answer in the notebook
            assert [e["expected"] for e in checks[gid]] == [None]
        n_hidden = len(variants.student_cases(A1, _params(student))["test_output_size"][1])
        assert len(checks["test_output_size"]) == 4 and n_hidden == 6


def test_the_notebooks_own_test_cells_judge_the_students_numbers(course, capsys):
    """Running the variant cell (as Jupyter does, top to bottom) makes ``check`` use the student's cases."""
    import medjax.selfcheck as sc

    _, released = course
    nb = released[ANN]
    (variant,) = [c for c in nb["cells"] if c["metadata"].get("medjax", {}).get("variant_checks")]
    setup = [i for i, c in enumerate(nb["cells"]) if c["metadata"].get("nbgrader", {}).get("grade_id") == "setup"]
    assert nb["cells"].index(variant) == setup[0] + 1
    right = lambda in_size, kernel_size, stride=1, padding=0: (in_size + 2 * padding - kernel_size) // stride + 1  # noqa: E731
    only_common = lambda in_size, kernel_size, stride=1, padding=0: {(16, 3, 1, 0): 14, (24, 5, 2, 2): 12, (7, 3, 2, 0): 3}.get(
        (in_size, kernel_size, stride, padding), 0)  # noqa: E731
    saved = dict(sc._VARIANTS)
    try:
        sc._VARIANTS.clear()
        sc.check(A1, "test_output_size", only_common)  # the common release's cases: a lookup table passes
        exec("".join(variant["source"]), {})  # noqa: S102 - the released cell
        p = _params(ANN)
        sc.check(A1, "test_output_size", right)
        assert f"your example: n={p['n']}, f={p['f']}, s={p['s']}, p={p['p']}" in capsys.readouterr().out
        with pytest.raises(AssertionError, match="some visible checks failed"):
            sc.check(A1, "test_output_size", only_common)  # ... but not the student's own example
    finally:
        sc._VARIANTS.clear()
        sc._VARIANTS.update(saved)


def test_an_edited_variant_cell_fails_readably():
    from medjax.selfcheck import use_variant

    with pytest.raises(ValueError, match="cannot be read: restore the cell"):
        use_variant(A1, "not base64 at all!")


def test_release_without_roster_is_the_common_exercises(tmp_path):
    assert medjax_main(["release", "--assignment", A1, "--out", str(tmp_path), "--suites", str(tmp_path / "s")]) == 0
    assert (tmp_path / A1 / f"{A1}.ipynb").read_text() == (REPO / "exercises" / A1 / f"{A1}.ipynb").read_text()


def test_roster_release_needs_the_secret(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(variants.SECRET_ENV, raising=False)
    (tmp_path / "r.csv").write_text("student_id\nann\n")
    assert medjax_main(["release", "--assignment", A1, "--roster", str(tmp_path / "r.csv"), "--out",
                        str(tmp_path / "o"), "--suites", str(tmp_path / "s")]) == 2
    assert "course secret" in capsys.readouterr().err


# --------------------------------------------------------------------------- grading with the roster


@pytest.fixture(scope="module")
def graded(course):
    root, released = course
    subs_dir = root / "submissions"
    subs_dir.mkdir()
    for s in (ANN, BOB):
        (subs_dir / f"{s}.ipynb").write_text(json.dumps(_filled(released[s], s)))
    argv = ["grade", "--assignment", A1, str(subs_dir), "--out", str(root / "graded"), "--roster",
            str(root / "roster.csv"), "--secret-file", str(root / "course.secret"), "--suites", str(root / "suites"),
            "--jobs", "2", "--no-warmup", "--timeout", "240", "--test-timeout", "30"]
    assert medjax_main(argv) == 0
    with open(root / "graded" / "grades.csv", newline="") as fh:
        own = {r["student"]: r for r in csv.DictReader(fh)}
    # Ann's correct notebook handed in as Bob's, as it is and with its variant metadata edited to Bob's draw.
    copied = _filled(released[ANN], ANN)
    edited = copy.deepcopy(copied)
    edited["metadata"]["medjax"]["variant"] = _params(BOB)
    suite = load_suite(A1)
    suite.select = versions.Suites(suite, suites_dir=root / "suites", roster={ANN, BOB}, secret=SECRET)
    others = {}
    for name, nb in (("copied", copied), ("edited", edited)):  # one output folder each: both are Bob's
        [others[name]] = grade_all([Submission(BOB, json.dumps(nb).encode(), name)], suite, root / f"graded-{name}",
                                   jobs=1, limits=Limits(submission=240, test=30), use_cache=False)
    return own, others


def test_each_students_solution_scores_full_marks_with_the_roster(graded):
    own, _ = graded
    for student in (ANN, BOB):
        assert own[student]["status"] == "graded"
        assert float(own[student]["score"]) == float(own[student]["max_score"]) == 16.0


def test_a_neighbours_answers_lose_the_varying_points(graded):
    _, others = graded
    differ = sum(a != b for a, b in zip(_params(ANN)["kernels"].split(","), _params(BOB)["kernels"].split(",")))
    assert differ >= 2
    copied = others["copied"]
    by = {i.grade_id: i for i in copied.items}
    assert [by[g].score for g in KERNEL_ITEMS].count(0.0) == differ
    assert copied.score == pytest.approx(16.0 - differ)
    assert all(by[g].score == by[g].points for g in by if g not in KERNEL_ITEMS)  # correct functions still pass


def test_editing_the_variant_metadata_changes_nothing(graded):
    _, others = graded
    a, b = others["copied"], others["edited"]
    assert a.score == b.score and [i.score for i in a.items] == [i.score for i in b.items]


def test_a_student_missing_from_the_roster_gets_a_clear_status(course):
    root, released = course
    suite = load_suite(A1)
    chooser = versions.Suites(suite, suites_dir=root / "suites", roster={ANN, BOB}, secret=SECRET)
    picked = chooser(Submission("mallory", json.dumps(released[ANN]).encode(), "m"))
    assert "not in the roster" in picked.refusal
    assert chooser(Submission(ANN, b"{}", "a")).refusal == ""


def test_a2_variant_cases_follow_the_draw(tmp_path):
    p = _params("ann", "a2_logistic_regression")
    visible, hidden = variants.student_cases("a2_logistic_regression", p)["test_train_logistic_regression"]
    mine = visible[-1]
    assert mine.kwargs["lr"] == p["lr"] and mine.args[1].mean() == pytest.approx(p["prevalence"] / 100, abs=0.02)
    assert len(hidden) == 3


# --------------------------------------------------------------------------- medjax check on a variant


def test_medjax_check_uses_the_variants_own_cases(course, tmp_path):
    _, released = course
    nb = _filled(released[ANN], ANN)
    lookup = ("def _size(n, f, s=1, p=0):\n    return (n + 2 * p - f) // s + 1\n\n"
              "def output_size(in_size, kernel_size, stride=1, padding=0):\n"
              "    return {(16, 3, 1, 0): 14, (24, 5, 2, 2): 12, (7, 3, 2, 0): 3}.get((in_size, kernel_size, stride, padding), 0)\n")
    for cell in nb["cells"]:  # output_size right on the common worked examples only; the rest uses _size
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "output_size_solution":
            cell["source"] = lookup
        elif cell["cell_type"] == "code":
            cell["source"] = "".join(cell["source"]).replace("output_size(", "_size(")
    path = tmp_path / "ann.ipynb"
    path.write_text(json.dumps(nb))
    env_cmd = [sys.executable, "-m", "medjax.cli", "check", str(path)]
    out = subprocess.run(env_cmd, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL).stdout
    p = _params(ANN)
    assert f"your example: n={p['n']}, f={p['f']}, s={p['s']}, p={p['p']}" in out
    assert "FAIL output_size: 3/4 visible checks passed" in out
    assert "PASS conv2d: 5/5 visible checks passed" in out  # the student's own conv2d case, solved
    assert "Visible checks: 15.75/16 points" in out


# --------------------------------------------------------------------------- the changed sources and nbgrader


@pytest.mark.parametrize("assignment", (A1, "a2_logistic_regression"))
def test_source_shows_its_default_variant(assignment):
    nb = nbformat.read(str(rel.source_path(assignment)), as_version=4)
    rendered = variants.render_source(copy.deepcopy(nb), assignment, variants.defaults(variants.spec_of(nb)))
    assert [c.source for c in rendered.cells] == [c.source for c in nb.cells]


def test_real_nbgrader_accepts_the_sources_with_variants(tmp_path):
    from nbgrader_env import nbgrader, nbgrader_env, new_course

    env, course = nbgrader_env(tmp_path), new_course(tmp_path / "course")
    chosen = (A1, "a2_logistic_regression")
    for a in chosen:
        (course / "source" / a).mkdir(parents=True)
        (course / "source" / a / f"{a}.ipynb").write_bytes(rel.source_path(a).read_bytes())
    nbgrader(course, env, "generate_assignment", "*", "--force")
    for a in chosen:
        ours = nbformat.read(str(REPO / "exercises" / a / f"{a}.ipynb"), as_version=4)
        theirs = nbformat.read(str(course / "release" / a / f"{a}.ipynb"), as_version=4)
        assert ours.cells == theirs.cells, a  # nbgrader's own release is our common release
    proc = nbgrader(course, env, "validate", str(course / "source" / "a2_logistic_regression" /
                                                 "a2_logistic_regression.ipynb"))
    assert "Success! Your notebook passes all the tests." in proc.stdout, proc.stdout[-2000:]
