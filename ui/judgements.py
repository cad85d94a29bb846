"""The review panel under a product's suggestions, and the analysts' view of each cohort's settings.

Review panel (catalogue products only): the reviewer's name comes first; then each suggested pose
group gets a verdict -- missing, not needed, not sure, or "I already have this" with the listing
photo that shows it -- by mouse or by keys (J / K move between groups; Y missing, N not needed,
U not sure, H I have it), plus poses missing but not suggested. Nothing is stored until "Submit"
(or "Submit and next", key S, which opens the next product of the review queue: not yet reviewed
first, lowest completeness first). ``unpose_core.reviews.submit_review`` stores it.

Cohort settings: every cohort's settings, where they came from (defaults, tuned from N reviews
with the held-out precision and recall, reset), tune from the reviews, and reset one.
"""
from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from ui import access
from unpose_core.records import GroupVerdict, Verdict
from unpose_core.reviews import latest_review, next_to_review, submit_review
from unpose_core.runs import Run
from unpose_core.store import Store
from unpose_core.suggestions import Suggestion

REVIEWER_KEY = "reviewer-name"
# the verdicts a suggested group can get: (verdict, button text, key)
CHOICES = ((Verdict.CONFIRM, "Missing", "Y"), (Verdict.REJECT, "Not needed", "N"),
           (Verdict.UNSURE, "Not sure", "U"), (Verdict.HAVE, "I have it", "H"))
LABELS = {v: text for v, text, _ in CHOICES}


def _next(store: Store, run: Run, pid: str) -> str | None:
    """The next product of the review queue (not reviewed yet, lowest completeness first)."""
    from ui.common import catalogue_table

    table = catalogue_table(store, run).products
    return next_to_review(table, pid, store.latest_reviews(list(table["product_id"])).keys())


def render_judgements(store: Store, run: Run, suggestion: Suggestion) -> None:
    pid = suggestion.product_id
    if pid is None:
        return
    base = f"review|{run.run_id}|{pid}"
    verdict_key = (lambda m: f"{base}|v{m.group}")
    photo_key = (lambda m: f"{base}|p{m.group}")
    cursor_key = f"{base}|cursor"
    missing = list(suggestion.missing)
    photos = [a for a in suggestion.images if a.status != "error"]
    names = {a.image: f"{i}. {Path(a.image).name}" for i, a in enumerate(suggestion.images, 1)}
    hash_of = {a.image: h for a, h in zip(suggestion.images, _hashes(store, pid, suggestion), strict=False)}

    def set_verdict(v: Verdict) -> None:
        if not missing:
            return
        i = min(st.session_state.get(cursor_key, 0), len(missing) - 1)
        st.session_state[verdict_key(missing[i])] = v
        st.session_state[cursor_key] = min(i + 1, len(missing) - 1)

    def move(step: int) -> None:
        if missing:
            st.session_state[cursor_key] = max(0, min(len(missing) - 1, st.session_state.get(cursor_key, 0) + step))

    with st.container(border=True, key="review-panel"):
        st.markdown("##### Review these suggestions")
        reviewer = st.text_input("Your name (first: every review is stored with its reviewer)", key=REVIEWER_KEY,
                                 placeholder="e.g. Asha").strip()
        if not reviewer:
            st.caption("Enter your name to review this listing.")
        off = not reviewer
        st.caption("Give each suggested pose a verdict: keys **J** / **K** move between them, **Y** missing, "
                   "**N** not needed, **U** not sure, **H** I already have it; **S** submits and opens the next "
                   "product. Nothing is saved until you submit; a pose left without a verdict is saved as not sure.")
        cur = min(st.session_state.get(cursor_key, 0), max(len(missing) - 1, 0))
        for i, m in enumerate(missing):
            c1, c2, c3 = st.columns([3, 3, 2], vertical_alignment="center")
            marker = "▶ " if i == cur else ""
            c1.markdown(f"{marker}{m.rank}. **{m.description}**")
            c2.segmented_control(f"Verdict on {m.description}", [v for v, _, _ in CHOICES], key=verdict_key(m),
                                 format_func=LABELS.get, label_visibility="collapsed", disabled=off)
            if st.session_state.get(verdict_key(m)) == Verdict.HAVE:
                options = [a.image for a in photos]
                if photo_key(m) not in st.session_state and options:
                    st.session_state[photo_key(m)] = m.closest_image if m.closest_image in options else options[0]
                c3.selectbox("shown by", options, key=photo_key(m), format_func=names.get, disabled=off)
        if not missing:
            st.caption("Nothing is suggested for this listing; add below any pose it lacks.")
        suggested = {c for m in missing for c in m.members}
        groups = _groups(store, run)
        options = [g.id for g in groups.groups if not set(g.members) & suggested and not g.excluded]
        labels = {g.id: g.label for g in groups.groups}
        st.multiselect("Also missing, but not suggested", options, key=f"{base}|added", format_func=labels.get,
                       placeholder="Pick poses this listing lacks", disabled=off)
        k = st.columns(7)
        for col, (v, text, key) in zip(k, CHOICES, strict=False):
            col.button(text, key=f"{base}|k{key}", shortcut=key, on_click=set_verdict, args=(v,), disabled=off)
        k[4].button("Previous", key=f"{base}|kK", shortcut="K", on_click=move, args=(-1,), disabled=off)
        k[5].button("Next", key=f"{base}|kJ", shortcut="J", on_click=move, args=(1,), disabled=off)

        def verdicts() -> list[GroupVerdict]:
            out = []
            for m in missing:
                v = st.session_state.get(verdict_key(m)) or Verdict.UNSURE
                photo = hash_of.get(st.session_state.get(photo_key(m))) if v == Verdict.HAVE else None
                out.append(GroupVerdict(Verdict(v), tuple(m.members), m.description, m.rank, photo))
            for gid in st.session_state.get(f"{base}|added", []):
                g = groups.get(gid)
                out.append(GroupVerdict(Verdict.ADDED, g.members, g.label))
            return out

        def submit(then_next: bool) -> None:
            try:
                submit_review(store, run, pid, verdicts(), reviewer, actor=access.current())
            except (ValueError, PermissionError) as exc:
                st.session_state[f"{base}|error"] = str(exc)
                return
            msg = f"Saved the review of {pid}."
            if then_next:
                nxt = _next(store, run, pid)
                if nxt is None:
                    msg += " Every other product is reviewed."
                else:
                    st.session_state["open_product"] = nxt
                    st.session_state["product-search"] = ""
                    msg += f" Next in the queue: {nxt}."
            st.session_state["review-saved"] = msg

        b1, b2 = st.columns(2)
        b1.button("Submit and next", key=f"{base}|submit-next", type="primary", shortcut="S", on_click=submit,
                  args=(True,), disabled=off, icon=":material/skip_next:")
        b2.button("Submit", key=f"{base}|submit", on_click=submit, args=(False,), disabled=off,
                  icon=":material/task_alt:")
        err = st.session_state.pop(f"{base}|error", None)
        if err:
            st.error(f"Not saved: {err}", icon=":material/error:")
        saved = st.session_state.pop("review-saved", None)
        if saved:
            st.success(saved, icon=":material/task_alt:")
        prev = latest_review(store, pid)
        if prev is None:
            st.caption("Not reviewed yet.")
        else:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(prev.created_at))
            counts = ", ".join(f"{len(prev.of(v))} {LABELS.get(v, 'added').lower()}" for v in Verdict
                               if prev.of(v))
            st.caption(f"Last review: {when} by {prev.by}: {counts or 'nothing missing'}.")


def _hashes(store: Store, pid: str, suggestion: Suggestion) -> list[str]:
    from ui.common import images_table

    imgs = images_table(store)
    by_path = dict(zip(imgs.loc[imgs["product_id"] == pid, "path"], imgs.loc[imgs["product_id"] == pid,
                                                                             "content_hash"]))
    return [by_path.get(a.image) for a in suggestion.images]


def _groups(store: Store, run: Run):
    from unpose_core.groups import pose_groups

    return pose_groups(store, run)


# -- the analysts' view -----------------------------------------------------------------------------

def render_cohort_settings(store: Store, run: Run) -> None:
    """Each cohort's settings and their source; tune from the reviews; reset one."""
    import unpose_core.api as api
    from unpose_core.operating import OperatingOptions

    out = api.cohorts(store, run)
    table = out["cohorts"]
    n = len(store.latest_reviews())
    st.caption(f"{n} reviewed products. A cohort with at least {OperatingOptions.min_reviews} of them gets the "
               "settings with the best F1 on its reviews (a thinner cohort's reviews count for its parent); "
               "the precision and recall shown are held out (cross-validated). Without enough reviews the "
               "defaults hold.")
    st.dataframe(table[["cohort", "source", "settings", "estimate", "default_f1", "tuned_on", "by"]],
                 hide_index=True, column_config={"default_f1": st.column_config.NumberColumn(
                     "defaults' F1", format="%.3f"), "estimate": "from reviews"}, key="cohort-settings")
    c1, c2, c3 = st.columns([1, 2, 1], vertical_alignment="bottom")
    by = (st.session_state.get(REVIEWER_KEY) or "").strip() or "app"
    if c1.button("Tune from the reviews", key="cohorts-tune", icon=":material/tune:"):
        try:
            res = api.cohorts(store, run, tune=True, by=by, actor=access.current())["tuning"]
        except PermissionError as exc:
            st.error(str(exc), icon=":material/block:")
            return
        st.session_state["cohorts-msg"] = (
            "; ".join(f"{t['cohort_name']}: F1 {t['default']['f1']:.2f} with the defaults -> about "
                      f"{t['estimate']['f1']:.2f} held out" for t in res["tuned"])
            or "No cohort has enough reviewed products yet: the defaults hold.")
        st.rerun()
    tuned = table.loc[table["source"] == "tuned", "cohort"].tolist()
    pick = c2.selectbox("Cohort", tuned, key="cohorts-reset-pick", placeholder="A tuned cohort",
                        index=None if not tuned else 0, disabled=not tuned)
    if c3.button("Reset to defaults", key="cohorts-reset", disabled=not tuned, icon=":material/restart_alt:"):
        try:
            api.cohorts(store, run, reset=pick, by=by, actor=access.current())
        except PermissionError as exc:
            st.error(str(exc), icon=":material/block:")
            return
        st.session_state["cohorts-msg"] = f"{pick}: back on the defaults (the history keeps the tuned settings)."
        st.rerun()
    msg = st.session_state.pop("cohorts-msg", None)
    if msg:
        st.success(msg, icon=":material/task_alt:")
