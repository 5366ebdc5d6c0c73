"""Tests for medjax.io on the DICOM and NIfTI files that ship inside pydicom and nibabel."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pydicom
import pytest
from hypothesis import given, strategies as st
from pydicom.data import get_testdata_file

from medjax.io import WINDOWS, example_ct_slice, load_dicom, load_nifti, window


def _nibabel_file(name):
    from nibabel.testing import data_path

    path = os.path.join(data_path, name)
    if not os.path.exists(path):
        pytest.skip(f"nibabel's test file {name} is not in this installation ({data_path})")
    return path


def test_ct_is_rescaled_to_hounsfield_units():
    path = get_testdata_file("CT_small.dcm")
    hu, meta = load_dicom(path)
    raw = pydicom.dcmread(path)
    want = raw.pixel_array.astype(np.float64) * float(raw.RescaleSlope) + float(raw.RescaleIntercept)
    assert hu.shape == (128, 128) and hu.dtype == np.float32
    np.testing.assert_array_equal(hu, want.astype(np.float32))
    assert meta["RescaleIntercept"] == -1024.0 and meta["RescaleSlope"] == 1.0 and meta["Modality"] == "CT"
    assert -1100 < hu.min() < -500 and 500 < hu.max() < 3000  # air ... bone
    assert meta["PixelSpacing"] == pytest.approx((0.661468, 0.661468))


def test_metadata_is_plain_and_has_no_patient_identity():
    _, meta = load_dicom(get_testdata_file("CT_small.dcm"))
    assert not any(k.startswith("Patient") or "Date" in k for k in meta)
    for value in meta.values():
        assert isinstance(value, (int, float, str, tuple))


def test_mr_without_rescale_keeps_stored_values(tmp_path):
    path = get_testdata_file("MR_small.dcm")
    image, meta = load_dicom(path)
    np.testing.assert_array_equal(image, pydicom.dcmread(path).pixel_array.astype(np.float32))
    assert meta["Modality"] == "MR" and meta["RescaleSlope"] == 1.0 and meta["RescaleIntercept"] == 0.0


def test_a_written_slope_and_intercept_are_applied(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.RescaleSlope, ds.RescaleIntercept = 2, -100
    ds.save_as(tmp_path / "scaled.dcm")
    hu, meta = load_dicom(tmp_path / "scaled.dcm")
    np.testing.assert_array_equal(hu, ds.pixel_array.astype(np.float32) * 2 - 100)
    assert (meta["RescaleSlope"], meta["RescaleIntercept"]) == (2.0, -100.0)


def test_dicom_without_pixels_is_a_clear_error(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    del ds.PixelData
    ds.save_as(tmp_path / "empty.dcm")
    with pytest.raises(ValueError, match="load_dicom: .*empty.dcm has no image"):
        load_dicom(tmp_path / "empty.dcm")


def test_presets_are_the_documented_values():
    assert WINDOWS == {"lung": (-600, 1500), "mediastinum": (40, 400), "bone": (400, 1800), "brain": (40, 80)}


@pytest.mark.parametrize("preset", sorted(WINDOWS))
def test_window_edges_centre_and_oracle(preset):
    c, w = WINDOWS[preset]
    x = jnp.array([c - w, c - w / 2, c, c + w / 4, c + w / 2, c + w])
    np.testing.assert_allclose(np.asarray(window(x, preset)), [0, 0, 0.5, 0.75, 1, 1], atol=1e-6)
    hu, _ = load_dicom(get_testdata_file("CT_small.dcm"))
    oracle = np.clip((hu.astype(np.float64) - (c - w / 2)) / w, 0, 1)
    np.testing.assert_allclose(np.asarray(window(hu, preset)), oracle, atol=1e-6)


@given(center=st.floats(-1000, 1000), width=st.floats(1, 4000),
       values=st.lists(st.floats(-3000, 3000), min_size=16, max_size=16))
def test_window_is_monotone_and_in_unit_range(center, width, values):
    x = jnp.sort(jnp.asarray(values, jnp.float32))
    y = np.asarray(window(x, center=center, width=width))
    assert y.min() >= 0 and y.max() <= 1 and (np.diff(y) >= -1e-7).all()


def test_window_jits_and_differentiates():
    f = jax.jit(lambda x: window(x, "lung"))
    assert float(f(jnp.float32(-600.0))) == pytest.approx(0.5)
    assert float(jax.grad(lambda x: window(x, center=0.0, width=100.0))(10.0)) == pytest.approx(0.01)


def test_window_argument_errors():
    with pytest.raises(ValueError, match="'preset' must be one of 'lung', 'mediastinum', 'bone', 'brain'"):
        window(jnp.zeros(3), "liver")
    with pytest.raises(ValueError, match="not both"):
        window(jnp.zeros(3), "lung", center=0, width=10)
    with pytest.raises(ValueError, match="or both 'center' and 'width'"):
        window(jnp.zeros(3), center=0)
    with pytest.raises(ValueError, match="'width' must be > 0"):
        window(jnp.zeros(3), center=0, width=0)


def test_example_ct_slice():
    img = example_ct_slice()
    assert img.shape == (128, 128) and img.dtype == np.float32
    assert img.min() == 0.0 and img.max() == 1.0 and 0.2 < img.mean() < 0.6  # air and bone both clip
    hu, _ = load_dicom(get_testdata_file("CT_small.dcm"))
    np.testing.assert_allclose(example_ct_slice("bone"), np.asarray(window(hu, "bone")))


def test_nifti_4d_and_3d_with_affines():
    import nibabel

    path = _nibabel_file("example4d.nii.gz")
    data, affine = load_nifti(path)
    ref = nibabel.load(path)
    assert data.shape == (128, 96, 24, 2) and data.dtype == np.float32
    np.testing.assert_allclose(data, ref.get_fdata())
    assert affine.shape == (4, 4) and affine.dtype == np.float64
    np.testing.assert_allclose(affine, ref.affine)
    np.testing.assert_allclose(affine[3], [0, 0, 0, 1])
    data3, affine3 = load_nifti(_nibabel_file("anatomical.nii"))
    assert data3.shape == (33, 41, 25) and np.isfinite(data3).all() and affine3.shape == (4, 4)


def test_nifti_round_trip(tmp_path):
    import nibabel

    vol = np.random.default_rng(0).normal(size=(4, 5, 6)).astype(np.float32)
    affine = np.diag([2.0, 3.0, 4.0, 1.0])
    nibabel.save(nibabel.Nifti1Image(vol, affine), tmp_path / "v.nii.gz")
    data, aff = load_nifti(tmp_path / "v.nii.gz")
    np.testing.assert_array_equal(data, vol)
    np.testing.assert_array_equal(aff, affine)
