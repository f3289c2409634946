"""Cost of the trainable segmentation (random forest on multi-scale features) against one
transport solve of the same volume.

A seeded two-phase volume (overlapping CAM spheres of radius N/12 voxels in pore, CAM
0.5) is blurred by a 1-voxel Gaussian PSF and given Gaussian noise at SNR 4; scribbles
mark 1 % of the voxels of every 16th slice that lie more than 2 voxels from a boundary
(as a user scribbles a few slices). Timed in this process, one after the other:

* features at the scribbles + forest training (`--trees`, default 100; 25 features);
* prediction of the whole stack chunk by chunk (features + forest), `--chunk-memory` MiB a chunk (default 1024);
* one transport solve of the segmented pore phase along axis 0 (microsim default AMG-CG).

Run from the repository root:

    python benchmarks/segmentation.py --sizes 128 256     # writes RESULTS.md
    python benchmarks/segmentation.py --sizes 64 --no-write
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _results import peak_mb, publish  # noqa: E402

START = "<!-- segmentation benchmark: start -->"
END = "<!-- segmentation benchmark: end -->"


def case(n: int, trees: int = 100, chunk_mib: int = 1024) -> dict:
    from microsim.generate import generate
    from microsim.microstructure import Microstructure
    from microsim.trainable import Features, ForestModel, chunks, grey_range, predict, scribble_features
    from microsim.transport import effective_conductivity
    from sklearn.ensemble import RandomForestClassifier

    micro = generate((n, n, n), {"CAM": 0.5}, n / 12 * 1e-6, voxel_size=1e-6, matrix="pore", seed=1)
    truth = (micro.labels == micro.phases["CAM"]).astype(np.uint8)
    rng = np.random.default_rng(0)
    grey = (ndimage.gaussian_filter(truth.astype(np.float32), 1.0)
            + rng.normal(0, 0.25, truth.shape).astype(np.float32))
    scribbles = np.zeros(truth.shape, np.uint8)
    pick = rng.random(truth.shape) < 0.01
    pick[np.arange(n) % 16 != 0] = False
    for label in (0, 1):
        scribbles[pick & (ndimage.distance_transform_edt(truth == label) > 2)] = label + 1
    features = Features()
    t0 = time.perf_counter()
    scale = grey_range(grey)
    budget = chunk_mib * 2**20
    X, y, _ = scribble_features(grey, scribbles, features, scale, chunk_bytes=budget)
    forest = RandomForestClassifier(n_estimators=trees, class_weight="balanced", random_state=0, n_jobs=1).fit(X, y)
    t1 = time.perf_counter()
    labels, _ = predict(ForestModel(forest, ("pore", "CAM"), features, scale), grey, chunk_bytes=budget)
    t2 = time.perf_counter()
    result = effective_conductivity(Microstructure(labels, 1e-6, {"pore": 0, "CAM": 1}), "pore", axis=0)
    t3 = time.perf_counter()
    return {"n": n, "scribbled": int(y.size), "chunks": len(chunks(grey.shape, features, budget)),
            "train": t1 - t0, "predict": t2 - t1, "solve": t3 - t2, "accuracy": float(np.mean(labels == truth)),
            "tau": result.tortuosity_factor, "peak": peak_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--chunk-memory", type=int, default=1024, metavar="MiB")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    import sklearn

    rows = []
    for n in args.sizes:
        r = case(n, args.trees, args.chunk_memory)
        forest = r["train"] + r["predict"]
        rows.append(f"| {n}³ | {r['scribbled']:,} | {r['chunks']} | {r['train']:.1f} | {r['predict']:.1f} | "
                    f"{forest:.1f} | {r['solve']:.1f} | {forest / r['solve']:.1f}× | {r['accuracy']:.4f} | "
                    f"{r['tau']:.3f} | {r['peak']:.0f} |")
        print(rows[-1], flush=True)
    lines = [
        "## Trainable segmentation against one transport solve",
        "",
        f"Command: `OPENBLAS_NUM_THREADS=1 python benchmarks/segmentation.py --sizes {' '.join(map(str, args.sizes))}"
        f" --trees {args.trees} --chunk-memory {args.chunk_memory}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}, "
        f"numpy {np.__version__}, scikit-learn {sklearn.__version__}.  ",
        "Two-phase spheres (radius N/12), 1-voxel Gaussian PSF, SNR 4; scribbles on 1 % of the interior voxels of "
        f"every 16th slice; forest of {args.trees} trees on 25 features (σ 0.5-8 voxels), one core, chunks of "
        f"{args.chunk_memory} MiB; the solve is the pore "
        "phase of the segmented stack along axis 0 (AMG-CG, rtol 1e-6). Peak: resident high-water mark of the "
        "process (all sizes before it included).",
        "",
        "| stack | scribbled voxels | chunks | features + training [s] | prediction [s] | forest total [s] | "
        "one solve [s] | forest / solve | voxel accuracy | tau (pore) | peak [MB] |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
    ]
    publish(lines, START, END, write=not args.no_write)


if __name__ == "__main__":
    main()
