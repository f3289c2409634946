"""Reading a study's table: seed statistics per point, Bruggeman fits, energy and Bruggeman plots."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from microsim.design.evaluate import CAM, SE
from microsim.design.study import lookup

#: Columns that describe a run, not a result: never averaged.
_NOT_RESULTS = {"study", "study_id", "point_id", "seed", "status", "error", "worker", "versions", "finished_utc",
                "cell_note", "seconds", "generate_seconds", "transport_seconds", "cell_seconds"}


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def summarise(rows: Sequence[dict], inputs: Sequence[str]) -> list[dict]:
    """One record per design point: its inputs, seed counts, and mean ± std of every result.

    Parameters
    ----------
    rows : rows of a results table (:func:`~microsim.design.runner.read_table`)
    inputs : input column names (the table's, e.g. ``cam_fraction``)

    Returns
    -------
    list of dict
        ``point_id``, the inputs, ``seeds_ok``, ``seeds_failed``, and for each numeric
        result column ``<column>_mean`` and ``<column>_std`` (sample standard deviation
        over the seeds, 0 with one seed). A result that is infinite in any seed (τ of a
        phase that does not percolate in one volume) has an infinite mean.
    """
    by_point: dict[str, list[dict]] = {}
    for row in rows:
        by_point.setdefault(str(row["point_id"]), []).append(row)
    out = []
    for point_id, group in by_point.items():
        ok = [r for r in group if r.get("status") == "ok"]
        record = {"point_id": point_id, **{c: group[0].get(c) for c in inputs},
                  "seeds_ok": len(ok), "seeds_failed": len(group) - len(ok)}
        columns = [c for c in group[0] if c not in _NOT_RESULTS and c not in inputs]
        for column in columns:
            values = [r[column] for r in ok if _is_number(r.get(column))]
            if not values:
                continue
            values = np.asarray(values, dtype=float)
            finite = np.all(np.isfinite(values))
            record[f"{column}_mean"] = float(values.mean()) if finite else math.inf
            record[f"{column}_std"] = float(values.std(ddof=1)) if finite and len(values) > 1 else 0.0
        out.append(record)
    return out


def summary_table(summary: Sequence[dict], columns: Sequence[str]) -> str:
    """A fixed-width table of a summary: point, the given input columns, seeds, energy
    (mean ± std) [Wh/kg], σ_eff of the cell [S/cm] and utilisation."""
    lines = [f"{'point':<14}" + "".join(f"{c:>28}" for c in columns)
             + f"{'seeds':>7}{'Wh/kg (mean ± std)':>22}{'sigma_eff [S/cm]':>18}{'utilisation':>13}"]
    for r in summary:
        head = f"{r['point_id']:<14}" + "".join(f"{r[c]!s:>28}" for c in columns) + f"{r['seeds_ok']:>7}"
        energy = r.get("specific_energy_Wh_per_kg_mean")
        if energy is None:
            lines.append(f"{head}{'failed':>22}")
            continue
        spread = f"{energy:.1f} ± {r['specific_energy_Wh_per_kg_std']:.1f}"
        lines.append(f"{head}{spread:>22}{r['sigma_eff_cell_S_per_cm_mean']:>18.3e}{r['utilisation_mean']:>13.3f}")
    return "\n".join(lines)


def bruggeman_fit(volume_fraction, factor) -> tuple[float, int]:
    """Least-squares β of ``factor = ε**β`` in log space (through the origin).

    Parameters
    ----------
    volume_fraction : array of ε in (0, 1)
    factor : array of σ_eff/σ0 (the microstructure factor)

    Returns
    -------
    (beta, n)
        The fitted exponent and the number of points used (those with ε < 1 and a
        positive factor); ``(nan, 0)`` when none is usable.

    Examples
    --------
    >>> beta, n = bruggeman_fit([0.2, 0.3, 0.5], [0.2**1.5, 0.3**1.5, 0.5**1.5])
    >>> round(beta, 12), n
    (1.5, 3)
    """
    eps, m = np.asarray(volume_fraction, dtype=float), np.asarray(factor, dtype=float)
    use = (eps > 0) & (eps < 1) & (m > 0) & np.isfinite(m)
    if not use.any():
        return math.nan, 0
    x, y = np.log(eps[use]), np.log(m[use])
    return float(x @ y / (x @ x)), int(use.sum())


def bruggeman_points(rows: Sequence[dict]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(ε, σ_eff/σ0) per phase over every ok row and reported axis."""
    out = {}
    for phase, symbol, bulk in ((SE, "sigma_eff", f"sigma_bulk_{SE}_S_per_cm"),
                                (CAM, "kappa_eff", f"kappa_bulk_{CAM}_S_per_cm")):
        eps, factor = [], []
        for row in rows:
            if row.get("status") != "ok":
                continue
            for axis in (0, 1, 2):
                value = row.get(f"{symbol}_{phase}_axis{axis}_S_per_cm")
                if _is_number(value):
                    eps.append(row[f"eps_{phase}"])
                    factor.append(value / row[bulk])
        out[phase] = (np.asarray(eps), np.asarray(factor))
    return out


def plot_energy(summary: Sequence[dict], swept: Sequence[str], path: str | Path, *, force: bool = False) -> Path:
    """Specific energy (mean ± std over seeds) against the swept variables.

    One swept number: a line with error bars. Two: a map over the two (and lines
    of the first for each value of the second). More: lines of the first swept number
    for each combination of the others.
    """
    from microsim.export.plots import pyplot, save_png

    plt = pyplot("study plots")
    columns = [lookup(name).column for name in swept]
    numeric = [c for c in columns if all(_is_number(r.get(c)) for r in summary)] or ["point_id"]
    x_col, others = numeric[0], [c for c in columns if c != numeric[0]]
    mean, std = "specific_energy_Wh_per_kg_mean", "specific_energy_Wh_per_kg_std"
    two_numbers = len(columns) == 2 and len(numeric) == 2
    fig, axes = plt.subplots(1, 2 if two_numbers else 1, figsize=(12 if two_numbers else 7, 5), squeeze=False)
    ax = axes[0, 0]
    groups: dict[tuple, list[dict]] = {}
    for r in summary:
        groups.setdefault(tuple(r.get(c) for c in others), []).append(r)
    for key, group in groups.items():
        group = sorted(group, key=lambda r: r[x_col])
        label = ", ".join(f"{c} = {v:g}" if _is_number(v) else f"{c} = {v}" for c, v in zip(others, key)) or None
        ax.errorbar([r[x_col] for r in group], [r.get(mean, np.nan) for r in group],
                    yerr=[r.get(std, 0.0) for r in group], marker="o", capsize=3, label=label)
    ax.set_xlabel(x_col)
    ax.set_ylabel("specific energy [Wh/kg] (mean ± std over seeds)")
    if any(k for k in groups if k):
        ax.legend(fontsize=8)
    if two_numbers:
        xs = sorted({r[numeric[0]] for r in summary})
        ys = sorted({r[numeric[1]] for r in summary})
        grid = np.full((len(ys), len(xs)), np.nan)
        for r in summary:
            grid[ys.index(r[numeric[1]]), xs.index(r[numeric[0]])] = r.get(mean, np.nan)
        image = axes[0, 1].imshow(grid, origin="lower", aspect="auto", cmap="viridis")
        axes[0, 1].set_xticks(range(len(xs)), [f"{x:g}" for x in xs])
        axes[0, 1].set_yticks(range(len(ys)), [f"{y:g}" for y in ys])
        axes[0, 1].set_xlabel(numeric[0])
        axes[0, 1].set_ylabel(numeric[1])
        for (i, k), value in np.ndenumerate(grid):
            if np.isfinite(value):
                axes[0, 1].text(k, i, f"{value:.0f}", ha="center", va="center", color="w", fontsize=8)
        fig.colorbar(image, ax=axes[0, 1], label="specific energy [Wh/kg]")
    protocols = sorted({str(r["protocol"]) for r in summary if r.get("protocol") not in (None, "")})
    fig.suptitle(f"design study: specific energy; protocol: {', '.join(protocols) or 'discharge'}", fontsize=10)
    return save_png(fig, path, force=force)


def plot_bruggeman(rows: Sequence[dict], path: str | Path, *, force: bool = False) -> tuple[Path, dict[str, float]]:
    """ε against σ_eff/σ0 of the SE and the CAM (every seed and axis), log-log, with the fitted β."""
    from microsim.export.plots import pyplot, save_png

    plt = pyplot("study plots")
    fig, ax = plt.subplots(figsize=(7, 5))
    fitted = {}
    for (phase, (eps, factor)), colour in zip(bruggeman_points(rows).items(), ("tab:blue", "tab:red")):
        beta, n = bruggeman_fit(eps, factor)
        fitted[phase] = beta
        use = factor > 0
        ax.loglog(eps[use], factor[use], "o", color=colour, alpha=0.6, label=f"{phase} ({n} solves)")
        if n:
            line = np.geomspace(eps[use].min() * 0.9, min(eps[use].max() * 1.1, 1.0), 50)
            ax.loglog(line, line**beta, "-", color=colour, label=f"{phase}: ε^{beta:.2f}")
    ax.set_xlabel("volume fraction ε")
    ax.set_ylabel("σ_eff / σ0 (microstructure factor)")
    ax.legend(fontsize=8)
    ax.set_title("Bruggeman fits: σ_eff = ε^β σ0")
    return save_png(fig, path, force=force), fitted
