"""The class report on a hand-made results folder."""
import json

from autograder.report import class_report, common_mistakes, item_stats
from autograder.export import read_results


def _write(folder, sid, tests, status="graded"):
    (folder / sid).mkdir(parents=True)
    score = sum(t["score"] for t in tests)
    (folder / sid / "results.json").write_text(json.dumps(
        {"score": score, "max_score": 6.0, "tests": tests, "extra_data": {"assignment": "a1_convolution", "status": status}}))


def test_report_counts_items_mistakes_and_errors(tmp_path):
    folder = tmp_path / "graded"
    flip = "values differ\n  Likely mistake: flipped kernel. Deep learning convolution is cross-correlation."
    _write(folder, "s1", [{"name": "conv2d", "score": 0, "max_score": 4, "output": flip},
                          {"name": "pad", "score": 2, "max_score": 2, "output": ""}])
    _write(folder, "s2", [{"name": "conv2d", "score": 2, "max_score": 4, "output": flip + "\n" + flip},
                          {"name": "pad", "score": 2, "max_score": 2, "output": ""}])
    _write(folder, "s3", [{"name": "conv2d", "score": 4, "max_score": 4, "output": ""},
                          {"name": "pad", "score": 0, "max_score": 2, "output": ""}], status="error: timeout")
    stats = item_stats(read_results(folder))
    assert [s.name for s in stats] == ["conv2d", "pad"]  # hardest first
    assert abs(stats[0].mean_share - 0.5) < 1e-12 and stats[0].full_marks == 1
    assert common_mistakes(folder) == {"conv2d: flipped kernel": 2}  # once per student
    paths = class_report(folder, tmp_path / "report")
    assert [p.name for p in paths] == ["report.md", "scores.png", "items.png"]
    text = paths[0].read_text()
    assert "3 submissions" in text and "conv2d: flipped kernel (2 students)" in text
    assert "s3: error: timeout" in text
    for png in paths[1:]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 2000


def test_visible_and_hidden_parts_count_as_one_item(tmp_path):
    folder = tmp_path / "graded"
    _write(folder, "s1", [{"name": "conv2d (test_conv2d)", "score": 1, "max_score": 2, "output": ""},
                          {"name": "conv2d (test_conv2d) hidden cases", "score": 3, "max_score": 4, "output": ""}])
    (result,) = read_results(folder)
    assert result.items == {"conv2d (test_conv2d)": (4.0, 6.0)}


def test_report_command_writes_the_report_and_refuses_an_empty_folder(tmp_path):
    import subprocess
    import sys

    folder = tmp_path / "graded"
    _write(folder, "s1", [{"name": "conv2d", "score": 4, "max_score": 4, "output": ""}])
    run = lambda *args: subprocess.run([sys.executable, "-m", "medjax.cli", "report", *args],
                                       capture_output=True, text=True, timeout=120)
    proc = run("--results", str(folder), "--out", str(tmp_path / "rep"), "--assignment", "A1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("wrote ") == 3 and (tmp_path / "rep" / "items.png").is_file()
    assert (tmp_path / "rep" / "report.md").read_text().startswith("# Class report: A1")
    empty = run("--results", str(tmp_path / "nothing"), "--out", str(tmp_path / "rep2"))
    assert empty.returncode == 2 and "run 'medjax grade' first" in empty.stderr and "Traceback" not in empty.stderr
