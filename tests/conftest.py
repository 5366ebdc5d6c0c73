"""Strict settings for the whole suite: rank promotion raises, hypothesis is bounded."""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")

settings.register_profile(
    "medjax",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
settings.load_profile("medjax")


@pytest.fixture
def data_dir():
    """The folder with real PneumoniaMNIST, or a skip that says how to get it."""
    path = os.environ.get("MEDJAX_DATA_DIR", "")
    npz = os.path.join(path, "pneumoniamnist.npz") if path else ""
    if not npz or not os.path.exists(npz):
        pytest.skip("real PneumoniaMNIST not available: set MEDJAX_DATA_DIR to a folder with pneumoniamnist.npz")
    return path
