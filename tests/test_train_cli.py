"""``medjax train``: a tiny real run writes metrics.json and the figures; bad input fails in one line."""
import json
import os
import subprocess
import sys

import pytest

from medjax.cli import main

TEST_KEYS = {"accuracy", "accuracy_at_val_threshold", "auc", "sensitivity", "specificity", "confusion_matrix"}
FIGURES = ("learning_curves.png", "confusion_matrix.png", "roc_curve.png", "predictions.png", "grad_cam.png")


def run_cli(args, tmp_path, timeout=600):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "MEDJAX_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "medjax.cli", "train", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_tiny_synthetic_run_writes_metrics_and_figures(tmp_path):
    out = tmp_path / "run"
    proc = run_cli(["--epochs", "1", "--limit", "256", "--batch-size", "64", "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == ""  # warning-free: notebooks zero cells that write to stderr
    assert "epoch 1" in proc.stdout and "img/s" in proc.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert TEST_KEYS <= set(metrics["test"])
    for key in ("threshold", "wall_time_s", "images_per_s", "compile_time_s", "epochs", "param_count"):
        assert key in metrics, key
    assert metrics["param_count"] == 23_873  # SimpleCNN on 28x28x1
    record = metrics["epochs"][0]
    assert {"train_loss", "val_loss", "val_auc", "train_accuracy", "val_accuracy"} <= set(record)
    assert 0 <= metrics["test"]["auc"] <= 1 and 0 < metrics["threshold"] < 1
    assert sum(map(sum, metrics["test"]["confusion_matrix"])) == 256
    assert metrics["images_per_s"] > 0 and metrics["compile_time_s"] > 0
    for name in FIGURES:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert any((tmp_path / "cache").iterdir())  # the persistent compilation cache is on by default


@pytest.mark.parametrize("args, message", [
    (["--dataset", "mnist"], "unknown dataset 'mnist'"),
    (["--model", "vgg"], "unknown model 'vgg'"),
    (["--dataset", "pneumoniamnist", "--data-file", "/nonexistent/p.npz"], "no such data file"),
])
def test_bad_input_is_one_line_exit_2(args, message, tmp_path, capsys):
    assert main(["train", *args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_corrupt_npz_is_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "pneumoniamnist.npz"
    bad.write_bytes(b"this is not a zip file" * 10)
    assert main(["train", "--dataset", "pneumoniamnist", "--data-file", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("medjax train: cannot load 'pneumoniamnist'") and err.count("\n") == 1


@pytest.mark.data
def test_real_pneumoniamnist_quick_run(data_dir, tmp_path):
    out = tmp_path / "real"
    proc = run_cli(["--dataset", "pneumoniamnist", "--data-file", os.path.join(data_dir, "pneumoniamnist.npz"),
                    "--epochs", "2", "--lr", "0.01", "--batch-size", "64", "--limit", "1024", "--model", "logistic",
                    "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == ""
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["dataset"] == "pneumoniamnist"
    assert sum(map(sum, metrics["test"]["confusion_matrix"])) == 624  # the full official test split
    # the file is sorted by class: --limit must sample both classes; measured test AUC 0.88
    assert metrics["test"]["auc"] > 0.75
