"""The Streamlit app on the demo catalogue (streamlit.testing.v1.AppTest), and the engine
helpers it is built on: background jobs, the stored UMAP map, safe uploads.

The app is Streamlit's own multipage layout (app.py + pages/), driven through AppTest's public
API only: ``AppTest.from_file("app.py")`` for the home page, then ``switch_page("pages/...")``
as the sidebar does. Every AppTest runs on a COPY of the session's trained demo data dir.
"""
from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from apphelpers import APP, HOME, PAGES, copy_data_dir, mapped_copy, wait_until

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from unpose_core import jobs, projection
from unpose_core.catalog import uploads
from unpose_core.identity import os_user
from unpose_core.store import Store

TIMEOUT = 90


@pytest.fixture(scope="module")
def app_dir(demo_data_dir, tmp_path_factory) -> Path:
    """A copy of the demo data dir whose active run already has its UMAP map (computed once)."""
    return mapped_copy(demo_data_dir, tmp_path_factory.mktemp("app") / "data")


@pytest.fixture
def fresh_dir(app_dir, tmp_path) -> Path:
    """A writable copy for tests that change state."""
    return copy_data_dir(app_dir, tmp_path / "data")


def open_page(data_dir: Path, page: str, monkeypatch) -> AppTest:
    """A new session on ``page`` ("home" or a key of PAGES), as a visitor following a link."""
    monkeypatch.setenv("UNPOSED_DATA_DIR", str(data_dir))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    if page != "home":
        at.switch_page(PAGES[page])
    at.run()
    assert_clean(at)
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def texts(elements) -> list[str]:
    return [e.value for e in elements]


# -- every page renders --------------------------------------------------------------------
@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_renders(app_dir, page, monkeypatch, demo_run):
    at = open_page(app_dir, page, monkeypatch)
    assert not at.error, texts(at.error)
    assert at.title and at.title[0].value.replace(" ", "_").lower().startswith(
        {"tune": "tune_k"}.get(page, page))
    # every page draws the frame's sidebar itself (Streamlit runs a page's file alone)
    assert any("Unposed" in m.value for m in at.sidebar.markdown)
    assert any("Active run:" in c.value for c in at.sidebar.caption)
    if page in ("catalogue", "clusters", "product"):
        assert len(at.get("image")) >= 2, "image grid missing"
    if page == "clusters":
        assert len(at.get("plotly_chart")) == 1
    if page == "report":
        assert len(at.dataframe) == 1 and len(at.get("download_button")) == 2


def test_home_page_shows_counts_run_and_next_steps(app_dir, monkeypatch, demo_store, demo_run):
    at = open_page(app_dir, "home", monkeypatch)
    assert not at.error, texts(at.error)
    assert at.title[0].value == "Unposed"
    assert any("Unposed" in m.value for m in at.sidebar.markdown)
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Products"]) == len(demo_store.products())
    assert int(metrics["Images"]) == len(demo_store.images())
    assert int(metrics["Reference products"]) > 0 and int(metrics["Subject products"]) > 0
    assert int(metrics["Pose clusters (K)"]) == demo_run.k
    assert any(demo_run.run_id in c.value for c in at.caption)
    # a link to every page, by the URL Streamlit gives the page file
    links = {link.proto.page for link in at.get("page_link")}
    assert links >= {"Catalogue", "Train", "Clusters", "Tune_K", "Product", "Report", "Evaluate"}
    # to a page and back home, in the same session
    at.switch_page(PAGES["clusters"]).run()
    assert_clean(at)
    assert at.title[0].value == "Clusters"
    at.switch_page(HOME).run()
    assert_clean(at)
    assert at.title[0].value == "Unposed"


def test_catalogue_counts_and_product_grid(app_dir, monkeypatch, demo_store):
    at = open_page(app_dir, "catalogue", monkeypatch)
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Products"]) == len(demo_store.products())
    assert int(metrics["Images"]) == len(demo_store.images())
    assert int(metrics["Reference products"]) > 0 and int(metrics["Subject products"]) > 0
    assert int(metrics["No-person images"]) > 0
    sub = sorted(demo_store.products()["subcategory"].unique())[1]
    at.selectbox(key="sub-filter").set_value(sub).run()
    assert_clean(at)
    ids = at.selectbox(key="cat-product").options
    prods = demo_store.products().set_index("product_id")
    assert ids and all(prods.loc[p.split(" — ")[0], "subcategory"] == sub for p in ids)
    pid = ids[-1].split(" — ")[0]
    at.selectbox(key="cat-product").set_value(pid).run()
    n_images = int((demo_store.images()["product_id"] == pid).sum())
    assert len(at.get("image")) == n_images


# -- clusters: the map, descriptions ---------------------------------------------------------
def test_description_edit_persists_and_shows(fresh_dir, monkeypatch):
    store = Store(fresh_dir)
    run_id = store.active_run_id()
    at = open_page(fresh_dir, "clusters", monkeypatch)
    at.selectbox(key=f"centroid-{run_id}").set_value(2).run()
    text = "Back view, full body, arms down"
    at.text_input(key=f"desc-{run_id}-2").input(text).run()      # typed, focus lost: not saved
    assert 2 not in store.descriptions(run_id)
    at.button(key=f"desc-save-{run_id}-2").click().run()           # Save (Enter submits the same form)
    assert_clean(at)
    assert store.descriptions(run_id)[2].text == text
    assert store.descriptions(run_id)[2].source == f"{os_user()} (app)"
    # a new session (another visitor, after a rerun) sees it in the table and the legend
    at2 = open_page(fresh_dir, "clusters", monkeypatch)
    table = at2.dataframe[0].value
    assert text in table["shown"].tolist()
    fig = json.loads(at2.get("plotly_chart")[0].proto.spec)
    assert any(text[:20] in tr.get("name", "") for tr in fig["data"])
    store.close()


def test_description_is_removed_only_by_a_confirmed_revert(fresh_dir, monkeypatch):
    """Clearing the field and saving removes nothing (it says so); Revert to automatic, confirmed,
    removes the description for good (a new session shows the automatic one), the history keeps it."""
    store = Store(fresh_dir)
    run_id = store.active_run_id()
    store.set_description(run_id, 3, "Side view, hands on hips", "ok", "test")
    at = open_page(fresh_dir, "clusters", monkeypatch)
    at.selectbox(key=f"centroid-{run_id}").set_value(3).run()
    at.text_input(key=f"desc-{run_id}-3").input("").run()
    at.button(key=f"desc-save-{run_id}-3").click().run()
    assert_clean(at)
    assert store.descriptions(run_id)[3].text == "Side view, hands on hips"
    assert any("nothing was saved" in i for i in texts(at.info))
    at.button(key=f"desc-revert-{run_id}-3").click().run()
    assert store.descriptions(run_id)[3].text == "Side view, hands on hips"      # not before the confirmation
    assert any("Remove “Side view, hands on hips”" in w for w in texts(at.warning))
    at.button(key=f"desc-remove-{run_id}-3").click().run()
    assert_clean(at)
    assert 3 not in store.descriptions(run_id)
    assert at.text_input(key=f"desc-{run_id}-3").value == ""
    hist = store.description_history(run_id)
    assert list(hist[hist["centroid"] == 3]["text"]) == ["Side view, hands on hips", ""]
    at2 = open_page(fresh_dir, "clusters", monkeypatch)
    assert "Side view, hands on hips" not in at2.dataframe[0].value["shown"].tolist()
    store.close()


def test_needs_review_and_unplaced_descriptions_are_shown(fresh_dir, monkeypatch):
    store = Store(fresh_dir)
    run_id = store.active_run_id()
    store.set_description(run_id, 1, "Side view, cropped at chest", "needs_review", "old-run:4")
    store.add_unplaced_description(run_id, "Model sitting on a stool", "old-run:7")
    at = open_page(fresh_dir, "clusters", monkeypatch)
    shown = " ".join(texts(at.markdown))
    assert "Needs review" in shown and "Model sitting on a stool" in shown
    assert "Side view, cropped at chest" in shown
    # place the unplaced one on centroid 3: it now carries the text, the history still has both
    un_id = int(store.unplaced_descriptions(run_id)["id"].iloc[0])
    at.selectbox(key=f"place-{un_id}").set_value(3).run()
    at.button(key=f"place-btn-{un_id}").click().run()
    assert_clean(at)
    assert store.descriptions(run_id)[3].text == "Model sitting on a stool"
    assert len(store.unplaced_descriptions(run_id)) == 1            # never dropped
    store.close()


def test_umap_is_stored_once_and_not_recomputed(fresh_dir, monkeypatch):
    store = Store(fresh_dir)
    from unpose_core.runs import active_run
    run = active_run(store)
    npy = run.path / projection.UMAP_FILE
    before = (npy.stat().st_mtime_ns, projection.COMPUTE_COUNT)
    for page in ("clusters", "catalogue", "clusters", "product", "clusters"):
        open_page(fresh_dir, page, monkeypatch)
    assert (npy.stat().st_mtime_ns, projection.COMPUTE_COUNT) == before
    meta = json.loads((run.path / projection.META_FILE).read_text())
    assert meta["n"] == len(projection.person_reference(run)) and meta["run_id"] == run.run_id
    assert meta["reference_sha256"] == run.metadata["files"]["reference.parquet"]
    # a map of other reference rows is not trusted
    (run.path / projection.META_FILE).write_text(json.dumps({**meta, "reference_sha256": "0" * 64}))
    assert projection.load_projection(run) is None
    store.close()


def test_lasso_selection_maps_back_to_images():
    import numpy as np

    from ui.clusters import MapPoints, figure, selected_rows

    pts = MapPoints.build(np.stack([np.arange(6.0), np.arange(6.0)], axis=1), [0, 0, 1, 1, 2, 2])
    fig = figure(pts, {0: "front", 1: "back", 2: "side"}, 3)
    assert [t.name.split(" · ")[0] for t in fig.data] == ["0", "1", "2"]
    traces = [rows for _, rows in pts.traces(3)]
    assert traces[1].tolist() == [2, 3]
    event = {"selection": {"points": [{"curve_number": 1, "point_index": 1}, {"curve_number": 2, "point_index": 0},
                                      {"curve_number": 1, "point_index": 1}], "box": [], "lasso": []}}
    assert selected_rows(event, traces) == [3, 4]


# -- product ------------------------------------------------------------------------------
def test_choosing_a_product_lists_its_missing_poses(app_dir, monkeypatch, demo_store, demo_run):
    from unpose_core.suggestions import suggest_for_product

    at = open_page(app_dir, "product", monkeypatch)
    options = at.selectbox(key="product-pick").options
    pid = options[-1].split(" — ")[0]
    at.selectbox(key="product-pick").set_value(pid).run()
    assert_clean(at)
    expected = suggest_for_product(demo_store, demo_run, pid)
    assert expected.missing, "demo subject products miss poses"
    shown = [m for m in texts(at.markdown) if m.startswith("**") and m.endswith("**")
             and any(m == f"**{e.rank}. {e.description}**" for e in expected.missing)]
    assert len(shown) == len(expected.missing)
    for m, line in zip(expected.missing, shown):
        assert line == f"**{m.rank}. {m.description}**"   # a pose group by its words, not "Centroid 3 + 7"
    groups_shown = [c for c in texts(at.caption) if c.startswith("pose group ")]
    assert [c.split(" · ")[0] for c in groups_shown] == [f"pose group {m.group}" for m in expected.missing]
    hints = texts(at.info)
    assert all(any(m.hint == h for h in hints) for m in expected.missing)
    assert len(at.get("download_button")) == 3   # JSON, CSV, the seller sheet
    # what each image shows: facing and framing of the person images, the kind of the others
    shown_views = next(d.value for d in at.dataframe if "shows" in d.value.columns)
    assert list(shown_views["image"]) == [Path(a.image).name for a in expected.images]
    assert list(shown_views["shows"]) == [a.view["label"] for a in expected.images]
    assert shown_views["facing"].notna().any() and shown_views["framing"].notna().any()
    # search narrows the choices
    at.text_input(key="product-search").input(pid).run()
    assert [o.split(" — ")[0] for o in at.selectbox(key="product-pick").options] == [pid]


def test_upload_shows_copies_and_flags(fresh_dir, monkeypatch, demo_store):
    """The same photo twice and a small, blurred copy: the page says which images repeat and
    which are flagged, with the reason, next to the facing and framing of each image."""
    from PIL import Image, ImageFilter

    person = next(p for p, label in zip(demo_store.images()["path"], demo_store.images()["pose_label"])
                  if label == "front_full")
    small = io.BytesIO()
    Image.open(person).convert("RGB").resize((150, 220)).filter(ImageFilter.GaussianBlur(3)).save(small, "JPEG")
    at = open_page(fresh_dir, "product", monkeypatch)
    at.radio(key="product-mode").set_value("Upload photos").run()
    data = Path(person).read_bytes()
    at.file_uploader(key="product-upload").set_value([
        ("a.jpg", data, "image/jpeg"), ("b.jpg", data, "image/jpeg"), ("small.jpg", small.getvalue(), "image/jpeg")])
    at.run()
    at.button[0].click().run()
    assert_clean(at)
    warnings = " ".join(texts(at.warning))
    # a small blurred copy of the same picture is still the same photo (perceptual hashes)
    assert "3 of your 3 images are the same photo" in warnings, warnings
    assert "Image 3: the image is small" in warnings and "no sharp detail" in warnings, warnings
    table = next(d.value for d in at.dataframe if "shows" in d.value.columns)
    assert table.loc[1, "same photo as"] != "" and "low_resolution" in table.loc[2, "flags"]
    assert table.loc[0, "facing"] == "front" and table.loc[0, "framing"] == "full_length"


def test_upload_validates_images_and_suggests(fresh_dir, monkeypatch, demo_store):
    at = open_page(fresh_dir, "product", monkeypatch)
    at.radio(key="product-mode").set_value("Upload photos").run()
    img_path = demo_store.images()["path"].iloc[0]
    at.file_uploader(key="product-upload").set_value([
        ("notes.txt", b"this is not a photo", "text/plain"),
        ("front.jpg", Path(img_path).read_bytes(), "image/jpeg")])
    at.run()
    at.button[0].click().run()
    assert_clean(at)
    errors = texts(at.error)
    assert any("notes.txt" in e and "not a usable image" in e for e in errors), errors
    assert any("Missing poses" in m for m in texts(at.markdown))
    assert len(at.get("image")) >= 1
    # only junk: a clear message, no traceback
    at.file_uploader(key="product-upload").set_value([("x.png", b"\x89PNG broken", "image/png")])
    at.run()
    at.button[0].click().run()
    assert_clean(at)
    assert any("x.png" in e for e in texts(at.error))
    assert any("None of the files" in i for i in texts(at.info))


# -- report -------------------------------------------------------------------------------
def test_report_filters_and_sorts(app_dir, monkeypatch, demo_store, demo_run):
    from unpose_core.catalog.selection import select_sets

    at = open_page(app_dir, "report", monkeypatch)
    df = at.dataframe[0].value
    subject = select_sets(demo_store.products(), demo_store.images(), demo_run.config.selection).subject_ids
    assert sorted(df["product_id"]) == sorted(subject)
    assert list(df["n_missing"]) == sorted(df["n_missing"], reverse=True)
    sub = sorted(df["subcategory"].unique())[0]
    at.multiselect(key="rep-sub").set_value([sub]).run()
    df2 = at.dataframe[0].value
    assert len(df2) < len(df) and set(df2["subcategory"]) == {sub}
    at.selectbox(key="rep-sort").set_value("product_id").run()
    at.toggle(key="rep-desc").set_value(False).run()
    assert list(at.dataframe[0].value["product_id"]) == sorted(df2["product_id"])


# -- train, tune K: background jobs --------------------------------------------------------
def test_train_job_runs_in_background_and_survives_navigation(fresh_dir, monkeypatch):
    store = Store(fresh_dir)
    old = store.active_run_id()
    store.set_description(old, 0, "Chest close-up, facing camera", "ok", "test")
    at = open_page(fresh_dir, "train", monkeypatch)
    [n for n in at.number_input if n.label.startswith("K")][0].set_value(6)
    [b for b in at.button if b.label == "Extract poses and train"][0].click().run()
    assert_clean(at)
    job = jobs.current(store)
    assert job is not None and job.kind == "train"
    # navigate away: the sidebar still shows the job's progress (from memory + SQLite)
    at.switch_page(PAGES["clusters"]).run()
    assert_clean(at)
    if jobs.current(store) is not None:
        assert at.sidebar.get("progress"), "progress bar lost on navigation"
    # the row is in SQLite for every other connection / process too
    other = Store(fresh_dir)
    assert other.job(job.job_id).kind == "train"
    done = jobs.wait(store, job.job_id, timeout=240)
    assert done.status == jobs.DONE, done.error
    new = done.result["run_id"]
    assert store.active_run_id() == new != old
    assert projection.load_projection(_run(store, new)) is not None    # UMAP made by the job
    at.switch_page(PAGES["train"]).run()
    assert_clean(at)
    runs_table = at.dataframe[0].value
    assert set(runs_table["run_id"]) == {old, new}
    # descriptions moved to the new run (matched, or kept for review): never dropped
    carried = [d.text for d in store.descriptions(new).values()] + \
        store.unplaced_descriptions(new)["text"].tolist()
    assert "Chest close-up, facing camera" in carried
    # switch back to the old run from the page
    at.selectbox(key="run-pick").set_value(old).run()
    [b for b in at.button if b.label == "Make active"][0].click().run()
    assert store.active_run_id() == old
    other.close()
    store.close()


def test_progress_bar_survives_navigation_and_cancels(fresh_dir, monkeypatch):
    """A long job keeps its bar on every page and in every session until it ends."""
    from unpose_core.progress import Progress

    store = Store(fresh_dir)

    def slow(s, progress, stop):
        for i in range(10_000):
            progress(Progress("pose (blazepose)", i % 500, 500, "", 12.5, 40.0))
            if stop.wait(0.02):
                raise InterruptedError("cancelled by the test")
        return {}

    job = jobs.start(store, "train", slow)
    try:
        wait_until(lambda: (j := jobs.current(store)) is not None and j.total > 0 and j.eta is not None,
                   timeout=10, what="the job's first progress")
        at = open_page(fresh_dir, "train", monkeypatch)
        bar = at.get("progress")
        assert bar and "images" in bar[0].proto.text and "ETA" in bar[0].proto.text
        for page in ("clusters", "catalogue", "report"):
            at.switch_page(PAGES[page]).run()
            assert_clean(at)
            assert at.sidebar.get("progress"), page
        other_session = open_page(fresh_dir, "train", monkeypatch)
        assert other_session.get("progress")
        assert [b for b in other_session.button if b.label == "Extract poses and train"][0].disabled
        [b for b in other_session.button if b.label == "Cancel"][0].click().run()
        assert jobs.wait(store, job.job_id, timeout=10).status == jobs.CANCELLED
    finally:
        jobs.cancel(store, job.job_id)
        store.close()


def _run(store, run_id):
    from unpose_core.runs import get_run
    return get_run(store, run_id)


def test_tune_k_sweep_and_retrain_button(fresh_dir, monkeypatch):
    store = Store(fresh_dir)
    at = open_page(fresh_dir, "tune", monkeypatch)
    assert any("No sweep" in i for i in texts(at.info))
    at.slider[0].set_value((4, 7)).run()
    [b for b in at.button if b.label == "Run the sweep"][0].click().run()
    job = jobs.latest(store, kind="sweep")
    done = jobs.wait(store, job.job_id, timeout=120)
    assert done.status == jobs.DONE, done.error
    at.run()
    assert_clean(at)
    assert len(at.get("plotly_chart")) == 1
    table = at.dataframe[0].value
    assert list(table["k"]) == [4, 5, 6, 7]
    assert {"inertia", "silhouette", "balance", "purity"} <= set(table.columns)   # demo has pose labels
    assert table["purity"].between(0, 1).all()
    assert table["inertia"].iloc[-1] < table["inertia"].iloc[0]
    best = int(table.loc[table["purity"].idxmax(), "k"])
    assert at.number_input(key="retrain-k").value == best
    # the field and the button agree, and the page says why that K is proposed
    assert at.button(key="retrain-go").label.startswith(f"Retrain with K={best} ")
    assert any(f"Proposed K={best}: the highest purity" in c for c in texts(at.caption))
    other = 5 if best != 5 else 6
    at.number_input(key="retrain-k").set_value(other).run()
    assert at.button(key="retrain-go").label.startswith(f"Retrain with K={other} ")
    assert any(f"You chose K={other}" in c for c in texts(at.caption))
    at.number_input(key="retrain-k").set_value(best).run()
    # the retrain button starts a training job with that K and the active run's other settings
    [b for b in at.button if b.label.startswith("Retrain with K=")][0].click().run()
    train_job = jobs.current(store)
    assert train_job is not None and train_job.kind == "train"
    assert train_job.params["config"]["k"] == best
    jobs.cancel(store, train_job.job_id)
    finished = jobs.wait(store, train_job.job_id, timeout=240)
    assert finished.status in (jobs.CANCELLED, jobs.DONE)
    store.close()


# -- catalogue import --------------------------------------------------------------------------
def _small_manifest(demo_store, folder: Path) -> tuple[Path, Path]:
    """Three demo products (paths relative to the demo image folder) plus one row whose file is missing."""
    imgs = demo_store.images()
    keep = imgs[imgs["product_id"].isin(sorted(imgs["product_id"].unique())[:3])]
    prods = demo_store.products().set_index("product_id")
    rows = [{"product_id": r.product_id, "image_path": r.rel_path, "title": prods.at[r.product_id, "title"],
             "category": prods.at[r.product_id, "category"], "subcategory": prods.at[r.product_id, "subcategory"],
             "product_type": prods.at[r.product_id, "product_type"], "avg_rating": prods.at[r.product_id, "avg_rating"],
             "n_ratings": prods.at[r.product_id, "n_ratings"]} for r in keep.itertuples()]
    rows.append({**rows[0], "image_path": "no-such-folder/missing.jpg"})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    first = keep.iloc[0]
    return path, Path(first["path"][: -len(first["rel_path"])])


def test_import_from_manifest_path_shows_validation_report(fresh_dir, monkeypatch, demo_store, tmp_path):
    manifest, image_root = _small_manifest(demo_store, tmp_path / "shop")
    at = open_page(fresh_dir, "catalogue", monkeypatch)
    labels = [t.label for t in at.text_input]
    at.text_input[labels.index("Manifest path")].input(str(manifest))
    at.text_input[labels.index("Image folder (default: the manifest's folder)")].input(str(image_root))
    [b for b in at.button if b.label == "Validate and import"][0].click().run()
    store = Store(fresh_dir)
    job = jobs.latest(store, kind="import")
    done = jobs.wait(store, job.job_id, timeout=120)
    assert done.status == jobs.DONE, done.error
    assert done.result["applied"] and done.result["n_products"] == 3
    at.run()
    assert_clean(at)
    assert len(store.products()) == 3
    report = [d.value for d in at.dataframe if "kind" in d.value.columns]
    assert any("missing_file" in set(r["kind"]) for r in report)
    assert int({m.label: m.value for m in at.metric}["Products"]) == 3
    store.close()


def test_upload_manifest_and_zip_extracts_safely(fresh_dir, monkeypatch, demo_store):
    imgs = demo_store.images()
    one = imgs[imgs["product_id"] == imgs["product_id"].iloc[0]]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for r in one.itertuples():
            zf.writestr(f"shop/{Path(r.path).name}", Path(r.path).read_bytes())
        zf.writestr("../escape.txt", b"nope")
        zf.writestr("/abs.txt", b"nope")
    manifest = pd.DataFrame({"product_id": "P1", "image_path": [Path(p).name for p in one["path"]],
                             "category": "Clothing"}).to_csv(index=False).encode()
    at = open_page(fresh_dir, "catalogue", monkeypatch)
    at.file_uploader(key="up-manifest").set_value(("shop.csv", manifest, "text/csv"))
    at.file_uploader(key="up-zip").set_value(("shop.zip", buf.getvalue(), "application/zip"))
    at.run()
    [b for b in at.button if b.label == "Upload and import"][0].click().run()
    assert_clean(at)
    store = Store(fresh_dir)
    done = jobs.wait(store, jobs.latest(store, kind="import").job_id, timeout=120)
    assert done.status == jobs.DONE and done.result["applied"], done.result
    at.run()
    warn = " ".join(texts(at.warning))
    assert "2 zip entries were not extracted" in warn
    assert not (fresh_dir / "uploads" / "escape.txt").exists() and not (fresh_dir / "escape.txt").exists()
    root = Path(store.images()["path"].iloc[0])
    assert root.is_relative_to(fresh_dir / "uploads")
    assert len(store.images()) == len(one)
    store.close()


# -- empty data dir, broken run ----------------------------------------------------------------
def test_empty_data_dir_offers_the_demo(tmp_path, monkeypatch):
    for page in ("home", "catalogue", "clusters", "product"):
        at = open_page(tmp_path / "empty", page, monkeypatch)
        assert any("Build the demo" in b.label for b in at.button), page
        assert not at.error


def test_engine_errors_are_messages_not_tracebacks(fresh_dir, monkeypatch):
    store = Store(fresh_dir)
    from unpose_core.runs import active_run
    run = active_run(store)
    with open(run.path / "centroids.npy", "ab") as fh:
        fh.write(b"tampered")
    for page in ("clusters", "product", "report", "tune"):
        at = open_page(fresh_dir, page, monkeypatch)
        assert any("checksum mismatch" in e for e in texts(at.error)), (page, texts(at.error))
    store.close()


def test_the_page_frame_turns_engine_errors_into_one_line(app_dir, tmp_path, monkeypatch):
    """What a page does not catch itself ends the page with one st.error line, not a traceback."""
    def broken_page():
        from ui import frame

        with frame.page("Broken") as page:
            assert page.store.active_run_id()
            raise LookupError("no product 'X' in this catalogue")

    monkeypatch.setenv("UNPOSED_DATA_DIR", str(app_dir))
    at = AppTest.from_function(broken_page, default_timeout=TIMEOUT).run()
    assert_clean(at)
    assert at.title[0].value == "Broken" and texts(at.error) == ["no product 'X' in this catalogue"]
    assert any("Unposed" in m.value for m in at.sidebar.markdown)
    # a data dir that cannot be opened: one line, and the page stops there
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    monkeypatch.setenv("UNPOSED_DATA_DIR", str(not_a_dir))
    at = AppTest.from_function(broken_page, default_timeout=TIMEOUT).run()
    assert_clean(at)
    assert len(at.error) == 1 and at.error[0].value.startswith("Cannot open the data dir:")
    assert not at.title


# -- engine helpers: jobs ------------------------------------------------------------------------
def test_jobs_one_at_a_time_cancel_and_persist(tmp_path):
    store = Store(tmp_path)
    started = threading.Event()

    def slow(s, progress, stop):
        from unpose_core.progress import Progress
        for i in range(200):
            started.set()
            progress(Progress("pose (fake)", i, 200, "working"))
            if stop.wait(0.02):
                raise InterruptedError("stopped by request")
        return {"ok": True}

    job = jobs.start(store, "fake", slow, {"n": 200})
    started.wait(5)
    with pytest.raises(jobs.JobBusy):
        jobs.start(store, "fake", slow)
    other = Store(tmp_path)                     # another connection sees the progress in SQLite
    row = wait_until(lambda: (r := other.job(job.job_id)) and r.done > 0 and r,
                     timeout=10, what="progress in SQLite")
    assert row.status == jobs.RUNNING and row.total == 200 and row.done > 0
    assert jobs.current(other).job_id == job.job_id
    assert jobs.cancel(other, job.job_id)        # cancel through the row, as another process would
    done = jobs.wait(store, job.job_id, timeout=10)
    assert done.status == jobs.CANCELLED
    quick = jobs.start(store, "fake", lambda s, p, stop: {"answer": 42})
    assert jobs.wait(store, quick.job_id, 10).result == {"answer": 42}
    failing = jobs.start(store, "fake", lambda s, p, stop: (_ for _ in ()).throw(ValueError("bad K")))
    assert jobs.wait(store, failing.job_id, 10).error == "bad K"
    other.close()
    store.close()


def test_jobs_of_a_dead_process_are_marked_interrupted(tmp_path):
    store = Store(tmp_path)
    import socket
    assert store.claim_job(jobs.Job("ghost", "train", jobs.RUNNING, created_at=time.time(),
                                    pid=2 ** 22 + 12345, host=socket.gethostname()))
    assert jobs.current(store) is None
    assert jobs.get(store, "ghost").status == jobs.INTERRUPTED
    job = jobs.start(store, "fake", lambda s, p, stop: {})   # not blocked by the ghost
    assert jobs.wait(store, job.job_id, 10).status == jobs.DONE
    store.close()


# -- engine helpers: uploads ---------------------------------------------------------------------
def _zip(entries: dict[str, bytes], symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def test_zip_extraction_rejects_escapes_and_caps_size(tmp_path):
    data = _zip({"a/1.jpg": b"x" * 10, "../up.txt": b"u", "/etc/evil": b"e", "a/../../side.txt": b"s",
                 "__MACOSX/a/._1.jpg": b"junk"}, symlink="a/link")
    rep = uploads.extract_zip(data, tmp_path / "uploads", "My Shop!")
    assert rep.folder == tmp_path / "uploads" / "My-Shop"
    assert rep.n_files == 1 and (rep.folder / "a" / "1.jpg").read_bytes() == b"x" * 10
    reasons = dict(rep.skipped)
    assert set(reasons) == {"../up.txt", "/etc/evil", "a/../../side.txt", "a/link"}
    assert reasons["a/link"] == "symbolic link"
    assert not (tmp_path / "up.txt").exists() and not (tmp_path / "uploads" / "up.txt").exists()
    again = uploads.extract_zip(data, tmp_path / "uploads", "My Shop!")
    assert again.folder.name == "My-Shop-2"                          # never overwrites
    with pytest.raises(uploads.UploadError, match="at most"):
        uploads.extract_zip(_zip({"big.bin": b"0" * 5000}), tmp_path / "u2", "x", max_total_bytes=1000)
    with pytest.raises(uploads.UploadError, match="entries"):
        uploads.extract_zip(_zip({f"{i}.jpg": b"1" for i in range(5)}), tmp_path / "u3", "x", max_members=3)
    with pytest.raises(uploads.UploadError, match="not a zip"):
        uploads.extract_zip(b"PK not really", tmp_path / "u4", "x")
    assert not list(tmp_path.rglob("*.partial"))                       # nothing half-extracted left


def test_product_image_upload_validation(tmp_path, demo_store):
    real = Path(demo_store.images()["path"].iloc[0]).read_bytes()
    saved = uploads.save_product_images(tmp_path, [("ok.jpg", real), ("doc.pdf", b"%PDF-1.4"),
                                                   ("empty.jpg", b"")])
    assert [p.name for p in saved.paths] == ["01_ok.jpg"]
    reasons = dict(saved.rejected)
    assert "not a usable image" in reasons["doc.pdf"] and "empty" in reasons["empty.jpg"]
    with pytest.raises(uploads.UploadError, match="at most"):
        uploads.save_product_images(tmp_path, [("a.jpg", real)] * (uploads.MAX_PRODUCT_IMAGES + 1))
    with pytest.raises(uploads.UploadError, match="csv"):
        uploads.save_manifest("shop.xlsx", b"x", tmp_path)


# -- the app's structure (issue 20, item 5) -------------------------------------------------------
def test_sidebar_home_and_guide_read_one_page_registry(app_dir, monkeypatch):
    """One page list: the sidebar shows REGISTRY in order, Home's guide links every other page
    (the Dashboard too), and PAGES/HOME are derived from it."""
    from ui.common import REGISTRY

    assert [e.script for e in REGISTRY] == [HOME, *PAGES.values()]
    at = open_page(app_dir, "home", monkeypatch)
    sidebar = [(link.proto.label, link.proto.page) for link in at.sidebar.get("page_link")]
    assert [label for label, _ in sidebar] == [e.title for e in REGISTRY]
    body = list(at.main.get("page_link"))
    guide = {link.proto.label for link in body}
    assert guide >= {e.title for e in REGISTRY if e.key != "home"}
    assert "Dashboard" in guide
    # each script of the registry is a page file Streamlit finds
    for e in REGISTRY:
        assert (APP.parent / e.script).is_file(), e.script


def test_train_page_retrain_keeps_the_fields_it_does_not_show(fresh_dir, monkeypatch):
    """A non-default active config: the Train page changes K only, the job's config keeps views,
    mirror_equivalent, backend_params, niter, nredo and popularity_order as they were."""
    from unpose_core.config import TrainConfig

    store = Store(fresh_dir)
    rec = store.run(store.active_run_id())
    odd = TrainConfig.from_dict(rec.config)
    odd.views, odd.mirror_equivalent, odd.niter, odd.nredo = False, False, 7, 2
    odd.backend_params = {"model": "heavy"}
    odd.autoencoder_params = {"epochs": 3}
    odd.selection.popularity_order = ("n_ratings", "avg_rating")
    assert odd != TrainConfig.from_dict(rec.config)
    store.add_run(rec.run_id, rec.path, rec.backend, rec.k, odd.to_dict(), rec.summary)
    at = open_page(fresh_dir, "train", monkeypatch)
    [n for n in at.number_input if n.label.startswith("K")][0].set_value(odd.k + 1)
    [b for b in at.button if b.label == "Extract poses and train"][0].click().run()
    assert_clean(at)
    job = jobs.latest(store, kind="train")
    assert job is not None
    try:
        sent = TrainConfig.from_dict(job.params["config"])
        assert sent.k == odd.k + 1
        for field in ("views", "mirror_equivalent", "backend_params", "niter", "nredo", "autoencoder_params",
                      "seed", "rating_weight", "count_weight", "min_cohort_share", "backend"):
            assert getattr(sent, field) == getattr(odd, field), field
        assert sent.selection == odd.selection
    finally:
        jobs.cancel(store, job.job_id)
        jobs.wait(store, job.job_id, timeout=120)
        store.close()


def test_most_typical_images_come_from_the_engine(demo_run):
    """app_tables.most_typical: the class's own rows, one per product first, nearest first."""
    from unpose_core.app_tables import most_typical

    ref = demo_run.reference
    for c in range(demo_run.k):
        members = ref[ref["pose_class"] == c]
        got = most_typical(demo_run, c, 12)
        assert len(got) == min(12, len(members)) and (got["pose_class"] == c).all()
        first = got.head(min(12, members["product_id"].nunique()))
        assert first["product_id"].is_unique
        assert first["distance"].is_monotonic_increasing
        nearest = members.sort_values("distance", kind="stable").drop_duplicates("product_id").head(len(first))
        assert list(first["content_hash"]) == list(nearest["content_hash"])


# -- issue 25: the app walked through by its users -------------------------------------------------
def test_product_search_and_dropdown_agree_and_previous_next_follow_the_worst_first_queue(
        app_dir, monkeypatch, demo_store, demo_run):
    from unpose_core.outputs import catalogue

    queue = catalogue(demo_store, demo_run).worst_first()["product_id"].tolist()
    at = open_page(app_dir, "product", monkeypatch)
    first = at.selectbox(key="product-pick").value
    other = next(p for p in queue if p != first)
    title = demo_store.products().set_index("product_id").at[other, "title"]
    # a search that leaves out the picked product: the dropdown shows the product the page shows
    at.text_input(key="product-search").input(other).run()
    assert_clean(at)
    assert at.selectbox(key="product-pick").value == other
    assert at.subheader[0].value == (title or other)
    # previous / next walk the worst-first queue (lowest completeness first) and clear the search
    at.text_input(key="product-search").input("").run()
    at.selectbox(key="product-pick").set_value(queue[1]).run()
    at.button(key="product-next").click().run()
    assert_clean(at)
    assert at.selectbox(key="product-pick").value == queue[2]
    assert any(f"3 of {len(queue)}" in c for c in texts(at.caption))
    at.selectbox(key="product-pick").set_value(queue[0]).run()
    assert at.button(key="product-prev").disabled
    # plain words first, the numbers behind an expander
    words = [m for m in texts(at.markdown) if m.split(":")[0] in
             ("Very likely missing", "Probably missing", "Possibly missing")]
    sug = [c for c in texts(at.caption) if c.startswith("pose group ")]   # one per requested pose group
    assert words and len(words) == len(sug)
    assert not any("typical radius" in m or "ranker score" in m for m in words)
    assert [e.label for e in at.expander].count("The numbers behind it") == len(sug)


def test_map_selection_is_counted_paged_grouped_by_centroid_and_opens_tiles(app_dir, monkeypatch):
    """A map selection of 50 images: the count, pages of 20, a heading per centroid (in order), an
    Enlarge button per tile; centroid labels on the Clusters page are distinct, with previous /
    next; the palette is distinct up to K=30."""
    import itertools

    import numpy as np

    from ui.clusters import PALETTE, _rgb

    first = [_rgb(c) for c in PALETTE[:30]]
    assert min(np.linalg.norm(a - b) for a, b in itertools.combinations(first, 2)) >= 60

    def panel():
        import streamlit as st

        from ui.clusters import selection_panel
        from ui.common import get_run, get_store
        from unpose_core import app_tables as views

        store = get_store()
        run = get_run(store)
        ref = run.reference
        sel = ref[(ref["pose_class"] >= 0) & (ref["pose_class"] < run.k)].sample(50, random_state=0)
        st.title("Selection")
        selection_panel(store, run, sel, {}, views.pose_backend_of(store, run), key="t", page_size=20)

    monkeypatch.setenv("UNPOSED_DATA_DIR", str(app_dir))
    at = AppTest.from_function(panel, default_timeout=TIMEOUT).run()
    assert_clean(at)
    assert any(m.startswith("**Selected: 50 images**") for m in texts(at.markdown))
    heads = [int(m.split("**Centroid ")[1].split("**")[0]) for m in texts(at.markdown) if "**Centroid " in m]
    assert heads == sorted(heads) and len(heads) == len(set(heads))
    assert len(at.get("image")) == 20
    assert len([b for b in at.button if b.label == "Enlarge"]) == 20
    at.number_input(key="t-page").set_value(3).run()
    assert_clean(at)
    assert len(at.get("image")) == 10 and any("Page 3 of 3" in c for c in texts(at.caption))

    page = open_page(app_dir, "clusters", monkeypatch)
    labels = [s.label for s in page.selectbox]
    assert len(labels) == len(set(labels)), labels
    run_id = Store(app_dir).active_run_id()
    first_c = page.selectbox(key=f"centroid-{run_id}").value
    page.button(key=f"centroid-next-{run_id}").click().run()
    assert page.selectbox(key=f"centroid-{run_id}").value == first_c + 1
    page.button(key=f"centroid-prev-{run_id}").click().run()
    assert page.selectbox(key=f"centroid-{run_id}").value == first_c


def test_home_shows_how_it_works_on_a_real_listing(app_dir, monkeypatch):
    """Home: three steps built from one real listing (its photos, what its cohort's best sellers show,
    the hint the seller gets, exactly as the engine words it)."""
    from unpose_core.runs import active_run
    from unpose_core.suggestions import suggest_for_product

    at = open_page(app_dir, "home", monkeypatch)
    assert "How it works, on one of your listings" in [s.value for s in at.subheader]
    steps = [m for m in texts(at.markdown) if m[:5] in ("**1. ", "**2. ", "**3. ")]
    assert [m[:5] for m in steps] == ["**1. ", "**2. ", "**3. "]
    pid = steps[0].split("`")[1]
    store = Store(app_dir)
    sug = suggest_for_product(store, active_run(store), pid)
    assert sug.missing and sug.missing[0].hint in texts(at.info)
    assert len(at.get("image")) >= 2
    at.button(key="how-open").click().run()
    assert_clean(at)
    assert at.title[0].value == "Product" and at.selectbox(key="product-pick").value == pid
    assert any(link.proto.label == "Back to Home" for link in at.main.get("page_link"))
    store.close()


def test_exports_name_images_by_catalogue_relative_paths_and_one_naming_scheme(demo_store, demo_run):
    """The report's and a suggestion's CSV columns name images as the manifest does (relative to the
    catalogue), not by the server's absolute paths; every download is unposed-<what>-<id>.<ext>."""
    from ui.common import export_name
    from unpose_core.exports import catalogue_relative, catalogue_roots, to_csv
    from unpose_core.outputs.report import report

    images = demo_store.images()
    roots = catalogue_roots(images)
    assert roots and all(r.startswith("/") for r in roots)
    table = report(demo_store, demo_run)
    assert any(r in cell for r in roots for cell in table["missing_examples"] if cell)   # absolute before
    out = to_csv(catalogue_relative(table, roots))
    assert not any(r in out for r in roots)
    rel = set(images["rel_path"])
    named = [p for cell in catalogue_relative(table, roots)["missing_examples"] if cell
             for part in cell.split(" | ") for p in part.split(" ") if p]
    assert named and set(named) <= rel
    assert [export_name("missing-poses", "polo 07", ext) for ext in ("csv", "json")] == \
        ["unposed-missing-poses-polo_07.csv", "unposed-missing-poses-polo_07.json"]


def test_upload_judges_against_the_picked_trained_cohort_and_marks_a_stale_result(fresh_dir, monkeypatch,
                                                                                 demo_store, demo_run):
    """One cohort picker listing the run's cohorts; the result says what it was judged against (with
    a warning when a thin cohort fell back to a wider one), names each tile's file, and is marked
    stale once the cohort changes."""
    from unpose_core.config import SuggestConfig
    from unpose_core.rank import cohort_name

    tables = demo_run.ranker.tables_
    enough = [k for k, t in tables.items() if t["level"] == "subcategory"
              and t["n_products"] >= SuggestConfig().min_cohort_products]
    assert enough, "the demo has subcategory cohorts"
    img = demo_store.images()["path"].iloc[0]
    at = open_page(fresh_dir, "product", monkeypatch)
    at.radio(key="product-mode").set_value("Upload photos").run()
    assert len(at.selectbox(key="up-cohort").options) == len(tables)
    at.selectbox(key="up-cohort").set_value(enough[0]).run()
    at.file_uploader(key="product-upload").set_value([("my-front-photo.jpg", Path(img).read_bytes(), "image/jpeg")])
    at.run()
    [b for b in at.button if b.label == "Find missing poses"][0].click().run()
    assert_clean(at)
    judged = cohort_name(enough[0])
    assert any(f"Judged against **{judged}**" in c for c in texts(at.caption)), texts(at.caption)
    assert not any("has too few best sellers" in w for w in texts(at.warning))
    captions = [img.caption for e in at.get("image") for img in e.proto.imgs]
    assert any(c.startswith("my-front-photo.jpg · ") for c in captions), captions
    thin = [k for k, t in tables.items() if t["n_products"] < SuggestConfig().min_cohort_products]
    at.selectbox(key="up-cohort").set_value(thin[0] if thin else "*").run()
    assert any("This result is for the photos and cohort you chose before" in w for w in texts(at.warning))
    if thin:
        [b for b in at.button if b.label == "Find missing poses"][0].click().run()
        assert any("has too few best sellers" in w for w in texts(at.warning))


def test_training_progress_only_moves_forward_across_stages(fresh_dir, monkeypatch):
    """A train job's bar is the whole job: pose extraction at 100% then the train stage at 1 of 5 is
    further along, never back to 20%; the panel says which step it is on."""
    from unpose_core.progress import Progress
    from unpose_core.records import Job

    seq = [("starting", 0, 0), ("pose (blazepose)", 10, 500), ("pose (blazepose)", 500, 500), ("train", 1, 5),
           ("train", 5, 5), ("umap", 0, 200), ("umap", 200, 200)]
    values = [Job("j", "train", jobs.RUNNING, stage=s, done=d, total=t).overall for s, d, t in seq]
    assert values == sorted(values) and values[-1] == 1.0 and values[3] > values[2] - 1e-9
    assert Job("j", "sweep", jobs.RUNNING, stage="sweep", done=3, total=4).overall == 0.75

    store = Store(fresh_dir)
    gate = threading.Event()

    def staged(s, progress, stop):
        progress(Progress("pose (blazepose)", 500, 500, ""))
        progress(Progress("train", 1, 5, "K-Means"))
        gate.wait(30)
        return {}

    job = jobs.start(store, "train", staged)
    try:
        wait_until(lambda: (j := jobs.current(store)) is not None and j.stage == "train", timeout=10,
                   what="the train stage")
        at = open_page(fresh_dir, "train", monkeypatch)
        bar = at.get("progress")[0]
        assert bar.proto.value >= 38 and "step 2 of 3" in bar.proto.text     # (1 + 1/5) / 3 = 40%
    finally:
        gate.set()
        jobs.wait(store, job.job_id, timeout=10)
        store.close()


def test_runs_picker_follows_the_active_run(fresh_dir, monkeypatch):
    """When another run becomes active (a training job activates its new run), the Train page's
    picker and the sidebar show it on the next rerun."""
    store = Store(fresh_dir)
    old = store.active_run_id()
    rec = store.run(old)
    store.add_run("run-copy", rec.path, rec.backend, rec.k, rec.config, rec.summary)
    at = open_page(fresh_dir, "train", monkeypatch)
    assert at.selectbox(key="run-pick").value == old
    store.set_active_run("run-copy")
    at.run()
    assert at.selectbox(key="run-pick").value == "run-copy"
    assert any("Active run: `run-copy`" in c.value for c in at.sidebar.caption)
    store.close()


def test_a_backend_that_cannot_run_here_is_marked_and_cannot_start(fresh_dir, monkeypatch):
    """rtmpose-onnx without an imported model: the Train page marks it, says why with the import
    command, and the train button is disabled (nothing fails after the job started)."""
    from unpose_core.pose import backend_problem

    why = backend_problem("rtmpose-onnx", fresh_dir)
    assert why and "unposed models add" in why
    assert backend_problem("blazepose", fresh_dir) is None
    at = open_page(fresh_dir, "train", monkeypatch)
    assert [b for b in at.button if b.label == "Extract poses and train"][0].disabled is False
    at.selectbox(key="train-backend").set_value("rtmpose-onnx").run()
    assert_clean(at)
    assert "rtmpose-onnx (not usable here)" in at.selectbox(key="train-backend").options
    assert any("cannot run here" in w and "unposed models add" in w for w in texts(at.warning))
    assert [b for b in at.button if b.label == "Extract poses and train"][0].disabled
    assert jobs.current(Store(fresh_dir)) is None
    # the Evaluate page does not offer it either, and says why
    ev = open_page(fresh_dir, "evaluate", monkeypatch)
    offered = " ".join(ev.multiselect[0].options)
    assert "RTMPose" not in offered and "rtmpose" not in offered.lower()
    assert any(m.startswith("- `rtmpose-onnx`:") and "unposed models add" in m for m in texts(ev.markdown))
