"""Writing (the export stage): JSON reports, CSV tables, labelled volumes, ParaView
files and pictures. Every writer is atomic and refuses to overwrite without ``force``;
:func:`check_outputs` checks all of a command's outputs before any work."""

from microsim.export.files import atomic_output, check_output, check_outputs
from microsim.export.labels import save_microstructure, write_labels
from microsim.export.plots import pyplot, save_png, write_slice_png
from microsim.export.report import report_json, software_versions, write_report
from microsim.export.tables import write_csv
from microsim.export.vti import VtiWriter, write_vti

__all__ = [
    "VtiWriter",
    "atomic_output",
    "check_output",
    "check_outputs",
    "pyplot",
    "report_json",
    "save_microstructure",
    "save_png",
    "software_versions",
    "write_csv",
    "write_labels",
    "write_report",
    "write_slice_png",
    "write_vti",
]
