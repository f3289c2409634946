"""ParaView scripts that open a microsim ``.vti`` file with three views ready to look at.

:func:`paraview_script` returns the text of a plain ParaView Python script
(``paraview.simple``) and :func:`write_paraview_script` writes it beside the ``.vti``
as ``<stem>_paraview.py``. The script sets up one layout with

1. **phases** -- the solid phases (pores left out) coloured by the ``phase`` label,
   one colour per named phase (categorical colouring, names read from the file);
2. **potential** -- a slice through the middle of the volume, normal to the transport
   axis, coloured by the first ``potential*`` array; cells that carry no current
   (outside the solved network) are grey;
3. **current** -- streamlines of the matching ``current_density*`` vector (cell data
   interpolated to the points, ``StreamTracer`` seeded in the middle, integrated both
   ways), drawn as tubes coloured by the magnitude of the current density.

A file with labels only gets the phases view alone. Run the script from the ParaView
GUI (View > Python Shell > Run Script, or ``paraview --script=fields_paraview.py``)
to get the views, or render them to a picture without a display::

    xvfb-run -a pvbatch fields_paraview.py --screenshot fields.png [--resolution 2100x700]

The script needs nothing but ParaView's own Python (ParaView >= 5.10, no microsim, no
numpy of its own); tried with Debian's ParaView 5.11 (pvbatch, and the GUI). It finds
the ``.vti`` by its path relative to the script's own folder, so the pair can be moved
together, and falls back to the absolute path it was written with.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from microsim import __version__
from microsim.export.files import atomic_output
from microsim.reading import check_readable
from microsim.errors import InputFileError, InvalidInputError

__all__ = ["paraview_script", "write_paraview_script"]

#: the part of the script after its settings: plain ParaView Python, nothing from microsim
_BODY = r'''
import math
import os
import re
import sys

import paraview.simple
from paraview.simple import *  # noqa: F401,F403 (ParaView's scripting convention)

#: colours of phase labels 0, 1, 2, ... (then repeated)
PALETTE = [(0.78, 0.78, 0.78), (0.89, 0.35, 0.13), (0.25, 0.55, 0.85), (0.35, 0.72, 0.32),
           (0.62, 0.38, 0.72), (1.00, 0.78, 0.10), (0.65, 0.40, 0.20), (0.97, 0.55, 0.78)]
#: phase names left out of the phases view so that the solid shows in 3-D
VOID_NAMES = ("pore", "pores", "void", "voids", "porosity", "air", "vacuum", "empty")
GREY = (0.55, 0.55, 0.55)
VIEW_SIZE = 700  # pixels per view in a screenshot unless --resolution says otherwise


def command_line(argv):
    """``--screenshot OUT.png`` and ``--resolution WxH``; every other word is left to ParaView."""
    screenshot, resolution = None, None
    words = list(argv[1:])
    for at, word in enumerate(words):
        for option in ("--screenshot", "--resolution"):
            if word == option or word.startswith(option + "="):
                value = word.partition("=")[2] if "=" in word else (words[at + 1] if at + 1 < len(words) else "")
                if not value or value.startswith("--"):
                    raise SystemExit("%s needs a value, e.g. --screenshot OUT.png --resolution 2100x700" % option)
                if option == "--screenshot":
                    screenshot = value
                else:
                    size = re.fullmatch(r"\s*(\d+)\s*[xX,]\s*(\d+)\s*", value)
                    if not size or min(int(size.group(1)), int(size.group(2))) < 16:
                        raise SystemExit("--resolution needs WIDTHxHEIGHT in pixels, got %r" % value)
                    resolution = [int(size.group(1)), int(size.group(2))]
    return screenshot, resolution


def find_vti():
    """The .vti beside this script (by the relative path), else at the absolute path."""
    candidates = []
    try:
        here = os.path.dirname(os.path.abspath(__file__))
    except NameError:  # pasted into the Python shell: no __file__
        here = None
    if here is not None and VTI_RELATIVE is not None:
        candidates.append(os.path.normpath(os.path.join(here, VTI_RELATIVE)))
    candidates.append(VTI_ABSOLUTE)
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise SystemExit("cannot find the .vti file; looked for " + " and ".join(repr(p) for p in candidates))


def phase_names(path):
    """label -> name from the file's ``phase_names`` field data ("label=name" strings)."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 20).split(b"<AppendedData", 1)[0].decode("latin-1")
    found = re.search(r'<Array\b[^>]*\bName="phase_names"[^>]*>([^<]*)</Array>', head)
    try:
        codes = bytes(int(code) for code in found.group(1).split()) if found else b""
    except ValueError:  # not the ASCII codes microsim writes: no names, labels only
        return {}
    names = {}
    for word in codes.split(b"\0"):
        label, _, name = word.decode("utf-8", "replace").partition("=")
        if label.strip().lstrip("-").isdigit():
            names[int(label)] = name
    return names


def pick_arrays(names):
    """The first potential* array and the current_density* array that matches it (same
    suffix, else the first one); None where there is none."""
    potentials = [n for n in names if n.startswith("potential")]
    currents = [n for n in names if n.startswith("current_density")]
    potential = potentials[0] if potentials else None
    current = None
    if potential is not None and "current_density" + potential[len("potential"):] in currents:
        current = "current_density" + potential[len("potential"):]
    elif currents:
        current = currents[0]
    return potential, current


def transport_axis(potential, current):
    """Array axis of transport: the setting, else ``_axis<k>`` in an array name, else 0."""
    if TRANSPORT_AXIS is not None:
        return TRANSPORT_AXIS
    for name in (potential, current):
        found = re.search(r"_axis([012])$", name or "")
        if found:
            return int(found.group(1))
    return 0


def title_with_unit(name):
    if name.startswith("potential"):
        return name if name.endswith("_V") else name + " (V)"
    if name.startswith("current_density"):
        return "%s, magnitude" % name + ("" if name.endswith("_A_per_m2") else " (A/m^2)")
    return name


def new_view(title):
    view = CreateView("RenderView")
    view.OrientationAxesVisibility = 1
    view.ViewSize = [VIEW_SIZE, VIEW_SIZE]
    label = Text(registrationName="title: " + title, Text=title)
    shown = Show(label, view)
    shown.WindowLocation = "Upper Center"
    shown.FontSize = 15
    return view


def threshold(name, source, array, method, lower, upper, invert=0):
    """Cells of ``source`` whose cell array ``array`` passes; the limits are set after the
    filter exists, since its range domain resets them to the data range when it is made."""
    kept = Threshold(registrationName=name, Input=source, Scalars=["CELLS", array], ThresholdMethod=method)
    kept.LowerThreshold = lower
    kept.UpperThreshold = upper
    kept.Invert = invert
    return kept


def show_outline(source, view):
    shown = Show(source, view)
    shown.Representation = "Outline"
    ColorBy(shown, None)
    shown.AmbientColor = shown.DiffuseColor = [1.0, 1.0, 1.0]
    return shown


def oblique_camera(view, centre, diagonal):
    """Look at the box from the front right, above, with VTK z (array axis 0) up; the
    distance fits the box's bounding sphere, the focus is a little low to leave room
    for the colour bar under the box."""
    towards = [1.1, -1.6, 0.9]
    length = sum(t * t for t in towards) ** 0.5
    distance = 0.5 * diagonal / math.sin(math.radians(view.CameraViewAngle / 2.0)) * 1.12
    focus = [centre[0], centre[1], centre[2] - 0.08 * diagonal]
    view.CameraFocalPoint = focus
    view.CameraPosition = [f + distance * t / length for f, t in zip(focus, towards)]
    view.CameraViewUp = [0.0, 0.0, 1.0]
    view.CameraParallelProjection = 0
    view.CenterOfRotation = centre


def scalar_bar(lut, view, title):
    bar = GetScalarBar(lut, view)
    bar.Title = title
    bar.ComponentTitle = ""
    bar.WindowLocation = "Any Location"
    bar.Orientation = "Horizontal"
    bar.Position = [0.2, 0.05]
    bar.ScalarBarLength = 0.6
    bar.TitleFontSize = bar.LabelFontSize = 14
    bar.Visibility = 1
    return bar


def phases_view(reader, names, centre, diagonal):
    lo, hi = reader.CellData["phase"].GetRange()
    labels = sorted(set(label for label in names if lo <= label <= hi) | set(range(int(lo), int(hi) + 1)))
    view = new_view("phases")
    show_outline(reader, view)
    solid = reader
    void = [label for label, name in names.items() if name.strip().lower() in VOID_NAMES and lo <= label <= hi]
    if void and not (lo == hi and lo in void):
        for label in void:
            solid = threshold("without " + names[label], solid, "phase", "Between", label, label, invert=1)
    shown = Show(solid, view)
    shown.Representation = "Surface"
    shown.Ambient, shown.Diffuse = 0.25, 0.85  # faces turned away from the light stay readable
    ColorBy(shown, ("CELLS", "phase"))
    lut = GetColorTransferFunction("phase")
    lut.InterpretValuesAsCategories = 1
    lut.AnnotationsInitialized = 1
    annotations, colours = [], []
    for label in (label for label in labels if label not in void or solid is reader):
        annotations += [str(label), names.get(label, "label %d" % label)]
        colours += list(PALETTE[label % len(PALETTE)])
    lut.Annotations = annotations
    lut.IndexedColors = colours
    bar = scalar_bar(lut, view, "phase" + (" (%s not shown)" % ", ".join(names[v] for v in void) if void else ""))
    bar.DrawTickMarks = 0
    oblique_camera(view, centre, diagonal)
    return view


def slice_view(reader, potential, current, axis, bounds, extent, centre, diagonal):
    normal_index = 2 - axis  # VTK x, y, z = array axes 2, 1, 0
    low, high = bounds[2 * normal_index], bounds[2 * normal_index + 1]
    cells = extent[2 * normal_index + 1] - extent[2 * normal_index]
    origin = list(centre)
    origin[normal_index] = low + (cells // 2 + 0.5) * (high - low) / cells  # through voxel centres
    normal = [0.0, 0.0, 0.0]
    normal[normal_index] = 1.0
    cut = Slice(registrationName="middle slice", Input=reader)
    cut.SliceType = "Plane"
    cut.SliceType.Origin = origin
    cut.SliceType.Normal = normal
    cut.Triangulatetheslice = 0
    view = new_view("%s, slice %d of array axis %d" % (potential, cells // 2, axis))
    solved = cut
    if current is not None and '"' not in current:  # grey where no current flows (not solved)
        magnitude = Calculator(registrationName="|current density|", Input=cut, AttributeType="Cell Data",
                               ResultArrayName="current_magnitude", Function='mag("%s")' % current)
        solved = threshold("carrying current", magnitude, "current_magnitude", "Above Upper Threshold", 0.0, 1e-30)
        rest = threshold("no current", magnitude, "current_magnitude", "Above Upper Threshold", 0.0, 1e-30, invert=1)
        grey = Show(rest, view)
        ColorBy(grey, None)
        grey.AmbientColor = grey.DiffuseColor = list(GREY)
    shown = Show(solved, view)
    ColorBy(shown, ("CELLS", potential))
    lut = GetColorTransferFunction(potential)
    lut.ApplyPreset("Cool to Warm", True)
    lut.AutomaticRescaleRangeMode = "Never"
    shown.RescaleTransferFunctionToDataRange(False, True)
    scalar_bar(lut, view, title_with_unit(potential))
    up_index = 1 if normal_index == 2 else 2  # VTK y up on a z slice, else z
    across = 3 - normal_index - up_index
    up = [0.0, 0.0, 0.0]
    up[up_index] = 1.0
    height = bounds[2 * up_index + 1] - bounds[2 * up_index]
    width = bounds[2 * across + 1] - bounds[2 * across]
    scale = 0.5 * max(height, width) * 1.36  # room for the title and the colour bar
    focus = [o - 0.13 * scale * u for o, u in zip(origin, up)]
    view.CameraFocalPoint = focus
    view.CameraPosition = [f + 2.0 * diagonal * n for f, n in zip(focus, normal)]
    view.CameraViewUp = up
    view.CameraParallelProjection = 1
    view.CameraParallelScale = scale
    view.CenterOfRotation = origin
    return view


def typical_range(lines, current):
    """2nd and 98th percentiles of |current| along the streamlines (a few extreme
    voxels, e.g. at the contact face, would otherwise take the whole colour range)."""
    data = servermanager.Fetch(lines)
    values = data.GetPointData().GetArray(current) if data is not None else None
    if values is None or values.GetNumberOfTuples() == 0:
        return 0.0, 0.0
    step = max(1, values.GetNumberOfTuples() // 200000)
    magnitudes = sorted(m for m in (sum(c * c for c in values.GetTuple3(i)) ** 0.5
                                    for i in range(0, values.GetNumberOfTuples(), step)) if m > 0)
    if not magnitudes:
        return 0.0, 0.0
    return magnitudes[int(0.02 * (len(magnitudes) - 1))], magnitudes[int(0.98 * (len(magnitudes) - 1))]


def streamline_view(reader, current, centre, diagonal, smallest_span):
    view = new_view("current streamlines")
    show_outline(reader, view)
    points = CellDatatoPointData(registrationName="current at points", Input=reader)
    points.ProcessAllArrays = 0
    points.CellDataArraytoprocess = [current]
    points.PassCellData = 0
    largest = reader.CellData[current].GetRange(-1)[1]
    lines = StreamTracer(registrationName="streamlines", Input=points, SeedType="Point Cloud")
    lines.Vectors = ["POINTS", current]
    lines.IntegrationDirection = "BOTH"
    lines.IntegratorType = "Runge-Kutta 4-5"
    lines.MaximumStreamlineLength = 4.0 * diagonal
    lines.MaximumSteps = 20000
    lines.TerminalSpeed = 1e-6 * largest if largest > 0 else 1e-30
    lines.SeedType.Center = centre
    lines.SeedType.Radius = 0.5 * smallest_span
    lines.SeedType.NumberOfPoints = 400
    tubes = Tube(registrationName="tubes", Input=lines)
    tubes.Radius = 0.003 * diagonal
    tubes.NumberofSides = 8
    shown = Show(tubes, view)
    ColorBy(shown, ("POINTS", current, "Magnitude"))
    lut = GetColorTransferFunction(current)
    if not lut.ApplyPreset("Turbo", True):
        lut.ApplyPreset("Jet", True)
    lut.AutomaticRescaleRangeMode = "Never"
    bar = scalar_bar(lut, view, title_with_unit(current))
    low, high = typical_range(lines, current)
    if high > 0 and high > 20.0 * low:  # log scale: the bottlenecks and the ordinary paths both show
        lut.RescaleTransferFunction(low, high)
        lut.MapControlPointsToLogSpace()
        lut.UseLogScale = 1
        decades = range(int(math.ceil(math.log10(low))), int(math.floor(math.log10(high))) + 1)
        if len(decades) >= 2:
            bar.UseCustomLabels = 1
            bar.CustomLabels = [10.0 ** k for k in decades]
            bar.LabelFormat = "%.0e"
    elif high > 0:
        lut.RescaleTransferFunction(low, high)
    bar.RangeLabelFormat = "%.2g"
    oblique_camera(view, centre, diagonal)
    return view


def build(path):
    """Open the .vti and make the layout; return (layout, views)."""
    reader = XMLImageDataReader(registrationName=os.path.basename(path), FileName=[path])
    available = list(reader.CellArrayStatus.Available)
    if "phase" not in available:
        raise SystemExit("%s holds no 'phase' cell array; is it a microsim .vti?" % path)
    names = ARRAYS if ARRAYS is not None else available
    missing = [n for n in names if n not in available]
    if missing:
        print("not in %s: %s (left out)" % (path, ", ".join(missing)))
        names = [n for n in names if n in available]
    potential, current = pick_arrays(names)
    reader.CellArrayStatus = [n for n in ("phase", potential, current) if n is not None]
    reader.UpdatePipeline()
    if current is not None and reader.CellData[current].GetNumberOfComponents() != 3:
        current = None
    info = reader.GetDataInformation()
    bounds, extent = info.GetBounds(), info.GetExtent()
    centre = [(bounds[2 * i] + bounds[2 * i + 1]) / 2 for i in range(3)]
    spans = [bounds[2 * i + 1] - bounds[2 * i] for i in range(3)]
    diagonal = sum(s * s for s in spans) ** 0.5
    axis = transport_axis(potential, current)

    views = [phases_view(reader, phase_names(path), centre, diagonal)]
    if potential is not None:
        views.append(slice_view(reader, potential, current, axis, bounds, extent, centre, diagonal))
    if current is not None:
        views.append(streamline_view(reader, current, centre, diagonal, min(spans)))
        AddCameraLink(views[0], views[-1], "microsim 3-D views")
    layout = CreateLayout("microsim: " + os.path.basename(path))
    if len(views) == 1:
        cells = [0]
    elif len(views) == 2:
        layout.SplitHorizontal(0, 0.5)
        cells = [1, 2]
    else:
        layout.SplitHorizontal(0, 1.0 / 3.0)
        layout.SplitHorizontal(2, 0.5)
        cells = [1, 5, 6]
    for view, cell in zip(views, cells):
        AssignViewToLayout(view=view, layout=layout, hint=cell)
    return layout, views


def main(argv):
    screenshot, resolution = command_line(argv)
    keep_cameras = getattr(paraview.simple, "_DisableFirstRenderCameraReset", None)
    if keep_cameras is not None:  # the first render would refit the cameras set here (ParaView's traces do this)
        keep_cameras()
    layout, views = build(find_vti())
    for view in views:
        Render(view)
    SetActiveView(views[0])
    if screenshot is not None:
        size = resolution or [VIEW_SIZE * len(views), VIEW_SIZE]
        SaveScreenshot(screenshot, layout, ImageResolution=size)
        print("wrote %s (%dx%d)" % (screenshot, size[0], size[1]))


main(getattr(sys, "argv", None) or [""])
'''


def _check_arrays(arrays) -> list[str] | None:
    if arrays is None:
        return None
    if isinstance(arrays, (str, bytes)) or not isinstance(arrays, Sequence):
        raise InvalidInputError(f"arrays must be a sequence of cell-array names, got {arrays!r}")
    names = list(arrays)
    for name in names:
        if not isinstance(name, str) or not name.strip() or any(c in name for c in "\0\n\r\"<>&"):
            raise InvalidInputError(f"a cell-array name must be a non-empty string without quotes, line breaks "
                                    f"or XML markup, got {name!r}")
    if len(set(names)) != len(names):
        raise InvalidInputError(f"arrays names a cell array twice: {names!r}")
    return names


def _check_vti(vti_path) -> Path:
    vti = Path(vti_path)
    if vti.suffix.lower() != ".vti":
        raise InputFileError(f"a ParaView script needs a .vti file (VTK image data), got {vti.name}")
    return vti


def paraview_script(
    vti_path: str | os.PathLike,
    *,
    arrays: Sequence[str] | None = None,
    axis: int | None = None,
    script_dir: str | os.PathLike | None = None,
) -> str:
    """Text of a ParaView Python script showing the phases, a potential slice and current streamlines.

    Parameters
    ----------
    vti_path : path-like
        The ``.vti`` file written by :func:`microsim.io.write_vti` or
        :class:`microsim.io.VtiWriter` (it need not exist yet).
    arrays : sequence of str, optional
        Names of the file's cell arrays, as the writer knows them (``phase`` is
        always there). The script shows the first ``potential*`` array and the
        ``current_density*`` vector with the same suffix (else the first one). None:
        the script reads the names from the file when it runs.
    axis : {0, 1, 2}, optional
        Array axis of transport, normal to the slice. None: ``_axis<k>`` at the end
        of the potential's (or current's) name, else 0 (the cathode ASR's default
        thickness axis).
    script_dir : path-like, optional
        Folder the script will be saved in; the ``.vti`` path is stored relative to
        it. Default: the ``.vti``'s own folder.

    Returns
    -------
    str
        Python source for ParaView's ``pvpython``/``pvbatch`` or its GUI shell.

    Raises
    ------
    InputFileError
        ``vti_path`` does not end in ``.vti``.
    InvalidInputError
        ``arrays`` is not a sequence of plain names, or ``axis`` is not 0, 1 or 2.

    Notes
    -----
    VTK's x, y, z are array axes 2, 1, 0 (see :mod:`microsim.io`), so transport
    along array axis ``k`` is a slice normal to VTK axis ``2 - k``. The slice passes
    through the voxel centres of the middle layer; its colours span the potential of
    the cells that carry current. The streamlines start from 400 points in a sphere
    at the centre; their colours span the 2nd to 98th percentile of the current
    density along them, on a log scale when that is more than a factor 20 (a few
    voxels at a contact face would otherwise take the whole range). Every name is
    written into the script with ``repr``. With ``--screenshot OUT.png`` on its
    command line the script saves the layout as a picture (``--resolution WxH``,
    default 700 pixels square per view).

    Examples
    --------
    >>> text = paraview_script("fields.vti", arrays=["phase", "potential_CAM_axis0",
    ...                                              "current_density_CAM_axis0"])
    >>> "'potential_CAM_axis0'" in text
    True
    >>> compile(text, "fields_paraview.py", "exec") is not None
    True
    """
    vti = _check_vti(vti_path)
    names = _check_arrays(arrays)
    if axis is not None and (isinstance(axis, bool) or axis not in (0, 1, 2)):
        raise InvalidInputError(f"axis must be 0, 1, 2 or None, got {axis!r}")
    absolute = Path(os.path.abspath(vti))
    folder = Path(os.path.abspath(script_dir)) if script_dir is not None else absolute.parent
    try:
        relative = Path(os.path.relpath(absolute, folder)).as_posix()
    except ValueError:  # another drive (Windows): only the absolute path works
        relative = None
    head = "\n".join([
        f'"""ParaView view of {absolute.name}: phases, a potential slice and current streamlines.',
        "",
        f"Written by microsim {__version__} (microsim.export.paraview). In the ParaView GUI: View >",
        "Python Shell > Run Script, or ``paraview --script=THIS_FILE``. Without a display:",
        "``xvfb-run -a pvbatch THIS_FILE --screenshot OUT.png [--resolution 2100x700]``.",
        '"""',
        "",
        "# -- settings (edit freely) -------------------------------------------------------",
        f"VTI_RELATIVE = {relative!r}  # from this script's folder; None: use VTI_ABSOLUTE",
        f"VTI_ABSOLUTE = {str(absolute)!r}",
        f"ARRAYS = {names!r}  # the file's cell arrays; None: read them from the file",
        f"TRANSPORT_AXIS = {axis!r}  # array axis (VTK z, y, x = 0, 1, 2); None: from the array names",
    ])
    return head + "\n" + _BODY


def write_paraview_script(
    vti_path: str | os.PathLike,
    script_path: str | os.PathLike | None = None,
    *,
    force: bool = False,
    arrays: Sequence[str] | None = None,
    axis: int | None = None,
) -> Path:
    """Write the ParaView script of :func:`paraview_script` for an existing ``.vti`` file.

    Parameters
    ----------
    vti_path : path-like
        The ``.vti`` file; it must exist.
    script_path : path-like, optional
        Default: ``<stem>_paraview.py`` beside the ``.vti``.
    force : bool
        Replace an existing script.
    arrays, axis
        As in :func:`paraview_script`.

    Returns
    -------
    Path
        ``script_path``.

    Raises
    ------
    OutputExistsError
        The script exists and ``force`` is not given.
    InputFileError
        The ``.vti`` is missing, or the script's folder does not exist.
    InvalidInputError
        See :func:`paraview_script`.

    Notes
    -----
    Atomic: the script appears complete or not at all. Render it with
    ``xvfb-run -a pvbatch <script> --screenshot OUT.png``.
    """
    vti = check_readable(_check_vti(vti_path))
    target = Path(script_path) if script_path is not None else vti.with_name(f"{vti.stem}_paraview.py")
    folder = target.parent if str(target.parent) else Path(".")
    text = paraview_script(vti, arrays=arrays, axis=axis, script_dir=folder)
    with atomic_output(target, force=force) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target
