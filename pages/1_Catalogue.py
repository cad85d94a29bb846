"""Catalogue: counts, failures, a product's images with skeletons, and importing a catalogue."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import frame
from ui.common import (
    PAGES,
    active_run_or_none,
    catalogue_metrics,
    demo_button,
    engine_errors,
    has_catalogue,
    image_status_table,
    products_table,
)
from ui.grid import Tile, image_grid
from ui.jobs_view import job_panel
from unpose_core import app_tables as views
from unpose_core import jobs
from unpose_core.catalog import uploads
from unpose_core.config import SelectionConfig
from unpose_core.records import Status

with frame.page("Catalogue") as page:
    store = page.store

    def import_section(expanded: bool) -> None:
        with st.expander("Import a catalogue", expanded=expanded, icon=":material/upload:"):
            st.caption("A manifest is CSV or Parquet: one row per image (`product_id`, `image_path`, optional "
                       "`title`, `category`, `subcategory`, `product_type`, `avg_rating`, `n_ratings`, "
                       "`pose_label`) or one row per product with an `images` column (paths separated by `|`). "
                       "Importing replaces the current catalogue; extracted poses and runs are kept.")
            tab_path, tab_upload = st.tabs(["Manifest on this server", "Upload files"])
            with tab_path:
                with st.form("import-path"):
                    manifest = st.text_input("Manifest path", placeholder="/data/shop/manifest.csv")
                    root = st.text_input("Image folder (default: the manifest's folder)")
                    go = st.form_submit_button("Validate and import", icon=":material/fact_check:")
                if go:
                    with engine_errors("Could not start the import"):
                        if not manifest.strip():
                            raise ValueError("enter the path of a manifest file")
                        jobs.start_import(store, manifest.strip(), root.strip() or None, by=page.actor)
                        st.rerun()
            with tab_upload:
                st.caption(f"Manifest up to {uploads.MAX_MANIFEST_BYTES // uploads.MB} MB; images as one zip up to "
                           f"{uploads.MAX_ZIP_BYTES // uploads.MB} MB (paths in the manifest are relative to the "
                           "zip's root or its single top folder).")
                up_manifest = st.file_uploader("Manifest (CSV / Parquet)", type=["csv", "tsv", "parquet"],
                                               key="up-manifest",
                                               max_upload_size=uploads.MAX_MANIFEST_BYTES // uploads.MB)
                up_zip = st.file_uploader("Images (zip)", type=["zip"], key="up-zip",
                                          max_upload_size=uploads.MAX_ZIP_BYTES // uploads.MB)
                if st.button("Upload and import", disabled=up_manifest is None, icon=":material/upload:"):
                    with engine_errors("Upload rejected"):
                        manifest_path, image_root, zrep = uploads.save_catalogue_upload(
                            store.data_dir, up_manifest.name, up_manifest.getvalue(),
                            up_zip.name if up_zip else None, up_zip, up_zip.size if up_zip else None, by=page.actor)
                        if zrep is not None:
                            st.session_state["zip-report"] = {"summary": zrep.summary(), "skipped": zrep.skipped}
                        jobs.start_import(store, manifest_path, image_root, by=page.actor)
                        st.rerun()
            zrep = st.session_state.get("zip-report")
            if zrep:
                st.caption(zrep["summary"])
                if zrep["skipped"]:
                    st.warning(f"{len(zrep['skipped'])} zip entries were not extracted:", icon=":material/warning:")
                    st.dataframe(pd.DataFrame(zrep["skipped"], columns=["entry", "reason"]), hide_index=True)
            job_panel(store, key="import-panel", kinds=("import", "demo"))
            last = jobs.latest(store, kind="import")
            if last is not None and not last.running and last.result:
                show_import_report(last)

    def show_import_report(job: jobs.Job) -> None:
        r = job.result
        st.markdown(f"**Last import** — `{r.get('source')}`")
        (st.success if r.get("applied") else st.error)(r.get("summary") or r.get("fatal") or "",
                                                       icon=":material/fact_check:")
        if r.get("problems"):
            probs = pd.DataFrame(r["problems"])
            st.caption(f"{r.get('n_problems', len(probs))} problems (rows kept out of the catalogue, or notes):")
            st.dataframe(probs, hide_index=True, height=220)

    if not has_catalogue(store):
        st.info(f"There is no catalogue in `{store.data_dir}` yet. Build the demo (a small generated catalogue "
                "of shirts, trained in a minute or two) or import your own.", icon=":material/inventory_2:")
        job = job_panel(store, key="demo-panel", kinds=("demo",))
        if job is None or not job.running:
            demo_button(store)
        import_section(expanded=True)
        st.stop()

    run = active_run_or_none(store)
    backend = views.pose_backend_of(store, run)
    selection = run.config.selection if run else SelectionConfig()
    products = products_table(store)
    status = image_status_table(store, *(backend or (None, None)))
    with engine_errors("Cannot summarise the catalogue"):
        summary = views.catalogue_summary(store, selection, *(backend or (None, None)))

        st.caption(f"Source: `{summary['source']}` · poses from `{backend[0] if backend else 'no backend yet'}`"
                   f" · reference = more than {selection.min_images} images (top {selection.top_k} by popularity),"
                   f" subject = fewer than {selection.subject_max_images}")
        catalogue_metrics(summary)

        failed = views.failed_images(store, *(backend or (None, None)))
        problems = store.import_problems()
        reasons = views.failure_reasons(failed, problems)
        if len(failed) or len(problems):
            with st.expander(f"Failed images ({len(failed)}) and import validation report ({len(problems)} notes)",
                             icon=":material/report:"):
                if len(reasons):
                    st.markdown("**Reasons**")
                    st.dataframe(reasons, hide_index=True)
                else:
                    st.caption("No image failed.")
                if len(failed):
                    st.markdown("**Images the pose model could not read**")
                    st.dataframe(failed, hide_index=True, height=200)
                if len(problems):
                    st.markdown("**Import validation report** (rows left out, and notes on the manifest)")
                    st.dataframe(problems, hide_index=True, height=200)
        if summary["pending"]:
            st.info(f"{summary['pending']} images have no pose yet: training extracts them.",
                    icon=":material/hourglass_top:")
            st.page_link(PAGES["train"], label="Go to Train", icon=":material/model_training:")

        # -- browse ---------------------------------------------------------------------------
        st.subheader("Browse products")
        counts = status.groupby("product_id").size()
        role = dict.fromkeys(summary["reference_ids"], "reference") | dict.fromkeys(summary["subject_ids"], "subject")
        table = products.drop(columns=["attrs"]).assign(
            images=lambda d: d["product_id"].map(counts).fillna(0).astype(int),
            role=lambda d: d["product_id"].map(role).fillna("—"))
        f1, f2, f3 = st.columns([1, 1, 2])
        cats = sorted(table["category"].dropna().unique())
        cat = f1.selectbox("Category", ["(all)", *cats], key="cat-filter")
        if cat != "(all)":
            table = table[table["category"] == cat]
        subs = sorted(table["subcategory"].dropna().unique())
        sub = f2.selectbox("Subcategory", ["(all)", *subs], key="sub-filter")
        if sub != "(all)":
            table = table[table["subcategory"] == sub]
        query = f3.text_input("Search id or title", key="cat-search")
        if query.strip():
            q = query.strip().lower()
            table = table[table["product_id"].str.lower().str.contains(q, regex=False)
                          | table["title"].fillna("").str.lower().str.contains(q, regex=False)]
        st.dataframe(table, hide_index=True, height=260,
                     column_config={"avg_rating": st.column_config.NumberColumn("rating", format="%.2f"),
                                    "n_ratings": st.column_config.NumberColumn("ratings")})
        if table.empty:
            st.caption("No product matches the filters.")
        else:
            ids = table["product_id"].tolist()
            titles = dict(zip(table["product_id"], table["title"].fillna("")))
            pid = st.selectbox("Product", ids, format_func=lambda p: f"{p} — {titles.get(p, '')}", key="cat-product")
            prod = products.set_index("product_id").loc[pid]
            imgs = status[status["product_id"] == pid]
            st.markdown(f"**{prod['title'] or pid}** · {prod['category']} / {prod['subcategory']} / "
                        f"{prod['product_type']} · rating {prod['avg_rating']} ({prod['n_ratings']} ratings) · "
                        f"{len(imgs)} images · {role.get(pid, 'neither reference nor subject')}")

            def caption(r) -> str:
                what = {Status.PERSON: "person", Status.NO_PERSON: "no person", Status.ERROR: "failed",
                        Status.PENDING: "not extracted"}.get(r.status, r.status)
                label = f" · {r.pose_label}" if isinstance(r.pose_label, str) and r.pose_label else ""
                return f"#{r.position} · {what}{label}"

            image_grid(store, [Tile(r.path, r.content_hash, caption(r)) for r in imgs.itertuples()], backend, run,
                       columns=6)
            errs = imgs[imgs["status"] == Status.ERROR]
            for r in errs.itertuples():
                st.caption(f":red[#{r.position} failed: {r.error}]")

    import_section(expanded=False)
