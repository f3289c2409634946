import json

import numpy as np
import pytest
import tifffile

from microsim import Microstructure, load_microstructure, save_microstructure
from microsim.errors import InputFileError, InvalidMicrostructureError, OutputExistsError


def test_valid_microstructure_is_read_only_and_measured():
    labels = np.zeros((4, 5, 6), np.uint8)
    labels[:2] = 2
    m = Microstructure(labels, (1e-6, 2e-6, 3e-6))
    assert m.shape == (4, 5, 6)
    assert m.size_m == pytest.approx((4e-6, 10e-6, 18e-6))
    assert m.volume_fractions() == pytest.approx({"pore": 0.5, "CAM": 0.0, "LLZO": 0.5})
    with pytest.raises(ValueError):
        m.labels[0, 0, 0] = 1
    labels[0, 0, 0] = 1  # the caller's array is not shared
    assert m.labels[0, 0, 0] == 2


@pytest.mark.parametrize(
    "labels, match",
    [
        (np.zeros((4, 4), np.uint8), "3-D array"),
        (np.zeros((4, 4, 4), float), "must be integers"),
        (np.full((4, 4, 4), np.nan), "NaN"),
        (-np.ones((4, 4, 4), np.int16), ">= 0"),
        (np.full((4, 4, 4), 7, np.uint8), r"label\(s\) \[7\] have no phase name"),
        (np.zeros((0, 4, 4), np.uint8), "empty"),
    ],
)
def test_bad_labels(labels, match):
    with pytest.raises(InvalidMicrostructureError, match=match):
        Microstructure(labels, 1e-6)


@pytest.mark.parametrize("size", [0.0, -1e-6, np.nan, np.inf, (1e-6, 1e-6), "abc", 0.5])
def test_bad_voxel_size(size):
    with pytest.raises(InvalidMicrostructureError, match="voxel size"):
        Microstructure(np.zeros((2, 2, 2), np.uint8), size)


def test_bad_phase_tables_and_grains():
    labels = np.zeros((2, 2, 2), np.uint8)
    with pytest.raises(InvalidMicrostructureError, match="share a label"):
        Microstructure(labels, 1e-6, {"pore": 0, "void": 0})
    with pytest.raises(InvalidMicrostructureError, match="label >= 0"):
        Microstructure(labels, 1e-6, {"pore": -1})
    with pytest.raises(InvalidMicrostructureError, match="grains shape"):
        Microstructure(labels, 1e-6, grains=np.zeros((3, 2, 2), np.int32))
    with pytest.raises(InvalidMicrostructureError, match="unknown phase 'SE'"):
        Microstructure(labels, 1e-6).label_of("SE")


@pytest.mark.parametrize("suffix", [".tif", ".npz"])
def test_round_trip_keeps_voxel_size_phases_and_grains(tmp_path, suffix):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (5, 6, 7)).astype(np.uint8)
    # ids in random order, one voxel each (every grain connected: a grain read from a file
    # that covers several pieces is split into them, tests/test_io.py)
    grains = (rng.permutation(labels.size) + 1).reshape(labels.shape).astype(np.int32)
    m = Microstructure(labels, (1e-8, 1e-8, 2e-8), {"void": 0, "NMC": 1, "SE": 2}, grains)
    path = save_microstructure(m, tmp_path / f"m{suffix}")
    back = load_microstructure(path)
    assert np.array_equal(back.labels, labels)
    assert np.array_equal(back.grains, grains)
    assert back.voxel_size == pytest.approx(m.voxel_size, rel=1e-15)
    assert dict(back.phases) == {"void": 0, "NMC": 1, "SE": 2}
    override = load_microstructure(path, voxel_size=4e-7)
    assert override.voxel_size == (4e-7,) * 3


def test_save_is_atomic_and_never_clobbers(tmp_path):
    m = Microstructure(np.ones((3, 3, 3), np.uint8), 1e-6)
    path = save_microstructure(m, tmp_path / "m.tif")
    with pytest.raises(OutputExistsError, match="--force"):
        save_microstructure(m, path)
    save_microstructure(m, path, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tif"]
    with pytest.raises(InputFileError, match="use .tif"):
        save_microstructure(m, tmp_path / "m.png")


def test_plain_files_need_a_voxel_size(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((3, 3, 3), np.uint8))
    with pytest.raises(InvalidMicrostructureError, match="does not store a voxel size"):
        load_microstructure(tmp_path / "a.npy")
    m = load_microstructure(tmp_path / "a.npy", voxel_size=1e-6)
    assert m.volume_fraction("CAM") == 1.0
    tifffile.imwrite(tmp_path / "plain.tif", np.ones((3, 3, 3), np.uint8), photometric="minisblack")
    with pytest.raises(InvalidMicrostructureError, match="does not store a voxel size"):
        load_microstructure(tmp_path / "plain.tif")


def test_imagej_spacing_is_read(tmp_path):
    labels = np.ones((3, 4, 5), np.uint8)
    tifffile.imwrite(
        tmp_path / "ij.tif", labels, imagej=True, resolution=(1 / 0.01, 1 / 0.01),
        metadata={"spacing": 0.02, "unit": "um", "axes": "ZYX"},
    )
    m = load_microstructure(tmp_path / "ij.tif")
    assert m.voxel_size == pytest.approx((2e-8, 1e-8, 1e-8))


def test_unreadable_inputs(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        load_microstructure(tmp_path / "missing.tif")
    (tmp_path / "bad.tif").write_bytes(b"not a tiff")
    with pytest.raises(InputFileError, match="cannot read"):
        load_microstructure(tmp_path / "bad.tif", voxel_size=1e-6)
    (tmp_path / "x.raw").write_bytes(b"\0" * 8)
    with pytest.raises(InputFileError, match="expected a .tif"):
        load_microstructure(tmp_path / "x.raw", voxel_size=1e-6)
    np.savez(tmp_path / "two.npz", a=np.ones((2, 2, 2)), b=np.ones((2, 2, 2)))
    with pytest.raises(InputFileError, match="expected one array"):
        load_microstructure(tmp_path / "two.npz", voxel_size=1e-6)


def test_metadata_is_json_ready():
    m = Microstructure(np.ones((2, 2, 2), np.uint8), 1e-6)
    assert json.loads(json.dumps(m.metadata()))["voxel_size_m"] == [1e-6] * 3
