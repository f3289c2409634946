"""Reading stacks (TIFF, ImageJ, OME, slice folders, npy/npz), crop/downsample, .vti export."""

import numpy as np
import pytest
import tifffile

from microsim.errors import InputFileError, InvalidInputError, OutputExistsError
from microsim.export import write_labels, write_vti
from microsim.microstructure import Microstructure
from microsim.reading import downsample, load_microstructure, parse_crop, read_volume
from microsim.transport import solve_transport


def test_labels_round_trip_keeps_voxel_size_names_and_grains(tmp_path):
    labels = np.random.default_rng(0).integers(0, 3, (5, 6, 7)).astype(np.uint8)
    grains = np.arange(labels.size, dtype=np.int32).reshape(labels.shape)
    phases = {"pore": 0, "NMC": 1, "LLZO": 2}
    for name in ("l.tif", "l.npz"):
        write_labels(tmp_path / name, labels, phases=phases, voxel_size=(1e-8, 2e-8, 3e-8), grains=grains)
        v = read_volume(tmp_path / name)
        assert np.array_equal(v.data, labels) and np.array_equal(v.grains, grains)
        assert v.voxel_size == (1e-8, 2e-8, 3e-8) and v.phases == phases and v.is_labelled


def test_voxel_size_from_imagej_and_ome_but_not_plain_resolution(tmp_path):
    data = np.arange(4 * 5 * 6, dtype=np.uint16).reshape(4, 5, 6)
    tifffile.imwrite(tmp_path / "ij.tif", data, imagej=True, resolution=(2.0, 4.0),
                     metadata={"spacing": 0.75, "unit": "um", "axes": "ZYX"})
    assert read_volume(tmp_path / "ij.tif").voxel_size == pytest.approx((0.75e-6, 0.25e-6, 0.5e-6))
    tifffile.imwrite(tmp_path / "ome.ome.tif", data, ome=True,
                     metadata={"axes": "ZYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.2, "PhysicalSizeZ": 300,
                               "PhysicalSizeZUnit": "nm"})
    v = read_volume(tmp_path / "ome.ome.tif")
    assert v.voxel_size == pytest.approx((0.3e-6, 0.2e-6, 0.1e-6)) and np.array_equal(v.data, data)
    tifffile.imwrite(tmp_path / "plain.tif", data, resolution=(72, 72), photometric="minisblack")
    assert read_volume(tmp_path / "plain.tif").voxel_size is None  # 72 dpi is no voxel size


def test_bit_depths_and_float_stacks(tmp_path):
    for dtype in (np.uint8, np.uint16, np.int32, np.float32):
        data = (np.arange(60).reshape(3, 4, 5) % 7).astype(dtype)
        tifffile.imwrite(tmp_path / "s.tif", data, photometric="minisblack")
        assert np.array_equal(read_volume(tmp_path / "s.tif").data, data)


def test_slice_folder_sorted_naturally(tmp_path):
    folder = tmp_path / "slices"
    folder.mkdir()
    for k in (1, 2, 10, 11, 3):
        tifffile.imwrite(folder / f"img_{k}.tif", np.full((4, 5), k, np.uint16))
    v = read_volume(folder)
    assert v.data[:, 0, 0].tolist() == [1, 2, 3, 10, 11] and v.voxel_size is None
    assert read_volume(folder, crop=parse_crop("1:3,1:3,")).data.shape == (2, 2, 5)
    tifffile.imwrite(folder / "img_12.tif", np.full((4, 6), 12, np.uint16))
    with pytest.raises(InvalidInputError, match="slices differ"):
        read_volume(folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="no .tif"):
        read_volume(tmp_path / "empty")


def test_crop_and_downsample(tmp_path):
    data = np.arange(8 * 8 * 8, dtype=np.uint16).reshape(8, 8, 8)
    tifffile.imwrite(tmp_path / "u.tif", data, photometric="minisblack")  # uncompressed: memory-mapped
    v = read_volume(tmp_path / "u.tif", crop=parse_crop("2:6,0:4,4:"))
    assert np.array_equal(v.data, data[2:6, 0:4, 4:])
    grey = downsample(data.astype(float), 2, labels=False)
    assert grey.shape == (4, 4, 4) and grey[0, 0, 0] == pytest.approx(data[:2, :2, :2].mean())
    assert np.array_equal(downsample(data, 2, labels=True), data[::2, ::2, ::2])
    write_labels(tmp_path / "l.tif", (data % 3).astype(np.uint8), phases={"a": 0, "b": 1, "c": 2}, voxel_size=(1e-6,) * 3)
    m = load_microstructure(tmp_path / "l.tif", downsample_by=2)
    assert m.shape == (4, 4, 4) and m.voxel_size == (2e-6,) * 3
    for bad in ("1:2,3:4", "a:b,,", "5,,"):
        with pytest.raises(InvalidInputError, match="crop"):
            parse_crop(bad)


def test_bad_files(tmp_path):
    data = np.arange(4 * 32 * 32, dtype=np.uint16).reshape(4, 32, 32)
    tifffile.imwrite(tmp_path / "t.tif", data, photometric="minisblack")
    raw = (tmp_path / "t.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(raw[: len(raw) // 3])
    with pytest.raises((InputFileError, InvalidInputError)):
        read_volume(tmp_path / "cut.tif")
    (tmp_path / "junk.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(InputFileError, match="cannot read|damaged or truncated"):
        read_volume(tmp_path / "junk.tif")
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((3, 8, 8, 3), np.uint8), photometric="rgb")
    with pytest.raises(InvalidInputError, match="colour channels"):
        read_volume(tmp_path / "rgb.tif")
    tifffile.imwrite(tmp_path / "2d.tif", np.zeros((8, 8), np.uint8))
    with pytest.raises(InvalidInputError, match="3-D stack is needed"):
        read_volume(tmp_path / "2d.tif")
    with pytest.raises(InputFileError, match="does not exist"):
        read_volume(tmp_path / "nothing.tif")


def test_vti_read_back_with_vtk(tmp_path):
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkIOXML import vtkXMLImageDataReader

    labels = np.full((6, 5, 4), 2, np.uint8)
    labels[:, 0, :] = 0
    micro = Microstructure(labels, (1e-6, 2e-6, 3e-6), grains=np.ones(labels.shape, np.int32))
    results = solve_transport(micro, {"LLZO": 0.1}, axes=0, return_fields=True)
    path = write_vti(tmp_path / "f.vti", micro, results)
    reader = vtkXMLImageDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    image = reader.GetOutput()
    assert image.GetDimensions() == (5, 6, 7) and image.GetSpacing() == pytest.approx((3e-6, 2e-6, 1e-6))
    cells = image.GetCellData()
    assert np.array_equal(vtk_to_numpy(cells.GetArray("phase")), labels.ravel())
    assert np.array_equal(vtk_to_numpy(cells.GetArray("grain")), np.ones(labels.size))
    phi = vtk_to_numpy(cells.GetArray("potential_LLZO_axis0"))
    assert np.allclose(phi, results[0].fields.potential.ravel(), atol=1e-6)
    current = vtk_to_numpy(cells.GetArray("current_density_LLZO_axis0"))
    assert current.shape == (labels.size, 3)
    # flow along array axis 0 is VTK z: I / A = sigma_eff * 1 V / L on the conducting cells
    expected = results[0].fields.current_density[..., 0].ravel()
    assert np.allclose(current[:, 2], expected, rtol=1e-5) and np.allclose(current[:, :2], 0, atol=1e-6)
    field = image.GetFieldData()
    assert field.GetAbstractArray("spacing_unit").GetValue(0) == "m"
    with pytest.raises(OutputExistsError):
        write_vti(path, micro)
    with pytest.raises(InputFileError, match=".vti"):
        write_vti(tmp_path / "f.vtk", micro)


def test_vti_streams_arrays_over_many_blocks_and_cleans_up(tmp_path):
    import pyvista as pv

    from microsim.export import VtiWriter

    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, (80, 64, 48)).astype(np.uint8)
    micro = Microstructure(labels, (1e-6, 2e-6, 3e-6))
    vector = rng.normal(size=labels.shape + (3,))  # 3.5 MB as float32: 4 zlib blocks of 1 MiB
    with VtiWriter(tmp_path / "big.vti", micro) as vti:
        vti.add("vector", vector)
        vti.add("scalar", vector[..., 0] > 0)
    grid = pv.read(tmp_path / "big.vti")
    assert np.array_equal(grid.cell_data["phase"], labels.ravel())
    assert np.array_equal(grid.cell_data["vector"], vector[..., ::-1].astype(np.float32).reshape(-1, 3))
    assert np.array_equal(grid.cell_data["scalar"], (vector[..., 0] > 0).ravel().astype(np.float32))
    assert list(grid.field_data["voxel_size_m"]) == [1e-6, 2e-6, 3e-6]
    # an error inside the block leaves neither the file nor a spill behind
    with pytest.raises(InvalidInputError, match="expected"):
        with VtiWriter(tmp_path / "bad.vti", micro) as vti:
            vti.add("wrong", np.zeros((3, 3, 3)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.vti"]


def test_an_uncompressed_label_tiff_is_read_as_a_memory_map(tmp_path):
    from microsim.export import save_microstructure
    from microsim.microstructure import _is_mapped

    labels = np.zeros((12, 10, 8), np.uint8)
    labels[:, :5] = 2
    micro = Microstructure(labels, 1e-6)
    for compress in (True, False):
        path = save_microstructure(micro, tmp_path / f"l{compress}.tif", compress=compress)
        back = load_microstructure(path)
        assert np.array_equal(back.labels, labels) and back.voxel_size == micro.voxel_size
        assert _is_mapped(back.labels) is (not compress)
        assert back.volume_fractions() == {"pore": 0.5, "CAM": 0.0, "LLZO": 0.5}
    # a crop of a mapped file is read into memory (only the crop)
    cropped = load_microstructure(tmp_path / "lFalse.tif", crop=(slice(0, 4), slice(None), slice(None)))
    assert cropped.shape == (4, 10, 8) and not _is_mapped(cropped.labels)


# -- issue 23: import that never guesses -------------------------------------------------
def test_imagej_stack_without_spacing_is_one_unit_deep_and_says_so(tmp_path, caplog):
    # a Fiji stack of 1 µm slices at 0.2 µm pixels: ImageJ writes no spacing for a
    # slice depth of 1 unit; before issue 23 the slice depth was taken as the x pixel
    data = np.zeros((4, 5, 6), np.uint8)
    pixel = 0.2
    tifffile.imwrite(tmp_path / "fiji.tif", data, imagej=True, resolution=(1 / pixel, 1 / pixel),
                     metadata={"unit": "um", "axes": "ZYX"})
    with tifffile.TiffFile(tmp_path / "fiji.tif") as tif:
        assert "spacing" not in tif.imagej_metadata
    with caplog.at_level("WARNING", logger="microsim.reading"):
        size = read_volume(tmp_path / "fiji.tif").voxel_size
    assert size == pytest.approx((1e-6, pixel * 1e-6, pixel * 1e-6))
    (record,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "without a slice spacing" in record.getMessage() and "1 um" in record.getMessage()


@pytest.mark.parametrize("axes, shape, named", [("TYX", (4, 5, 6), "T"), ("TZYX", (3, 1, 5, 6), "T"),
                                                 ("CYX", (2, 5, 6), None)])
def test_time_series_and_other_non_spatial_axes_are_refused(tmp_path, axes, shape, named):
    tifffile.imwrite(tmp_path / "t.tif", np.zeros(shape, np.uint8), imagej=True, metadata={"axes": axes})
    with tifffile.TiffFile(tmp_path / "t.tif") as tif:
        assert named is None or named in tif.series[0].axes
    with pytest.raises(InvalidInputError, match=f"non-spatial axis {named}" if named else "colour channels"):
        read_volume(tmp_path / "t.tif")


def test_a_singleton_time_axis_is_fine(tmp_path):
    tifffile.imwrite(tmp_path / "z.tif", np.zeros((1, 4, 5, 6), np.uint8), imagej=True, metadata={"axes": "TZYX"})
    assert read_volume(tmp_path / "z.tif").data.shape == (4, 5, 6)


def _every_input_kind(tmp_path, data):
    tifffile.imwrite(tmp_path / "s.tif", data, photometric="minisblack")
    np.save(tmp_path / "s.npy", data)
    np.savez(tmp_path / "s.npz", data)
    (tmp_path / "slices").mkdir()
    for k, image in enumerate(data):
        tifffile.imwrite(tmp_path / "slices" / f"z{k}.tif", image)
    return [tmp_path / "s.tif", tmp_path / "s.npy", tmp_path / "s.npz", tmp_path / "slices"]


@pytest.mark.parametrize("text", ["35:45,5:30,", "0:10,5:30,", "0:10,,8:12", "40:,,", ",,10:", "0:4,20:,"])
def test_a_crop_outside_the_volume_is_an_error_for_every_input_kind(tmp_path, text):
    # 40 x 20 x 10: each range reaches past the end of one axis (the first one of the
    # issue, 35:45,5:30, was clipped to 5 x 15 slices)
    data = np.arange(40 * 20 * 10, dtype=np.uint16).reshape(40, 20, 10)
    crop = parse_crop(text)
    axis = next(a for a, (s, n) in enumerate(zip(crop, data.shape))
                if (s.stop is not None and s.stop > n) or (s.start is not None and s.start >= n))
    for path in _every_input_kind(tmp_path, data):
        with pytest.raises(InvalidInputError, match=f"of axis {axis} lies outside the volume"):
            read_volume(path, crop=crop)
    inside = read_volume(tmp_path / "slices", crop=parse_crop("5:9,2:20,0:10")).data
    assert np.array_equal(inside, data[5:9, 2:20, 0:10])


def test_negative_crop_bounds_are_refused(tmp_path, capsys):
    from microsim.cli import main
    from microsim.reading import check_crop

    with pytest.raises(InvalidInputError, match=">= 0"):
        check_crop(parse_crop("-5:,,"))
    path = _every_input_kind(tmp_path, np.zeros((6, 6, 6), np.uint8))[0]
    for text in ("-5:,,", "35:45,5:30,"):
        assert main(["-q", "analyze", str(path), "--voxel-size", "1um", "--sigma", "CAM=1S/m", "--crop", text]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("microsim: error: ") and "crop" in err[0]


@pytest.mark.parametrize("factor", [2, 3])
def test_labels_and_grey_values_downsample_to_the_same_whole_blocks(factor, caplog):
    shape = (11, 9, 8)
    data = np.arange(np.prod(shape), dtype=np.uint16).reshape(shape)
    whole = tuple(n // factor for n in shape)
    with caplog.at_level("INFO", logger="microsim.reading"):
        labels = downsample(data, factor, labels=True)
        grey = downsample(data, factor, labels=False)
    assert labels.shape == grey.shape == whole
    assert np.array_equal(labels, data[: whole[0] * factor:factor, : whole[1] * factor:factor, : whole[2] * factor:factor])
    last = tuple(slice((k - 1) * factor, k * factor) for k in whole)
    assert grey[-1, -1, -1] == pytest.approx(data[last].mean())
    kept = "x".join(str(k * factor) for k in whole)
    assert any(kept in r.getMessage() and "whole blocks" in r.getMessage() for r in caplog.records)


def test_grain_ids_read_from_files_are_split_into_connected_pieces(tmp_path):
    # a dense LLZO box (6, 8, 8), every voxel in a grain:
    #   id 1: a U (two arms along axis 1 joined by a bridge at the low end of axis 2): one piece
    #   id 2: two blocks with the id 3 block between them: two pieces
    # Read whole: 3 ids -> 4 grains; cropped to axis 2 from 2 the bridge is gone: 5 grains.
    from scipy import ndimage

    from microsim.export import save_microstructure
    from microsim.morphology import measure_morphology

    labels = np.full((6, 8, 8), 2, np.uint8)
    grains = np.zeros(labels.shape, np.int32)
    grains[:, 0:2, :] = grains[:, 6:8, :] = grains[:, 2:6, 0:2] = 1
    grains[0:2, 2:6, 2:] = grains[4:6, 2:6, 2:] = 2
    grains[2:4, 2:6, 2:] = 3
    for name in ("g.npz", "g.tif"):
        path = save_microstructure(Microstructure(labels, 1e-6, grains=grains), tmp_path / name)
        for crop, count in ((None, 4), ((slice(None), slice(None), slice(2, None)), 5)):
            read = read_volume(path, crop=crop).grains
            source = grains if crop is None else grains[crop]
            assert read.max() == count and np.array_equal(read > 0, source > 0)
            for gid in range(1, count + 1):
                piece = read == gid
                assert ndimage.label(piece)[1] == 1  # one face-connected piece
                assert np.unique(source[piece]).size == 1  # inside one id of the file
        micro = load_microstructure(path)
        assert micro.grains.max() == 4
        # the mean grain is the box over the 4 pieces: d = (6/pi * 384/4)^(1/3) voxels
        d = (6 / np.pi * labels.size / 4) ** (1 / 3) * 1e-6
        assert measure_morphology(micro, thickness=False).grains["mean_diameter_m"] == pytest.approx(d)
    # ids that are connected already are kept as they are in the file
    whole = np.where(grains == 1, 7, 5).astype(np.int32)
    path = save_microstructure(Microstructure(labels, 1e-6, grains=whole), tmp_path / "whole.npz")
    assert np.array_equal(read_volume(path).grains, whole)
