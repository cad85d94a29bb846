"""Clusters page at scale: first-time UMAP cost, and page render time with the map stored.

For each size N (default 20k and 200k reference images) this builds a synthetic data dir --
N products' worth of catalogue rows, a real run folder (faiss K-Means on synthetic 77-dim
pose embeddings, a LightGBM ranker, reference.parquet with N rows) -- then

1. computes the run's 2-D map once with the app's own code (projection.compute_xy: faiss
   kNN + UMAP, fitted on a sample of projection.FIT_MAX points above that) and stores it in
   the run folder (umap.npy + umap.json): the first-time cost;
2. renders the Clusters page with streamlit.testing.v1.AppTest (server-side script time,
   including building and serialising the figure): once cold (first visit in the process:
   the run, the stored map and the pose-group panel's members are loaded) and then after
   switching to another page and back (what every later visit costs), checking that the map
   was not recomputed, that the figure carries all N points (no subsample) and whether the
   page says the map was fitted on a sample.

The app's modules are imported once before the first visit and that time is printed on its
own (a fixed cost of a new server process, whatever N is). With ``--keep DIR`` the data dirs
are built under DIR and kept, and a later run with the same DIR reuses them and their stored
map (minutes saved per size); a map stored by an older version is checked and upgraded once
before the timings.

    .venv/bin/python benchmarks/bench_clusters.py [--sizes 20000 200000] [--k 20] [--keep DIR]

Results are printed side by side at the end. Not a test: it takes minutes for 200k.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GLOG_minloglevel", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402


def make_data_dir(folder: Path, n: int, k: int, seed: int = 0) -> tuple[np.ndarray, str]:
    """A store + active run with ``n`` reference images (all with a person). Returns the
    raw embeddings (n, 77) and the run id."""
    from unpose_core.cluster import PoseKMeans
    from unpose_core.config import TrainConfig
    from unpose_core.pose.blazepose import LANDMARK_NAMES, SKELETON
    from unpose_core.rank import CentroidRanker
    from unpose_core.runs import save_run
    from unpose_core.store import Store

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    img = folder / "img.jpg"
    Image.new("RGB", (240, 320), (180, 190, 200)).save(img)
    per_product = 10
    n_products = n // per_product
    subcats = [f"Sub {i}" for i in range(6)]
    products = pd.DataFrame({
        "product_id": [f"p{i:07d}" for i in range(n_products)],
        "title": [f"Synthetic product {i}" for i in range(n_products)],
        "category": "Clothing",
        "subcategory": [subcats[i % len(subcats)] for i in range(n_products)],
        "product_type": [f"Type {i % 12}" for i in range(n_products)],
        "avg_rating": np.round(rng.uniform(2.5, 5.0, n_products), 2),
        "n_ratings": rng.integers(1, 2000, n_products),
        "attrs": "{}",
    })
    pids = np.repeat(products["product_id"].to_numpy(), per_product)[:n]
    hashes = [f"{i:064x}" for i in range(n)]
    images = pd.DataFrame({
        "product_id": pids, "position": np.tile(np.arange(1, per_product + 1), n_products)[:n],
        "path": str(img), "rel_path": "img.jpg", "content_hash": hashes, "width": 240, "height": 320,
        "pose_label": None, "attrs": "{}"})
    store = Store(folder)
    store.replace_catalogue(products, images, pd.DataFrame(columns=["row", "product_id", "kind", "detail"]),
                            f"synthetic {n}")
    image_ids = np.sort(store.images()["image_id"].to_numpy())

    # pose embeddings: k blobs of different spread in 77 dims
    centers = rng.normal(0, 3, size=(k, 77))
    labels = rng.integers(0, k, n)
    X = (centers[labels] + rng.normal(0, 1, (n, 77)) * rng.uniform(0.5, 1.5, k)[labels][:, None]).astype(np.float32)
    cfg = TrainConfig(k=k, seed=seed, nredo=1, niter=20)
    km = PoseKMeans(k, seed=seed, niter=20, nredo=1).fit(X)
    _, d = km.nearest(X)
    classes = km.labels_
    sample = rng.choice(n, size=min(n, 20_000), replace=False)
    prod = products.set_index("product_id")
    rows = prod.loc[pids[sample]].reset_index()
    ranker = CentroidRanker(k + 1, seed=seed, n_estimators=60).fit(classes[sample], rows)
    reference = pd.DataFrame({"image_id": image_ids, "product_id": pids, "content_hash": hashes,
                              "status": "person", "pose_class": classes, "distance": d})
    centroids = []
    for c in range(k + 1):
        m = classes == c
        centroids.append({"id": c, "size": int(m.sum()), "n_products": int(len(np.unique(pids[m]))),
                          "kind": "no_person" if c == k else "pose",
                          "auto_description": "Non-human image" if c == k else f"Synthetic pose {c}"})
    info = {"backend": "blazepose", "backend_version": "synthetic", "landmark_names": list(LANDMARK_NAMES),
            "family": "blazepose33", "skeleton": [list(p) for p in SKELETON], "k": k, "embedding_dim": 77,
            "space_dim": 77, "autoencoder": False, "no_person_class": k}
    run_id = f"bench-{n}"
    (folder / "runs").mkdir()
    save_run(folder / "runs" / run_id, run_id, cfg, info, km, ranker, reference, centroids)
    # relative to the data dir, as training registers runs: a copied data dir finds its own run
    store.add_run(run_id, f"runs/{run_id}", "blazepose", k, cfg.to_dict(), {"n_reference_images": n})
    store.set_active_run(run_id)
    store.close()
    return X, run_id


def first_umap(folder: Path, X: np.ndarray, run_id: str) -> dict:
    from unpose_core import projection
    from unpose_core.runs import get_run
    from unpose_core.store import Store

    store = Store(folder)
    run = get_run(store, run_id)
    frame = projection.person_reference(run)
    t0 = time.perf_counter()
    xy, meta = projection.compute_xy(projection.cluster_space(run, X))
    seconds = time.perf_counter() - t0
    meta["seconds"] = round(seconds, 2)
    projection.save_projection(run, frame, xy, meta)
    assert projection.load_projection(run) is not None
    store.close()
    return {"umap_s": seconds, "knn": meta.get("knn")}


DONE_FILE = "bench-built.json"   # written last when a kept data dir is complete: its first-time UMAP figures


def reused(folder: Path) -> dict | None:
    """The first-time UMAP figures of a complete kept data dir, or None (absent, unfinished)."""
    try:
        return json.loads((folder / DONE_FILE).read_text())
    except (OSError, ValueError):
        return None


def stored_map(folder: Path) -> dict:
    """Load the kept data dir's run and stored map once, as any earlier visit would have (a map
    stored by an older version is checked and upgraded here, once per run, not in the timings)."""
    from unpose_core import projection
    from unpose_core.runs import get_run
    from unpose_core.store import Store

    store = Store(folder)
    try:
        proj = projection.load_projection(get_run(store))
        assert proj is not None, f"the stored map of {folder} does not match its run"
        return proj.meta
    finally:
        store.close()


def preload() -> float:
    """Import what the app's pages import, once per process (the first visit of a server pays it
    whatever N is; it is reported on its own, not in the page times). Seconds taken."""
    t0 = time.perf_counter()
    import lightgbm  # noqa: F401
    import plotly.graph_objects  # noqa: F401
    from streamlit.testing.v1 import AppTest  # noqa: F401

    sys.path.insert(0, str(ROOT))
    import ui.clusters
    import ui.frame
    import ui.grid
    import ui.pose_groups  # noqa: F401
    import unpose_core.app_tables
    import unpose_core.projection
    import unpose_core.rank
    import unpose_core.runs  # noqa: F401
    return time.perf_counter() - t0


def render_times(folder: Path, n: int, warm_repeats: int = 3) -> dict:
    from streamlit.testing.v1 import AppTest

    from unpose_core import projection

    os.environ["UNPOSED_DATA_DIR"] = str(folder)
    npy = next((folder / "runs").glob("*/umap.npy"))
    before = (npy.stat().st_mtime_ns, projection.COMPUTE_COUNT)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
    at.switch_page("pages/3_Clusters.py")
    t0 = time.perf_counter()
    at.run()
    cold = time.perf_counter() - t0
    assert not at.exception, [e.value for e in at.exception]
    notice = any("fitted on a sample" in e.value for e in [*at.info, *at.caption])
    spec = at.get("plotly_chart")[0].proto.spec
    fig = json.loads(spec)
    drawn = 0
    for tr in fig["data"]:
        x = tr["x"]
        drawn += (len(np.frombuffer(__import__("base64").b64decode(x["bdata"]), dtype=x["dtype"]))
                  if isinstance(x, dict) else len(x))
    warm = []
    for _ in range(warm_repeats):
        at.switch_page("pages/2_Train.py").run()
        at.switch_page("pages/3_Clusters.py")
        t0 = time.perf_counter()
        at.run()
        warm.append(time.perf_counter() - t0)
        assert not at.exception, [e.value for e in at.exception]
    after = (npy.stat().st_mtime_ns, projection.COMPUTE_COUNT)
    assert after == before, "the map was recomputed on a page switch"
    return {"cold_s": cold, "warm_s": statistics.median(warm), "figure_mb": len(spec) / 1e6, "drawn": drawn,
            "recomputed": after != before, "notice": notice}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000])
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--keep", metavar="DIR", type=Path, default=None,
                    help="build the data dirs under DIR and keep them; a later run with the same DIR, size and K "
                         "reuses the data dir and its stored map (UMAP time then comes from its umap.json)")
    args = ap.parse_args(argv)

    imports = preload()
    print(f"importing the app's modules (once per process, not in the page times): {imports:.2f}s", flush=True)
    results = []
    base = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="unposed-bench-clusters-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        for n in args.sizes:
            folder = base / f"n{n}-k{args.k}"
            u = reused(folder) if args.keep else None
            if u is None:
                shutil.rmtree(folder, ignore_errors=True)   # a half-built dir from an interrupted run
                t0 = time.perf_counter()
                X, run_id = make_data_dir(folder, n, args.k)
                print(f"[{n}] synthetic data dir + run in {time.perf_counter() - t0:.1f}s: {folder}", flush=True)
                u = first_umap(folder, X, run_id)
                del X
                (folder / DONE_FILE).write_text(json.dumps(u))
                print(f"[{n}] first-time UMAP {u['umap_s']:.1f}s (kNN {u['knn']})", flush=True)
            else:
                print(f"[{n}] reusing {folder} (UMAP was {u['umap_s']:.1f}s when it was built)", flush=True)
            meta = stored_map(folder)
            u["fit_sample"] = meta.get("fit_sample")
            r = render_times(folder, n)
            print(f"[{n}] Clusters page: cold {r['cold_s']:.2f}s, after a page switch {r['warm_s']:.2f}s, "
                  f"figure {r['figure_mb']:.1f} MB, {r['drawn']} points drawn, fitted on {u['fit_sample']:,}, "
                  f"sample notice shown: {'yes' if r['notice'] else 'no'}", flush=True)
            results.append({"n": n, **u, **r})
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)

    print()
    print(f"{'reference images':>17} | {'UMAP once (s)':>13} | {'kNN':>5} | {'page cold (s)':>13} | "
          f"{'page switch (s)':>15} | {'figure (MB)':>11} | {'points drawn':>12} | {'fitted on':>9} | "
          f"notice | recomputed")
    for r in results:
        print(f"{r['n']:>17,} | {r['umap_s']:>13.1f} | {r['knn']:>5} | {r['cold_s']:>13.2f} | {r['warm_s']:>15.2f} | "
              f"{r['figure_mb']:>11.1f} | {r['drawn']:>12,} | {r['fit_sample']:>9,} | "
              f"{'yes' if r['notice'] else 'no':>6} | {'yes' if r['recomputed'] else 'no'}")
    if len(results) > 1:
        a, b = min(results, key=lambda r: r["n"]), max(results, key=lambda r: r["n"])
        print(f"\n{b['n'] // a['n']}x the points: UMAP {b['umap_s'] / a['umap_s']:.1f}x, page switch "
              f"{b['warm_s'] / a['warm_s']:.1f}x, first visit {b['cold_s'] / a['cold_s']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
