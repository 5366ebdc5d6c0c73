"""Build small notebooks (as bytes) for the grader tests."""
import json

CORRECT = '''
import numpy as np
import jax.numpy as jnp

def double(x):
    return 2 * jnp.asarray(x, dtype=jnp.float32)

def corr2d(image, kernel):
    x, k = jnp.asarray(image, jnp.float32), jnp.asarray(kernel, jnp.float32)
    fh, fw = k.shape
    oh, ow = x.shape[0] - fh + 1, x.shape[1] - fw + 1
    out = jnp.zeros((oh, ow))
    for u in range(fh):
        for v in range(fw):
            out = out + k[u, v] * x[u:u + oh, v:v + ow]
    return out

def out_size(n, f, stride=1):
    return (n - f) // stride + 1
'''

TEST_CELL = 'from medjax.selfcheck import check\nassert True  # instructor test cell'


def notebook(*cells: str, test_cells: bool = True, metadata: dict | None = None) -> dict:
    """A notebook dict: each string a solution code cell, followed by a locked grade cell."""
    out = []
    for k, src in enumerate(cells):
        out.append({"cell_type": "code", "execution_count": None, "outputs": [], "source": src,
                    "metadata": {"nbgrader": {"schema_version": 3, "grade": False, "solution": True,
                                              "locked": False, "grade_id": f"sol_{k}"}}})
        if test_cells:
            out.append({"cell_type": "code", "execution_count": None, "outputs": [], "source": TEST_CELL,
                        "metadata": {"nbgrader": {"schema_version": 3, "grade": True, "solution": False,
                                                  "locked": True, "grade_id": f"test_{k}", "points": 1}}})
    return {"cells": out, "metadata": metadata or {"kernelspec": {"name": "python3"}}, "nbformat": 4,
            "nbformat_minor": 5}


def nb_bytes(*cells: str, **kw) -> bytes:
    return json.dumps(notebook(*cells, **kw)).encode()
