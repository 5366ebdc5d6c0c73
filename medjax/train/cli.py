"""``medjax train``: train a model on synthetic X-rays or a MedMNIST set, write metrics and figures.

    medjax train --dataset pneumoniamnist --data-file pneumoniamnist.npz --model resnet --epochs 10 --out run/

Writes ``OUT/metrics.json`` (config, per-epoch train/val metrics, test
metrics at 0.5 and at the validation threshold, timings) and PNGs:
``learning_curves.png``, ``confusion_matrix.png``, ``roc_curve.png``,
``predictions.png`` and, for SimpleCNN and ResNet, ``grad_cam.png``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

DATASETS = ("synthetic_xray", "pneumoniamnist", "breastmnist", "chestmnist", "dermamnist", "bloodmnist",
            "organamnist")
MODELS = ("logistic", "mlp", "simple_cnn", "cnn", "resnet")


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``medjax train`` (cheap: no JAX import)."""
    parser.add_argument("--dataset", default="synthetic_xray", metavar="NAME",
                        help=f"one of {', '.join(DATASETS)} (default synthetic_xray, embedded)")
    parser.add_argument("--model", default="simple_cnn", metavar="NAME", help=f"one of {', '.join(MODELS)}")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (AdamW, warmup + cosine)")
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--class-weight", choices=("none", "balanced"), default="balanced",
                        help="weight positives by n_neg / n_pos in the binary loss (default balanced)")
    parser.add_argument("--patience", type=int, default=None, help="early stopping patience (epochs)")
    parser.add_argument("--data-file", default=None, metavar="F", help="the MedMNIST .npz to read")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="use a seeded random subset of at most N images of each split (quick runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--augment", action="store_true",
                        help="random flips, rotations, shifts and intensity changes (medjax.data.augment)")
    parser.add_argument("--data-parallel", action="store_true", help="split batches over all local devices")
    parser.add_argument("--no-cache", action="store_true", help="do not use the persistent compilation cache")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for metrics.json and the figures")


def _fail(message: str) -> int:
    print(f"medjax train: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def _load(args) -> tuple[Any, Any, Any]:
    from medjax.data import load

    splits = [load(args.dataset, s, data_file=args.data_file) for s in ("train", "val", "test")]
    if args.limit:
        splits = [_subset(ds, args.limit, args.seed) for ds in splits]
    return tuple(splits)


def _subset(ds, n: int, seed: int):
    """A seeded random subset of ``n`` images, in file order (MedMNIST files may be sorted by class)."""
    import dataclasses

    import numpy as np

    if n >= len(ds):
        return ds
    idx = np.sort(np.random.default_rng([seed, len(ds)]).choice(len(ds), size=n, replace=False))
    masks = None if ds.masks is None else ds.masks[idx]
    return dataclasses.replace(ds, images=ds.images[idx], labels=ds.labels[idx], masks=masks)


def _task(train) -> tuple[str, int]:
    if train.labels.ndim == 2:
        return "multilabel", train.labels.shape[1]
    k = len(train.class_names)
    return ("binary", 1) if k == 2 else ("multiclass", k)


def _model(name: str, num_outputs: int):
    from medjax.models import MODELS as registry

    return registry[name](num_outputs=num_outputs)


def _line(record: dict) -> str:
    parts = [f"epoch {record['epoch']}"]
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_auc"):
        if key in record:
            parts.append(f"{key} {record[key]:.4f}")
    parts.append(f"{record['images_per_s']:.0f} img/s")
    return "  ".join(parts)


def _figures(out: Path, model, state, history, test, task, report) -> list[str]:
    import numpy as np

    from medjax import plots
    from medjax.train import predict

    written = ["learning_curves.png"]
    plots.learning_curves(history, out / "learning_curves.png")
    probs = predict(state, test.images, task=task)
    if task == "binary":
        plots.confusion_matrix_plot(report["confusion_matrix"], test.class_names, out / "confusion_matrix.png")
        plots.roc_curve_plot(probs, test.labels, history["threshold"], out / "roc_curve.png")
        plots.prediction_grid(test.images, test.labels, probs, history["threshold"], path=out / "predictions.png")
        written += ["confusion_matrix.png", "roc_curve.png", "predictions.png"]
        if type(model).__name__ in ("SimpleCNN", "ResNet"):
            _grad_cam_figure(model, state, test, probs, history["threshold"], out / "grad_cam.png")
            written.append("grad_cam.png")
    elif task == "multiclass":
        pred = probs.argmax(-1)
        k = probs.shape[-1]
        matrix = np.zeros((k, k), np.int64)
        np.add.at(matrix, (test.labels, pred), 1)
        plots.confusion_matrix_plot(matrix, test.class_names, out / "confusion_matrix.png")
        written.append("confusion_matrix.png")
    return written


def _grad_cam_figure(model, state, test, probs, threshold, path) -> None:
    import numpy as np

    from medjax import plots
    from medjax.interpret import grad_cam

    picks = np.flatnonzero((test.labels == 1) & (probs >= threshold))[:8]
    if picks.size == 0:
        return
    fig = plots._figure(2 * picks.size, 2.2)
    axes = np.atleast_1d(fig.subplots(1, picks.size))
    for ax, i in zip(axes, picks):
        cam = grad_cam(model, state.variables, test.images[i], method="hirescam")  # faithful for any head
        plots.overlay(test.images[i], cam, ax=ax, title=f"p={probs[i]:.2f}")
    fig.savefig(path, dpi=100)


def main(args: argparse.Namespace) -> int:
    """Run ``medjax train``; 0 on success, 2 (one line on stderr) on a bad dataset, model or file."""
    t_start = time.perf_counter()
    if args.dataset not in DATASETS:
        return _fail(f"unknown dataset {args.dataset!r}; choose one of {', '.join(DATASETS)}")
    if args.model not in MODELS:
        return _fail(f"unknown model {args.model!r}; choose one of {', '.join(MODELS)}")
    if args.epochs < 1 or args.batch_size < 1 or (args.limit is not None and args.limit < 2):
        return _fail("--epochs and --batch-size must be >= 1 and --limit >= 2")
    if args.data_file is not None and not Path(args.data_file).is_file():
        return _fail(f"no such data file: {args.data_file}")
    try:
        train, val, test = _load(args)
    except (OSError, ValueError, KeyError) as exc:
        return _fail(f"cannot load {args.dataset!r}: {exc}")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _fail(f"cannot create --out folder: {exc}")

    from medjax.sizes import param_count
    from medjax.train import evaluate, fit

    task, num_outputs = _task(train)
    model = _model(args.model, num_outputs)
    # balanced weighting for binary sets only: the CLI offers no per-label weight vector
    class_weight = "balanced" if args.class_weight == "balanced" and task == "binary" else None
    progress = "stderr" if sys.stderr.isatty() else False
    augment = None
    if args.augment:
        from medjax.data import augment

    def show(record):
        print(_line(record), flush=True)

    print(f"medjax train: {args.model} on {args.dataset} ({len(train)} train, {len(val)} val, {len(test)} test), "
          f"task {task}", flush=True)
    try:
        state, history = fit(model, train, val, task=task, epochs=args.epochs, batch_size=args.batch_size,
                             lr=args.lr, weight_decay=args.weight_decay, class_weight=class_weight,
                             early_stopping_patience=args.patience, seed=args.seed, progress=progress, augment=augment,
                             data_parallel=args.data_parallel, compilation_cache=not args.no_cache, on_epoch=show)
    except ValueError as exc:
        return _fail(exc)
    threshold = history["threshold"]
    report = evaluate(state, test, threshold, task=task)
    test_metrics = dict(report)
    if "accuracy_at_threshold" in test_metrics:
        test_metrics["accuracy_at_val_threshold"] = test_metrics.pop("accuracy_at_threshold")
    test_metrics.pop("threshold", None)
    figures = _figures(out, model, state, history, test, task, report)
    metrics = {
        "config": {k: v for k, v in vars(args).items() if not k.startswith("_") and k != "command"},
        "task": task,
        "param_count": param_count(state.params),
        "epochs": history["epochs"],
        "best_epoch": history["best_epoch"],
        "pos_weight": history["pos_weight"],
        "threshold": threshold,
        "test": test_metrics,
        "compile_time_s": history["compile_time_s"],
        "train_time_s": history["train_time_s"],
        "images_per_s": history["images_per_s"],
        "wall_time_s": time.perf_counter() - t_start,
        "figures": figures,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    summary = "  ".join(f"{k} {v:.4f}" for k, v in test_metrics.items() if isinstance(v, float))
    print(f"test: {summary}  (threshold {threshold:.3f} chosen on val)")
    print(f"wrote {out / 'metrics.json'} and {len(figures)} figures; {metrics['images_per_s']:.0f} img/s, "
          f"compile {metrics['compile_time_s']:.1f} s, total {metrics['wall_time_s']:.1f} s")
    return 0
