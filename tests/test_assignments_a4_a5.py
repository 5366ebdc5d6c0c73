"""Assignments a4 (CNN for pneumonia) and a5 (ResNet, U-Net): items, references, notebooks, nbgrader.

* the trusted references agree with independent oracles (brute force, Fractions,
  Flax's own parameter counts, the library's models, analytic gradients);
* every item's reference passes its visible and hidden cases, and known wrong
  answers fail with the right mistake named or the right hint;
* the released exercises are up to date, their stubs fail every item cleanly;
* the real nbgrader round trip: solutions get full marks with nothing on stderr,
  untouched exercises get 0.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograder.hidden import hidden_cases, run_hidden
from autograder.items import full_items
from autograder.reference import a4_a5 as ref
from medjax.selfcheck import items, run_visible
from medjax.selfcheck.cases import run_item
from medjax.selfcheck.notebook import execute
from nbgrader_env import BIN, BUDGET_S, REPO, grade_cells, read, round_trip, seconds

A4, A5 = "a4_cnn_pneumonia", "a5_resnet_unet"
ASSIGNMENTS = (A4, A5)


def _params(tree) -> int:
    return sum(int(np.prod(p.shape)) for p in jax.tree_util.tree_leaves(tree))


def _shapes(module, shape):
    return jax.eval_shape(module.init, jax.random.key(0), jax.ShapeDtypeStruct(shape, jnp.float32))


# --------------------------------------------------------------------------- references vs oracles

binary = st.lists(st.integers(0, 1), min_size=1, max_size=40)


@given(binary, st.data())
def test_metrics_match_brute_force_counts(y_true, data):
    y_pred = data.draw(st.lists(st.integers(0, 1), min_size=len(y_true), max_size=len(y_true)))
    tp = sum(t == 1 and p == 1 for t, p in zip(y_true, y_pred))
    tn = sum(t == 0 and p == 0 for t, p in zip(y_true, y_pred))
    fp = sum(t == 0 and p == 1 for t, p in zip(y_true, y_pred))
    fn = sum(t == 1 and p == 0 for t, p in zip(y_true, y_pred))
    assert ref.confusion_matrix(y_true, y_pred).tolist() == [[tn, fp], [fn, tp]]
    assert ref.accuracy(y_true, y_pred) == pytest.approx((tp + tn) / len(y_true))
    assert ref.precision(y_true, y_pred) == (tp / (tp + fp) if tp + fp else 0.0)
    assert ref.recall(y_true, y_pred) == (tp / (tp + fn) if tp + fn else 0.0)
    assert ref.specificity(y_true, y_pred) == (tn / (tn + fp) if tn + fp else 0.0)
    # F1 = 2TP / (2TP + FP + FN): an independent form of the harmonic mean
    assert ref.f1(y_true, y_pred) == pytest.approx(2 * tp / (2 * tp + fp + fn) if tp else 0.0)


def test_metrics_worked_example():
    y_true = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    y_pred = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0, 1, 0]  # TP 4, FN 1, FP 2, TN 5
    assert ref.confusion_matrix(y_true, y_pred).tolist() == [[5, 2], [1, 4]]
    assert (ref.precision(y_true, y_pred), ref.recall(y_true, y_pred)) == (4 / 6, 4 / 5)
    assert ref.always_negative_accuracy(0.01) == pytest.approx(0.99)


def _brute_threshold(probs, labels):
    """argmax over unique probs of the exact Youden J (Fractions); smallest on ties."""
    n_pos, n_neg = sum(labels), len(labels) - sum(labels)
    best = None
    for t in sorted(set(probs)):
        pred = [p >= t for p in probs]
        tp = sum(p and y == 1 for p, y in zip(pred, labels))
        tn = sum((not p) and y == 0 for p, y in zip(pred, labels))
        j = (Fraction(tp, n_pos) if n_pos else 0) + (Fraction(tn, n_neg) if n_neg else 0) - 1
        if best is None or j > best[0]:
            best = (j, t)
    return best[1]


@given(st.lists(st.tuples(st.sampled_from([0.1, 0.2, 0.3, 0.5, 0.7, 0.9]), st.integers(0, 1)),
                min_size=1, max_size=30))
def test_choose_threshold_matches_exact_brute_force(pairs):
    probs, labels = [p for p, _ in pairs], [y for _, y in pairs]
    assert ref.choose_threshold(probs, labels) == _brute_threshold(probs, labels)


@given(st.integers(1, 300), st.sampled_from([(0.6, 0.2, 0.2), (0.8, 0.1, 0.1), (0.5, 0.25, 0.25)]),
       st.integers(0, 2**31 - 1))
def test_split_dataset_reference_is_a_floor_rule_partition(n, fractions, seed):
    parts = ref.split_dataset(jax.random.key(seed), n, fractions)
    assert [p.size for p in parts] == [int(fractions[0] * n), int(fractions[1] * n),
                                       n - int(fractions[0] * n) - int(fractions[1] * n)]
    assert sorted(np.concatenate(parts).tolist()) == list(range(n))


def test_simple_cnn_parameter_count_is_flax_count():
    assert _params(_shapes(ref.SimpleCNN(), (1, 28, 28, 1))["params"]) == 26401 == ref.simple_cnn_param_count()
    assert _params(_shapes(ref.SimpleCNN(), (1, 64, 64, 1))["params"]) == ref.simple_cnn_param_count(64, 64)


@pytest.mark.parametrize("c_in,c_out", [(16, 16), (16, 32), (1, 8), (32, 16), (3, 5)])
def test_residual_block_count_matches_flax_reference_and_library(c_in, c_out):
    from medjax.models import ResidualBlock as LibraryBlock

    want = ref.residual_block_param_count(c_in, c_out)
    assert _params(_shapes(ref.ResidualBlock(features=c_out), (1, 8, 8, c_in))["params"]) == want
    assert _params(_shapes(LibraryBlock(features=c_out), (1, 8, 8, c_in))["params"]) == want


def test_reference_shapes_unet_and_strided_block():
    x = jax.ShapeDtypeStruct((2, 28, 28, 1), jnp.float32)
    variables = _shapes(ref.UNet(), (2, 28, 28, 1))
    assert jax.eval_shape(ref.UNet().apply, variables, x).shape == (2, 28, 28, 1)
    block = ref.ResidualBlock(features=6, strides=2)
    v = _shapes(block, (1, 7, 7, 3))
    assert jax.eval_shape(block.apply, v, jax.ShapeDtypeStruct((1, 7, 7, 3), jnp.float32)).shape == (1, 4, 4, 6)


def test_dice_worked_examples():
    p = np.array([[1.0, 1.0], [0.0, 0.0]])
    t = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert float(ref.dice_coefficient(p, t, eps=0.0)) == pytest.approx(2 * 1 / (2 + 2))
    assert float(ref.dice_coefficient(np.zeros((3, 3)), np.zeros((3, 3)))) == 1.0
    assert float(ref.dice_coefficient(np.zeros((3, 3)), np.ones((3, 3)))) == pytest.approx(0.0, abs=1e-6)
    assert float(ref.dice_loss(t, t)) == pytest.approx(0.0, abs=1e-6)


def test_saliency_and_grad_cam_against_analytic_forms():
    from autograder.items.a5_resnet_unet import saliency_analytic
    from medjax.selfcheck.a5_resnet_unet import _saliency_probe

    np.testing.assert_allclose(_saliency_probe(ref.saliency_map, 3, 4, 5, 2), saliency_analytic(3, 4, 5, 2),
                               rtol=1e-5, atol=1e-6)
    rng = np.random.default_rng(0)
    a, g = rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 4, 2))
    loops = np.zeros((3, 4))
    for k in range(2):
        loops += g[:, :, k].mean() * a[:, :, k]
    np.testing.assert_allclose(ref.grad_cam(a, g), np.maximum(loops, 0.0))


# --------------------------------------------------------------------------- items


def _item_ids():
    return [(a, gid) for a in ASSIGNMENTS for gid in items(a)]


@pytest.mark.parametrize("assignment,grade_id", _item_ids())
def test_reference_passes_visible_and_hidden_cases(assignment, grade_id):
    item = full_items(assignment)[grade_id]
    obj = item.reference if item.reference is not None else "b"  # the multiple-choice answer
    assert all(v.passed for v in run_item(item, obj)), grade_id
    shipped = items(assignment)[grade_id]  # no answers: judged against the stored expectations
    assert shipped.reference is None and all(m.output is None for m in shipped.mistakes)
    assert all(v.passed for v in run_visible(assignment, shipped, obj)), grade_id
    hidden = hidden_cases(assignment, grade_id)
    assert hidden, f"{grade_id} has no hidden cases"
    verdicts = run_hidden(item, obj, hidden)
    assert all(v.passed for v in verdicts), [v.message for v in verdicts if not v.passed]


def test_multiple_choice_answer_is_only_on_the_instructor_side():
    item = full_items(A5)["test_shortcut_answer"]
    assert not run_hidden(item, "a", hidden_cases(A5, "test_shortcut_answer"))[0].passed
    assert "should be one of" in run_item(item, "e")[0].message
    assert run_item(item, " B ")[0].passed
    shipped = (REPO / "medjax" / "selfcheck" / "a5_resnet_unet.py").read_text()
    stored_json = (REPO / "medjax" / "selfcheck" / "expected" / "a5_resnet_unet.json").read_text()
    assert "shortcut_answer" in shipped and '= "b"' not in shipped and "answer=" not in shipped
    assert '"b"' not in stored_json


def _strict_threshold(probs, labels):
    from autograder.items.a4_cnn_pneumonia import _threshold_variant

    return _threshold_variant(strict=True)(probs, labels)


def _broadcast_step(state, images, labels):
    from autograder.items.a4_cnn_pneumonia import _broadcast_train_step

    return _broadcast_train_step(state, images, labels)


def _unshuffled_split(key, n, fractions=(0.6, 0.2, 0.2)):
    order = np.arange(n)
    a, b = int(fractions[0] * n), int(fractions[1] * n)
    return order[:a], order[a:a + b], order[a + b:]


MISTAKES = [
    (A4, "test_confusion_matrix", lambda t, p: ref.confusion_matrix(t, p).T, "transposed matrix"),
    (A4, "test_precision", lambda t, p: ref.recall(t, p), "precision and recall swapped"),
    (A4, "test_specificity", lambda t, p: 1 - ref.specificity(t, p), "false-positive rate"),
    (A4, "test_f1", lambda t, p: (ref.precision(t, p) + ref.recall(t, p)) / 2, "arithmetic mean"),
    (A4, "test_always_negative_accuracy", lambda p: p, "returned the prevalence"),
    (A4, "test_split_dataset", _unshuffled_split, "no shuffle"),
    (A4, "test_choose_threshold", _strict_threshold, "'>' instead of '>='"),
    (A4, "test_train_step", _broadcast_step, "(N, 1) logits against (N,) labels"),
    (A5, "test_dice_coefficient", lambda p, t, eps=1e-6: 2 * np.sum(p * t) / (np.sum(p) + np.sum(t) + eps),
     "eps only in the denominator"),
    (A5, "test_residual_block_param_count", lambda i, o: 9 * i * o + 9 * o * o + (i * o if i != o else 0),
     "BatchNorm forgotten"),
    (A5, "test_grad_cam", lambda a, g: (a * g.mean(axis=(0, 1))).sum(-1), "no ReLU"),
]


@pytest.mark.parametrize("assignment,grade_id,wrong,mistake", MISTAKES, ids=[m[3] for m in MISTAKES])
def test_known_mistakes_are_named(assignment, grade_id, wrong, mistake):
    verdicts = run_item(full_items(assignment)[grade_id], wrong)
    assert not all(v.passed for v in verdicts)
    assert mistake in {v.mistake for v in verdicts}, [v.message for v in verdicts]
    shipped = run_visible(assignment, items(assignment)[grade_id], wrong)  # stored mistake outputs
    assert mistake in {v.mistake for v in shipped}, [v.message for v in shipped]


def test_dice_without_eps_gives_nan_and_is_named():
    with np.errstate(invalid="ignore"):
        verdicts = run_item(full_items(A5)["test_dice_coefficient"],
                            lambda p, t, eps=1e-6: np.sum(p * t) * 2 / (np.sum(p) + np.sum(t)))
    assert verdicts[2].mistake == "0/0 on empty masks"


def _messages(assignment, grade_id, obj, hidden=False):
    item = full_items(assignment)[grade_id]
    verdicts = run_hidden(item, obj, hidden_cases(assignment, grade_id)) if hidden else run_item(item, obj)
    return " | ".join(v.message for v in verdicts if not v.passed)


def test_property_probes_give_teaching_hints():
    def overlapping_split(key, n, fractions=(0.6, 0.2, 0.2)):
        rng = np.random.default_rng(0)
        return tuple(rng.integers(0, n, int(f * n) or 1) for f in fractions)

    assert "appears twice" in _messages(A4, "test_split_dataset", overlapping_split)

    def numpy_random_augment(key, images):
        return np.clip(np.asarray(images) + np.random.default_rng().uniform(-0.1, 0.1), 0, 1).astype(np.float32)

    assert "same key gave different outputs" in _messages(A4, "test_augment", numpy_random_augment)

    def unclipped_augment(key, images):
        return images + jax.random.uniform(key, (images.shape[0], 1, 1, 1), minval=0.05, maxval=0.1)

    assert "clip" in _messages(A4, "test_augment", unclipped_augment, hidden=True)

    @jax.jit
    def ascent_step(state, images, labels):
        def loss_fn(params):
            logits = state.apply_fn({"params": params}, images)[:, 0]
            return ref.bce_with_logits(logits, labels)

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(grads=jax.tree_util.tree_map(lambda g: -g, grads)), loss

    assert "does not decrease" in _messages(A4, "test_train_step", ascent_step)

    def python_if_step(state, images, labels):
        new_state, loss = ref.train_step(state, images, labels)
        if loss > 100:  # a Python branch on a traced value
            raise ValueError("diverged")
        return new_state, loss

    assert "jax.jit" in _messages(A4, "test_train_step", python_if_step)


def test_module_probes_catch_architecture_errors():
    import flax.linen as nn

    class ValidCNN(nn.Module):
        dropout_rate: float = 0.0

        @nn.compact
        def __call__(self, x, train: bool = False):
            for c in (8, 16):
                x = nn.max_pool(nn.relu(nn.Conv(c, (3, 3), padding="VALID")(x)), (2, 2), strides=(2, 2))
            return nn.Dense(1)(nn.relu(nn.Dense(32)(x.reshape((x.shape[0], -1)))))

    assert "VALID padding" in {v.mistake for v in run_item(full_items(A4)["test_simple_cnn"], ValidCNN)}

    class DropoutAlwaysOn(nn.Module):
        dropout_rate: float = 0.0

        @nn.compact
        def __call__(self, x, train: bool = False):
            x = ref.SimpleCNN()(x)  # same parameter count, one nested scope
            return nn.Dropout(self.dropout_rate, deterministic=False, rng_collection="params")(x)

    class NoDropout(nn.Module):
        dropout_rate: float = 0.0

        @nn.compact
        def __call__(self, x, train: bool = False):
            return ref.SimpleCNN()(x)

    assert "off at evaluation" in _messages(A4, "test_simple_cnn", DropoutAlwaysOn) or \
        "raised" in _messages(A4, "test_simple_cnn", DropoutAlwaysOn)
    assert "two dropout keys gave the same output" in _messages(A4, "test_simple_cnn", NoDropout)

    class NoProjection(nn.Module):
        features: int
        strides: int = 1

        @nn.compact
        def __call__(self, x, train: bool = False):
            y = nn.BatchNorm(use_running_average=not train)(
                nn.Conv(self.features, (3, 3), strides=self.strides, use_bias=False)(x))
            return nn.relu(y + x)

    assert "raised" in _messages(A5, "test_residual_block", NoProjection)

    class NoFinalRelu(nn.Module):
        features: int
        strides: int = 1

        @nn.compact
        def __call__(self, x, train: bool = False):
            return ref.ResidualBlock(self.features, self.strides)(x, train) * 0 + x  # identity only

    assert "relu(x)" in _messages(A5, "test_residual_block", NoFinalRelu)

    class HalfUNet(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool = False):
            return nn.Conv(1, (3, 3), strides=2)(x)

    assert "one logit per pixel" in _messages(A5, "test_unet", HalfUNet)

    def numpy_dice_loss(pred, target):
        p, t = np.asarray(pred), np.asarray(target)
        return 1 - (2 * np.sum(p * t) + 1e-6) / (np.sum(p) + np.sum(t) + 1e-6)

    assert "raised" in _messages(A5, "test_dice_loss", numpy_dice_loss)


# --------------------------------------------------------------------------- notebooks


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_notebook_grade_cells_match_items_and_exercises_are_fresh(assignment):
    from autograder.release import stale

    nb = read(REPO / "solutions" / assignment / f"{assignment}.ipynb")
    cells = {c.metadata.nbgrader.grade_id: c for c in grade_cells(nb)}
    its = items(assignment)
    assert set(cells) == set(its)
    for gid, cell in cells.items():
        assert cell.metadata.nbgrader.points == its[gid].points
        assert f'check("{assignment}", "{gid}", {its[gid].name})' in cell.source
        assert "### BEGIN HIDDEN TESTS" in cell.source
    assert stale(assignments=[assignment]) == []
    released = (REPO / "exercises" / assignment / f"{assignment}.ipynb").read_text()
    assert "BEGIN SOLUTION" not in released and "check_hidden" not in released
    assert 'shortcut_answer = "b"' not in released


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_exercise_stubs_fail_every_item_cleanly(assignment, monkeypatch):
    """The released notebook as plain code (like `medjax check`): every item reports 'not implemented'."""
    monkeypatch.delenv("MEDJAX_DATA_DIR", raising=False)
    nb = json.loads((REPO / "exercises" / assignment / f"{assignment}.ipynb").read_text())
    solution_only = {"cells": [c for c in nb["cells"]
                               if c.get("metadata", {}).get("nbgrader", {}).get("solution")
                               or c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "setup"]}
    namespace, errors = execute(solution_only)
    assert not errors, errors
    for gid, item in items(assignment).items():
        if item.name not in namespace:
            assert gid == "test_shortcut_answer"
            continue
        verdicts = run_visible(assignment, item, namespace[item.name])
        assert verdicts and all(not v.passed and "not implemented" in v.message for v in verdicts), gid


# --------------------------------------------------------------------------- the real nbgrader round trip


@pytest.mark.slow
def test_nbgrader_round_trip_a4_a5(tmp_path_factory):
    """See :func:`nbgrader_env.round_trip`; without ``MEDJAX_DATA_DIR`` (the download-free path)."""
    round_trip(tmp_path_factory, ASSIGNMENTS, drop_env=("MEDJAX_DATA_DIR",))


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_sandboxed_grader_full_marks_and_zero(assignment, tmp_path):
    """`medjax grade` (sandboxed child, probes across the process boundary): solution 100 %, stubs 0."""
    import csv

    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(REPO / "solutions" / assignment / f"{assignment}.ipynb", subs / "alice.ipynb")
    shutil.copy(REPO / "exercises" / assignment / f"{assignment}.ipynb", subs / "bob.ipynb")
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}
    env.pop("MEDJAX_DATA_DIR", None)
    proc = subprocess.run([str(BIN / "medjax"), "grade", "--assignment", assignment, str(subs / "alice.ipynb"),
                           str(subs / "bob.ipynb"), "--out", str(tmp_path / "out"), "--jobs", "1", "--no-warmup"],
                          env=env, capture_output=True, text=True, timeout=1200, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = {r["student"]: r for r in csv.DictReader((tmp_path / "out" / "grades.csv").open())}
    total = sum(item.points for item in items(assignment).values())
    assert float(rows["alice"]["score"]) == float(rows["alice"]["max_score"]) == total
    assert float(rows["bob"]["score"]) == 0.0 and rows["bob"]["status"] == "graded"


@pytest.mark.slow
@pytest.mark.data
def test_a4_solution_on_real_pneumoniamnist(data_dir):
    """The a4 solution trains and reports on real PneumoniaMNIST, cleanly and within budget."""
    from nbclient import NotebookClient

    nb = read(REPO / "solutions" / A4 / f"{A4}.ipynb")
    old = {k: os.environ.get(k) for k in ("MEDJAX_DATA_DIR", "PYTHONPATH", "JAX_PLATFORMS")}
    os.environ.update(MEDJAX_DATA_DIR=data_dir, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=False,
                       resources={"metadata": {"path": str(REPO)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not [o for c in code for o in c.outputs if o.output_type == "stream" and o.name == "stderr"]
    text = {c.metadata.nbgrader.grade_id: "".join(o.get("text", "") for o in c.outputs) for c in code}
    assert text["load_data"].startswith("PneumoniaMNIST")
    assert "FAIL" not in "".join(text.values())
    accuracy_line = [ln for ln in text["test_report"].splitlines() if ln.startswith("threshold chosen on val")][0]
    assert float(accuracy_line.split("acc ")[1].split()[0]) > 0.75  # published ResNet-18 (28): 0.854
    assert sum(seconds(c) for c in code) < BUDGET_S
