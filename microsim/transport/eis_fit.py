"""Analysis of impedance spectra: equivalent-circuit fit, Kramers–Kronig check, DRT.

Functions of a spectrum alone, ``(frequencies [Hz], Z [Ω·m²])``, whatever computed it:

* :func:`fit_circuit`: ``R_s + R_bulk ∥ C + R_k ∥ CPE_k (+ C_el in series)`` by
  nonlinear least squares (scipy.optimize.least_squares), each residual relative to |Z|;
* :func:`kramers_kronig`: the linear Kramers–Kronig test (Boukamp, J. Electrochem. Soc.
  142 (1995) 1885, doi:10.1149/1.2044210; Schönleber, Klotz, Ivers-Tiffée,
  Electrochim. Acta 131 (2014) 20, doi:10.1016/j.electacta.2014.01.034): a Voigt series on
  fixed time constants, fitted linearly; its residuals are small only for a linear,
  causal, stable spectrum;
* :func:`relaxation_times`: a distribution of relaxation times by Tikhonov-regularised
  non-negative least squares (scipy.optimize.nnls on the augmented system), with its peaks.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
from scipy import optimize

from microsim.errors import InvalidInputError

#: Ω·cm² per Ω·m², F/cm² per F/m²
_CM2 = 1e4
_PER_CM2 = 1e-4


def _spectrum(frequencies, impedance, minimum: int) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(frequencies, float)
    z = np.asarray(impedance, complex)
    if f.shape != z.shape or f.ndim != 1:
        raise InvalidInputError(f"frequencies and impedances must be two 1-D arrays of one length, got {f.shape} "
                                f"and {z.shape}")
    if f.size < minimum:
        raise InvalidInputError(f"needs at least {minimum} frequencies, got {f.size}")
    if not (np.all(np.isfinite(f)) and np.all(f > 0) and np.all(np.isfinite(z))):
        raise InvalidInputError("needs finite impedances at finite frequencies > 0")
    if len(np.unique(f)) != f.size:
        raise InvalidInputError("the frequencies must differ")
    return f, z


# -- equivalent circuit -------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ArcFit:
    """One parallel element: ``R ∥ C`` (``n = 1``) or ``R ∥ CPE`` with ``Z_CPE = 1/(Q (iω)^n)``.

    ``resistance`` [Ω·m²], ``q`` [F s^(n-1)/m²], ``capacitance`` [F/m²] the effective
    ``(Q R^(1-n))^(1/n)`` (Hsu & Mansfeld, Corrosion 57 (2001) 747, doi:10.5006/1.3280607),
    ``time_constant`` = R C [s].
    """

    name: str
    resistance: float
    q: float
    n: float

    @property
    def capacitance(self) -> float:
        return (self.q * self.resistance ** (1 - self.n)) ** (1 / self.n)

    @property
    def time_constant(self) -> float:
        return self.resistance * self.capacitance


@dataclasses.dataclass(frozen=True)
class CircuitFit:
    """Result of :func:`fit_circuit`: the arcs (fastest first), the series R [Ω·m²], the
    series capacitance [F/m²] (None: not in the model) and the rms of the residuals
    relative to |Z|."""

    arcs: tuple[ArcFit, ...]
    series_resistance: float
    series_capacitance: float | None
    relative_rms_residual: float

    @property
    def model(self) -> str:
        parts = ["R_s"] + [f"R_{a.name}||{'C' if a.name == 'bulk' else 'CPE'}" for a in self.arcs]
        return " + ".join(parts + (["C_el"] if self.series_capacitance is not None else []))

    def impedance(self, frequencies) -> np.ndarray:
        """The fitted circuit's impedance [Ω·m²] at ``frequencies`` [Hz]."""
        return _circuit(2 * np.pi * np.asarray(frequencies, float), self.series_resistance,
                        [(a.resistance, a.q, a.n) for a in self.arcs], self.series_capacitance)

    def to_dict(self) -> dict:
        out = {"model": self.model, "R_s_ohm_cm2": self.series_resistance * _CM2}
        for a in self.arcs:
            out[f"R_{a.name}_ohm_cm2"] = a.resistance * _CM2
            out[f"C_{a.name}_F_per_cm2"] = a.capacitance * _PER_CM2
            if a.name != "bulk":
                out[f"Q_{a.name}_F_s^(n-1)_per_cm2"] = a.q * _PER_CM2
                out[f"n_{a.name}"] = a.n
            out[f"tau_{a.name}_s"] = a.time_constant
        if self.series_capacitance is not None:
            out["C_el_F_per_cm2"] = self.series_capacitance * _PER_CM2
        out["relative_rms_residual"] = self.relative_rms_residual
        return out


def _circuit(omega, r_s, arcs, c_series):
    z = np.full(omega.shape, complex(r_s))
    for r, q, n in arcs:
        z = z + r / (1 + r * q * (1j * omega) ** n)
    if c_series is not None:
        z = z + 1 / (1j * omega * c_series)
    return z


def fit_circuit(frequencies, impedance, arcs: Sequence[tuple[str, float, bool]], *,
                series_capacitance: bool = False) -> CircuitFit:
    """Fit ``R_s + Σ R_k ∥ (C or CPE)_k (+ C_el)`` to a spectrum.

    Parameters
    ----------
    frequencies : (m,) float ndarray [Hz]
    impedance : (m,) complex ndarray [Ω·m²]
    arcs : sequence of (name, time constant guess [s], ideal)
        One parallel element each; ``ideal`` means a capacitor (n = 1), else a CPE.
        The guesses of the time constants start the fit; the resistances start from
        the real part of the spectrum between them.
    series_capacitance : bool
        A capacitance in series (blocking electrodes).

    Returns
    -------
    CircuitFit

    Raises
    ------
    InvalidInputError
        No arcs, fewer data than parameters, a non-finite spectrum.

    Examples
    --------
    >>> f = np.logspace(0, 6, 25); w = 2 * np.pi * f
    >>> z = 1.0 + 2.0 / (1 + 1j * w * 2.0 * 1e-4)
    >>> fit = fit_circuit(f, z, [("bulk", 1e-4, True)])
    >>> round(fit.arcs[0].resistance, 6), round(fit.arcs[0].capacitance, 9)
    (2.0, 0.0001)
    """
    arcs = sorted(arcs, key=lambda a: a[1])
    if not arcs:
        raise InvalidInputError("the circuit needs at least one arc")
    if any(not (math.isfinite(t) and t > 0) for _, t, _ in arcs):
        raise InvalidInputError(f"the time-constant guesses must be finite and > 0, got {[t for _, t, _ in arcs]}")
    count = 1 + sum(2 if ideal else 3 for _, _, ideal in arcs) + series_capacitance
    f, z = _spectrum(frequencies, impedance, (count + 1) // 2 + 1)
    omega = 2 * np.pi * f
    scale = float(np.max(np.abs(z)))
    zn = z / scale
    order = np.argsort(omega)
    log_w, real = np.log(omega[order]), zn.real[order]

    def real_at(w):
        return float(np.interp(math.log(w), log_w, real))

    taus = [t for _, t, _ in arcs]
    cuts = [10 / taus[0]] + [1 / math.sqrt(a * b) for a, b in zip(taus, taus[1:])] + [0.1 / taus[-1]]
    r_s0 = max(real_at(cuts[0]), 1e-6)
    start, lower, upper = [math.log(r_s0)], [math.log(1e-12)], [math.log(1e3)]
    total = max(real_at(cuts[-1]) - r_s0, 1e-3)
    for k, (_, tau, ideal) in enumerate(arcs):
        r0 = real_at(cuts[k + 1]) - real_at(cuts[k])
        r0 = r0 if r0 > 1e-3 * total else 1e-3 * total
        start += [math.log(r0), math.log(tau / r0)]
        lower += [math.log(1e-12), -80.0]
        upper += [math.log(1e3), 80.0]
        if not ideal:
            start.append(0.95)
            lower.append(0.3)
            upper.append(1.0)
    if series_capacitance:
        low = int(np.argmin(omega))
        c0 = -1 / (omega[low] * min(zn.imag[low], -1e-12))
        start.append(math.log(c0))
        lower.append(-80.0)
        upper.append(80.0)

    def unpack(p):
        r_s, at, parts = math.exp(p[0]), 1, []
        for _, _, ideal in arcs:
            r, q = math.exp(p[at]), math.exp(p[at + 1])
            n = 1.0 if ideal else p[at + 2]
            at += 2 if ideal else 3
            parts.append((r, q, n))
        c = math.exp(p[at]) if series_capacitance else None
        return r_s, parts, c

    weight = 1 / np.abs(zn)

    def residual(p):
        r_s, parts, c = unpack(p)
        d = (_circuit(omega, r_s, parts, c) - zn) * weight
        return np.concatenate([d.real, d.imag])

    start = np.clip(start, np.array(lower) + 1e-9, np.array(upper) - 1e-9)
    solution = optimize.least_squares(residual, start, bounds=(lower, upper), x_scale="jac", xtol=1e-15,
                                      ftol=1e-15, gtol=1e-15, max_nfev=5000)
    r_s, parts, c = unpack(solution.x)
    rms = float(np.sqrt(np.mean(residual(solution.x) ** 2)) * math.sqrt(2))
    fitted = tuple(ArcFit(name, r * scale, q / scale, n) for (name, _, _), (r, q, n) in zip(arcs, parts))
    return CircuitFit(fitted, r_s * scale, None if c is None else c / scale, rms)


# -- Kramers-Kronig -------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class KramersKronig:
    """Result of :func:`kramers_kronig`: residuals (Z − Z_KK)/|Z| of the real and imaginary
    parts per frequency, the number of Voigt elements and Schönleber's μ."""

    residual_real: np.ndarray
    residual_imag: np.ndarray
    elements: int
    mu: float

    @property
    def max_residual(self) -> float:
        return float(max(np.max(np.abs(self.residual_real)), np.max(np.abs(self.residual_imag))))

    def to_dict(self) -> dict:
        return {"max_relative_residual": self.max_residual, "voigt_elements": self.elements, "mu": self.mu}


def _voigt_columns(omega, taus, capacitance: bool) -> np.ndarray:
    columns = [np.ones(omega.shape, complex)] + [1 / (1 + 1j * omega * t) for t in taus]
    if capacitance:
        columns.append(1 / (1j * omega))
    return np.stack(columns, axis=1)


def kramers_kronig(frequencies, impedance, *, capacitance: bool = False) -> KramersKronig:
    """Linear Kramers–Kronig test of a spectrum (Lin-KK).

    ``Z ≈ R_0 + Σ R_k / (1 + iω τ_k) (+ 1/(iω C))`` with one τ_k per frequency,
    log-spaced from 1/ω_max to 1/ω_min (Boukamp 1995), fitted by linear least squares to
    the real and imaginary parts at once, each relative to |Z|. A linear, causal, stable
    spectrum leaves residuals of the order of its noise (and of how finely it is
    sampled: ideal RC arcs need about 5 frequencies a decade for residuals < 1e-3); one
    that breaks Kramers–Kronig leaves large ones whatever the elements. Schönleber's
    μ = 1 − Σ|R_k<0| / Σ|R_k≥0| of the fit is reported (near 1: few elements in use; low:
    over-fitted).

    Examples
    --------
    >>> f = np.logspace(-1, 5, 31); w = 2 * np.pi * f
    >>> z = 1 + 1 / (1 + (1j * w * 1e-2) ** 0.8)
    >>> kramers_kronig(f, z).max_residual < 1e-3
    True
    >>> kramers_kronig(f, z.real + 2j * z.imag).max_residual > 1e-2  # Z'' doubled: not causal
    True
    """
    f, z = _spectrum(frequencies, impedance, 3)
    omega = 2 * np.pi * f
    weight = 1 / np.abs(z)
    taus = np.geomspace(1 / omega.max(), 1 / omega.min(), f.size)
    columns = _voigt_columns(omega, taus, capacitance)
    a = columns * weight[:, None]
    coef, *_ = np.linalg.lstsq(np.concatenate([a.real, a.imag]),
                               np.concatenate([(z * weight).real, (z * weight).imag]), rcond=None)
    r = coef[1:1 + f.size]
    positive = float(np.sum(r[r >= 0]))
    mu = 1 - float(np.sum(np.abs(r[r < 0]))) / positive if positive > 0 else 0.0
    fitted = columns @ coef
    return KramersKronig((z.real - fitted.real) * weight, (z.imag - fitted.imag) * weight, f.size, mu)


# -- distribution of relaxation times --------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class RelaxationTimes:
    """Result of :func:`relaxation_times`: the time grid [s], the resistance on each
    point [Ω·m²], the high-frequency resistance [Ω·m²], and the peaks
    ``(τ [s], resistance under the peak [Ω·m²])``, fastest first."""

    tau: np.ndarray
    resistance: np.ndarray
    r_inf: float
    peaks: tuple[tuple[float, float], ...]
    regularisation: float

    def to_dict(self) -> dict:
        return {"regularisation": self.regularisation, "R_inf_ohm_cm2": self.r_inf * _CM2,
                "peaks": [{"tau_s": t, "frequency_Hz": 1 / (2 * math.pi * t), "R_ohm_cm2": r * _CM2}
                          for t, r in self.peaks]}


def relaxation_times(frequencies, impedance, *, per_decade: int = 10, regularisation: float = 1e-3,
                     capacitance: bool = False, extend: float = 1.0) -> RelaxationTimes:
    """Distribution of relaxation times, Tikhonov-regularised and non-negative.

    ``Z ≈ R_∞ + Σ g_k / (1 + iω τ_k) (+ 1/(iω C))`` with ``g_k >= 0`` on a log grid of
    ``per_decade`` points a decade, ``extend`` decades past the measured range on each
    side; minimised: ``|W (A g − Z)|² + λ |D₂ g|²`` (W = 1/|Z|, D₂ second differences,
    λ = ``regularisation`` on the spectrum scaled to its largest |Z|), solved as one
    augmented NNLS. A peak is a local maximum above 1 % of the largest; its resistance
    is the sum of g between the minima on either side.

    Examples
    --------
    >>> f = np.logspace(-2, 6, 41); w = 2 * np.pi * f
    >>> z = 1 / (1 + 1j * w * 1e-4) + 2 / (1 + 1j * w * 1e-1)
    >>> [round(math.log10(t)) for t, _ in relaxation_times(f, z).peaks]
    [-4, -1]
    """
    f, z = _spectrum(frequencies, impedance, 3)
    if regularisation < 0 or not math.isfinite(regularisation):
        raise InvalidInputError(f"the regularisation must be finite and >= 0, got {regularisation!r}")
    omega = 2 * np.pi * f
    lo, hi = math.log10(1 / omega.max()) - extend, math.log10(1 / omega.min()) + extend
    taus = np.logspace(lo, hi, max(3, int(round((hi - lo) * per_decade)) + 1))
    scale = float(np.max(np.abs(z)))
    zn = z / scale
    weight = 1 / np.abs(zn)
    a = _voigt_columns(omega, taus, capacitance) * weight[:, None]
    m = taus.size
    d2 = np.zeros((m - 2, a.shape[1]))
    for k in range(m - 2):
        d2[k, 1 + k:4 + k] = (1.0, -2.0, 1.0)
    matrix = np.concatenate([a.real, a.imag, math.sqrt(regularisation) * d2])
    rhs = np.concatenate([(zn * weight).real, (zn * weight).imag, np.zeros(m - 2)])
    coef, _ = optimize.nnls(matrix, rhs, maxiter=50 * matrix.shape[1])
    g = coef[1:1 + m] * scale
    peaks = []
    top = float(g.max(initial=0.0))
    for k in range(m):
        left = g[k - 1] if k > 0 else -math.inf
        right = g[k + 1] if k < m - 1 else -math.inf
        if top > 0 and g[k] > 0.01 * top and g[k] >= left and g[k] > right:
            i = k
            while i > 0 and g[i - 1] <= g[i]:
                i -= 1
            j = k
            while j < m - 1 and g[j + 1] <= g[j]:
                j += 1
            peaks.append((float(taus[k]), float(g[i:j + 1].sum())))
    return RelaxationTimes(taus, g, float(coef[0] * scale), tuple(peaks), regularisation)


__all__ = [
    "ArcFit",
    "CircuitFit",
    "KramersKronig",
    "RelaxationTimes",
    "fit_circuit",
    "kramers_kronig",
    "relaxation_times",
]
