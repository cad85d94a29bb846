"""Training at scale: autoencoder, K-Means and LightGBM on synthetic embeddings with known clusters.

For each size N (default 20k and 200k embeddings) this makes N synthetic 80-dim pose embeddings
drawn from K known clusters (cluster centres, per-feature scales as different as the real
embedding's, shared nuisance directions - the "same pose, other person / camera" spread - and
noise), then times the three learned stages of ``training.train`` on them:

* the autoencoder (``PoseAutoencoder.fit`` + ``transform`` of all N rows), with its defaults
  (bounded: ``max_steps`` optimiser steps on a ``fit_sample`` of rows) and, for sizes up to
  ``--unbounded-max``, unbounded as before the bound (``max_steps=None, fit_sample=None``,
  batch 2048: 100 epochs over every row);
* K-Means (``PoseKMeans`` with TrainConfig's niter / nredo) on the codes;
* LightGBM (``CentroidRanker`` with its defaults) on one product row per image (10 images per
  product, 6 subcategories x 12 product types).

Each stage's wall time, the process's peak RSS after it (resource.getrusage: torch's
allocations are invisible to tracemalloc), the K-Means purity against the known labels, and the
total as a share of the time it takes to extract N images. Each size runs in a fresh process,
which first imports torch, faiss and lightgbm (timed apart, the "imports" column: a fixed cost
per training process, as the extraction workers' own start-up is, which the per-image time below
leaves out too); the stage times are the work itself.

The extraction time is measured in the same run, before and after the training jobs (the mean
of the two is used, so a load that changes during the run weighs on both sides): BlazePose
(``create_backend(PoseOptions())``, the default backend) runs ``pose.extract.estimate_file`` --
what a worker of the local engine does per image: decode, pose, people / mask / face signals,
image measurements -- on ``--extract-images`` of ``assets/views/*.jpg`` after 4 warm-up images,
wall ms per image in one process; the local engine runs one worker per usable core
(``pose.extract.usable_cores``), so extracting N images takes N x ms / cores. ``--ms-per-image``
(with ``--cores``) replaces the measurement by a fixed figure. On a shared machine wall times
swing with the load, so CPU seconds are printed too: every stage runs single-threaded and an
extraction worker keeps its core busy, so "share by CPU" -- the stages' CPU seconds over N x the
extraction's CPU ms per image / workers -- is what the share comes to on an idle machine. Not a
test: minutes for 200k.

    .venv/bin/python benchmarks/bench_training.py [--sizes 20000 200000] [--unbounded-max 20000]
        [--ms-per-image 30 --cores 2] [--extract-images 48]
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
import pandas as pd  # noqa: E402


def make_embeddings(n: int, k: int = 14, d: int = 80, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, d) float32 embeddings and their cluster labels (0..k-1)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1.0, (k, d))
    nuisance = rng.normal(0, 1.0, (4, d)) / np.sqrt(d) * 4.0      # shared directions, any cluster
    labels = rng.integers(0, k, n)
    X = centres[labels] + rng.normal(0, 1.0, (n, 4)) @ nuisance + rng.normal(0, 0.7, (n, d))
    scales = np.exp(rng.uniform(np.log(0.05), np.log(5.0), d))      # coordinates vs ratios vs angles
    return (X * scales).astype(np.float32), labels


def product_rows(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 1)
    n_products = max(1, n // 10)
    pid = np.repeat(np.arange(n_products), 10)[:n]
    return pd.DataFrame({
        "product_id": [f"p{i:07d}" for i in pid], "category": "Clothing",
        "subcategory": [f"Sub {i % 6}" for i in pid], "product_type": [f"Type {i % 12}" for i in pid],
        "avg_rating": np.round(rng.uniform(2.5, 5.0, n_products), 2)[pid],
        "n_ratings": rng.integers(1, 2000, n_products)[pid]})


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def extraction_ms(n_images: int) -> tuple[float, float]:
    """(wall, CPU) ms per image of ``estimate_file`` with the default BlazePose backend, one process."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    from unpose_core.config import PoseOptions
    from unpose_core.pose import create_backend
    from unpose_core.pose.extract import estimate_file

    files = sorted((ROOT / "assets" / "views").glob("*.jpg"))
    if not files:
        raise SystemExit("assets/views/*.jpg not found: pass --ms-per-image")
    paths = [str(p) for p in files[:: max(1, len(files) // n_images)][:n_images]]
    backend = create_backend(PoseOptions())
    try:
        for p in paths[:4]:   # warm-up: model start-up is a per-worker cost, not a per-image one
            estimate_file(backend, "warm-up", p)
        t0, c0 = time.perf_counter(), time.process_time()
        for p in paths:
            row = estimate_file(backend, "bench", p)
            if row.error:
                raise SystemExit(f"extraction failed on {p}: {row.error}")
        return (1000 * (time.perf_counter() - t0) / len(paths), 1000 * (time.process_time() - c0) / len(paths))
    finally:
        backend.close()


def run_one(n: int, k: int, ae_params: dict, label: str, seed: int, raw_kmeans: bool = True) -> dict:
    """One size, one autoencoder setting, in this process."""
    t0 = time.perf_counter()
    import faiss  # noqa: F401  (the libraries' first import, timed apart: a fixed per-process cost)
    import lightgbm  # noqa: F401
    import torch  # noqa: F401
    imports_s = time.perf_counter() - t0

    from unpose_core.cluster import PoseKMeans, purity
    from unpose_core.config import TrainConfig
    from unpose_core.embed.autoencoder import PoseAutoencoder
    from unpose_core.rank import CentroidRanker

    X, y = make_embeddings(n, k, seed=seed)
    rows = product_rows(n, seed)
    cfg = TrainConfig(k=k, seed=seed)
    out = {"n": n, "setting": label, "ae_params": ae_params, "imports_s": round(imports_s, 2),
           "rss_start_mb": round(peak_mb())}
    if raw_kmeans:   # the reference: K-Means of the raw embedding, no autoencoder
        t0 = time.perf_counter()
        km_raw = PoseKMeans(k, seed=seed, niter=cfg.niter, nredo=cfg.nredo).fit(X)
        out["kmeans_raw_s"] = round(time.perf_counter() - t0, 2)
        out["purity_raw"] = round(purity(km_raw.labels_, y), 4)

    t0, c0 = time.perf_counter(), time.process_time()
    ae = PoseAutoencoder(seed=seed, **ae_params).fit(X)
    codes = ae.transform(X)
    out["ae_s"], out["ae_cpu_s"] = round(time.perf_counter() - t0, 2), round(time.process_time() - c0, 2)
    out["ae_steps"], out["ae_fit_rows"], out["ae_epochs"] = ae.n_steps_, ae.n_fit_, ae.n_epochs_
    out["rss_after_ae_mb"] = round(peak_mb())

    t0, c0 = time.perf_counter(), time.process_time()
    km = PoseKMeans(k, seed=seed, niter=cfg.niter, nredo=cfg.nredo).fit(codes)
    km.nearest(codes)
    out["kmeans_s"], out["kmeans_cpu_s"] = round(time.perf_counter() - t0, 2), round(time.process_time() - c0, 2)
    out["purity_ae"] = round(purity(km.labels_, y), 4)
    out["rss_after_kmeans_mb"] = round(peak_mb())

    t0, c0 = time.perf_counter(), time.process_time()
    CentroidRanker(k + 4, seed=seed).fit(km.labels_, rows)
    out["lightgbm_s"] = round(time.perf_counter() - t0, 2)
    out["lightgbm_cpu_s"] = round(time.process_time() - c0, 2)
    out["rss_after_lightgbm_mb"] = round(peak_mb())
    out["total_s"] = round(out["ae_s"] + out["kmeans_s"] + out["lightgbm_s"], 2)
    out["total_cpu_s"] = round(out["ae_cpu_s"] + out["kmeans_cpu_s"] + out["lightgbm_cpu_s"], 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000])
    ap.add_argument("--k", type=int, default=14)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--unbounded-max", type=int, default=20_000,
                    help="also fit the unbounded autoencoder (the old behaviour) up to this size")
    ap.add_argument("--raw-max", type=int, default=20_000,
                    help="K-Means of the raw embedding (purity reference) up to this size")
    ap.add_argument("--ae", type=str, default="{}", help="JSON overrides of the bounded autoencoder's params")
    ap.add_argument("--ms-per-image", type=float, default=None,
                    help="fixed extraction ms per image per core (default: measured in this run)")
    ap.add_argument("--cores", type=int, default=None, help="extraction workers (default: usable cores)")
    ap.add_argument("--extract-images", type=int, default=48, help="images timed for the extraction cost")
    ap.add_argument("--one", type=str, default=None, help=argparse.SUPPRESS)   # child process: JSON job
    args = ap.parse_args()
    if args.one:   # a child: one size and setting, fresh process so peak RSS is its own
        job = json.loads(args.one)
        print(json.dumps(run_one(job["n"], job["k"], job["ae"], job["label"], job["seed"], job["raw"])))
        return

    jobs = []
    for n in args.sizes:
        jobs.append({"n": n, "k": args.k, "ae": json.loads(args.ae), "label": "bounded", "seed": args.seed,
                     "raw": n <= args.raw_max})
        if n <= args.unbounded_max:
            jobs.append({"n": n, "k": args.k, "ae": {"max_steps": None, "fit_sample": None, "batch_size": 2048},
                         "label": "unbounded", "seed": args.seed, "raw": False})
    from unpose_core.pose.extract import usable_cores

    cores = args.cores or usable_cores()
    measured = args.ms_per_image is None
    ms, cpu_ms = [], []
    if measured:
        ms_one, cpu_one = extraction_ms(args.extract_images)
        ms.append(ms_one)
        cpu_ms.append(cpu_one)
    else:
        ms.append(args.ms_per_image)
    print(f"cores {os.cpu_count()} (usable {usable_cores()}), load average {os.getloadavg()[0]:.1f}, extraction "
          f"{ms[0]:.1f} ms/image/core{' measured' if measured else ''} x {cores} workers"
          + (f" (CPU {cpu_ms[0]:.1f} ms/image)" if measured else ""), flush=True)
    results = []
    for job in jobs:
        proc = subprocess.run([sys.executable, __file__, "--one", json.dumps(job)], capture_output=True,
                              text=True, check=True)
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(res)
        print(json.dumps(res), flush=True)
    if measured:   # again after the training jobs: the load may have changed meanwhile
        ms_one, cpu_one = extraction_ms(args.extract_images)
        ms.append(ms_one)
        cpu_ms.append(cpu_one)
        print(f"extraction after the training jobs {ms[1]:.1f} ms/image/core (CPU {cpu_ms[1]:.1f})", flush=True)
    ms_per_image = float(np.mean(ms))
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}; extraction {ms_per_image:.1f} ms/image/core "
          f"({', '.join(f'{m:.1f}' for m in ms)}) / {cores} workers = {ms_per_image / cores:.1f} ms/image")
    if cpu_ms:   # the same on an idle machine: CPU time of the (single-threaded) stages vs the workers' CPU
        print(f"extraction CPU {float(np.mean(cpu_ms)):.1f} ms/image ({', '.join(f'{m:.1f}' for m in cpu_ms)})")
    print("| N | autoencoder | steps x rows | AE s | K-Means s | LightGBM s | total s | extraction s | share "
          "| imports s | share with imports | CPU s AE / K-Means / LightGBM | share by CPU | peak RSS MB "
          "| purity raw / AE |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        r["extract_s"] = round(r["n"] * ms_per_image / 1000 / cores, 1)
        share = r["total_s"] / r["extract_s"]
        share_imports = (r["total_s"] + r["imports_s"]) / r["extract_s"]
        share_cpu = (f"{r['total_cpu_s'] / (r['n'] * float(np.mean(cpu_ms)) / 1000 / cores):.2%}"
                     if cpu_ms else "-")
        print(f"| {r['n']:,} | {r['setting']} | {r['ae_steps']} x {r['ae_fit_rows']:,} | {r['ae_s']} | "
              f"{r['kmeans_s']} | {r['lightgbm_s']} | {r['total_s']} | {r['extract_s']:,} | {share:.2%} | "
              f"{r['imports_s']} | {share_imports:.2%} | {r['ae_cpu_s']} / {r['kmeans_cpu_s']} / "
              f"{r['lightgbm_cpu_s']} | {share_cpu} | {r['rss_after_lightgbm_mb']} | "
              f"{r.get('purity_raw', float('nan')):.3f} / {r['purity_ae']:.3f} |")


if __name__ == "__main__":
    main()
