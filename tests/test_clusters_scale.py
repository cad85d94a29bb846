"""The Clusters page at scale, on a small synthetic run (benchmarks/bench_clusters.py's builder):
the stored map's format (version 2, and version-1 maps of older runs still opening and being
upgraded), the compact figure (every point drawn as uint16, hover without per-point strings above
HOVER_IDS_MAX), selections mapped back through (trace, point index), the "fitted on a sample"
notice, the sampled member space of the merge proposals, and the run loader's status check."""
from __future__ import annotations

import base64
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

from unpose_core import projection
from unpose_core.runs import RunError, get_run, load_run, save_run
from unpose_core.store import Store

ROOT = Path(__file__).resolve().parents[1]
N, K = 3_000, 5


def _bench():
    spec = importlib.util.spec_from_file_location("bench_clusters", ROOT / "benchmarks" / "bench_clusters.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A data dir with N reference images in K pose classes (no map yet) and their embeddings."""
    folder = tmp_path_factory.mktemp("clusters") / "data"
    X, _ = _bench().make_data_dir(folder, N, K)
    return folder, X


@pytest.fixture
def data(built, tmp_path) -> Path:
    """A writable copy of the built data dir whose run has a stored map said to be fitted on a
    sample of 1,000 points (positions: two coordinates of the embedding, no UMAP needed)."""
    from conftest import copy_data_dir

    folder, X = built
    path = copy_data_dir(folder, tmp_path / "data")
    store = Store(path)
    try:
        run = get_run(store)
        frame = projection.person_reference(run)
        projection.save_projection(run, frame, X[:len(frame), :2],
                                   {"fit_sample": 1_000, "n_points": len(frame), "method": "test"})
    finally:
        store.close()
    return path


def _run(path: Path):
    store = Store(path)
    try:
        return get_run(store)
    finally:
        store.close()


def _v1(run) -> dict:
    """The map's umap.json as versions before 2 wrote it (every row's image id and content hash)."""
    meta = json.loads((run.path / projection.META_FILE).read_text())
    frame = projection.person_reference(run)
    meta.pop("reference_sha256")
    return {**meta, "version": 1, "image_ids": [int(i) for i in frame["image_id"]],
            "content_hashes": frame["content_hash"].tolist()}


# -- the stored map --------------------------------------------------------------------------
def test_stored_map_is_small_and_tied_to_the_reference_rows(data):
    run = _run(data)
    meta_path = run.path / projection.META_FILE
    meta = json.loads(meta_path.read_text())
    assert meta["version"] == projection.PROJECTION_VERSION == 2
    assert meta["reference_sha256"] == run.metadata["files"]["reference.parquet"]
    assert "content_hashes" not in meta and "image_ids" not in meta and meta_path.stat().st_size < 2_000
    proj = projection.load_projection(run)
    assert proj is not None and proj.xy.shape == (N, 2) and proj.meta["fit_sample"] == 1_000
    # the rows are the person rows of the reference, and the frame is those rows
    assert proj.rows.tolist() == projection.person_rows(run).tolist()
    assert proj.frame["content_hash"].tolist() == projection.person_reference(run)["content_hash"].tolist()
    # another reference, another run id, a changed map: not trusted
    for key, value in (("reference_sha256", "0" * 64), ("run_id", "other"), ("n", N - 1)):
        meta_path.write_text(json.dumps({**meta, key: value}))
        assert projection.load_projection(run) is None, key
    meta_path.write_text(json.dumps(meta))
    npy = run.path / projection.UMAP_FILE
    xy = np.load(npy)
    np.save(npy, xy[::-1].copy())
    assert projection.load_projection(run) is None
    np.save(npy, xy)
    assert projection.load_projection(run) is not None


def test_map_of_an_older_version_still_opens_and_is_upgraded(data, monkeypatch):
    run = _run(data)
    meta_path = run.path / projection.META_FILE
    stored = projection.load_projection(run)
    old = _v1(run)
    # a tampered version-1 map is refused and left as it is
    meta_path.write_text(json.dumps({**old, "content_hashes": old["content_hashes"][::-1]}))
    assert projection.load_projection(run) is None
    assert json.loads(meta_path.read_text())["version"] == 1
    # an intact one opens (same positions, same meta) and its umap.json is rewritten as version 2
    meta_path.write_text(json.dumps(old))
    before = os.stat(run.path / projection.UMAP_FILE).st_mtime_ns
    proj = projection.load_projection(run)
    assert proj is not None and np.array_equal(proj.xy, stored.xy) and proj.meta["fit_sample"] == 1_000
    upgraded = json.loads(meta_path.read_text())
    assert upgraded["version"] == 2 and "content_hashes" not in upgraded
    assert upgraded["reference_sha256"] == run.metadata["files"]["reference.parquet"]
    assert os.stat(run.path / projection.UMAP_FILE).st_mtime_ns == before     # the map itself kept
    assert projection.load_projection(run) is not None
    # a version-1 map whose umap.json cannot be rewritten (a read-only folder) still opens
    meta_path.write_text(json.dumps(old))

    def refuse(folder, doc):
        raise PermissionError(f"{folder} is read-only")

    monkeypatch.setattr(projection, "_write_meta", refuse)
    assert projection.load_projection(run) is not None
    assert json.loads(meta_path.read_text())["version"] == 1


# -- the figure and selections ----------------------------------------------------------------
def test_figure_draws_every_point_as_uint16_and_selection_maps_back():
    from ui.clusters import GRID, MapPoints, figure, selected_rows

    rng = np.random.default_rng(1)
    n, k = 500, 4
    xy = rng.normal(size=(n, 2)).astype(np.float32) * np.array([3.0, 1.0], np.float32)
    cls = rng.integers(0, k, n)
    cls[cls == 2] = 1                                    # an empty class: no trace for it
    pts = MapPoints.build(xy, cls, rows=np.arange(n) + 10)
    traces = pts.traces(k)
    fig = figure(pts, {0: "front", 1: "back", 3: "side"}, k, products=np.array([f"p{i}" for i in range(n)], object))
    assert [t.name.split(" · ")[0] for t in fig.data] == ["0", "1", "3"] == [str(c) for c, _ in traces]
    assert sum(len(t.x) for t in fig.data) == n            # every point drawn
    grid = pts.grid()
    assert grid.dtype == np.uint16 and grid[:, 0].max() == GRID and grid.min(axis=0).tolist() == [0, 0]
    # one scale on both axes: the aspect ratio of the map is kept
    span = xy.max(axis=0) - xy.min(axis=0)
    assert abs(grid[:, 1].max() / GRID - span[1] / span[0]) < 1e-3
    for t, (c, members) in zip(fig.data, traces):
        assert (cls[members] == c).all()
        assert np.array_equal(t.x, grid[members, 0]) and np.array_equal(t.y, grid[members, 1])
        assert list(t.text) == [f"p{i}" for i in members] and "%{text}" in t.hovertemplate
    plain = figure(pts, {}, k)
    assert all(t.text is None and "%{text}" not in t.hovertemplate for t in plain.data)
    # the browser sends (trace, index in the trace) for each selected dot
    rows = [m for _, m in traces]
    event = {"selection": {"points": [
        {"curve_number": 1, "point_index": 3}, {"curve_number": 2, "point_number": 0},
        {"curve_number": 1, "point_index": 3},                        # twice: once
        {"curve_number": 7, "point_index": 0}, {"curve_number": 0, "point_index": n},   # out of range
        {"customdata": 5}], "box": [], "lasso": []}}
    assert selected_rows(event, rows) == [int(rows[1][3]), int(rows[2][0])]
    assert selected_rows({"selection": {"points": []}}, rows) == [] and selected_rows(None, rows) == []


def test_selection_hashes_count_each_image_once(data):
    """The label form under a map selection: the distinct content hashes of the selected rows (the
    map's hashes factorized once per map), equal to what label_selection's own dedup gives."""
    import pandas as pd

    from ui.clusters import map_view, selection_hashes

    store = Store(data)
    try:
        run = get_run(store)
        view = map_view(store, run)
        rows = np.random.default_rng(0).choice(len(view.pts), 900, replace=False)
        rows = np.concatenate([rows, rows[:50]])                       # a row twice: counted once
        want = pd.unique(run.reference["content_hash"].to_numpy()[view.pts.rows[rows]])
        got = selection_hashes(store, run, rows)
        assert sorted(got) == sorted(want) and len(got) == len(want) == 900
        assert selection_hashes(store, run, np.array([], np.int64)).tolist() == []
    finally:
        store.close()


# -- the page ----------------------------------------------------------------------------------
def _page(data: Path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("UNPOSED_DATA_DIR", str(data))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/3_Clusters.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _drawn(spec: str) -> tuple[int, set[str], bool]:
    fig = json.loads(spec)
    n, dtypes = 0, set()
    for tr in fig["data"]:
        n += len(np.frombuffer(base64.b64decode(tr["x"]["bdata"]), dtype=tr["x"]["dtype"]))
        dtypes.add(tr["x"]["dtype"])
    return n, dtypes, any("text" in tr for tr in fig["data"])


@pytest.mark.parametrize("hover_max", [50_000, 1_000])
def test_clusters_page_draws_every_point_and_says_the_map_was_sampled(data, monkeypatch, hover_max):
    import ui.clusters

    monkeypatch.setattr(ui.clusters, "HOVER_IDS_MAX", hover_max)
    at = _page(data, monkeypatch)
    notices = [e.value for e in at.info if "fitted on a sample" in e.value]
    assert notices == [f"The map was fitted on a sample of 1,000 of {N:,} points; the other {N - 1_000:,} were "
                       "placed next to their nearest sampled neighbours. Every point is drawn."]
    n, dtypes, text = _drawn(at.get("plotly_chart")[0].proto.spec)
    assert n == N and dtypes == {"u2"}
    assert text == (hover_max >= N)       # product ids in the hover only up to HOVER_IDS_MAX points
    caption = " ".join(c.value for c in at.caption)
    assert ("hover a dot for its product" in caption) == (hover_max >= N)
    assert "Nothing selected yet." in caption
    # a map fitted on every point says nothing about a sample
    run = _run(data)
    meta_path = run.path / projection.META_FILE
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "fit_sample": N}))
    at = _page(data, monkeypatch)
    assert not [e.value for e in at.info if "fitted on a sample" in e.value]


def test_a_map_above_the_cap_draws_a_sample_of_each_centroid_and_says_so(data, monkeypatch):
    import ui.clusters

    monkeypatch.setattr(ui.clusters, "MAP_POINTS_MAX", 1_000)
    at = _page(data, monkeypatch)
    n, dtypes, _ = _drawn(at.get("plotly_chart")[0].proto.spec)
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert dtypes == {"u2"} and n < N and len(fig["data"]) == K          # every centroid keeps its dots
    caption = " ".join(c.value for c in at.caption)
    assert f"{N:,} reference images with a person, {n:,} of them drawn" in caption
    assert "a lasso or box takes every image inside it, drawn or not" in caption
    assert "Nothing selected yet." in caption
    assert [e.value for e in at.info if "fitted on a sample" in e.value][0].endswith("Every point is on the map.")


# -- merge proposals: members sampled per centroid ------------------------------------------------
def test_member_sample_bounds_each_pose_class(data):
    from unpose_core.groups import member_sample
    from unpose_core.groups import members_sampled as sampled

    run = _run(data)
    sizes = np.bincount(run.reference["pose_class"].to_numpy()[projection.person_rows(run)], minlength=K)
    cap = int(np.sort(sizes)[K // 2])                      # some classes above, some at or below
    small = member_sample(run, cap)
    assert sampled(run, cap) and small is not run and small.kmeans is run.kmeans
    got = np.bincount(small.reference["pose_class"].to_numpy(), minlength=run.n_classes)[:K]
    assert got.tolist() == np.minimum(sizes, cap).tolist()
    assert small.reference.index.is_monotonic_increasing and small.reference.index.isin(run.reference.index).all()
    assert member_sample(run, cap).reference.index.equals(small.reference.index)     # seeded
    assert not sampled(run, int(sizes.max())) and member_sample(run, int(sizes.max())) is run


# -- the run loader's status check (distinct values only) ----------------------------------------
@pytest.mark.parametrize("bad", ["bogus", None])
def test_run_with_an_unknown_or_missing_status_is_refused(data, tmp_path, bad):
    run = _run(data)
    ref = run.reference.copy()
    ref["status"] = ref["status"].astype(object)
    ref.loc[ref.index[7], "status"] = bad
    folder = save_run(tmp_path / "bad", "bad", run.config, run.info, run.kmeans, run.ranker, ref, run.centroids)
    with pytest.raises(RunError, match="unknown status values"):
        load_run(folder)
