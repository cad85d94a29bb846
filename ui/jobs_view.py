"""The live progress panel of a background job (unpose_core.jobs).

The panel is a fragment that reruns itself every second while a job runs, reading the
progress the job thread keeps in memory and in SQLite, so it shows the same bar after
navigating away and back, after a rerun, or in another browser tab. When the job ends
the whole app reruns once, so pages pick up the new run or results.
"""
from __future__ import annotations

import streamlit as st

from unpose_core import jobs
from unpose_core.records import JOB_STAGES
from unpose_core.store import Store

KIND_LABEL = {"train": "Training", "demo": "Building the demo", "import": "Importing the catalogue",
              "sweep": "Sweeping K", "evaluate": "Evaluating"}


def _watch_key(key: str) -> str:
    return f"_job_watch_{key}"


def job_panel(store: Store, key: str, kinds: tuple[str, ...] | None = None, compact: bool = False,
              show_outcome: bool = True) -> jobs.Job | None:
    """Render the running job (of ``kinds``) with a progress bar and a Cancel button.

    Returns the job shown (running or, when ``show_outcome``, the last finished one watched).
    """
    job = jobs.current(store)
    relevant = job is not None and (kinds is None or job.kind in kinds)

    def body() -> None:
        j = jobs.current(store)
        watched = st.session_state.get(_watch_key(key))
        if j is not None and (kinds is None or j.kind in kinds):
            st.session_state[_watch_key(key)] = j.job_id
            label = KIND_LABEL.get(j.kind, j.kind)
            plan, at = JOB_STAGES.get(j.kind, ()), j.stage_index
            step = f" · step {at + 1} of {len(plan)}" if plan and at is not None else ""
            if compact:   # the bar is the whole job (only moves forward), the text the current stage
                st.caption(f"**{label}** · {int(j.overall * 100)}%{step}")
                st.progress(j.overall)
                st.caption(j.progress_text())
            else:
                st.progress(j.overall, text=f"**{label}**{step} — {j.progress_text()}")
                c1, c2 = st.columns([1, 4])
                c2.caption(f"job {j.job_id} · running for {jobs.format_seconds(j.elapsed)} · "
                           "it keeps going if you leave this page")
                if j.cancel_requested:
                    c1.caption("cancelling…")
                elif c1.button("Cancel", key=f"{key}-cancel", icon=":material/cancel:"):
                    jobs.cancel(store, j.job_id)
                    st.rerun(scope="fragment")
            return
        if watched:
            # the job this panel was following has finished: rerun the page for its results
            st.session_state.pop(_watch_key(key), None)
            st.session_state[f"_job_done_{key}"] = watched
            st.rerun(scope="app")

    fragment = st.fragment(body, run_every=1.0 if relevant and job.running else None)
    fragment()

    if relevant:
        return job
    done_id = st.session_state.get(f"_job_done_{key}")
    if show_outcome and done_id:
        finished = jobs.get(store, done_id)
        if finished is not None and not compact:
            outcome(finished)
        return finished
    return None


def outcome(job: jobs.Job) -> None:
    label = KIND_LABEL.get(job.kind, job.kind)
    if job.status == jobs.DONE:
        st.success(f"{label} finished in {jobs.format_seconds(job.elapsed)}.", icon=":material/check_circle:")
    elif job.status == jobs.CANCELLED:
        st.warning(f"{label} was cancelled. Work already done (extracted poses) is kept.",
                   icon=":material/cancel:")
    else:
        st.error(f"{label} {job.status}: {job.error}", icon=":material/error:")
