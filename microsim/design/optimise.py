"""Optimisation of one or two continuous design variables with scipy.optimize.

The objective of a design is the mean over seeds of one output column of
:func:`~microsim.design.evaluate.evaluate` (specific energy by default, or e.g. the
cathode ASR to minimise). Every evaluation uses the same seeds (common random
numbers), so two nearby designs differ by their design, not by a new random
packing; what is left of the noise is the voxel resolution of the fractions.

One variable: bounded Brent search (``scipy.optimize.minimize_scalar``); two:
Nelder–Mead with bounds (``scipy.optimize.minimize``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from microsim.design.runner import run_point
from microsim.design.study import DesignPoint, lookup
from microsim.errors import InvalidInputError

log = logging.getLogger(__name__)

#: Objective of a design that could not be evaluated (every seed failed): the worst.
FAILED = math.inf


@dataclass(frozen=True)
class OptimisationResult:
    """The best design found and every evaluation on the way.

    Attributes
    ----------
    variables : tuple of str
    x : dict name -> value (SI)
    value : float
        Objective at ``x`` (mean over seeds, in the column's unit).
    objective : str
    maximise : bool
    evaluations : tuple of dict
        Per design evaluated: the variables, the objective (``value``), its seed
        standard deviation (``std``) and the rows (one per seed).
    success : bool
    message : str
    seconds : float
    """

    variables: tuple[str, ...]
    x: dict
    value: float
    objective: str
    maximise: bool
    evaluations: tuple[dict, ...]
    success: bool
    message: str
    seconds: float

    def table(self) -> list[dict]:
        """One record per evaluation: variables, objective mean and std, seeds."""
        return [{**e["x"], self.objective: e["value"], f"{self.objective}_std": e["std"], "seeds": len(e["rows"])}
                for e in self.evaluations]


def optimise(
    base: Mapping[str, object],
    bounds: Mapping[str, tuple[float, float]],
    *,
    objective: str = "specific_energy_Wh_per_kg",
    maximise: bool = True,
    seeds: Sequence[int] = (1,),
    axes: Sequence[int] = (0,),
    slabs: int = 4,
    xatol: float = 0.01,
    maxiter: int = 25,
    progress: Callable[[dict], None] | None = None,
) -> OptimisationResult:
    """Best value of one or two continuous design variables.

    Parameters
    ----------
    base : mapping variable -> value
        The design every evaluation starts from (as in a study file's sections).
    bounds : mapping variable -> (low, high)
        The one or two variables to optimise (SI values, e.g. ``cam_fraction``,
        ``cam_gradient``, ``cam_d50`` in metres, ``thickness`` in metres).
    objective : str
        An output column of :func:`~microsim.design.evaluate.evaluate`.
    maximise : bool
        Maximise (energy) or minimise (ASR) the objective.
    seeds : sequence of int
        Seeds of every evaluation (their mean is the objective).
    axes, slabs : see :class:`~microsim.design.study.Study`
    xatol : float
        Absolute tolerance on the variables.
    maxiter : int
        Most evaluations (Brent: iterations; Nelder–Mead: function evaluations).
    progress : callable(evaluation), optional
        Called after each evaluation.

    Returns
    -------
    OptimisationResult

    Raises
    ------
    InvalidInputError
        No, or more than two, variables; a non-numeric variable; empty bounds; an
        unknown objective.
    """
    from scipy import optimize

    from microsim.design.evaluate import output_columns

    names = [lookup(name).name for name in bounds]
    if not 1 <= len(names) <= 2:
        raise InvalidInputError(f"optimise one or two variables, got {len(names)}: {', '.join(names) or 'none'}")
    box = []
    for name, (lo, hi) in zip(names, bounds.values()):
        if not (isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and lo < hi):
            raise InvalidInputError(f"bounds of {name} must be two numbers low < high, got {(lo, hi)!r}")
        try:
            continuous = isinstance(lookup(name).parse((lo + hi) / 2), float)
        except InvalidInputError:
            continuous = False
        if not continuous or name in ("cam", "electrolyte", "current_collectors"):
            raise InvalidInputError(f"{name} is not a continuous variable")
        box.append((float(lo), float(hi)))
    if objective not in output_columns(tuple(axes)) or objective.endswith("_note"):
        raise InvalidInputError(f"unknown objective {objective!r}; use an output column such as "
                                f"specific_energy_Wh_per_kg or cathode_asr_ohm_cm2")
    sign = -1.0 if maximise else 1.0
    cache: dict[tuple, dict] = {}
    started = time.perf_counter()

    def evaluate(x) -> float:
        x = tuple(float(np.clip(v, lo, hi)) for v, (lo, hi) in zip(np.atleast_1d(x), box))
        key = tuple(round(v, 12) for v in x)
        if key not in cache:
            values = dict(zip(names, x))
            try:
                point = DesignPoint({**base, **values})
                rows = [run_point(point, seed, tuple(axes), slabs) for seed in seeds]
            except InvalidInputError as exc:  # a combination outside what a design allows
                rows = [{"status": "failed", "error": str(exc)}]
            ok = [r[objective] for r in rows if r["status"] == "ok"]
            value = float(np.mean(ok)) if ok else (-FAILED if maximise else FAILED)
            std = float(np.std(ok, ddof=1)) if len(ok) > 1 else 0.0
            cache[key] = {"x": values, "value": value, "std": std, "rows": rows}
            log.info("optimise %s -> %s = %.4g ± %.2g", ", ".join(f"{n} = {v:.4g}" for n, v in values.items()),
                     objective, value, std)
            if progress is not None:
                progress(cache[key])
        return sign * cache[key]["value"]

    if len(names) == 1:
        res = optimize.minimize_scalar(evaluate, bounds=box[0], method="bounded",
                                       options={"xatol": xatol, "maxiter": maxiter})
        best = (float(res.x),)
    else:
        centre = [(lo + hi) / 2 for lo, hi in box]
        res = optimize.minimize(evaluate, centre, method="Nelder-Mead", bounds=box,
                                options={"xatol": xatol, "fatol": 1e-3, "maxfev": maxiter,
                                         "initial_simplex": [centre, [box[0][0] + 0.75 * (box[0][1] - box[0][0]),
                                                                      centre[1]],
                                                             [centre[0], box[1][0] + 0.75 * (box[1][1] - box[1][0])]]})
        best = tuple(float(v) for v in res.x)
    evaluations = tuple(cache.values())
    # the best evaluated design (the optimiser's last x may not be the best one it saw)
    top = max(evaluations, key=lambda e: -sign * e["value"])
    log.info("optimiser stopped at %s: %s", ", ".join(f"{v:.4g}" for v in best), res.message)
    return OptimisationResult(tuple(names), dict(top["x"]), top["value"], objective, maximise, evaluations,
                              bool(res.success), str(res.message), time.perf_counter() - started)
