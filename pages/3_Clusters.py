"""Clusters: the UMAP map of reference poses, lasso-to-images, centroid descriptions and ranks."""
from __future__ import annotations

import re

import streamlit as st

from ui import access, frame
from ui.clusters import (
    HOVER_IDS_MAX,
    colour,
    map_figure,
    map_view,
    selected,
    selection_frame,
    selection_hashes,
    selection_panel,
)
from ui.common import (
    ENGINE_ERRORS,
    class_tag,
    descriptions_map,
    engine_errors,
    error_message,
    relabel,
    require_run,
)
from ui.grid import Tile, image_grid
from ui.history_view import by_line, description_history
from ui.pose_groups import centroid_pickers as pose_group_pickers
from ui.pose_groups import render as pose_groups_panel
from ui.view_labels import label_selection
from unpose_core import app_tables as views
from unpose_core import groups as grp
from unpose_core import lineage, projection
from unpose_core.descriptions import dismiss_unplaced, mark_reviewed, place_unplaced, remove_description
from unpose_core.records import DescriptionStatus, UnplacedState

with frame.page("Clusters") as page:
    store = page.store
    run = require_run(store)
    backend = views.pose_backend_of(store, run)
    descs = descriptions_map(store, run)
    human = store.descriptions(run.run_id)
    # the centroid dropdowns list each centroid by its description: shown afresh when one changes
    relabel([f"centroid-{run.run_id}", *pose_group_pickers(run),
             *[k for k in st.session_state if re.fullmatch(r"place-\d+", str(k))]],
            tuple(sorted(descs.items())), f"clusters-{run.run_id}")

    # -- the map -------------------------------------------------------------------------------
    try:
        msg = ("Finishing the 2-D map of this run, started in the background (once; it is stored with the run)…"
               if projection.is_computing(run) else
               "Computing the 2-D map of this run (once; it is stored with the run)…")
        with st.spinner(msg):
            view = map_view(store, run)
    except ENGINE_ERRORS as exc:
        st.error(f"Cannot draw the map of run {run.run_id}: {error_message(exc)}", icon=":material/error:")
        view = None

    if view is not None:
        pts = view.pts
        hover = ("hover a dot for its product and centroid" if view.n_drawn <= HOVER_IDS_MAX else
                 "hover a dot for its centroid")
        dots = ("one dot each" if not view.sampled else
                f"{view.n_drawn:,} of them drawn (a random sample of each centroid, so the browser stays quick; "
                f"a lasso or box takes every image inside it, drawn or not, of the centroids with a dot in it)")
        st.caption(f"Run `{run.run_id}` · {len(pts):,} reference images with a person, {dots}, coloured by "
                   f"centroid (UMAP of the space K-Means clustered). Click a dot, or pick the lasso or box in the "
                   f"chart's toolbar and circle some, to see their images and products (after a lasso or box, pick "
                   f"Pan in the toolbar again to click single dots); {hover}; click legend entries to hide "
                   f"centroids. "
                   f"{sum(run.centroids[c].size for c in run.non_human_classes)} reference images without a "
                   f"person are not on the map (classes ∅ below, one per image kind).")
        n_fit, n_map = pts.meta.get("fit_sample"), pts.meta.get("n_points", len(pts))
        if n_fit is not None and n_fit < n_map:   # projection.FIT_MAX: large runs fit UMAP on a sample
            st.info(f"The map was fitted on a sample of {n_fit:,} of {n_map:,} points; the other "
                    f"{n_map - n_fit:,} were placed next to their nearest sampled neighbours. "
                    + ("Every point is drawn." if not view.sampled else "Every point is on the map."),
                    icon=":material/scatter_plot:")

        @st.fragment
        def the_map() -> None:
            """The map and its selection: a click, lasso or box (or a page of the selection) reruns
            this part only, not the centroid tables and panels below it."""
            event = st.plotly_chart(map_figure(store, run, descs), on_select="rerun",
                                    selection_mode=("points", "box", "lasso"), key=f"umap-{run.run_id}",
                                    config={"displaylogo": False, "scrollZoom": True})
            with engine_errors("Cannot show the selection"):
                rows = selected(event, view)
                if len(rows):
                    sel = selection_frame(run, pts, rows)
                    selection_panel(store, run, sel, descs, backend, key=f"sel-{run.run_id}")
                    label_selection(store, selection_hashes(store, run, rows), f"sel-{run.run_id}", distinct=True)
                else:
                    st.caption("Nothing selected yet.")

        the_map()

    # -- centroids -----------------------------------------------------------------------------
    st.subheader("Centroids")
    table = views.centroid_table(store, run)
    ranks = views.rank_matrix(run, "subcategory", store)
    overview = table.assign(
        label=lambda d: [class_tag(c, run) for c in d["centroid"]],
    ).set_index("centroid").join(ranks.add_prefix("rank · "))
    st.dataframe(
        overview[["label", "images", "products", "shown", "status", *[c for c in overview if c.startswith("rank · ")]]],
        hide_index=True, column_config={"shown": st.column_config.TextColumn("description", width="large"),
                                        "label": st.column_config.TextColumn("centroid")})
    st.caption("Descriptions in brackets are automatic; write your own below (like the paper's Table 2). "
               "Rank = the pose's place in that cohort's ranking (1 = goes with the most popular listings).")

    review = table[table["status"] == DescriptionStatus.NEEDS_REVIEW]
    unplaced = views.unplaced_descriptions(store, run.run_id)
    open_unplaced = unplaced[unplaced["state"] == UnplacedState.OPEN]
    if len(review) or len(open_unplaced):
        with st.container(border=True):
            st.markdown(f":orange[**Needs review**] — descriptions carried over from an earlier run that did not "
                        f"match a centroid closely ({len(review)} placed on their nearest centroid, "
                        f"{len(open_unplaced)} without a centroid, carried to later runs until you place or "
                        f"dismiss them). Nothing is dropped.")
            for r in review.itertuples():
                st.markdown(f"- centroid **{r.centroid}**: “{r.description}” (from `{r.source}`)")
            for r in open_unplaced.itertuples():
                c1, c2, c3, c4 = st.columns([4, 2, 1, 1])
                c1.markdown(f"“{r.text}” (from `{r.source}`)")
                target = c2.selectbox("Place on centroid", list(range(run.n_classes)), key=f"place-{r.id}",
                                      format_func=lambda c: f"{c} · {descs[c]}", label_visibility="collapsed")
                if c3.button("Place", key=f"place-btn-{r.id}"):
                    with engine_errors("Cannot save"):
                        place_unplaced(store, run, int(r.id), [int(target)], access.current())
                        st.rerun()
                if c4.button("Dismiss", key=f"dismiss-btn-{r.id}"):
                    with engine_errors("Cannot dismiss"):
                        dismiss_unplaced(store, run, int(r.id), access.current())
                        st.rerun()

    options = list(range(run.n_classes))
    pick_key = f"centroid-{run.run_id}"

    def step(by: int) -> None:
        """Previous / next centroid (a callback: it runs before the dropdown is drawn)."""
        now = st.session_state.get(pick_key, options[0])
        st.session_state[pick_key] = options[(options.index(now) + by) % len(options)]

    p1, p2, p3 = st.columns([6, 1, 1], vertical_alignment="bottom")
    c = p1.selectbox("Centroid to describe", options, key=pick_key,
                     format_func=lambda c: f"{class_tag(c, run)} · {descs[c]} "
                                           f"({run.centroids[c].size} images)")
    p2.button("Previous", key=f"centroid-prev-{run.run_id}", on_click=step, args=(-1,),
              icon=":material/arrow_back:", width="stretch")
    p3.button("Next", key=f"centroid-next-{run.run_id}", on_click=step, args=(1,),
              icon=":material/arrow_forward:", width="stretch")
    info = run.centroids[c]
    d = human.get(c)

    def save_description(cls: int, key: str) -> None:
        """The form's Save (or Enter in its field): an empty field is not a removal (Revert is)."""
        text = st.session_state.get(key, "").strip()
        current = store.descriptions(run.run_id).get(cls)
        if not text:
            st.session_state["_desc_note"] = (cls, "empty")
            return
        if current and current.text == text and current.status == DescriptionStatus.OK:
            return
        also = grp.also_named(store, run, cls, text)
        # bound to the run drawn: carried into the active run if a retrain replaced it meanwhile
        try:
            lineage.describe(store, run.run_id, cls, text, DescriptionStatus.OK, access.current())
        except ENGINE_ERRORS as exc:   # e.g. a viewer's role (identity.Forbidden): nothing was saved
            st.session_state["_desc_note"] = (cls, "refused", error_message(exc))
            return
        st.session_state["_desc_note"] = (cls, "saved", also)

    def remove(cls: int, key: str) -> None:
        with engine_errors("Cannot remove the description"):
            remove_description(store, run, cls, access.current())
        st.session_state[key] = ""               # the field shows the automatic placeholder again (assigned:
        #                                           a dropped key would leave the old text in the browser)
        st.session_state["_desc_note"] = (cls, "removed")

    with st.container(border=True):
        left, right = st.columns([2, 3])
        with left:
            st.markdown(f"#### <span style='color:{colour(c)}'>●</span> Centroid "
                        f"{run.class_tag(c)}", unsafe_allow_html=True)
            m1, m2 = st.columns(2)
            m1.metric("Images", info.size)
            m2.metric("Products", info.n_products)
            key = f"desc-{run.run_id}-{c}"
            with st.form(f"desc-form-{run.run_id}-{c}", border=False, enter_to_submit=True):
                st.text_input("Human description (saved with Enter or Save)", value=d.text if d else "",
                              key=key, placeholder=info.auto_description)
                b1, b2 = st.columns(2)
                b1.form_submit_button("Save", key=f"desc-save-{run.run_id}-{c}", on_click=save_description,
                                      args=(c, key), icon=":material/save:")
                if d is not None and b2.form_submit_button(
                        "Revert to automatic", key=f"desc-revert-{run.run_id}-{c}", icon=":material/undo:",
                        help="Remove your description: the centroid is called by its automatic one again"):
                    st.session_state["_desc_confirm"] = c
            if d is not None and st.session_state.get("_desc_confirm") == c:
                st.warning(f"Remove “{d.text}” from centroid {c}? It is called “{info.auto_description}” again "
                           "(the text stays in the history).", icon=":material/undo:")
                y, n = st.columns(2)
                if y.button("Yes, remove it", key=f"desc-remove-{run.run_id}-{c}", type="primary",
                            on_click=remove, args=(c, key)):
                    st.session_state.pop("_desc_confirm", None)
                    st.rerun()
                if n.button("Keep it", key=f"desc-keep-{run.run_id}-{c}"):
                    st.session_state.pop("_desc_confirm", None)
                    st.rerun()
            note = st.session_state.pop("_desc_note", None)
            if note and note[0] == c:
                if note[1] == "saved":
                    st.toast(f"Saved: centroid {c} = “{st.session_state.get(key, '')}”"
                             + (f"; it names centroid(s) {', '.join(map(str, note[2]))} too" if note[2] else ""),
                             icon=":material/check:")
                elif note[1] == "refused":
                    st.error(f"Not saved: {note[2]}", icon=":material/block:")
                elif note[1] == "removed":
                    st.toast(f"Removed: centroid {c} is called by its automatic description again",
                             icon=":material/undo:")
                else:
                    st.info("The field is empty: nothing was saved. To remove the description, use "
                            "“Revert to automatic”.", icon=":material/info:")
            st.caption(f"Automatic: {info.auto_description}")
            also = grp.also_named(store, run, c, d.text) if d else []
            if also:
                st.warning(f"“{d.text}” names centroid(s) {', '.join(class_tag(o, run) for o in also)} too: they "
                           "are one pose group with this one (same description, mirror pair or merge). Give them "
                           "their own descriptions, or split one off below, to keep them apart.",
                           icon=":material/group_work:")
            shows = views.centroid_views(run, c)
            if shows:
                st.caption(f"Shows: {shows}")
            if d and d.status == DescriptionStatus.NEEDS_REVIEW:
                st.warning(f"Carried over from `{d.source}` but it did not match closely: check it.",
                           icon=":material/rate_review:")
                if st.button("Looks right: mark reviewed", key=f"ok-{run.run_id}-{c}"):
                    with engine_errors("Cannot save"):
                        mark_reviewed(store, run, c, access.current())
                        st.rerun()
            elif d:
                st.caption(f"Written {by_line(d.source, d.updated_at)}.")
            description_history(store, run, c)
        with right:
            cr = views.cohort_ranks(run, store)
            cr = cr[(cr["pose_class"] == c) & (cr["level"] != "category")]
            st.markdown("**Rank per cohort**")
            st.dataframe(cr[["cohort", "level", "n_products", "rank", "support", "expected"]], hide_index=True,
                         height=210, column_config={
                             "support": st.column_config.ProgressColumn("share of top products", format="percent",
                                                                        min_value=0, max_value=1),
                             "n_products": st.column_config.NumberColumn("products")})
        sample = views.most_typical(run, c, 12)
        paths = views.paths_for_hashes(store, sample["content_hash"])
        st.markdown("**Most typical images** (closest to the centroid, one per product first)")
        image_grid(store, [Tile(paths.get(r.content_hash), r.content_hash, r.product_id)
                           for r in sample.itertuples()], backend, run, columns=6, limit=12)
        label_selection(store, run.reference.loc[run.reference["pose_class"] == c, "content_hash"], f"cen-{c}")

    # -- pose groups: the analyst's merges, splits, exclusions, desirable poses, proposals -----------
    pose_groups_panel(store, run, descs)
