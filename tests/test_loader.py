"""Tests for medjax.data.load and Dataset: arrays, batches, seeded shuffling, file lookup, errors, real data."""
import numpy as np
import pytest

from medjax.data import load
from medjax.data.loader import DATASETS, Dataset
from medjax.data.medmnist import INFO
from medjax.synthetic import synthetic_xray

SIZES = {"train": 5, "val": 3, "test": 4}


def write_npz(path, name, seed=0):
    """A tiny MedMNIST-layout file for ``name``; returns the arrays written."""
    info, rng = INFO[name], np.random.default_rng(seed)
    arrays = {}
    for split, n in SIZES.items():
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, *info.image_shape), dtype=np.uint8)
        width, top = (14, 2) if info.multilabel else (1, len(info.class_names))
        arrays[f"{split}_labels"] = rng.integers(0, top, (n, width), dtype=np.uint8)
    np.savez(path, **arrays)
    return arrays


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDJAX_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize("name", sorted(INFO))
def test_medmnist_as_float_nhwc(tmp_path, name):
    src = write_npz(tmp_path / f"{name}.npz", name)
    ds = load(name, "val", data_file=tmp_path / f"{name}.npz")
    c = INFO[name].channels
    assert isinstance(ds, Dataset) and len(ds) == SIZES["val"]
    assert ds.images.shape == (3, 28, 28, c) and ds.images.dtype == np.float32
    want = src["val_images"].astype(np.float32) / 255.0
    np.testing.assert_allclose(ds.images, want.reshape(ds.images.shape), atol=1e-7)
    assert ds.images.min() >= 0.0 and ds.images.max() <= 1.0
    assert ds.labels.dtype == np.int32
    if INFO[name].multilabel:
        np.testing.assert_array_equal(ds.labels, src["val_labels"])
        assert ds.class_counts == dict(zip(INFO[name].class_names, src["val_labels"].sum(0).tolist()))
    else:
        np.testing.assert_array_equal(ds.labels, src["val_labels"][:, 0])
        counts = np.bincount(src["val_labels"][:, 0], minlength=len(INFO[name].class_names))
        assert ds.class_counts == dict(zip(INFO[name].class_names, counts.tolist()))
    assert ds.class_names == INFO[name].class_names and (ds.name, ds.split) == (name, "val")


def test_medjax_data_dir_is_used_when_no_file_is_given(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    src = write_npz(folder / "breastmnist.npz", "breastmnist")
    monkeypatch.setenv("MEDJAX_DATA_DIR", str(folder))
    ds = load("breastmnist", "test")
    np.testing.assert_array_equal(ds.labels, src["test_labels"][:, 0])


def test_synthetic_xray_needs_no_file_and_matches_the_generator():
    ds = load("synthetic_xray", "val")
    ref = synthetic_xray(500, seed=1)
    np.testing.assert_array_equal(ds.images, ref["images"])
    np.testing.assert_array_equal(ds.labels, ref["labels"])
    np.testing.assert_array_equal(ds.masks, ref["masks"])
    assert ds.class_names == ("normal", "pneumonia") and len(load("synthetic_xray")) == 2000
    assert not np.array_equal(load("synthetic_xray", "test").images[:5], ds.images[:5])


def _synthetic(n, **kw):
    d = synthetic_xray(n, seed=3)
    return Dataset(d["images"], d["labels"], ("normal", "pneumonia"), "synthetic_xray", "train", **kw)


@pytest.mark.parametrize("n, size, drop, want", [(10, 4, False, [4, 4, 2]), (10, 4, True, [4, 4]),
                                                 (8, 4, True, [4, 4]), (3, 5, False, [3]), (3, 5, True, [])])
def test_batch_sizes_and_remainder(n, size, drop, want):
    ds = _synthetic(n, batch_size=size, drop_remainder=drop)
    sizes = [x.shape[0] for x, y in ds]
    assert sizes == want and ds.num_batches == len(want)


def test_unshuffled_batches_are_the_data_in_order():
    ds = _synthetic(10, batch_size=3)
    xs, ys = zip(*ds.iter_batches())
    np.testing.assert_array_equal(np.concatenate(xs), ds.images)
    np.testing.assert_array_equal(np.concatenate(ys), ds.labels)


def test_shuffling_is_seeded_per_epoch_and_covers_everything():
    ds = _synthetic(50, batch_size=8, shuffle=True, seed=7)
    epoch0 = np.concatenate([y for _, y in ds.iter_batches(0)])
    orders = [ds.order(e) for e in range(3)]
    for o in orders:
        np.testing.assert_array_equal(np.sort(o), np.arange(50))
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
    np.testing.assert_array_equal(epoch0, ds.labels[orders[0]])
    np.testing.assert_array_equal(ds.order(1), _synthetic(50, shuffle=True, seed=7, batch_size=8).order(1))
    assert not np.array_equal(ds.order(0), _synthetic(50, shuffle=True, seed=8, batch_size=8).order(0))


def test_for_loops_advance_the_epoch():
    ds = _synthetic(30, batch_size=30, shuffle=True, seed=1)
    first = next(iter(ds))[1]
    second = next(iter(ds))[1]
    assert ds.epoch == 2
    np.testing.assert_array_equal(first, ds.labels[ds.order(0)])
    np.testing.assert_array_equal(second, ds.labels[ds.order(1)])
    started = load("synthetic_xray", "val", batch_size=500, shuffle=True, epoch=5)
    np.testing.assert_array_equal(next(iter(started))[1], started.labels[started.order(5)])


def test_iterating_without_batch_size_says_how():
    ds = load("synthetic_xray", "val")
    with pytest.raises(TypeError, match=r"no batch_size: use load\(\.\.\., batch_size=32\)"):
        iter(ds)


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ValueError, match="'name' must be one of 'pneumoniamnist', .*'synthetic_xray', got 'mnist'"):
        load("mnist")
    with pytest.raises(ValueError, match="'split' must be one of 'train', 'val', 'test'"):
        load("synthetic_xray", "validation")
    with pytest.raises(ValueError, match="'batch_size'"):
        load("synthetic_xray", batch_size=0)
    with pytest.raises(ValueError, match="no data_file"):
        load("synthetic_xray", data_file="x.npz")
    assert "synthetic_xray" in DATASETS and len(DATASETS) == 7


def test_missing_file_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv("MEDJAX_DATA_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match=r"no file at data_file='.*nope.npz'"):
        load("pneumoniamnist", data_file=tmp_path / "nope.npz")
    with pytest.raises(FileNotFoundError, match=r"MEDJAX_DATA_DIR \(not set\).*download=True"):
        load("pneumoniamnist")
    monkeypatch.setenv("MEDJAX_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"\$MEDJAX_DATA_DIR/dermamnist.npz \(.*dermamnist.npz\)"):
        load("dermamnist")


def test_corrupt_file_names_the_expected_keys(tmp_path):
    np.savez(tmp_path / "bad.npz", images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(ValueError, match=r"missing keys \['train_images', 'train_labels'.*found \['images'\]"):
        load("pneumoniamnist", data_file=tmp_path / "bad.npz")


def test_real_pneumoniamnist(data_dir, monkeypatch):
    monkeypatch.setenv("MEDJAX_DATA_DIR", data_dir)
    want = {"train": (3882, 388, 3494), "val": (524, 135, 389), "test": (624, 234, 390)}
    for split, (n, normal, pneumonia) in want.items():
        ds = load("pneumoniamnist", split)
        assert len(ds) == n and ds.images.shape == (n, 28, 28, 1)
        assert ds.class_counts == {"normal": normal, "pneumonia": pneumonia}
        assert 0.2 < float(ds.images.mean()) < 0.8
