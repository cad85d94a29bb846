"""Report: every subject product with its missing poses, sortable, filterable, downloadable."""
from __future__ import annotations

import streamlit as st

from ui import frame
from ui.common import engine_errors, export_name, for_export, open_product, report_table, require_run
from unpose_core.exports import to_csv

with frame.page("Report") as page:
    store = page.store
    run = require_run(store)

    with engine_errors("Cannot build the report"):
        with st.spinner("Suggesting missing poses for every subject product…"):
            df = report_table(store, run)
        if df.empty:
            st.info("No subject products (products with fewer than "
                    f"{run.config.selection.subject_max_images} images) in this catalogue.")
            st.stop()

        m = st.columns([1, 1, 1, 1, 2])
        m[0].metric("Subject products", len(df))
        m[1].metric("With missing poses", int((df["n_missing"] > 0).sum()))
        m[2].metric("No request (reason given)", int((df["n_missing"] == 0).sum()),
                    help="Products asked for nothing; the status and reason columns say why")
        m[3].metric("Missing poses in all", int(df["n_missing"].sum()))
        top = df.loc[df["top_missing"] != "", "top_missing"].value_counts()
        with m[4]:
            st.caption("Most often the first missing pose")
            st.markdown(f"**{top.index[0]}** ({top.iloc[0]} products)" if len(top) else "—")

        c1, c2, c3, c4 = st.columns([1, 1, 1, 2])
        cats = c1.multiselect("Category", sorted(df["category"].dropna().unique()), key="rep-cat")
        subs_pool = df[df["category"].isin(cats)] if cats else df
        subs = c2.multiselect("Subcategory", sorted(subs_pool["subcategory"].dropna().unique()), key="rep-sub")
        min_missing = c3.number_input("At least N missing", 0, int(df["n_missing"].max() or 0), 0, key="rep-min")
        query = c4.text_input("Search id or title", key="rep-search")
        view = df
        if cats:
            view = view[view["category"].isin(cats)]
        if subs:
            view = view[view["subcategory"].isin(subs)]
        view = view[view["n_missing"] >= min_missing]
        if query.strip():
            q = query.strip().lower()
            view = view[view["product_id"].str.lower().str.contains(q, regex=False)
                        | view["title"].fillna("").str.lower().str.contains(q, regex=False)]
        s1, s2, s3 = st.columns([1, 1, 1])
        sort_by = s1.selectbox("Sort by", ["n_missing", "completeness", "product_id", "title", "category",
                                           "subcategory", "n_images", "top_missing"], key="rep-sort")
        descending = s2.toggle("Descending", value=True, key="rep-desc")
        worst = s3.toggle("Worst first: lowest completeness", value=False, key="rep-worst",
                          help="The queue to work through: the least complete listings first (then most missing)",
                          disabled="completeness" not in view.columns)
        if worst and "completeness" in view.columns:
            view = view.sort_values(["completeness", "n_missing", "product_id"], ascending=[True, False, True],
                                    na_position="last", kind="stable")
        else:
            view = view.sort_values([sort_by, "product_id"], ascending=[not descending, True], kind="stable")

        cols = ["product_id", "title", "category", "subcategory", "product_type", "completeness", "n_images",
                "n_failed_images", "n_missing", "top_missing", "top_confidence", "missing_poses", "status", "reason",
                "cohort"]
        cols = [c for c in cols if c in view.columns]
        event = st.dataframe(
            view[cols], hide_index=True, height=460, on_select="rerun", selection_mode="single-row", key="rep-table",
            column_config={
                "n_missing": st.column_config.ProgressColumn("missing", format="%d", min_value=0,
                                                             max_value=max(1, int(df["n_missing"].max()))),
                "completeness": st.column_config.ProgressColumn("completeness", format="%.0f", min_value=0,
                                                                max_value=100),
                "n_images": st.column_config.NumberColumn("images"),
                "n_failed_images": st.column_config.NumberColumn("failed"),
                "top_missing": st.column_config.TextColumn("top missing pose", width="medium"),
                "top_confidence": st.column_config.NumberColumn("confidence", format="%.2f"),
                "missing_poses": st.column_config.TextColumn("all missing (rank order, confidence)", width="large"),
                "reason": st.column_config.TextColumn("reason", width="large")})
        st.caption(f"{len(view)} of {len(df)} subject products. Select a row to open it on the Product page.")
        rows = event.selection.rows if event is not None else []
        if rows:
            pid = view.iloc[rows[0]]["product_id"]
            if st.button(f"Open {pid} on the Product page", icon=":material/open_in_new:"):
                open_product(pid, came_from="report")

        d1, d2, _ = st.columns([1, 1, 3])
        exported = for_export(store, view)
        d1.download_button("Download CSV", to_csv(exported), file_name=export_name("report", run.run_id, "csv"),
                           mime="text/csv", on_click="ignore", icon=":material/download:")
        d2.download_button("Download JSON", exported.to_json(orient="records", indent=1),
                           file_name=export_name("report", run.run_id, "json"), mime="application/json",
                           on_click="ignore", icon=":material/download:")
