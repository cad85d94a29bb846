"""The frame of every page: page config, title, the sidebar, the map warm-up, one-line errors.

The app uses Streamlit's own multipage layout: ``app.py`` is the home page and Streamlit
finds ``pages/N_Name.py`` by itself (sidebar order = N, title and URL = Name). Each page
script runs on its own, so each starts with::

    with page("Clusters") as p:
        store = p.store
        ...

which sets the page up and shows an engine error the page did not handle itself as one
``st.error`` line instead of a traceback.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from ui import access
from ui.branding import favicon
from ui.common import ENGINE_ERRORS, REGISTRY, active_run_or_none, error_message, get_store, has_catalogue, store_at
from ui.jobs_view import job_panel
from unpose_core import jobs
from unpose_core.identity import Actor
from unpose_core.store import CorruptDatabase, Store

log = logging.getLogger("unposed.app")

APP_NAME = "Unposed"


@dataclass(frozen=True)
class Page:
    """What a page gets from its frame."""

    title: str
    store: Store
    actor: Actor   # who acts (ui.access.gate): every engine write of the page passes it


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


def sidebar(store: Store, actor: Actor) -> str | None:
    """The page list, what the app is, the data dir, the active run, the running job.

    Streamlit's own page list is switched off in .streamlit/config.toml (client.showSidebarNavigation)
    because it names the home page after its file, "app"; st.page_link is its supported way to draw ours."""
    with st.sidebar:
        try:
            with st.container(key="unposed_nav"):
                for entry in REGISTRY:   # the one page list (ui.common.REGISTRY), in menu order
                    st.page_link(entry.script, label=entry.title, icon=entry.icon)
            st.divider()
        except (StreamlitPageNotFoundError, KeyError):   # a page run outside the app (a bare script): no list
            pass
        st.markdown(f"### {APP_NAME}")
        st.caption("Which photos is this listing missing? Poses of popular products, clustered and ranked "
                   "per cohort.")
        run_id = store.active_run_id()
        running = (j := jobs.current(store)) is not None and j.running

        def where() -> None:   # re-read every second while a job runs: a new run shows the moment it is active
            st.caption(f"Data: `{store.data_dir}`  \nActive run: `{store.active_run_id() or 'none'}`")

        st.fragment(where, run_every=1.0 if running else None)()
        access.who_caption(actor)
        job = job_panel(store, key="sidebar", compact=True, show_outcome=False)
        if job is None or not job.running:
            st.caption("No background job running.")
    return run_id


def _warm(store: Store, run_id: str | None) -> None:
    if not run_id or not has_catalogue(store):
        return
    try:
        _warm_umap(str(store.data_dir), run_id)
    except CorruptDatabase:
        raise
    except ENGINE_ERRORS as exc:   # the Clusters page explains; other pages still work
        log.warning("cannot prepare the map of run %s: %s", run_id, exc)


def damaged_database(exc: CorruptDatabase) -> None:
    """The message page of a damaged database (corrupt, truncated, 0 bytes), on every page: the
    file, what is wrong and what to do; the page stops there. The server's open store is dropped,
    so the page works again the moment the database is restored (no restart)."""
    log.warning("damaged database: %s", exc)
    store_at.clear()
    st.title("The database is damaged")
    st.error(f"The data dir's database `{exc.path}` cannot be read: {exc.why}.", icon=":material/error:")
    st.markdown(
        f"""Nothing was changed. What to do:

* **Restore a backup** (one `unposed backup DEST` wrote): `unposed --data-dir {exc.path.parent} restore BACKUP_FILE`,
  then reload this page. The damaged file is kept beside it as `{exc.path.name}.damaged-*`.
* **Or start afresh**: move `{exc.path.name}` (and any `{exc.path.name}-wal` / `-shm` beside it) out of
  `{exc.path.parent}`, reload this page and import the catalogue again.""")
    st.stop()


@contextlib.contextmanager
def page(title: str) -> Iterator[Page]:
    """Set up a page titled ``title`` and run its body (the ``with`` block).

    Page config (tab title, icon, wide layout), the sign-in gate (with sign-in configured an
    anonymous visitor gets the sign-in page and nothing else), the sidebar, the map warm-up and
    the page's heading; a data dir that cannot be opened stops the page with one error line, and
    so does an engine error the body lets through (a refused action: its reason).
    """
    st.set_page_config(page_title=title if title == APP_NAME else f"{title} · {APP_NAME}",
                       page_icon=favicon(), layout="wide")
    try:
        store = get_store()
        actor = access.gate(store.data_dir)   # first: nothing else is drawn for an anonymous visitor
        run_id = sidebar(store, actor)
        _warm(store, run_id)
    except CorruptDatabase as exc:
        damaged_database(exc)
    except ENGINE_ERRORS as exc:
        st.error(f"Cannot open the data dir: {error_message(exc)}", icon=":material/error:")
        st.stop()
    st.title(title)
    try:
        yield Page(title=title, store=store, actor=actor)
    except CorruptDatabase as exc:   # found by the body (e.g. a page SQLite reads only now)
        damaged_database(exc)
    except ENGINE_ERRORS as exc:
        # the pages catch what they expect; anything else from the engine still gets one clear line
        log.warning("page %s: %s", title, exc, exc_info=True)
        st.error(error_message(exc), icon=":material/error:")
