"""Physical constants and the unit conversions that recur in reports, defined once.

The constants come from :mod:`scipy.constants` (CODATA); nothing else in microsim
defines them.
"""

from __future__ import annotations

from scipy import constants as _codata

#: Faraday constant [C/mol]
FARADAY: float = _codata.physical_constants["Faraday constant"][0]
#: molar gas constant [J/(mol K)]
GAS_CONSTANT: float = _codata.gas_constant
#: vacuum permittivity [F/m]
VACUUM_PERMITTIVITY: float = _codata.epsilon_0
#: 0 degC in kelvin
ZERO_CELSIUS: float = _codata.zero_Celsius

#: C/m^2 in one mAh/cm^2 (3.6 C per mAh over 1e-4 m^2 per cm^2)
C_PER_M2_PER_MAH_PER_CM2: float = 3.6 / 1e-4
#: J in one Wh
J_PER_WH: float = 3600.0
#: C/kg in one mAh/g
C_PER_KG_PER_MAH_PER_G: float = 3.6e3
#: ohm m^2 in one ohm cm^2
OHM_M2_PER_OHM_CM2: float = 1e-4
#: S/m in one S/cm
S_PER_M_PER_S_PER_CM: float = 100.0


def mAh_per_cm2(charge_C_per_m2: float) -> float:
    """An areal charge [C/m^2] in mAh/cm^2.

    >>> mAh_per_cm2(36000.0)
    1.0
    """
    return charge_C_per_m2 / C_PER_M2_PER_MAH_PER_CM2
