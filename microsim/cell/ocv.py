"""Open-circuit potentials vs Li/Li+ as functions of the lithiation θ of the window.

θ = 0 is the charged end of the material's capacity window, θ = 1 the discharged
(lithiated) end; ``θ · specific_capacity`` is the charge inserted. Each published fit
is mapped linearly from its stoichiometry to θ. Outside [0, 1] a steep, smooth wall
(softplus, 2e-4 wide) makes the potential run away, so that a cut-off is reached
when the particle surface is full or empty rather than the model inserting more
lithium than the window holds; inside, the wall changes the potential by < 1 mV
except within 0.2 % of the ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from microsim.constants import FARADAY, GAS_CONSTANT
from microsim.errors import InvalidInputError

_WALL_V, _WALL_WIDTH = 0.05, 2e-4


def _softplus(z):
    return np.logaddexp(0.0, z)


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def chen2020_nmc811(x):
    """NMC811 potential [V] vs stoichiometry x of Li_xNi0.8Mn0.1Co0.1O2.

    Chen, Planella, O'Regan, Gastol, Widanage, Kendrick, J. Electrochem. Soc. 167
    (2020) 080534, doi:10.1149/1945-7111/ab9050, eq. (9).
    """
    return (-0.8090 * x + 4.4875 - 0.0428 * np.tanh(18.5138 * (x - 0.5542))
            - 17.7326 * np.tanh(15.7890 * (x - 0.3117)) + 17.5842 * np.tanh(15.9308 * (x - 0.3120)))


def _chen2020_slope(x):
    def sech2(z):
        return 1.0 / np.cosh(z) ** 2

    return (-0.8090 - 0.0428 * 18.5138 * sech2(18.5138 * (x - 0.5542))
            - 17.7326 * 15.7890 * sech2(15.7890 * (x - 0.3117)) + 17.5842 * 15.9308 * sech2(15.9308 * (x - 0.3120)))


_RAMADASS_NUM = (-4.656, 88.669, -401.119, 342.909, -462.471, 433.434)
_RAMADASS_DEN = (-1.0, 18.933, -79.532, 37.311, -73.083, 95.96)


def ramadass2004_lco(x):
    """LiCoO2 potential [V] vs stoichiometry x of Li_xCoO2.

    Ramadass, Haran, Gomadam, White, Popov, J. Electrochem. Soc. 151 (2004) A196,
    doi:10.1149/1.1634273 (the fit of Doyle et al.).
    """
    x2 = np.asarray(x, dtype=float) ** 2
    num = sum(c * x2**k for k, c in enumerate(_RAMADASS_NUM))
    den = sum(c * x2**k for k, c in enumerate(_RAMADASS_DEN))
    return num / den


def _ramadass_slope(x):
    x = np.asarray(x, dtype=float)
    x2 = x**2
    num = sum(c * x2**k for k, c in enumerate(_RAMADASS_NUM))
    den = sum(c * x2**k for k, c in enumerate(_RAMADASS_DEN))
    dnum = sum(2 * k * c * x ** (2 * k - 1) for k, c in enumerate(_RAMADASS_NUM) if k)
    dden = sum(2 * k * c * x ** (2 * k - 1) for k, c in enumerate(_RAMADASS_DEN) if k)
    return (dnum * den - num * dden) / den**2


# Verbrugge, Baker, Koch, Xiao, Gu, J. Electrochem. Soc. 164 (2017) E3243,
# doi:10.1149/2.0341708jes, Table 1, NMC622 (LiNi0.6Mn0.2Co0.2O2): the multi-species,
# multi-reaction (MSMR) isotherm of four galleries j, x = sum_j X_j / (1 + exp(f (U - U0_j) / w_j)),
# f = F / (R T) at 25 degC; U0_j [V], X_j (their sum is 1), w_j.
_MSMR_NMC622 = (
    np.array([3.62274, 3.72645, 3.90575, 4.22955]),
    np.array([0.13442, 0.32460, 0.21118, 0.32980]),
    np.array([0.96710, 1.39712, 3.50500, 5.52757]),
)
_MSMR_F = FARADAY / (GAS_CONSTANT * 298.15)


def _msmr_lithiation(u, params=_MSMR_NMC622):
    """Lithiation x and dx/dU [1/V] of an MSMR isotherm at potential ``u`` [V]."""
    u0, x_j, w = params
    z = _MSMR_F * (np.asarray(u, dtype=float)[..., None] - u0) / w
    empty_share = _sigmoid(z)
    occupied = x_j * (1.0 - empty_share)
    return occupied.sum(-1), -(occupied * empty_share * (_MSMR_F / w)).sum(-1)


_MSMR_TABLE_U = np.linspace(2.5, 5.0, 4001)
_MSMR_TABLE_X = _msmr_lithiation(_MSMR_TABLE_U)[0]


def verbrugge2017_nmc622(x):
    """NMC622 potential [V] vs lithiation x of the host (MSMR, 25 °C).

    The isotherm gives x(U); U(x) is its inverse: a start from a dense table, then
    Newton on the isotherm itself (U within 1e-12 V).

    Verbrugge, Baker, Koch, Xiao, Gu, J. Electrochem. Soc. 164 (2017) E3243,
    doi:10.1149/2.0341708jes, Table 1 (NMC622).
    """
    x = np.asarray(x, dtype=float)
    u = np.interp(x, _MSMR_TABLE_X[::-1], _MSMR_TABLE_U[::-1])
    for _ in range(2):  # the table's start is within 2e-6 V: two steps reach 2e-13 V
        value, slope = _msmr_lithiation(u)
        u = u - (value - x) / slope
    return u


def _verbrugge2017_slope(x):
    return 1.0 / _msmr_lithiation(verbrugge2017_nmc622(x))[1]


@dataclass(frozen=True)
class OpenCircuitPotential:
    """U(θ) of a fit ``fit(x)`` over the stoichiometry window ``x_charged .. x_discharged``."""

    name: str
    fit: Callable
    slope: Callable
    x_charged: float
    x_discharged: float
    source: str

    def _x(self, theta):
        return self.x_charged + np.asarray(theta, dtype=float) * (self.x_discharged - self.x_charged)

    def stoichiometry(self, theta):
        """The fit's stoichiometry x at lithiation θ (linear map of the window)."""
        return self._x(theta)

    def __call__(self, theta):
        """U [V] at lithiation ``theta`` (scalar or array)."""
        theta = np.asarray(theta, dtype=float)
        wall = _WALL_V * (_softplus(-theta / _WALL_WIDTH) - _softplus((theta - 1) / _WALL_WIDTH))
        return self.fit(self._x(np.clip(theta, 0.0, 1.0))) + wall + self._beyond(theta)

    @cached_property
    def _end_slopes(self) -> tuple[float, float]:
        """dU/dx of the fit at the charged and the discharged end of the window [V]."""
        return float(self.slope(self.x_charged)), float(self.slope(self.x_discharged))

    def _beyond(self, theta):
        # continue linearly with the end slope outside the window (the fit itself may turn)
        lo, hi = np.minimum(theta, 0.0), np.maximum(theta - 1.0, 0.0)
        dx = self.x_discharged - self.x_charged
        charged, discharged = self._end_slopes
        return lo * dx * charged + hi * dx * discharged

    def derivative(self, theta):
        """dU/dθ [V]."""
        theta = np.asarray(theta, dtype=float)
        dx = self.x_discharged - self.x_charged
        inside = (theta > 0) & (theta < 1)
        charged, discharged = self._end_slopes
        d_fit = np.where(inside, self.slope(self._x(np.clip(theta, 0, 1))),
                         np.where(theta <= 0, charged, discharged)) * dx
        wall = -_WALL_V / _WALL_WIDTH * (_sigmoid(-theta / _WALL_WIDTH) + _sigmoid((theta - 1) / _WALL_WIDTH))
        return d_fit + wall

    def mean_voltage(self) -> float:
        """Mean of U over the window [V] (the energy per charge at vanishing current)."""
        theta = np.linspace(0, 1, 20001)
        u = self(theta)
        return float(np.sum((u[1:] + u[:-1]) / 2) / (len(theta) - 1))


def _root(f, lo: float, hi: float, value: float) -> float:
    """x in [lo, hi] with f(x) = value (bisection; f monotone there)."""
    flo = f(lo) - value
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        fmid = f(mid) - value
        if (fmid > 0) == (flo > 0):
            lo, flo = mid, fmid
        else:
            hi = mid
    return 0.5 * (lo + hi)


# NMC811: from 4.3 V to the fully lithiated end of Chen et al.'s stoichiometry range
# (x = 0.9084 in their Table); the 218.66 mAh/g of the window are spread over it.
_NMC811 = OpenCircuitPotential(
    "NMC811", chen2020_nmc811, _chen2020_slope,
    x_charged=_root(chen2020_nmc811, 0.1, 0.4, 4.3), x_discharged=0.9084,
    source="Chen et al., J. Electrochem. Soc. 167 (2020) 080534, mapped from x(4.3 V) to x = 0.9084",
)
# LCO: x = 0.5 (4.2 V region) to the 3.0 V end of the fit.
_LCO = OpenCircuitPotential(
    "LCO", ramadass2004_lco, _ramadass_slope,
    x_charged=0.5, x_discharged=_root(ramadass2004_lco, 0.95, 0.999, 3.0),
    source="Ramadass et al., J. Electrochem. Soc. 151 (2004) A196, x = 0.5 to x(3.0 V)",
)
# NMC622: from 4.3 V to 3.0 V on the MSMR isotherm (x = 0.1274 to 0.99993 of the host).
_NMC622 = OpenCircuitPotential(
    "NMC622", verbrugge2017_nmc622, _verbrugge2017_slope,
    x_charged=float(_msmr_lithiation(4.3)[0]), x_discharged=float(_msmr_lithiation(3.0)[0]),
    source="Verbrugge et al., J. Electrochem. Soc. 164 (2017) E3243, doi:10.1149/2.0341708jes, Table 1 (MSMR, "
           "NMC622), x(4.3 V) to x(3.0 V)",
)
OCV = {"NMC811": _NMC811, "LCO": _LCO, "NMC622": _NMC622}


def get_ocv(name: str) -> OpenCircuitPotential:
    """The open-circuit potential of a material by name."""
    try:
        return OCV[name]
    except KeyError:
        raise InvalidInputError(f"no open-circuit potential for {name!r}; known: {', '.join(OCV)}") from None


