"""The grader's fast paths keep the scores: skipped demonstration cells, the shared MLIR context."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from autograder.dependencies import cell_facts, needed_cells
from autograder.grade import Limits, graded_cells, load_suite, read_notebook
from autograder.pool import grade_all, instructor_cells
from autograder.submissions import Submission
from grader_fixtures.notebooks import CORRECT, nb_bytes

REPO = Path(__file__).resolve().parents[1]
A1 = REPO / "solutions" / "a1_convolution" / "a1_convolution.ipynb"
TINY = dict(items_module="grader_fixtures.tiny_items", hidden_module="grader_fixtures.tiny_hidden")
CONV = "import numpy as np\ndef conv2d(x, k):\n    return np.asarray(x) * SCALE\n"
PLOT = "import matplotlib.pyplot as plt\nout = conv2d([1.0], None)\nplt.plot(out)\nplt.show()\n"


def kept(*sources: str, names=("conv2d",)) -> list[int]:
    return [i for i, _ in needed_cells(list(enumerate(sources)), names)]


def test_a1_demo_cells_are_the_only_ones_no_graded_name_needs():
    cells = read_notebook(A1.read_bytes())
    suite = load_suite("a1_convolution")
    skipped = {i for i, _ in cells} - {i for i, _ in needed_cells(cells, [it.name for it in suite.items])}
    by_id = {i: c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
             for i, c in enumerate(json.loads(A1.read_text())["cells"])}
    assert {by_id[i] for i in skipped} == {"load_images", "kernel_demo"}


def test_plot_cell_skipped_but_a_later_redefinition_or_a_defining_plot_cell_kept():
    assert kept("SCALE = 2", CONV, PLOT) == [0, 1]
    assert kept("SCALE = 2", CONV, PLOT, "def conv2d(x, k):\n    return x") == [0, 1, 3]
    assert kept("SCALE = 2", CONV + PLOT) == [0, 1]
    assert kept(CONV, PLOT + "SCALE = 3") == [0, 1]  # a plot cell that binds a needed global


@pytest.mark.parametrize("mutation", [
    "SCALE.append(3)", "SCALE[0] = 3", "SCALE += [3]", "del SCALE[0]", "fill(SCALE)", "register()",
    "globals()['SCALE'] = [3]", "exec('SCALE = [3]')", "setattr(np, 'asarray', list)", "from os import *",
    "def f():\n    global SCALE\n    SCALE = 1\nf()", "np.asarray = list", "import sys\nsys.modules['numpy'] = None",
    "this is not python(",
])
def test_cells_that_may_change_a_needed_object_are_kept(mutation):
    helpers = "def fill(a):\n    a.append(1)\ndef register():\n    CACHE.append(1)\nCACHE = SCALE"
    assert 2 in kept("SCALE = [2]", CONV + helpers, mutation)


def test_calls_of_module_functions_do_not_count_as_mutations():
    facts = cell_facts("import numpy as np\nimg = np.zeros((2, 2), dtype=np.float32)\nnp.asarray(img)", {"np"})
    assert facts.binds == {"np", "img"} and not facts.always
    assert cell_facts("jax.config.update('jax_enable_x64', True)").always


def test_analysis_is_safe_in_the_grader_threads():
    """The grader analyses submissions in threads (CPython 3.11's parser is not thread-safe)."""
    from concurrent.futures import ThreadPoolExecutor

    from autograder import static

    cells = read_notebook((REPO / "exercises" / "a5_resnet_unet" / "a5_resnet_unet.ipynb").read_bytes())
    expected = needed_cells(cells, ["unet"])

    def work(k: int):
        return needed_cells(cells, ["unet"]) if k % 2 else static.parse(s for _, s in cells)

    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(work, range(40)))
    assert all(r == expected for r in results[1::2])


def test_only_unchanged_instructor_cells_are_skipped():
    suite = load_suite("a1_convolution")
    cells = read_notebook(A1.read_bytes())
    trusted = instructor_cells(A1)
    assert len(graded_cells(cells, suite, trusted)) == len(cells) - 2
    assert graded_cells(cells, suite) == cells  # no instructor notebook: every cell runs
    edited = [(i, s + "\n# mine") for i, s in cells]
    assert graded_cells(edited, suite, trusted) == edited  # the student's own text always runs
    assert instructor_cells(None) == frozenset() and instructor_cells(REPO / "no-such.ipynb") == frozenset()


def test_a_variants_rendering_of_a_demo_cell_is_still_recognised():
    from autograder import variants

    suite = load_suite("a1_convolution")
    source = json.loads(A1.read_text())
    params = variants.draw(variants.spec_of(source), secret=b"0123456789abcdef", student="s1",
                           assignment="a1_convolution", version="1.0")
    rendered = read_notebook(json.dumps(variants.render_source(source, "a1_convolution", params)).encode())
    assert rendered != read_notebook(A1.read_bytes())  # the kernel lines differ
    assert len(graded_cells(rendered, suite, instructor_cells(A1))) == len(rendered) - 2


def test_skipped_and_kept_cells_in_a_sandboxed_run(tmp_path):
    """A slow instructor demo cell is not run unchanged, runs (and times out) when edited, and is run
    when it mutates what a graded function reads."""
    suite = load_suite("tiny", **TINY)
    slow = "import time\ntime.sleep(20)"
    mutate = "SCALE.append(3)"
    double = "SCALE = [2]\ndef double(x):\n    import numpy as np\n    return SCALE[-1] * np.asarray(x, np.float32)\n"
    instructor = tmp_path / "instructor.ipynb"
    instructor.write_bytes(nb_bytes(CORRECT, slow, mutate))
    subs = [Submission("unchanged", nb_bytes(CORRECT, slow), "unchanged"),
            Submission("edited", nb_bytes(CORRECT, slow + "  # edited"), "edited"),
            Submission("mutated", nb_bytes(CORRECT + double, mutate), "mutated")]
    results = {r.student: r for r in grade_all(subs, suite, tmp_path / "out", jobs=1, use_cache=False,
                                               limits=Limits(submission=60, test=20, cell=4), warmup=instructor)}
    assert (results["unchanged"].score, results["unchanged"].status) == (6.0, "graded")
    assert results["edited"].score == 6.0 and "timeout in cell" in results["edited"].status
    assert {i.name: i.score for i in results["mutated"].items}["double"] == 0.0  # 3 x, not 2 x: the cell ran


def test_shared_lowering_context_gives_the_same_programs():
    """Lowering twice in one process after sharing the context gives identical StableHLO."""
    import jax
    import jax.numpy as jnp

    from autograder.child import _share_lowering_context

    def text():
        return jax.jit(lambda x: jnp.cumsum(x * 2.0)[1:]).lower(jnp.ones(5)).as_text()

    from jax._src.interpreters import mlir

    before, original = text(), mlir.make_ir_context
    try:
        _share_lowering_context()
        assert mlir.make_ir_context() is mlir.make_ir_context()
        assert text() == before and text() == before
    finally:
        mlir.make_ir_context = original  # this test process goes on with JAX as it was
