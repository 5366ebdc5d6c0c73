"""The instructor's side of the course kit: grading, releases, exports and bundles.

Never shipped to students. ``medjax grade`` (:mod:`autograder.cli_grade`) runs
each submission in a sandboxed child process (:mod:`autograder.sandbox`,
:mod:`autograder.child`) and judges its answers on the trusted side
(:mod:`autograder.grade`); see ``autograder/SECURITY.md`` for the security model.
"""
