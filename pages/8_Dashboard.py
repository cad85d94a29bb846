"""Dashboard: the catalogue at a glance -- completeness by cohort, the poses missing most often,
the products that would gain most from the photos asked for; each chart opens the Product page
on a click, and every number behind it downloads."""
from __future__ import annotations

import json

import pandas as pd
import plotly.express as px
import streamlit as st

from ui import frame
from ui.common import catalogue_table, engine_errors, export_name, for_export, require_run
from ui.common import open_product as common_open_product
from unpose_core.exports import to_csv
from unpose_core.outputs.sheet import sheets_zip

TOP = 15   # products in the "would gain most" chart


# what the charts' hovers call each column (never a raw field name)
LABELS = {"completeness": "completeness (0-100)", "cohort": "cohort", "product_id": "product", "title": "title",
          "n_missing": "photos asked for", "n_products": "products asked for it", "pose": "pose",
          "n_first": "products asked for it first", "mean_confidence": "mean confidence (0-1)",
          "points": "completeness points it would add",
          "gain_requested": "completeness points the photos asked for add",
          "gain_next": "points the first photo asked for adds", "top_missing": "first photo asked for"}


def open_product(pid: str) -> None:
    """The Product page on ``pid``, with a Back link to the Dashboard."""
    common_open_product(pid, came_from="dashboard")


def clicked(event, field: str = "customdata") -> str | None:
    """The first clicked point's ``customdata[0]`` (a product id) or its ``y`` (a bar's label)."""
    points = (event or {}).get("selection", {}).get("points", []) if isinstance(event, dict) else \
        getattr(getattr(event, "selection", None), "points", []) or []
    for p in points:
        value = p.get(field)
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        if value is not None:
            return str(value)
    return None


def downloads(df: pd.DataFrame, name: str, key: str) -> None:
    """CSV and JSON of a chart's numbers, named alike (ui.common.export_name), paths catalogue-relative."""
    df = for_export(store, df)
    c1, c2, _ = st.columns([1, 1, 4])
    c1.download_button("CSV", to_csv(df), file_name=export_name(name, run.run_id, "csv"), mime="text/csv",
                       key=f"{key}-csv", on_click="ignore", icon=":material/download:")
    c2.download_button("JSON", df.to_json(orient="records", indent=1), file_name=export_name(name, run.run_id, "json"),
                       mime="application/json", key=f"{key}-json", on_click="ignore", icon=":material/download:")


with frame.page("Dashboard") as page:
    store = page.store
    run = require_run(store)
    with engine_errors("Cannot build the dashboard"):
        with st.spinner("Scoring every subject product…"):
            cat = catalogue_table(store, run)
        products = cat.products
        if products.empty:
            st.info("No subject products (products with fewer than "
                    f"{run.config.selection.subject_max_images} images) in this catalogue.")
            st.stop()
        scored = products[products["completeness"].notna()]
        m = st.columns(4)
        m[0].metric("Subject products", len(products))
        m[1].metric("Mean completeness", f"{scored['completeness'].mean():.0f}" if len(scored) else "—",
                    help="0-100: the poses a product's cohort expects that its usable photos show, the first ones "
                         "counting most (1 / log2(rank + 1)); a copy of another photo adds nothing")
        m[2].metric("Below 50", int((scored["completeness"] < 50).sum()))
        m[3].metric("Photos asked for", int(products["n_missing"].sum()))
        st.caption("Completeness, 0-100: the share of the poses a product's cohort expects that its usable photos "
                   "show, the first ones counting most. 100 = nothing missing; under 50 = it lacks more than half "
                   "of what its cohort's best sellers show. A cohort is the product's product type, else its "
                   "subcategory, else its category, else all products: the narrowest with enough best sellers "
                   "to learn from.")

        # -- 1. completeness by cohort --------------------------------------------------------------
        st.subheader("Completeness by cohort")
        by_cohort = cat.by_cohort()
        order = list(by_cohort["cohort"])
        st.caption("One dot per product, the bar is the cohort's mean. Click a dot to open that product.")
        fig = px.strip(scored, x="completeness", y="cohort", custom_data=["product_id"],
                       hover_data={"product_id": True, "title": True, "n_missing": True, "cohort": False},
                       category_orders={"cohort": order}, range_x=[-2, 102], labels=LABELS,
                       title="Completeness of each subject product, by cohort")
        fig.add_scatter(x=by_cohort["mean"], y=by_cohort["cohort"], mode="markers", name="cohort mean",
                        marker={"symbol": "line-ns-open", "size": 22, "line": {"width": 3}}, hoverinfo="x+name")
        fig.update_layout(height=140 + 42 * max(len(order), 1), margin={"l": 10, "r": 10, "t": 40, "b": 10},
                          showlegend=False, xaxis_title="completeness (0-100)", yaxis_title=None)
        event = st.plotly_chart(fig, on_select="rerun", selection_mode="points", key="dash-cohort")
        if (pid := clicked(event)) is not None:
            open_product(pid)
        downloads(by_cohort, "completeness-by-cohort", "dash-cohort-dl")

        # -- 2. the poses missing most often ------------------------------------------------------------
        st.subheader("Most-missing poses")
        top_poses = cat.most_missing()
        if top_poses.empty:
            st.info("No product is asked for a photo.", icon=":material/check_circle:")
        else:
            st.caption("How many products are asked for each pose (darker = surer). Click a bar to list the "
                       "products asked for that pose in the next chart.")
            fig = px.bar(top_poses.iloc[::-1], x="n_products", y="pose", orientation="h", custom_data=["pose"],
                         hover_data=["n_first", "mean_confidence", "points"], color="mean_confidence",
                         color_continuous_scale="Blues", range_color=[0, 1], labels=LABELS,
                         title="The poses asked for most often")
            fig.update_layout(height=140 + 34 * len(top_poses), margin={"l": 10, "r": 10, "t": 40, "b": 10},
                              xaxis_title="products asked for it", yaxis_title=None,
                              coloraxis_colorbar_title_text="confidence")
            event = st.plotly_chart(fig, on_select="rerun", selection_mode="points", key="dash-poses")
            pose = clicked(event)
            if pose is not None and pose != st.session_state.get("dash-pose-clicked"):   # a new click only
                st.session_state["dash-pose"] = st.session_state["dash-pose-clicked"] = pose
            downloads(top_poses, "most-missing-poses", "dash-poses-dl")

        # -- 3. the products that would gain most -------------------------------------------------------
        st.subheader("Products that would gain most")
        poses = ["(all poses)", *top_poses["pose"]]
        if st.session_state.get("dash-pose") not in poses:
            st.session_state.pop("dash-pose", None)
        pose = st.selectbox("Asked for", poses, key="dash-pose",
                            help="Click a bar above to pick a pose: the products asked for it")
        gains = cat.gains(None if pose == "(all poses)" else pose)
        if gains.empty:
            st.info("No product would gain from a photo asked for.", icon=":material/check_circle:")
        else:
            shown = gains.head(TOP)
            st.caption("The products whose completeness would rise most with the photos asked for. Click a bar "
                       "to open that product.")
            fig = px.bar(shown.iloc[::-1], x="gain_requested", y="product_id", orientation="h",
                         custom_data=["product_id"], hover_data=["title", "completeness", "gain_next", "top_missing"],
                         labels=LABELS, title=f"The {len(shown)} products that would gain most")
            fig.update_layout(height=140 + 30 * len(shown), margin={"l": 10, "r": 10, "t": 40, "b": 10},
                              yaxis_title=None)
            event = st.plotly_chart(fig, on_select="rerun", selection_mode="points", key="dash-gains")
            if (pid := clicked(event)) is not None:
                open_product(pid)
            downloads(gains, "products-to-gain", "dash-gains-dl")

        # -- the whole queue, and a keyboard way to open a product ----------------------------------
        with st.expander("Every product, worst first", icon=":material/table_view:"):
            worst = cat.worst_first()
            st.dataframe(worst, hide_index=True, key="dash-worst", column_config={
                "completeness": st.column_config.ProgressColumn("completeness", format="%.0f", min_value=0,
                                                                max_value=100)})
            downloads(worst, "completeness", "dash-worst-dl")
            c1, c2 = st.columns([3, 1])
            pick = c1.selectbox("Open on the Product page", list(worst["product_id"]), key="dash-open-pick")
            if c2.button("Open", key="dash-open", icon=":material/open_in_new:"):
                open_product(pick)
            st.download_button("All numbers (JSON)", json.dumps(
                {"run_id": cat.run_id, "products": worst.to_dict("records"), "by_cohort": by_cohort.to_dict("records"),
                 "most_missing": top_poses.to_dict("records"),
                 "missing": for_export(store, cat.missing).to_dict("records")},
                indent=1, default=str), file_name=export_name("dashboard", run.run_id, "json"), mime="application/json",
                key="dash-all-json", on_click="ignore", icon=":material/download:")
            st.download_button("Seller sheets of every subject product (zip)",
                               lambda: sheets_zip(store, run, list(worst["product_id"])).data,
                               file_name=export_name("seller-sheets", run.run_id, "zip"), mime="application/zip",
                               key="dash-sheets", on_click="ignore", icon=":material/folder_zip:")
