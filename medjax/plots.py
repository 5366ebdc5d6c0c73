"""Figures for training runs and interpretation (matplotlib, no pyplot state).

Every function builds a ``matplotlib.figure.Figure`` (rendered by Agg, so it
works headless and never changes the notebook's backend), saves it as PNG when
``path`` is given, and returns it.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _finish(fig, path: str | os.PathLike[str] | None):
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def learning_curves(history: dict[str, Any], path: str | os.PathLike[str] | None = None):
    """Train/validation loss and accuracy (and validation AUC) per epoch from ``fit``'s history.

    >>> fig = learning_curves({"epochs": [{"epoch": 1, "train_loss": 0.7, "val_loss": 0.6},
    ...                                   {"epoch": 2, "train_loss": 0.5, "val_loss": 0.55}]})
    >>> [ax.get_title() for ax in fig.axes]
    ['loss', 'accuracy / AUC']
    """
    records = history["epochs"] if isinstance(history, dict) else history
    epochs = [r["epoch"] for r in records]
    fig = _figure(9, 3.5)
    loss_ax, acc_ax = fig.subplots(1, 2)
    for key in ("train_loss", "val_loss"):
        if all(key in r for r in records):
            loss_ax.plot(epochs, [r[key] for r in records], marker="o", label=key)
    for key in ("train_accuracy", "val_accuracy", "val_auc"):
        if all(key in r for r in records):
            acc_ax.plot(epochs, [r[key] for r in records], marker="o", label=key)
    for ax, title in ((loss_ax, "loss"), (acc_ax, "accuracy / AUC")):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        if ax.lines:
            ax.legend()
    return _finish(fig, path)


def confusion_matrix_plot(matrix: Any, class_names: Sequence[str] = ("normal", "pneumonia"),
                          path: str | os.PathLike[str] | None = None):
    """The confusion matrix (rows: truth, columns: prediction) with counts in the cells."""
    m = np.asarray(matrix)
    fig = _figure(4, 3.6)
    ax = fig.subplots()
    image = ax.imshow(m, cmap="Blues")
    names = list(class_names) if len(class_names) == m.shape[0] else [str(i) for i in range(m.shape[0])]
    ax.set_xticks(range(m.shape[1]), names)
    ax.set_yticks(range(m.shape[0]), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, str(int(m[i, j])), ha="center", va="center",
                    color="white" if m[i, j] > m.max() / 2 else "black")
    fig.colorbar(image, ax=ax)
    ax.set_title("confusion matrix")
    return _finish(fig, path)


def roc_curve_plot(probs: Any, labels: Any, threshold: float | None = None,
                   path: str | os.PathLike[str] | None = None):
    """ROC curve with its AUC, and the operating point at ``threshold`` if given."""
    from medjax.train.evaluation import roc_auc, roc_curve

    fpr, tpr, _ = roc_curve(probs, labels)
    fig = _figure(4, 4)
    ax = fig.subplots()
    ax.plot(fpr, tpr, label=f"AUC = {roc_auc(probs, labels):.3f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    if threshold is not None:
        p, y = np.asarray(probs).reshape(-1), np.asarray(labels).reshape(-1) == 1
        pred = p >= threshold
        ax.plot([np.mean(pred[~y])], [np.mean(pred[y])], "o", color="red", label=f"threshold {threshold:.2f}")
    ax.set_xlabel("1 - specificity (false positive rate)")
    ax.set_ylabel("sensitivity (true positive rate)")
    ax.set_title("ROC curve")
    ax.legend(loc="lower right")
    return _finish(fig, path)


def prediction_grid(images: Any, labels: Any, probs: Any, threshold: float = 0.5, n: int = 16,
                    path: str | os.PathLike[str] | None = None):
    """The first ``n`` images titled ``true / p``; wrong predictions at ``threshold`` in red."""
    images = np.asarray(images)[:n]
    labels, probs = np.asarray(labels).reshape(-1)[:n], np.asarray(probs).reshape(-1)[:n]
    cols = int(np.ceil(np.sqrt(len(images))))
    rows = int(np.ceil(len(images) / cols))
    fig = _figure(1.6 * cols, 1.8 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols)).reshape(-1)
    for ax in axes:
        ax.axis("off")
    for ax, image, y, p in zip(axes, images, labels, probs):
        ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=1)
        wrong = int(p >= threshold) != int(y)
        ax.set_title(f"y={int(y)} p={p:.2f}", fontsize=8, color="red" if wrong else "black")
    return _finish(fig, path)


def overlay(image: Any, heatmap: Any, *, alpha: float = 0.45, cmap: str = "jet", ax=None, title: str | None = None,
            path: str | os.PathLike[str] | None = None):
    """An image in grey with a heat map (saliency, Grad-CAM) drawn over it.

    >>> import numpy as np
    >>> fig = overlay(np.zeros((28, 28, 1)), np.ones((28, 28)))
    >>> len(fig.axes[0].images)
    2
    """
    image = np.asarray(image)
    image = image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image
    fig = None
    if ax is None:
        fig = _figure(3, 3)
        ax = fig.subplots()
    ax.imshow(image, cmap="gray")
    ax.imshow(np.asarray(heatmap), cmap=cmap, alpha=alpha, vmin=0, vmax=1)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return _finish(fig if fig is not None else ax.figure, path)
