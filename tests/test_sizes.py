"""Sizes and counts: worked examples from the course, brute force and lax as oracles."""
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from medjax.sizes import (conv_param_count, dense_param_count, output_size, param_count,
                          receptive_field, same_padding)


def brute_output_size(n, k, s, p_before, p_after, d):
    """Count the window start positions that fit, one by one."""
    padded = n + p_before + p_after
    span = d * (k - 1) + 1
    return sum(1 for start in range(0, padded, s) if start + span <= padded)


# --- worked examples -------------------------------------------------------

def test_valid_conv_of_16_with_f3_is_14():
    assert output_size(16, 3, stride=1, padding="valid") == 14
    assert output_size(16, 3) == 14


def test_same_conv_of_24_with_f5_s2_is_12():
    assert output_size(24, 5, stride=2, padding=5 // 2) == 12
    assert output_size(24, 5, stride=2, padding="same") == 12


def test_conv_params_32_filters_3x3_on_228_channels():
    assert conv_param_count(3, 228, 32) == (3 * 3 * 228 + 1) * 32 == 65_696
    assert conv_param_count((3, 3), 228, 32, bias=False) == 3 * 3 * 228 * 32


def test_two_stacked_3x3_have_receptive_field_5():
    assert receptive_field([3, 3]) == 1 + 2 + 2 == 5


def test_stride_needs_the_floor():
    # (7 + 0 - 2 - 1) / 2 + 1 = 3, and (8 - 3) / 2 + 1 = 3.5 -> 3
    assert output_size(7, 3, stride=2) == 3
    assert output_size(8, 3, stride=2) == 3


def test_padding_is_per_side_not_total():
    assert output_size(5, 3, padding=1) == 5          # total 2, not 1
    assert output_size(5, 3, padding=(0, 1)) == 4


# --- properties --------------------------------------------------------------

@given(n=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 4), p=st.integers(0, 4),
       q=st.integers(0, 4), d=st.integers(1, 3))
def test_output_size_matches_brute_force(n, k, s, p, q, d):
    expected = brute_output_size(n, k, s, p, q, d)
    if expected == 0:
        with pytest.raises(ValueError, match="does not fit"):
            output_size(n, k, s, (p, q), d)
    else:
        assert output_size(n, k, s, (p, q), d) == expected
        if p == q:
            assert output_size(n, k, s, p, d) == expected


@given(n=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 4), d=st.integers(1, 3))
def test_same_is_ceil_and_matches_lax(n, k, s, d):
    assert output_size(n, k, s, "same", d) == math.ceil(n / s)
    ((lo, hi),) = jax.lax.padtype_to_pads((n,), (d * (k - 1) + 1,), (s,), "SAME")
    assert output_size(n, k, s, (lo, hi), d) == math.ceil(n / s)


@given(k=st.integers(1, 9), d=st.integers(1, 3), n=st.integers(12, 30))
def test_same_padding_keeps_the_size_like_lax(k, d, n):
    p = same_padding(k, d)
    pair = (p, p) if isinstance(p, int) else p
    assert output_size(n, k, 1, pair, d) == n
    (lax_pair,) = jax.lax.padtype_to_pads((n,), (d * (k - 1) + 1,), (1,), "SAME")
    assert pair == tuple(lax_pair)


def test_same_padding_even_kernel_puts_extra_bottom_right():
    assert same_padding(3) == 1 and same_padding(5) == 2 and same_padding(7) == 3
    assert same_padding(2) == (0, 1)
    assert same_padding(4) == (1, 2)


@given(layers=st.lists(st.tuples(st.integers(1, 5), st.integers(1, 3)), min_size=1, max_size=5))
def test_receptive_field_by_tracing_one_output_back(layers):
    ks = [k for k, _ in layers]
    ss = [s for _, s in layers]
    lo, hi = 0, 0   # input interval that output pixel 0 of the last layer sees
    for k, s in reversed(layers):
        lo, hi = lo * s, hi * s + k - 1
    assert receptive_field(ks, ss) == hi - lo + 1
    assert receptive_field(ks) == 1 + sum(k - 1 for k in ks)


def test_dense_param_count():
    assert dense_param_count(784, 10) == 7850
    assert dense_param_count(784, 10, bias=False) == 7840


def test_param_count_equals_flax_model():
    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Conv(8, (3, 3))(x)
            x = x.reshape(x.shape[0], -1)
            return nn.Dense(2)(x)

    variables = jax.eval_shape(Net().init, jax.random.key(0), jnp.zeros((1, 6, 6, 1)))   # shapes only
    expected = conv_param_count(3, 1, 8) + dense_param_count(6 * 6 * 8, 2)
    assert param_count(variables) == expected == 80 + 578
    assert param_count({"a": np.zeros((2, 3)), "b": [np.zeros(4), 1.0]}) == 11


@pytest.mark.parametrize("call, name", [
    (lambda: output_size(0, 3), "in_size"),
    (lambda: output_size(5, 0), "kernel_size"),
    (lambda: output_size(5, 3, stride=0), "stride"),
    (lambda: output_size(5, 3, padding=-1), "padding"),
    (lambda: output_size(5, 3, dilation=0), "dilation"),
    (lambda: output_size(5, 3, padding="full"), "padding"),
    (lambda: output_size(5, 3.0), "kernel_size"),
    (lambda: conv_param_count(3, 0, 8), "in_channels"),
    (lambda: conv_param_count((3, 3, 3), 1, 8), "kernel_size"),
    (lambda: dense_param_count(10, 0), "out_features"),
    (lambda: receptive_field([3, 3], [1]), "strides"),
])
def test_bad_arguments_are_named(call, name):
    with pytest.raises(ValueError, match=f"'{name}'"):
        call()


def test_kernel_too_big_message():
    with pytest.raises(ValueError, match="output_size: kernel of size 7"):
        output_size(5, 7)
