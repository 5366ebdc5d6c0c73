"""Models: exact parameter counts (hand formulas), shapes, train/eval behaviour."""
import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from medjax.models import MLP, MODELS, LogisticRegression, ResidualBlock, ResNet, SimpleCNN, UNet

X28 = jnp.zeros((1, 28, 28, 1))


def conv(k, cin, cout, bias=True):
    """Hand formula: k*k*C_in*C_out weights (+ C_out biases)."""
    return k * k * cin * cout + (cout if bias else 0)


def dense(nin, nout):
    return nin * nout + nout


def bn(c):
    return 2 * c  # scale and shift


def count(tree):
    return sum(int(np.prod(np.shape(leaf))) for leaf in jax.tree.leaves(tree))


def init(model, x=X28):
    return model.init(jax.random.key(0), x)


EXPECTED = {
    "logistic": (LogisticRegression(), dense(784, 1)),
    "mlp": (MLP(), dense(784, 128) + dense(128, 1)),
    "mlp2": (MLP(hidden=(64, 32), num_outputs=3), dense(784, 64) + dense(64, 32) + dense(32, 3)),
    "cnn": (SimpleCNN(), conv(3, 1, 16) + conv(3, 16, 32) + conv(3, 32, 64) + dense(3 * 3 * 64, 1)),
    "cnn_bn": (SimpleCNN(batch_norm=True, num_outputs=2),
               conv(3, 1, 16, False) + conv(3, 16, 32, False) + conv(3, 32, 64, False)
               + bn(16) + bn(32) + bn(64) + dense(576, 2)),
    "cnn_gap": (SimpleCNN(global_pool=True), conv(3, 1, 16) + conv(3, 16, 32) + conv(3, 32, 64) + dense(64, 1)),
    "resnet": (ResNet(),
               conv(3, 1, 16, False) + bn(16)
               + 2 * (conv(3, 16, 16, False) + bn(16))
               + conv(3, 16, 32, False) + conv(3, 32, 32, False) + 2 * bn(32) + conv(1, 16, 32, False) + bn(32)
               + conv(3, 32, 64, False) + conv(3, 64, 64, False) + 2 * bn(64) + conv(1, 32, 64, False) + bn(64)
               + dense(64, 1)),
    "unet": (UNet(),
             conv(3, 1, 16) + conv(3, 16, 16) + conv(3, 16, 32) + conv(3, 32, 32)
             + conv(3, 32, 64) + conv(3, 64, 64)
             + conv(2, 64, 32) + conv(3, 64, 32) + conv(3, 32, 32)
             + conv(2, 32, 16) + conv(3, 32, 16) + conv(3, 16, 16)
             + conv(1, 16, 1)),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parameter_count_exact(name):
    model, expected = EXPECTED[name]
    params = init(model)["params"]
    assert count(params) == expected
    if importlib.util.find_spec("medjax.sizes") is not None:
        import medjax

        assert medjax.param_count(params) == expected


def test_worked_numbers():
    # the sums worked by hand, e.g. UNet: 160+2320+4640+9248+18496+36928+8224+18464+9248+2064+4624+2320+17
    assert EXPECTED["cnn"][1] == 23_873
    assert EXPECTED["logistic"][1] == 785
    assert EXPECTED["unet"][1] == 116_753


def test_batch_stats_counted_apart():
    variables = init(ResNet())
    stats = variables["batch_stats"]
    # mean and var per channel of every BatchNorm: stem 16, stage0 2x16, stage1 3x32, stage2 3x64
    assert count(stats) == 2 * (16 + 2 * 16 + 3 * 32 + 3 * 64)
    assert sorted(init(SimpleCNN())) == ["params"]


@pytest.mark.parametrize("name", ["logistic", "mlp", "cnn", "resnet"])
def test_classifier_output_shape_any_batch(name):
    model = EXPECTED[name][0]
    variables = init(model)  # initialised with a batch of one
    out = model.apply(variables, jnp.ones((5, 28, 28, 1)))
    assert out.shape == (5, 1)
    assert bool(jnp.all(jnp.isfinite(out)))


@pytest.mark.parametrize("size", [28, 64, 30])
def test_unet_keeps_spatial_shape(size):
    model = UNet(num_outputs=2)
    x = jnp.ones((2, size, size, 3))
    out = model.apply(init(model, x[:1]), x)
    assert out.shape == (2, size, size, 2)


def test_unet_crop_does_not_mix_padding_into_28():
    # 28 is a multiple of 4: no padding, so the output at 28 equals that of the same image
    # computed alone (batch independence) and the right border depends on the image.
    model = UNet()
    x = jax.random.uniform(jax.random.key(1), (2, 28, 28, 1))
    variables = init(model)
    both = model.apply(variables, x)
    one = model.apply(variables, x[1:])
    np.testing.assert_allclose(np.asarray(both[1:]), np.asarray(one), rtol=1e-5, atol=1e-5)


def test_residual_block_identity_and_projection():
    same = ResidualBlock(4, 1).init(jax.random.key(0), jnp.zeros((1, 8, 8, 4)))["params"]
    assert "proj_conv" not in same
    proj = ResidualBlock(8, 1).init(jax.random.key(0), jnp.zeros((1, 8, 8, 4)))["params"]
    assert proj["proj_conv"]["kernel"].shape == (1, 1, 4, 8)
    strided = ResidualBlock(4, 2).init(jax.random.key(0), jnp.zeros((1, 8, 8, 4)))["params"]
    assert "proj_conv" in strided


def test_dropout_only_in_training():
    model = MLP(dropout=0.5)
    variables = init(model)
    x = jnp.ones((4, 28, 28, 1))
    eval1 = model.apply(variables, x)
    eval2 = model.apply(variables, x, train=False)
    np.testing.assert_array_equal(np.asarray(eval1), np.asarray(eval2))
    a = model.apply(variables, x, train=True, rngs={"dropout": jax.random.key(1)})
    b = model.apply(variables, x, train=True, rngs={"dropout": jax.random.key(2)})
    assert not np.allclose(np.asarray(a), np.asarray(b))


def test_batchnorm_train_uses_batch_stats_eval_uses_running():
    model = SimpleCNN(batch_norm=True)
    variables = init(model)
    x = jax.random.normal(jax.random.key(3), (8, 28, 28, 1)) * 3 + 2
    out_train, updates = model.apply(variables, x, train=True, mutable=["batch_stats"])
    before = variables["batch_stats"]["BatchNorm_0"]["mean"]
    after = updates["batch_stats"]["BatchNorm_0"]["mean"]
    assert not np.allclose(np.asarray(before), np.asarray(after))
    # momentum 0.9: new running mean = 0.9 * 0 + 0.1 * batch mean of the first conv's output
    conv_out = jax.lax.conv_general_dilated(x, variables["params"]["Conv_0"]["kernel"], (1, 1), "SAME",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(np.asarray(after), 0.1 * np.asarray(conv_out.mean((0, 1, 2))), rtol=1e-4, atol=1e-5)
    out_eval = model.apply(variables, x)
    assert not np.allclose(np.asarray(out_train), np.asarray(out_eval))


def test_registry_names():
    assert MODELS["simple_cnn"] is SimpleCNN and MODELS["resnet"] is ResNet
