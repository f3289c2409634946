"""Sphere generator: fractions, reproducibility, gradients, separator, grains, bad input."""

import math

import numpy as np
import pytest

from microsim.errors import InvalidInputError
from microsim.generate import FRACTION_TOLERANCE, Gradient, LogNormal, generate, voronoi_grains
from microsim.morphology import measure_morphology
from microsim.transport import solve_transport

VOXEL = 0.5e-6
REFERENCE = {"fractions": {"CAM": 0.75, "LLZO": 0.25}, "radius": {"CAM": 3e-6, "LLZO": 2e-6}}  # 6 and 4 voxels
POROUS = {"fractions": {"CAM": 0.40, "LLZO": 0.35}, "radius": {"CAM": 3e-6, "LLZO": 2e-6}}


@pytest.mark.parametrize("packing", ["overlapping", "sintered"])
@pytest.mark.parametrize("recipe", [REFERENCE, POROUS], ids=["75-25-0", "40-35-25"])
@pytest.mark.parametrize("seed", [1, 2])
def test_targets_met_at_128(packing, recipe, seed):
    # the acceptance: within 0.5 % (absolute) at 128^3, radii >= 4 voxels
    m = generate((128, 128, 128), recipe["fractions"], recipe["radius"], voxel_size=VOXEL, packing=packing, seed=seed)
    f = m.volume_fractions()
    wanted = {**recipe["fractions"], "pore": 1 - sum(recipe["fractions"].values())}
    for name, target in wanted.items():
        assert abs(f[name] - target) <= FRACTION_TOLERANCE, (name, f[name], target)


@pytest.mark.parametrize("packing", ["overlapping", "sintered"])
def test_same_seed_same_volume(packing):
    make = lambda seed: generate((32, 32, 32), {"CAM": 0.5, "LLZO": 0.3}, 3e-6, voxel_size=1e-6,  # noqa: E731
                                 packing=packing, grain_size=4e-6, seed=seed)
    a, b, c = make(9), make(9), make(10)
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.grains, b.grains)
    assert not np.array_equal(a.labels, c.labels)


def test_boolean_model_specific_surface():
    # Overlapping spheres of radius r with covered fraction phi (a Boolean model):
    # S_v = (1 - phi) * lambda * 4 pi r^2 with lambda = -ln(1 - phi) / (4/3 pi r^3),
    # i.e. S_v = 3 (1 - phi) (-ln(1 - phi)) / r. Checks the generator's statistics and
    # the area estimator together; 5 % covers sampling noise (~1 %) and digitisation.
    r, phi = 6, 0.4
    m = generate((96, 96, 96), {"CAM": phi}, r * 1e-6, voxel_size=1e-6, periodic=True, seed=3)
    expected = 3 * (1 - phi) * -math.log(1 - phi) / (r * 1e-6)
    measured = measure_morphology(m, thickness=False).specific_surface_area("CAM")
    assert measured == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize("packing", ["overlapping", "sintered"])
@pytest.mark.parametrize("periodic", [False, True])
def test_periodic_volumes_wrap(periodic, packing):
    m = generate((48, 48, 48), {"CAM": 0.4}, 4e-6, voxel_size=1e-6, periodic=periodic, packing=packing, seed=5)
    cam = m.labels == 1
    inner = np.mean(cam[:, :, 1:] != cam[:, :, :-1])  # share of differing neighbours inside
    across = np.mean(cam[:, :, 0] != cam[:, :, -1])  # ... and across the box face
    if periodic:
        assert across < 2 * inner
    else:
        assert across > 0.4  # independent: 2 phi (1 - phi) = 0.48


@pytest.mark.parametrize("packing", ["overlapping", "sintered"])
@pytest.mark.parametrize("mode, values", [("linear", (0.67, 0.33)), ("layers", (0.6, 0.45, 0.3))])
def test_gradient_profile_slice_by_slice(packing, mode, values):
    gradient = Gradient("CAM", values, mode=mode)
    mean = float(np.mean(gradient.profile(96)))
    m = generate((96, 64, 64), {"CAM": mean, "LLZO": 1 - mean}, {"CAM": 2e-6, "LLZO": 1.5e-6}, voxel_size=0.5e-6, packing=packing,
                 gradient=gradient, seed=4)
    measured = (m.labels == 1).mean(axis=(1, 2))
    wanted = gradient.profile(96)
    # every slice within 2 % (one particle section of 4 voxels radius is 1.2 % of a slice)
    assert np.max(np.abs(measured - wanted)) < 0.02
    assert measured.mean() == pytest.approx(wanted.mean(), abs=FRACTION_TOLERANCE)
    assert np.all((m.labels == 1) | (m.labels == 2))  # no pore asked for, none made


@pytest.mark.parametrize("periodic", [False, True])
def test_sintered_particles_respect_the_allowed_overlap(periodic):
    from microsim.generate import _rsa

    box = 40
    targets = np.array([[0.6 * box**3], [0.3 * box**3]])
    centres, radii, kinds = _rsa((box,) * 3, {"CAM": 5e-6, "LLZO": 2.5e-6}, targets, 0.2,
                                 np.random.default_rng(0), (periodic,) * 3, 1e-6, 1)
    assert set(np.unique(kinds)) == {0, 1} and np.allclose(radii[kinds == 0], 5)
    delta = np.abs(centres[:, None, :] - centres[None, :, :])
    if periodic:
        delta = np.minimum(delta, box - delta)
    dist = np.sqrt((delta**2).sum(axis=2))[np.triu_indices(len(radii), 1)]
    assert np.all(dist >= 0.8 * (radii[:, None] + radii[None, :])[np.triu_indices(len(radii), 1)] - 1e-9)


def test_separator_slab_and_grains():
    m = generate((64, 48, 48), {"CAM": 0.6, "LLZO": 0.4}, 2.5e-6, voxel_size=0.5e-6, separator=5e-6,
                 grain_size=2e-6, seed=2)
    assert np.all(m.labels[:10] == 2) and not np.all(m.labels[10:] == 2)
    assert (m.labels[10:] == 1).mean() == pytest.approx(0.6, abs=FRACTION_TOLERANCE)
    # grain ids cover exactly the LLZO voxels, separator included
    assert np.array_equal(m.grains > 0, m.labels == 2)
    grains = measure_morphology(m, thickness=False).grains
    # one seed per pi/6 d^3 of LLZO: the mean grain is that volume (to the rounding of the seed count)
    assert grains["mean_diameter_m"] == pytest.approx(2e-6, rel=0.01)


def test_voronoi_grains_are_cells_of_nearest_seed():
    # a dense box: the cells are convex, one piece each (on the grid a cell may shed a
    # corner voxel, which becomes a grain of its own); the count of pieces is the box
    # volume over pi/6 d^3 to 2 %
    from scipy import ndimage

    labels = np.full((20, 20, 20), 2, np.uint8)
    grains = voronoi_grains(labels, 8.0, phase_label=2, seed=1)
    sizes = np.bincount(grains.ravel())[1:]
    wanted = 8000 / (math.pi / 6 * 512)
    assert sizes.sum() == labels.size and abs(len(sizes) - wanted) <= max(1, 0.02 * wanted)
    for gid in range(1, len(sizes) + 1):
        assert ndimage.label(grains == gid)[1] == 1


def test_log_normal_sizes():
    dist = LogNormal(d50=6e-6, spread=0.3)
    r = dist.radii(np.random.default_rng(0), 20000)
    assert np.median(2 * r) == pytest.approx(6e-6, rel=0.02)
    assert np.std(np.log(r)) == pytest.approx(0.3, rel=0.03)
    mean_std = LogNormal.from_mean_std(6e-6, 2e-6)
    assert math.exp(math.log(mean_std.d50) + mean_std.spread**2 / 2) == pytest.approx(6e-6)
    m = generate((64, 64, 64), {"CAM": 0.5, "LLZO": 0.5}, {"CAM": dist, "LLZO": 1.5e-6}, voxel_size=0.5e-6,
                 packing="sintered", seed=1)
    assert m.volume_fraction("CAM") == pytest.approx(0.5, abs=FRACTION_TOLERANCE)


@pytest.mark.slow
@pytest.mark.parametrize("packing", ["overlapping", "sintered"])
def test_reference_composite_percolates_in_both_phases(packing):
    m = generate((128, 128, 128), **REFERENCE, voxel_size=VOXEL, packing=packing, seed=1)
    morph = measure_morphology(m, thickness=False)
    assert min(morph.spanning_fraction["CAM"]) > 0.95 and min(morph.spanning_fraction["LLZO"]) > 0.5
    for phase in ("CAM", "LLZO"):
        (result,) = solve_transport(m, {phase: 1.0}, axes=0)
        assert result.percolating and result.sigma_eff > 0


@pytest.mark.parametrize(
    "shape, fractions, radius, options, match",
    [
        ((16, 16, 16), {"CAM": 0.7, "LLZO": 0.4}, 2e-6, {}, "sum to at most 1"),
        ((16, 16, 16), {"CAM": -0.1}, 2e-6, {}, "must lie in"),
        ((16, 16, 16), {"SE": 0.3}, 2e-6, {}, "unknown phase 'SE'"),
        ((16, 16, 16), {"CAM": 0.3}, -2e-6, {}, "must be positive"),
        ((16, 16, 16), {"CAM": 0.3}, 0.0, {}, "must be positive"),
        ((16, 16, 16), {"CAM": 0.3}, 1e-7, {}, "below half a voxel"),
        ((16, 16, 16), {"CAM": 0.3}, 9e-6, {}, "larger than the box"),
        ((16, 16), {"CAM": 0.3}, 2e-6, {}, "3-D box"),
        ((16, 16, 16), {"CAM": 0.3}, 2e-6, {"voxel_size": (1e-6, 1e-6, 2e-6)}, "isotropic"),
        ((16, 16, 16), {"CAM": 0.3}, 2e-6, {"packing": "random"}, "packing must be"),
        ((16, 16, 16), {"CAM": 0.3, "LLZO": 0.2}, 2e-6, {"gradient": Gradient("CAM", (0.9, 0.1))}, "only fill"),
        ((16, 16, 16), {"CAM": 0.3}, 2e-6, {"separator": 20e-6}, "separator thickness"),
        ((16, 16, 16), {"CAM": 0.9995}, 2e-6, {}, "no room"),
        ((16, 16, 16), {"CAM": 0.3}, {"LLZO": 2e-6}, {}, "no particle radius given for CAM"),
        ((16, 16, 16), {"CAM": 0.3}, 2e-6, {"packing": "sintered", "matrix": "LLZO"}, "no matrix"),
    ],
)
def test_bad_requests_are_refused(shape, fractions, radius, options, match):
    with pytest.raises(InvalidInputError, match=match):
        generate(shape, fractions, radius, **{"voxel_size": 1e-6, **options})


def test_bad_gradients_and_distributions():
    with pytest.raises(InvalidInputError, match="at least two"):
        Gradient("CAM", (0.5,))
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        Gradient("CAM", (0.5, 1.2))
    with pytest.raises(InvalidInputError, match="d50"):
        LogNormal(-1e-6, 0.2)


def test_sintered_gradient_with_large_polydisperse_particles():
    # large log-normal CAM (median radius 6 voxels, up to 15) under a steep gradient: the
    # particles spill over slice targets; rim trimming and per-phase tie-breaking in the
    # growth step still meet every slice
    gradient = Gradient("CAM", (0.67, 0.33))
    m = generate((64, 48, 48), {"CAM": 0.5, "LLZO": 0.5}, {"CAM": LogNormal(6e-6, 0.3), "LLZO": 1.5e-6},
                 voxel_size=0.5e-6, packing="sintered", gradient=gradient, seed=1)
    measured = (m.labels == 1).mean(axis=(1, 2))
    assert np.max(np.abs(measured - gradient.profile(64))) < 0.005


# -- issue 23: sizes and faces of the sintered packing, grains that are grains ------------
def _interior_equivalent_radii(mask: np.ndarray) -> np.ndarray:
    """Equivalent radii (3V/4π)^(1/3) [voxels] of the face-connected pieces of ``mask``
    that touch no box face."""
    from scipy import ndimage

    pieces, _ = ndimage.label(mask)
    counts = np.bincount(pieces.ravel())
    touching = np.unique(np.concatenate([np.take(pieces, i, axis=a).ravel() for a in range(3) for i in (0, -1)]))
    inside = np.setdiff1d(np.arange(1, counts.size), touching)
    return (3 * counts[inside] / (4 * math.pi)) ** (1 / 3)


@pytest.mark.parametrize("n, seeds", [(48, 3), (64, 2)])
def test_sintered_particles_have_the_asked_radius_in_any_box(n, seeds):
    # dilute CAM (5 %), radius 4 voxels: the particles are isolated spheres, so the
    # median equivalent radius of those inside the box is the asked radius. Before
    # issue 23 the spheres outside the box counted in full against the in-box target
    # and the growth step made up the shortfall as a rim: r (n + 2m)/n with m = r.
    r = 4
    radii = np.concatenate([
        _interior_equivalent_radii(generate((n,) * 3, {"CAM": 0.05}, r * 1e-6, voxel_size=1e-6,
                                            packing="sintered", seed=seed).labels == 1)
        for seed in range(seeds)
    ])
    assert len(radii) >= 20
    assert np.median(radii) == pytest.approx(r, rel=0.01)
    assert np.median(radii) < r * (n + 2 * r) / n - 0.05 * r  # far from the old bias


def _particles_of_sphere(labels, label, centres, radii):
    """Voxels of ``label`` given to the sphere whose surface is nearest (gap = distance - radius)."""
    from microsim.balls import ball_hits

    best = np.full(labels.size, np.inf, np.float32)
    owner = np.full(labels.size, -1)
    for flat, ball, dist in ball_hits(labels.shape, centres, radii + 4):
        gap = dist - radii[ball].astype(np.float32)
        order = np.argsort(-gap)  # the smallest gap is written last and wins
        flat, ball, gap = flat[order], ball[order], gap[order]
        closer = gap < best[flat]
        best[flat[closer]] = gap[closer]
        owner[flat[closer]] = ball[closer]
    owner[labels.ravel() != label] = -1
    return np.bincount(owner[owner >= 0], minlength=len(radii))


def test_sintered_log_normal_sizes_come_out_as_drawn():
    # log-normal radii (median 4 voxels, spread 0.3): every interior particle's equivalent
    # radius matches the radius drawn for it, so the median and the spread of ln r are
    # those of the draws (tested against the distribution in test_log_normal_sizes).
    # A common rim, as before issue 23, shifts the median up and narrows the spread.
    from microsim.generate import _place_sintered

    n, table = 64, {"pore": 0, "CAM": 1, "LLZO": 2}
    dist = LogNormal(8e-6, 0.3)
    measured, drawn = [], []
    for seed in range(3):
        labels, free = np.zeros((n,) * 3, np.uint8), np.ones((n,) * 3, bool)
        centres, radii, kinds = _place_sintered(labels, free, {"CAM": dist}, {"CAM": np.full(n, 0.05)}, 0.2, table,
                                                np.random.default_rng(seed), (False,) * 3, 1e-6)
        counts = _particles_of_sphere(labels, 1, centres, radii)
        margin = radii.max() + 4  # the whole particle and its neighbourhood inside the box
        inner = np.all((centres >= margin) & (centres <= n - margin), axis=1)
        measured.append((3 * counts[inner] / (4 * math.pi)) ** (1 / 3))
        drawn.append(radii[inner])
    measured, drawn = np.concatenate(measured), np.concatenate(drawn)
    assert len(measured) >= 20
    assert np.median(measured / drawn) == pytest.approx(1, abs=0.01)
    assert np.std(np.log(measured)) == pytest.approx(np.std(np.log(drawn)), rel=0.03)


def test_sintered_faces_have_the_fractions_of_the_interior():
    # the slice at each face against the interior (two radii away from every face),
    # averaged over the six faces, per seed, then over 24 seeds. Before issue 23 the
    # face slices had 0.11 pore against 0.15 inside: the walls of the RSA box layered
    # the spheres. A face slice of 48^2 voxels cuts only ~45 particles of radius 4, so
    # the CAM/LLZO split of one volume's faces scatters by ~0.05 (measured over 48
    # seeds, either generator): over 24 seeds the mean is known to ~0.01, and the
    # solid phases are held to three standard errors of it. The pore (the gaps between
    # all particles, where the walls showed) scatters by 0.02 and is held to 0.01.
    # benchmarks/packing.py shows every phase within 0.01 at 96^3 and 128^3.
    n, r, seeds = 48, 4, 24
    diff = np.zeros((seeds, 3))
    for seed in range(seeds):
        labels = generate((n,) * 3, {"CAM": 0.5, "LLZO": 0.35}, r * 1e-6, voxel_size=1e-6, packing="sintered",
                          seed=seed).labels
        for label in range(3):
            mine = labels == label
            face = np.mean([np.take(mine, i, axis=a).mean() for a in range(3) for i in (0, -1)])
            diff[seed, label] = face - mine[2 * r:-2 * r, 2 * r:-2 * r, 2 * r:-2 * r].mean()
    mean, error = diff.mean(axis=0), diff.std(axis=0, ddof=1) / math.sqrt(seeds)
    assert abs(mean[0]) < 0.01, (mean, error)  # pore
    assert np.all(np.abs(mean[1:]) < 3 * error[1:]) and np.all(error[1:] < 0.015), (mean, error)


def test_grains_are_connected_pieces_of_the_asked_size():
    # sintered 50/30/20 composite, 4-voxel grains asked: every grain id is one
    # face-connected piece, and the mean grain volume over the pieces is pi/6 d^3
    from scipy import ndimage

    from microsim.generate import split_grains

    d = 4
    m = generate((48, 48, 48), {"CAM": 0.5, "LLZO": 0.3}, 3e-6, voxel_size=1e-6, packing="sintered",
                 grain_size=d * 1e-6, seed=1)
    grains = m.grains
    assert np.array_equal(grains > 0, m.labels == 2)
    count = int(grains.max())
    assert np.array_equal(np.unique(grains[grains > 0]), np.arange(1, count + 1))
    assert np.array_equal(split_grains(grains), grains)  # nothing left to split
    pieces, n_pieces = ndimage.label(grains > 0)  # LLZO clusters: each holds whole grains
    assert n_pieces <= count
    mean_d = (6 / math.pi * np.count_nonzero(grains) / count) ** (1 / 3)
    assert mean_d == pytest.approx(d, rel=0.05)
    assert measure_morphology(m, thickness=False).grains["mean_diameter_m"] == pytest.approx(mean_d * 1e-6)


def test_split_grains_wraps_on_periodic_axes():
    grains = np.zeros((6, 6, 6), np.int32)
    grains[:, :, :2] = 1
    grains[:, :, 4:] = 1  # one id, two slabs: two grains, or one across the wrapped face
    grains[:, :, 3] = 2
    from microsim.generate import split_grains

    assert split_grains(grains).max() == 3
    assert split_grains(grains, periodic=(False, False, True)).max() == 2
    assert split_grains(grains, periodic=(True, True, False)).max() == 3


@pytest.mark.parametrize("options", [{"gradient": Gradient("CAM", (0.6, 0.4))}, {"separator": 4e-6}])
def test_periodic_with_gradient_or_separator_names_axis_0(options, caplog):
    with caplog.at_level("WARNING", logger="microsim.generate"):
        generate((24, 24, 24), {"CAM": 0.5, "LLZO": 0.5}, 2e-6, voxel_size=1e-6, periodic=True, seed=1, **options)
    (record,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "axis 0 does not wrap" in record.getMessage() and "axes 1 and 2" in record.getMessage()


def test_cli_periodic_with_separator_says_axis_0_is_not_periodic(tmp_path, capsys):
    from microsim.cli import main

    argv = ["generate", "--shape", "24,16,16", "--voxel-size", "1um", "--fractions", "CAM=0.4", "--radius", "2um",
            "--separator", "4um", "--periodic", "--seed", "1", "-o", str(tmp_path / "g.npz")]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "periodic: axis 0 does not wrap (a separator runs along it)" in err


# -- dense sintered composites: the particles keep their radii ------------------------------
def _dense_particles(n, spec, seed, overlap=0.2):
    """85 % solid (CAM 0.5, LLZO 0.35, both of ``spec``): the equivalent radius of every
    interior sphere (its voxels: those of its phase nearest its surface), the radii
    drawn for them, and the radii of all spheres centred in the box."""
    from microsim.generate import _place_sintered

    table = {"pore": 0, "CAM": 1, "LLZO": 2}
    labels, free = np.zeros((n,) * 3, np.uint8), np.ones((n,) * 3, bool)
    centres, radii, kinds = _place_sintered(labels, free, {"CAM": spec, "LLZO": spec},
                                            {"CAM": np.full(n, 0.5), "LLZO": np.full(n, 0.35)}, overlap, table,
                                            np.random.default_rng(seed), (False,) * 3, 1e-6)
    measured, drawn = [], []
    for kind, label in ((0, 1), (1, 2)):
        c, r = centres[kinds == kind], radii[kinds == kind]
        counts = _particles_of_sphere(labels, label, c, r)
        margin = r.max() + 4
        inner = np.all((c >= margin) & (c <= n - margin), axis=1)
        measured.append((3 * counts[inner] / (4 * math.pi)) ** (1 / 3))
        drawn.append(r[inner])
    in_box = np.all((centres >= 0) & (centres < n), axis=1)
    return np.concatenate(measured), np.concatenate(drawn), radii[in_box], kinds[in_box], labels


def test_dense_sintered_particles_have_the_asked_radius():
    # 85 % solid, radius 4 voxels, necks of 0.2. Every voxel of a phase belongs to
    # the particle of that phase whose surface is nearest. The box holds 0.5 n^3 of CAM
    # and 0.35 n^3 of LLZO; spheres of 4/3 pi r^3 reach that with N = f n^3 / (4/3 pi r^3)
    # of them (centres in the box: the shell around it is packed alike, so what leaves
    # the box through a face comes in through it), and the growth step's rims then only
    # make up the necks' lenses: the median particle is r. Before, addition jammed at
    # about 60 % of N and the rims made r (1/0.6)^(1/3) = 1.18 r.
    n, r = 48, 4
    measured, _, _, kinds, labels = _dense_particles(n, r * 1e-6, seed=1)
    for phase, (k, f) in {"CAM": (0, 0.5), "LLZO": (1, 0.35)}.items():
        expected = f * n**3 / (4 / 3 * math.pi * r**3)
        assert np.count_nonzero(kinds == k) == pytest.approx(expected, rel=0.08), phase  # spheres on the faces: ~3 %
    assert len(measured) >= 100
    assert np.median(measured) == pytest.approx(r, rel=0.02)
    assert (labels == 0).mean() == pytest.approx(0.15, abs=FRACTION_TOLERANCE)


def test_dense_sintered_log_normal_sizes_come_out_as_drawn():
    # log-normal radii (median 4 voxels, spread 0.3) at 85 % solid: each interior
    # particle as large as the radius drawn for it, and the spheres in the box drawn
    # from the asked distribution. Addition turns large spheres away more often than
    # small ones; redrawing a radius after a miss had left the box with a median of
    # 3.7 (-8 %). Sampling error over ~1200 spheres: 1.25 x 0.3 / sqrt(1200) = 1.1 % on
    # the median, 0.3 / sqrt(2400) = 2 % on the spread; the bounds are 3.5 and 2.5 of it.
    measured, drawn, in_box = [], [], []
    for seed in (1, 2):
        m, d, b, _, _ = _dense_particles(64, LogNormal(8e-6, 0.3), seed)
        measured.append(m)
        drawn.append(d)
        in_box.append(b)
    measured, drawn, in_box = np.concatenate(measured), np.concatenate(drawn), np.concatenate(in_box)
    assert len(in_box) >= 1000 and len(measured) >= 100
    assert np.median(measured / drawn) == pytest.approx(1, abs=0.02)
    assert np.median(in_box) == pytest.approx(4, rel=0.04)
    assert np.std(np.log(in_box)) == pytest.approx(0.3, rel=0.05)


def test_sintered_request_beyond_the_packing_limit_warns_with_numbers(caplog):
    # hard spheres (overlap 0) at 85 % solid: their cores would fill 0.85 of the box,
    # beyond what a random packing reaches (~0.6). The particles keep their radius,
    # overlap instead, and the warning says by how much and which overlap would do:
    # 1 - (0.9 x 0.6 / 0.85)^(1/3) = 0.14
    from microsim.generate import CORE_PACKING_LIMIT

    with caplog.at_level("WARNING", logger="microsim.generate"):
        m = generate((32, 32, 32), {"CAM": 0.5, "LLZO": 0.35}, 3e-6, voxel_size=1e-6, packing="sintered",
                     overlap=0.0, seed=1)
    (record,) = [r for r in caplog.records if r.levelname == "WARNING"]
    message = record.getMessage()
    suggest = 1 - (0.9 * CORE_PACKING_LIMIT / 0.85) ** (1 / 3)
    assert "0.85 solid does not fit with overlap 0" in message and "= 0.85 of the box" in message
    assert f"overlap of about {suggest:.2f}" in message and f"{suggest:.2f}" == "0.14"
    assert m.volume_fraction("pore") == pytest.approx(0.15, abs=FRACTION_TOLERANCE)
    caplog.clear()
    with caplog.at_level("WARNING", logger="microsim.generate"):  # the default necks: no warning
        generate((32, 32, 32), {"CAM": 0.5, "LLZO": 0.35}, 3e-6, voxel_size=1e-6, packing="sintered", seed=1)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
