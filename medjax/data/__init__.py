"""Datasets for medjax: MedMNIST through TF-free tfds builders, synthetic X-rays, splits, augmentation.

>>> from medjax import data
>>> ds = data.load("synthetic_xray", "test", batch_size=100)
>>> ds.num_batches, ds.images.dtype
(5, dtype('float32'))

``load``, ``Dataset`` and the tfds builders (``medjax.data.medmnist``) load
tensorflow-datasets on first use; ``split_indices`` and the augmentation
functions need only NumPy and JAX.
"""
from __future__ import annotations

from medjax._lazy import lazy_exports

from medjax.data.augment import augment, random_flip, random_intensity, random_rotation, random_translation
from medjax.data.split import split_indices, split_sizes

_LAZY = {"load": "loader", "Dataset": "loader", "DATASETS": "loader",
         "INFO": "medmnist", "BUILDERS": "medmnist", "build": "medmnist", "cache_dir": "medmnist"}

__all__ = sorted(["augment", "random_flip", "random_intensity", "random_rotation", "random_translation",
                  "split_indices", "split_sizes", *_LAZY])


__getattr__, __dir__ = lazy_exports("medjax.data", _LAZY, __all__)
