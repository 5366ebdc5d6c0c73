"""A tiny assignment for the grader's own tests (items, hidden cases, notebooks)."""
