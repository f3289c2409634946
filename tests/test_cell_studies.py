"""Cell studies (Fig. 9 of Ren, Danner et al. 2023): the radars' data, their plot, and the
protocol named by every study's rows and pictures (issue 16, item 7)."""

import inspect

import pytest

from microsim.cell import improved, state_of_the_art
from microsim.cell.p2d import Grid
from microsim.cell.studies import (
    GROUPS,
    RADAR_GROUPS,
    STUDIES,
    group_values,
    parameter_label,
    plot_sensitivity,
    sensitivity,
    sensitivity_radar,
)
from microsim.errors import InvalidInputError, OutputExistsError

COARSE = Grid(n_x=6, n_r=6, n_t=30, stretch=None)  # seconds for the whole study, trends intact


@pytest.fixture(scope="module")
def rows():
    return sensitivity(grid=COARSE)  # 50 and 100 µm, 1 and 10 mA/cm^2, every group of GROUPS


def test_the_radars_are_the_seeds_six_groups_one_panel_per_thickness(rows):
    panels = sensitivity_radar(rows)
    assert [p.thickness_um for p in panels] == [50.0, 100.0]
    assert all(p.currents_mA_per_cm2 == (1.0, 10.0) for p in panels)
    assert all(p.groups == RADAR_GROUPS for p in panels) and len(RADAR_GROUPS) == 6
    assert "LLZO tortuosity" not in RADAR_GROUPS and set(RADAR_GROUPS) < set(GROUPS)
    assert "LLZO tortuosity" in {r["case"] for r in rows}  # the CSV keeps the row
    for panel in panels:
        sel = [r for r in rows if r["thickness_um"] == panel.thickness_um]
        assert panel.rim_Wh_per_kg == max(r["theoretical_specific_energy_Wh_per_kg"] for r in sel)
        assert panel.protocol == "discharge"
        for current in panel.currents_mA_per_cm2:
            at = {r["case"]: r["specific_energy_Wh_per_kg"] for r in sel if r["current_mA_per_cm2"] == current}
            assert panel.improved_Wh_per_kg[current] == at["improved"]
            assert panel.radius_Wh_per_kg[current] == tuple(at[g] for g in RADAR_GROUPS)


def test_the_improved_reference_lies_between_every_reverted_group_and_the_rim(rows):
    # reverting one group to a worse value cannot raise the energy; nothing beats theory
    for panel in sensitivity_radar(rows, groups=tuple(GROUPS)):
        for current in panel.currents_mA_per_cm2:
            reference = panel.improved_Wh_per_kg[current]
            assert 0 < reference <= panel.rim_Wh_per_kg
            assert all(0 <= e <= reference for e in panel.radius_Wh_per_kg[current])
        # and the diffusion length costs the most, more at the higher current
        worst = {c: min(zip(panel.radius_Wh_per_kg[c], panel.groups))[1] for c in panel.currents_mA_per_cm2}
        assert set(worst.values()) == {"CAM diffusion length (D, d50)"}
        k = panel.groups.index("CAM diffusion length (D, d50)")
        assert panel.radius_Wh_per_kg[10.0][k] < panel.radius_Wh_per_kg[1.0][k]


def test_radar_data_missing_a_group_or_the_reference_says_what(rows):
    with pytest.raises(InvalidInputError, match="lack 'improved' at 50 µm, 1 mA/cm²"):
        sensitivity_radar([r for r in rows if r["case"] != "improved"])
    with pytest.raises(InvalidInputError, match="lack 'no such group'"):
        sensitivity_radar(rows, groups=("no such group",))
    with pytest.raises(InvalidInputError, match="needs rows"):
        sensitivity_radar([])
    with pytest.raises(InvalidInputError, match="name no protocol"):
        sensitivity_radar([{**r, "protocol": ""} for r in rows])


def test_state_of_the_art_values_beside_the_axes_in_the_fields_units():
    assert group_values("LLZO ionic conductivity") == ["σ_SE 0.8 mS/cm"]  # 8e-4 S/cm
    assert group_values("LLZO secondary phases (beta_GB)") == ["β_GB 1.39"]
    assert group_values("resistive interphase (R_SP)") == ["R_SP 2600 Ω·cm²"]
    assert group_values("charge transfer (R_CT)") == ["R_CT 2600 Ω·cm²"]
    assert group_values("CAM diffusion length (D, d50)") == ["D 2.54×10⁻¹² cm²/s", "d50 10 µm"]
    assert group_values("electronic conductivity") == ["κ 45.4 mS/cm"]  # 4.54e-2 S/cm
    assert group_values("LLZO ionic conductivity", improved()) == ["σ_SE 10 mS/cm"]
    assert group_values("resistive interphase (R_SP)", improved()) == ["R_SP 0 Ω·cm²"]
    assert group_values("CAM diffusion length (D, d50)", improved())[1] == "d50 0.1 µm"
    assert parameter_label("sigma_SE", state_of_the_art().sigma_SE) == "σ_SE 0.8 mS/cm"
    with pytest.raises(InvalidInputError, match="unknown group"):
        group_values("LLZO")


def test_the_radar_plot_writes_a_png_once(rows, tmp_path):
    path = tmp_path / "sensitivity.png"
    assert plot_sensitivity(rows, path) == path and path.read_bytes()[:4] == b"\x89PNG"
    size = path.stat().st_size
    with pytest.raises(OutputExistsError, match="exists"):
        plot_sensitivity(rows, path)
    assert path.stat().st_size == size
    plot_sensitivity(rows, path, force=True, groups=tuple(GROUPS))  # all seven groups on request
    assert path.stat().st_size > 10_000


def _texts(fig) -> str:
    import matplotlib.text

    return "\n".join(t.get_text() for t in fig.findobj(matplotlib.text.Text))


# the theoretical study (Fig. 8c,d) simulates nothing: no protocol to name
@pytest.mark.parametrize("name", sorted(set(STUDIES) - {"theoretical"}))
def test_every_study_names_its_protocol_in_its_rows_and_its_plot(name, tmp_path, monkeypatch):
    import microsim.cell.studies as studies

    run, plot = STUDIES[name]
    accepted = inspect.signature(run).parameters
    small = {k: v for k, v in (("thicknesses", (50e-6,)), ("currents", (10.0, 100.0))) if k in accepted}
    rows = run(protocol="charge-discharge", grid=COARSE, **small)
    assert rows and all(r["protocol"] == "charge-discharge" for r in rows)
    seen = []
    real = studies.save_png

    def capture(fig, path, *, force=False):
        seen.append(_texts(fig))
        return real(fig, path, force=force)

    monkeypatch.setattr(studies, "save_png", capture)
    assert plot(rows, tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert len(seen) == 1 and "protocol: charge-discharge" in seen[0]
