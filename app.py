"""Unposed: the curation app. `streamlit run app.py` (make run opens it on the trained demo).

This file is the home page: what is in the data dir and what to do next. Streamlit finds the
other pages in pages/ by itself (its multipage layout: the number orders the sidebar, the rest
of the file name is the title and the URL). Every page starts with ui.frame.page(), which sets
the page up and draws the sidebar; pages only lay out widgets and call unpose_core.

The data dir comes from $UNPOSED_DATA_DIR (else ~/.unposed).
"""
from __future__ import annotations

import streamlit as st

from ui import frame
from ui.common import (
    ENTRIES,
    PAGES,
    active_run_or_none,
    catalogue_metrics,
    catalogue_table,
    demo_button,
    engine_errors,
    get_suggester,
    has_catalogue,
    open_product,
)
from ui.grid import Tile, image_grid
from ui.history_view import audit_panel
from ui.jobs_view import job_panel
from ui.suggestion_view import hash_of
from unpose_core import app_tables as views
from unpose_core.config import SelectionConfig
from unpose_core.rank import cohort_name
from unpose_core.records import DescriptionStatus


def link(page: str, note: str | None = None) -> None:
    entry = ENTRIES[page]
    c1, c2 = st.columns([1, 4], vertical_alignment="center")
    with c1:
        st.page_link(entry.script, label=entry.title, icon=entry.icon)
    c2.caption(note or entry.what)


def how_it_works(store, run) -> None:
    """Three steps on one real listing of this catalogue: its photos, the pose its cohort's best
    sellers show and it lacks, and what Unposed asks the seller for."""
    worst = catalogue_table(store, run).worst_first()
    pick = worst[(worst["n_missing"] > 0) & (worst["n_images"] >= 2)]
    if pick.empty:
        return
    pid = str(pick["product_id"].iloc[len(pick) // 2])     # a typical listing, not the very worst
    suggester, lock = get_suggester(store, run)
    with lock:
        sug = suggester.for_product(pid)
    if not sug.missing:
        return
    m = sug.missing[0]
    backend = views.pose_backend_of(store, run)
    st.subheader("How it works, on one of your listings")
    s1, s2, s3 = st.columns(3)
    with s1:
        st.markdown(f"**1. A listing's photos** · `{pid}` {sug.title or ''}")
        image_grid(store, [Tile(a.image, hash_of(store, a), a.description) for a in sug.images[:4]], backend, run,
                   columns=2)
    with s2:
        st.markdown(f"**2. What the best sellers of {cohort_name(sug.cohort)} show** · {m.description}")
        image_grid(store, [Tile(r.path, r.content_hash, r.product_id) for r in m.references[:4]], backend, run,
                   columns=2, empty="No example in this cohort.")
    with s3:
        st.markdown("**3. What the seller is asked for**")
        st.info(m.hint, icon=":material/add_a_photo:")
        if sug.completeness is not None:
            st.caption(f"Completeness today: {sug.completeness:.0f}/100 ({len(sug.missing)} photos asked for).")
        if st.button(f"Open {pid} on the Product page", key="how-open", icon=":material/open_in_new:"):
            open_product(pid, came_from="home")


with frame.page(frame.APP_NAME) as page:
    store = page.store
    st.caption("Which photos is this listing missing? The poses of a cohort's most popular products are "
               "clustered and ranked; a listing lacking a pose they show gets it suggested, with examples.")

    if not has_catalogue(store):
        st.info(f"There is no catalogue in `{store.data_dir}` yet. Build the demo (a small generated catalogue "
                "of shirts, trained in a minute or two) or import your own.", icon=":material/inventory_2:")
        job = job_panel(store, key="demo-panel", kinds=("demo", "import"))
        if job is None or not job.running:
            demo_button(store)
        link("catalogue", "…or import your own catalogue there")
        st.stop()

    run = None
    with engine_errors("The active run cannot be loaded"):
        run = active_run_or_none(store)
    backend = views.pose_backend_of(store, run)
    summary = None
    with engine_errors("Cannot summarise the catalogue"):
        summary = views.catalogue_summary(store, run.config.selection if run else SelectionConfig(),
                                          *(backend or (None, None)))

    if run is not None:
        with engine_errors("Cannot show an example"):
            how_it_works(store, run)

    st.subheader("Catalogue")
    if summary is not None:
        catalogue_metrics(summary, ("products", "images", "reference", "subject", "pending"))
        if summary["source"]:
            st.caption(f"Source: `{summary['source']}`")

    st.subheader("Active run")
    job_panel(store, key="home-panel")
    table = None
    if run is None:
        st.info("No trained run yet: train one to see pose clusters and suggestions.",
                icon=":material/model_training:")
    else:
        table = views.centroid_table(store, run)
        poses = table[table["kind"] != "no_person"] if "kind" in table else table
        described = int((poses["description"] != "").sum())
        # carried onto a centroid that only roughly matches, plus texts no centroid here took
        review = int((table["status"] == DescriptionStatus.NEEDS_REVIEW).sum()) + len(store.unplaced(run.run_id))
        st.caption(f"Run `{run.run_id}` · poses from `{run.info.backend}`"
                   f"{' through the autoencoder' if run.config.autoencoder else ''}")
        r = st.columns(3)
        r[0].metric("Pose clusters (K)", run.k)
        r[1].metric("Described by you", f"{described} of {len(poses)}")
        r[2].metric("Descriptions to review", review)

    st.subheader("What to do next")
    if run is None:
        link("train", "train the first run (poses are extracted first; the demo takes a minute or two)")
    else:
        if summary is not None and summary["pending"]:
            link("train", f"{summary['pending']} images have no pose yet: train again to include them")
        if table is not None and review:
            link("clusters", f"{review} descriptions carried over from an earlier run need a look "
                             "(placed roughly, or waiting for a centroid)")
        elif table is not None and (table["description"] == "").any():
            link("clusters", "name the pose clusters (e.g. “back view, full body”): suggestions use the names")
        link("product")
        link("report")
    with st.expander("All pages", icon=":material/menu:", expanded=run is None):
        for key in PAGES:   # the one page list (ui.common.REGISTRY) without Home itself
            link(key)
    audit_panel(store)   # admins only: who did what, when
