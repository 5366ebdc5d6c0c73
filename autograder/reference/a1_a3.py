"""Trusted reference answers for the graded items of a1-a3, and models of known mistakes.

Written in plain NumPy (float64) with explicit loops where that keeps them obviously
right: they are an oracle independent of the ``medjax`` library, not fast code.
Every function runs under ``np.errstate(all="ignore")`` where overflow is part of
the point (mistake models of ``log(sigmoid(x))``), so nothing reaches stderr.

Instructor-only (``autograder/``, never in the medjax wheel): students' self-checks
compare with the stored outputs in ``medjax/selfcheck/expected/*.json`` instead.

>>> float(output_size(24, 5, stride=2, padding=2))
12.0
>>> conv2d(np.array([[1., 2.], [3., 4.]]), np.array([[1.]])).tolist()
[[1.0, 2.0], [3.0, 4.0]]
"""
from __future__ import annotations

import numpy as np

# --------------------------------------------------------------------------- a1: sizes


def output_size(in_size, kernel_size, stride=1, padding=0):
    """out = floor((in + 2p - f) / s) + 1, padding p per side."""
    return (int(in_size) + 2 * int(padding) - int(kernel_size)) // int(stride) + 1


def same_padding(kernel_size):
    """Per-side padding keeping the size at stride 1 for an odd kernel: (f - 1) / 2."""
    return (int(kernel_size) - 1) // 2


def conv_param_count(kernel_size, in_channels, out_channels, bias=True):
    """f * f * C_in * C_out weights, plus C_out biases."""
    f, c, k = int(kernel_size), int(in_channels), int(out_channels)
    return f * f * c * k + (k if bias else 0)


def receptive_field(kernel_sizes):
    """R = 1 + sum(k_i - 1) for a stack of stride-1 layers."""
    return 1 + sum(int(k) - 1 for k in kernel_sizes)


# --------------------------------------------------------------------------- a1: arrays


def pad(image, p, mode="zero"):
    """Pad an (H, W) image by p on every side with zeros or copies of the edge."""
    x = np.asarray(image, dtype=np.float64)
    p = int(p)
    h, w = x.shape
    out = np.zeros((h + 2 * p, w + 2 * p))
    for i in range(h + 2 * p):
        for j in range(w + 2 * p):
            si, sj = i - p, j - p
            if 0 <= si < h and 0 <= sj < w:
                out[i, j] = x[si, sj]
            elif mode == "replicate":
                out[i, j] = x[min(max(si, 0), h - 1), min(max(sj, 0), w - 1)]
            elif mode != "zero":
                raise ValueError(f"pad: unknown mode {mode!r}")
    return out


def conv2d(image, kernel, stride=1, padding=0, mode="zero"):
    """Cross-correlation: out[i, j] = sum_{u,v} x_pad[i*s + u, j*s + v] * k[u, v]."""
    x = pad(image, padding, mode)
    k = np.asarray(kernel, dtype=np.float64)
    f = k.shape[0]
    oh = (x.shape[0] - f) // stride + 1
    ow = (x.shape[1] - f) // stride + 1
    out = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[i, j] = np.sum(x[i * stride:i * stride + f, j * stride:j * stride + f] * k)
    return out


def conv2d_multichannel(image, kernels, bias, stride=1, padding=0):
    """out[..., k] = b[k] + sum_c conv2d(x[..., c], W[:, :, c, k])."""
    x = np.asarray(image, dtype=np.float64)
    w = np.asarray(kernels, dtype=np.float64)
    b = np.asarray(bias, dtype=np.float64)
    maps = [b[k] + sum(conv2d(x[:, :, c], w[:, :, c, k], stride, padding) for c in range(x.shape[2]))
            for k in range(w.shape[3])]
    return np.stack(maps, axis=-1)


def _pool(x, size, stride, reduce):
    x = np.asarray(x, dtype=np.float64)
    stride = size if stride is None else stride
    oh = (x.shape[0] - size) // stride + 1
    ow = (x.shape[1] - size) // stride + 1
    out = np.zeros((oh, ow) + x.shape[2:])
    for i in range(oh):
        for j in range(ow):
            window = x[i * stride:i * stride + size, j * stride:j * stride + size]
            out[i, j] = reduce(window, axis=(0, 1))
    return out


def max_pool(x, size=2, stride=None):
    """Maximum over size x size windows moved by stride (default: size), per channel."""
    return _pool(x, size, stride, np.max)


def avg_pool(x, size=2, stride=None):
    """Mean over size x size windows, per channel."""
    return _pool(x, size, stride, np.mean)


def min_pool(x, size=2, stride=None):
    """Minimum over size x size windows, per channel."""
    return _pool(x, size, stride, np.min)


def flatten(x):
    """All entries in row-major (C) order: for (H, W, C) the channel index varies fastest."""
    x = np.asarray(x)
    return np.array([x[idx] for idx in np.ndindex(*x.shape)], dtype=x.dtype)


# --------------------------------------------------------------------------- a2


def sigmoid(z):
    """sigma(z) = 1 / (1 + exp(-z)), computed as exp(-log(1 + exp(-z)))."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=np.float64)))


def bce(y_prob, y_true):
    """mean(-(y log p + (1 - y) log(1 - p))) with p clipped to [1e-7, 1 - 1e-7]."""
    p = np.clip(np.asarray(y_prob, dtype=np.float64), 1e-7, 1 - 1e-7)
    y = np.asarray(y_true, dtype=np.float64)
    return np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))


def bce_with_logits(logits, y_true):
    """mean(log(1 + exp(z)) - y z), via logaddexp (finite for any z)."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y_true, dtype=np.float64)
    return np.mean(np.logaddexp(0.0, z) - y * z)


def predict_proba(w, b, X):
    """p = sigma(X w + b), shape (N,)."""
    X = np.asarray(X, dtype=np.float64)
    return sigmoid(X @ np.asarray(w, dtype=np.float64) + float(b))


def bce_gradient(w, b, X, y):
    """dL/dw = X^T (p - y) / N, dL/db = mean(p - y) for L = mean BCE(sigma(Xw + b), y)."""
    X = np.asarray(X, dtype=np.float64)
    r = predict_proba(w, b, X) - np.asarray(y, dtype=np.float64)
    return X.T @ r / X.shape[0], np.mean(r)


def gradient_descent(grad_fn, params, lr, num_steps):
    """theta <- theta - lr * grad(theta), num_steps times, on a pytree of dicts/lists/arrays."""
    def step(p, g):
        if isinstance(p, dict):
            return {k: step(p[k], g[k]) for k in p}
        if isinstance(p, (list, tuple)):
            return type(p)(step(a, b) for a, b in zip(p, g))
        return np.asarray(p, dtype=np.float64) - lr * np.asarray(g, dtype=np.float64)
    for _ in range(int(num_steps)):
        params = step(params, grad_fn(params))
    return params


def train_logistic_regression(X, y, lr=0.1, num_steps=100):
    """From w = 0, b = 0: record the BCE at the current (w, b), then step; num_steps times."""
    X = np.asarray(X, dtype=np.float64)
    w, b, losses = np.zeros(X.shape[1]), 0.0, []
    for _ in range(int(num_steps)):
        losses.append(bce(predict_proba(w, b, X), y))
        dw, db = bce_gradient(w, b, X, y)
        w, b = w - lr * dw, b - lr * db
    return w, np.float64(b), np.array(losses)


# --------------------------------------------------------------------------- a3


def relu(x):
    """max(0, x)."""
    return np.maximum(np.asarray(x, dtype=np.float64), 0.0)


def leaky_relu(x, alpha=0.01):
    """x if x > 0 else alpha x."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, alpha * x)


def elu(x, alpha=1.0):
    """x if x > 0 else alpha (exp(x) - 1)."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def softmax(z):
    """exp(z - max z) / sum exp(z - max z) along the last axis."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(z):
    """z - max z - log sum exp(z - max z) along the last axis."""
    z = np.asarray(z, dtype=np.float64)
    s = z - z.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


def cross_entropy(logits, labels_onehot):
    """mean over the batch of -sum_k y_k log softmax(z)_k."""
    y = np.asarray(labels_onehot, dtype=np.float64)
    return np.mean(-(y * log_softmax(logits)).sum(axis=-1))


def mse(y_pred, y_true):
    """mean((y_pred - y_true)^2) over all entries."""
    d = np.asarray(y_pred, dtype=np.float64) - np.asarray(y_true, dtype=np.float64)
    return np.mean(d * d)


def mlp_forward(params, x):
    """ReLU after every layer but the last: h <- relu(h W + b); out = h W_L + b_L."""
    h = np.asarray(x, dtype=np.float64)
    for i, (w, b) in enumerate(params):
        h = h @ np.asarray(w, dtype=np.float64) + np.asarray(b, dtype=np.float64)
        if i < len(params) - 1:
            h = relu(h)
    return h


def mlp_param_count(layer_sizes):
    """sum over layers of n_in * n_out + n_out."""
    sizes = [int(n) for n in layer_sizes]
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def two_layer_grads(params, x, y):
    """Backprop for L = mse(relu(x W1 + b1) W2 + b2, y): [(dW1, db1), (dW2, db2)]."""
    (w1, b1), (w2, b2) = [(np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64))
                          for w, b in params]
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    z1 = x @ w1 + b1
    h = relu(z1)
    out = h @ w2 + b2
    d_out = 2.0 * (out - y) / out.size
    d_z1 = (d_out @ w2.T) * (z1 > 0)
    return [(x.T @ d_z1, d_z1.sum(axis=0)), (h.T @ d_out, d_out.sum(axis=0))]


def init_mlp(key, layer_sizes):
    """He-normal weights W ~ N(0, 2 / n_in) of shape (n_in, n_out), zero biases, seeded by ``key``."""
    seed = np.asarray(key).astype(np.uint32).ravel() if np.asarray(key).dtype.kind in "iu" else 0
    rng = np.random.default_rng(seed)
    sizes = [int(n) for n in layer_sizes]
    return [(rng.normal(0.0, np.sqrt(2.0 / a), (a, b)), np.zeros(b)) for a, b in zip(sizes[:-1], sizes[1:])]
