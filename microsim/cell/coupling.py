"""From a microstructure analysis to cell parameters.

The voxel solve gives the microstructure factor ``M = σ_eff / σ_bulk`` of each phase
along the thickness axis; the cell model needs absolute effective conductivities.
``σ_eff,SE = M_SE · σ_SE · ε_SE^β_GB`` (grain boundaries as the parameter set's β_GB,
unless the analysis already had a grain-boundary resistance on the SE, then
``M_SE · σ_SE``), ``κ_eff = M_CAM · κ_CAM``, ``a`` = the measured CAM|SE interface
area per volume, and the volume fractions are the measured ones.
"""

from __future__ import annotations

import json
from pathlib import Path

from microsim.cell.p2d import CellResult, simulate
from microsim.cell.parameters import CellParameters, get_parameter_set
from microsim.errors import InputFileError, InvalidInputError


def _record(report: dict, phase: str, axis: int) -> dict | None:
    for record in report.get("transport", []):
        if record.get("phase") == phase and record.get("axis") == axis:
            return record
    return None


def parameters_from_report(
    report: dict | str | Path,
    params: CellParameters,
    *,
    axis: int = 0,
    cam_phase: str = "CAM",
    se_phase: str | None = None,
) -> CellParameters:
    """``params`` with σ_eff, κ_eff, ``a`` and ε taken from an ``analyze`` JSON report.

    Parameters
    ----------
    report : dict, or path of the JSON file ``microsim analyze --json`` wrote
    params : CellParameters
        Bulk properties and everything the microstructure does not give.
    axis : int
        The thickness axis of the volume (transport records along it are used).
    cam_phase, se_phase : str
        Phase names in the report (default ``CAM`` and the electrolyte's name).

    Raises
    ------
    InvalidInputError
        A report without volume fractions, without a transport record of the SE along
        ``axis``, or without the morphology's CAM|SE area when no ``area_per_volume``
        is set.
    """
    if not isinstance(report, dict):
        path = Path(report)
        try:
            report = json.loads(path.read_text())
        except FileNotFoundError:
            raise InputFileError(f"report {path} does not exist") from None
        except (OSError, ValueError) as exc:
            raise InputFileError(f"cannot read report {path}: {exc}") from None
    se, cam = se_phase or params.electrolyte, cam_phase
    fractions = report.get("volume_fractions") or {}
    if se not in fractions or cam not in fractions:
        raise InvalidInputError(f"the report has no volume fractions of {cam} and {se}")
    values: dict = {"eps_CAM": float(fractions[cam]), "eps_SE": float(fractions[se])}

    ionic = _record(report, se, axis)
    if ionic is None:
        raise InvalidInputError(f"the report has no transport result for {se} along axis {axis}; "
                                f"run analyze with --axis {axis} (or all)")
    factor = ionic["sigma_eff_S_per_m"] / ionic["sigma_bulk_S_per_m"]
    gb_in_solve = se in ((report.get("settings") or {}).get("grain_boundary_resistance_ohm_m2") or {})
    values["sigma_eff"] = factor * params.sigma_SE * (1.0 if gb_in_solve else values["eps_SE"] ** params.beta_GB)

    electronic = _record(report, cam, axis)
    if electronic is not None:
        values["kappa_eff"] = electronic["sigma_eff_S_per_m"] / electronic["sigma_bulk_S_per_m"] * params.kappa_CAM
    morphology = report.get("morphology") or {}
    areas = morphology.get("interface_area_per_volume_per_m") or {}
    area = areas.get(f"{cam}|{se}", areas.get(f"{se}|{cam}"))
    if area is not None:
        values["area_per_volume"] = float(area)
    elif params.area_per_volume is None:
        raise InvalidInputError(f"the report has no {cam}|{se} interface area (run analyze without --no-morphology)")
    if values["eps_CAM"] <= 0 or values["eps_SE"] <= 0:
        raise InvalidInputError(f"the volume has no {cam} or no {se}: {fractions}")
    return params.with_values(**values)


def energy_from_report(
    report: dict | str | Path,
    current_density: float,
    *,
    parameter_set: str = "improved",
    thickness: float | None = None,
    protocol: str = "discharge",
    axis: int = 0,
    **values,
) -> CellResult:
    """One call from an ``analyze`` report to the cell's energy.

    Parameters
    ----------
    report : dict or path of the ``analyze`` JSON report
    current_density : float [A/m^2]
    parameter_set : str
        Name or JSON file of the set giving everything the microstructure does not.
    thickness : float [m], optional
        Cathode thickness (default: the set's).
    protocol : str
    axis : int
        Thickness axis of the analysed volume.
    **values
        Further parameter overrides (SI).

    Returns
    -------
    CellResult
    """
    params = get_parameter_set(parameter_set)
    if thickness is not None:
        values["L_cat"] = thickness
    params = parameters_from_report(report, params.with_values(**values), axis=axis)
    return simulate(params, current_density, protocol=protocol)
