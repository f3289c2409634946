"""Optional side-by-side check of the cell model against PyBaMM's half-cell DFN.

PyBaMM's DFN with a lithium-metal counter electrode emulates the solid electrolyte:
cation transference number 1 (no salt gradient), electrolyte conductivity σ_SE,
porosity = SE fraction, Bruggeman exponent = β_tort + β_GB, dense separator (porosity
1, Bruggeman 0), exchange current RT/(F R_CT), the same OCV function and capacity
window, an ideal Li electrode. R_SP must be 0 (PyBaMM has no series film resistance in
this model), so the check runs the ``improved`` set and variants of it.

PyBaMM is not a dependency; run this with a Python that has it and can import
microsim's dependencies (numpy, scipy, pyamg, tifffile):

    python3 -m venv pbvenv && pbvenv/bin/pip install pybamm pyamg tifffile
    pbvenv/bin/python benchmarks/pybamm_check.py            # writes the block in RESULTS.md
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import publish  # noqa: E402

START, END = "<!-- pybamm: start -->", "<!-- pybamm: end -->"


def pybamm_discharge(params, current: float, n_x: int, n_r: int):
    import numpy as np
    import pybamm

    from microsim.cell.ocv import get_ocv
    from microsim.cell.p2d import FARADAY, GAS_CONSTANT
    from microsim.cell.parameters import get_material

    cam = get_material(params.cam)
    ocv = get_ocv(cam.ocv)
    c_max = cam.volumetric_capacity / FARADAY
    rt_f = GAS_CONSTANT * params.temperature / FARADAY
    i0 = rt_f / params.R_CT

    def ocp(sto):  # the same fit and window, as a PyBaMM expression (no wall: PyBaMM stops at the cut-off)
        x = ocv.x_charged + sto * (ocv.x_discharged - ocv.x_charged)
        return (-0.8090 * x + 4.4875 - 0.0428 * pybamm.tanh(18.5138 * (x - 0.5542))
                - 17.7326 * pybamm.tanh(15.7890 * (x - 0.3117)) + 17.5842 * pybamm.tanh(15.9308 * (x - 0.3120)))

    model = pybamm.lithium_ion.DFN({"working electrode": "positive"})
    values = pybamm.ParameterValues("Chen2020")
    values.update({
        "Cation transference number": 1.0,
        "Thermodynamic factor": 1.0,
        "Electrolyte conductivity [S.m-1]": params.sigma_SE,
        "Electrolyte diffusivity [m2.s-1]": 1e-9,
        "Initial concentration in electrolyte [mol.m-3]": 1000.0,
        "Positive electrode porosity": params.eps_SE,
        "Positive electrode active material volume fraction": params.eps_CAM,
        "Positive electrode Bruggeman coefficient (electrolyte)": params.beta_tort + params.beta_GB,
        "Positive electrode Bruggeman coefficient (electrode)": params.beta_CAM,
        "Positive electrode conductivity [S.m-1]": params.kappa_CAM,
        "Positive electrode thickness [m]": params.L_cat,
        "Positive particle radius [m]": params.particle_radius,
        "Positive particle diffusivity [m2.s-1]": params.D_CAM,
        "Maximum concentration in positive electrode [mol.m-3]": c_max,
        "Initial concentration in positive electrode [mol.m-3]": 1e-3 * c_max,
        "Positive electrode OCP [V]": ocp,
        "Positive electrode OCP entropic change [V.K-1]": 0.0,
        "Positive electrode exchange-current density [A.m-2]": lambda c_e, c_s_surf, c_s_max, T: pybamm.Scalar(i0),
        "Exchange-current density for lithium metal electrode [A.m-2]": 1e6,
        "Separator porosity": 1.0,
        "Separator Bruggeman coefficient (electrolyte)": 0.0,
        "Separator thickness [m]": params.L_sep,
        "Electrode height [m]": 1.0,
        "Electrode width [m]": 1.0,
        "Current function [A]": current,
        "Lower voltage cut-off [V]": params.v_min,
        "Upper voltage cut-off [V]": params.v_max + 0.2,
        "Ambient temperature [K]": params.temperature,
        "Initial temperature [K]": params.temperature,
        "Reference temperature [K]": params.temperature,
    }, check_already_exists=False)
    var_pts = {"x_n": 1, "x_s": 4, "x_p": n_x, "r_n": 1, "r_p": n_r}
    sim = pybamm.Simulation(model, parameter_values=values, var_pts=var_pts,
                            solver=pybamm.IDAKLUSolver(rtol=1e-6, atol=1e-8))
    t_end = params.eps_CAM * params.L_cat * cam.volumetric_capacity / current * 1.2
    t0 = time.perf_counter()
    sol = sim.solve([0, t_end])
    seconds = time.perf_counter() - t0
    sim.solve([0, t_end])  # a second solve: the first includes building the model
    seconds_warm = time.perf_counter() - t0 - seconds
    t = sol["Time [s]"].entries
    v = sol["Voltage [V]"].entries
    q = current * t
    energy = float(np.sum(0.5 * (v[1:] + v[:-1]) * np.diff(q)))
    return {"capacity": float(q[-1]), "energy": energy, "seconds": seconds, "seconds_warm": seconds_warm}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE.parent))
    try:
        import pybamm
    except ImportError:
        print("PyBaMM is not installed in this Python: check skipped")
        return 0
    from microsim.cell import Grid, improved, simulate

    cases = [
        ("improved", improved()),
        ("improved, sigma_SE 8e-4 S/cm", improved().with_values(sigma_SE=0.08)),
        ("improved, d50 4 um", improved().with_values(d50_CAM=4e-6)),
    ]
    rows = []
    for label, base in cases:
        for thickness in (50e-6, 100e-6):
            for current in (10.0, 100.0):
                p = base.with_values(L_cat=thickness)
                ours = simulate(p, current, grid=Grid())
                fine = simulate(p, current, grid=Grid(n_x=40, n_r=20, n_t=400))
                theirs = pybamm_discharge(p, current, 20, 10)
                row = (label, thickness * 1e6, current / 10, ours.delivered_capacity / 36000, fine.delivered_capacity
                       / 36000, theirs["capacity"] / 36000, ours.mean_voltage, fine.mean_voltage,
                       theirs["energy"] / theirs["capacity"], ours.seconds, theirs["seconds_warm"])
                rows.append(row)
                print(*(f"{x:.4g}" if isinstance(x, float) else x for x in row), flush=True)
    lines = [
        "## Cell model against PyBaMM",
        "",
        "`pbvenv/bin/python benchmarks/pybamm_check.py`",
        "",
        f"PyBaMM {pybamm.__version__} half-cell DFN (IDAKLU, rtol 1e-6, 20 x-cells, 10 r-shells) emulating the "
        "solid electrolyte (t+ = 1, porosity = SE fraction, Bruggeman = β, dense separator, ideal Li), "
        f"discharge from the charged state; {platform.processor() or platform.machine()}. microsim on its default "
        "grid and on a fine one (40 x 20, 400 steps).",
        "",
        "| case | cathode [µm] | current [mA/cm²] | capacity microsim [mAh/cm²] | fine | PyBaMM | "
        "mean V microsim | fine | PyBaMM | s microsim | s PyBaMM (warm) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]:g} | {r[2]:g} | {r[3]:.4f} | {r[4]:.4f} | {r[5]:.4f} | {r[6]:.4f} | "
                     f"{r[7]:.4f} | {r[8]:.4f} | {r[9]:.3f} | {r[10]:.3f} |")
    publish(lines, START, END, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
