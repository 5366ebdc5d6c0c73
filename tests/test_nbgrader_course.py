"""`medjax grade --course`: real nbgrader course, medjax's grader, nbgrader's own export and feedback."""
import csv
import shutil
import subprocess

from nbgrader_env import BIN, REPO, nbgrader, nbgrader_env, new_course, run

from medjax.selfcheck import items

ASSIGNMENT = "a2_logistic_regression"


def test_grade_course_records_in_gradebook(tmp_path):
    env = nbgrader_env(tmp_path / "env")
    course = new_course(tmp_path / "course")
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", course / "source" / ASSIGNMENT)
    nbgrader(course, env, "generate_assignment", ASSIGNMENT, "--force")
    for student, folder in (("alice", "source"), ("bob", "release")):
        nbgrader(course, env, "db", "student", "add", student, f"--last-name=Ü{student}", "--first-name=Zoë")  # nbgrader export does not quote commas
        target = course / "submitted" / student / ASSIGNMENT
        target.mkdir(parents=True)
        shutil.copy(course / folder / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", target)
        (target / "timestamp.txt").write_text("2026-11-30 12:00:00.000000 UTC")

    proc = run([str(BIN / "medjax"), "grade", "--course", str(course), "--assignment", ASSIGNMENT, "--jobs", "2",
                "--timeout", "300"], course, env)
    assert "recorded 2 submissions" in proc.stdout
    total = sum(item.points for item in items(ASSIGNMENT).values())
    assert (course / "medjax" / ASSIGNMENT / "alice" / "results.json").is_file()

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        alice, bob = gb.find_submission(ASSIGNMENT, "alice"), gb.find_submission(ASSIGNMENT, "bob")
        assert (alice.score, alice.max_score) == (total, total)
        assert (bob.score, bob.max_score) == (0.0, total)
        assert alice.timestamp is not None and alice.timestamp.year == 2026
        cell_scores = {g.name: g.score for g in gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "alice").grades}
        assert cell_scores == {gid: item.points for gid, item in items(ASSIGNMENT).items()}

    # nbgrader's own tools keep working on what medjax recorded.
    nbgrader(course, env, "export", "--to", str(course / "grades.csv"))
    with open(course / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    assert float(rows["alice"]["score"]) == total and float(rows["bob"]["score"]) == 0.0
    assert rows["alice"]["first_name"] == "Zoë" and rows["alice"]["last_name"] == "Üalice"
    nbgrader(course, env, "generate_feedback", ASSIGNMENT)
    html = (course / "feedback" / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text(encoding="utf-8")
    assert f"Score: {total:g}" in html or f"{total:g} / {total:g}" in html or str(total) in html

    # A regrade replaces, never duplicates, the gradebook record.
    run([str(BIN / "medjax"), "grade", "--course", str(course), "--assignment", ASSIGNMENT, "--jobs", "2"], course, env)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert len(gb.find_assignment(ASSIGNMENT).submissions) == 2


def test_course_without_generated_assignment_is_a_clear_error(tmp_path):
    env = nbgrader_env(tmp_path / "env")
    course = new_course(tmp_path / "course")
    target = course / "submitted" / "alice" / ASSIGNMENT
    target.mkdir(parents=True)
    shutil.copy(REPO / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", target)
    proc = subprocess.run([str(BIN / "medjax"), "grade", "--course", str(course), "--assignment", ASSIGNMENT,
                           "--jobs", "1"], cwd=course, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2
    assert "nbgrader generate_assignment" in proc.stderr and "Traceback" not in proc.stderr
