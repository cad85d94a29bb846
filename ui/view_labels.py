"""View labels in the app (issue 22): label a map selection or a centroid's images in one action,
the labelling queue (least sure first, a key per facing and framing, next, skip, undo), and a
reviewer's "this photo actually shows ..." on a listing image. Every label goes through
``api.label_views`` into the one append-only label table, with the user and the time."""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from ui.common import engine_errors
from ui.grid import LARGE, skeleton_for, thumbnail
from unpose_core import api
from unpose_core import app_tables as views
from unpose_core.runs import Run
from unpose_core.store import Store
from unpose_core.views import Facing, Framing, ImageKind

# the queue's keys ("c" and "r" are Streamlit's own: not usable as shortcuts)
FACING_KEYS = {Facing.FRONT: "f", Facing.BACK: "b", Facing.THREE_QUARTER_LEFT: "q",
               Facing.THREE_QUARTER_RIGHT: "e", Facing.PROFILE_LEFT: "a", Facing.PROFILE_RIGHT: "d"}
FRAMING_KEYS = {Framing.CLOSE_UP: "1", Framing.UPPER_BODY: "2", Framing.THREE_QUARTER: "3",
                Framing.FULL_LENGTH: "4"}
NEXT_KEY, SKIP_KEY, UNDO_KEY = "n", "s", "u"
KEEP = "—"   # a select left at this keeps that part of the label in force


def current_actor():
    """Who labels: the actor the page's gate let in (ui.access; its name is the label's user),
    the OS user outside the frame."""
    from ui import access

    return access.current()


def _words(value) -> str:
    return KEEP if value == KEEP else value.text


def label_selection(store: Store, hashes: Sequence[str], key: str, distinct: bool = False) -> None:
    """'Label these N images as ...': facing / framing / kind and Save, for a map selection or
    a centroid's images; one label per image in the table (analyst). Each image once, in order
    (pandas, not a Python loop: 0.7 s for a million hashes, was 3.1 s); ``distinct``: the caller
    passes distinct hashes already (ui.clusters.selection_hashes), taken as they are."""
    if not distinct:
        hashes = pd.Series(hashes)
        hashes = hashes[hashes.notna()].astype(str)
        hashes = hashes[hashes != ""].unique()
    if not len(hashes):
        return
    with st.form(f"{key}-label-form", border=True):
        st.markdown(f"**Label these {len(hashes)} images as …**")
        c1, c2, c3 = st.columns(3)
        facing = c1.selectbox("Facing", [KEEP, *Facing], key=f"{key}-facing", format_func=_words)
        framing = c2.selectbox("Framing", [KEEP, *Framing], key=f"{key}-framing", format_func=_words)
        kind = c3.selectbox("Kind", [KEEP, *ImageKind], key=f"{key}-kind", format_func=_words)
        saved = st.form_submit_button(f"Save for {len(hashes)} images", icon=":material/label:")
    if saved:
        with engine_errors("Cannot save the labels"):
            rows = api.label_views(store, list(hashes), None if facing == KEEP else str(facing),
                                   None if framing == KEEP else str(framing), None if kind == KEEP else str(kind),
                                   source="analyst", by=current_actor())
            st.toast(f"Labelled {len(rows)} images: {rows[0].text}", icon=":material/label:")


def reviewer_label(store: Store, content_hash: str | None, key: str, shown: str = "") -> None:
    """A listing image's 'This photo actually shows …' (a reviewer label): a small expander."""
    if not content_hash:
        return
    with st.expander("This photo actually shows …"):
        if shown:
            st.caption(f"Read as: {shown}")
        with st.form(f"{key}-rev-{content_hash}", border=False):
            facing = st.selectbox("Facing", [KEEP, *Facing], key=f"{key}-rf-{content_hash}", format_func=_words)
            framing = st.selectbox("Framing", [KEEP, *Framing], key=f"{key}-rfr-{content_hash}", format_func=_words)
            kind = st.selectbox("Kind", [KEEP, *ImageKind], key=f"{key}-rk-{content_hash}", format_func=_words)
            saved = st.form_submit_button("Save correction", icon=":material/rate_review:")
        if saved:
            with engine_errors("Cannot save the correction"):
                rows = api.label_views(store, [content_hash], None if facing == KEEP else str(facing),
                                       None if framing == KEEP else str(framing),
                                       None if kind == KEEP else str(kind), source="reviewer", by=current_actor())
                st.toast(f"Saved: this photo shows {rows[0].text}", icon=":material/check:")


def reviewer_labels(store: Store, items: Sequence[tuple[str | None, str]], key: str, columns: int = 6) -> None:
    """One reviewer expander per listing image (content hash, its caption), laid out like the grid."""
    for start in range(0, len(items), columns):
        cols = st.columns(columns)
        for i, (col, (h, shown)) in enumerate(zip(cols, items[start:start + columns])):
            with col:   # keyed by place: a listing may hold the same photo twice
                reviewer_label(store, h, f"{key}-{start + i}", shown)


# -- the labelling queue ----------------------------------------------------------------------------
def _state() -> dict:
    return st.session_state.setdefault("vq", {"pending": {}, "history": [], "skipped": [], "front": None})


def _current(queue, s: dict) -> str | None:
    if s["front"] is not None:
        return s["front"]
    todo = queue[~queue["labelled"] & ~queue["content_hash"].isin(s["skipped"])]
    return None if todo.empty else str(todo["content_hash"].iloc[0])


def _save(store: Store, h: str, pending: dict) -> None:
    before = store.view_labels([h]).get(h)
    api.label_views(store, [h], pending.get("facing"), pending.get("framing"), source="analyst",
                    by=current_actor())
    s = _state()
    s["history"].append((h, None if before is None else before.to_dict()))
    s["pending"], s["front"] = {}, None


def _pick(store: Store, h: str, part: str, value: str) -> None:
    """A facing or framing key: kept until the other part is picked, then saved (next image)."""
    s = _state()
    s["pending"][part] = value
    if {"facing", "framing"} <= set(s["pending"]):
        with engine_errors("Cannot save the label"):
            _save(store, h, s["pending"])


def _next(store: Store, h: str) -> None:
    s = _state()
    if s["pending"]:
        with engine_errors("Cannot save the label"):
            _save(store, h, s["pending"])
    else:
        _skip(h)


def _skip(h: str) -> None:
    s = _state()
    s["skipped"].append(h)
    s["pending"], s["front"] = {}, None


def _undo(store: Store) -> None:
    """Undo the last label: the label in force before it is written again (the table is append-only)
    and the image comes back first; a first label stays until the image is labelled again."""
    s = _state()
    if not s["history"]:
        return
    h, before = s["history"].pop()
    if before is not None:
        with engine_errors("Cannot undo"):
            api.label_views(store, [h], before["facing"], before["framing"], before["kind"],
                            bool(before["no_pose"]), source=before["source"], user=before["user"],
                            note="restored by undo")
    s["pending"], s["front"] = {}, h


def queue_page(store: Store, run: Run) -> None:
    """The labelling queue's body: reader status, the image large with its skeleton, the reading
    and its confidence, the keys."""
    status = api.view_reader_status(store)
    s = _state()
    queue = views.label_queue(store, run)
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Labelled images", status["n_labelled_images"])
    m2.metric("Labelled here this session", len(s["history"]))
    m3.metric("Still to label", int((~queue["labelled"]).sum()))
    if status["reader"] is None:
        m4.metric("Reader", "rules")
        st.caption("The view rules read these images (no learned view reader yet: `unposed views train` after "
                   "labelling learns one).")
    else:
        m4.metric("Reader", "learned")
        held = status.get("held_out") or {}
        st.caption(f"View reader `{status['reader']}`: {status['reading']}; learned from "
                   f"{status.get('n_catalogue_labels')} catalogue labels and {status.get('n_render_labels')} "
                   f"render-set labels; held-out accuracy {_accuracy_text(held)}.")
    h = _current(queue, s)
    if h is None:
        st.success("Every image with a person has a label (or was skipped this session).",
                   icon=":material/task_alt:")
        if s["skipped"] and st.button("Show the skipped ones again", key="vq-unskip"):
            s["skipped"].clear()
            st.rerun()
        return
    row = queue[queue["content_hash"] == h].iloc[0]
    left, right = st.columns([3, 2])
    with left:
        path = views.paths_for_hashes(store, [h]).get(h)
        backend = views.pose_backend_of(store, run)
        lm = views.poses_for_hashes(store, backend[0], backend[1], [h]).get(h)
        st.image(thumbnail(path, h, None if lm is None else lm.tobytes(), 0 if lm is None else int(lm.shape[0]),
                           skeleton_for(backend[0], run), size=LARGE), width="stretch")
        st.caption(f"`{row['product_id']}` · image `{h[:12]}`" + (f" · label in force: {row['label']}"
                                                                  if row["label"] else ""))
    with right:
        st.markdown(f"**Reads as:** {Facing(row['facing']).text} ({row['facing_confidence']:.0%}), "
                    f"{Framing(row['framing']).text} ({row['framing_confidence']:.0%})")
        st.progress(float(min(max(row["sureness"], 0.0), 1.0)), text=f"sureness {row['sureness']:.2f} "
                    "(the lower of the two; the least sure come first)")
        pending = s["pending"]
        if pending:
            st.info("Picked: " + ", ".join(v.replace("_", " ") for v in pending.values()), icon=":material/edit:")
        _key_buttons(store, h, "facing", FACING_KEYS, 3, pending)
        _key_buttons(store, h, "framing", FRAMING_KEYS, 2, pending)
        n1, n2, n3 = st.columns(3)
        n1.button(f"Next [{NEXT_KEY.upper()}]", key="vq-next", shortcut=NEXT_KEY, on_click=_next, args=(store, h),
                  icon=":material/arrow_forward:", help="Save what is picked (if anything) and go on")
        n2.button(f"Skip [{SKIP_KEY.upper()}]", key="vq-skip", shortcut=SKIP_KEY, on_click=_skip, args=(h,),
                  icon=":material/skip_next:")
        n3.button(f"Undo [{UNDO_KEY.upper()}]", key="vq-undo", shortcut=UNDO_KEY, on_click=_undo, args=(store,),
                  icon=":material/undo:", disabled=not s["history"])
        st.caption("Keys: a facing key and a framing key save the label and open the next image; "
                   f"{NEXT_KEY.upper()} saves what is picked, {SKIP_KEY.upper()} skips, {UNDO_KEY.upper()} undoes "
                   "the last label.")


def _key_buttons(store: Store, h: str, part: str, keys: dict, n_cols: int, pending: dict) -> None:
    """A button per value of ``part`` (facing or framing) with its key; the one picked is highlighted."""
    st.markdown(f"**{part.capitalize()}**")
    cols = st.columns(n_cols)
    for i, (v, k) in enumerate(keys.items()):
        cols[i % n_cols].button(f"{v.text} [{k.upper()}]", key=f"vq-{part}-{v}", shortcut=k, width="stretch",
                                type="primary" if pending.get(part) == str(v) else "secondary",
                                on_click=_pick, args=(store, h, part, str(v)))


def _accuracy_text(held: dict) -> str:
    parts = []
    for head in ("facing", "framing"):
        d = held.get(head) if isinstance(held.get(head), dict) else None
        if d and d.get("reader") is not None:
            parts.append(f"{head} {d['reader']:.0%} (rules {d.get('rules', float('nan')):.0%})")
    return ", ".join(parts) or "not measured"
