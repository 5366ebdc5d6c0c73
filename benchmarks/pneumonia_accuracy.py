"""PneumoniaMNIST accuracy: train :func:`medjax.train.recipes.pneumonia_recipe`, report val and test.

    MEDJAX_DATA_DIR=../shared/data .venv/bin/python benchmarks/pneumonia_accuracy.py

Trains the recipe's ensemble on the train split, chooses the decision
threshold on the validation split, and prints AUC, accuracy at 0.5 (the
MedMNIST convention) and at the validation threshold, sensitivity and
specificity for val and test, the wall time (data, compile, training and
evaluation, in this process, from a cold compilation cache) and the
MedMNIST v2 ResNet-18 (28) anchor. Nothing is chosen on the test split.
Exits 2 when the data file is missing, 1 with ``--check`` when a target is
missed (AUC >= 0.95, ACC >= 0.87, wall time <= 120 s).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"auc": 0.95, "accuracy": 0.87, "wall_s": 120.0}
RESNET18_28 = {"auc": 0.944, "accuracy": 0.854}  # MedMNIST v2, Table 3, PneumoniaMNIST test


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-file", default=None, help="pneumoniamnist.npz (default: $MEDJAX_DATA_DIR/pneumoniamnist.npz)")
    p.add_argument("--members", type=int, default=None, help="ensemble size (default: the recipe's)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per member (default: the recipe's)")
    p.add_argument("--first-seed", type=int, default=None, help="seed of the first member (default 0)")
    p.add_argument("--quick", action="store_true", help="smoke run: 1 member, 2 epochs (not the benchmark figures)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the figures to FILE")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    return p.parse_args(argv)


def data_file(arg: str | None) -> Path | None:
    if arg:
        return Path(arg)
    folder = os.environ.get("MEDJAX_DATA_DIR", "")
    return Path(folder) / "pneumoniamnist.npz" if folder else None


def report_line(split: str, at_half: dict, at_t: dict) -> str:
    return (f"{split:<5} AUC {at_half['auc']:.4f}  ACC@0.5 {at_half['accuracy']:.4f} (sensitivity "
            f"{at_half['sensitivity']:.3f}, specificity {at_half['specificity']:.3f})  ACC@{at_t['threshold']:.3f} "
            f"{at_t['accuracy_at_threshold']:.4f} (sensitivity {at_t['sensitivity']:.3f}, "
            f"specificity {at_t['specificity']:.3f})")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    path = data_file(args.data_file)
    if path is None or not path.is_file():
        where = path if path is not None else "$MEDJAX_DATA_DIR (not set)"
        print(f"pneumonia_accuracy: no PneumoniaMNIST file at {where}; set MEDJAX_DATA_DIR to the folder "
              "holding pneumoniamnist.npz or pass --data-file", file=sys.stderr)
        return 2
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    t0, c0 = time.perf_counter(), time.process_time()
    from medjax.data import load
    from medjax.train import binary_report, choose_threshold, fit
    from medjax.train.recipes import ensemble_predict, pneumonia_recipe

    train, val, test = (load("pneumoniamnist", s, data_file=path) for s in ("train", "val", "test"))
    if args.quick:
        args.members, args.epochs = args.members or 1, args.epochs or 2
    options = {k: v for k, v in (("members", args.members), ("epochs", args.epochs),
                                            ("first_seed", args.first_seed)) if v is not None}
    recipe = pneumonia_recipe(**options)
    cache = tempfile.mkdtemp(prefix="medjax-bench-")  # cold: compile time counts once, members reuse it
    states = []
    for seed in recipe.seeds:
        state, history = fit(recipe.model, train, val, seed=seed, progress=False, compilation_cache=cache,
                             **recipe.fit_kwargs)
        states.append(state)
        print(f"member seed={seed}: compile {history['compile_time_s']:.1f} s, train {history['train_time_s']:.1f} s, "
              f"val AUC {history['epochs'][-1]['val_auc']:.4f}", flush=True)
    val_p = ensemble_predict(states, val.images, tta=recipe.tta)
    test_p = ensemble_predict(states, test.images, tta=recipe.tta)
    threshold = choose_threshold(val_p, val.labels)
    probs = {"val": (val_p, val.labels), "test": (test_p, test.labels)}
    results = {split: binary_report(p, y, threshold) for split, (p, y) in probs.items()}
    at_half = {split: binary_report(p, y, 0.5) for split, (p, y) in probs.items()}
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0

    print(f"recipe: {type(recipe.model).__name__}{tuple(recipe.model.features)}, {len(recipe.seeds)} members x "
          f"{recipe.fit_kwargs['epochs']} epochs, tta={recipe.tta}; threshold {threshold:.3f} chosen on val (Youden)")
    for split in ("val", "test"):
        print(report_line(split, at_half[split], results[split]))
    print(f"wall time {wall:.1f} s (data + compile + training + evaluation; process CPU time {cpu:.1f} s "
          f"on {os.cpu_count()} CPUs)")
    print(f"MedMNIST v2 ResNet-18 (28): AUC {RESNET18_28['auc']}, ACC {RESNET18_28['accuracy']}; "
          f"targets AUC >= {TARGETS['auc']}, ACC >= {TARGETS['accuracy']}, <= {TARGETS['wall_s']:.0f} s")
    t = results["test"]
    checks = {"test AUC": t["auc"] >= TARGETS["auc"], "test ACC@0.5": t["accuracy"] >= TARGETS["accuracy"],
              "wall time": wall <= TARGETS["wall_s"]}
    met = all(checks.values())
    print("targets: " + ", ".join(f"{k} {'met' if ok else 'MISSED'}" for k, ok in checks.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"at_threshold": results, "at_0.5": at_half, "wall_s": wall, "cpu_s": cpu, "threshold": threshold,
                                               "members": len(recipe.seeds), "epochs": recipe.fit_kwargs["epochs"]},
                                              indent=2))
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
