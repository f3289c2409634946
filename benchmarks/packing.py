"""Does the packing deliver what was asked? Particle sizes, face fractions, grain sizes.

For each box size and packing (sintered against overlapping):

* **sizes** -- dilute CAM (5 vol%) of radius 4 voxels, monodisperse and log-normal
  (spread 0.3 of ln d): the equivalent radius (3V/4π)^(1/3) of every face-connected CAM
  piece that touches no box face, weighted by 1/Π(n_a - e_a - 1) (e_a: its extent; the
  Miles-Lantuéjoul correction for the pieces that a box of that size can hold whole);
  the weighted median against the asked median radius, and the weighted standard
  deviation of ln r against the truncated (±3σ) spread of the draws. Overlapping
  spheres merge into clusters: their pieces are clusters, not particles (shown for
  comparison).
* **faces** -- CAM 0.5, LLZO 0.35, pore 0.15, radius 4 voxels: each phase's fraction in
  the six face slices against the interior (two radii from every face), the largest
  difference over the phases.
* **grains** -- LLZO grains of 4 voxels asked in the sintered 50/30/20 composite: grain
  count, connected pieces per grain id, mean equivalent diameter of the grains.

Run from the repository root (the full table, 96^3 and 128^3; minutes on one core):

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


def truncated_spread(spread: float) -> float:
    """Standard deviation of ln r for a normal cut at ±3σ (the generator's draws)."""
    from scipy import stats

    return spread * math.sqrt(1 - 2 * 3 * stats.norm.pdf(3) / (2 * stats.norm.cdf(3) - 1))


def sizes(n: int, packing: str, spread: float, seeds: int) -> dict:
    from microsim.generate import LogNormal, generate

    radius = LogNormal(2 * RADIUS * 1e-6, spread) if spread else RADIUS * 1e-6
    r, w = [], []
    for seed in range(seeds):
        m = generate((n,) * 3, {"CAM": 0.05}, radius, voxel_size=1e-6, packing=packing, seed=seed)
        a, b = interior_radii(m.labels == 1)
        r.append(a)
        w.append(b)
    r, w = np.concatenate(r), np.concatenate(w)
    median = weighted_median(r, w)
    log_r = np.log(r)
    sd = math.sqrt(np.average((log_r - np.average(log_r, weights=w)) ** 2, weights=w))
    out = {"pieces": len(r), "median_error": median / RADIUS - 1}
    if spread:
        out["spread_error"] = sd / truncated_spread(spread) - 1
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
    parser.add_argument("--seeds", type=int, default=4, help="volumes per size (default 4)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    lines = [
        "## Packing: sizes, faces and grains as asked",
        "",
        f"`python benchmarks/packing.py {' '.join(sys.argv[1:])}`".replace(" `", "`"),
        f"({args.seeds} volumes per cell, {FACE_SEEDS * args.seeds} for the faces; sizes: CAM 0.05, radius {RADIUS} voxels, Miles-weighted interior "
        f"pieces; faces: CAM 0.5, LLZO 0.35, pore 0.15; grains: {RADIUS} voxels asked in sintered 50/30/20)",
        "",
        "| box | packing | median r err, mono | median r err, spread 0.3 | ln-r spread err | "
        "pore face / inside | worst face − inside | grains per box | pieces per id | grain d err | s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n in args.sizes:
        for packing in ("sintered", "overlapping"):
            t0 = time.perf_counter()
            mono = sizes(n, packing, 0.0, args.seeds)
            poly = sizes(n, packing, SPREAD, args.seeds)
            face = faces(n, packing, FACE_SEEDS * args.seeds)
            grain = grains(n, args.seeds) if packing == "sintered" else None
            g = (f"{grain['grains']:.0f} | {grain['pieces_per_id']:.2f} | {grain['diameter_error']:+.1%}"
                 if grain else "– | – | –")
            lines.append(
                f"| {n}³ | {packing} | {mono['median_error']:+.1%} | {poly['median_error']:+.1%} | "
                f"{poly['spread_error']:+.1%} | {face['pore_face']:.3f} / {face['pore_inner']:.3f} | "
                f"{face['worst']:.3f} | {g} | {time.perf_counter() - t0:.0f} |"
            )
            print(lines[-1], flush=True)
    publish(lines, START, END, write=not args.no_write)


if __name__ == "__main__":
    main()
