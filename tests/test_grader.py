"""The grader engine: notebooks in, scores out (partial credit, statuses, files, cache, CLI)."""
from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograder import static
from autograder.grade import CaseResult, ItemResult, Limits, StudentResult, code_cells, load_suite, read_notebook
from autograder.pool import grade_all
from autograder.results import feedback_html, feedback_markdown, grades_csv, results_json
from autograder.submissions import Submission, canvas_student, collect, safe_id
from grader_fixtures.notebooks import CORRECT, nb_bytes, notebook

TINY = dict(items_module="grader_fixtures.tiny_items", hidden_module="grader_fixtures.tiny_hidden")


# --------------------------------------------------------------------------- notebooks -> cells


def test_code_cells_skip_test_cells_and_magics():
    nb = notebook("%matplotlib inline\nx = 1\n!pip install foo\n  %time y = 2", "%%bash\nrm -rf /", "%%time\nz = 3")
    cells = code_cells(nb)
    assert [src for _, src in cells] == ["x = 1", "z = 3"]  # grade cells and %%bash dropped
    assert [i for i, _ in cells] == [0, 4]


@pytest.mark.parametrize("data, reason", [
    (b"\xff\xfe\x00garbage", "unreadable notebook"),
    (b"[1, 2]", "no list of cells"),
    (b'{"cells": "x"}', "no list of cells"),
    (json.dumps(notebook("x = '" + "a" * (3 << 20) + "'")).encode(), "bytes of code"),
])
def test_unreadable_notebooks_have_a_reason(data, reason):
    with pytest.raises(ValueError, match=reason):
        read_notebook(data)


# --------------------------------------------------------------------------- submissions in


def test_collect_folder_nbgrader_layout_canvas_zip_and_roster(tmp_path):
    (tmp_path / "sub" / "alice" / "a1").mkdir(parents=True)
    (tmp_path / "sub" / "alice" / "a1" / "a1.ipynb").write_bytes(b"{}")
    (tmp_path / "sub" / "bob.ipynb").write_bytes(b"{}")
    (tmp_path / "sub" / ".hidden.ipynb").write_bytes(b"{}")
    zpath = tmp_path / "canvas.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("smithjohn_12345_67890_a1.ipynb", "{}")
        zf.writestr("doejane_LATE_555_1_a1-1.ipynb", "{}")
        zf.writestr("__MACOSX/._x.ipynb", "junk")
        zf.writestr("bob.ipynb", "{}")
    (tmp_path / "roster.csv").write_text("student_id,lms_user_id\njdoe,555\n")
    subs = collect([tmp_path / "sub", zpath], assignment="a1", roster=tmp_path / "roster.csv")
    assert sorted(s.student for s in subs) == ["alice", "bob", "bob-2", "jdoe", "smithjohn"]
    assert all(s.data == b"{}" and not s.error for s in subs)


def test_collect_reports_bad_zip_as_a_submission_error(tmp_path):
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    [sub] = collect([tmp_path / "broken.zip"])
    assert sub.student == "broken" and "unreadable zip" in sub.error


def test_student_ids_are_safe_and_canvas_names_parse():
    assert safe_id("../../x/..") == "x"
    assert safe_id("Ana María") == "Ana_Mar_a"
    assert canvas_student("a_1_2_n.ipynb") == ("a", "1")
    assert canvas_student("plain.ipynb") is None


# --------------------------------------------------------------------------- static checks


@given(st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True), st.sampled_from(["import", "from"]))
def test_banned_call_found_through_any_alias(alias, style):
    if alias in ("def", "if", "in", "is", "or", "and", "not", "for", "as", "del", "try", "with", "else", "elif",
                 "pass", "from", "class", "while", "raise", "yield", "return", "import", "lambda", "global", "assert"):
        return
    if style == "import":
        src = f"import jax.lax as {alias}\ndef conv2d(x, k):\n    return {alias}.conv(x, k, (1, 1), 'VALID')\n"
        want = "jax.lax.conv"
    else:
        src = f"from jax.lax import conv_general_dilated as {alias}\ndef conv2d(x, k):\n    return {alias}(x, k)\n"
        want = "jax.lax.conv_general_dilated"
    assert static.banned_names([src], "conv2d", ("jax.lax.conv",)) == [want]


def test_banned_names_follow_helpers_not_unrelated_code():
    cells = ["import numpy as np\nimport scipy.signal as ss", "def helper(a):\n    return ss.convolve2d(a, a)\n",
             "def other():\n    return ss.correlate\n", "def conv2d(x, k):\n    return helper(x) + np.sum(k)\n",
             "def broken(:"]
    assert static.banned_names(cells, "conv2d", ("scipy",)) == ["scipy.signal.convolve2d"]
    assert static.banned_names(cells, "other", ("numpy.convolve",)) == []
    assert static.suspicious_names(["def f():\n    return getattr(eval('x'), 'y')\n"], "f") == ["eval", "getattr"]


def test_banned_primitives_are_specific():
    assert static.primitives_for(("jax.lax.conv",)) == {"conv_general_dilated"}
    assert static.banned_primitives(["add", "convert_element_type", "conv_general_dilated"], ("jax.lax.conv",)) == \
        ["conv_general_dilated"]
    assert static.banned_primitives(["reduce_max"], ("jax.lax.reduce_window",)) == []


# --------------------------------------------------------------------------- results out


def _result() -> StudentResult:
    item = ItemResult("test_f", "f", 3.0, "f <b>works</b>", total_cases=3, n_hidden=1,
                      cases=[CaseResult(True, "ok", "case one", False),
                             CaseResult(False, "f raised ValueError: <script>", "case two", False),
                             CaseResult(True, "ok", "", True)])
    return StudentResult("s1", "tiny", items=[item], notes=["cell 2 raised <b>"])


def test_results_json_partial_credit_and_visibility():
    data = results_json(_result())
    assert data["score"] == 2.0 and data["max_score"] == 3.0
    visible, hidden = data["tests"]
    assert (visible["score"], visible["max_score"], visible["visibility"]) == (1.0, 2.0, "visible")
    assert (hidden["score"], hidden["max_score"], hidden["visibility"]) == (1.0, 1.0, "after_published")
    assert hidden["number"] == "1.2" and "hidden case 1" in hidden["output"]
    assert set(data) >= {"score", "max_score", "execution_time", "output", "visibility", "tests"}
    assert all(set(t) >= {"name", "number", "score", "max_score", "output", "visibility"} for t in data["tests"])


def test_feedback_is_escaped_and_csv_has_item_columns():
    html = feedback_html(_result())
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;" in html
    rows = list(csv.reader(io.StringIO(grades_csv([_result()], ["test_f", "test_g"]))))
    assert rows == [["student", "score", "max_score", "test_f", "test_g", "status"], ["s1", "2", "3", "2", "0", "graded"]]


def test_markdown_feedback_has_points_checks_and_inert_student_text():
    md = feedback_markdown(_result())
    assert md.startswith("# tiny: 2 / 3\n") and "## f: 2 / 3 points" in md
    assert "What is checked: f &lt;b&gt;works&lt;/b&gt;" in md and "- cell 2 raised &lt;b&gt;" in md
    assert "[x] case one" in md and "[ ] case two" in md and "[x] hidden case 1" in md
    assert "<script>" in md.split("```text")[1]  # inside the fenced block, shown verbatim, never rendered
    assert md.count("```") == 2
    escape = StudentResult("s`1", "tiny", items=[ItemResult("test_f", "f", 1.0, "f", total_cases=1, cases=[
        CaseResult(False, "f raised ValueError: ```\n# I am a heading\n```", "c", False)])])
    text = feedback_markdown(escape)
    fence = text.split("text\n")[0].split("\n")[-1]
    assert fence == "````" and text.count(fence) == 2  # open + close: the student's ``` cannot close it
    assert "Student: s\\`1." in text


def test_banned_item_scores_zero_even_when_correct():
    item = ItemResult("test_f", "f", 2.0, "", total_cases=1, cases=[CaseResult(True, "ok", "", False)], banned="no")
    assert item.score == 0.0


# --------------------------------------------------------------------------- whole runs

PARTIAL = CORRECT + "\ndef double(x):\n    import numpy as np\n    return 2 * np.asarray(x) if np.ndim(x) else np.float64(0.0)\n"
STUB = CORRECT + "\ndef corr2d(image, kernel):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
MISSING = CORRECT.split("def out_size")[0]
INJECT = CORRECT + "\ndef out_size(n, f, stride=1):\n    raise ValueError('<img src=x onerror=alert(1)>')\n"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("grader-out")
    suite = load_suite("tiny", **TINY)
    subs = [Submission(n, d, n) for n, d in [("correct", nb_bytes(CORRECT)), ("correct_again", nb_bytes(CORRECT)),
                                             ("partial", nb_bytes(PARTIAL)), ("stub", nb_bytes(STUB)),
                                             ("missing", nb_bytes(MISSING)), ("inject", nb_bytes(INJECT)),
                                             ("empty", b""), ("syntax", nb_bytes(CORRECT, "def f(:")),
                                             ("import_error", nb_bytes("import medjax_no_such_module", CORRECT))]]
    warm = out.parent / "warmup.ipynb"  # the "instructor's solution": a jitted double it defines itself
    warm.write_bytes(nb_bytes(CORRECT + "\nimport jax\n@jax.jit\ndef double(x):\n    return 2.0 * x\n"))
    results = grade_all(subs, suite, out, jobs=2, limits=Limits(submission=60, test=20), warmup=warm)
    return {r.student: r for r in results}, out, suite, subs


@pytest.mark.parametrize("student, score, status", [
    ("correct", 6.0, "graded"), ("correct_again", 6.0, "graded"), ("partial", 1.5 + 4.0, "graded"),
    ("stub", 3.0, "graded"), ("missing", 5.0, "graded"), ("inject", 5.0, "graded"),
    ("empty", 0.0, "error: unreadable notebook"), ("syntax", 6.0, "error: syntax error in cell 2"),
    ("import_error", 6.0, "error: import error in cell 0: ModuleNotFoundError"),
])
def test_scores_and_statuses(run, student, score, status):
    results, out, _, _ = run
    assert results[student].score == pytest.approx(score)
    assert results[student].status.startswith(status)
    data = json.loads((out / student / "results.json").read_text())
    assert data["score"] == pytest.approx(score) and data["max_score"] == 6.0
    assert data["extra_data"]["status"] == results[student].status


def test_messages_name_the_problem(run):
    results, out, _, _ = run
    by = {i.name: i for i in results["stub"].items}
    assert "not implemented yet" in by["corr2d"].cases[0].message
    missing = {i.name: i for i in results["missing"].items}["out_size"]
    assert all("out_size is not defined" in c.message for c in missing.cases)
    partial = {i.name: i for i in results["partial"].items}["double"]
    assert [c.passed for c in partial.cases] == [True, True, True, False]
    assert "scalar" in partial.cases[-1].message or "shape" in partial.cases[-1].message
    html = (out / "inject" / "feedback.html").read_text()
    assert "<img" not in html and "&lt;img src=x" in html
    md = (out / "inject" / "feedback.md").read_text()
    assert md.startswith("# tiny: 5 / 6") and "out_size" in md


def test_grades_csv_has_every_submission(run):
    results, out, suite, _ = run
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert [r["student"] for r in rows] == sorted(results)
    assert list(rows[0]) == ["student", "score", "max_score", *[i.grade_id for i in suite.items], "status"]
    partial = next(r for r in rows if r["student"] == "partial")
    assert (partial["test_double"], partial["test_corr2d"], partial["test_out_size"]) == ("1.5", "3", "1")


def test_regrade_uses_the_cache_and_gives_the_same_scores(run):
    results, out, suite, subs = run
    again = grade_all(subs, suite, out, jobs=1, limits=Limits(submission=60, test=20))
    assert all(r.cached for r in again if r.status == "graded" or "syntax" in r.status)
    assert {r.student: r.score for r in again} == {s: r.score for s, r in results.items()}


def test_warm_up_fills_the_shared_cache_with_library_code_only(run):
    _, out, _, _ = run
    from autograder.sandbox import strong_mode_available

    caches = list((out / ".cache").glob("xla-*"))
    if not strong_mode_available():
        assert caches == []  # no read-only sharing without mount namespaces
        return
    [cache] = caches
    names = [p.name for p in cache.iterdir()]
    assert ".complete" in names and any(n.startswith("jit_") for n in names)
    assert not any(n.startswith(("jit_double-", "jit_corr2d-", "jit_out_size-")) for n in names)


def test_cli_grades_and_exits_zero_even_for_broken_notebooks(tmp_path, capsys):
    from medjax.cli import main

    (tmp_path / "ok.ipynb").write_bytes(nb_bytes(CORRECT))
    (tmp_path / "bad.ipynb").write_bytes(b"{")
    code = main(["grade", "--assignment", "tiny", "--items-module", TINY["items_module"], "--hidden-module",
                 TINY["hidden_module"], str(tmp_path / "ok.ipynb"), str(tmp_path / "bad.ipynb"),
                 "--out", str(tmp_path / "out"), "--jobs", "1", "--timeout", "60"])
    assert code == 0
    rows = {r["student"]: r for r in csv.DictReader((tmp_path / "out" / "grades.csv").open())}
    assert rows["ok"]["score"] == "6" and rows["bad"]["status"].startswith("error: unreadable notebook")
    from autograder.sandbox import strong_mode_available

    err = capsys.readouterr().err  # not a terminal: no progress output; the weaker mode says so loudly
    assert err == "" if strong_mode_available() else err.startswith("medjax grade: WARNING: bubblewrap")
    assert main(["grade", "--assignment", "nope", str(tmp_path / "ok.ipynb"), "--out", str(tmp_path / "o2")]) == 2


def test_a1_submission_is_graded_against_the_real_items(tmp_path):
    suite = load_suite("a1_convolution")
    code = ("def output_size(in_size, kernel_size, stride=1, padding=0):\n"
            "    return (in_size + 2 * padding - kernel_size) // stride + 1\n"
            "def same_padding(kernel_size):\n    return kernel_size - 1\n"
            "answer_kernel_a = 'edge'\nanswer_kernel_b = 'blur'\nanswer_kernel_c = 'sharpen'\n"
            "import jax\ndef conv2d(image, kernel, stride=1, padding=0, mode='zero'):\n"
            "    return jax.lax.conv(image[None, None], kernel[None, None], (stride, stride), 'VALID')[0, 0]\n")
    [r] = grade_all([Submission("s", nb_bytes(code), "s")], suite, tmp_path, jobs=1,
                    limits=Limits(submission=60, test=20), use_cache=False)
    by = {i.name: i for i in r.items}
    assert by["output_size"].score == 1.0
    assert by["same_padding"].score < 1.0 and "total padding" in by["same_padding"].cases[0].message
    assert by["conv2d"].score == 0.0 and "conv2d calls jax.lax.conv" in by["conv2d"].banned
    assert by["pad"].score == 0.0
    assert r.max_score == sum(i.points for i in suite.items)
    assert np.isclose(r.score, sum(i.score for i in r.items)) and r.status == "graded"
