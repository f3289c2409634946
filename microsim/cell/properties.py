"""Composition-dependent CAM properties: chemical diffusivity D(θ) and electronic conductivity κ(θ).

Each function is a published fit in the stoichiometry ``x`` of one material, mapped to
the lithiation θ of the capacity window (0 charged, 1 discharged) through that
material's open-circuit-potential window (:mod:`microsim.cell.ocv`), the same mapping
the OCV uses. θ is clipped to [0, 1] (the OCV's wall lets the surface run a little
past the window ends; the property holds its end value there).

A :class:`CellParameters` names them in ``D_CAM_function`` and ``kappa_CAM_function``
(``""``: the constant ``D_CAM`` / ``kappa_CAM``); :func:`get_diffusivity` and
:func:`get_conductivity` look them up and list the known names when a name is wrong.

Temperature: the fits are at 25 °C. A temperature factor multiplies the value, so
``D(θ, T) = D_function(θ) · arrhenius(T)`` (the cell model applies any such factor
to what :meth:`MaterialFunction.__call__` returns; the functions themselves stay
isothermal).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from microsim.cell.ocv import get_ocv
from microsim.errors import InvalidInputError


def oregan2022_nmc811_diffusivity(x):
    """Chemical diffusivity of Li in NMC811 [m^2/s] vs stoichiometry x of Li_xNi0.8Mn0.1Co0.1O2.

    ``log10 D = c0 + Σ_i a_i exp(-(x - b_i)^2 / c_i)`` (three Gaussian dips in log D),
    times the factor 2.7 of the published parameter set; from GITT on the LG M50 NMC811
    electrode (the material of Chen et al. 2020, so the same stoichiometry x as the
    NMC811 OCV), 25 °C. Over the NMC811 window (x = 0.261 .. 0.908): 2.8e-15 to
    1.6e-14 m^2/s, lowest near x = 0.32 (narrow dip) and x = 0.81 (broad).

    References
    ----------
    K. O'Regan, F. Brosa Planella, W. D. Widanage, E. Kendrick, "Thermal-electrochemical
    parameters of a high energy lithium-ion cylindrical battery", Electrochim. Acta 425
    (2022) 140700, doi:10.1016/j.electacta.2022.140700 (coefficients as in the
    ORegan2022 parameter set distributed with PyBaMM).
    """
    x = np.asarray(x, dtype=float)
    log_d = (-13.96 - 0.9231 * np.exp(-(x - 0.3216) ** 2 / 0.002534)
             - 0.4066 * np.exp(-(x - 0.4532) ** 2 / 0.003926) - 0.993 * np.exp(-(x - 0.8098) ** 2 / 0.09924))
    return 2.7 * 10.0**log_d


def amin2016_nmc_conductivity(x):
    """Electronic conductivity of a layered NMC [S/m] vs Li content x of Li_xMO2.

    Log-linear between the two ends stated by Amin & Chiang: ~1e-7 S/cm fully
    lithiated (x = 1) and ~1e-2 S/cm at x = 0.25 (4.8 V), i.e.
    ``log10(κ / S cm^-1) = -7 + 5 (1 - x) / 0.75``; held at the ends outside
    [0.25, 1]. Measured on NMC333 and NMC523 (ion-blocking DC polarisation and
    impedance); no NMC811 κ(x) was at hand, so this is the Ni-rich trend applied to
    NMC811's Li content. The measured curve is not log-linear in between (it rises
    fastest at the lithiated end): read values between the ends as within about an
    order of magnitude.

    References
    ----------
    R. Amin, Y.-M. Chiang, "Characterization of electronic and ionic transport in
    Li1-xNi0.33Mn0.33Co0.33O2 (NMC333) and Li1-xNi0.50Mn0.20Co0.30O2 (NMC523) as a
    function of Li content", J. Electrochem. Soc. 163 (2016) A1512,
    doi:10.1149/2.0131608jes.
    """
    x = np.clip(np.asarray(x, dtype=float), 0.25, 1.0)
    return 100.0 * 10.0 ** (-7.0 + 5.0 * (1.0 - x) / 0.75)


@dataclass(frozen=True)
class MaterialFunction:
    """A property ``fit(x)`` of one material, as a function of the window lithiation θ.

    Attributes
    ----------
    name : str
        Registry name (``D_CAM_function`` / ``kappa_CAM_function`` in a parameter set).
    material : str
        The CAM it describes; θ maps to x through that material's OCV window.
    quantity, unit : str
        What it returns and in which unit (SI).
    fit : callable
        ``fit(x)`` in the stoichiometry of the source.
    source : str
    """

    name: str
    material: str
    quantity: str
    unit: str
    fit: Callable
    source: str

    def stoichiometry(self, theta):
        """x of the source at lithiation θ (clipped to the window)."""
        return get_ocv(self.material).stoichiometry(np.clip(np.asarray(theta, dtype=float), 0.0, 1.0))

    def __call__(self, theta):
        """The property at lithiation ``theta`` (scalar or array), in :attr:`unit`."""
        return self.fit(self.stoichiometry(theta))

    def extremes(self) -> tuple[float, float]:
        """Smallest and largest value over the window θ = 0 .. 1."""
        values = self(np.linspace(0.0, 1.0, 2001))
        return float(values.min()), float(values.max())


DIFFUSIVITY = {
    "oregan2022": MaterialFunction(
        "oregan2022", "NMC811", "chemical diffusivity", "m^2/s", oregan2022_nmc811_diffusivity,
        "O'Regan et al., Electrochim. Acta 425 (2022) 140700, doi:10.1016/j.electacta.2022.140700 "
        "(GITT, LG M50 NMC811, 25 degC)"),
}
CONDUCTIVITY = {
    "amin2016": MaterialFunction(
        "amin2016", "NMC811", "electronic conductivity", "S/m", amin2016_nmc_conductivity,
        "Amin & Chiang, J. Electrochem. Soc. 163 (2016) A1512, doi:10.1149/2.0131608jes "
        "(NMC333/NMC523 trend, log-linear between its stated ends, applied to NMC811)"),
}


def _lookup(table: dict, name: str, what: str) -> MaterialFunction:
    try:
        return table[name]
    except KeyError:
        raise InvalidInputError(f"unknown {what} {name!r}; known: {', '.join(table)} "
                                f"(or \"\" for the constant value)") from None


def get_diffusivity(name: str) -> MaterialFunction:
    """The D(θ) function called ``name`` [m^2/s]; an unknown name lists the known ones.

    >>> d = get_diffusivity("oregan2022")
    >>> 1e-15 < float(d(0.5)) < 1e-13
    True
    """
    return _lookup(DIFFUSIVITY, name, "D_CAM_function")


def get_conductivity(name: str) -> MaterialFunction:
    """The κ(θ) function called ``name`` [S/m]; an unknown name lists the known ones.

    >>> k = get_conductivity("amin2016")
    >>> float(k(0.0)) > 100 * float(k(1.0))   # the charged CAM conducts far better
    True
    """
    return _lookup(CONDUCTIVITY, name, "kappa_CAM_function")
