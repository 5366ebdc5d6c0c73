"""Graded items of a1-a3: references against independent oracles, mistakes, hidden cases, check_hidden.

The references in ``autograder.reference.a1_a3`` are the trusted answers (attached
to the shipped items by ``autograder.items.full_items``), so they are checked
against oracles written here (sliding windows, jax.grad,
optax, flax layer counts, the medjax library, the course's worked examples).
"""
from __future__ import annotations

import dataclasses
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

import medjax
from autograder.hidden import BannedCall, blocked, check_hidden, hidden_cases, run_hidden
from autograder.items import full_items
from autograder.reference import a1_a3 as ref
from medjax.selfcheck import check, items, run_visible
from medjax.selfcheck.cases import Case, expected_value, from_plain, judge, run_item, to_plain

ASSIGNMENTS = ("a1_convolution", "a2_logistic_regression", "a3_neural_networks")
ALL = [(a, gid) for a in ASSIGNMENTS for gid in items(a)]


def _unbanned(item):
    return dataclasses.replace(item, banned=())


# --------------------------------------------------------------------------- structure


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_items_are_well_formed(assignment):
    graded = items(assignment)
    assert len(graded) >= 7
    for gid, item in graded.items():
        assert gid.startswith("test_") and item.name.isidentifier() and item.points > 0 and item.what
        assert item.cases, gid
    module = sys.modules[f"autograder.hidden.{assignment}"] if f"autograder.hidden.{assignment}" in sys.modules \
        else __import__(f"autograder.hidden.{assignment}", fromlist=["HIDDEN"])
    assert set(module.HIDDEN) == set(graded), "every item has hidden cases and no hidden case is orphaned"


@pytest.mark.parametrize("assignment,gid", ALL)
def test_reference_passes_visible_and_hidden_cases(assignment, gid):
    item = full_items(assignment)[gid]
    if item.reference is None:
        pytest.skip("multiple-choice item")
    assert all(v.passed for v in run_item(item, item.reference))
    verdicts = run_hidden(_unbanned(item), item.reference, hidden_cases(assignment, gid))
    assert verdicts and all(v.passed for v in verdicts), [v.message for v in verdicts if not v.passed]


@pytest.mark.parametrize("assignment,gid", ALL)
def test_cases_travel_as_plain_data(assignment, gid):
    """The grader sends case inputs as plain data: decoding them must give the same expected value."""
    item = full_items(assignment)[gid]
    if item.reference is None:
        pytest.skip("multiple-choice item: no inputs")
    for case in (*item.cases, *hidden_cases(assignment, gid)):
        decoded = dataclasses.replace(case, args=tuple(from_plain(to_plain(list(case.args)))),
                                      kwargs=from_plain(to_plain(dict(case.kwargs))))
        a, b = expected_value(item, case), expected_value(item, decoded)
        assert judge(item, case, a, b, reveal=True).passed, case.what


@pytest.mark.parametrize("assignment,gid", ALL)
def test_every_mistake_is_recognised_somewhere(assignment, gid):
    item = full_items(assignment)[gid]
    for mistake in item.mistakes:
        named = []
        for case in (*item.cases, *hidden_cases(assignment, gid)):
            wrong = to_plain(mistake.output(*case.args, **dict(case.kwargs)))
            verdict = judge(item, case, wrong, expected_value(item, case), reveal=False)
            named.append(verdict.mistake)
            assert not verdict.passed or verdict.mistake is None
        assert mistake.name in named, (gid, mistake.name)


@pytest.mark.parametrize("assignment,gid", ALL)
def test_shipped_item_with_stored_expectations_judges_like_the_trusted_item(assignment, gid):
    """The self-check path (no reference, stored data) passes the answer and names every mistake it can."""
    shipped, trusted = items(assignment)[gid], full_items(assignment)[gid]
    assert shipped.reference is None and all(m.output is None for m in shipped.mistakes)
    if trusted.reference is None:
        pytest.skip("multiple-choice item")
    assert all(v.passed for v in run_visible(assignment, shipped, trusted.reference))
    for mistake in trusted.mistakes:
        by_data = [v.mistake for v in run_visible(assignment, shipped, mistake.output)]
        by_model = [v.mistake for v in run_item(trusted, mistake.output)]
        assert by_data == by_model, (gid, mistake.name)


# --------------------------------------------------------------------------- course worked examples


def test_course_worked_examples():
    from medjax.selfcheck.a1_convolution import CT_PATCH, EDGE_IMAGE, SHARPEN, VERTICAL_EDGE

    assert ref.conv2d(EDGE_IMAGE, VERTICAL_EDGE)[0, 0] == 6
    assert ref.conv2d(CT_PATCH, SHARPEN, padding=1)[0, 0] == 320
    assert ref.output_size(16, 3) == 14 and ref.output_size(24, 5, stride=2, padding=2) == 12
    assert ref.conv_param_count(3, 228, 32) == 65_696
    assert ref.receptive_field([3, 3]) == 5
    assert ref.mlp_param_count([784, 128, 10]) == 101_770
    assert abs(ref.bce([0.9, 0.2, 0.6], [1, 0, 1]) - 0.27978) < 1e-5


# --------------------------------------------------------------------------- a1 oracles


def _window_conv(x, k, stride, padding, mode):
    xp = np.pad(x, padding, mode="edge" if mode == "replicate" else "constant")
    windows = sliding_window_view(xp, k.shape)[::stride, ::stride]
    return np.einsum("ijuv,uv->ij", windows, k)


@given(h=st.integers(3, 8), w=st.integers(3, 8), f=st.integers(1, 4), stride=st.integers(1, 3),
       padding=st.integers(0, 5), mode=st.sampled_from(["zero", "replicate"]), seed=st.integers(0, 99))
def test_conv2d_reference_matches_sliding_windows_and_library(h, w, f, stride, padding, mode, seed):
    assume(min(h, w) + 2 * padding >= f)
    rng = np.random.default_rng(seed)
    x, k = rng.normal(size=(h, w)), rng.normal(size=(f, f))
    got = ref.conv2d(x, k, stride, padding, mode)
    np.testing.assert_allclose(got, _window_conv(x, k, stride, padding, mode), atol=1e-12)
    assert got.shape == (ref.output_size(h, f, stride, padding), ref.output_size(w, f, stride, padding))
    lib = medjax.conv2d(x.astype(np.float32), k.astype(np.float32), stride=stride, padding=padding, padding_mode=mode)
    np.testing.assert_allclose(got, np.asarray(lib), rtol=1e-4, atol=1e-4)


@given(c=st.integers(1, 3), k=st.integers(1, 3), f=st.integers(1, 3), stride=st.integers(1, 2),
       padding=st.integers(0, 2), seed=st.integers(0, 99))
def test_conv2d_multichannel_reference_matches_einsum_and_library(c, k, f, stride, padding, seed):
    rng = np.random.default_rng(seed)
    x, w, b = rng.normal(size=(5, 6, c)), rng.normal(size=(f, f, c, k)), rng.normal(size=k)
    xp = np.pad(x, ((padding, padding), (padding, padding), (0, 0)))
    windows = sliding_window_view(xp, (f, f), axis=(0, 1))[::stride, ::stride]  # (H', W', C, f, f)
    oracle = np.einsum("ijcuv,uvck->ijk", windows, w) + b
    got = ref.conv2d_multichannel(x, w, b, stride, padding)
    np.testing.assert_allclose(got, oracle, atol=1e-12)
    lib = medjax.conv2d(x[None].astype(np.float32), w.astype(np.float32), b.astype(np.float32),
                        stride=stride, padding=padding)[0]
    np.testing.assert_allclose(got, np.asarray(lib), rtol=1e-4, atol=1e-4)


@given(h=st.integers(2, 9), w=st.integers(2, 9), size=st.integers(1, 3), stride=st.sampled_from([None, 1, 2, 3]),
       channels=st.sampled_from([0, 1, 3]), seed=st.integers(0, 99))
def test_pool_references_match_sliding_windows(h, w, size, stride, channels, seed):
    assume(min(h, w) >= size)
    x = np.random.default_rng(seed).normal(size=(h, w, channels) if channels else (h, w))
    s = size if stride is None else stride
    windows = sliding_window_view(x, (size, size), axis=(0, 1))[::s, ::s]
    for fn, reduce in ((ref.max_pool, np.max), (ref.avg_pool, np.mean), (ref.min_pool, np.min)):
        np.testing.assert_allclose(fn(x, size, stride), reduce(windows, axis=(-2, -1)), atol=1e-12)
    if not channels:
        np.testing.assert_allclose(ref.max_pool(x, size, stride),
                                   np.asarray(medjax.max_pool(x.astype(np.float32), size, stride)), rtol=1e-6)


def test_flatten_reference_is_row_major_nhwc():
    x = np.arange(24).reshape(2, 3, 4)
    np.testing.assert_array_equal(ref.flatten(x), x.reshape(-1))
    assert ref.flatten(x)[:4].tolist() == [0, 1, 2, 3]  # channels of pixel (0, 0) first


@given(n=st.integers(1, 40), f=st.integers(1, 7), stride=st.integers(1, 4), padding=st.integers(0, 6))
def test_output_size_counts_window_positions(n, f, stride, padding):
    positions = len(range(0, n + 2 * padding - f + 1, stride))
    if n + 2 * padding >= f:
        assert ref.output_size(n, f, stride, padding) == positions == medjax.output_size(n, f, stride, padding)


@pytest.mark.parametrize("f,c,k,bias", [(3, 228, 32, True), (1, 4, 2, False), (5, 3, 8, True)])
def test_conv_param_count_matches_a_flax_layer(f, c, k, bias):
    params = nn.Conv(k, (f, f), use_bias=bias).init(jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, c)))
    assert ref.conv_param_count(f, c, k, bias) == sum(p.size for p in jax.tree.leaves(params))


@pytest.mark.parametrize("kernels", [[3, 3], [5], [7, 5, 3], [1, 1], []])
def test_receptive_field_by_impulse_response(kernels):
    response = np.ones(1)
    for k in kernels:  # the set of inputs that reach one output grows by a box of width k
        response = np.convolve(response, np.ones(k))
    assert ref.receptive_field(kernels) == len(response)


# --------------------------------------------------------------------------- a2 oracles


def test_sigmoid_and_losses_match_jax_and_optax():
    z = np.array([-1000.0, -100.0, -3.0, 0.0, 2.5, 100.0, 1000.0], np.float32)
    np.testing.assert_allclose(ref.sigmoid(z), np.asarray(jax.nn.sigmoid(z.astype(np.float32))), atol=1e-7)
    y = np.array([0, 1, 1, 0, 1, 0, 1.0], np.float32)
    np.testing.assert_allclose(ref.bce_with_logits(z, y), float(optax.sigmoid_binary_cross_entropy(z, y).mean()),
                               rtol=1e-6)
    assert np.isfinite(ref.bce_with_logits(np.array([100.0, -100.0]), np.array([0.0, 1.0])))
    zm = z[1:-1] / 50
    np.testing.assert_allclose(ref.bce(ref.sigmoid(zm), y[1:-1]), ref.bce_with_logits(zm, y[1:-1]), rtol=1e-9)


def test_bce_gradient_matches_jax_grad():
    rng = np.random.default_rng(0)
    X, w = rng.normal(size=(20, 3)).astype(np.float32), rng.normal(size=3)
    y = (rng.uniform(size=20) < 0.4).astype(np.float32)
    loss = lambda w, b: optax.sigmoid_binary_cross_entropy(jnp.asarray(X) @ w + b, jnp.asarray(y)).mean()  # noqa: E731
    auto = jax.grad(loss, argnums=(0, 1))(jnp.asarray(w, jnp.float32), jnp.float32(0.3))
    dw, db = ref.bce_gradient(w, 0.3, X, y)
    np.testing.assert_allclose(dw, np.asarray(auto[0]), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(db, float(auto[1]), rtol=1e-4, atol=1e-6)


def test_gradient_descent_matches_optax_sgd():
    from medjax.selfcheck.a2_logistic_regression import gd_probe

    target = jnp.array([1.0, -2.0])
    params = {"w": jnp.array([3.0, 0.5]), "b": jnp.float32(0.0)}
    grad_fn = lambda p: {"w": 2 * (p["w"] - target), "b": 2 * (p["b"] - 1.0)}  # noqa: E731
    opt = optax.sgd(0.1)
    state, p = opt.init(params), params
    for _ in range(15):
        updates, state = opt.update(grad_fn(p), state)
        p = optax.apply_updates(p, updates)
    ours = ref.gradient_descent(grad_fn, params, 0.1, 15)
    np.testing.assert_allclose(ours["w"], np.asarray(p["w"]), rtol=1e-5)
    np.testing.assert_allclose(ours["b"], float(p["b"]), rtol=1e-5)
    assert gd_probe(ref.gradient_descent, [0.0], [2.0], 0.25, 0)["w"].tolist() == [0.0]


def test_train_logistic_regression_reference_descends():
    from medjax.selfcheck.a2_logistic_regression import _X_TRAIN, _Y_TRAIN

    w, b, losses = ref.train_logistic_regression(_X_TRAIN, _Y_TRAIN, lr=0.5, num_steps=50)
    assert losses.shape == (50,) and abs(losses[0] - np.log(2)) < 1e-12
    assert np.all(np.diff(losses) < 0)
    acc = np.mean((ref.predict_proba(w, b, _X_TRAIN) > 0.5) == _Y_TRAIN)
    assert acc > 0.85


# --------------------------------------------------------------------------- a3 oracles


def test_activations_and_losses_match_jax_and_optax():
    x = np.linspace(-50, 50, 41)
    np.testing.assert_allclose(ref.relu(x), np.asarray(jax.nn.relu(x)))
    np.testing.assert_allclose(ref.leaky_relu(x, 0.2), np.asarray(jax.nn.leaky_relu(x, 0.2)), rtol=1e-6)
    np.testing.assert_allclose(ref.elu(x, 2.0), np.asarray(jax.nn.elu(x, 2.0)), rtol=1e-6, atol=1e-6)
    z = np.random.default_rng(1).normal(0, 30, (6, 4)).astype(np.float32)
    np.testing.assert_allclose(ref.softmax(z), np.asarray(jax.nn.softmax(z.astype(np.float32))), atol=1e-6)
    y = np.eye(4, dtype=np.float32)[[0, 3, 1, 2, 2, 0]]
    np.testing.assert_allclose(ref.cross_entropy(z, y), float(optax.softmax_cross_entropy(z, y).mean()), rtol=1e-5)
    np.testing.assert_allclose(ref.mse(z, y), float(optax.squared_error(z, y).mean()), rtol=1e-6)
    assert np.isfinite(ref.cross_entropy(np.array([[1000.0, -1000.0]]), np.array([[0.0, 1.0]])))


def _jax_mlp(params, x):
    h = x
    for w, b in params[:-1]:
        h = jax.nn.relu(h @ w + b[None, :])
    w, b = params[-1]
    return h @ w + b[None, :]


def test_mlp_forward_and_backprop_match_jax():
    from medjax.selfcheck.a3_neural_networks import _mlp_params

    params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in _mlp_params([3, 6, 2], 9)]
    x = jax.random.normal(jax.random.PRNGKey(0), (7, 3))
    y = jax.random.normal(jax.random.PRNGKey(1), (7, 2))
    np.testing.assert_allclose(ref.mlp_forward(params, x), np.asarray(_jax_mlp(params, x)), rtol=1e-5, atol=1e-6)
    auto = jax.grad(lambda p: jnp.mean((_jax_mlp(p, x) - y) ** 2))(params)
    for (dw, db), (aw, ab) in zip(ref.two_layer_grads(params, x, y), auto):
        np.testing.assert_allclose(dw, np.asarray(aw), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(db, np.asarray(ab), rtol=1e-4, atol=1e-6)


def test_mlp_param_count_matches_flax_dense_layers():
    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(10)(nn.relu(nn.Dense(128)(x)))

    params = Net().init(jax.random.PRNGKey(0), jnp.zeros((1, 784)))
    assert ref.mlp_param_count([784, 128, 10]) == sum(p.size for p in jax.tree.leaves(params))


def test_init_probe_accepts_he_and_glorot_and_rejects_bad_scales():
    from medjax.selfcheck.a3_neural_networks import init_probe

    def glorot(key, sizes):
        keys = jax.random.split(key, len(sizes) - 1)
        init = jax.nn.initializers.glorot_uniform()
        return [(init(k, (a, b)), jnp.zeros(b)) for k, a, b in zip(keys, sizes[:-1], sizes[1:])]

    def unseeded(key, sizes):
        return glorot(jax.random.PRNGKey(np.random.randint(1 << 30)), sizes)

    def big(key, sizes):
        return [(10 * w, b) for w, b in glorot(key, sizes)]

    expected = init_probe(ref.init_mlp, 0, [256, 128, 10])
    assert expected["layers"][0] == {"W shape": [256, 128], "b shape": [128], "W scale": "ok", "b": "zeros"}
    assert init_probe(glorot, 0, [256, 128, 10]) == expected
    assert not init_probe(unseeded, 0, [256, 128, 10])["same key gives the same params"]
    assert init_probe(big, 0, [256, 128, 10])["layers"][0]["W scale"] == "too large"


# --------------------------------------------------------------------------- check / check_hidden


def test_visible_check_teaches_the_flip(capsys):
    def flipped(image, kernel, stride=1, padding=0, mode="zero"):
        return ref.conv2d(image, np.asarray(kernel)[::-1, ::-1], stride, padding, mode)

    with pytest.raises(AssertionError):
        check("a1_convolution", "test_conv2d", flipped)
    out, err = capsys.readouterr()
    assert "FAIL conv2d" in out and "Likely mistake: flipped kernel" in out and "expected" in out
    assert err == ""


def test_check_hidden_reveals_no_values(capsys):
    def zeros(image, kernel, stride=1, padding=0, mode="zero"):
        return np.zeros((ref.output_size(np.shape(image)[0], len(kernel), stride, padding),
                         ref.output_size(np.shape(image)[1], len(kernel), stride, padding)))

    with pytest.raises(AssertionError, match="hidden check"):
        check_hidden("a1_convolution", "test_conv2d", zeros)
    out, err = capsys.readouterr()
    assert "FAIL conv2d: 0/7 hidden checks passed" in out and "right shape but wrong values" in out
    assert "expected" not in out and "got" not in out and err == ""


def test_check_hidden_grades_choices_without_revealing_them(capsys):
    check_hidden("a3_neural_networks", "test_answer_linear_collapse", "Linear ")
    with pytest.raises(AssertionError):
        check_hidden("a3_neural_networks", "test_answer_linear_collapse", "quadratic")
    out = capsys.readouterr().out
    assert "not the right answer" in out and "'linear'" not in out
    item = items("a1_convolution")["test_answer_kernel_a"]
    assert [v.passed for v in run_item(item, "edge")] == [True]
    assert [v.passed for v in run_item(item, "blurry")] == [False]
    assert [v.passed for v in run_item(item, 3)] == [False]


def test_banned_calls_fail_and_everything_is_restored(capsys):
    original = jax.lax.conv_general_dilated

    def lax_conv(image, kernel, stride=1, padding=0, mode="zero"):
        x = jnp.asarray(ref.pad(image, padding, mode), jnp.float32)[None, :, :, None]
        k = jnp.asarray(kernel, jnp.float32)[:, :, None, None]
        return jax.lax.conv_general_dilated(x, k, (stride, stride), "VALID",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))[0, :, :, 0]

    def via_medjax(x, size=2, stride=None):
        return medjax.max_pool(x, size, stride)

    def attr_relu(x):
        return jax.nn.relu(x)

    def imports_optax(x):
        import optax as o  # noqa: F401

        return np.maximum(x, 0)

    for assignment, gid, fn in (("a1_convolution", "test_conv2d", lax_conv),
                                ("a1_convolution", "test_max_pool", via_medjax),
                                ("a3_neural_networks", "test_relu", attr_relu)):
        with pytest.raises(AssertionError):
            check_hidden(assignment, gid, fn)
    assert "forbid" in capsys.readouterr().out
    sys.modules.pop("optax_not_loaded_guard", None)
    with blocked(("optax_missing_module_for_test",)):
        with pytest.raises(ImportError):
            __import__("optax_missing_module_for_test")
    assert "optax_missing_module_for_test" not in sys.modules
    with blocked(("jax.nn",)):
        with pytest.raises(BannedCall):
            jax.nn.relu(1.0)
    assert jax.lax.conv_general_dilated is original and float(jax.nn.relu(-1.0)) == 0.0
    assert callable(medjax.max_pool) and "max_pool" in dir(medjax)
    assert imports_optax(np.array([-1.0]))[0] == 0  # optax is importable again outside the guard


def test_student_errors_become_verdicts():
    def broken(x):
        raise ValueError("boom 123")

    verdicts = run_hidden(full_items("a3_neural_networks")["test_relu"], broken, hidden_cases("a3_neural_networks", "test_relu"))
    assert not any(v.passed for v in verdicts) and "ValueError" in verdicts[0].message
    assert "123" not in verdicts[0].message
    assert run_hidden(full_items("a3_neural_networks")["test_relu"], lambda x: x, (Case(args=(np.array([-1.0]),)),))[0].passed is False


def test_choice_items_give_no_partial_credit_where_the_answer_key_exists():
    for assignment, gid, wrong in (("a1_convolution", "test_answer_kernel_a", "blur"),
                                   ("a3_neural_networks", "test_answer_dead_gradient", "elu")):
        item = items(assignment)[gid]
        cases = (*item.cases, *hidden_cases(assignment, gid))
        assert not any(v.passed for v in run_hidden(item, wrong, cases))  # visible case too
        right = hidden_cases(assignment, gid)[0].answer
        assert all(v.passed for v in run_hidden(item, right.upper(), cases))


def test_choice_item_without_answer_key_checks_only_the_format(monkeypatch):
    monkeypatch.setitem(sys.modules, "autograder.hidden.a1_convolution", None)  # a student's install
    item = items("a1_convolution")["test_answer_kernel_a"]
    assert [v.passed for v in run_item(item, "identity")] == [True]
    assert [v.passed for v in run_item(item, "blurry")] == [False]



_relu_alias = jax.nn.relu


def _uses_alias(x):
    return _relu_alias(x)


def test_reexported_everyday_functions_are_not_banned():
    from autograder.hidden import static_violation
    from jax.numpy import tanh  # also exported as jax.nn.tanh

    def act(x):
        return tanh(x)

    relu_closure = jax.nn.relu

    def via_closure(x):
        return relu_closure(x)

    assert static_violation(act, ("jax.nn",)) is None
    assert static_violation(_uses_alias, ("jax.nn",)) is not None
    assert static_violation(via_closure, ("jax.nn",)) is not None


def test_banned_prefixes_cover_families_not_lookalikes():
    with blocked(("jax.lax.conv",)):
        with pytest.raises(BannedCall):
            jax.lax.conv_transpose(jnp.ones((1, 3, 3, 1)), jnp.ones((2, 2, 1, 1)), (1, 1), "VALID",
                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
        assert jax.lax.convert_element_type(jnp.ones(2), jnp.int32).dtype == jnp.int32
    assert jax.lax.conv_transpose.__name__ == "conv_transpose"


def test_gradient_descent_must_handle_any_pytree():
    def dict_only(grad_fn, params, lr, num_steps):
        for _ in range(num_steps):
            g = grad_fn(params)
            params = {"w": params["w"] - lr * g["w"], "b": params["b"] - lr * g["b"]}
        return params

    item = full_items("a2_logistic_regression")["test_gradient_descent"]
    verdicts = run_hidden(item, dict_only, hidden_cases("a2_logistic_regression", "test_gradient_descent"))
    assert [v.passed for v in verdicts] == [True, True, True, False]
    assert all(v.passed for v in run_item(item, dict_only))  # the visible cases use a dict
