"""ParaView scripts for .vti files: the text (no ParaView needed) and a pvbatch render."""

import ast
import os
import shutil
import subprocess
import time

import numpy as np
import pytest

from microsim import Microstructure
from microsim.errors import InputFileError, InvalidInputError, OutputExistsError
from microsim.export.paraview import paraview_script, write_paraview_script
from microsim.generate import generate
from microsim.export import VtiWriter, write_vti
from microsim.transport import solve_transport

FIELDS = ["phase", "potential_CAM_axis0", "current_density_CAM_axis0"]


def _settings(text: str) -> dict:
    """The literal settings (VTI_RELATIVE, ARRAYS, ...) the script starts with."""
    values = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id.isupper():
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return values


def _helpers(text: str) -> dict:
    """The script's functions and settings, run without ParaView (its imports and its call
    of ``main`` left out)."""
    tree = ast.parse(text)
    tree.body = [node for node in tree.body
                 if isinstance(node, (ast.FunctionDef, ast.Assign))
                 or (isinstance(node, ast.Import) and all(a.name in ("math", "os", "re", "sys") for a in node.names))]
    namespace: dict = {}
    exec(compile(tree, "<paraview script>", "exec"), namespace)
    return namespace


@pytest.fixture
def micro() -> Microstructure:
    """16^3 CAM spheres (45 %) in pore; CAM percolates along axis 0."""
    return generate((16, 16, 16), {"CAM": 0.45}, 3e-6, voxel_size=1e-6, seed=7)


@pytest.fixture
def fields_vti(tmp_path, micro):
    (result,) = solve_transport(micro, {"CAM": 1.0}, axes=0, return_fields=True)
    assert result.percolating
    path = tmp_path / "fields.vti"
    with VtiWriter(path, micro) as vti:
        vti.add_result(result)
    return path


# -- the text --------------------------------------------------------------------------
def test_script_compiles_and_names_the_arrays(tmp_path):
    text = paraview_script(tmp_path / "fields.vti", arrays=FIELDS)
    compile(text, "fields_paraview.py", "exec")
    assert "from paraview.simple import *" in text
    for name in FIELDS:
        assert repr(name) in text
    settings = _settings(text)
    assert settings["ARRAYS"] == FIELDS and settings["TRANSPORT_AXIS"] is None
    assert settings["VTI_RELATIVE"] == "fields.vti"
    assert settings["VTI_ABSOLUTE"] == os.path.abspath(tmp_path / "fields.vti")
    assert "import microsim" not in text and "numpy" not in text


def test_names_are_escaped_with_repr(tmp_path):
    odd = ["phase", "potential_O'Neil\"s \\ phase_axis1", "current_density_x"]
    with pytest.raises(InvalidInputError, match="without quotes"):  # a double quote can't be in VTK XML
        paraview_script(tmp_path / "f.vti", arrays=odd)
    odd[1] = "potential_O'Neil \\ ü_axis1"
    text = paraview_script(tmp_path / "it's here" / "f'1.vti", arrays=odd, axis=2)
    compile(text, "s.py", "exec")
    settings = _settings(text)
    assert settings["ARRAYS"] == odd and settings["TRANSPORT_AXIS"] == 2
    assert settings["VTI_RELATIVE"] == "f'1.vti" and settings["VTI_ABSOLUTE"].endswith("it's here/f'1.vti")


def test_without_arrays_the_script_reads_them_from_the_file(tmp_path):
    text = paraview_script(tmp_path / "labels.vti")
    assert _settings(text)["ARRAYS"] is None


def test_vti_path_is_stored_relative_to_the_scripts_folder(tmp_path):
    text = paraview_script(tmp_path / "data" / "f.vti", script_dir=tmp_path / "views")
    assert _settings(text)["VTI_RELATIVE"] == "../data/f.vti"


def test_picking_arrays_axis_and_options_without_paraview(fields_vti):
    script = _helpers(paraview_script(fields_vti))
    pick = script["pick_arrays"]
    assert pick(FIELDS) == ("potential_CAM_axis0", "current_density_CAM_axis0")
    assert pick(["phase", "grain", "potential_CAM_axis2", "potential_LLZO_axis0", "current_density_LLZO_axis0",
                 "current_density_CAM_axis2"]) == ("potential_CAM_axis2", "current_density_CAM_axis2")
    asr = ["phase", "potential_V", "current_density_A_per_m2", "reaction_current_A_per_m3"]
    assert pick(asr) == ("potential_V", "current_density_A_per_m2")
    assert pick(["phase", "grain"]) == (None, None)
    assert script["transport_axis"]("potential_CAM_axis2", None) == 2
    assert script["transport_axis"]("potential_V", "current_density_A_per_m2") == 0
    assert script["phase_names"](str(fields_vti)) == {0: "pore", 1: "CAM", 2: "LLZO"}
    line = script["command_line"]
    assert line(["s.py"]) == (None, None)
    assert line(["s.py", "--screenshot", "out.png"]) == ("out.png", None)
    assert line(["s.py", "--resolution=900x300", "--screenshot=a b.png"]) == ("a b.png", [900, 300])
    with pytest.raises(SystemExit, match="needs a value"):
        line(["s.py", "--screenshot"])
    with pytest.raises(SystemExit, match="WIDTHxHEIGHT"):
        line(["s.py", "--screenshot", "o.png", "--resolution", "big"])


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(InputFileError, match=r"needs a \.vti file"):
        paraview_script(tmp_path / "f.vtk")
    with pytest.raises(InvalidInputError, match="sequence of cell-array names"):
        paraview_script(tmp_path / "f.vti", arrays="phase")
    with pytest.raises(InvalidInputError, match="non-empty string"):
        paraview_script(tmp_path / "f.vti", arrays=["phase", ""])
    with pytest.raises(InvalidInputError, match="non-empty string"):
        paraview_script(tmp_path / "f.vti", arrays=["phase", 3])
    with pytest.raises(InvalidInputError, match="twice"):
        paraview_script(tmp_path / "f.vti", arrays=["phase", "phase"])
    for axis in (3, -1, True, 1.5):
        with pytest.raises(InvalidInputError, match="axis must be 0, 1, 2"):
            paraview_script(tmp_path / "f.vti", axis=axis)
    with pytest.raises(InputFileError, match="does not exist"):
        write_paraview_script(tmp_path / "missing.vti")


# -- the file --------------------------------------------------------------------------
def test_write_beside_the_vti_and_refuse_to_overwrite(tmp_path, fields_vti):
    script = write_paraview_script(fields_vti, arrays=FIELDS)
    assert script == tmp_path / "fields_paraview.py"
    text = script.read_text(encoding="utf-8")
    compile(text, str(script), "exec")
    assert _settings(text)["VTI_RELATIVE"] == "fields.vti"
    with pytest.raises(OutputExistsError, match="exists already"):
        write_paraview_script(fields_vti)
    assert script.read_text(encoding="utf-8") == text  # untouched
    write_paraview_script(fields_vti, force=True)
    assert _settings(script.read_text(encoding="utf-8"))["ARRAYS"] is None
    other = write_paraview_script(fields_vti, tmp_path / "views.py", axis=1)
    assert other == tmp_path / "views.py" and _settings(other.read_text())["TRANSPORT_AXIS"] == 1
    with pytest.raises(InputFileError, match="does not exist"):
        write_paraview_script(fields_vti, tmp_path / "no" / "such" / "s.py")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fields.vti", "fields_paraview.py", "views.py"]


# -- rendered by ParaView ----------------------------------------------------------------
needs_pvbatch = pytest.mark.skipif(shutil.which("pvbatch") is None or shutil.which("xvfb-run") is None,
                                   reason="needs ParaView's pvbatch and xvfb-run on PATH")


def _render(script, png, *extra) -> str:
    """``xvfb-run -a pvbatch script --screenshot png``; the display number starts from one of
    this process's own, and a lost race for it (another X server starting) is tried again."""
    for attempt in range(6):  # a loaded machine starts Xvfb slowly: wait longer each time
        if attempt:
            time.sleep(2.0 * attempt)
        command = ["xvfb-run", "-a", "-n", str(200 + (os.getpid() * 7 + attempt * 101) % 5000),
                   "pvbatch", str(script), "--screenshot", str(png), *extra]
        run = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=script.parent)
        log = run.stdout + run.stderr
        if run.returncode == 0 or "bad X server connection" not in log:
            break
    assert run.returncode == 0, log
    return log


def _panels(png, count):
    import matplotlib.image

    image = matplotlib.image.imread(png)[..., :3]
    width = image.shape[1] // count
    return image, [image[:, k * width:(k + 1) * width] for k in range(count)]


def _colours(panel) -> int:
    return len(np.unique((panel * 255).astype(np.uint8).reshape(-1, 3), axis=0))


@needs_pvbatch
def test_pvbatch_renders_phases_potential_and_streamlines(tmp_path, fields_vti):
    script = write_paraview_script(fields_vti, arrays=FIELDS)
    log = _render(script, tmp_path / "fields.png")
    assert "wrote" in log
    image, panels = _panels(tmp_path / "fields.png", 3)
    assert image.shape[:2] == (700, 2100)
    for panel in panels:  # each view shows something beyond its background, title and colour bar
        assert _colours(panel) > 200
        assert panel.std() > 0.05
    middle = panels[1][150:550, 150:550]  # the slice: blue (low potential), red (high) and grey (no current)
    assert ((middle[..., 2] > middle[..., 0] + 0.2).mean() > 0.02 and (middle[..., 0] > middle[..., 2] + 0.2).mean()
            > 0.02)


@needs_pvbatch
def test_pvbatch_moved_pair_and_labels_only(tmp_path, micro):
    # labels only: the phases view alone; the script found by the relative path after a move
    folder = tmp_path / "first"
    folder.mkdir()
    write_vti(folder / "labels.vti", micro)
    write_paraview_script(folder / "labels.vti")
    moved = tmp_path / "moved"
    folder.rename(moved)
    _render(moved / "labels_paraview.py", tmp_path / "labels.png", "--resolution", "400x400")
    image, (panel,) = _panels(tmp_path / "labels.png", 1)
    assert image.shape[:2] == (400, 400) and _colours(panel) > 50
