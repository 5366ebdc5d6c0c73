"""Training: steps, scan, losses per task, class weighting, eval mode, fit, threshold."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st

from medjax.models import MLP, LogisticRegression, SimpleCNN, UNet
from medjax.train import (balanced_pos_weight, choose_threshold, create_train_state, eval_step, evaluate, fit,
                          per_example_loss, predict, roc_auc, train_step, train_steps_scan)

FAST = dict(progress=False, compilation_cache=False)


def blobs(n, seed=0, size=8, prevalence=0.5):
    """Tiny images: class 1 has a bright square in the centre, plus noise."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, size, size, 1), dtype=np.float32) * 0.6
    y = (rng.random(n) < prevalence).astype(np.int32)
    c = size // 2
    x[y == 1, c - 2:c + 2, c - 2:c + 2, 0] += 0.5
    return {"images": x, "labels": y}


def np_bce(z, y, pw=1.0):
    z, y = np.asarray(z, np.float64), np.asarray(y, np.float64)
    p = 1 / (1 + np.exp(-z))
    return -(pw * y * np.log(p) + (1 - y) * np.log(1 - p))


def fresh(model=None, x=None, tx=None):
    x = blobs(8)["images"] if x is None else x
    return create_train_state(model or LogisticRegression(), jax.random.PRNGKey(0), x[:1], tx or optax.sgd(0.1))


# ----------------------------------------------------------------------------- losses

def test_binary_loss_matches_formula_with_pos_weight():
    z = jnp.array([[-3.0], [0.5], [2.0], [20.0]])
    y = jnp.array([1.0, 0.0, 1.0, 0.0])
    for pw in (None, 4.0):
        got = per_example_loss(z, y, task="binary", pos_weight=pw)
        np.testing.assert_allclose(np.asarray(got), np_bce(z[:, 0], y, 1.0 if pw is None else pw), rtol=1e-5)


def test_loss_finite_for_huge_logits():
    z = jnp.array([[100.0], [-100.0]])
    got = per_example_loss(z, jnp.array([0.0, 1.0]), task="binary")
    np.testing.assert_allclose(np.asarray(got), [100.0, 100.0], rtol=1e-6)


def test_class_weighting_scales_positive_terms_only():
    d = blobs(16)
    state = fresh()
    x, y = jnp.asarray(d["images"]), jnp.asarray(d["labels"])
    plain, _ = eval_step(state, x, y, task="binary")
    weighted, _ = eval_step(state, x, y, 3.0, task="binary")
    logits = np.asarray(state.apply_fn(state.variables, x))[:, 0]
    pos = np_bce(logits, y)[d["labels"] == 1].sum()
    neg = np_bce(logits, y)[d["labels"] == 0].sum()
    np.testing.assert_allclose(float(plain["loss"]), pos + neg, rtol=1e-5)
    np.testing.assert_allclose(float(weighted["loss"]), 3 * pos + neg, rtol=1e-5)


def test_balanced_pos_weight_and_fit_uses_it():
    d = blobs(64, prevalence=0.8)
    expected = np.sum(d["labels"] == 0) / np.sum(d["labels"] == 1)
    assert balanced_pos_weight(d["labels"]) == pytest.approx(expected)
    _, history = fit(LogisticRegression(), d, epochs=1, batch_size=32, class_weight="balanced", **FAST)
    assert history["pos_weight"] == pytest.approx(expected)


def test_multiclass_multilabel_segmentation_losses():
    z = jnp.array([[2.0, 0.0, -1.0]])
    np.testing.assert_allclose(np.asarray(per_example_loss(z, jnp.array([1]), task="multiclass")),
                               [np.log(np.exp([2, 0, -1]).sum())], rtol=1e-5)
    ml = per_example_loss(z, jnp.array([[1.0, 0.0, 1.0]]), task="multilabel")
    np.testing.assert_allclose(np.asarray(ml), [np_bce([2, 0, -1], [1, 0, 1]).mean()], rtol=1e-5)
    # perfect segmentation logits: BCE ~ 0 and Dice loss ~ 0
    mask = jnp.zeros((1, 4, 4, 1)).at[0, 1:3, 1:3, 0].set(1.0)
    perfect = per_example_loss(jnp.where(mask > 0, 30.0, -30.0), mask, task="segmentation")
    assert float(perfect[0]) < 1e-6
    with pytest.raises(ValueError, match="unknown task"):
        per_example_loss(z, jnp.array([1]), task="regression")


def test_binary_needs_one_logit():
    with pytest.raises(ValueError, match=r"logits \(N, 1\)"):
        per_example_loss(jnp.zeros((2, 2)), jnp.zeros(2), task="binary")


# ----------------------------------------------------------------------------- steps

def test_train_step_is_gradient_descent_on_the_loss():
    d = blobs(8)
    x, y = jnp.asarray(d["images"]), jnp.asarray(d["labels"])
    state = fresh()
    params0 = jax.tree.map(np.asarray, state.params)

    def loss(params):
        return per_example_loss(state.apply_fn({"params": params}, x), y, task="binary").mean()

    grads = jax.grad(loss)(state.params)
    expected = jax.tree.map(lambda p, g: p - 0.1 * np.asarray(g), params0, grads)
    new, metrics = train_step(state, x, y, task="binary")
    assert int(new.step) == 1 and float(metrics["count"]) == 8
    for a, b in zip(jax.tree.leaves(new.params), jax.tree.leaves(expected)):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-5, atol=1e-7)


def test_scan_equals_sequential_steps():
    d = blobs(32, seed=1)
    xs = jnp.asarray(d["images"]).reshape(4, 8, 8, 8, 1)
    ys = jnp.asarray(d["labels"]).reshape(4, 8)
    model = MLP(hidden=(16,), dropout=0.3)  # dropout: the per-step keys must match too
    seq = fresh(model, d["images"], optax.adam(1e-2))
    total = 0.0
    for i in range(4):
        seq, m = train_step(seq, xs[i], ys[i], task="binary")
        total += float(m["loss"])
    scanned, m = train_steps_scan(fresh(model, d["images"], optax.adam(1e-2)), xs, ys, task="binary")
    assert int(scanned.step) == 4
    np.testing.assert_allclose(float(m["loss"]), total, rtol=1e-5)
    for a, b in zip(jax.tree.leaves(scanned.params), jax.tree.leaves(seq.params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_micro_batches_give_the_whole_batch_update():
    d = blobs(12, seed=2, size=16)
    x, y = jnp.asarray(d["images"]), jnp.asarray(d["labels"])
    model = SimpleCNN(features=(4, 8))  # the fused conv blocks, summed over chunks
    whole, mw = train_step(fresh(model, d["images"], optax.adam(1e-2)), x, y, task="binary")
    for micro in (4, 5, 12, 100):  # 5 -> chunks of 4 (the largest divisor of 12 not above 5)
        parts, mp = train_step(fresh(model, d["images"], optax.adam(1e-2)), x, y, task="binary", micro_batch=micro)
        for k in mw:
            np.testing.assert_allclose(float(mp[k]), float(mw[k]), rtol=1e-5)
        for a, b in zip(jax.tree.leaves(parts.params), jax.tree.leaves(whole.params)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
    # a prime batch (13) has no divisor near 8: it runs whole, with no chunk loop in the compiled step
    prime = blobs(13, seed=3, size=16)
    lowered = jax.jit(train_step.__wrapped__, static_argnames=("task", "micro_batch")).lower(
        fresh(model, prime["images"], optax.adam(1e-2)), prime["images"], prime["labels"], task="binary", micro_batch=8)
    assert "while" not in lowered.as_text()
    # the gradient really is the sum over chunks: one step of SGD equals the hand-summed chunk gradients
    state = fresh(LogisticRegression(), d["images"])

    def loss(params, xs, ys):
        return per_example_loss(state.apply_fn({"params": params}, xs), ys, task="binary").sum() / 12

    grads = [jax.grad(loss)(state.params, x[i:i + 3], y[i:i + 3]) for i in range(0, 12, 3)]
    expected = jax.tree.map(lambda p, *g: np.asarray(p) - 0.1 * sum(np.asarray(v) for v in g), state.params, *grads)
    new, _ = train_step(state, x, y, task="binary", micro_batch=3)
    for a, b in zip(jax.tree.leaves(new.params), jax.tree.leaves(expected)):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-5, atol=1e-7)


def test_micro_batches_refuse_batch_norm_and_fit_skips_them():
    d = blobs(8, size=28)
    x, y = jnp.asarray(d["images"]), jnp.asarray(d["labels"])
    with pytest.raises(ValueError, match="micro_batch=4: a model with BatchNorm"):
        train_step(fresh(SimpleCNN(features=(4,), batch_norm=True), d["images"]), x, y, task="binary", micro_batch=4)
    state, history = fit(SimpleCNN(features=(4,), batch_norm=True), d, epochs=1, batch_size=8, micro_batch=4, **FAST)
    assert int(state.step) == 1 and np.isfinite(history["epochs"][0]["train_loss"])


def _blank(key, images):
    del key
    return jnp.zeros_like(images)


def test_augment_runs_inside_the_step():
    d = blobs(8)
    x, y = jnp.asarray(d["images"]), jnp.asarray(d["labels"])
    state = fresh()
    on_blank, _ = eval_step(state, jnp.zeros_like(x), y, task="binary")
    state, m = train_step(state, x, y, task="binary", augment=_blank)
    np.testing.assert_allclose(float(m["loss"]), float(on_blank["loss"]), rtol=1e-6)


def test_fit_with_the_library_augmentation():
    from medjax.data import augment

    d = blobs(64, seed=9)
    _, h = fit(LogisticRegression(), d, epochs=1, batch_size=32, augment=augment, **FAST)
    assert np.isfinite(h["epochs"][0]["train_loss"])


def test_eval_ignores_dropout():
    d = blobs(16)
    x, y = jnp.asarray(d["images"]), jnp.asarray(d["labels"])
    state = fresh(MLP(hidden=(32,), dropout=0.5), d["images"])
    _, p1 = eval_step(state, x, y, task="binary")
    _, p2 = eval_step(state, x, y, task="binary")
    np.testing.assert_array_equal(np.asarray(p1), np.asarray(p2))
    no_dropout = jax.nn.sigmoid(state.apply_fn(state.variables, x, train=False))[:, 0]
    np.testing.assert_allclose(np.asarray(p1), np.asarray(no_dropout), rtol=1e-6)


def test_train_updates_batch_stats_and_eval_uses_running_averages():
    d = blobs(16, size=28)
    x, y = jnp.asarray(d["images"]), jnp.asarray(d["labels"])
    state = fresh(SimpleCNN(features=(4,), batch_norm=True), d["images"])
    before = np.asarray(state.batch_stats["BatchNorm_0"]["mean"])
    state, _ = train_step(state, x, y, task="binary")
    after = state.batch_stats["BatchNorm_0"]["mean"]
    assert not np.allclose(before, np.asarray(after))
    sums, probs = eval_step(state, x, y, task="binary")
    running = jax.nn.sigmoid(state.apply_fn(state.variables, x, train=False))[:, 0]
    batch_mode, _ = state.apply_fn(state.variables, x, train=True, mutable=["batch_stats"])
    np.testing.assert_allclose(np.asarray(probs), np.asarray(running), rtol=1e-5)
    assert not np.allclose(np.asarray(probs), np.asarray(jax.nn.sigmoid(batch_mode[:, 0])), atol=1e-6)


def test_eval_mask_drops_padding():
    d = blobs(8)
    x, y = jnp.asarray(d["images"]), jnp.asarray(d["labels"])
    state = fresh()
    full, _ = eval_step(state, x[:5], y[:5], task="binary")
    padded, _ = eval_step(state, x, y, None, jnp.array([1, 1, 1, 1, 1, 0, 0, 0]), task="binary")
    assert float(padded["count"]) == 5
    np.testing.assert_allclose(float(padded["loss"]), float(full["loss"]), rtol=1e-6)


# ----------------------------------------------------------------------------- fit

def test_fit_loss_decreases_and_learns():
    d = blobs(256, seed=2, size=16)
    val = blobs(64, seed=3, size=16)
    state, history = fit(SimpleCNN(features=(8, 16)), d, val, epochs=3, batch_size=32, lr=1e-2, **FAST)
    losses = [r["train_loss"] for r in history["epochs"]]
    assert losses[-1] < losses[0]
    assert history["epochs"][-1]["val_auc"] > 0.9
    assert history["compile_time_s"] > 0 and history["images_per_s"] > 0
    result = evaluate(state, val, history["threshold"])
    assert set(result) >= {"accuracy", "accuracy_at_threshold", "auc", "sensitivity", "specificity",
                           "confusion_matrix", "loss"}
    assert sum(map(sum, result["confusion_matrix"])) == 64


def test_fit_multiclass():
    rng = np.random.default_rng(0)
    x = rng.random((32, 8, 8, 1), dtype=np.float32)
    mc = {"images": x, "labels": rng.integers(0, 3, 32)}
    state, h = fit(LogisticRegression(num_outputs=3), mc, mc, task="multiclass", epochs=2, batch_size=16, lr=1e-2,
                   **FAST)
    assert h["epochs"][1]["train_loss"] < h["epochs"][0]["train_loss"]
    probs = predict(state, x, task="multiclass")
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("task", ["multilabel", "segmentation"])
def test_steps_learn_multilabel_and_segmentation(task):
    rng = np.random.default_rng(1)
    x = rng.random((16, 8, 8, 1), dtype=np.float32)
    if task == "multilabel":
        model, y = LogisticRegression(num_outputs=4), (rng.random((16, 4)) < 0.3).astype(np.float32)
    else:
        model, y = UNet(depth=1, base=4), (x > 0.7).astype(np.float32)
    state = fresh(model, x, optax.adam(1e-2))
    losses = []
    for _ in range(6):
        state, m = train_step(state, x, y, task=task)
        losses.append(float(m["loss"]))
    assert losses[-1] < losses[0]
    if task == "segmentation":
        result = evaluate(state, {"images": x, "masks": y}, task=task)
        pred = predict(state, x, task=task) >= 0.5
        inter, total = (pred * y).sum((1, 2, 3)), pred.sum((1, 2, 3)) + y.sum((1, 2, 3))
        assert result["dice"] == pytest.approx(np.mean((2 * inter + 1e-6) / (total + 1e-6)), rel=1e-5)


def test_threshold_is_chosen_on_validation_only():
    d = blobs(128, seed=4)
    val_a, val_b = blobs(64, seed=5, prevalence=0.2), blobs(64, seed=6, prevalence=0.8)
    for val in (val_a, val_b):
        state, history = fit(LogisticRegression(), d, val, epochs=1, batch_size=32, **FAST)
        probs = predict(state, val["images"])
        assert history["threshold"] == pytest.approx(choose_threshold(probs, val["labels"]))
    without_val = fit(LogisticRegression(), d, epochs=1, batch_size=32, **FAST)[1]
    assert without_val["threshold"] == 0.5


def test_early_stopping_keeps_best_params():
    d = blobs(64, seed=7)
    val = blobs(32, seed=8)
    state, history = fit(MLP(hidden=(16,)), d, val, epochs=6, batch_size=32, lr=0.3, schedule="constant",
                         early_stopping_patience=1, **FAST)
    losses = [r["val_loss"] for r in history["epochs"]]
    assert history["best_epoch"] == int(np.argmin(losses)) + 1
    assert evaluate(state, val)["loss"] == pytest.approx(min(losses), rel=1e-5)
    if len(losses) < 6:  # it stopped: the last epoch was not better than the best
        assert losses[-1] >= min(losses)


def test_fit_bad_arguments():
    d = blobs(8)
    with pytest.raises(ValueError, match="task"):
        fit(LogisticRegression(), d, task="regression", **FAST)
    with pytest.raises(ValueError, match="monitor"):
        fit(LogisticRegression(), d, monitor="accuracy", **FAST)
    with pytest.raises(ValueError, match="images"):
        fit(LogisticRegression(), {"images": np.zeros((4, 8)), "labels": np.zeros(4)}, **FAST)


# ----------------------------------------------------------------------------- threshold and AUC

def brute_auc(p, y):
    pos, neg = p[y == 1], p[y == 0]
    return np.mean((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :]))


labelled = st.integers(4, 30).flatmap(lambda n: st.tuples(
    st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.7, 0.9, 1.0]) | st.floats(0, 1), min_size=n, max_size=n),
    st.lists(st.integers(0, 1), min_size=n, max_size=n)).filter(lambda t: 0 < sum(t[1]) < len(t[1])))


@given(labelled)
def test_auc_matches_pairwise_count(data):
    p, y = np.array(data[0]), np.array(data[1])
    assert roc_auc(p, y) == pytest.approx(brute_auc(p, y), abs=1e-12)


def test_auc_agrees_with_medjax_metrics():
    import medjax

    rng = np.random.default_rng(0)
    p = rng.random(200).astype(np.float32).round(2)  # with ties
    y = (rng.random(200) < p).astype(np.int32)
    assert roc_auc(p, y) == pytest.approx(float(medjax.roc_auc(y, p)), abs=1e-6)


def test_swapped_auc_arguments_get_an_error_that_names_the_order():
    p, y = np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])
    with pytest.raises(ValueError, match=r"takes \(probs, labels\), while medjax.roc_auc takes \(y_true, scores\)"):
        roc_auc(y, p)  # medjax.roc_auc's (y_true, scores) order
    assert roc_auc(p, y) == 0.75


@given(labelled)
def test_youden_threshold_is_optimal(data):
    p, y = np.array(data[0]), np.array(data[1])

    def youden(t):
        pred = p >= t
        return pred[y == 1].mean() + (~pred[y == 0]).mean() - 1

    t = choose_threshold(p, y)
    assert t in p
    assert youden(t) == pytest.approx(max(youden(c) for c in p), abs=1e-12)


def test_choose_threshold_errors():
    with pytest.raises(ValueError, match="both classes"):
        choose_threshold([0.2, 0.4], [1, 1])
    with pytest.raises(ValueError, match="criterion"):
        choose_threshold([0.2, 0.4], [0, 1], criterion="f2")
