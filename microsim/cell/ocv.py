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

import numpy as np

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

    def __call__(self, theta):
        """U [V] at lithiation ``theta`` (scalar or array)."""
        theta = np.asarray(theta, dtype=float)
        wall = _WALL_V * (_softplus(-theta / _WALL_WIDTH) - _softplus((theta - 1) / _WALL_WIDTH))
        return self.fit(self._x(np.clip(theta, 0.0, 1.0))) + wall + self._beyond(theta)

    def _beyond(self, theta):
        # continue linearly with the end slope outside the window (the fit itself may turn)
        lo, hi = np.minimum(theta, 0.0), np.maximum(theta - 1.0, 0.0)
        dx = self.x_discharged - self.x_charged
        return lo * dx * self.slope(self.x_charged) + hi * dx * self.slope(self.x_discharged)

    def derivative(self, theta):
        """dU/dθ [V]."""
        theta = np.asarray(theta, dtype=float)
        dx = self.x_discharged - self.x_charged
        inside = (theta > 0) & (theta < 1)
        d_fit = np.where(inside, self.slope(self._x(np.clip(theta, 0, 1))),
                         np.where(theta <= 0, self.slope(self.x_charged), self.slope(self.x_discharged))) * dx
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
OCV = {"NMC811": _NMC811, "LCO": _LCO}


def get_ocv(name: str) -> OpenCircuitPotential:
    """The open-circuit potential of a material by name."""
    try:
        return OCV[name]
    except KeyError:
        raise InvalidInputError(f"no open-circuit potential for {name!r}; known: {', '.join(OCV)}") from None


