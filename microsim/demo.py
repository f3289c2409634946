"""``microsim demo``: the whole way on built-in data, in well under a minute on 2 cores.

1. **A virtual composite cathode to Wh/kg.** A sintered NMC811/LLZO composite (70/30
   vol%, CAM particles of 5 µm, LLZO of 2.5 µm, LLZO split into 2 µm grains) is
   generated, measured, solved for ionic (LLZO at the improved set's σ_SE) and
   electronic (CAM at κ_CAM) transport through its thickness, taken through the
   microstructure-resolved cathode ASR, and fed to the reduced P2D cell model at 1
   and 10 mA/cm². The cell takes σ_eff, κ_eff, the CAM|LLZO area, the fractions, the
   particle size (local thickness) and the through-thickness profile from the volume;
   everything else from the improved parameter set.
2. **A real electrode through transport.** The bundled X-ray CT crop of a calendered
   NMC electrode (NREL, MIT licence; 75³ voxels of 398 nm, see ``data/README.md``) is
   split by its grey histogram into the dark non-active matter (pore and binder,
   which X-ray contrast hardly separates; taken as electrolyte-filled) and NMC, and
   the ionic tortuosity of the first and the electronic conduction of the NMC are
   solved along all three axes.

Each part writes a JSON report, a PNG of its middle slice and a ParaView ``.vti`` with
a script beside it that opens it ready to look at.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from microsim.errors import InputFileError, InvalidInputError

log = logging.getLogger(__name__)

#: the generated composite: shape (axis 0 = thickness, separator side first), voxel [m], seed
COMPOSITE = {"shape": (48, 40, 40), "voxel_size": 0.5e-6, "fractions": {"CAM": 0.70, "LLZO": 0.30},
             "radius": {"CAM": 2.5e-6, "LLZO": 1.25e-6}, "grain_size": 2e-6, "seed": 1}
#: the cell: parameter set, current densities [A/m^2] (1 and 10 mA/cm^2)
CELL = {"parameter_set": "improved", "currents": (10.0, 100.0)}
#: the CT crop: file, voxel size [m], grey classes dark to bright, conductivities [S/m]
CT = {"file": "nrel_nmc1cal_gray_75.tif", "voxel_size": 0.398e-6, "classes": ("pore", "NMC"),
      "sigma": {"pore": 1.0, "NMC": 4.54}, "min_size": 8}

FILES = ("composite_report.json", "composite_fields.vti", "composite_fields_paraview.py", "composite.png",
         "ct_report.json", "ct_fields.vti", "ct_fields_paraview.py", "ct.png")


def demo_stack() -> Path:
    """The bundled CT crop: in the checkout, in the installed share folder, or under ./data."""
    name = CT["file"]
    candidates = [
        Path(__file__).resolve().parents[1] / "data" / name,
        Path(sys.prefix) / "share" / "microsim" / "data" / name,
        Path.cwd() / "data" / name,
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise InputFileError(f"the demo stack {name} was not found (looked in {', '.join(map(str, candidates))})")


def run_demo(out: str | Path, *, force: bool = False) -> str:
    """Run both parts into the folder ``out``; return the summary text.

    Raises
    ------
    InvalidInputError
        ``out`` is a file or cannot be created.
    OutputExistsError
        A demo file exists there and ``force`` is not given (checked before any work).
    """
    from microsim.cell import get_parameter_set
    from microsim.export import check_outputs
    from microsim.export.report import transport_table
    from microsim.generate import generate
    from microsim.pipeline import Asr, Cell, Export, Load, Segment, Solve, run

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"the demo folder {out} is a file; give a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(f"cannot create the demo folder {out}: {exc.strerror or exc}") from None
    check_outputs([out / name for name in FILES], force=force)
    stack = demo_stack()

    log.info("demo 1/2: a sintered NMC811/LLZO composite, generated, to the cell energy")
    micro = generate(COMPOSITE["shape"], COMPOSITE["fractions"], COMPOSITE["radius"],
                     voxel_size=COMPOSITE["voxel_size"], packing="sintered", grain_size=COMPOSITE["grain_size"],
                     seed=COMPOSITE["seed"])
    params = get_parameter_set(CELL["parameter_set"])
    cells = [Cell(params, current) for current in CELL["currents"]]
    composite = run(micro, solve=Solve(axes=0), cell=cells,
                    asr=Asr(params.sigma_SE, params.kappa_CAM, params.R_CT, params.R_SP),
                    export=Export(json=out / "composite_report.json", vti=out / "composite_fields.vti",
                                  png=out / "composite.png", force=force),
                    settings={"command": "microsim demo (part 1: generated composite)"})

    log.info("demo 2/2: the bundled real CT crop of an NMC electrode, through transport")
    ct = run(Load(stack, voxel_size=(CT["voxel_size"],) * 3),
             segmentation=Segment(CT["classes"], min_size=CT["min_size"]),
             solve=Solve(conductivities=tuple({k: v} for k, v in CT["sigma"].items()), axes="all"),
             export=Export(json=out / "ct_report.json", vti=out / "ct_fields.vti", png=out / "ct.png", force=force),
             settings={"command": "microsim demo (part 2: CT crop)"})

    lines = ["== 1. generated sintered NMC811/LLZO composite "
             f"({'x'.join(map(str, micro.shape))} voxels of {COMPOSITE['voxel_size'] * 1e6:g} um, "
             f"{composite.morphology.grains['count'] if composite.morphology.grains else 0} LLZO grains)",
             transport_table(composite.transport)]
    asr = composite.asr
    if asr["asr_ohm_cm2"] is not None:
        lines.append(f"cathode ASR {asr['asr_ohm_cm2']:.4g} ohm cm2 (R_CT {params.R_CT * 1e4:g} ohm cm2, improved set)")
    lines.append(f"cell energy ({CELL['parameter_set']} set, {params.L_cat * 1e6:g} um cathode, "
                 f"{params.L_sep * 1e6:g} um LLZO separator, Li metal):")
    for outcome in composite.cell.values():
        c = outcome.to_dict()
        lines.append(f"  {c['current_density_mA_per_cm2']:>4g} mA/cm2: {c['specific_energy_Wh_per_kg']:.1f} Wh/kg, "
                     f"{c['energy_density_Wh_per_L']:.0f} Wh/L, utilisation {c['utilisation']:.3f} "
                     f"(theoretical {c['theoretical_specific_energy_Wh_per_kg']:.1f} Wh/kg)")
    seg = ct.segmentation.fractions()
    lines += ["", f"== 2. NREL X-ray CT crop {stack.name} ({'x'.join(map(str, ct.micro.shape))} voxels of "
                  f"{CT['voxel_size'] * 1e6:g} um), two grey classes: "
                  + ", ".join(f"{k} {v:.3f}" for k, v in seg.items()),
              transport_table(ct.transport), "",
              f"wrote {', '.join(str(out / name) for name in FILES)}"]
    return "\n".join(lines)
