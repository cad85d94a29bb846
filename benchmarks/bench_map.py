"""The reference map at scale: UMAP fitted on a sample + transform of the rest, vs UMAP of all points.

For each size N (default 200k and 1M) this draws N synthetic standardised pose embeddings
(``--dim`` 80, the view embedding K-Means clusters, or 8, the autoencoder's code) from K known
clusters and builds the 2-D map with the app's own code, ``projection.compute_xy``:

* ``sampled``: the default, UMAP fitted on ``projection.FIT_MAX`` points and the others placed
  by ``UMAP.transform`` (faiss neighbours), ``TRANSFORM_CHUNK`` at a time;
* ``full`` (the old behaviour: UMAP of every point), for sizes up to ``--full-max``.

It prints the wall time, peak RSS, and two checks that the map still shows the clusters: the
share of points whose nearest map neighbour (among 20k probe points) has their cluster label,
and the same for the transformed points only against the fitted ones. Each build runs in its
own process (numba's on-disk cache is warm after the first, as in the app).

    .venv/bin/python benchmarks/bench_map.py [--sizes 200000 1000000] [--dim 80] [--full-max 0]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def make_points(n: int, d: int, k: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, d) standardised float32 points from k clusters of different spread, and their labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1.0, (k, d)) * 3.0 / np.sqrt(d) * 2
    y = rng.integers(0, k, n)
    X = centres[y] + rng.normal(0, 1.0, (n, d)).astype(np.float32) * rng.uniform(0.3, 0.8, k)[y, None] \
        * 2.0 / np.sqrt(d)
    X = (X - X.mean(0)) / X.std(0)
    return np.ascontiguousarray(X, dtype=np.float32), y


def label_agreement(xy: np.ndarray, y: np.ndarray, probe: np.ndarray, ref: np.ndarray) -> float:
    """Share of ``probe`` points whose nearest map point among ``ref`` (not itself) has their label."""
    import faiss

    index = faiss.IndexFlatL2(2)
    index.add(np.ascontiguousarray(xy[ref], dtype=np.float32))
    _, nbr = index.search(np.ascontiguousarray(xy[probe], dtype=np.float32), 2)
    first = np.where(ref[nbr[:, 0]] == probe, nbr[:, 1], nbr[:, 0])
    return float((y[ref][first] == y[probe]).mean())


def run_one(n: int, d: int, mode: str, seed: int) -> dict:
    from unpose_core import projection

    X, y = make_points(n, d, seed=seed)
    fit_max = n if mode == "full" else projection.FIT_MAX
    t0 = time.perf_counter()
    xy, meta = projection.compute_xy(X, seed=seed, fit_max=fit_max)
    seconds = time.perf_counter() - t0
    rng = np.random.default_rng(seed + 7)
    probe = rng.choice(n, size=min(n, 20_000), replace=False)
    out = {"n": n, "dim": d, "mode": mode, "seconds": round(seconds, 1), "fit_sample": meta["fit_sample"],
           "finite": bool(np.isfinite(xy).all()), "peak_rss_mb": round(resource.getrusage(
               resource.RUSAGE_SELF).ru_maxrss / 1024),
           "agreement": round(label_agreement(xy, y, probe, np.arange(n)), 4)}
    if meta["fit_sample"] < n:
        fit_rows = projection.fit_sample_rows(n, meta["fit_sample"], seed)
        rest = np.setdiff1d(np.arange(n), fit_rows, assume_unique=True)
        out["agreement_transformed"] = round(label_agreement(
            xy, y, rng.choice(rest, size=min(len(rest), 20_000), replace=False), fit_rows), 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[200_000, 1_000_000])
    ap.add_argument("--dim", type=int, default=80)
    ap.add_argument("--full-max", type=int, default=0, help="also build the full UMAP up to this size (slow)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--one", type=str, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        job = json.loads(args.one)
        print(json.dumps(run_one(job["n"], job["dim"], job["mode"], job["seed"])))
        return
    jobs = [{"n": n, "dim": args.dim, "mode": m, "seed": args.seed}
            for n in args.sizes for m in (["sampled"] + (["full"] if n <= args.full_max else []))]
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}", flush=True)
    results = []
    for job in jobs:
        proc = subprocess.run([sys.executable, __file__, "--one", json.dumps(job)], capture_output=True,
                              text=True, check=True)
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    print("| N | dims | map | fitted on | seconds | peak RSS MB | label agreement all / transformed |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['n']:,} | {r['dim']} | {r['mode']} | {r['fit_sample']:,} | {r['seconds']} | {r['peak_rss_mb']} "
              f"| {r['agreement']:.3f} / {r.get('agreement_transformed', float('nan')):.3f} |")


if __name__ == "__main__":
    main()
