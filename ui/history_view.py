"""Who changed what, in the app: "by NAME · time" under a label, a description's history with
Revert, the pose-group edits with Undo, and the audit log (admins). Every button calls the engine
(``unpose_core.changes`` / ``api``), which checks the signed-in person's role again."""
from __future__ import annotations

import datetime as dt

import streamlit as st

from ui import access
from ui.common import engine_errors
from unpose_core import api
from unpose_core import changes as chg
from unpose_core.exports import to_csv
from unpose_core.identity import Action
from unpose_core.runs import Run
from unpose_core.store import Store


def when(at: float | None) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if at else "unknown time"


def by_line(source: str | None, at: float | None) -> str:
    """'by NAME · time' for a label's recorded source and time."""
    return f"by {chg.author(source)} · {when(at)}"


def description_history(store: Store, run: Run, c: int) -> None:
    """The texts centroid ``c`` had, newest first, each with Revert (an analyst's)."""
    rows = chg.description_history(store, run.run_id, c)
    if not rows:
        return
    with st.expander(f"History ({len(rows)})", icon=":material/history:"):
        may = access.allowed(Action.DESCRIBE)

        def revert(entry) -> None:   # a callback: the field is set before it is drawn again
            with engine_errors("Cannot revert"):
                chg.revert_description(store, run, c, entry.id, access.current())
                # assigned, not dropped: a dropped key leaves the old text in the browser's field
                st.session_state[f"desc-{run.run_id}-{c}"] = entry.text or ""

        for h in reversed(rows):
            a, b = st.columns([5, 1])
            a.markdown(f"“{h.text}”" if h.text else "*(removed: the automatic description)*")
            a.caption(f"{h.by} · {when(h.at)}")
            b.button("Revert", key=f"desc-hist-{run.run_id}-{c}-{h.id}", disabled=not may, on_click=revert, args=(h,),
                     help="Make this the description again" if may else "Needs the analyst role")


def groups_history(store: Store, run: Run, limit: int = 20) -> None:
    """The run's pose-group edits, newest first, each with Undo (an analyst's)."""
    rows = chg.mark_history(store, run.run_id)
    if not rows:
        return
    with st.expander(f"Pose-group history ({len(rows)} edits)", icon=":material/history:"):
        may = access.allowed(Action.GROUPS)
        for h in list(reversed(rows))[:limit]:
            a, b = st.columns([5, 1])
            a.markdown(h.what)
            a.caption(f"{h.by} · {when(h.at)}")
            if b.button("Undo", key=f"groups-undo-{run.run_id}-{h.id}", disabled=not may,
                        help="Take this edit back" if may else "Needs the analyst role"):
                with engine_errors("Cannot undo"):
                    chg.undo_mark_edit(store, run, h.id, access.current())
                    st.rerun()


def audit_panel(store: Store) -> None:
    """The audit log for admins (newest first) and its CSV download; nothing for anyone else."""
    if not access.allowed(Action.ROLES):
        return
    with st.expander("Audit log (admins)", icon=":material/policy:"), engine_errors("Cannot read the audit log"):
        df = api.audit(store, by=access.current())
        st.dataframe(df.iloc[::-1].drop(columns=["at"]), hide_index=True, key="audit-table")
        st.download_button("Download the audit log (CSV)", to_csv(df), file_name="unposed-audit.csv",
                           mime="text/csv", key="audit-download")
