"""Cached loaders, friendly engine errors and the guards every page starts with."""
from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from ui import access
from unpose_core import app_tables as views
from unpose_core import jobs
from unpose_core.config import TrainConfig, resolve_data_dir
from unpose_core.descriptions import describe_centroid, effective_descriptions
from unpose_core.pose.shared import SharedBackend
from unpose_core.records import Description
from unpose_core.runs import Run, RunError, load_registered
from unpose_core.store import CorruptDatabase, Store

log = logging.getLogger("unposed.app")

# engine errors shown as one friendly line (RunError, ImageError, ManifestError, UploadError,
# JobBusy are ValueErrors; KeyError is a LookupError)
ENGINE_ERRORS = (ValueError, LookupError, RunError, RuntimeError, OSError, InterruptedError)

@dataclass(frozen=True)
class PageEntry:
    """One page of the app: its key, script (what st.page_link / st.switch_page take), title,
    icon and what it is for (Home's guide)."""

    key: str
    script: str
    title: str
    icon: str
    what: str


# THE page list: the sidebar (ui.frame), Home's guide (app.py) and the tests all read it. Streamlit
# finds the pages in pages/ (its multipage layout: app.py is the home page, the number orders the
# files, the rest of the file name is the URL); this tuple is the menu order shown.
REGISTRY: tuple[PageEntry, ...] = (
    PageEntry("home", "app.py", "Home", ":material/home:", "what is in the data dir and what to do next"),
    PageEntry("catalogue", "pages/1_Catalogue.py", "Catalogue", ":material/inventory_2:",
              "browse products and images with their poses, or import a catalogue"),
    PageEntry("train", "pages/2_Train.py", "Train", ":material/model_training:",
              "extract poses and train a run: pose clusters ranked per cohort"),
    PageEntry("clusters", "pages/3_Clusters.py", "Clusters", ":material/bubble_chart:",
              "the map of reference poses; describe each pose cluster"),
    PageEntry("tune", "pages/4_Tune_K.py", "Tune K", ":material/tune:",
              "compare numbers of clusters, then retrain with the best"),
    PageEntry("product", "pages/5_Product.py", "Product", ":material/checkroom:",
              "one product's (or uploaded photos') missing poses; review them"),
    PageEntry("report", "pages/6_Report.py", "Report", ":material/table_view:",
              "every subject product with its missing poses, as CSV or JSON"),
    PageEntry("evaluate", "pages/7_Evaluate.py", "Evaluate", ":material/fact_check:",
              "how good the suggestions are, per subcategory"),
    PageEntry("dashboard", "pages/8_Dashboard.py", "Dashboard", ":material/dashboard:",
              "the catalogue at a glance: completeness by cohort, the poses missing most often"),
    PageEntry("label_views", "pages/9_Label_views.py", "Label views", ":material/label:",
              "label what images show (facing, framing), the ones the view reader is least sure of first"),
)
ENTRIES = {p.key: p for p in REGISTRY}
HOME = ENTRIES["home"].script
PAGES = {p.key: p.script for p in REGISTRY if p.key != "home"}   # key -> script, the pages besides Home


def error_message(exc: BaseException) -> str:
    return jobs.friendly_error(exc)


@contextlib.contextmanager
def engine_errors(what: str | None = None):
    """Show an engine error as st.error (no traceback); the rest of the block is skipped."""
    try:
        yield
    except CorruptDatabase:   # not this block's error: the page frame shows the damaged-database page
        raise
    except ENGINE_ERRORS as exc:
        log.warning("%s: %s", what or "engine error", exc, exc_info=log.isEnabledFor(logging.DEBUG))
        msg = error_message(exc)
        st.error(f"{what}: {msg}" if what else msg, icon=":material/error:")


# -- store and runs ----------------------------------------------------------------------
def data_dir() -> str:
    return str(resolve_data_dir())


@st.cache_resource(show_spinner=False)
def store_at(path: str) -> Store:
    """The one Store of a data dir for the whole server (st.cache_resource)."""
    return Store(path)


def get_store() -> Store:
    return store_at(data_dir())


@st.cache_resource(show_spinner=False, max_entries=8)
def cached_run(data_dir_: str, run_id: str, run_path: str) -> Run:
    """The registered run, checked against the digest the store recorded, loaded once per server
    (st.cache_resource; ``run_path`` keys the cache: a moved data dir loads afresh). Cached loaders
    elsewhere take these plain keys; pages call :func:`get_run`."""
    return load_registered(store_at(data_dir_), run_id)


def run_path(store: Store, run_id: str) -> str:
    return str(store.run_path(run_id))


def get_run(store: Store, run_id: str | None = None) -> Run:
    """A run (the active one by default), loaded once per process and kept (st.cache_resource)."""
    run_id = run_id or store.active_run_id()
    if run_id is None:
        raise LookupError("no trained run yet")
    return cached_run(str(store.data_dir), run_id, run_path(store, run_id))


def active_run_or_none(store: Store) -> Run | None:
    if store.active_run_id() is None:
        return None
    return get_run(store)


# -- tables (st.cache_data, keyed by what changes them) -----------------------------------
def catalogue_version(store: Store) -> str:
    return views.catalogue_version(store)


@st.cache_data(show_spinner=False, max_entries=8)
def _products(data_dir_: str, version: str) -> pd.DataFrame:
    return store_at(data_dir_).products()


@st.cache_data(show_spinner=False, max_entries=8)
def _images(data_dir_: str, version: str) -> pd.DataFrame:
    return store_at(data_dir_).images()


def products_table(store: Store) -> pd.DataFrame:
    return _products(str(store.data_dir), catalogue_version(store))


def images_table(store: Store) -> pd.DataFrame:
    return _images(str(store.data_dir), catalogue_version(store))


@st.cache_data(show_spinner=False, max_entries=8)
def _image_status(data_dir_: str, version: str, pose_version: str, backend: str | None,
                  backend_version: str | None) -> pd.DataFrame:
    return views.image_status(store_at(data_dir_), backend, backend_version)


def image_status_table(store: Store, backend: str | None, version: str | None) -> pd.DataFrame:
    return _image_status(str(store.data_dir), catalogue_version(store), views.pose_cache_version(store),
                         backend, version)


# -- pose backend and suggester (st.cache_resource) ---------------------------------------
@st.cache_resource(show_spinner=False)
def _shared_backend(data_dir_: str, identity: str, _run: Run) -> SharedBackend:
    """One pose model per (data dir, backend, version, settings) for the whole server."""
    return SharedBackend.for_run(_run, data_dir_)


def shared_backend(data_dir_: str, run: Run) -> SharedBackend:
    """The run's pose backend, loaded by the library on first use and shared by every session."""
    identity = json.dumps([*run.info.identity,
                           run.config.pose_options().params], sort_keys=True, default=str)
    return _shared_backend(data_dir_, identity, run)


@st.cache_resource(show_spinner=False, max_entries=4)
def _suggester(data_dir_: str, run_id: str, run_path_: str, cat_version: str, desc_version: int):
    from unpose_core.suggestions import Suggester

    store = store_at(data_dir_)
    run = cached_run(data_dir_, run_id, run_path_)
    backend = shared_backend(data_dir_, run)
    return Suggester(store, run, n_references=4, backend=backend), threading.Lock()


def get_suggester(store: Store, run: Run):
    """(Suggester, lock) for the run; rebuilt when the catalogue or a description changes."""
    return _suggester(str(store.data_dir), run.run_id, str(run.path), catalogue_version(store),
                      views.descriptions_version(store, run.run_id))


@st.cache_data(show_spinner=False, max_entries=8)
def _report(data_dir_: str, run_id: str, run_path_: str, cat_version: str, desc_version: int,
            hints_version: int) -> pd.DataFrame:
    from unpose_core.outputs.report import report

    return report(store_at(data_dir_), cached_run(data_dir_, run_id, run_path_))


def report_table(store: Store, run: Run) -> pd.DataFrame:
    """Every subject product's missing poses (outputs.report.report); rebuilt when the catalogue, a
    description or a seller hint changes."""
    return _report(str(store.data_dir), run.run_id, run_path(store, run.run_id), catalogue_version(store),
                   views.descriptions_version(store, run.run_id), store.hints_version())


@st.cache_data(show_spinner=False, max_entries=4)
def _catalogue(data_dir_: str, run_id: str, run_path_: str, cat_version: str, labels_version: int,
               hints_version: int, settings_version: int = 0):
    from unpose_core.outputs import catalogue

    return catalogue(store_at(data_dir_), cached_run(data_dir_, run_id, run_path_))


def catalogue_table(store: Store, run: Run):
    """Every subject product's completeness and requests (outputs.Catalogue: the Dashboard's charts,
    the Product page's worst-first queue); rebuilt when the catalogue, a label (description, mark)
    or a hint changes, or a cohort's settings (operating.py)."""
    return _catalogue(str(store.data_dir), run.run_id, run_path(store, run.run_id), catalogue_version(store),
                      store.labels_version(run.run_id), store.hints_version(), store.cohort_settings_version())


def open_product(pid: str, came_from: str | None = None) -> None:
    """Switch to the Product page on ``pid``; ``came_from`` (a key of REGISTRY) gets a Back link there."""
    st.session_state["open_product"] = str(pid)
    st.session_state["product-mode"] = "Catalogue product"
    if came_from:
        st.session_state["product-back"] = came_from
    else:
        st.session_state.pop("product-back", None)
    st.switch_page(PAGES["product"])


def back_link() -> None:
    """On the Product page: a link back to the page that opened it (the Dashboard, the Report)."""
    came_from = st.session_state.get("product-back")
    if came_from in ENTRIES:
        entry = ENTRIES[came_from]
        st.page_link(entry.script, label=f"Back to {entry.title}", icon=":material/arrow_back:")


def relabel(keys: list[str], labels: object, name: str) -> None:
    """Keep dropdowns whose option *labels* change while their options stay (a centroid is listed
    with its description) showing what they hold. Streamlit (1.60) keeps a selectbox's or
    multiselect's value in the browser as the label: once a label changes, the browser keeps
    showing the old one and sends it back, where it matches no option any more (the Clusters page's
    Next then failed: ValueError: '0 · Profile right, upper body (46 images)' is not in list).
    Called before those widgets are drawn with ``labels``, anything that changes when their labels
    do: on a change, each widget's value (still read with the labels it was drawn with) is set
    again, which sends the new label to the browser."""
    seen, st.session_state[f"_labels-{name}"] = st.session_state.get(f"_labels-{name}"), labels
    if seen is None or seen == labels:
        return
    for key in keys:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def scroll_here(name: str, token: str) -> None:
    """Scroll the browser's view to this place in the page when ``token`` is new for ``name`` (a new
    map selection: its images, drawn below the map, show without scrolling by hand) and the place is
    not already in the upper half of the window; the reruns after it (paging, an enlarged tile)
    leave the view where the person put it. An empty element; the script runs in the page itself
    (st.html), once per new token."""
    seen, st.session_state[f"_scrolled-{name}"] = st.session_state.get(f"_scrolled-{name}"), token
    script = ("" if seen == token else
              "<script>(s => { s.style.scrollMarginTop = '4.5rem';   /* below Streamlit's top bar */"
              "setTimeout(() => { const r = s.getBoundingClientRect();"
              "  if (r.top < 70 || r.top > innerHeight / 2) s.scrollIntoView({block: 'start'}); }, 50); })"
              "(document.currentScript.parentElement)</script>")
    st.html(f"<span data-scroll='{name}' data-token='{token}'></span>{script}", unsafe_allow_javascript=True)


@st.cache_resource(show_spinner="Checking which pose backends can run here…", max_entries=8)
def _backend_problems(data_dir_: str, names: tuple[str, ...], models: tuple) -> dict[str, str | None]:
    from unpose_core.pose import backend_problem

    return {n: backend_problem(n, data_dir_) for n in names}


def backend_problems(store: Store) -> dict[str, str | None]:
    """Pose backend -> why it cannot run here (with the command that fixes it), None when it can;
    checked once per server and again when a model folder changes (an import, ``make models``)."""
    from unpose_core.pose import available_backends
    from unpose_core.pose.bundled import models_dir as bundled_dir
    from unpose_core.pose.weights import models_dir

    stamps = []
    for folder in (models_dir(store.data_dir), bundled_dir()):
        try:
            stamps.append((str(folder), folder.stat().st_mtime_ns,
                           max((p.stat().st_mtime_ns for p in folder.iterdir()), default=0)))
        except OSError:
            stamps.append((str(folder), None, None))
    return _backend_problems(str(store.data_dir), tuple(available_backends()), tuple(stamps))


# -- exports -------------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=8)
def _roots(data_dir_: str, version: str) -> set[str]:
    from unpose_core.exports import catalogue_roots

    return catalogue_roots(store_at(data_dir_).images())


def for_export(store: Store, df: pd.DataFrame) -> pd.DataFrame:
    """A table as the app's downloads give it: image paths relative to the catalogue (the manifest's
    paths), never the server's absolute ones (exports.catalogue_relative)."""
    from unpose_core.exports import catalogue_relative

    return catalogue_relative(df, _roots(str(store.data_dir), catalogue_version(store)))


def export_name(what: str, ident: str | None, ext: str) -> str:
    """Every download's file name: ``unposed-<what>-<id>.<ext>`` (the same stem for each format)."""
    import re

    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", f"unposed-{what}" + (f"-{ident}" if ident else "")).strip("._")
    return f"{stem[:120]}.{ext}"


# -- guards ------------------------------------------------------------------------------
# (summary key, label) of the catalogue counts, in the order the pages show them
CATALOGUE_METRICS = (("products", "Products"), ("images", "Images"), ("reference", "Reference products"),
                     ("subject", "Subject products"), ("no_person", "No-person images"),
                     ("failed", "Failed images"), ("pending", "Not yet extracted"))


def catalogue_metrics(summary: dict, keys: tuple[str, ...] | None = None) -> None:
    """One row of st.metric for ``app_tables.catalogue_summary`` counts (all, or ``keys``)."""
    shown = [(k, label) for k, label in CATALOGUE_METRICS if keys is None or k in keys]
    for col, (key, label) in zip(st.columns(len(shown)), shown, strict=True):
        col.metric(label, summary[key])


def has_catalogue(store: Store) -> bool:
    return store.has_catalogue()


def require_catalogue(store: Store) -> None:
    """Stop the page with a 'build the demo' offer when the data dir has no catalogue."""
    if has_catalogue(store):
        return
    from ui.jobs_view import job_panel

    st.info(f"There is no catalogue in `{store.data_dir}` yet.", icon=":material/inventory_2:")
    job = job_panel(store, key="demo-panel", kinds=("demo", "import"))
    if job is None or not job.running:
        demo_button(store)
        st.page_link(PAGES["catalogue"], label="…or import your own catalogue on the Catalogue page",
                     icon=":material/upload:")
    st.stop()


def demo_button(store: Store, k: int = TrainConfig.k) -> None:
    if st.button(f"Build the demo catalogue and train it (K={k})", type="primary", key="build-demo",
                 icon=":material/auto_awesome:"):
        with engine_errors("Could not start the demo build"):
            jobs.start_demo(store, seed=0, k=k, by=access.current())
            st.rerun()


def require_run(store: Store) -> Run:
    """The active run, or stop the page pointing at the Train page."""
    require_catalogue(store)
    if store.active_run_id() is None:
        from ui.jobs_view import job_panel

        st.info("No trained run yet: train one to see pose clusters and suggestions.",
                icon=":material/model_training:")
        job_panel(store, key="norun-panel")
        st.page_link(PAGES["train"], label="Go to Train", icon=":material/model_training:")
        st.stop()
    try:
        return get_run(store)
    except CorruptDatabase:   # the page frame's damaged-database page
        raise
    except ENGINE_ERRORS as exc:
        st.error(f"The active run cannot be loaded: {error_message(exc)}. Pick or train another run "
                 "on the Train page.", icon=":material/error:")
        st.page_link(PAGES["train"], label="Go to Train", icon=":material/model_training:")
        st.stop()


def class_tag(c: int, run: Run) -> str:
    """How the app writes a class id (:meth:`Run.class_tag`: its number, or ∅ and the image kind)."""
    return run.class_tag(c)


def class_label(c: int | None, run: Run, descriptions: Mapping[int, Description | str]) -> str:
    if c is None:
        return "no pose"
    return f"{class_tag(c, run)} · {describe_centroid(run, descriptions, c)}"


def descriptions_map(store: Store, run: Run) -> dict[int, str]:
    return effective_descriptions(run, store.descriptions(run.run_id))
