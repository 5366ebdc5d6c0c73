"""``load``: one call from a dataset name to float images, labels and batches.

>>> ds = load("synthetic_xray", "val")
>>> len(ds), ds.images.shape, ds.class_names, ds.class_counts
(500, (500, 28, 28, 1), ('normal', 'pneumonia'), {'normal': 250, 'pneumonia': 250})
>>> batches = load("synthetic_xray", "val", batch_size=128, drop_remainder=True)
>>> [x.shape[0] for x, y in batches]
[128, 128, 128]

Where a MedMNIST file comes from, in this order: ``data_file=``;
``$MEDJAX_DATA_DIR/<name>.npz``; an earlier download already built in the
tfds cache; the official download (only with ``download=True``). The
``synthetic_xray`` set needs no file and no tfds: its splits are
``synthetic_xray(2000, seed=0)`` (train), ``(500, seed=1)`` (val) and
``(500, seed=2)`` (test).
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medjax._checks import check_choice, check_positive_int

MEDMNIST = ("pneumoniamnist", "breastmnist", "chestmnist", "dermamnist", "bloodmnist", "organamnist")
DATASETS = (*MEDMNIST, "synthetic_xray")
SPLITS = ("train", "val", "test")
SYNTHETIC_SPLITS = {"train": (2000, 0), "val": (500, 1), "test": (500, 2)}  # split -> (n, seed)


@dataclass(eq=False)
class Dataset:
    """One split of a dataset in memory, and (with ``batch_size``) an iterator of batches.

    Attributes:
      images: (N, H, W, C) float32 in [0, 1], NHWC.
      labels: (N,) int32 class indices, or (N, K) int32 0/1 for multi-label sets.
      class_names: one name per class index (per column for multi-label).
      name, split: where the data came from.
      masks: (N, H, W, 1) float32 opacity masks (``synthetic_xray`` only), else None.
      batch_size, shuffle, seed, drop_remainder: how ``iter`` batches the data.
      epoch: the epoch the next ``for`` loop uses; every ``iter(ds)`` advances it
        by one, so ``for epoch in range(E): for x, y in ds`` reshuffles each epoch.
        ``iter_batches(epoch)`` gives the batches of any epoch without state.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    name: str
    split: str
    masks: np.ndarray | None = None
    batch_size: int | None = None
    shuffle: bool = False
    seed: int = 0
    drop_remainder: bool = False
    epoch: int = field(default=0)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, split={self.split!r}, images={self.images.shape}, "
                f"labels={self.labels.shape}, class_counts={self.class_counts}, batch_size={self.batch_size})")

    @property
    def multilabel(self) -> bool:
        return self.labels.ndim == 2

    @property
    def class_counts(self) -> dict[str, int]:
        """Images per class (positives per finding for multi-label sets)."""
        if self.multilabel:
            counts = self.labels.sum(axis=0)
        else:
            counts = np.bincount(self.labels, minlength=len(self.class_names))
        return {name: int(c) for name, c in zip(self.class_names, counts)}

    @property
    def num_batches(self) -> int:
        """Batches per epoch."""
        size = self._require_batch_size()
        return len(self) // size if self.drop_remainder else -(-len(self) // size)

    def _require_batch_size(self) -> int:
        if self.batch_size is None:
            raise TypeError(f"Dataset {self.name!r}/{self.split!r} has no batch_size: "
                            "use load(..., batch_size=32) to iterate over batches, or ds.images / ds.labels")
        return self.batch_size

    def order(self, epoch: int = 0) -> np.ndarray:
        """The image order of one epoch: ``range(N)``, or a permutation seeded by (seed, epoch)."""
        if not self.shuffle:
            return np.arange(len(self))
        return np.random.default_rng([self.seed, epoch]).permutation(len(self))

    def iter_batches(self, epoch: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """An iterator of ``(images, labels)`` batches of one epoch (the last smaller unless drop_remainder)."""
        size = self._require_batch_size()
        order = self.order(epoch)
        starts = range(0, self.num_batches * size, size)
        return ((self.images[order[i:i + size]], self.labels[order[i:i + size]]) for i in starts)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        batches = self.iter_batches(self.epoch)
        self.epoch += 1
        return batches


def load(name: str, split: str = "train", *, data_file: str | os.PathLike | None = None,
         data_dir: str | os.PathLike | None = None, batch_size: int | None = None, shuffle: bool = False,
         seed: int = 0, drop_remainder: bool = False, epoch: int = 0, download: bool = False) -> Dataset:
    """Load one split of a MedMNIST set or of ``synthetic_xray`` as float32 NHWC images.

    Args:
      name: one of ``DATASETS``.
      split: ``"train"``, ``"val"`` or ``"test"``.
      data_file: the MedMNIST ``.npz`` to use (default: ``$MEDJAX_DATA_DIR/<name>.npz``).
      data_dir: the tfds folder for the built dataset (default: a cache folder
        keyed by the file's sha256, see ``medjax.data.medmnist.build``). An
        explicit ``data_dir`` reuses whatever build of ``name`` it holds: give
        a new folder when the file changes.
      batch_size: with a size, the Dataset iterates over ``(images, labels)`` batches.
      shuffle: reshuffle every epoch, seeded by ``(seed, epoch)``.
      seed: shuffling seed (the data itself does not depend on it).
      drop_remainder: drop the last, smaller batch.
      epoch: the epoch of the first ``for`` loop.
      download: fetch the official file from zenodo when no local copy exists.

    Returns:
      A ``Dataset``; images are ``uint8 / 255`` with a channel axis added to grey sets.
    """
    check_choice("load", "name", name, DATASETS)
    check_choice("load", "split", split, SPLITS)
    if batch_size is not None:
        check_positive_int("load", "batch_size", batch_size)
    options = dict(batch_size=batch_size, shuffle=bool(shuffle), seed=int(seed),
                   drop_remainder=bool(drop_remainder), epoch=int(epoch))
    if name == "synthetic_xray":
        if data_file is not None:
            raise ValueError("load: 'synthetic_xray' is generated, it takes no data_file")
        from medjax.synthetic import synthetic_xray

        n, data_seed = SYNTHETIC_SPLITS[split]
        d = synthetic_xray(n, seed=data_seed)
        return Dataset(d["images"], d["labels"], ("normal", "pneumonia"), name, split, masks=d["masks"], **options)
    images, labels, class_names = _medmnist_arrays(name, split, data_file, data_dir, download)
    images = images.astype(np.float32) / np.float32(255.0)
    if images.ndim == 3:
        images = images[..., None]
    return Dataset(images, labels.astype(np.int32), class_names, name, split, **options)


def _medmnist_arrays(name, split, data_file, data_dir, download):
    from medjax.data import medmnist

    env = os.environ.get("MEDJAX_DATA_DIR", "")
    if data_file is not None:
        if not Path(data_file).is_file():
            raise FileNotFoundError(f"load: no file at data_file={os.fspath(data_file)!r}")
    elif env and (Path(env) / f"{name}.npz").is_file():
        data_file = Path(env) / f"{name}.npz"
    if data_file is None:
        built, folder = medmnist.is_built(name, data_dir or medmnist.cache_dir() / "zenodo")
        if not (built or download):
            where = f"$MEDJAX_DATA_DIR/{name}.npz ({Path(env) / f'{name}.npz'})" if env else \
                "$MEDJAX_DATA_DIR (not set)"
            raise FileNotFoundError(
                f"load: no local copy of {name!r}: looked for data_file= (not given), {where}, "
                f"and a downloaded build in {folder}. Set MEDJAX_DATA_DIR to the folder that "
                f"holds {name}.npz, pass data_file='.../{name}.npz', or pass download=True "
                f"to fetch {medmnist.INFO[name].url}")
    builder = medmnist.build(name, data_file=data_file, data_dir=data_dir, download=download)
    images, labels = medmnist.read_split(builder, split)
    return images, labels, medmnist.INFO[name].class_names
