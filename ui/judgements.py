"""A reviewer's verdict on one product's suggestions, saved the moment a box is ticked.

Shown under the missing poses on the Product page (catalogue products only: uploaded photos
have no product to keep a judgement for). Each change appends a full snapshot through
unpose_core.evaluation (nothing is overwritten); the Evaluate page scores runs with them.
"""
from __future__ import annotations

import contextlib
import time

import streamlit as st

from unpose_core.evaluation.judgements import latest_judgement, save_judgement
from unpose_core.runs import Run
from unpose_core.store import Store
from unpose_core.suggestions import Suggestion


@st.cache_data(show_spinner=False, max_entries=8)
def _view_maps(data_dir: str, run_id: str, run_path: str, labels_version: str):
    from ui.common import get_run, get_store
    from unpose_core.evaluation.protocol import run_view_maps

    store = get_store()
    return run_view_maps(store, get_run(store, run_id))


def _labels_version(store: Store) -> str:
    from unpose_core import app_tables as views
    from unpose_core.evaluation.labels import saved_labels_path

    p = saved_labels_path(store)
    return f"{views.catalogue_version(store)}|{p.stat().st_mtime if p else ''}"


def render_judgements(store: Store, run: Run, suggestion: Suggestion) -> None:
    from ui.common import class_label, class_tag, products_table

    pid = suggestion.product_id
    if pid is None:
        return
    suggested = [m.pose_class for m in suggestion.missing]
    base = f"judge|{run.run_id}|{pid}"
    prev = latest_judgement(store, run.run_id, pid)
    if f"{base}|init" not in st.session_state:   # widgets start from the stored judgement
        confirmed = set(prev.confirmed) if prev else set()
        for c in suggested:
            st.session_state[f"{base}|c{c}"] = c in confirmed
        st.session_state[f"{base}|added"] = [c for c in (prev.added if prev else []) if c not in suggested]
        st.session_state[f"{base}|init"] = True

    subcategory = None
    with contextlib.suppress(KeyError):
        subcategory = products_table(store).set_index("product_id")["subcategory"].get(pid)

    def save() -> None:
        from unpose_core.evaluation.protocol import view_of_class

        confirmed = [c for c in suggested if st.session_state.get(f"{base}|c{c}")]
        added = [int(c) for c in st.session_state.get(f"{base}|added", []) if c not in suggested]
        views = {}
        try:
            maps = _view_maps(str(store.data_dir), run.run_id, str(run.path), _labels_version(store))
            for c in [*suggested, *added]:
                v = view_of_class(maps, subcategory, c)
                if v:
                    views[c] = v
        except (ValueError, LookupError, OSError):
            views = {}
        reviewer = (st.session_state.get("reviewer-name") or "").strip() or None
        try:
            j = save_judgement(store, run.run_id, pid, suggested, confirmed, added, views, reviewer)
            st.session_state[f"{base}|saved"] = j.created_at
        except ValueError as exc:
            st.session_state[f"{base}|error"] = str(exc)

    with st.container(border=True):
        st.markdown("##### Review these suggestions")
        st.caption("Tick the suggested poses this listing truly lacks, and add any it lacks that were not "
                   "suggested. Every change is saved at once; the Evaluate page scores runs with it.")
        for m in suggestion.missing:
            tag = class_tag(m.pose_class, run)
            st.checkbox(f"{m.rank}. Centroid {tag}: {m.description} — truly missing",
                        key=f"{base}|c{m.pose_class}", on_change=save)
        options = [c.id for c in run.centroids if c.id not in suggested]
        descs = store.descriptions(run.run_id)   # read once, not once per option
        st.multiselect("Also missing, but not suggested", options, key=f"{base}|added", on_change=save,
                       format_func=lambda c: class_label(c, run, descs),
                       placeholder="Pick poses this listing lacks")
        c1, c2 = st.columns([2, 3])
        c1.text_input("Reviewer (optional)", key="reviewer-name")
        c2.write("")
        if c2.button("Save review" if prev is None else "Save again", key=f"{base}|save",
                     icon=":material/task_alt:",
                     help="Records the boxes as they are, e.g. that none of the suggestions is truly missing"):
            save()
        err = st.session_state.pop(f"{base}|error", None)
        if err:
            st.error(f"Not saved: {err}", icon=":material/error:")
        cur = latest_judgement(store, run.run_id, pid)
        if cur is None:
            st.caption("Not reviewed yet.")
        else:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(cur.created_at))
            by = f" by {cur.reviewer}" if cur.reviewer else ""
            st.caption(f"Saved {when}{by}: {len(cur.confirmed)} of {len(cur.suggested)} suggestions confirmed, "
                       f"{len(cur.rejected)} rejected, {len(cur.added)} added.")
