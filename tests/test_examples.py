"""The shipped examples run, at a small size, and say something sensible."""

import dataclasses
import importlib.util
import json
from pathlib import Path

from microsim.design import load_study, read_table, run_study

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cam_fraction_study_file_at_a_small_size(tmp_path):
    study = load_study(EXAMPLES / "cam_fraction.toml")
    assert len(study.tasks()) == 42  # 7 fractions x 2 currents x 3 seeds
    small = dataclasses.replace(study, base={**study.base, "shape": [32, 24, 24], "cam_d50": "4um", "se_d50": "2um"},
                                grid={"cam_fraction": [0.5, 0.7], "current_density": ["1mA/cm2", "10mA/cm2"]},
                                seeds=[1])
    run = run_study(small, tmp_path / "r.csv", workers=1)
    assert run.ok == 4
    rows = {(r["cam_fraction"], r["current_density_mA_per_cm2"]): r for r in read_table(tmp_path / "r.csv")}
    # more CAM stores more at 1 mA/cm2; every design loses energy at 10 mA/cm2
    assert rows[(0.7, 1.0)]["specific_energy_Wh_per_kg"] > rows[(0.5, 1.0)]["specific_energy_Wh_per_kg"]
    for f in (0.5, 0.7):
        assert rows[(f, 10.0)]["specific_energy_Wh_per_kg"] < rows[(f, 1.0)]["specific_energy_Wh_per_kg"]


def test_gradient_example_at_a_small_size(tmp_path, capsys):
    verdict = load("gradient").main(["--small", "--out", str(tmp_path)])
    assert verdict["best_uniform"]["specific_energy_Wh_per_kg"] > 0
    assert 0.45 <= verdict["best_uniform"]["cam_fraction"] <= 0.85
    assert json.loads((tmp_path / "verdict.json").read_text())["seeds"] == [1]
    assert "graded - uniform" in capsys.readouterr().out
    for name in ("uniform_search.csv", "graded_search.csv", "gradient_at_best_uniform.csv"):
        assert (tmp_path / name).stat().st_size > 0


def test_rev_example_on_the_bundled_crop(tmp_path, capsys):
    settled = load("rev_nrel_crop").main(["--small", "--out", str(tmp_path)])
    assert set(settled) == {"pore axis 0", "NMC axis 0"}
    assert "(whole)" in capsys.readouterr().out and (tmp_path / "rev.csv").stat().st_size > 0
