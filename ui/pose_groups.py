"""The Clusters page's pose-group panel: the groups, the analyst's marks (merge, split,
exclude, desirable), the engine's merge proposals to accept or reject, and marks carried from
an earlier run that found no centroid here (place or dismiss). The rules live in
unpose_core.groups; this file lays out widgets and calls it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from ui import access
from ui.common import cached_run, class_tag, engine_errors, run_path, store_at
from ui.history_view import groups_history
from unpose_core import api
from unpose_core import groups as grp
from unpose_core.descriptions import dismiss_unplaced, place_unplaced
from unpose_core.outputs import hints as hnt
from unpose_core.runs import Run
from unpose_core.store import Store


@st.cache_resource(show_spinner=False, max_entries=2)
def _member_space(data_dir: str, run_id: str, run_path_: str) -> dict[int, np.ndarray]:
    return grp.member_space(store_at(data_dir), cached_run(data_dir, run_id, run_path_))


def _label(run: Run, descs: dict[int, str], c: int) -> str:
    return f"{class_tag(c, run)} · {descs.get(c, '')}"


def render(store: Store, run: Run, descs: dict[int, str]) -> None:
    """Draw the panel for ``run``; ``descs``: class -> what it is called."""
    rid = run.run_id
    st.subheader("Pose groups")
    st.caption("A seller is asked for a pose *group*: centroids with the same description, a pose and its "
               "mirror image, and what you merge here count as one pose. Excluded centroids are never asked "
               "for; desirable poses are asked for first. Your marks follow the run to retrained runs.")
    groups = grp.pose_groups(store, run)
    rows = grp.group_rows(store, run, groups)
    st.dataframe(pd.DataFrame([{
        "group": r["group"], "pose": r["label"],
        "centroids": ", ".join(class_tag(c, run) for c in r["members"]),
        "images": r["size"], "desirable": r["desirable"], "excluded": r["excluded"],
        "marks": "; ".join(r["marks"])} for r in rows]), hide_index=True, key=f"groups-table-{rid}")

    classes = list(range(run.n_classes))
    poses = [c for c in classes if run.is_pose(c)]
    fmt = lambda c: _label(run, descs, c)
    left, right = st.columns(2)
    with left, st.container(border=True):
        st.markdown("**Merge or split**")
        picked = st.multiselect("Centroids that are one pose", poses, key=f"groups-merge-{rid}", format_func=fmt)
        if st.button("Merge into one pose", key=f"groups-merge-btn-{rid}", disabled=len(picked) < 2):
            with engine_errors("Cannot merge"):
                grp.merge(store, run, picked, access.current())
                st.rerun()
        one = st.selectbox("Centroid to split off", poses, key=f"groups-split-{rid}", format_func=fmt)
        if st.button("Split off: a pose of its own", key=f"groups-split-btn-{rid}"):
            with engine_errors("Cannot split"):
                grp.split(store, run, one, access.current())
                st.rerun()
    with right, st.container(border=True):
        st.markdown("**Exclude or mark desirable**")
        c = st.selectbox("Centroid to exclude or mark desirable", classes, key=f"groups-mark-{rid}", format_func=fmt)
        g = groups.get(groups.group_of(c))
        note = st.text_input("Why (for exclusions)", key=f"groups-note-{rid}", placeholder="junk / not wanted")
        b1, b2 = st.columns(2)
        if b1.button("Ask for it again" if g.excluded else "Exclude", key=f"groups-exclude-btn-{rid}"):
            with engine_errors("Cannot save"):
                grp.exclude(store, run, c, note or None, access.current(), undo=g.excluded)
                st.rerun()
        if b2.button("Not desirable" if g.desirable else "Desirable", key=f"groups-desirable-btn-{rid}"):
            with engine_errors("Cannot save"):
                grp.mark_desirable(store, run, c, access.current(), undo=g.desirable)
                st.rerun()

    # -- the engine's proposals ------------------------------------------------------------------
    sep = st.number_input("Propose two centroids as one pose when their centres are closer than this many "
                          "times their members' spread along the line between them",
                          min_value=0.0, max_value=20.0, step=0.1, value=float(grp.merge_separation(store)),
                          key=f"groups-separation-{rid}",
                          help="K-Means cutting one blob of similar poses in two gives about 1.9; the default 2.0 "
                               "proposes such cuts. Saved for this data dir.")
    if sep != grp.merge_separation(store):
        with engine_errors("Cannot save the setting"):
            api.set_merge_separation(store, sep, by=access.current())
    marks = store.group_marks(rid)
    props = grp.merge_proposals(run, groups, marks, sep, _member_space(str(store.data_dir), rid, run_path(store, rid)))
    if grp.members_sampled(run):
        st.caption(f"Separations are measured on up to {grp.MEMBERS_MAX:,} reference images per centroid (a seeded "
                   "sample of the larger centroids).")
    if not props:
        st.caption("No merge proposals: no two centroids of different groups are that close.")
    for p in props:
        c1, c2, c3 = st.columns([5, 1, 1])
        why = (f"separation {p.separation:.2f}" if p.reason == "close" else "mirror partners")
        c1.markdown(f"Proposed: **{fmt(p.a)}** + **{fmt(p.b)}** are one pose ({why})")
        if c2.button("Accept", key=f"prop-accept-{rid}-{p.a}-{p.b}"):
            with engine_errors("Cannot merge"):
                grp.accept_proposal(store, run, p.a, p.b, access.current())
                st.rerun()
        if c3.button("Reject", key=f"prop-reject-{rid}-{p.a}-{p.b}"):
            with engine_errors("Cannot save"):
                grp.reject_proposal(store, run, p.a, p.b, access.current())
                st.rerun()

    groups_history(store, run)
    hints_panel(store, run)

    # -- marks waiting for a centroid ------------------------------------------------------------
    waiting = [u for u in store.unplaced(rid) if not u.is_description]
    if waiting:
        with st.container(border=True):
            st.markdown(f":orange[**Marks to place**] — {len(waiting)} marks from an earlier run found no "
                        "matching centroid here. They go on to later runs until you place or dismiss them.")
            for u in waiting:
                free = sum(a.centroid is None for a in u.anchors)
                c1, c2, c3, c4 = st.columns([4, 3, 1, 1])
                c1.markdown(f"{u.what()} (from `{u.source}`)")
                target = c2.multiselect(f"{free} centroid(s)", poses if u.kind in ("merge", "reject") else classes,
                                        key=f"mark-place-{u.id}", format_func=fmt, max_selections=free,
                                        label_visibility="collapsed")
                if c3.button("Place", key=f"mark-place-btn-{u.id}", disabled=len(target) != free):
                    with engine_errors("Cannot place"):
                        place_unplaced(store, run, u.id, target, access.current())
                        st.rerun()
                if c4.button("Dismiss", key=f"mark-dismiss-btn-{u.id}"):
                    with engine_errors("Cannot dismiss"):
                        dismiss_unplaced(store, run, u.id, access.current())
                        st.rerun()


def hints_panel(store: Store, run: Run) -> None:
    """The hint a seller sees per pose group: generated by default, or the analyst's own words.
    Stored under the group's description, so a hint follows its group to retrained runs."""
    rid = run.run_id
    rows = [h for h in hnt.group_hints(store, run) if not h.excluded]
    with st.container(border=True):
        st.markdown("**Seller hints**")
        st.caption("What a seller reads under each missing pose (and on the seller sheet). Write your own or keep "
                   "the generated one; a hint is kept with the pose's description, so it follows the pose to "
                   "retrained runs. Every change is kept in the history.")
        st.dataframe(pd.DataFrame([{"pose": h.label, "hint": h.hint, "edited": h.edited is not None} for h in rows]),
                     hide_index=True, key=f"hints-table-{rid}")
        if not rows:
            return
        labels = {h.key: h for h in rows}
        key = st.selectbox("Pose", list(labels), key=f"hints-pick-{rid}", format_func=lambda k: labels[k].label)
        h = labels[key]
        text = st.text_area("Hint", value=h.hint, key=f"hints-text-{rid}-{key}", height=80,
                            help=f"Generated: {h.generated}")
        b1, b2 = st.columns(2)
        if b1.button("Save hint", key=f"hints-save-{rid}", disabled=not text.strip() or text.strip() == h.hint):
            with engine_errors("Cannot save the hint"):
                hnt.set_group_hint(store, h.label, text, access.current())
                st.rerun()
        if b2.button("Use the generated hint", key=f"hints-reset-{rid}", disabled=h.edited is None):
            with engine_errors("Cannot reset the hint"):
                hnt.set_group_hint(store, h.label, "", access.current())
                st.session_state.pop(f"hints-text-{rid}-{key}", None)
                st.rerun()
