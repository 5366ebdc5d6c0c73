"""Trusted reference answers for assignments a4 (CNN for pneumonia) and a5 (ResNet, U-Net).

Instructor-only (``autograder/``, never in the medjax wheel). Written
independently of the rest of medjax (NumPy, plain ``jax.numpy`` and Flax linen
only) so that the self-check and the grader have a second oracle: a bug in
``medjax.metrics`` or ``medjax.models`` cannot also hide in these answers.

Conventions stated in the notebooks and followed here:

* labels and predictions are 0/1 vectors; the confusion matrix is
  ``[[TN, FP], [FN, TP]]`` (rows = actual, columns = predicted, order [0, 1]);
* every ratio whose denominator is 0 is 0.0 (precision with no positive
  prediction, recall with no positive label, ...);
* Dice is ``(2 |P n T| + eps) / (|P| + |T| + eps)`` over all elements.

>>> confusion_matrix([0, 1, 1, 0], [0, 1, 0, 1]).tolist()
[[1, 1], [1, 1]]
>>> round(f1([1, 1, 0, 0], [1, 0, 0, 0]), 4)
0.6667
>>> float(dice_coefficient(np.zeros((2, 2)), np.zeros((2, 2))))
1.0
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# --------------------------------------------------------------------------- a4: metrics


def confusion_matrix(y_true, y_pred) -> np.ndarray:
    """``[[TN, FP], [FN, TP]]`` as int64 (rows = actual class, columns = predicted class)."""
    t = np.asarray(y_true).astype(np.int64).ravel()
    p = np.asarray(y_pred).astype(np.int64).ravel()
    out = np.zeros((2, 2), np.int64)
    for a, b in zip(t, p):
        out[a, b] += 1
    return out


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else 0.0


def accuracy(y_true, y_pred) -> float:
    """(TP + TN) / N."""
    (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred)
    return _ratio(tp + tn, tn + fp + fn + tp)


def precision(y_true, y_pred) -> float:
    """TP / (TP + FP), 0.0 when nothing is predicted positive."""
    (_, fp), (_, tp) = confusion_matrix(y_true, y_pred)
    return _ratio(tp, tp + fp)


def recall(y_true, y_pred) -> float:
    """Sensitivity TP / (TP + FN), 0.0 when there is no positive label."""
    _, (fn, tp) = confusion_matrix(y_true, y_pred)
    return _ratio(tp, tp + fn)


def specificity(y_true, y_pred) -> float:
    """TN / (TN + FP), 0.0 when there is no negative label."""
    (tn, fp), _ = confusion_matrix(y_true, y_pred)
    return _ratio(tn, tn + fp)


def f1(y_true, y_pred) -> float:
    """Harmonic mean 2 P R / (P + R) of precision and recall, 0.0 when P + R = 0."""
    p, r = precision(y_true, y_pred), recall(y_true, y_pred)
    return _ratio(2 * p * r, p + r)


def always_negative_accuracy(prevalence: float) -> float:
    """Accuracy of the classifier that always says "healthy": 1 - prevalence."""
    return 1.0 - float(prevalence)


def split_sizes(n: int, fractions: Sequence[float] = (0.6, 0.2, 0.2)) -> list[int]:
    """The stated size rule: floor(f0 n), floor(f1 n), and the rest for test."""
    n_train, n_val = int(math.floor(fractions[0] * n)), int(math.floor(fractions[1] * n))
    return [n_train, n_val, n - n_train - n_val]


def split_dataset(key, n: int, fractions: Sequence[float] = (0.6, 0.2, 0.2)):
    """Shuffle ``range(n)`` (NumPy, seeded from ``key``) and cut it into train, val and test index arrays."""
    seed = np.asarray(jax.random.key_data(key)).astype(np.uint64).ravel().tolist()
    order = np.random.default_rng(seed).permutation(n)
    a, b, _ = split_sizes(n, fractions)
    return order[:a], order[a:a + b], order[a + b:]


def choose_threshold(val_probs, val_labels) -> float:
    """The validation probability t maximising Youden's J = sens + spec - 1 for ``probs >= t``.

    J is compared exactly, as the integer ``TP * N_neg + TN * N_pos`` (J times
    ``N_pos * N_neg`` plus a constant); ties go to the smallest threshold.
    A missing class counts as a ratio of 0.0 (as in :func:`recall`).
    """
    p = np.asarray(val_probs, np.float64).ravel()
    y = np.asarray(val_labels).astype(np.int64).ravel()
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    best_t, best = None, None
    for t in np.unique(p):  # ascending, so a strict ">" keeps the smallest on ties
        pred = p >= t
        tp, tn = int((pred & (y == 1)).sum()), int((~pred & (y == 0)).sum())
        if n_pos and n_neg:
            score = tp * n_neg + tn * n_pos
        else:  # one class only: the other ratio is the constant 0.0
            score = tp if n_pos else tn
        if best is None or score > best:
            best_t, best = float(t), score
    return best_t


# --------------------------------------------------------------------------- a4: model and step


class SimpleCNN(nn.Module):
    """Conv(8)-ReLU-Pool -> Conv(16)-ReLU-Pool -> flatten -> Dense(32)-ReLU -> Dropout -> Dense(1)."""

    dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, x, train: bool = False):
        for width in (8, 16):
            x = nn.max_pool(nn.relu(nn.Conv(width, (3, 3), padding="SAME")(x)), (2, 2), strides=(2, 2))
        x = nn.relu(nn.Dense(32)(x.reshape((x.shape[0], -1))))
        return nn.Dense(1)(nn.Dropout(self.dropout_rate, deterministic=not train)(x))


def simple_cnn_param_count(height: int = 28, width: int = 28) -> int:
    """Closed form: convs 3*3*1*8+8 and 3*3*8*16+16, dense (h/4 * w/4 * 16 + 1) * 32, head 33."""
    flat = (height // 2 // 2) * (width // 2 // 2) * 16
    return (9 * 1 * 8 + 8) + (9 * 8 * 16 + 16) + (flat + 1) * 32 + (32 + 1)


def bce_with_logits(logits, labels):
    """Mean of max(z, 0) - z y + log(1 + exp(-|z|)) over matching (N,) vectors."""
    z = jnp.asarray(logits)
    y = jnp.asarray(labels, z.dtype)
    return jnp.mean(jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z))))


@jax.jit
def train_step(state, images, labels):
    """One SGD step on mean BCE-with-logits; returns the new state and the loss before the step."""
    def loss_fn(params):
        logits = state.apply_fn({"params": params}, images)[:, 0]
        return bce_with_logits(logits, labels)

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss


def augment(key, images):
    """Per-image brightness shift in [-0.1, 0.1], contrast in [0.9, 1.1], clipped to [0, 1]."""
    k1, k2 = jax.random.split(key)
    n = images.shape[0]
    shift = jax.random.uniform(k1, (n, 1, 1, 1), minval=-0.1, maxval=0.1)
    scale = jax.random.uniform(k2, (n, 1, 1, 1), minval=0.9, maxval=1.1)
    return jnp.clip((images - 0.5) * scale + 0.5 + shift, 0.0, 1.0).astype(images.dtype)


# --------------------------------------------------------------------------- a5: Dice


def dice_coefficient(pred, target, eps: float = 1e-6):
    """(2 sum(p t) + eps) / (sum(p) + sum(t) + eps) over all elements."""
    p, t = jnp.asarray(pred, jnp.float32), jnp.asarray(target, jnp.float32)
    return (2.0 * jnp.sum(p * t) + eps) / (jnp.sum(p) + jnp.sum(t) + eps)


def dice_loss(pred, target):
    """1 - Dice with the default eps."""
    return 1.0 - dice_coefficient(pred, target)


# --------------------------------------------------------------------------- a5: residual block


class ResidualBlock(nn.Module):
    """relu(BN(conv3x3(relu(BN(conv3x3_s(x))))) + shortcut(x)); convs without bias."""

    features: int
    strides: int = 1

    @nn.compact
    def __call__(self, x, train: bool = False):
        s = (self.strides, self.strides)
        bn = lambda: nn.BatchNorm(use_running_average=not train)  # noqa: E731
        y = nn.relu(bn()(nn.Conv(self.features, (3, 3), strides=s, padding="SAME", use_bias=False)(x)))
        y = bn()(nn.Conv(self.features, (3, 3), padding="SAME", use_bias=False)(y))
        if x.shape[-1] != self.features or self.strides != 1:
            x = bn()(nn.Conv(self.features, (1, 1), strides=s, use_bias=False)(x))
        return nn.relu(y + x)


def residual_block_param_count(in_channels: int, out_channels: int) -> int:
    """9 C_in C_out + 9 C_out^2 + 2 * 2 C_out, plus C_in C_out + 2 C_out for a projection."""
    count = 9 * in_channels * out_channels + 9 * out_channels * out_channels + 4 * out_channels
    if in_channels != out_channels:
        count += in_channels * out_channels + 2 * out_channels
    return count


# --------------------------------------------------------------------------- a5: U-Net


class UNet(nn.Module):
    """Two-level U-Net: (8, 16) channels, bottleneck 32, transposed-conv upsampling, 1x1 head."""

    @nn.compact
    def __call__(self, x, train: bool = False):
        del train
        conv2 = lambda h, c: nn.relu(nn.Conv(c, (3, 3), padding="SAME")(nn.relu(nn.Conv(c, (3, 3), padding="SAME")(h))))  # noqa: E731
        s1 = conv2(x, 8)
        s2 = conv2(nn.max_pool(s1, (2, 2), strides=(2, 2)), 16)
        b = conv2(nn.max_pool(s2, (2, 2), strides=(2, 2)), 32)
        u2 = conv2(jnp.concatenate([nn.ConvTranspose(16, (2, 2), strides=(2, 2))(b), s2], axis=-1), 16)
        u1 = conv2(jnp.concatenate([nn.ConvTranspose(8, (2, 2), strides=(2, 2))(u2), s1], axis=-1), 8)
        return nn.Conv(1, (1, 1))(u1)


# --------------------------------------------------------------------------- a5: where the model looks


def saliency_map(logit_fn: Callable, image):
    """max over channels of |d logit / d pixel| for one (H, W, C) image; ``logit_fn`` maps (N,H,W,C) -> (N,1)."""
    grad = jax.grad(lambda x: logit_fn(x[None])[0, 0])(jnp.asarray(image, jnp.float32))
    return jnp.max(jnp.abs(grad), axis=-1)


def grad_cam(activations, gradients):
    """relu(sum_k alpha_k A_k) with alpha_k the spatial mean of dy/dA_k; (H, W, K) -> (H, W)."""
    a = np.asarray(activations, np.float64)
    g = np.asarray(gradients, np.float64)
    alpha = g.mean(axis=(0, 1))
    return np.maximum((a * alpha[None, None, :]).sum(axis=-1), 0.0)


__all__ = [
    "ResidualBlock", "SimpleCNN", "UNet", "accuracy", "always_negative_accuracy",
    "augment", "bce_with_logits", "choose_threshold", "confusion_matrix", "dice_coefficient",
    "dice_loss", "f1", "grad_cam", "precision", "recall", "residual_block_param_count",
    "saliency_map", "simple_cnn_param_count", "specificity", "split_dataset", "split_sizes", "train_step",
]
