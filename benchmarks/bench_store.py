"""Store and catalogue report at scale: time and peak memory per stage at 20k, 200k and 1M images.

For each size N this builds a synthetic data dir and measures, each stage in its own
subprocess (so one stage's memory does not hide another's):

catalogue   ``Store.replace_catalogue`` of N image rows (products with 2-12 images, 60 % of them
            with 2-4 so that about 0.6 of the products are subject products, as in a marketplace
            where most listings are thin). The app's import path (``catalog.manifest``) probes and
            hashes every image file; that is file I/O, not the store, and is not measured here.
poses       ``Store.put_poses`` of one synthetic pose row per image under a made-up backend identity
            ("blazepose", "synthetic-bench"): a standing 33-point skeleton with random jitter and
            left/right flips (uniformly random points are no person to the view rules, and the
            report would never reach the pose path), 12 % rows without a person, and a small
            ``signals`` dict (random pHash/dHash). No model runs. Setup, shown for scale.
missing     ``Store.missing_poses`` on the unchanged catalogue (the re-run check; 0 rows expected).
train_load  what ``training.train`` reads before fitting: products, images, ``select_sets`` and
            ``training.load_image_poses`` for the reference products' images (the training input
            load). The run is then made from it the way ``training.train`` does after extraction
            (faiss K-Means on the embeddings, the LightGBM ranker, radii, ``runs.save_run``):
            train() itself cannot run, as it extracts with a real backend. Fitting is setup, not timed.
tables      what the Home / Catalogue pages read: the cache keys (catalogue, pose cache, labels, hints
            versions) and ``app_tables.catalogue_summary`` and ``failed_images`` on every script run
            (first call, and "rerun": both again with nothing changed);
            ``Store.products``, ``Store.images`` and ``app_tables.image_status`` (cached by the app
            until the catalogue or the pose cache changes).
report      ``outputs.report.report`` over every subject product; with ``--report-sample M`` (or when the
            subject products exceed ``--report-max``) over M of them, spread evenly, and the full time
            EXTRAPOLATED (labelled so in the table): timed on M/3 and on M products, the difference
            gives the per-product cost, the rest the set-up; full = set-up + per-product x subject.
per_product ``Suggester.for_product`` one subject product at a time (what ``report`` did before it
            read images, poses, groups and hints once; the app's product page still does it), over
            ``--per-product-sample`` products spread evenly, EXTRAPOLATED to all subject products.

Peak memory is ``ru_maxrss`` at the end of the stage minus the process RSS when the stage started
(the stage's own growth, the data it builds included).

    nice -n 10 .venv/bin/python benchmarks/bench_store.py [--sizes 20000 200000 1000000] [--k 20]

Not a test: it takes many minutes at 1M.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GLOG_minloglevel", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

BACKEND = ("blazepose", "synthetic-bench")
STAGES = ("catalogue", "poses", "missing", "train_load", "tables", "report", "per_product")
NO_PERSON_SHARE = 0.12
# a standing figure facing the camera (image x, y in 0..1; the subject's left is the image's right)
_SKELETON = {
    "nose": (0.5, 0.12), "left_eye_inner": (0.51, 0.11), "left_eye": (0.52, 0.11), "left_eye_outer": (0.53, 0.11),
    "right_eye_inner": (0.49, 0.11), "right_eye": (0.48, 0.11), "right_eye_outer": (0.47, 0.11),
    "left_ear": (0.54, 0.115), "right_ear": (0.46, 0.115), "mouth_left": (0.515, 0.135),
    "mouth_right": (0.485, 0.135), "left_shoulder": (0.58, 0.2), "right_shoulder": (0.42, 0.2),
    "left_elbow": (0.6, 0.33), "right_elbow": (0.4, 0.33), "left_wrist": (0.61, 0.45), "right_wrist": (0.39, 0.45),
    "left_pinky": (0.615, 0.48), "right_pinky": (0.385, 0.48), "left_index": (0.61, 0.485),
    "right_index": (0.39, 0.485), "left_thumb": (0.605, 0.47), "right_thumb": (0.395, 0.47),
    "left_hip": (0.55, 0.5), "right_hip": (0.45, 0.5), "left_knee": (0.55, 0.68), "right_knee": (0.45, 0.68),
    "left_ankle": (0.55, 0.86), "right_ankle": (0.45, 0.86), "left_heel": (0.55, 0.88), "right_heel": (0.45, 0.88),
    "left_foot_index": (0.56, 0.9), "right_foot_index": (0.44, 0.9)}


# -- synthetic data ----------------------------------------------------------------------------

def image_counts(n: int, seed: int = 0) -> np.ndarray:
    """Images per product summing to exactly ``n``: 60 % of products 2-4 images, the rest 5-12."""
    rng = np.random.default_rng(seed)
    est = int(n / 5.0) + 16
    counts = np.where(rng.random(est) < 0.6, rng.integers(2, 5, est), rng.integers(5, 13, est))
    while counts.sum() < n:
        counts = np.concatenate([counts, counts])
    cut = int(np.searchsorted(np.cumsum(counts), n))
    counts = counts[:cut + 1].copy()
    counts[-1] -= int(counts.sum() - n)
    if counts[-1] < 1:
        counts = counts[:-1]
    return counts


def catalogue_frames(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(products, images) frames in the shape ``catalog.manifest`` produces, ``n`` images."""
    rng = np.random.default_rng(seed)
    counts = image_counts(n, seed)
    n_products = len(counts)
    subcats = [f"Sub {i}" for i in range(6)]
    products = pd.DataFrame({
        "product_id": [f"p{i:07d}" for i in range(n_products)],
        "title": [f"Synthetic product {i}" for i in range(n_products)],
        "category": np.where(np.arange(n_products) % 5 == 0, "Shoes", "Clothing"),
        "subcategory": [subcats[i % len(subcats)] for i in range(n_products)],
        "product_type": [f"Type {i % 12}" for i in range(n_products)],
        "avg_rating": np.round(rng.uniform(2.5, 5.0, n_products), 2),
        "n_ratings": rng.integers(1, 2000, n_products),
        "attrs": "{}",
    })
    pids = np.repeat(products["product_id"].to_numpy(), counts)
    position = np.concatenate([np.arange(1, c + 1) for c in counts])
    rel = [f"img/{i // 1000:04d}/{i:07d}.jpg" for i in range(n)]
    images = pd.DataFrame({
        "product_id": pids, "position": position, "path": ["/catalogue/" + r for r in rel], "rel_path": rel,
        "content_hash": [f"{i:064x}" for i in range(n)], "width": 600, "height": 800, "pose_label": None,
        "attrs": "{}"})
    return products, images


def pose_rows(hashes: list[str], seed: int = 0) -> list:
    """One synthetic ``PoseRow`` per hash (see the module docstring)."""
    from unpose_core.pose.blazepose import LANDMARK_NAMES
    from unpose_core.records import PoseRow, Status

    rng = np.random.default_rng(seed)
    base = np.array([[*_SKELETON[name], 0.0, 0.99] for name in LANDMARK_NAMES], np.float32)
    n = len(hashes)
    lms = np.repeat(base[None], n, axis=0)
    lms[:, :, :3] += rng.normal(0, 0.03, (n, 33, 3)).astype(np.float32)
    lms[:, :, 0] = 0.5 + (lms[:, :, 0] - 0.5) * rng.uniform(-1, 1, (n, 1)).astype(np.float32)
    person = rng.random(n) >= NO_PERSON_SHARE
    hexes = rng.integers(0, 2 ** 63, (n, 2))
    out = []
    for i, h in enumerate(hashes):
        sig = {"image": {"phash": f"{hexes[i, 0]:016x}", "dhash": f"{hexes[i, 1]:016x}"}, "people": int(person[i])}
        if person[i]:
            out.append(PoseRow(h, Status.PERSON, lms[i], 600, 800, 0.9, None, sig))
        else:
            out.append(PoseRow(h, Status.NO_PERSON, None, 600, 800, 0.0, None, sig))
    return out


def make_run(store, ip, products: pd.DataFrame, k: int, seed: int = 0) -> str:
    """A run from loaded reference poses, fitted the way ``training.train`` fits one after
    extraction (K-Means, radii, ranker, centroids; no mirror pairs), saved and made active."""
    from unpose_core.cluster import PoseKMeans
    from unpose_core.config import TrainConfig
    from unpose_core.embed.views import VIEW_SUFFIX, kmeans_weights
    from unpose_core.pose.blazepose import LANDMARK_NAMES, SKELETON
    from unpose_core.rank import CentroidRanker
    from unpose_core.records import RunInfo
    from unpose_core.runs import save_run
    from unpose_core.training import centroid_infos, cluster_radii
    from unpose_core.views import NON_HUMAN_KINDS

    cfg = TrainConfig(k=k, seed=seed, nredo=1, niter=20)
    info = RunInfo.from_dict({"backend": BACKEND[0], "backend_version": BACKEND[1],
                              "family": "blazepose33" + VIEW_SUFFIX, "landmark_names": list(LANDMARK_NAMES),
                              "skeleton": [list(p) for p in SKELETON]})
    info.kinds = [str(x) for x in NON_HUMAN_KINDS]
    space = ip.embeddings
    km = PoseKMeans(k, seed=seed, niter=20, nredo=1, feature_weights=kmeans_weights(info.family, space.shape[1]))
    km.fit(space)
    ref = ip.images
    classes = np.full(len(ref), -1, dtype=np.int64)
    dists = np.full(len(ref), np.nan, dtype=np.float32)
    classes[ip.person_rows] = km.labels_
    dists[ip.person_rows] = km.nearest(space)[1]
    for i, v in enumerate(ip.views):
        if v is not None and not (v.is_person and classes[i] >= 0):
            classes[i] = k + info.kinds.index(str(v.kind)) if str(v.kind) in info.kinds else k
    info.k, info.no_person_class = k, k
    usable = classes >= 0
    prod_cols = products.drop(columns=["attrs"]).set_index("product_id")
    ranker = CentroidRanker(info.n_classes, cfg.rating_weight, cfg.count_weight, seed=seed, n_estimators=60).fit(
        classes[usable], ref[usable].join(prod_cols, on="product_id"))
    centroids = centroid_infos(classes, ip, km.labels_, info)   # as train() records them
    reference = pd.DataFrame({
        "image_id": ref["image_id"].to_numpy(), "product_id": ref["product_id"].to_numpy(),
        "content_hash": ref["content_hash"].to_numpy(), "status": ref["status"].to_numpy(),
        "pose_class": classes, "distance": dists,
        "view": [None if v is None else v.label for v in ip.views]})
    info.extra["radii"] = cluster_radii(classes, dists, k)
    info.embedding_dim = info.space_dim = int(space.shape[1])
    run_id = f"bench-store-k{k}"
    (store.data_dir / "runs").mkdir(exist_ok=True)
    save_run(store.data_dir / "runs" / run_id, run_id, cfg, info, km, ranker, reference, centroids)
    store.add_run(run_id, f"runs/{run_id}", info.backend, k, cfg.to_dict(), {"n_reference_images": len(ref)})
    store.set_active_run(run_id)
    return run_id


# -- one stage, in a subprocess ----------------------------------------------------------------

def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_stage(stage: str, folder: Path, n: int, k: int, report_sample: int | None) -> dict:
    """Run one stage against the data dir; returns its seconds, peak memory growth and facts."""
    from unpose_core import app_tables
    from unpose_core.catalog.selection import select_sets
    from unpose_core.config import SelectionConfig
    from unpose_core.outputs.report import report
    from unpose_core.runs import active_run
    from unpose_core.store import Store
    from unpose_core.suggestions import Suggester
    from unpose_core.training import load_image_poses

    store = Store(folder)
    base = _rss_mb()
    out: dict = {}
    t0 = time.perf_counter()
    if stage == "catalogue":
        products, images = catalogue_frames(n)
        problems = pd.DataFrame(columns=["row", "product_id", "kind", "detail"])
        t0 = time.perf_counter()
        store.replace_catalogue(products, images, problems, f"synthetic {n}")
        out["products"] = len(products)
    elif stage == "poses":
        hashes = store.images()["content_hash"].tolist()
        t0 = time.perf_counter()
        for i in range(0, len(hashes), 50_000):
            store.put_poses(*BACKEND, pose_rows(hashes[i:i + 50_000], seed=i))
    elif stage == "missing":
        out["rows"] = len(store.missing_poses(*BACKEND))
    elif stage == "train_load":
        from unpose_core.embed.views import VIEW_SUFFIX
        from unpose_core.pose.blazepose import LANDMARK_NAMES

        t0 = time.perf_counter()   # what train() reads before fitting: catalogue, selection, poses
        products, images = store.products(), store.images()
        sel = select_sets(products, images, SelectionConfig())
        ref_images = images[images["product_id"].isin(sel.reference_ids)]
        out["select_s"] = round(time.perf_counter() - t0, 2)
        ip = load_image_poses(store, ref_images, *BACKEND, "blazepose33" + VIEW_SUFFIX, LANDMARK_NAMES)
        seconds, peak = time.perf_counter() - t0, _peak_mb()
        out.update(reference_images=len(ref_images), person=len(ip.person_rows))
        make_run(store, ip, products, k)   # setup for the report, not timed
        store.close()
        return {"seconds": seconds, "peak_mb": peak - base, **out}
    elif stage == "tables":
        run = active_run(store)
        parts = {}
        t0 = time.perf_counter()
        ident = run.info.identity
        for name, fn in (("keys", lambda: (app_tables.catalogue_version(store), app_tables.pose_cache_version(store),
                                           app_tables.descriptions_version(store, run.run_id),
                                           store.hints_version())),
                         ("summary", lambda: app_tables.catalogue_summary(store, run.config.selection, *ident)),
                         ("failed", lambda: app_tables.failed_images(store, *ident)),
                         ("rerun", lambda: (app_tables.catalogue_summary(store, run.config.selection, *ident),
                                            app_tables.failed_images(store, *ident))),
                         ("products", store.products), ("images", store.images),
                         ("status", lambda: app_tables.image_status(store, *ident))):
            t1 = time.perf_counter()
            fn()
            parts[name] = round(time.perf_counter() - t1, 2)
        out["parts"] = parts
    elif stage in ("report", "per_product"):
        run = active_run(store)
        subject = select_sets(store.products(), store.images(), run.config.selection).subject_ids

        def timed(ids: list[str]) -> tuple[float, int]:
            t = time.perf_counter()
            if stage == "report":
                n_missing = int((report(store, run, ids)["status"] == "missing").sum())
            else:   # the path report() took before batching (the app's product page takes it): one at a time
                s = Suggester(store, run, n_references=3)
                n_missing = sum(s.for_product(pid).status == "missing" for pid in ids)
                s.close()
            return time.perf_counter() - t, n_missing

        def spread(m: int) -> list[str]:
            return [subject[i] for i in np.linspace(0, len(subject) - 1, m).astype(int)]

        if report_sample and report_sample < len(subject):
            # two samples: the difference is the per-product cost, the rest the set-up (reading the
            # catalogue, the Suggester); full time = set-up + per-product x subject products
            small, large = max(1, report_sample // 3), report_sample
            t_small, _ = timed(spread(small))
            t_large, n_missing = timed(spread(large))
            per = (t_large - t_small) / (large - small)
            setup = max(0.0, t_small - small * per)
            seconds = setup + per * len(subject)
            out.update(subject=len(subject), reported=large, missing=n_missing, extrapolated=True,
                       setup_s=round(setup, 2), per_product_ms=round(1000 * per, 2))
        else:
            seconds, n_missing = timed(subject)
            out.update(subject=len(subject), reported=len(subject), missing=n_missing, extrapolated=False,
                       per_product_ms=round(1000 * seconds / max(1, len(subject)), 2))
        store.close()
        return {"seconds": seconds, "peak_mb": _peak_mb() - base, **out}
    else:
        raise SystemExit(f"unknown stage {stage}")
    seconds = time.perf_counter() - t0
    store.close()
    return {"seconds": seconds, "peak_mb": _peak_mb() - base, **out}


# -- driver ------------------------------------------------------------------------------------

def _subprocess(stage: str, folder: Path, n: int, k: int, report_sample: int | None) -> dict:
    cmd = [sys.executable, __file__, "--stage", stage, "--dir", str(folder), "--n", str(n), "--k", str(k)]
    if report_sample:
        cmd += ["--report-sample", str(report_sample)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode:
        raise RuntimeError(f"stage {stage} at {n} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _ratio(a: float, b: float) -> str:
    return f"{b / a:.1f}x" if a > 0 else "-"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000, 1_000_000])
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    ap.add_argument("--report-sample", type=int, default=None, help="report over this many subject products")
    ap.add_argument("--report-max", type=int, default=200_000,
                    help="sample --report-sample (default 5000) products when there are more subject products")
    ap.add_argument("--per-product-sample", type=int, default=1000,
                    help="per_product: Suggester.for_product over this many subject products, extrapolated")
    ap.add_argument("--keep", action="store_true", help="keep the synthetic data dirs")
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.stage:   # the child: one stage, JSON on the last line
        print(json.dumps(run_stage(args.stage, Path(args.dir), args.n, args.k, args.report_sample)))
        return 0

    results: dict[int, dict[str, dict]] = {}
    base = Path(tempfile.mkdtemp(prefix="unposed-bench-store-"))
    try:
        for n in args.sizes:
            folder = base / f"n{n}"
            results[n] = {}
            stages = [s for s in STAGES if s in args.stages or s in ("catalogue", "poses", "train_load")]
            for stage in stages:
                sample = args.report_sample
                if stage == "report" and sample is None:
                    n_products = len(image_counts(n))
                    sample = 5000 if n_products * 0.6 > args.report_max else None
                if stage == "per_product":
                    sample = args.per_product_sample
                r = _subprocess(stage, folder, n, args.k, sample)
                results[n][stage] = r
                extra = {k: v for k, v in r.items() if k not in ("seconds", "peak_mb")}
                print(f"[{n:>9,}] {stage:<10} {r['seconds']:8.2f} s  peak +{r['peak_mb']:7.0f} MB  {extra}",
                      flush=True)
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)

    sizes = list(results)
    print()
    head = f"{'stage':<12}" + "".join(f" | {f'{n:,} s':>12} | {f'{n:,} MB':>12}" for n in sizes)
    head += "".join(f" | {f'{b // 1000}k/{a // 1000}k t':>12} | {'mem':>5}" for a, b in zip(sizes, sizes[1:]))
    print(head)
    for stage in STAGES:
        if not all(stage in results[n] for n in sizes):
            continue
        rs = [results[n][stage] for n in sizes]
        line = f"{stage + ('*' if any(r.get('extrapolated') for r in rs) else ''):<12}"
        line += "".join(f" | {r['seconds']:>12.2f} | {r['peak_mb']:>12.0f}" for r in rs)
        line += "".join(f" | {_ratio(a['seconds'], b['seconds']):>12} | {_ratio(max(a['peak_mb'], 1), b['peak_mb']):>5}"
                        for a, b in zip(rs, rs[1:]))
        print(line)
    if any(r.get("extrapolated") for n in sizes for r in results[n].values()):
        print("* EXTRAPOLATED from a sample of subject products (linear in their number)")
    print("linear growth: " + ", ".join(f"{b / a:.0f}x" for a, b in zip(sizes, sizes[1:])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
