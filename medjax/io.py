"""Reading medical images: DICOM (with Hounsfield units), CT windowing, NIfTI.

CT scanners store integers; DICOM's RescaleSlope and RescaleIntercept turn
them into Hounsfield units (HU: air -1000, water 0, bone +400 and more)::

    HU = stored * RescaleSlope + RescaleIntercept

A *window* maps the HU range ``[C - W/2, C + W/2]`` linearly onto [0, 1] and
clips the rest, so the eye (or a network) sees the tissues that matter::

    window(x) = clip((x - (C - W/2)) / W, 0, 1)

Presets (centre C, width W, in HU), as used in radiology:

=============  ======  ======  ==============================
preset          C       W       shows
=============  ======  ======  ==============================
lung            -600    1500    lung parenchyma, airways
mediastinum       40     400    soft tissue, vessels, heart
bone             400    1800    cortical and trabecular bone
brain             40      80    grey and white matter
=============  ======  ======  ==============================

The DICOM and NIfTI files that ship inside pydicom and nibabel make good
examples without any download (``example_ct_slice``).
"""
from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from medjax._checks import check_choice

WINDOWS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (40.0, 400.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
}

# Non-identifying header fields returned by load_dicom (no patient names, ids or dates).
_DICOM_FIELDS = ("Modality", "Rows", "Columns", "PixelSpacing", "SliceThickness", "RescaleSlope",
                 "RescaleIntercept", "RescaleType", "WindowCenter", "WindowWidth", "BitsStored",
                 "PhotometricInterpretation", "ImageOrientationPatient", "ImagePositionPatient",
                 "BodyPartExamined", "Manufacturer")


def _plain(value: Any) -> Any:
    """A DICOM value as plain Python: numbers, strings, or tuples of them."""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return tuple(_plain(v) for v in value)
    for kind in (int, float):
        if isinstance(value, kind):
            return kind(value)
    return str(value)


def load_dicom(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, Any]]:
    """Read one DICOM image as float32 ``stored * RescaleSlope + RescaleIntercept``.

    For CT the result is in Hounsfield units; other modalities (MR) have no
    rescale and keep their own units (slope 1, intercept 0).

    Args:
      path: a DICOM file.

    Returns:
      ``(image, metadata)``: the (H, W) (or (frames, H, W)) float32 array, and
      a dict of non-identifying header fields (``Modality``, ``PixelSpacing``,
      ``RescaleSlope``, ``RescaleIntercept``, ... those present in the file).

    >>> from pydicom.data import get_testdata_file
    >>> hu, meta = load_dicom(get_testdata_file("CT_small.dcm"))
    >>> hu.shape, hu.dtype, meta["Modality"], meta["RescaleIntercept"]
    ((128, 128), dtype('float32'), 'CT', -1024.0)
    """
    import pydicom

    ds = pydicom.dcmread(os.fspath(path))
    if "PixelData" not in ds:
        raise ValueError(f"load_dicom: {os.fspath(path)} has no image (no PixelData element)")
    slope = float(ds.get("RescaleSlope", 1.0))
    intercept = float(ds.get("RescaleIntercept", 0.0))
    image = ds.pixel_array.astype(np.float32) * np.float32(slope) + np.float32(intercept)
    meta = {name: _plain(ds.get(name)) for name in _DICOM_FIELDS if ds.get(name) is not None}
    meta["RescaleSlope"], meta["RescaleIntercept"] = slope, intercept
    return image, meta


def window(image_hu: ArrayLike, preset: str | None = None, *, center: float | None = None,
           width: float | None = None) -> jax.Array:
    """Map a CT window onto [0, 1]: ``clip((x - (C - W/2)) / W, 0, 1)``.

    Give either a ``preset`` (see ``WINDOWS``: lung C=-600 W=1500,
    mediastinum C=40 W=400, bone C=400 W=1800, brain C=40 W=80) or both
    ``center`` and ``width`` (in HU, ``width > 0``).

    >>> window(jnp.array([-1000.0, 40.0, 240.0, 3000.0]), "mediastinum").round(3).tolist()
    [0.0, 0.5, 1.0, 1.0]
    >>> window(jnp.array([0.0, 50.0]), center=0, width=100).tolist()
    [0.5, 1.0]
    """
    if preset is not None:
        if center is not None or width is not None:
            raise ValueError("window: give either 'preset' or 'center' and 'width', not both")
        center, width = WINDOWS[check_choice("window", "preset", preset, tuple(WINDOWS))]
    elif center is None or width is None:
        raise ValueError(f"window: give a 'preset' (one of {', '.join(WINDOWS)}) or both 'center' and 'width'")
    if not float(width) > 0:
        raise ValueError(f"window: 'width' must be > 0, got {width!r}")
    x = jnp.asarray(image_hu, dtype=jnp.float32)
    low = float(center) - float(width) / 2.0
    return jnp.clip((x - low) / float(width), 0.0, 1.0)


def load_nifti(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a NIfTI volume (``.nii`` or ``.nii.gz``) with nibabel.

    Returns:
      ``(data, affine)``: the scaled voxel values as float32 (shape as stored,
      e.g. (X, Y, Z) or (X, Y, Z, T)), and the (4, 4) float64 affine from voxel
      indices to world (scanner RAS+) millimetres.

    >>> import os, nibabel.testing
    >>> data, affine = load_nifti(os.path.join(nibabel.testing.data_path, "anatomical.nii"))
    >>> data.shape, data.dtype, affine.shape
    ((33, 41, 25), dtype('float32'), (4, 4))
    """
    import nibabel

    image = nibabel.load(os.fspath(path))
    return np.asarray(image.get_fdata(dtype=np.float32)), np.asarray(image.affine, dtype=np.float64)


def example_ct_slice(preset: str = "mediastinum") -> np.ndarray:
    """The CT slice that ships with pydicom (``CT_small.dcm``), windowed to [0, 1].

    A real 128 x 128 CT image in Hounsfield units, good for trying kernels
    and windows without a download.

    Returns:
      (128, 128) float32 in [0, 1] (``window(load_dicom(...)[0], preset)``).

    >>> img = example_ct_slice()
    >>> img.shape, img.dtype, float(img.min()) >= 0.0, float(img.max()) <= 1.0
    ((128, 128), dtype('float32'), True, True)
    """
    from pydicom.data import get_testdata_file

    hu, _ = load_dicom(get_testdata_file("CT_small.dcm"))
    return np.asarray(window(hu, preset), dtype=np.float32)
