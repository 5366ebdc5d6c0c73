"""TensorFlow-free tfds builders for six MedMNIST v2 (28 x 28) datasets.

Each builder turns the official MedMNIST ``.npz`` into an ``array_record``
tfds dataset with features ``{"image": Tensor(uint8), "label": ClassLabel}``
(ChestMNIST: ``label`` is a (14,) uint8 multi-label vector), read back with
``builder.as_data_source()``; no TensorFlow is imported, written or read.

The ``.npz`` layout is ``train_images`` (N, 28, 28) or (N, 28, 28, 3) uint8
and ``train_labels`` (N, 1) (or (N, 14) for ChestMNIST), and the same for
``val_`` and ``test_``. The source file comes from, in this order:

1. ``data_file=`` (a path to the ``.npz``);
2. ``<manual_dir>/<name>.npz`` when tfds is given a ``manual_dir``;
3. the official download ``https://zenodo.org/records/10519652/files/<name>.npz``.
   PneumoniaMNIST's size and sha256 are registered, so tfds verifies the file;
   for the other five they are not known to medjax and tfds only records them.

Built datasets live in ``cache_dir()`` (``$MEDJAX_CACHE_DIR`` or
``~/.cache/medjax/tfds``), never inside the repository.

>>> sorted(INFO)
['bloodmnist', 'breastmnist', 'chestmnist', 'dermamnist', 'organamnist', 'pneumoniamnist']
>>> INFO["breastmnist"].class_names
('malignant', 'normal, benign')
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.core.download import checksums

SPLITS = ("train", "val", "test")
ZENODO_URL = "https://zenodo.org/records/10519652/files/{name}.npz"
HOMEPAGE = "https://medmnist.com/"
CITATION = """@article{medmnistv2,
  title={MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D biomedical image classification},
  author={Yang, Jiancheng and Shi, Rui and Wei, Donglai and Liu, Zequan and Zhao, Lin and Ke, Bilian and Pfister, Hanspeter and Ni, Bingbing},
  journal={Scientific Data}, volume={10}, number={1}, pages={41}, year={2023}}"""


@dataclass(frozen=True)
class MedMNISTInfo:
    """What medjax knows about one MedMNIST dataset (from MedMNIST's ``INFO``)."""

    name: str
    class_names: tuple[str, ...]
    channels: int
    multilabel: bool
    description: str
    size_bytes: int | None = None  # of the official .npz; None = not known to medjax
    sha256: str | None = None

    @property
    def url(self) -> str:
        return ZENODO_URL.format(name=self.name)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return (28, 28) if self.channels == 1 else (28, 28, self.channels)


INFO: dict[str, MedMNISTInfo] = {info.name: info for info in (
    MedMNISTInfo("pneumoniamnist", ("normal", "pneumonia"), 1, False,
                 "Pediatric chest X-rays, pneumonia against normal (Kermany et al. 2018).",
                 4_170_669, "e1792d3f03751cb101e99f19a63b3c1941436c988665f47853417b05be250cd8"),
    MedMNISTInfo("breastmnist", ("malignant", "normal, benign"), 1, False,
                 "Breast ultrasound, malignant (0) against normal or benign (1)."),
    MedMNISTInfo("chestmnist", ("atelectasis", "cardiomegaly", "effusion", "infiltration", "mass",
                                "nodule", "pneumonia", "pneumothorax", "consolidation", "edema",
                                "emphysema", "fibrosis", "pleural", "hernia"), 1, True,
                 "NIH ChestX-ray14 frontal chest X-rays, 14 findings (multi-label)."),
    MedMNISTInfo("dermamnist", ("actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma",
                                "benign keratosis-like lesions", "dermatofibroma", "melanoma",
                                "melanocytic nevi", "vascular lesions"), 3, False,
                 "HAM10000 dermatoscopic images of pigmented skin lesions, 7 classes."),
    MedMNISTInfo("bloodmnist", ("basophil", "eosinophil", "erythroblast",
                                "immature granulocytes(myelocytes, metamyelocytes and promyelocytes)",
                                "lymphocyte", "monocyte", "neutrophil", "platelet"), 3, False,
                 "Microscope images of normal blood cells, 8 classes."),
    MedMNISTInfo("organamnist", ("bladder", "femur-left", "femur-right", "heart", "kidney-left",
                                 "kidney-right", "liver", "lung-left", "lung-right", "pancreas", "spleen"),
                 1, False, "Axial abdominal CT slices (LiTS), 11 organs."),
)}


def cache_dir() -> Path:
    """The folder for built tfds datasets: ``$MEDJAX_CACHE_DIR`` or ``~/.cache/medjax/tfds``."""
    return Path(os.environ.get("MEDJAX_CACHE_DIR") or Path.home() / ".cache" / "medjax" / "tfds")


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_npz(path: str | os.PathLike, name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read and check a MedMNIST ``.npz``: split -> (images uint8, labels).

    Labels come back as (N,) for single-label sets (the (N, 1) column is
    squeezed) and (N, 14) for ChestMNIST; anything else raises ``ValueError``
    naming the key, the expected and the given shape.
    """
    info = INFO[name]
    expected = [f"{s}_{kind}" for s in SPLITS for kind in ("images", "labels")]
    try:
        with np.load(path, allow_pickle=False) as f:
            found = sorted(f.files)
            arrays = {k: f[k] for k in expected if k in f.files}
    except Exception as exc:  # zipfile.BadZipFile, EOFError, OSError, a refused pickle (ValueError)
        raise ValueError(f"{name}: cannot read {path} as a MedMNIST .npz ({type(exc).__name__}: {exc}); "
                         f"expected an .npz with keys {expected}") from exc
    missing = [k for k in expected if k not in arrays]
    if missing:
        raise ValueError(f"{name}: {path} is not a MedMNIST .npz: missing keys {missing}; "
                         f"expected {expected}, found {found}")
    return {s: _check_split(info, s, arrays[f"{s}_images"], arrays[f"{s}_labels"]) for s in SPLITS}


def _check_split(info: MedMNISTInfo, split: str, images: np.ndarray, labels: np.ndarray):
    """Check one split's arrays against ``info``; squeeze single labels (N, 1) -> (N,)."""
    layout = ", ".join(map(str, info.image_shape))
    if images.ndim != 1 + len(info.image_shape) or images.shape[1:] != info.image_shape or images.dtype != np.uint8:
        raise ValueError(f"{info.name}: '{split}_images' must be uint8 of shape (N, {layout}), "
                         f"got {images.dtype} {images.shape}")
    n = images.shape[0]
    width = len(info.class_names) if info.multilabel else 1
    if labels.shape != (n, width):
        raise ValueError(f"{info.name}: '{split}_labels' must have shape ({n}, {width}) to match "
                         f"'{split}_images' {images.shape}, got {labels.shape}")
    top = 1 if info.multilabel else len(info.class_names) - 1
    if n and (labels.min() < 0 or labels.max() > top):
        raise ValueError(f"{info.name}: '{split}_labels' must lie in [0, {top}], "
                         f"got values from {labels.min()} to {labels.max()}")
    return images, (labels if info.multilabel else labels[:, 0])


class MedMNISTBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base builder: subclasses set ``name`` (a key of ``INFO``).

    Args:
      data_file: a local ``.npz`` to build from (no download).
      data_dir: where tfds writes the dataset (default ``cache_dir()``).
      **kwargs: passed to ``tfds.core.GeneratorBasedBuilder``.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "MedMNIST v2, 28 x 28, from the official .npz."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Put the official <name>.npz from zenodo record 10519652 in manual_dir."

    def __init__(self, *, data_file: str | os.PathLike | None = None,
                 data_dir: str | os.PathLike | None = None, **kwargs: Any):
        self._data_file = None if data_file is None else os.fspath(data_file)
        super().__init__(data_dir=os.fspath(data_dir or cache_dir()), file_format="array_record", **kwargs)

    @classmethod
    def spec(cls) -> MedMNISTInfo:
        return INFO[cls.name]

    def _info(self) -> tfds.core.DatasetInfo:
        spec = self.spec()
        if spec.multilabel:
            label = tfds.features.Tensor(shape=(len(spec.class_names),), dtype=np.uint8)
        else:
            label = tfds.features.ClassLabel(names=list(spec.class_names))
        return tfds.core.DatasetInfo(
            builder=self,
            description=spec.description,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Tensor(shape=spec.image_shape, dtype=np.uint8),
                "label": label,
            }),
            supervised_keys=("image", "label"),
            disable_shuffling=True,  # keep the .npz order: record i is image i
            homepage=HOMEPAGE,
            citation=CITATION,
            license="CC BY 4.0",
        )

    def _source_file(self, dl_manager) -> str:
        if self._data_file is not None:
            return self._data_file
        try:
            manual = Path(dl_manager.manual_dir) / f"{self.name}.npz"
        except AssertionError:  # tfds: no manual_dir, or an empty one
            manual = None
        if manual is not None and manual.exists():
            return os.fspath(manual)
        return os.fspath(dl_manager.download(self.download_url()))

    @classmethod
    def download_url(cls) -> str:
        """Where the official file is downloaded from (checked against ``url_infos`` when known)."""
        return cls.spec().url

    def _split_generators(self, dl_manager) -> dict[str, Iterator]:
        arrays = read_npz(self._source_file(dl_manager), self.name)
        return {split: self._generate_examples(*arrays[split]) for split in SPLITS}

    def _generate_examples(self, images: np.ndarray, labels: np.ndarray):
        for i in range(images.shape[0]):
            label = labels[i].astype(np.uint8) if self.spec().multilabel else int(labels[i])
            yield i, {"image": images[i], "label": label}


def _url_infos(name: str) -> dict[str, checksums.UrlInfo] | None:
    spec = INFO[name]
    if spec.sha256 is None:
        return None
    return {spec.url: checksums.UrlInfo(size=spec.size_bytes, checksum=spec.sha256, filename=f"{name}.npz")}


class PneumoniaMNIST(MedMNISTBuilder, skip_registration=True):
    """PneumoniaMNIST: 0 normal, 1 pneumonia."""
    name = "pneumoniamnist"
    url_infos = _url_infos(name)


class BreastMNIST(MedMNISTBuilder, skip_registration=True):
    """BreastMNIST: 0 malignant, 1 normal or benign."""
    name = "breastmnist"
    url_infos = _url_infos(name)


class ChestMNIST(MedMNISTBuilder, skip_registration=True):
    """ChestMNIST: 14 findings, multi-label (label is a (14,) uint8 vector)."""
    name = "chestmnist"
    url_infos = _url_infos(name)


class DermaMNIST(MedMNISTBuilder, skip_registration=True):
    """DermaMNIST: 7 skin-lesion classes, RGB."""
    name = "dermamnist"
    url_infos = _url_infos(name)


class BloodMNIST(MedMNISTBuilder, skip_registration=True):
    """BloodMNIST: 8 blood-cell classes, RGB."""
    name = "bloodmnist"
    url_infos = _url_infos(name)


class OrganAMNIST(MedMNISTBuilder, skip_registration=True):
    """OrganAMNIST: 11 abdominal organs on axial CT."""
    name = "organamnist"
    url_infos = _url_infos(name)


BUILDERS: dict[str, type[MedMNISTBuilder]] = {
    cls.name: cls for cls in (PneumoniaMNIST, BreastMNIST, ChestMNIST, DermaMNIST, BloodMNIST, OrganAMNIST)}


@contextlib.contextmanager
def quiet_tfds() -> Iterator[None]:
    """No tfds chatter: progress bars off (for good), absl/tfds logs at ERROR and above only, its prints swallowed."""
    tfds.disable_progress_bar()
    loggers = [logging.getLogger(n) for n in ("absl", "tensorflow_datasets")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def build(name: str, *, data_file: str | os.PathLike | None = None, data_dir: str | os.PathLike | None = None,
          download: bool = True, manual_dir: str | os.PathLike | None = None) -> MedMNISTBuilder:
    """Build (once) and return the prepared tfds builder of ``name``.

    With ``data_file`` and no ``data_dir``, the build goes to
    ``cache_dir() / "sha256-<first 16 hex digits of the file>"``, so two
    different files never share a cached build. Otherwise it goes to
    ``data_dir`` (default ``cache_dir() / "zenodo"``), where an existing
    build is reused as is.
    """
    if name not in BUILDERS:
        raise ValueError(f"unknown MedMNIST dataset {name!r}; known: {', '.join(sorted(BUILDERS))}")
    if data_file is not None and data_dir is None:
        data_dir = cache_dir() / f"sha256-{file_sha256(data_file)[:16]}"
    with quiet_tfds():
        builder = make_builder(name, data_file=data_file, data_dir=data_dir or cache_dir() / "zenodo")
        if not builder.is_prepared():
            if data_file is None and manual_dir is None and not download:
                raise FileNotFoundError(f"{name}: no local build in {builder.data_dir} and download=False")
            manual = None if manual_dir is None else os.fspath(manual_dir)
            builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual))
    return builder


def is_built(name: str, data_dir: str | os.PathLike) -> tuple[bool, str]:
    """Whether ``name`` is already prepared under ``data_dir``, and the folder it would be in."""
    with quiet_tfds():
        builder = make_builder(name, data_dir=data_dir)
        return builder.is_prepared(), os.fspath(builder.data_dir)


def make_builder(name: str, **kwargs: Any) -> MedMNISTBuilder:
    """The (possibly unprepared) builder of ``name``, made without tfds' log lines."""
    if name not in BUILDERS:
        raise ValueError(f"unknown MedMNIST dataset {name!r}; known: {', '.join(sorted(BUILDERS))}")
    with quiet_tfds():
        return BUILDERS[name](**kwargs)


def read_split(builder: tfds.core.DatasetBuilder, split: str) -> tuple[np.ndarray, np.ndarray]:
    """All of one split of a prepared builder as (images uint8, labels) via ``as_data_source``."""
    with quiet_tfds():
        source = builder.as_data_source(split=split)
        records = source.__getitems__(list(range(len(source))))
    spec = INFO[builder.name]
    if not records:
        width = (len(spec.class_names),) if spec.multilabel else ()
        return np.zeros((0, *spec.image_shape), np.uint8), np.zeros((0, *width), np.int64)
    return np.stack([r["image"] for r in records]), np.stack([np.asarray(r["label"]) for r in records])
