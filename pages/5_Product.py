"""Product: a catalogue product (or uploaded photos) -> its images' poses and its missing poses."""
from __future__ import annotations

import streamlit as st

from ui import frame, suggestion_view
from ui.common import (
    back_link,
    catalogue_table,
    engine_errors,
    get_suggester,
    images_table,
    products_table,
    require_run,
)
from unpose_core.catalog import uploads
from unpose_core.catalog.selection import select_sets
from unpose_core.config import SuggestConfig
from unpose_core.rank import cohort_name

with frame.page("Product") as page:
    store = page.store
    run = require_run(store)
    back_link()
    products = products_table(store)
    images = images_table(store)

    mode = st.radio("Source", ["Catalogue product", "Upload photos"], horizontal=True, key="product-mode",
                    label_visibility="collapsed")
    with st.expander("Suggestion rule", icon=":material/tune:"):
        d = SuggestConfig()
        cohort_rule = st.toggle("Each cohort's own settings (the defaults, or tuned from reviews: Evaluate page)",
                                value=True, key="rule-cohort")
        r1, r2, r3, r4 = st.columns(4)
        expect = r1.slider("Expected from this × the cohort's typical support", 0.0, 2.0, float(d.expect), 0.05,
                           key="rule-expect", disabled=cohort_rule)
        coverage = r2.slider("Soft coverage: radius percentile (0 = nearest pose only)", 0, 100,
                             int(d.coverage_percentile), 5, key="rule-coverage", disabled=cohort_rule)
        min_conf = r3.slider("Leave out requests below this confidence", 0.0, 1.0, float(d.min_confidence), 0.05,
                             key="rule-confidence", disabled=cohort_rule)
        also_below = r3.slider("Below this confidence a request goes to \"also worth trying\" (0 = none do)",
                               0.0, 1.0, float(d.also_below), 0.05, key="rule-also-below", disabled=cohort_rule)
        by_score = r4.toggle("Also poses the ranker scores above the cohort's baseline", value=d.by_score,
                             key="rule-by-score", disabled=cohort_rule)
        score_ranks = r4.number_input("… among the ranker's first (0 = any rank)", 0, 50, int(d.score_ranks),
                                      key="rule-score-ranks", disabled=cohort_rule or not by_score)
        view_share = r4.slider("View coverage: an image covers poses whose photos show its view this often "
                               "(0 = off)", 0.0, 1.0, float(d.view_share), 0.05, key="rule-view-share",
                               disabled=cohort_rule)
    rule = None if cohort_rule else SuggestConfig(
        expect=float(expect), coverage_percentile=float(coverage), min_confidence=float(min_conf),
        by_score=bool(by_score), view_share=float(view_share), score_ranks=int(score_ranks),
        also_below=float(also_below))

    def go_to(pid: str | None) -> None:
        """Open ``pid`` (a callback: it runs before the widgets, so it may clear the search)."""
        if pid is not None:
            st.session_state["open_product"] = pid
            st.session_state["product-search"] = ""

    if mode == "Catalogue product":
        counts = images.groupby("product_id").size()
        subject = set(select_sets(products, images, run.config.selection).subject_ids)
        c1, c2 = st.columns([1, 2])
        query = c1.text_input("Search by id or title", key="product-search")
        only_subject = c1.toggle("Subject products only", value=True, key="only-subject")
        table = products
        if only_subject:
            table = table[table["product_id"].isin(subject)]
        if query.strip():
            q = query.strip().lower()
            table = table[table["product_id"].str.lower().str.contains(q, regex=False)
                          | table["title"].fillna("").str.lower().str.contains(q, regex=False)]
        ids = table["product_id"].tolist()
        titles = dict(zip(products["product_id"], products["title"].fillna("")))
        wanted = st.session_state.pop("open_product", None)
        if wanted is None and "product-pick" not in st.session_state:
            wanted = st.query_params.get("product")   # a shared link opens on its product
        if wanted and wanted not in ids and wanted in titles:
            ids = [wanted, *ids]
        if not ids:
            c2.warning("No product matches.", icon=":material/search_off:")
            st.stop()
        # the dropdown always shows the product the page is on: a search that drops the picked product
        # picks the first match in the widget itself (not only on the page)
        if wanted in ids:
            st.session_state["product-pick"] = wanted
        elif st.session_state.get("product-pick") not in ids:
            st.session_state["product-pick"] = ids[0]
        pid = c2.selectbox(f"Product ({len(ids)} match)", ids, key="product-pick",
                           format_func=lambda p: f"{p} — {titles.get(p, '')} ({int(counts.get(p, 0))} images)")
        # previous / next through the worst-first queue (lowest completeness first, the Dashboard's)
        queue = []
        with engine_errors("Cannot order the products by completeness"):
            queue = catalogue_table(store, run).worst_first()["product_id"].tolist()
        if queue:
            at = queue.index(pid) if pid in queue else -1
            n1, n2, n3 = st.columns([1, 1, 4], vertical_alignment="center")
            prev_id = queue[at - 1] if at > 0 else None
            next_id = queue[at + 1] if at + 1 < len(queue) else None
            n1.button("Previous", key="product-prev", disabled=prev_id is None, icon=":material/arrow_back:",
                      help=f"{prev_id}: the one before in the queue (less complete)" if prev_id else None,
                      on_click=go_to, args=(prev_id,))
            n2.button("Next", key="product-next", disabled=next_id is None, icon=":material/arrow_forward:",
                      help=f"{next_id}: the one after in the queue (more complete)" if next_id else None,
                      on_click=go_to, args=(next_id,))
            n3.caption(f"{at + 1} of {len(queue)} in the worst-first queue (lowest completeness first)" if at >= 0
                       else f"not in the worst-first queue of {len(queue)} subject products; Next opens its first")
        st.query_params["product"] = pid
        prod = products.set_index("product_id").loc[pid]
        st.subheader(prod["title"] or pid)
        st.caption(f"`{pid}` · {prod['category']} / {prod['subcategory']} / {prod['product_type']} · "
                   f"rating {prod['avg_rating']} ({prod['n_ratings']} ratings)")
        with engine_errors("Cannot suggest poses for this product"):
            sug_obj, lock = get_suggester(store, run)
            with st.spinner("Finding missing poses…"), lock:
                sug = sug_obj.for_product(pid, config=rule)
            suggestion_view.render(store, run, sug, key=f"prod-{pid}")
    else:
        st.caption(f"Up to {uploads.MAX_PRODUCT_IMAGES} photos of one product, {uploads.MAX_IMAGE_BYTES // uploads.MB} "
                   "MB each. Pick the cohort the product belongs to: its missing poses are judged against that "
                   "cohort's top products.")
        files = st.file_uploader("Photos", accept_multiple_files=True, key="product-upload",
                                 max_upload_size=uploads.MAX_IMAGE_BYTES // uploads.MB)
        # one picker: the cohorts the run was trained on (the ranker's tables), most specific first
        tables = run.ranker.tables_
        level_order = {"product_type": 0, "subcategory": 1, "category": 2, "global": 3}
        keys = sorted(tables, key=lambda k: (level_order.get(tables[k]["level"], 9), k))
        level_name = {"product_type": "product type", "subcategory": "subcategory", "category": "category",
                      "global": "all products"}

        def cohort_label(k: str) -> str:
            t = tables[k]
            return f"{cohort_name(k)} ({level_name.get(t['level'], t['level'])}, {t['n_products']} best sellers)"

        cohort = st.selectbox("Judge against the cohort", keys, key="up-cohort", format_func=cohort_label,
                              index=keys.index("*") if "*" in keys else 0,
                              help="The cohorts this run was trained on. A cohort with too few best sellers "
                                   "falls back to the next wider one, and the result says so.")
        signature = (run.run_id, cohort, tuple((f.name, f.size) for f in files or []))
        if st.button("Find missing poses", type="primary", disabled=not files, icon=":material/search:"):
            with engine_errors("Upload rejected"):
                saved = uploads.save_product_images(store.data_dir, [(f.name, f.getvalue()) for f in files],
                                                    by=page.actor)
                st.session_state["upload-rejected"] = saved.rejected
                st.session_state.pop("upload-result", None)
                if saved.paths:
                    sug_obj, lock = get_suggester(store, run)
                    parts = [None, None, None] if cohort == "*" else (cohort.split("|") + [None, None])[:3]
                    with st.spinner("Estimating poses…"), lock:
                        sug = sug_obj.for_images(saved.paths, *parts, config=rule)
                    st.session_state["upload-result"] = (run.run_id, sug, signature)
        for name, reason in st.session_state.get("upload-rejected", []):
            st.error(f"{name}: {reason}", icon=":material/broken_image:")
        if st.session_state.get("upload-rejected") and not st.session_state.get("upload-result"):
            st.info("None of the files was a usable image.", icon=":material/info:")
        result = st.session_state.get("upload-result")
        if result and result[0] == run.run_id:
            sug, asked = result[1], result[2]
            picked = asked[1]
            judged = cohort_name(sug.cohort)
            if sug.cohort != picked:
                st.warning(f"Judged against **{judged}**: the cohort you picked, "
                           f"{cohort_label(picked) if picked in tables else picked}, has too few best sellers "
                           "to judge by, so the next wider cohort was used.", icon=":material/warning:")
            else:
                st.caption(f"Judged against **{judged}**.")
            if asked != signature:
                st.warning("This result is for the photos and cohort you chose before: press “Find missing "
                           "poses” again for the current ones.", icon=":material/history:")
            suggestion_view.render(store, run, sug, key="upload")
