"""a1-a3 notebooks end to end, through the real nbgrader 0.9 commands.

One test (so that pytest-xdist builds the course once) and one temporary nbgrader
course with the three source notebooks; what it checks is
:func:`nbgrader_env.round_trip`: the release equals ``exercises/``, solutions get
full marks with nothing on stderr, untouched exercises get 0 and fail cleanly.
"""
from __future__ import annotations

import pytest
from nbgrader_env import round_trip

ASSIGNMENTS = ("a1_convolution", "a2_logistic_regression", "a3_neural_networks")


@pytest.mark.slow
def test_nbgrader_round_trip_a1_a3(tmp_path_factory):
    round_trip(tmp_path_factory, ASSIGNMENTS)
