"""Does the packing deliver what was asked? Particle sizes, face fractions, grain sizes.

For each box size and packing (sintered against overlapping):

* **sizes** -- dilute CAM (5 vol%) of radius 4 voxels, monodisperse and log-normal
  (spread 0.3 of ln d), measured two ways:
  *pieces*: the equivalent radius (3V/4π)^(1/3) of every face-connected CAM piece that
  touches no box face, weighted by 1/Π(n_a - e_a - 1) (e_a: its extent; the
  Miles-Lantuéjoul correction for the pieces that a box of that size can hold whole);
  the weighted median against the asked median radius, and the weighted standard
  deviation of ln r against the asked spread. Particles that touch are one piece:
  at 5 % CAM with necks of 0.2, one sintered sphere in five touches another, which
  widens the pieces' spread by about 5 % (overlapping spheres merge into clusters
  alike). *particles* (sintered only): every CAM voxel belongs to the sphere whose
  surface is nearest; the equivalent radius of each sphere that lies, with 4 voxels
  around it, inside the box, Miles-weighted as the pieces (1/Π(n_a - 2(r + 4))).
* **dense** (sintered only) -- 85 % solid (CAM 0.5, LLZO 0.35, radius 4 voxels, both
  phases), monodisperse and spread 0.3: the particles' median equivalent radius and
  ln-r spread as above, CAM and LLZO together. Before the rearrangement step the
  placement jammed at about 60 % of the particles and the growth step gave them
  +18 %.
* **faces** -- CAM 0.5, LLZO 0.35, pore 0.15, radius 4 voxels: each phase's fraction in
  the six face slices against the interior (two radii from every face), the largest
  difference over the phases.
* **grains** -- LLZO grains of 4 voxels asked in the sintered 50/30/20 composite: grain
  count, connected pieces per grain id, mean equivalent diameter of the grains.

Run from the repository root (the full table, 48^3 to 128^3; minutes on one core):

    python benchmarks/packing.py                            # 48 64 96 128, writes RESULTS.md
    python benchmarks/packing.py --sizes 48 --seeds 2 --no-write
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from _results import publish  # noqa: E402

START, END = "<!-- packing: start -->", "<!-- packing: end -->"
RADIUS = 4  # voxels
SPREAD = 0.3
FACES = {"CAM": 0.5, "LLZO": 0.35}
DENSE = {"CAM": 0.5, "LLZO": 0.35}  # 85 % solid
FACE_SEEDS = 6  # face slices are noisy: six times the volumes for them


def interior_radii(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equivalent radii [voxels] of the pieces touching no face, and their Miles weights."""
    from scipy import ndimage

    pieces, _ = ndimage.label(mask)
    counts = np.bincount(pieces.ravel())
    radii, weights = [], []
    for i, box in enumerate(ndimage.find_objects(pieces), start=1):
        if box is None or any(s.start == 0 or s.stop == n for s, n in zip(box, mask.shape)):
            continue
        radii.append((3 * counts[i] / (4 * math.pi)) ** (1 / 3))
        weights.append(1.0 / np.prod([n - (s.stop - s.start) - 1 for s, n in zip(box, mask.shape)]))
    return np.array(radii), np.array(weights)


def weighted_median(x: np.ndarray, w: np.ndarray) -> float:
    order = np.argsort(x)
    cum = np.cumsum(w[order])
    return float(x[order][np.searchsorted(cum, 0.5 * cum[-1])])


def particle_radii(labels: np.ndarray, centres: np.ndarray, radii: np.ndarray, kinds: np.ndarray,
                   phases: dict[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equivalent radii [voxels] of the interior spheres (their voxels: those of their
    phase whose nearest sphere surface is theirs), the radii drawn for them, and their
    Miles weights.

    A sphere is interior when it lies, with 4 voxels around it, inside the box; a box
    of n_a voxels holds such a sphere of radius r at a share Π(n_a - 2(r + 4)) of the
    centres, so each is weighted by the inverse (large spheres are cut more often).
    ``phases``: sphere kind -> phase label."""
    from microsim.balls import ball_hits

    measured, drawn, weights = [], [], []
    n = np.array(labels.shape)
    for kind, label in phases.items():
        c, r = centres[kinds == kind], radii[kinds == kind]
        best = np.full(labels.size, np.inf, np.float32)
        owner = np.full(labels.size, -1)
        for flat, ball, dist in ball_hits(labels.shape, c, r + 4):
            gap = dist - r[ball].astype(np.float32)
            order = np.argsort(-gap)  # the smallest gap is written last and wins
            flat, ball, gap = flat[order], ball[order], gap[order]
            closer = gap < best[flat]
            best[flat[closer]] = gap[closer]
            owner[flat[closer]] = ball[closer]
        owner[labels.ravel() != label] = -1
        counts = np.bincount(owner[owner >= 0], minlength=len(r))
        reach = (r + 4)[:, None]
        inner = np.all((c >= reach) & (c <= n - reach), axis=1)
        measured.append((3 * counts[inner] / (4 * math.pi)) ** (1 / 3))
        drawn.append(r[inner])
        weights.append(1.0 / np.prod(n - 2 * reach[inner], axis=1))
    return np.concatenate(measured), np.concatenate(drawn), np.concatenate(weights)


def sintered_particles(n: int, fractions: dict, spread: float, seeds: int) -> dict:
    """Median and ln-r spread errors of the sintered particles (see ``particle_radii``)."""
    from microsim.generate import LogNormal, _place_sintered

    table = {"pore": 0, "CAM": 1, "LLZO": 2}
    spec = LogNormal(2 * RADIUS * 1e-6, spread) if spread else RADIUS * 1e-6
    measured, weights = [], []
    for seed in range(seeds):
        labels, free = np.zeros((n,) * 3, np.uint8), np.ones((n,) * 3, bool)
        centres, radii, kinds = _place_sintered(labels, free, {p: spec for p in fractions},
                                                {p: np.full(n, f) for p, f in fractions.items()}, 0.2, table,
                                                np.random.default_rng(seed), (False,) * 3, 1e-6)
        r, _, w = particle_radii(labels, centres, radii, kinds, {k: table[p] for k, p in enumerate(fractions)})
        measured.append(r)
        weights.append(w)
    r, w = np.concatenate(measured), np.concatenate(weights)
    log_r = np.log(r)
    out = {"particles": len(r), "median_error": weighted_median(r, w) / RADIUS - 1}
    if spread:
        sd = math.sqrt(np.average((log_r - np.average(log_r, weights=w)) ** 2, weights=w))
        out["spread_error"] = sd / spread - 1
    return out


def sizes(n: int, packing: str, spread: float, seeds: int) -> dict:
    from microsim.errors import InvalidInputError
    from microsim.generate import LogNormal, generate

    radius = LogNormal(2 * RADIUS * 1e-6, spread) if spread else RADIUS * 1e-6
    r, w = [], []
    refused = 0
    for seed in range(seeds):
        try:
            m = generate((n,) * 3, {"CAM": 0.05}, radius, voxel_size=1e-6, packing=packing, seed=seed)
        except InvalidInputError:  # the overlapping cut is one whole sphere coarse: counted, not measured
            refused += 1
            continue
        a, b = interior_radii(m.labels == 1)
        r.append(a)
        w.append(b)
    r, w = np.concatenate(r), np.concatenate(w)
    median = weighted_median(r, w)
    log_r = np.log(r)
    sd = math.sqrt(np.average((log_r - np.average(log_r, weights=w)) ** 2, weights=w))
    out = {"pieces": len(r), "median_error": median / RADIUS - 1, "refused": refused}
    if spread:
        out["spread_error"] = sd / spread - 1
    return out


def faces(n: int, packing: str, seeds: int) -> dict:
    from microsim.generate import generate

    face, inner = np.zeros(3), np.zeros(3)
    for seed in range(seeds):
        labels = generate((n,) * 3, FACES, RADIUS * 1e-6, voxel_size=1e-6, packing=packing, seed=seed).labels
        for label in range(3):
            mine = labels == label
            face[label] += np.mean([np.take(mine, i, axis=a).mean() for a in range(3) for i in (0, -1)])
            d = 2 * RADIUS
            inner[label] += mine[d:-d, d:-d, d:-d].mean()
    face, inner = face / seeds, inner / seeds
    return {"pore_face": face[0], "pore_inner": inner[0], "worst": float(np.max(np.abs(face - inner)))}


def grains(n: int, seeds: int) -> dict:
    from microsim.generate import generate, split_grains

    count, per_id, diameters = 0, [], []
    for seed in range(seeds):
        m = generate((n,) * 3, {"CAM": 0.5, "LLZO": 0.3}, 3e-6, voxel_size=1e-6, packing="sintered",
                     grain_size=RADIUS * 1e-6, seed=seed)
        ids = int(m.grains.max())
        count += ids
        per_id.append(split_grains(m.grains).max() / ids)
        diameters.append((6 / math.pi * np.count_nonzero(m.grains) / ids) ** (1 / 3))
    return {"grains": count / seeds, "pieces_per_id": float(np.mean(per_id)),
            "diameter_error": float(np.mean(diameters)) / RADIUS - 1}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[48, 64, 96, 128])
    parser.add_argument("--seeds", type=int, default=4,
                        help="volumes at 128^3 (default 4); a smaller box gets as many more as keep the particles "
                             "counted (volume) and the face voxels (area) the same")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    lines = [
        "## Packing: sizes, faces and grains as asked",
        "",
        f"`python benchmarks/packing.py {' '.join(sys.argv[1:])}`".replace(" `", "`"),
        f"({args.seeds} volumes per cell at 128³, {FACE_SEEDS * args.seeds} for the faces, and in a box of n³ as many "
        "more as keep the particles ((128/n)³) and the face voxels ((128/n)²) counted the same; the dense cells half of "
        f"them; sizes: CAM 0.05, radius {RADIUS} "
        "voxels, spread 0.3 of ln r where named; pieces: Miles-weighted interior pieces, particles: voxels by nearest "
        "sphere surface, interior spheres; dense: CAM 0.5 and LLZO 0.35 of radius 4, particles; faces: CAM 0.5, "
        f"LLZO 0.35, pore 0.15; grains: {RADIUS} voxels asked in sintered 50/30/20; errors against the asked median "
        "radius and spread)",
        "",
        "| box (volumes, for the faces) | packing | median r err, mono: pieces / particles | median r err, spread 0.3: pieces / particles | "
        "ln-r spread err: pieces / particles | dense median r err, mono / spread 0.3 | dense ln-r spread err | "
        "pore face / inside | worst face − inside | grains per box | pieces per id | grain d err | s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n in args.sizes:
        volumes = math.ceil(args.seeds * (128 / n) ** 3)  # the same sampled volume at every size
        slices = math.ceil(FACE_SEEDS * args.seeds * (128 / n) ** 2)  # the same face area
        for packing in ("sintered", "overlapping"):
            t0 = time.perf_counter()
            mono = sizes(n, packing, 0.0, volumes)
            poly = sizes(n, packing, SPREAD, volumes)
            face = faces(n, packing, slices)
            if packing == "sintered":
                p_mono = sintered_particles(n, {"CAM": 0.05}, 0.0, volumes)
                p_poly = sintered_particles(n, {"CAM": 0.05}, SPREAD, volumes)
                d_mono = sintered_particles(n, DENSE, 0.0, max(1, volumes // 2))
                d_poly = sintered_particles(n, DENSE, SPREAD, max(1, volumes // 2))
                grain = grains(n, args.seeds)
                sized = (f"{mono['median_error']:+.1%} / {p_mono['median_error']:+.1%} | "
                         f"{poly['median_error']:+.1%} / {p_poly['median_error']:+.1%} | "
                         f"{poly['spread_error']:+.1%} / {p_poly['spread_error']:+.1%} | "
                         f"{d_mono['median_error']:+.1%} / {d_poly['median_error']:+.1%} | "
                         f"{d_poly['spread_error']:+.1%}")
                g = f"{grain['grains']:.0f} | {grain['pieces_per_id']:.2f} | {grain['diameter_error']:+.1%}"
            else:
                note = f" ({poly['refused']} refused)" if poly["refused"] else ""
                sized = (f"{mono['median_error']:+.1%} / – | {poly['median_error']:+.1%}{note} / – | "
                         f"{poly['spread_error']:+.1%} / – | – | –")
                g = "– | – | –"
            lines.append(
                f"| {n}³ ({volumes}, {slices}) | {packing} | {sized} | {face['pore_face']:.3f} / {face['pore_inner']:.3f} | "
                f"{face['worst']:.3f} | {g} | {time.perf_counter() - t0:.0f} |"
            )
            print(lines[-1], flush=True)
    publish(lines, START, END, write=not args.no_write)


if __name__ == "__main__":
    main()
