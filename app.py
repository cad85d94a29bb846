"""Unposed: the curation app. `streamlit run app.py` (make run opens it on the trained demo).

The data dir comes from $UNPOSED_DATA_DIR (else ~/.unposed). Pages live in pages/ and
only lay out widgets and call unpose_core; shared helpers are in ui/.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent

os.environ.setdefault("GLOG_minloglevel", "2")       # quiet mediapipe's C++ logging
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import streamlit as st

from ui.common import ENGINE_ERRORS, PAGES, active_run_or_none, error_message, get_store, has_catalogue
from ui.jobs_view import job_panel

log = logging.getLogger("unposed.app")

from ui.branding import favicon  # noqa: E402

st.set_page_config(page_title="Unposed", page_icon=favicon(), layout="wide")

pages = [
    st.Page(PAGES["catalogue"], title="Catalogue", icon=":material/inventory_2:", default=True),
    st.Page(PAGES["train"], title="Train", icon=":material/model_training:"),
    st.Page(PAGES["clusters"], title="Clusters", icon=":material/bubble_chart:"),
    st.Page(PAGES["tune"], title="Tune K", icon=":material/tune:"),
    st.Page(PAGES["product"], title="Product", icon=":material/checkroom:"),
    st.Page(PAGES["report"], title="Report", icon=":material/table_view:"),
]
if (ROOT / PAGES["evaluate"]).is_file():   # written by the evaluation work; shown when present
    pages.append(st.Page(PAGES["evaluate"], title="Evaluate", icon=":material/fact_check:"))

page = st.navigation(pages)


@st.cache_resource(show_spinner=False)
def _warm_umap(data_dir: str, run_id: str) -> bool:
    """Once per process and run: start computing the run's 2-D map in the background when it
    is missing (e.g. a run trained by the CLI), so the Clusters page finds it ready."""
    from unpose_core import projection

    store = get_store()
    run = active_run_or_none(store)
    if run is not None and run.run_id == run_id:
        projection.warm_async(store, run)
    return True


store = None
try:
    store = get_store()
    with st.sidebar:
        st.markdown("### Unposed")
        st.caption("Which photos is this listing missing? Poses of popular products, clustered and ranked per cohort.")
        run_id = store.active_run_id()
        st.caption(f"Data: `{store.data_dir}`  \nActive run: `{run_id or 'none'}`")
        job_panel(store, key="sidebar", compact=True, show_outcome=False)
    if run_id and has_catalogue(store):
        try:
            _warm_umap(str(store.data_dir), run_id)
        except ENGINE_ERRORS as exc:   # the Clusters page explains; other pages still work
            log.warning("cannot prepare the map of run %s: %s", run_id, exc)
except ENGINE_ERRORS as exc:
    st.error(f"Cannot open the data dir: {error_message(exc)}", icon=":material/error:")
    st.stop()

try:
    page.run()
except ENGINE_ERRORS as exc:
    # the pages catch what they expect; anything else from the engine still gets one clear line
    log.warning("page %s: %s", page.title, exc, exc_info=True)
    st.error(error_message(exc), icon=":material/error:")
