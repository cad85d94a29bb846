"""The Clusters page's pose-group panel: the groups, the analyst's marks (merge, split,
exclude, desirable), the engine's merge proposals to accept or reject, and marks carried from
an earlier run that found no centroid here (place or dismiss). The rules live in
unpose_core.groups; this file lays out widgets and calls it."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import streamlit as st

from ui import access
from ui.common import cached_run, class_tag, engine_errors, run_path, store_at
from ui.history_view import groups_history
from unpose_core import api
from unpose_core import app_tables as views
from unpose_core import changes as chg
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


def _done(message: str, icon: str = ":material/check:", clear: tuple[str, ...] = ()) -> None:
    """After a change: a toast on the next run, and the form's fields emptied (in a callback, before
    the widgets are drawn again). Emptied by assigning the empty value: a key only dropped from the
    session state empties it on the server while the browser's widget keeps showing the old value."""
    st.session_state["_groups_toast"] = (message, icon)
    for k in clear:
        st.session_state[k] = [] if isinstance(st.session_state.get(k), list) else ""


def thumbnails(store: Store, run: Run, group: grp.PoseGroup, descs: dict[int, str]) -> None:
    """One image per member centroid (its most typical reference image), captioned with what it is called."""
    cols = st.columns(max(len(group.members), 1) if len(group.members) <= 6 else 6)
    for i, c in enumerate(group.members):
        row = views.most_typical(run, c, 1)
        path = views.paths_for_hashes(store, row["content_hash"]).get(row["content_hash"].iloc[0]) \
            if len(row) else None
        with cols[i % len(cols)]:
            if path:
                st.image(path, caption=_label(run, descs, c), width="stretch")
            else:
                st.caption(f"{_label(run, descs, c)} (no image)")


def centroid_pickers(run: Run) -> list[str]:
    """Keys of the panel's dropdowns listing centroids by what they are called (ui.common.relabel)."""
    rid = run.run_id
    return [f"groups-merge-{rid}", f"groups-split-{rid}", f"groups-mark-{rid}",
            *[k for k in st.session_state if re.fullmatch(r"mark-place-\d+", str(k))]]


def render(store: Store, run: Run, descs: dict[int, str]) -> None:
    """Draw the panel for ``run``; ``descs``: class -> what it is called."""
    rid = run.run_id
    toast = st.session_state.pop("_groups_toast", None)
    if toast:
        st.toast(toast[0], icon=toast[1])
    st.subheader("Pose groups")
    st.caption("A seller is asked for a pose *group*: centroids with the same description, a pose and its "
               "mirror image, and what you merge here count as one pose. Excluded centroids are never asked "
               "for; desirable poses are asked for first. Your marks follow the run to retrained runs.")
    groups = grp.pose_groups(store, run)
    rows = grp.group_rows(store, run, groups)
    st.dataframe(pd.DataFrame([{
        "group": r["group"], "pose": r["label"],
        "why one pose": "; ".join(r["reasons"]) or ("one centroid" if len(r["members"]) == 1 else ""),
        "centroids": ", ".join(class_tag(c, run) for c in r["members"]),
        "images": r["size"], "desirable": r["desirable"], "excluded": r["excluded"],
        "marks": "; ".join(r["marks"])} for r in rows]), hide_index=True, key=f"groups-table-{rid}")
    multi = [g for g in groups.groups if len(g.members) > 1]
    if multi:
        with st.expander(f"Groups of several centroids ({len(multi)}): why, and one image per member"):
            for g in multi:
                st.markdown(f"**{g.label}** — " + "; ".join(g.reasons))
                thumbnails(store, run, g, descs)

    classes = list(range(run.n_classes))
    poses = [c for c in classes if run.is_pose(c)]
    fmt = lambda c: _label(run, descs, c)
    merge_key, name_key, note_key = f"groups-merge-{rid}", f"groups-merge-name-{rid}", f"groups-note-{rid}"

    def do_merge() -> None:
        picked, name = st.session_state.get(merge_key, []), st.session_state.get(name_key, "").strip()
        with engine_errors("Cannot merge"):
            g = grp.merge(store, run, picked, access.current(), name)
            _done(f"Merged {len(picked)} centroids into “{g.get(g.group_of(picked[0])).label}”",
                  clear=(merge_key, name_key))

    def do_split(c: int) -> None:
        with engine_errors("Cannot split"):
            grp.split(store, run, c, access.current())
            _done(f"Split off: “{fmt(c)}” is a pose of its own")

    def do_exclude(c: int, undo: bool) -> None:
        note = st.session_state.get(note_key, "").strip()
        with engine_errors("Cannot save"):
            grp.exclude(store, run, c, note or None, access.current(), undo=undo)
            _done(f"“{fmt(c)}” is asked for again" if undo else
                  f"Excluded “{fmt(c)}”" + (f" ({note})" if note else ""), clear=(note_key,))

    def do_desirable(c: int, undo: bool) -> None:
        with engine_errors("Cannot save"):
            grp.mark_desirable(store, run, c, access.current(), undo=undo)
            _done(f"“{fmt(c)}” is " + ("no longer marked desirable" if undo else "marked desirable"))

    def do_undo(what: str) -> None:
        with engine_errors("Cannot undo"):
            chg.undo_last(store, run, access.current())
            _done(f"Undone: {what}", icon=":material/undo:")

    left, right = st.columns(2)
    with left, st.container(border=True):
        st.markdown("**Merge or split**")
        picked = st.multiselect("Centroids that are one pose", poses, key=merge_key, format_func=fmt)
        name = st.text_input("Name of the merged pose", key=name_key, placeholder="e.g. Full body, front",
                             help="What sellers, the report and the suggestions call the merged pose.")
        if len(picked) >= 2 and not name.strip():
            st.caption("Give the merged pose a name to merge.")
        st.button("Merge into one pose", key=f"groups-merge-btn-{rid}", on_click=do_merge,
                  disabled=len(picked) < 2 or not name.strip())
        one = st.selectbox("Centroid to split off", poses, key=f"groups-split-{rid}", format_func=fmt)
        st.button("Split off: a pose of its own", key=f"groups-split-btn-{rid}", on_click=do_split, args=(one,))
    with right, st.container(border=True):
        st.markdown("**Exclude or mark desirable**")
        c = st.selectbox("Centroid to exclude or mark desirable", classes, key=f"groups-mark-{rid}", format_func=fmt)
        g = groups.get(groups.group_of(c))
        st.text_input("Why (for exclusions)", key=note_key, placeholder="junk / not wanted")
        b1, b2 = st.columns(2)
        b1.button("Ask for it again" if g.excluded else "Exclude", key=f"groups-exclude-btn-{rid}",
                  on_click=do_exclude, args=(c, g.excluded))
        b2.button("Not desirable" if g.desirable else "Desirable", key=f"groups-desirable-btn-{rid}",
                  on_click=do_desirable, args=(c, g.desirable))
    last = grp.last_change(store, run)
    if last:
        what = grp.describe_change(last, run, store.descriptions(rid))
        u1, u2 = st.columns([5, 1], vertical_alignment="center")
        u1.caption(f"Last change: {what}")
        u2.button("Undo", key=f"groups-undo-btn-{rid}", on_click=do_undo, args=(what,), icon=":material/undo:")

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
                _done(f"Merged “{fmt(p.a)}” and “{fmt(p.b)}”")
                st.rerun()
        if c3.button("Reject", key=f"prop-reject-{rid}-{p.a}-{p.b}"):
            with engine_errors("Cannot save"):
                grp.reject_proposal(store, run, p.a, p.b, access.current())
                _done(f"Kept apart: “{fmt(p.a)}” and “{fmt(p.b)}”")
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
