"""Saliency and Grad-CAM: exact oracles on small models, and localisation on synthetic X-rays."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from medjax.interpret import grad_cam, saliency, taps
from medjax.models import LogisticRegression, ResNet, SimpleCNN


def key(i):
    return jax.random.key(i)


def test_saliency_of_logistic_regression_is_abs_weights():
    model = LogisticRegression()
    variables = model.init(key(0), jnp.zeros((1, 6, 5, 2)))
    x = jax.random.uniform(key(1), (6, 5, 2))
    expected = np.abs(np.asarray(variables["params"]["Dense_0"]["kernel"])).reshape(6, 5, 2).max(-1)
    np.testing.assert_allclose(np.asarray(saliency(model.apply, variables, x)), expected, rtol=1e-6)
    # a batch of one is the same image; a multi-logit model picks the target
    np.testing.assert_allclose(np.asarray(saliency(model.apply, variables, x[None])), expected, rtol=1e-6)
    multi = LogisticRegression(num_outputs=3)
    mv = multi.init(key(0), jnp.zeros((1, 6, 5, 2)))
    w = np.abs(np.asarray(mv["params"]["Dense_0"]["kernel"]))[:, 2].reshape(6, 5, 2).max(-1)
    np.testing.assert_allclose(np.asarray(saliency(multi.apply, mv, x, target=2)), w, rtol=1e-6)


def normalise(m):
    m = np.maximum(m, 0)
    return m / m.max()


def upsample(m, size):
    return np.asarray(jax.image.resize(jnp.asarray(m), (size, size), "bilinear"))


def test_grad_cam_of_simple_cnn_matches_a_hand_split_network():
    model = SimpleCNN(features=(4, 8))
    variables = model.init(key(0), jnp.zeros((1, 16, 16, 1)))
    p = variables["params"]
    x = jax.random.uniform(key(2), (1, 16, 16, 1))

    def conv(x, layer):
        y = jax.lax.conv_general_dilated(x, p[layer]["kernel"], (1, 1), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return jax.nn.relu(y + p[layer]["bias"].reshape(1, 1, 1, -1))

    def pool(a):
        return jax.lax.reduce_window(a, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

    a1 = conv(pool(conv(x, "Conv_0")), "Conv_1")  # block1 activation (1, 8, 8, 8)

    def head(a):  # the rest of the network, written out by hand
        return (pool(a).reshape(1, -1) @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"][None])[0, 0]

    g = np.asarray(jax.grad(head)(a1))[0]
    a = np.asarray(a1)[0]
    expected_gc = normalise(upsample(normalise((a * g.mean((0, 1), keepdims=True)).sum(-1)), 16))
    expected_hi = normalise(upsample(normalise((a * g).sum(-1)), 16))
    np.testing.assert_allclose(np.asarray(taps(model, variables, x)["block1"][0]), a, rtol=1e-5, atol=1e-6)
    got_gc = grad_cam(model, variables, x, layer="block1")
    got_hi = grad_cam(model, variables, x, layer="block1", method="hirescam")
    np.testing.assert_allclose(np.asarray(got_gc), expected_gc, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(got_hi), expected_hi, rtol=1e-4, atol=1e-5)


def test_grad_cam_with_average_pool_head_is_the_class_activation_map():
    model = ResNet(stage_sizes=(1, 1), widths=(4, 8))
    variables = model.init(key(0), jnp.zeros((1, 16, 16, 1)))
    x = jax.random.normal(key(3), (16, 16, 1))
    a = np.asarray(taps(model, variables, x)["stage1"][0])  # (8, 8, 8)
    w = np.asarray(variables["params"]["head"]["kernel"])[:, 0]
    cam = (a * w.reshape(1, 1, -1)).sum(-1)
    if cam.max() <= 0:
        pytest.skip("this initialisation gives an all-negative map")
    expected = normalise(upsample(normalise(cam), 16))
    for method in ("gradcam", "hirescam"):
        np.testing.assert_allclose(np.asarray(grad_cam(model, variables, x, method=method)), expected,
                                   rtol=1e-4, atol=1e-5)


def test_grad_cam_errors():
    model = SimpleCNN(features=(4,))
    variables = model.init(key(0), jnp.zeros((1, 8, 8, 1)))
    x = jnp.zeros((8, 8, 1))
    with pytest.raises(ValueError, match="'layer' must be one of 'block0'"):
        grad_cam(model, variables, x, layer="conv9")
    with pytest.raises(ValueError, match="method"):
        grad_cam(model, variables, x, method="cam++")
    with pytest.raises(ValueError, match="one image"):
        grad_cam(model, variables, jnp.zeros((2, 8, 8, 1)))
    lin = LogisticRegression()
    with pytest.raises(ValueError, match="no activation taps"):
        grad_cam(lin, lin.init(key(0), x[None]), x)
    with pytest.raises(ValueError, match="image"):
        saliency(lin.apply, lin.init(key(0), x[None]), jnp.zeros(5))


def _train_briefly(model, epochs: int):
    """``model`` trained on 1,024 synthetic X-rays (32 steps an epoch): (state, test split, test probs, history)."""
    synthetic = pytest.importorskip("medjax.synthetic")
    from medjax.train import fit, predict

    train = synthetic.synthetic_xray(1024, seed=10)
    val = synthetic.synthetic_xray(256, seed=11)
    test = synthetic.synthetic_xray(128, seed=12)
    state, history = fit(model, train, val, epochs=epochs, batch_size=32, lr=5e-3, progress=False,
                         compilation_cache=False)
    return state, test, predict(state, test["images"]), history


@pytest.fixture(scope="module")
def trained_cnn():
    """A SimpleCNN trained briefly (3 epochs, 96 steps), and a test split."""
    return _train_briefly(SimpleCNN(), epochs=3)


def mask_share(cam, mask):
    return float((cam * mask).sum() / max(cam.sum(), 1e-12))


def test_interpretation_maps_localise_opacities(trained_cnn):
    state, test, probs, history = trained_cnn
    assert history["epochs"][-1]["val_auc"] > 0.70  # it learned (chance: 0.5); seeds give 0.73-0.82 after 3 epochs
    hits = np.flatnonzero((test["labels"] == 1) & (probs >= 0.5))
    assert hits.size >= 20
    model = SimpleCNN()
    shares = {"gradcam": [], "hirescam": [], "saliency": []}
    areas = []
    for i in hits:
        mask = test["masks"][i, ..., 0]
        areas.append(mask.mean())  # the share of a uniform map
        for method in ("gradcam", "hirescam"):
            shares[method].append(mask_share(np.asarray(grad_cam(model, state.variables, test["images"][i],
                                                                 method=method)), mask))
        shares["saliency"].append(mask_share(np.asarray(saliency(state.apply_fn, state.variables,
                                                                 test["images"][i])), mask))
    ratio = {k: np.mean(v) / np.mean(areas) for k, v in shares.items()}
    print("mask-mass share / uniform share:", {k: round(float(v), 2) for k, v in ratio.items()})
    assert ratio["hirescam"] >= 2.0
    assert ratio["saliency"] >= 2.0
    # classic Grad-CAM averages SimpleCNN's per-position head weights away: it localises worse
    assert ratio["gradcam"] < ratio["hirescam"]


@pytest.fixture(scope="module")
def trained_gap_cnn():
    """SimpleCNN with BatchNorm and a global-average-pool head, trained briefly (2 epochs, 64 steps)."""
    model = SimpleCNN(batch_norm=True, global_pool=True)
    return (model, *_train_briefly(model, epochs=2))


def test_classic_grad_cam_localises_with_a_global_pool_head(trained_gap_cnn):
    """With a GAP head the averaged gradient weights are the head's weights: Grad-CAM is the CAM."""
    model, state, test, probs, history = trained_gap_cnn
    assert history["epochs"][-1]["val_auc"] > 0.8
    hits = np.flatnonzero((test["labels"] == 1) & (probs >= 0.5))
    assert hits.size >= 20
    shares = [mask_share(np.asarray(grad_cam(model, state.variables, test["images"][i])), test["masks"][i, ..., 0])
              for i in hits]  # default layer: the last conv block (block2, 7x7), before the pooling
    ratio = np.mean(shares) / np.mean([test["masks"][i].mean() for i in hits])
    print("classic Grad-CAM, GAP head: mask-mass share / uniform share:", round(float(ratio), 2))
    assert ratio >= 2.0
