"""Every bad input is one clear line and exit 1, never a traceback, never silently accepted.

The cases of issue 14 (tried as a new user would), one test each, through ``main``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile

from microsim.cli import main
from microsim.export import save_microstructure
from microsim.microstructure import Microstructure

UNWRITABLE = "/proc/microsim-out"  # a folder no process may create files in, root included


def one_line(capsys, match: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("microsim: error: ")]
    assert len(errors) == 1, err
    assert "Traceback" not in "\n".join(err)
    assert match in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def labelled(tmp_path):
    labels = np.full((12, 10, 10), 2, np.uint8)
    labels[:, :, 5:] = 1
    path = tmp_path / "v.tif"
    save_microstructure(Microstructure(labels, 1e-6), path)
    return path


@pytest.fixture
def grey(tmp_path):
    rng = np.random.default_rng(0)
    data = np.where(rng.random((8, 12, 12)) < 0.5, 20, 200).astype(np.uint8) + rng.integers(0, 5, (8, 12, 12), np.uint8)
    path = tmp_path / "grey.tif"
    tifffile.imwrite(path, data, photometric="minisblack")
    return path


@pytest.fixture
def report(tmp_path, labelled):
    path = tmp_path / "r.json"
    assert main(["-q", "analyze", str(labelled), "--axis", "0", "--json", str(path)]) == 0
    return path


# -- outputs that cannot be written: refused before any work --------------------------------
@pytest.mark.parametrize("command", ["analyze", "cell", "rev", "segment", "cell-study", "demo"])
def test_output_into_an_unwritable_folder(command, labelled, grey, capsys):
    if not os.path.isdir("/proc"):
        pytest.skip("needs /proc")
    argv = {
        "analyze": ["analyze", str(labelled), "--json", f"{UNWRITABLE}/r.json"],
        "cell": ["cell", "--json", "/proc/r.json"],
        "rev": ["rev", str(labelled), "--phase", "CAM", "--csv", "/proc/rev.csv"],
        "segment": ["segment", str(grey), "--classes", "a,b", "-o", "/proc/labels.tif"],
        "cell-study": ["cell-study", "path", "--out", "/proc/study"],
        "demo": ["demo", "--out", "/proc/demo"],
    }[command]
    assert main(["-q", *argv]) == 1
    one_line(capsys, "cannot")


def test_force_onto_a_directory(labelled, tmp_path, capsys):
    (tmp_path / "d.json").mkdir()
    assert main(["-q", "analyze", str(labelled), "--json", str(tmp_path / "d.json"), "--force"]) == 1
    one_line(capsys, "it is a folder")


def test_a_file_name_too_long(labelled, tmp_path, capsys):
    assert main(["-q", "analyze", str(labelled), "--json", str(tmp_path / ("x" * 300 + ".json"))]) == 1
    one_line(capsys, "too long")


@pytest.mark.parametrize("argv, match", [
    (["run", "{grey}", "--classes", "a,b", "--voxel-size", "1um", "--json", "{grey}", "--force"], "is the input"),
    (["analyze", "{labelled}", "--json", "{labelled}", "--force"], "is the input"),
    (["cell", "--json", "{tmp}/c.json", "--curve", "{tmp}/c.json"], "same file"),
    (["cell", "--json", "{tmp}/c.json", "--curve", "{tmp}/./sub/../c.json"], "same file"),
    (["asr", "{labelled}", "--sigma", "LLZO=1S/m,CAM=1S/m", "--rct", "1ohmcm2", "--json", "{tmp}/a.vti",
      "--vti", "{tmp}/a.vti"], "same file"),
])
def test_an_output_never_replaces_an_input_or_another_output(argv, match, labelled, grey, tmp_path, capsys):
    (tmp_path / "sub").mkdir()
    before = {p: p.read_bytes() for p in (labelled, grey)}
    argv = [a.format(grey=grey, labelled=labelled, tmp=tmp_path) for a in argv]
    assert main(["-q", *argv]) == 1
    one_line(capsys, match)
    assert all(p.read_bytes() == data for p, data in before.items())  # nothing destroyed


def test_a_link_to_the_input_is_the_input(labelled, tmp_path, capsys):
    link = tmp_path / "link.tif"
    link.symlink_to(labelled)
    assert main(["-q", "analyze", str(labelled), "--json", str(link), "--force"]) == 1
    one_line(capsys, "is the input")


# -- values out of range ---------------------------------------------------------------------
@pytest.mark.parametrize("argv, match", [
    (["analyze", "{labelled}", "--voxel-size", "1e-30m"], "outside the range"),
    (["analyze", "{labelled}", "--voxel-size", ""], "voxel"),
    (["analyze", "{labelled}", "--sigma", "CAM=1e-300S/m"], "outside the range"),
    (["analyze", "{labelled}", "--sigma", "CAM=1e300S/m"], "outside the range"),
    (["analyze", "{labelled}", "--sigma", "CAM=1S/m", "--sigma", "CAM=2S/m"], "gives CAM twice"),
    (["analyze", "{labelled}", "--sigma", "CAM=1S/m,CAM=2S/m"], "gives CAM twice"),
    (["analyze", "{labelled}", "--phases", "0=pore,1=CAM,2=CAM"], "names CAM twice"),
    (["analyze", "{labelled}", "--phases", "0=pore,1=CAM,1=LLZO"], "label 1 twice"),
    (["generate", "--shape", "8,8,8", "--voxel-size", "1um", "--fractions", "CAM=0.3", "--radius", "2um",
      "--seed", "-1", "-o", "{tmp}/g.tif"], "integer >= 0"),
    (["generate", "--shape", "8,8,8", "--voxel-size", "1um", "--fractions", "CAM=0.3,CAM=0.4", "--radius", "2um",
      "-o", "{tmp}/g.tif"], "gives CAM twice"),
    (["generate", "--shape", "5000,5000,5000", "--voxel-size", "1um", "--fractions", "CAM=0.3", "--radius", "2um",
      "-o", "{tmp}/g.tif"], "GiB are available"),
    (["rev", "{labelled}", "--phase", "CAM", "--seed", "-3"], "integer >= 0"),
    (["segment", "{grey}", "--classes", "a,b", "--thresholds", "nan", "-o", "{tmp}/s.tif"], "finite number"),
    (["segment", "{grey}", "--classes", "a,b", "--thresholds", "1000", "-o", "{tmp}/s.tif"], "outside the grey range"),
    (["segment", "{grey}", "--classes", "a,b", "--thresholds", "5", "-o", "{tmp}/s.tif"], "outside the grey range"),
    (["segment", "{grey}", "--classes", "a,b", "--min-size", "-2", "-o", "{tmp}/s.tif"], "integer >= 0"),
    (["segment", "{grey}", "--classes", "a,a", "-o", "{tmp}/s.tif"], "names a class twice"),
    (["segment", "{grey}", "--classes", "a,b", "--crop=-4:,,", "-o", "{tmp}/s.tif"], "indices >= 0"),
    (["segment", "{grey}", "--classes", "a,b", "--crop", "0:100,,", "-o", "{tmp}/s.tif"], "outside the volume"),
    (["segment", "{grey}", "--classes", "a,b", "--crop", ",,5:40", "-o", "{tmp}/s.tif"], "outside the volume"),
    (["cell", "--axis", "5"], "invalid choice"),
    (["cell", "--axis", "1"], "give --report"),
    (["cell", "--param", "R_CT=1ohmcm2", "--param", "R_CT=2ohmcm2"], "gives R_CT twice"),
    (["cell", "--thickness", "50um", "--param", "L_cat=60um"], "given twice"),
    (["run", "{labelled}", "--thickness", "50um"], "give --cell SET"),
])
def test_values_out_of_range_are_one_line(argv, match, labelled, grey, tmp_path, capsys):
    argv = [a.format(grey=grey, labelled=labelled, tmp=tmp_path) for a in argv]
    assert main(["-q", *argv]) == 1
    one_line(capsys, match)
    assert not list(tmp_path.glob("g.tif")) and not list(tmp_path.glob("s.tif"))


# -- files that are not what they say -----------------------------------------------------------
def test_a_tiff_with_zero_pages(tmp_path, capsys):
    path = tmp_path / "zero.tif"
    path.write_bytes(b"II*\x00\x00\x00\x00\x00")
    assert main(["-q", "analyze", str(path), "--voxel-size", "1um"]) == 1
    one_line(capsys, "no pages")


@pytest.mark.parametrize("keep", [0.5, 0.1, 4 / 2000])
def test_a_truncated_tiff_is_one_line(tmp_path, capsys, keep):
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, np.zeros((6, 32, 32), np.uint16), photometric="minisblack")
    data = good.read_bytes()
    bad = tmp_path / "bad.tif"
    bad.write_bytes(data[: max(4, int(len(data) * keep))])
    assert main(["-q", "analyze", str(bad), "--voxel-size", "1um"]) == 1
    one_line(capsys, "bad.tif")


@pytest.mark.parametrize("shape", [(4, 4, 4), (3, 5, 6), (5, 3, 4), (1, 4, 3), (6, 4, 1), (2, 3, 4)])
def test_what_microsim_writes_it_reads_back(tmp_path, shape):
    # labelled TIFFs are single-channel stacks (axes ZYX) whatever their shape: a last
    # (or first) axis of 3 or 4 voxels is never taken for colour channels
    from microsim.reading import load_microstructure

    labels = (np.arange(np.prod(shape)) % 3).reshape(shape).astype(np.uint8)
    micro = Microstructure(labels, (1e-6, 2e-6, 3e-6))
    save_microstructure(micro, tmp_path / "m.tif")
    back = load_microstructure(tmp_path / "m.tif")
    assert back.shape == shape and np.array_equal(back.labels, labels) and back.voxel_size == micro.voxel_size


def test_cell_report_that_is_not_json(tmp_path, capsys):
    path = tmp_path / "r.json"
    path.write_text("{ not json")
    assert main(["-q", "cell", "--report", str(path)]) == 1
    one_line(capsys, "cannot read report")


def test_cell_report_contradicting_a_given_fraction(report, capsys):
    assert main(["-q", "cell", "--report", str(report), "--param", "eps_CAM=0.7"]) == 1
    one_line(capsys, "was given, but the report's volume has 0.5")


def test_nothing_is_written_when_a_later_output_is_refused(labelled, tmp_path, capsys):
    (tmp_path / "f.png").write_text("there already")
    assert main(["-q", "run", str(labelled), "--json", str(tmp_path / "r.json"), "--png", str(tmp_path / "f.png")]) == 1
    one_line(capsys, "exists already; pass --force")
    assert not (tmp_path / "r.json").exists()
