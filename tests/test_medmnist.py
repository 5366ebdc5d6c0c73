"""Tests for medjax.data.medmnist: every builder on tiny .npz files, read back through tfds."""
import functools
import hashlib
import http.server
import os
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

import tensorflow_datasets as tfds
from tensorflow_datasets.core.download import checksums
from medjax.data import medmnist
from medjax.data.medmnist import BUILDERS, INFO, build, read_npz, read_split

SIZES = {"train": 5, "val": 3, "test": 4}


def write_npz(path, name, seed=0, sizes=SIZES):
    """A tiny MedMNIST-layout file for ``name``; returns the arrays written."""
    info, rng = INFO[name], np.random.default_rng(seed)
    arrays = {}
    for split, n in sizes.items():
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, *info.image_shape), dtype=np.uint8)
        if info.multilabel:
            arrays[f"{split}_labels"] = rng.integers(0, 2, (n, 14), dtype=np.uint8)
        else:
            arrays[f"{split}_labels"] = rng.integers(0, len(info.class_names), (n, 1), dtype=np.uint8)
    np.savez(path, **arrays)
    return arrays


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDJAX_CACHE_DIR", str(tmp_path / "cache"))


def test_six_datasets_with_medmnist_class_names():
    assert set(BUILDERS) == set(INFO) == {"pneumoniamnist", "breastmnist", "chestmnist", "dermamnist",
                                          "bloodmnist", "organamnist"}
    assert INFO["pneumoniamnist"].class_names == ("normal", "pneumonia")
    assert INFO["breastmnist"].class_names[0] == "malignant"
    assert len(INFO["chestmnist"].class_names) == 14 and INFO["chestmnist"].multilabel
    assert len(INFO["dermamnist"].class_names) == 7 and INFO["dermamnist"].channels == 3
    assert len(INFO["bloodmnist"].class_names) == 8 and INFO["bloodmnist"].channels == 3
    assert len(INFO["organamnist"].class_names) == 11


def test_download_is_registered_with_url_size_and_checksum():
    infos = BUILDERS["pneumoniamnist"].url_infos
    url = "https://zenodo.org/records/10519652/files/pneumoniamnist.npz"
    assert set(infos) == {url}
    assert infos[url].size == 4_170_669
    assert infos[url].checksum == "e1792d3f03751cb101e99f19a63b3c1941436c988665f47853417b05be250cd8"
    for name in ("breastmnist", "chestmnist", "dermamnist", "bloodmnist", "organamnist"):
        assert INFO[name].url == f"https://zenodo.org/records/10519652/files/{name}.npz"


def _served_builder(url, sha256, size):
    """PneumoniaMNIST downloading from ``url`` with the given registered size and checksum."""
    class Served(BUILDERS["pneumoniamnist"], skip_registration=True):
        name = "pneumoniamnist"
        url_infos = {url: checksums.UrlInfo(size=size, checksum=sha256, filename="pneumoniamnist.npz")}

        @classmethod
        def download_url(cls):
            return url

    return Served


@pytest.fixture
def http_folder(tmp_path, monkeypatch):
    """A local HTTP server (127.0.0.1 only) serving tmp_path/www; yields (folder, base url)."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_download_is_verified_against_the_registered_checksum(tmp_path, monkeypatch, http_folder):
    folder, base = http_folder
    src = write_npz(folder / "pneumoniamnist.npz", "pneumoniamnist")
    data = (folder / "pneumoniamnist.npz").read_bytes()
    url = f"{base}/pneumoniamnist.npz"
    monkeypatch.setitem(BUILDERS, "pneumoniamnist", _served_builder(url, hashlib.sha256(data).hexdigest(), len(data)))
    builder = build("pneumoniamnist", data_dir=tmp_path / "tfds", download=True)
    np.testing.assert_array_equal(read_split(builder, "train")[0], src["train_images"])
    monkeypatch.setitem(BUILDERS, "pneumoniamnist", _served_builder(url, "0" * 64, len(data)))
    with pytest.raises(Exception, match="(?i)checksum") as err:
        build("pneumoniamnist", data_dir=tmp_path / "tfds2", download=True)
    assert type(err.value).__name__ == "NonMatchingChecksumError"


@pytest.mark.parametrize("name", sorted(INFO))
def test_build_and_read_back_equals_the_npz(tmp_path, name):
    src = write_npz(tmp_path / f"{name}.npz", name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        builder = build(name, data_file=tmp_path / f"{name}.npz", data_dir=tmp_path / "tfds")
    assert builder.info.file_format.value == "array_record"
    assert str(builder.data_dir).startswith(str(tmp_path / "tfds"))
    for split, n in SIZES.items():
        assert builder.info.splits[split].num_examples == n
        images, labels = read_split(builder, split)
        np.testing.assert_array_equal(images, src[f"{split}_images"])
        want = src[f"{split}_labels"] if INFO[name].multilabel else src[f"{split}_labels"][:, 0]
        np.testing.assert_array_equal(labels, want)
    features = builder.info.features
    if INFO[name].multilabel:
        assert features["label"].shape == (14,)
    else:
        assert features["label"].names == list(INFO[name].class_names)
    assert features["image"].shape == INFO[name].image_shape and features["image"].np_dtype == np.uint8


def test_the_build_is_a_plain_tfds_dataset_readable_without_medjax(tmp_path):
    src = write_npz(tmp_path / "p.npz", "pneumoniamnist")
    builder = build("pneumoniamnist", data_file=tmp_path / "p.npz", data_dir=tmp_path / "tfds")
    source = tfds.builder_from_directory(builder.data_dir).as_data_source(split="val")
    assert len(source) == SIZES["val"]
    np.testing.assert_array_equal(source[2]["image"], src["val_images"][2])
    assert source[2]["label"] == src["val_labels"][2, 0]


def test_a_fresh_process_builds_with_a_clean_stderr(tmp_path):
    write_npz(tmp_path / "p.npz", "pneumoniamnist")
    code = ("from medjax.data.medmnist import build, read_split\n"
            f"b = build('pneumoniamnist', data_file={str(tmp_path / 'p.npz')!r})\n"
            "print(read_split(b, 'test')[0].shape)\n")
    env = {**os.environ, "MEDJAX_CACHE_DIR": str(tmp_path / "cache"), "JAX_PLATFORMS": "cpu"}
    env.pop("PYTHONWARNINGS", None)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stderr == "" and run.stdout == "(4, 28, 28)\n"


def test_default_build_goes_to_a_cache_keyed_by_the_file(tmp_path):
    a = write_npz(tmp_path / "a.npz", "breastmnist", seed=1)
    write_npz(tmp_path / "b.npz", "breastmnist", seed=2)
    ba = build("breastmnist", data_file=tmp_path / "a.npz")
    bb = build("breastmnist", data_file=tmp_path / "b.npz")
    digest = hashlib.sha256((tmp_path / "a.npz").read_bytes()).hexdigest()[:16]
    assert str(ba.data_dir).startswith(str(tmp_path / "cache" / f"sha256-{digest}"))
    assert ba.data_dir != bb.data_dir
    np.testing.assert_array_equal(read_split(ba, "train")[0], a["train_images"])
    assert medmnist.cache_dir() == tmp_path / "cache"
    # a second build of the same file reuses the prepared dataset
    assert build("breastmnist", data_file=tmp_path / "a.npz").data_dir == ba.data_dir


def test_manual_dir_is_a_source(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    src = write_npz(manual / "organamnist.npz", "organamnist")
    builder = build("organamnist", data_dir=tmp_path / "tfds", manual_dir=manual, download=False)
    np.testing.assert_array_equal(read_split(builder, "test")[1], src["test_labels"][:, 0])


def test_no_source_without_download_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=False"):
        build("dermamnist", data_dir=tmp_path / "tfds", download=False)


def test_building_writes_nothing_to_stdout_or_stderr(tmp_path, capfd):
    write_npz(tmp_path / "c.npz", "chestmnist")
    build("chestmnist", data_file=tmp_path / "c.npz", data_dir=tmp_path / "tfds")
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_read_npz_squeezes_single_labels_and_keeps_multilabel(tmp_path):
    write_npz(tmp_path / "p.npz", "pneumoniamnist")
    write_npz(tmp_path / "c.npz", "chestmnist")
    assert read_npz(tmp_path / "p.npz", "pneumoniamnist")["train"][1].shape == (5,)
    assert read_npz(tmp_path / "c.npz", "chestmnist")["train"][1].shape == (5, 14)


def test_corrupt_npz_errors_name_the_problem(tmp_path):
    good = write_npz(tmp_path / "g.npz", "pneumoniamnist")
    np.savez(tmp_path / "missing.npz", **{k: v for k, v in good.items() if k != "val_labels"})
    with pytest.raises(ValueError, match=r"missing keys \['val_labels'\]"):
        read_npz(tmp_path / "missing.npz", "pneumoniamnist")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="cannot read .*junk.npz.*expected an .npz with keys"):
        read_npz(tmp_path / "junk.npz", "pneumoniamnist")
    np.savez(tmp_path / "rgb.npz", **{**good, "train_images": np.zeros((5, 28, 28, 3), np.uint8)})
    with pytest.raises(ValueError, match=r"'train_images' must be uint8 of shape \(N, 28, 28\)"):
        read_npz(tmp_path / "rgb.npz", "pneumoniamnist")
    np.savez(tmp_path / "lab.npz", **{**good, "test_labels": np.zeros((4, 2), np.uint8)})
    with pytest.raises(ValueError, match=r"'test_labels' must have shape \(4, 1\)"):
        read_npz(tmp_path / "lab.npz", "pneumoniamnist")
    np.savez(tmp_path / "range.npz", **{**good, "val_labels": np.full((3, 1), 7, np.uint8)})
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        read_npz(tmp_path / "range.npz", "pneumoniamnist")


def test_a_corrupt_file_fails_the_build_with_the_same_error(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="MedMNIST .npz"):
        build("bloodmnist", data_file=tmp_path / "bad.npz", data_dir=tmp_path / "tfds")
    assert not medmnist.make_builder("bloodmnist", data_dir=tmp_path / "tfds").is_prepared()


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown MedMNIST dataset 'pathmnist'; known: bloodmnist"):
        build("pathmnist")
