import json

import numpy as np
import pytest

from microsim import Microstructure, save_microstructure
from microsim.cli import main

REQUIRED_TOP = {"microsim_version", "input", "shape", "voxel_size_m", "phases", "volume_fractions", "transport"}
REQUIRED_RECORD = {
    "phase", "axis", "volume_fraction", "percolating", "connected_fraction", "sigma_bulk_S_per_m",
    "sigma_eff_S_per_m", "tortuosity_factor", "bruggeman_exponent", "macmullin_number", "iterations",
    "residual", "seconds",
}


@pytest.fixture
def volume_tif(tmp_path, random_three_phase):
    return save_microstructure(random_three_phase, tmp_path / "vol.tif")


def one_error_line(capsys, match):
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("microsim: error: "), err
    assert match in err[-1]
    assert "Traceback" not in "\n".join(err)


def test_analyze_writes_the_contracted_report(tmp_path, volume_tif, capsys):
    out = tmp_path / "report.json"
    code = main(["-q", "analyze", str(volume_tif), "--sigma", "LLZO=8e-4S/cm", "--axis", "all", "--json", str(out)])
    assert code == 0
    table = capsys.readouterr().out
    assert "sigma_eff [S/cm]" in table and "LLZO" in table
    report = json.loads(out.read_text())
    assert REQUIRED_TOP <= set(report)
    assert report["voxel_size_m"] == [1e-6] * 3 and report["shape"] == [32, 32, 32]
    assert [r["axis"] for r in report["transport"]] == [0, 1, 2]
    for record in report["transport"]:
        assert REQUIRED_RECORD <= set(record)
        assert record["sigma_bulk_S_per_m"] == pytest.approx(0.08)
        assert record["tortuosity_factor"] == pytest.approx(
            record["volume_fraction"] * 0.08 / record["sigma_eff_S_per_m"]
        )


def test_default_solves_each_non_pore_phase_alone(tmp_path, volume_tif, capsys):
    code = main(["-q", "analyze", str(volume_tif), "--axis", "1", "--json", "-"])
    assert code == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert [(r["phase"], r["axis"]) for r in report["transport"]] == [("CAM", 1), ("LLZO", 1)]
    assert all(r["sigma_bulk_S_per_m"] == 1.0 for r in report["transport"])
    assert "sigma_eff" in captured.err  # the table moves to stderr when stdout holds JSON


def test_combined_phases_and_npy_input_with_voxel_size(tmp_path, random_three_phase, capsys):
    np.save(tmp_path / "v.npy", random_three_phase.labels)
    code = main([
        "-q", "analyze", str(tmp_path / "v.npy"), "--voxel-size", "10nm,10nm,20nm", "--phases", "0=pore,1=CAM,2=LLZO",
        "--sigma", "LLZO=1S/m", "--sigma", "CAM=10S/m", "--combined", "--axis", "0", "--json", "-",
    ])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["voxel_size_m"] == pytest.approx([1e-8, 1e-8, 2e-8])
    assert report["transport"][0]["phase"] == "CAM+LLZO"


def test_outputs_are_never_overwritten_without_force(tmp_path, volume_tif, capsys):
    out = tmp_path / "r.json"
    out.write_text("keep me")
    assert main(["-q", "analyze", str(volume_tif), "--axis", "0", "--json", str(out)]) == 1
    one_error_line(capsys, "exists already")
    assert out.read_text() == "keep me"
    assert main(["-q", "analyze", str(volume_tif), "--axis", "0", "--json", str(out), "--force"]) == 0
    assert json.loads(out.read_text())["transport"]


def test_non_percolating_phase_exits_1_but_writes_the_report(tmp_path, capsys):
    labels = np.full((6, 6, 6), 2, np.uint8)
    labels[3] = 0
    labels[0, 0, 0] = 1  # a CAM speck
    path = save_microstructure(Microstructure(labels, 1e-6), tmp_path / "cut.tif")
    out = tmp_path / "r.json"
    assert main(["-q", "analyze", str(path), "--axis", "0", "--sigma", "LLZO=1S/m", "--json", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no spanning path for LLZO along axis 0" in err[0]
    record = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))["transport"][0]
    assert record["percolating"] is False and record["tortuosity_factor"] is None
    assert record["sigma_eff_S_per_m"] == 0.0
    out2 = tmp_path / "r2.json"
    args = ["-q", "analyze", str(path), "--axis", "0", "--json", str(out2), "--allow-nonpercolating"]
    assert main(args) == 0


@pytest.mark.parametrize(
    "make, extra, match",
    [
        (lambda d: np.save(d / "x.npy", np.zeros((4, 4), np.uint8)), ["--voxel-size", "1um"], "3-D stack is needed"),
        (lambda d: np.save(d / "x.npy", np.zeros((4, 4, 4))), ["--voxel-size", "1um"], "must be integers"),
        (lambda d: np.save(d / "x.npy", np.full((4, 4, 4), np.nan)), ["--voxel-size", "1um"], "NaN"),
        (lambda d: np.save(d / "x.npy", -np.ones((4, 4, 4), np.int8)), ["--voxel-size", "1um"], ">= 0"),
        (lambda d: np.save(d / "x.npy", np.full((4, 4, 4), 9, np.uint8)), ["--voxel-size", "1um"], "no phase name"),
        (lambda d: np.save(d / "x.npy", np.ones((4, 4, 4), np.uint8)), [], "does not store a voxel size"),
        (lambda d: np.save(d / "x.npy", np.ones((4, 4, 4), np.uint8)), ["--voxel-size", "1"], "has no unit"),
        (lambda d: np.save(d / "x.npy", np.ones((4, 4, 4), np.uint8)), ["--voxel-size", "0um"], "> 0"),
        (lambda d: np.save(d / "x.npy", np.ones((4, 4, 4), np.uint8)), ["--voxel-size=-1um"], "> 0"),
        (lambda d: np.save(d / "x.npy", np.ones((4, 4, 4), np.uint8)),
         ["--voxel-size", "1um", "--sigma", "SE=1S/m"], "unknown phase 'SE'"),
        (lambda d: np.save(d / "x.npy", np.ones((4, 4, 4), np.uint8)),
         ["--voxel-size", "1um", "--sigma", "LLZO=1S/m"], "is empty"),
        (lambda d: np.save(d / "x.npy", np.ones((4, 4, 4), np.uint8)),
         ["--voxel-size", "1um", "--sigma", "CAM=-1S/m"], ">= 0"),
        (lambda d: np.save(d / "x.npy", np.ones((4, 4, 4), np.uint8)),
         ["--voxel-size", "1um", "--sigma", "CAM=1"], "no unit"),
        (lambda d: np.save(d / "x.npy", np.ones((4, 4, 4), np.uint8)), ["--voxel-size", "1um", "--axis", "3"], "--axis"),
        (lambda d: np.save(d / "x.npy", np.ones((4, 4, 4), np.uint8)),
         ["--voxel-size", "1um", "--phases", "0pore"], "LABEL=NAME"),
        (lambda d: np.save(d / "x.npy", np.zeros((4, 4, 4), np.uint8)), ["--voxel-size", "1um"], "only pore"),
        (lambda d: (d / "x.npy").write_bytes(b"garbage"), ["--voxel-size", "1um"], "cannot read"),
        (lambda d: None, [], "does not exist"),
    ],
)
def test_bad_input_gives_one_line_and_exit_1(tmp_path, capsys, make, extra, match):
    make(tmp_path)
    assert main(["-q", "analyze", str(tmp_path / "x.npy"), *extra]) == 1
    one_error_line(capsys, match)


def test_unknown_option_is_one_line_too(capsys):
    assert main(["analyze"]) == 1
    one_error_line(capsys, "the following arguments are required: input")


def test_demo_goes_from_a_generated_composite_to_wh_per_kg_and_runs_the_ct_crop(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "Wh/kg" in captured.out and "pore" in captured.out and "NMC" in captured.out
    assert "done in" in captured.err  # a timed line per stage
    composite = json.loads((out / "composite_report.json").read_text())
    assert {r["phase"] for r in composite["transport"]} == {"CAM", "LLZO"}
    assert composite["morphology"]["grains"]["count"] > 10
    assert composite["asr"]["asr_ohm_cm2"] > 0
    cells = composite["cells"]
    assert [c["current_density_mA_per_cm2"] for c in cells] == [1.0, 10.0]
    for cell in cells:  # a cell never delivers more than its theoretical energy
        assert 0 < cell["specific_energy_Wh_per_kg"] <= cell["theoretical_specific_energy_Wh_per_kg"]
        assert cell["parameters"]["sigma_eff"]["source"] == "measured"
        assert cell["parameters"]["R_CT"]["source"] == "set"
    assert cells[1]["specific_energy_Wh_per_kg"] < cells[0]["specific_energy_Wh_per_kg"]
    ct = json.loads((out / "ct_report.json").read_text())
    assert {r["phase"] for r in ct["transport"]} == {"pore", "NMC"}
    assert all(r["percolating"] for r in ct["transport"])
    assert ct["segmentation"]["classes_dark_to_bright"] == ["pore", "NMC"]
    assert ct["voxel_size_m"] == [0.398e-6] * 3
    for name in ("composite", "ct"):
        assert (out / f"{name}_fields.vti").stat().st_size > 0 and (out / f"{name}.png").stat().st_size > 10_000
        compile((out / f"{name}_fields_paraview.py").read_text(), "script", "exec")
    assert main(["-q", "demo", "--out", str(out)]) == 1  # never over its own files without --force
    one_error_line(capsys, "exists already")


def test_grain_boundary_and_interface_resistance_options(tmp_path, capsys):
    from tests.conftest import layered

    grains = layered(0, [4, 4, 4], [1, 2, 3])
    labels = np.full(grains.shape, 2, np.uint8)
    path = save_microstructure(Microstructure(labels, 1e-6, grains=grains), tmp_path / "grains.tif")
    args = ["-q", "analyze", str(path), "--axis", "0", "--sigma", "LLZO=0.1S/m", "--json", "-"]
    assert main([*args, "--gb-resistance", "LLZO=1ohmcm2"]) == 0
    record = json.loads(capsys.readouterr().out)["transport"][0]
    # 1/sigma_eff = 1/sigma + n R / L with n = 2 boundaries, R = 1e-4 Ohm m^2, L = 12 um
    assert 1 / record["sigma_eff_S_per_m"] == pytest.approx(10 + 2 * 1e-4 / 12e-6, rel=1e-6)
    assert main([*args, "--interface-resistance", "CAM/LLZO=1ohmcm2", "--periodic"]) == 0
    assert json.loads(capsys.readouterr().out)["transport"][0]["sigma_eff_S_per_m"] == pytest.approx(0.1, rel=1e-6)
    assert main([*args, "--interface-resistance", "CAM-LLZO=1ohmcm2"]) == 1
    one_error_line(capsys, "A/B=VALUE")


def test_generate_then_analyze_keeps_voxel_size_phases_and_grains(tmp_path, capsys):
    # the contract command, at a test-sized box
    out = tmp_path / "OUT.tif"
    code = main([
        "-q", "generate", "--shape", "48,40,40", "--voxel-size", "0.5um", "--fractions", "CAM=0.75,LLZO=0.25",
        "--radius", "CAM=2um,LLZO=1.5um", "--packing", "sintered", "--gradient", "CAM=0.67:0.33",
        "--grain-size", "2um", "--seed", "1", "-o", str(out),
    ])
    assert code == 0 and out.exists()
    assert "seed 1" in capsys.readouterr().out
    assert main(["-q", "analyze", str(out), "--axis", "0", "--json", "-"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["voxel_size_m"] == [0.5e-6] * 3 and report["phases"] == {"pore": 0, "CAM": 1, "LLZO": 2}
    assert report["volume_fractions"]["CAM"] == pytest.approx(0.5, abs=0.005)  # the gradient's mean
    morph = report["morphology"]
    assert set(morph["specific_surface_area_per_m"]) == {"pore", "CAM", "LLZO"}
    assert morph["interface_area_per_volume_per_m"]["CAM|LLZO"] > 1e5  # 1/m: ~0.3-0.6 per µm here
    assert all(len(v) == 3 for v in morph["spanning_fraction"].values())
    assert morph["grains"]["count"] > 0
    assert morph["local_thickness"]["CAM"]["d50_m"] > 1e-6


def test_generate_log_normal_and_separator(tmp_path, capsys):
    out = tmp_path / "g.npz"
    code = main(["-q", "generate", "--shape", "40,32,32", "--voxel-size", "0.5um", "--fractions", "CAM=0.5",
                 "--fractions", "LLZO=0.3", "--radius", "2um", "--spread", "CAM=0.3", "--separator", "5um",
                 "--seed", "3", "-o", str(out)])
    assert code == 0
    micro = Microstructure(**{k: v for k, v in np.load(out).items() if k == "labels"}, voxel_size=0.5e-6)
    assert np.all(micro.labels[:10] == 2)
    assert (micro.labels[10:] == 0).mean() == pytest.approx(0.2, abs=0.005)


@pytest.mark.parametrize(
    "args, match",
    [
        (["--fractions", "CAM=0.8,LLZO=0.4"], "sum to at most 1"),
        (["--fractions", "CAM=lots"], "expected a number"),
        (["--radius", "CAM=-3um"], "length"),
        (["--radius", "CAM=3"], "no unit"),
        (["--shape", "64,64"], "three integers"),
        (["--fractions", "SE=0.3"], "unknown phase 'SE'"),
        (["--gradient", "CAM"], "--gradient expects"),
        (["--spread", "LLZO=0.3"], "has no --radius"),
    ],
)
def test_generate_bad_input_is_one_line(tmp_path, capsys, args, match):
    base = {"--shape": "16,16,16", "--voxel-size": "1um", "--fractions": "CAM=0.4", "--radius": "CAM=2um"}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    argv = ["generate", *[x for kv in base.items() for x in kv], "-o", str(tmp_path / "x.tif")]
    assert main(argv) == 1
    one_error_line(capsys, match)
    assert not (tmp_path / "x.tif").exists()


def test_generate_never_overwrites_without_force(tmp_path, capsys):
    out = tmp_path / "x.tif"
    argv = ["-q", "generate", "--shape", "16,16,16", "--voxel-size", "1um", "--fractions", "CAM=0.4",
            "--radius", "2um", "--seed", "1", "-o", str(out)]
    assert main(argv) == 0
    first = out.read_bytes()
    assert main(argv[:-2] + ["--seed", "2", "-o", str(out)]) == 1
    one_error_line(capsys, "exists already")
    assert out.read_bytes() == first
    assert main(argv + ["--force"]) == 0


def test_analyze_without_morphology(volume_tif, capsys):
    assert main(["-q", "analyze", str(volume_tif), "--axis", "0", "--no-morphology", "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["morphology"] is None


CELL_KEYS = {"specific_energy_Wh_per_kg", "energy_density_Wh_per_L", "theoretical_specific_energy_Wh_per_kg",
             "utilisation", "capacity_mAh_per_cm2", "mass_accounting", "parameters"}


def test_cell_prints_the_contracted_json(capsys):
    argv = ["-q", "cell", "--set", "improved", "--thickness", "50um", "--current", "1mA/cm2", "--json", "-"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert CELL_KEYS <= set(out)
    assert out["theoretical_specific_energy_Wh_per_kg"] == pytest.approx(519, rel=0.01)
    assert out["specific_energy_Wh_per_kg"] >= 0.98 * out["theoretical_specific_energy_Wh_per_kg"]
    assert 0.98 < out["utilisation"] <= 1.01 and out["capacity_mAh_per_cm2"] == pytest.approx(4.0, rel=0.01)
    assert out["parameters"]["R_CT"] == pytest.approx(150e-4) and "anode-free" in out["mass_accounting"]


def test_cell_theoretical_and_parameters_with_units(capsys):
    assert main(["-q", "cell", "--theoretical", "--thickness", "100um", "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["specific_energy_Wh_per_kg"] == pytest.approx(567, rel=0.01)
    argv = ["-q", "cell", "--set", "state_of_the_art", "--param", "R_CT=150ohmcm2", "--param", "D_CAM=2.54e-11cm2/s",
            "--param", "d50_CAM=0.1um", "--beta", "1.5", "--current", "10mA/cm2", "--protocol", "charge-discharge",
            "--json", "-"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    params = out["parameters"]
    assert params["R_CT"] == pytest.approx(0.015) and params["D_CAM"] == pytest.approx(2.54e-15)
    assert params["beta_tort"] == 1.5 and params["beta_GB"] == 0 and out["protocol"] == "charge-discharge"
    assert out["charge_capacity_mAh_per_cm2"] > 0


def test_cell_from_an_analyze_report(tmp_path, capsys):
    vol, report, curve = tmp_path / "v.tif", tmp_path / "a.json", tmp_path / "curve.csv"
    assert main(["-q", "generate", "--shape", "40,32,32", "--voxel-size", "0.5um", "--fractions", "CAM=0.7,LLZO=0.3",
                 "--radius", "CAM=2um,LLZO=1.5um", "--seed", "2", "-o", str(vol)]) == 0
    assert main(["-q", "analyze", str(vol), "--axis", "0", "--json", str(report)]) == 0
    capsys.readouterr()
    assert main(["-q", "cell", "--report", str(report), "--current", "1mA/cm2", "--curve", str(curve),
                 "--json", "-"]) == 0
    out = json.loads(capsys.readouterr().out)
    analysed = json.loads(report.read_text())
    llzo = next(r for r in analysed["transport"] if r["phase"] == "LLZO")
    factor = llzo["sigma_eff_S_per_m"] / llzo["sigma_bulk_S_per_m"]
    eps = analysed["volume_fractions"]["LLZO"]
    assert out["effective_properties"]["sigma_eff_SE_S_per_m"] == pytest.approx(factor * 1.0)  # improved: σ0 1 S/m
    assert out["parameters"]["eps_SE"] == pytest.approx(eps)
    assert out["effective_properties"]["interface_area_per_volume_per_m"] == pytest.approx(
        analysed["morphology"]["interface_area_per_volume_per_m"]["CAM|LLZO"])
    assert curve.read_text().startswith("time_s,capacity_mAh_per_cm2,voltage_V")


@pytest.mark.parametrize(
    "args, match",
    [
        (["--set", "best"], "valid sets: state_of_the_art, improved"),
        (["--current=0mA/cm2"], "current density must be finite and > 0"),
        (["--current", "1mA"], "unknown unit"),
        (["--thickness=-50um"], "length must be finite"),
        (["--param", "v_min=4.5"], "v_min < v_max"),
        (["--param", "eps_CAM=0.9"], "must not exceed 1"),
        (["--param", "Rct=1ohmcm2"], "unknown parameter 'Rct'"),
        (["--report", "missing.json"], "does not exist"),
    ],
)
def test_cell_bad_input_is_one_line(capsys, args, match):
    assert main(["cell", *args]) == 1
    one_error_line(capsys, match)


def test_cell_study_writes_csv_and_png_once(tmp_path, capsys):
    out = tmp_path / "study"
    assert main(["-q", "cell-study", "sensitivity", "--out", str(out)]) == 0
    rows = (out / "sensitivity.csv").read_text().splitlines()
    assert rows[0].startswith("case,thickness_um,current_mA_per_cm2") and len(rows) == 1 + 8 * 4
    assert (out / "sensitivity.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["-q", "cell-study", "sensitivity", "--out", str(out)]) == 1
    one_error_line(capsys, "exists already")


def test_cell_with_a_parameter_file_and_profiles(tmp_path, capsys):
    import shutil
    from pathlib import Path

    mine = tmp_path / "mine.json"
    shutil.copy(Path(__file__).resolve().parents[1] / "data" / "parameters" / "improved.json", mine)
    text = json.loads(mine.read_text())
    text["L_cat"] = 80e-6
    mine.write_text(json.dumps(text))
    profiles = tmp_path / "profiles.csv"
    assert main(["-q", "cell", "--set", str(mine), "--profiles", str(profiles), "--json", "-"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["thickness_um"] == pytest.approx(80)
    lines = profiles.read_text().splitlines()
    assert lines[0] == "time_s,x_um,phi_e_V,reaction_current_A_per_m2,lithiation" and len(lines) > 20 * 50


def test_run_end_to_end_on_a_grey_stack(tmp_path, capsys):
    import tifffile

    from microsim.generate import generate

    micro = generate((24, 24, 24), {"CAM": 0.45, "pore": 0.2}, 4e-6, voxel_size=1e-6, matrix="LLZO", seed=3)
    grey = np.array([40, 200, 120], np.uint8)[micro.labels]  # pore dark, LLZO mid, CAM bright
    noisy = np.clip(grey + np.random.default_rng(0).normal(0, 10, grey.shape), 0, 255).astype(np.uint8)
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, noisy, imagej=True, resolution=(1.0, 1.0), metadata={"spacing": 1.0, "unit": "um", "axes": "ZYX"})
    report, vti, png = tmp_path / "r.json", tmp_path / "f.vti", tmp_path / "s.png"
    argv = ["-q", "run", str(stack), "--classes", "pore,LLZO,CAM", "--sigma", "LLZO=8e-4S/cm", "--axis", "0",
            "--json", str(report), "--vti", str(vti), "--png", str(png)]
    assert main(argv) == 0
    data = json.loads(report.read_text())
    assert data["voxel_size_m"] == pytest.approx([1e-6] * 3)  # from the ImageJ metadata
    assert data["volume_fractions"]["CAM"] == pytest.approx(micro.volume_fraction("CAM"), abs=0.02)
    assert data["transport"][0]["phase"] == "LLZO" and data["transport"][0]["percolating"]
    assert png.read_bytes()[:4] == b"\x89PNG"
    from vtkmodules.vtkIOXML import vtkXMLImageDataReader

    reader = vtkXMLImageDataReader()
    reader.SetFileName(str(vti))
    reader.Update()
    names = [reader.GetOutput().GetCellData().GetArrayName(i) for i in range(3)]
    assert names == ["phase", "potential_LLZO_axis0", "current_density_LLZO_axis0"]
    assert main(argv) == 1  # outputs exist
    one_error_line(capsys, "exists already")


def test_segment_command_writes_named_labels(tmp_path, capsys):
    from microsim.reading import load_microstructure

    from pathlib import Path

    out = tmp_path / "labels.tif"
    gray = str(Path(__file__).resolve().parents[1] / "data" / "nrel_nmc1cal_gray_75.tif")
    argv = ["-q", "segment", gray, "--classes", "pore,CBD,NMC", "--denoise", "median", "--min-size", "8",
            "-o", str(out)]
    assert main(argv) == 0
    assert "pore" in capsys.readouterr().out
    micro = load_microstructure(out, voxel_size=0.398e-6)  # the crop stores no voxel size
    assert micro.phases == {"pore": 0, "CBD": 1, "NMC": 2}
    with pytest.raises(Exception, match="does not store a voxel size"):
        load_microstructure(out)


@pytest.mark.parametrize(
    "make, args, match",
    [
        (lambda d: np.save(d / "g.npy", np.zeros((4, 4), np.uint8)), ["--classes", "a,b"], "3-D stack is needed"),
        (lambda d: np.save(d / "g.npy", np.full((4, 4, 4), 7, np.uint8)), ["--classes", "a,b"], "single grey level"),
        (lambda d: np.save(d / "g.npy", np.arange(64, dtype=np.uint8).reshape(4, 4, 4)), ["--classes", "a"],
         "two or more names"),
        (lambda d: np.save(d / "g.npy", np.arange(64, dtype=np.uint8).reshape(4, 4, 4)),
         ["--classes", "a,b,c", "--thresholds", "30"], "need 2 thresholds"),
        (lambda d: np.save(d / "g.npy", np.arange(64, dtype=np.uint8).reshape(4, 4, 4)),
         ["--classes", "a,b", "--crop", "9:20,,"], "lies outside the volume"),
        (lambda d: (d / "g.npy").write_bytes(b"not a numpy file"), ["--classes", "a,b"], "cannot read"),
    ],
)
def test_segment_bad_input_is_one_line(tmp_path, capsys, make, args, match):
    make(tmp_path)
    assert main(["segment", str(tmp_path / "g.npy"), *args, "-o", str(tmp_path / "out.tif")]) == 1
    one_error_line(capsys, match)
    assert not (tmp_path / "out.tif").exists()


def test_run_needs_classes_or_phases_and_a_voxel_size(tmp_path, capsys):
    np.save(tmp_path / "g.npy", np.arange(512, dtype=np.uint16).reshape(8, 8, 8))
    assert main(["run", str(tmp_path / "g.npy"), "--voxel-size", "1um"]) == 1
    one_error_line(capsys, "give --classes")
    assert main(["run", str(tmp_path / "g.npy"), "--classes", "pore,CAM"]) == 1
    one_error_line(capsys, "does not store a voxel size")
    assert main(["run", str(tmp_path / "g.npy"), "--classes", "pore,CAM", "--voxel-size", "1um",
                 "--vti", str(tmp_path / "missing" / "f.vti")]) == 1
    one_error_line(capsys, "does not exist")


def test_asr_contract(tmp_path, capsys):
    from tests.test_electrochem import bilayer

    path = tmp_path / "bi.npy"
    np.save(path, bilayer(0, 6, 10))
    argv = ["-q", "asr", str(path), "--phases", "0=pore,1=CAM,2=LLZO", "--voxel-size", "1um",
            "--sigma", "LLZO=8e-4S/cm,CAM=4.54e-2S/cm", "--rct", "1ohmcm2", "--rsp", "0ohmcm2", "--current",
            "1mA/cm2", "--json", "-", "--vti", str(tmp_path / "a.vti")]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("asr_ohm_cm2", "asr_ionic_ohm_cm2", "asr_electronic_ohm_cm2", "asr_interface_ohm_cm2",
                "active_cam_fraction"):
        assert key in out
    assert out["asr_ionic_ohm_cm2"] == pytest.approx(6e-6 / 0.08 * 1e4, rel=1e-6)
    assert (tmp_path / "a.vti").exists()
    broken = bilayer(0, 6, 10)
    broken[-1] = 2
    np.save(path, broken)
    assert main(argv[:-2] + ["--force"]) == 1
    assert "does not touch the current-collector" in capsys.readouterr().err


def test_a_volume_too_big_is_refused_before_the_morphology(volume_tif, monkeypatch, capsys):
    import microsim.transport.axis_solve as axis_solve

    monkeypatch.setattr(axis_solve, "available_memory_bytes", lambda: 1000)
    assert main(["analyze", str(volume_tif), "--sigma", "LLZO=1S/m"]) == 1
    err = capsys.readouterr().err
    assert "measuring the morphology" not in err
    errors = [line for line in err.splitlines() if line.startswith("microsim: error")]
    assert len(errors) == 1 and "--backend petsc" in errors[0] and "GiB are available" in errors[0]


def test_run_cell_writes_the_cell_block_and_cell_report_agrees(tmp_path, capsys):
    # issue 14: `run --cell` and `cell --report` of its report are one code path (1e-6)
    vol = tmp_path / "c.tif"
    assert main(["-q", "generate", "--shape", "32,24,24", "--voxel-size", "0.5um", "--fractions", "CAM=0.7,LLZO=0.3",
                 "--radius", "CAM=2um,LLZO=1um", "--packing", "sintered", "--seed", "3", "-o", str(vol)]) == 0
    report = tmp_path / "r.json"
    options = ["--thickness", "50um", "--current", "10mA/cm2"]
    assert main(["-q", "run", str(vol), "--axis", "0", "--cell", "improved", *options, "--json", str(report)]) == 0
    assert "Wh/kg" in capsys.readouterr().out
    block = json.loads(report.read_text())["cell"]
    for key in ("specific_energy_Wh_per_kg", "energy_density_Wh_per_L", "theoretical_specific_energy_Wh_per_kg",
                "utilisation", "overpotentials_mV", "parameters"):
        assert key in block
    sources = {k: v["source"] for k, v in block["parameters"].items()}
    assert sources["sigma_eff"] == sources["kappa_eff"] == sources["area_per_volume"] == "measured"
    assert sources["d50_CAM"] == "measured" and sources["L_cat"] == "given" and sources["R_CT"] == "set"
    assert block["parameters"]["L_cat"]["value"] == pytest.approx(50e-6)
    assert 0 < block["specific_energy_Wh_per_kg"] <= block["theoretical_specific_energy_Wh_per_kg"]
    assert main(["-q", "cell", "--report", str(report), "--set", "improved", *options, "--json", "-"]) == 0
    again = json.loads(capsys.readouterr().out)
    for key in ("specific_energy_Wh_per_kg", "energy_density_Wh_per_L", "utilisation", "capacity_mAh_per_cm2"):
        assert again[key] == pytest.approx(block[key], rel=1e-6)
    assert again["parameter_sources"] == sources
