"""From a microstructure report to cell parameters, each with where it came from.

The voxel solve gives the microstructure factor ``M = σ_eff / σ_bulk`` of each phase
along the thickness axis; the cell model needs absolute effective conductivities:

    σ_eff,SE = M_SE · σ_SE · ε_SE^β_GB      (M_SE · σ_SE when the solve resolved the
                                             SE's grain boundaries)
    κ_eff    = M_CAM · κ_CAM

and ``a`` is the measured CAM|SE interface area per volume, the volume fractions are
the measured ones, and the CAM particle diameter is the volume-weighted median of the
CAM's local thickness. When the solve resolved the grain boundaries, β_GB becomes 0
(measured): the boundaries are inside the measured σ_eff.

Temperature: the solve runs on the set's conductivities at 298.15 K, so the measured
σ_eff and κ_eff are 298.15 K values; the cell scales them to its temperature with the
set's activation energies (:meth:`CellParameters.ionic_factor`: bulk and β_GB
grain-boundary shares apart; κ with ``Ea_kappa_CAM``). When the report carries a through-thickness ``profile`` (the
pipeline writes one with the cell), each slab gets its own fractions, area and
conductivities, by the same formulas.

Every parameter has a source: ``measured`` (from the report), ``given`` (named by the
caller: a value given beats a measured one) or ``set`` (the parameter set's). A given
value that describes the volume itself (ε_CAM, ε_SE) and contradicts the report is an
error naming both.

This is the one code path from a report to a cell: ``microsim run --cell``, ``microsim
cell --report`` and the design studies all come through :func:`coupled_parameters`.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path

from microsim.cell.parameters import CellParameters, ThicknessProfile, parameter_names
from microsim.errors import InputFileError, InvalidInputError

MEASURED, SET, GIVEN = "measured", "set", "given"
#: the parameters a report can measure
MEASURABLE = ("eps_CAM", "eps_SE", "sigma_eff", "kappa_eff", "area_per_volume", "d50_CAM")
#: how far a given volume fraction may sit from the measured one
FRACTION_TOLERANCE = 1e-6


def effective_conductivity(factor: float, bulk: float, eps_se: float = 1.0, beta_gb: float = 0.0) -> float:
    """``factor · bulk · eps_se ** beta_gb`` [S/m]: a measured microstructure factor made
    absolute, with the grain boundaries of a parameter set (β_GB) when the solve did not
    resolve them. The one place this coupling is written.

    >>> effective_conductivity(0.1, 1e-2 * 100, 0.25, 0.0)
    0.1
    """
    return factor * bulk * eps_se**beta_gb


def read_report(report: dict | str | Path) -> dict:
    """A report as a dict: given one, or read from the JSON file ``microsim run/analyze`` wrote."""
    if isinstance(report, dict):
        return report
    path = Path(report)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputFileError(f"report {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise InputFileError(f"cannot read report {path}: {exc}") from None


def _record(report: dict, phase: str, axis: int) -> dict | None:
    for record in report.get("transport") or []:
        if record.get("phase") == phase and record.get("axis") == axis:
            return record
    return None


def _factor(record: dict) -> float:
    return record["sigma_eff_S_per_m"] / record["sigma_bulk_S_per_m"]


def coupled_parameters(
    report: dict | str | Path,
    params: CellParameters,
    *,
    given: Collection[str] = (),
    axis: int = 0,
    cam_phase: str = "CAM",
    se_phase: str | None = None,
    couple_particle_size: bool = True,
) -> tuple[CellParameters, dict[str, str]]:
    """``params`` with what the report measured, and the source of every parameter.

    Parameters
    ----------
    report : dict, or path of a JSON report of ``microsim run`` / ``analyze``
    params : CellParameters
        The parameter set with the caller's values applied.
    given : names
        Parameters the caller gave explicitly: they win over the report.
    axis : int
        The thickness axis of the volume (its transport records and profile are used).
    cam_phase, se_phase : str
        Phase names in the report (default ``CAM`` and the electrolyte's name).
    couple_particle_size : bool
        Take ``d50_CAM`` from the CAM's local thickness (default); False keeps the set's.

    Returns
    -------
    (CellParameters, dict name -> "measured" | "given" | "set")

    Raises
    ------
    InvalidInputError
        A report without volume fractions or the SE's transport along ``axis``, without
        the CAM|SE area when none is given, or a given ε that contradicts the report.
    """
    report = read_report(report)
    given = set(given)
    se, cam = se_phase or params.electrolyte, cam_phase
    sources = {name: (GIVEN if name in given else SET) for name in parameter_names()}
    fractions = report.get("volume_fractions") or {}
    if se not in fractions or cam not in fractions:
        raise InvalidInputError(f"the report has no volume fractions of {cam} and {se}")
    measured_eps = {"eps_CAM": float(fractions[cam]), "eps_SE": float(fractions[se])}
    if measured_eps["eps_CAM"] <= 0 or measured_eps["eps_SE"] <= 0:
        raise InvalidInputError(f"the volume has no {cam} or no {se}: {fractions}")
    for name, value in measured_eps.items():
        if name in given and abs(getattr(params, name) - value) > FRACTION_TOLERANCE:
            raise InvalidInputError(f"{name} = {getattr(params, name):.6g} was given, but the report's volume "
                                    f"has {value:.6g}; drop one of them")
    values: dict = dict(measured_eps)

    ionic = _record(report, se, axis)
    if ionic is None:
        raise InvalidInputError(f"the report has no transport result for {se} along axis {axis}; "
                                f"run analyze with --axis {axis} (or all)")
    settings = report.get("settings") or {}
    gb_in_solve = se in (settings.get("grain_boundary_resistance_ohm_m2") or {})
    beta_gb = 0.0 if gb_in_solve else params.beta_GB
    if "sigma_eff" not in given:
        values["sigma_eff"] = effective_conductivity(_factor(ionic), params.sigma_SE, values["eps_SE"], beta_gb)
        if gb_in_solve:  # the boundaries are in the measured σ_eff: no β_GB share on top (also not with temperature)
            values["beta_GB"] = 0.0
    electronic = _record(report, cam, axis)
    if electronic is not None and "kappa_eff" not in given:
        values["kappa_eff"] = effective_conductivity(_factor(electronic), params.kappa_CAM)
    morphology = report.get("morphology") or {}
    areas = morphology.get("interface_area_per_volume_per_m") or {}
    area = areas.get(f"{cam}|{se}", areas.get(f"{se}|{cam}"))
    profile = report.get("profile")
    if profile is not None and (profile.get("axis") != axis or profile.get("cam") != cam or profile.get("se") != se):
        profile = None
    if profile is not None and area is None:
        slabs = profile["area_per_volume_per_m"]
        area = sum(slabs) / len(slabs)
    if "area_per_volume" not in given and "coverage" not in given:  # a given contact replaces the measured one
        if area is not None:
            values["area_per_volume"] = float(area)
        elif params.area_per_volume is None:
            raise InvalidInputError(f"the report has no {cam}|{se} interface area "
                                    "(run analyze without --no-morphology, or give area_per_volume)")
    thickness = (morphology.get("local_thickness") or {}).get(cam)
    if couple_particle_size and "d50_CAM" not in given and thickness and thickness.get("d50_m"):
        values["d50_CAM"] = float(thickness["d50_m"])

    for name in values:
        sources[name] = MEASURED
    coupled = params.with_values(**values)
    if profile is not None:
        coupled = coupled.with_profile(_profile(profile, coupled, given, beta_gb, electronic is not None))
        sources["profile"] = MEASURED
    return coupled, sources


def _profile(profile: dict, params: CellParameters, given: Collection[str], beta_gb: float,
             electronic: bool) -> ThicknessProfile:
    """The report's slab profile in absolute units; what was given stays scalar."""
    eps_cam, eps_se = profile["eps_CAM"], profile["eps_SE"]

    def absolute(factors, bulk, fractions, beta):
        mean = None
        out = []
        for k, f in enumerate(factors):
            if f is None:  # a slab without a potential drop: the volume's mean factor
                mean = mean if mean is not None else sum(x for x in factors if x is not None) / len(factors)
                f = mean
            out.append(effective_conductivity(f, bulk, fractions[k] if fractions else 1.0, beta))
        return tuple(out)

    sigma = None if "sigma_eff" in given else absolute(profile["sigma_factor_SE"], params.sigma_SE, eps_se, beta_gb)
    kappa = None if ("kappa_eff" in given or not electronic) else absolute(
        profile["kappa_factor_CAM"], params.kappa_CAM, None, 0.0)
    area = None if ("area_per_volume" in given or "coverage" in given) else tuple(profile["area_per_volume_per_m"])
    return ThicknessProfile(eps_CAM=tuple(eps_cam), eps_SE=tuple(eps_se), sigma_eff=sigma, kappa_eff=kappa,
                            area_per_volume=area)


def parameters_from_report(
    report: dict | str | Path,
    params: CellParameters,
    *,
    axis: int = 0,
    cam_phase: str = "CAM",
    se_phase: str | None = None,
    given: Collection[str] = (),
    couple_particle_size: bool = False,
) -> CellParameters:
    """``params`` with σ_eff, κ_eff, ``a`` and ε taken from a report (see
    :func:`coupled_parameters`, which also says where each value came from)."""
    coupled, _ = coupled_parameters(report, params, given=given, axis=axis, cam_phase=cam_phase, se_phase=se_phase,
                                    couple_particle_size=couple_particle_size)
    return coupled
