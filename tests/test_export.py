"""LMS exports, checked column by column against the documented layouts."""
import csv
import io
import json
import subprocess
import sys

import pytest

from autograder import export as ex

ROSTER = '''student_id,first_name,last_name,name,email,lms_user_id,sis_user_id,sis_login_id,section
s1,Ana,"Núñez, Jr.",,ana@uni.edu,101,SIS-1,ana,Lab A
s2,"Zoë ""Zo""",O'Brien,,zoe@uni.edu,102,SIS-2,zoe,Lab B
s3,,,Ω Student,omega@uni.edu,,,,
'''


def _results(tmp_path, assignment="a1_convolution"):
    folder = tmp_path / "graded"
    for sid, score, items, status in [("s1", 10.0, [("conv2d", 4, 4), ("pad", 6, 6)], "graded"),
                                      ("s2", 4.5, [("conv2d", 0, 4), ("pad", 4.5, 6)], "graded"),
                                      ("s3", 0.0, [("conv2d", 0, 4), ("pad", 0, 6)], "error: timeout")]:
        (folder / sid).mkdir(parents=True)
        tests = [{"name": n, "score": s, "max_score": m, "output": "", "visibility": "visible"} for n, s, m in items]
        (folder / sid / "results.json").write_text(json.dumps(
            {"score": score, "max_score": 10.0, "execution_time": 1.0, "output": "", "visibility": "visible",
             "tests": tests, "extra_data": {"assignment": assignment}}), encoding="utf-8")
    with open(folder / "grades.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["student", "score", "max_score", "conv2d", "pad", "status"])
        w.writerow(["s1", 10, 10, 4, 6, "graded"])
        w.writerow(["s2", 4.5, 10, 0, 4.5, "graded"])
        w.writerow(["s3", 0, 10, 0, 0, "error: timeout"])
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    return folder, roster


def _rows(text):
    return list(csv.reader(io.StringIO(text)))


def test_canvas_layout(tmp_path):
    folder, roster = _results(tmp_path)
    rows = _rows(ex.export(folder, "canvas", roster=roster, lms_assignment_id="7731"))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "a1_convolution (7731)"]
    assert rows[1] == ["Points Possible", "", "", "", "", "10"]
    assert rows[2] == ["Núñez, Jr., Ana", "101", "SIS-1", "ana", "Lab A", "10"]
    assert rows[3] == ['O\'Brien, Zoë "Zo"', "102", "SIS-2", "zoe", "Lab B", "4.5"]
    assert rows[4] == ["Ω Student", "", "s3", "", "", "0"]  # no Canvas ID: matched by SIS User ID
    assert len(rows) == 5


def test_canvas_without_roster_uses_student_ids(tmp_path):
    folder, _ = _results(tmp_path)
    rows = _rows(ex.export(folder, "canvas"))
    assert rows[0][-1] == "a1_convolution"
    assert [r[2] for r in rows[2:]] == ["s1", "s2", "s3"]


def test_moodle_layout_uses_email_when_every_student_has_one(tmp_path):
    folder, roster = _results(tmp_path)
    rows = _rows(ex.export(folder, "moodle", roster=roster))
    assert rows == [["Email address", "a1_convolution"], ["ana@uni.edu", "10"], ["zoe@uni.edu", "4.5"],
                    ["omega@uni.edu", "0"]]
    rows = _rows(ex.export(folder, "moodle"))
    assert rows[0] == ["ID number", "a1_convolution"]


def test_moodle_per_item_columns(tmp_path):
    folder, roster = _results(tmp_path)
    results = ex.read_results(folder)
    rows = _rows(ex.moodle_csv(results, ex.read_roster(roster), assignment="A1", per_item=True))
    assert rows[0] == ["Email address", "A1", "conv2d", "pad"]
    assert rows[2] == ["zoe@uni.edu", "4.5", "0", "4.5"]


def test_nbgrader_layout(tmp_path):
    folder, roster = _results(tmp_path)
    rows = _rows(ex.export(folder, "nbgrader", roster=roster))
    assert rows[0] == ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
                       "raw_score", "late_submission_penalty", "score", "max_score"]
    assert rows[1] == ["a1_convolution", "", "", "s1", "Núñez, Jr.", "Ana", "ana@uni.edu", "10", "0", "10", "10"]


def test_gradescope_layout(tmp_path):
    folder, roster = _results(tmp_path)
    rows = _rows(ex.export(folder, "gradescope", roster=roster))
    assert rows[0] == ["First Name", "Last Name", "SID", "Email", "Total Score"]
    assert rows[2] == ['Zoë "Zo"', "O'Brien", "SIS-2", "zoe@uni.edu", "4.5"]
    assert rows[3] == ["Ω Student", "", "s3", "omega@uni.edu", "0"]


def test_lti_ags_payloads(tmp_path):
    folder, roster = _results(tmp_path)
    text = ex.export(folder, "lti-ags", roster=roster)
    bodies = [json.loads(line) for line in text.splitlines()]
    assert [b["userId"] for b in bodies] == ["101", "102", "s3"]
    for b in bodies:
        assert set(b) == {"userId", "scoreGiven", "scoreMaximum", "comment", "timestamp",
                          "activityProgress", "gradingProgress"}
        assert b["scoreMaximum"] == 10.0 and b["activityProgress"] == "Completed"
        assert b["timestamp"].endswith("+00:00")
    assert bodies[1]["scoreGiven"] == 4.5 and bodies[0]["gradingProgress"] == "FullyGraded"
    assert bodies[2]["gradingProgress"] == "PendingManual" and "timeout" in bodies[2]["comment"]


def test_errors_are_readable(tmp_path):
    with pytest.raises(ValueError, match="no results found"):
        ex.read_results(tmp_path)
    bad = tmp_path / "r.csv"
    bad.write_text("name,email\nx,y\n", encoding="utf-8")
    with pytest.raises(ValueError, match="student_id"):
        ex.read_roster(bad)
    folder, _ = _results(tmp_path / "x")
    with pytest.raises(ValueError, match="unknown format"):
        ex.export(folder, "blackboard")


def test_cli_writes_file(tmp_path):
    folder, roster = _results(tmp_path)
    out = tmp_path / "canvas.csv"
    proc = subprocess.run([sys.executable, "-m", "medjax.cli", "export", "--results", str(folder), "--format", "canvas",
                           "--roster", str(roster), "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert _rows(out.read_text(encoding="utf-8"))[2][0] == "Núñez, Jr., Ana"
    proc = subprocess.run([sys.executable, "-m", "medjax.cli", "export", "--results", str(tmp_path / "none"),
                           "--format", "canvas", "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 2 and "no results found" in proc.stderr and "Traceback" not in proc.stderr
