"""The public Python API: one thin function per capability over the stage packages.

Every function takes ``data`` — a data dir path, an open :class:`~unpose_core.store.Store`,
or ``None`` for ``$UNPOSED_DATA_DIR`` (else ``~/.unposed``) — and returns a result object
that serialises (``to_dict()``, a dict or a DataFrame); ``run_id`` is a run's id, a loaded
:class:`~unpose_core.runs.Run`, or ``None`` for the active run. Long work reports through one
callback type, ``progress(Progress)``. The CLI (``unposed ...``) and the app's background jobs
are clients of these functions.

    import unpose_core as up

    up.install_demo("data")                       # or up.import_catalogue("data", "manifest.csv")
    up.train("data", k=10)                        # extract poses, cluster, rank: a run
    s = up.suggest("data", "polo-007")            # missing poses of one product
    print([m.description for m in s.missing])
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .config import ENGINES, N_REFERENCES, RATING_SCALE, PoseOptions
from .identity import Action, Actor, acting, check_import_path, performing
from .identity import record as _audit

if TYPE_CHECKING:   # imported for annotations only: `import unpose_core` stays light
    import threading

    import pandas as pd

    from .catalog.manifest import ImportReport
    from .config import SuggestConfig, TrainConfig
    from .evaluation.labels import LabelSet
    from .evaluation.protocol import EvalOptions
    from .evaluation.results import EvalResult
    from .evaluation.views import ViewsReport
    from .lineage import Activation
    from .outputs.sheet import SheetBatch
    from .pose.extract import ExtractResult
    from .progress import ProgressFn
    from .runs import Run
    from .store import Store
    from .suggestions import Suggestion
    from .training import TrainResult

@contextlib.contextmanager
def _opened(data) -> Iterator[Store]:
    """The store for ``data``; closed afterwards when this call opened it."""
    from .config import resolve_data_dir
    from .store import Store

    if isinstance(data, Store):
        yield data
        return
    store = Store(resolve_data_dir(data))
    try:
        yield store
    finally:
        store.close()


def _run_of(store: Store, run: str | Run | None) -> Run:
    """``run``: a loaded :class:`~unpose_core.runs.Run` as it is, else the run of that id (None:
    the active one), validated on load."""
    from .runs import Run, get_run

    return run if isinstance(run, Run) else get_run(store, run)


def open_store(data: str | os.PathLike | None = None) -> Store:
    """Open (creating or upgrading when needed) the data dir's store; close it when done."""
    from .config import resolve_data_dir
    from .store import Store

    return Store(resolve_data_dir(data))


def backup(data, dest: str | os.PathLike) -> Path:
    """A consistent copy of the data dir's database as the file ``dest`` (SQLite's online backup:
    safe while the app and jobs write; checked after). Run folders and images are plain files:
    copy them as they are. Returns ``dest``."""
    with _opened(data) as store:
        return store.backup_file(dest)


def restore(data, backup_file: str | os.PathLike, *, by: Actor | str | None = None) -> Path:
    """Make ``backup_file`` (from :func:`backup`) the data dir's database. It is checked first
    (integrity, schema version: nothing changes when it fails); the database it replaces is kept
    beside it (``unposed.sqlite.before-restore-*``, or ``.damaged-*`` when it could not be read).
    Works on a data dir whose database is damaged (:class:`~unpose_core.store.CorruptDatabase`)."""
    from .config import resolve_data_dir
    from .store import Store
    from .store import restore as _restore

    data_dir = data.data_dir if isinstance(data, Store) else resolve_data_dir(data)
    actor = acting(data_dir, by, Action.RESTORE)   # refused before anything is replaced
    out = _restore(data_dir, backup_file)
    with _opened(data_dir) as store:   # the audit row goes into the restored database
        _audit(store, actor, Action.RESTORE, "database", {"from": str(backup_file)})
    return out


def import_catalogue(data, manifest: str | os.PathLike, images: str | os.PathLike | None = None,
                     progress: ProgressFn | None = None, *, rating_scale: float = RATING_SCALE,
                     by: Actor | str | None = None) -> ImportReport:
    """Validate a CSV/Parquet manifest and its image folder and, when any row is usable, make it
    the data dir's catalogue. Bad rows never stop the import: each gets a reason in the report.
    ``rating_scale``: the highest ``avg_rating`` (larger ones are refused)."""
    from .catalog.manifest import import_into_store

    with _opened(data) as store, performing(store, by, Action.IMPORT, "catalogue",
                                            {"manifest": str(manifest), "images": images and str(images)}) as actor:
        for p in (manifest, images):
            if p is not None:
                check_import_path(store.data_dir, actor, p)
        return import_into_store(store, manifest, images, progress, rating_scale=rating_scale)


def import_deepfashion(data, folder: str | os.PathLike, progress: ProgressFn | None = None, *,
                       by: Actor | str | None = None) -> tuple:
    """Import a local copy of DeepFashion In-shop (``img/GENDER/Category/id_*/NN_V_view.jpg``) as
    the catalogue: returns (the folder scan, the :class:`ImportReport`); nothing usable: ValueError."""
    from .catalog.importers import import_deepfashion as _import

    with _opened(data) as store, performing(store, by, Action.IMPORT, "catalogue",
                                            {"deepfashion": str(folder)}) as actor:
        check_import_path(store.data_dir, actor, folder)
        return _import(store, folder, progress)


def install_demo(data=None, seed: int = 0, progress: ProgressFn | None = None, *,
                 by: Actor | str | None = None) -> ImportReport:
    """Build the licensed demo catalogue into ``<data dir>/demo`` and make it the catalogue."""
    from .catalog.demo import install_demo as _install

    with _opened(data) as store, performing(store, by, Action.IMPORT, "catalogue", {"demo": seed}):
        return _install(store, seed=seed, progress=progress)


def extract(data=None, backend: str = PoseOptions.backend, workers: int | None = None,
            progress: ProgressFn | None = None, *, engine: str = ENGINES[0], address: str | None = None,
            actors: int | None = None, **backend_params) -> ExtractResult:
    """Run a pose backend over every catalogue image not yet in the pose cache (resumable).
    ``engine="local"``: ``workers`` processes (default: one per core for big jobs); ``"ray"``:
    ``actors`` on a local Ray or the cluster at ``address`` (the ``ray`` extra). An empty
    catalogue is a ValueError."""
    from .pose.engines import check_engine, run_engine

    check_engine(engine, workers, actors, address)   # before anything is read
    with _opened(data) as store:
        if store.products().empty:
            raise ValueError("the catalogue is empty: run `unposed demo` or `unposed import` first")
        return run_engine(store, PoseOptions(backend=backend, params=backend_params), engine, workers=workers,
                          actors=actors, address=address, progress=progress)


def train(data=None, config: TrainConfig | None = None, progress: ProgressFn | None = None,
          workers: int | None = None, *, stop: threading.Event | None = None, by: Actor | str | None = None,
          **settings) -> TrainResult:
    """Extract what is missing, cluster the reference poses, rank them per cohort, save the run
    and make it active. ``settings`` are :class:`~unpose_core.config.TrainConfig` fields
    (``k=10``, ``autoencoder=True`` ...), applied over ``config``; ``stop`` (an Event) ends it early."""
    from dataclasses import replace

    from .config import TrainConfig
    from .training import train as _train

    cfg = replace(config or TrainConfig(), **settings)
    with _opened(data) as store:
        return _train(store, cfg, progress=progress, workers=workers, stop=stop, by=by)


def load_run(data=None, run_id: str | Run | None = None) -> Run:
    """A trained run (the active one by default), validated on load."""
    with _opened(data) as store:
        return _run_of(store, run_id)


def suggest(data=None, product_id: str | None = None, images: Sequence[str | os.PathLike] | None = None,
            *, category: str | None = None, subcategory: str | None = None, product_type: str | None = None,
            run_id: str | Run | None = None, n_references: int = N_REFERENCES,
            config: SuggestConfig | None = None) -> Suggestion:
    """Missing poses of a catalogue product, or of image files (a seller's listing) in a cohort
    given by name: each image's pose, then the missing poses best first with example images.
    ``config`` (:class:`~unpose_core.config.SuggestConfig`): the expectation, coverage and
    confidence settings; the defaults are the ones chosen on the evaluation sweep."""
    from .suggestions import Suggester

    if (product_id is None) == (images is None):
        raise ValueError("give either a product_id or images")
    with _opened(data) as store:
        s = Suggester(store, _run_of(store, run_id), n_references=n_references, config=config)
        try:
            if product_id is not None:
                return s.for_product(product_id)
            return s.for_images([Path(p) for p in images], category, subcategory, product_type)
        finally:
            s.close()


def report(data=None, run_id: str | Run | None = None, product_ids: Sequence[str] | None = None,
           progress: ProgressFn | None = None, config: SuggestConfig | None = None, *, engine: str = ENGINES[0],
           workers: int | None = None, address: str | None = None, actors: int | None = None) -> pd.DataFrame:
    """Every subject product's missing poses (or the given products'), one row each, with the
    status and the reason when nothing is asked for.

    The poses of the products' images not cached yet under the run's backend are extracted
    first with ``engine`` -- ``"local"``: ``workers`` processes (default: one per core for big
    jobs, in-process for small ones, as :func:`extract`); ``"ray"``: ``actors`` on a local Ray
    or the cluster at ``address`` -- so the report itself only reads cached rows. The rows are
    the same whichever engine ran."""
    from .outputs.report import report as _report
    from .pose.engines import check_engine

    check_engine(engine, workers, actors, address)   # before anything is read
    with _opened(data) as store:
        return _report(store, _run_of(store, run_id), list(product_ids) if product_ids is not None else None,
                       progress=progress, config=config, engine=engine, workers=workers, address=address,
                       actors=actors)


def evaluate(data=None, labels: str | os.PathLike | LabelSet | None = None, configurations: Sequence[str] | None = None,
             progress: ProgressFn | None = None, *, options: EvalOptions | None = None, workers: int | None = None,
             save: bool = False, by: Actor | str | None = None, **settings) -> EvalResult:
    """Hide-and-complete evaluation against labelled views (the paper's Table 1 and baselines).
    ``labels``: a CSV, a loaded ``LabelSet`` (:func:`evaluation_labels`) or None for the catalogue's.
    ``configurations``: e.g. ``["blazepose", "blazepose+ae"]``; ``settings`` are
    :class:`~unpose_core.evaluation.protocol.EvalOptions` fields (``k``, ``seeds``, ``draws`` ...),
    applied over ``options``. ``save``: also keep it with the data dir's results (the app's
    Evaluate page shows them; :func:`save_evaluation` saves one later)."""
    from dataclasses import replace

    from .evaluation.judgements import load_labels
    from .evaluation.labels import LabelSet
    from .evaluation.protocol import Configuration, EvalOptions
    from .evaluation.protocol import evaluate as _evaluate
    from .evaluation.results import save_result

    configs = [Configuration.parse(c) for c in configurations] if configurations else None
    opts = replace(options or EvalOptions(), **settings)
    with _opened(data) as store, performing(store, by, Action.EVALUATE, "evaluation",
                                            {"configurations": configurations}):
        labels = labels if isinstance(labels, LabelSet) else load_labels(store, labels)
        res = _evaluate(store, labels, configs, opts, progress=progress, workers=workers)
        if save:
            save_result(store, res)
        return res


def save_evaluation(data, result: EvalResult) -> Path:
    """Keep an evaluation's result with the data dir's others (a folder of plain files); its path."""
    from .evaluation.results import save_result

    with _opened(data) as store:
        return save_result(store, result)


def evaluation_labels(data=None, labels: str | os.PathLike | None = None):
    """The labels an evaluation scores against: a CSV's image/product rows, else the catalogue's
    ``pose_label`` column, plus reviewers' judgements (a ``LabelSet`` with ``summary()``)."""
    from .evaluation.judgements import load_labels

    with _opened(data) as store:
        return load_labels(store, labels)


def judgements(data=None, run_id: str | None = None) -> pd.DataFrame | None:
    """Reviewers' verdicts on a run's suggestions (the active run by default) as a table of
    accuracy and precision per configuration; None when no run is active."""
    from .evaluation.judgements import judgement_table

    with _opened(data) as store:
        run_id = run_id or store.active_run_id()
        return judgement_table(store, run_id) if run_id else None


def submit_review(data, product_id: str, verdicts: Sequence, by: str, run_id: str | Run | None = None,
                  actor=None):
    """Store a reviewer's verdicts on one product's pose groups (``records.GroupVerdict``, or dicts
    with verdict, members, label, rank, photo) in one go; returns the ``records.Review``.
    ``actor``: who acts (``identity.Actor``, or how a local call came: 'cli', 'app'), a reviewer at least."""
    from .records import GroupVerdict
    from .reviews import submit_review as submit

    vs = [v if isinstance(v, GroupVerdict) else GroupVerdict(**v) for v in verdicts]
    with _opened(data) as store:
        return submit(store, _run_of(store, run_id), product_id, vs, by, actor=actor)


def cohorts(data=None, run_id: str | Run | None = None, *, tune: bool = False, reset: str | None = None,
            by: str | None = None, min_reviews: int | None = None, actor=None) -> dict:
    """Each cohort's suggestion settings and where they came from (defaults, tuned from reviews,
    reset). ``tune``: first choose the settings of every cohort with enough reviewed products
    (``operating``; ``min_reviews``, default ``OperatingOptions.min_reviews``) by F1 on the reviews;
    ``reset``: first put that cohort (key or name) back on the defaults. ``by``: who did it;
    ``actor``: who acts (``identity``; tuning and resetting need an analyst)."""
    from .evaluation.tuning import tune as tune_cohorts
    from .operating import OperatingOptions, cohort_table
    from .operating import reset as reset_cohort

    with _opened(data) as store:
        run = _run_of(store, run_id)
        out: dict = {"run_id": run.run_id}
        if reset is not None:
            row = reset_cohort(store, reset, by, actor=actor)
            out["reset"] = row.cohort
        if tune:
            opts = OperatingOptions() if min_reviews is None else OperatingOptions(min_reviews=min_reviews)
            out["tuning"] = tune_cohorts(store, run, opts, by=by, actor=actor).to_dict()
        out["cohorts"] = cohort_table(store, run)
        return out


def base_train_config(data=None, k: int | None = None) -> TrainConfig:
    """The training settings an evaluation starts from: the active run's (selection, floor ...)
    with K = ``k`` (default: the active run's, else ``TrainConfig.k``)."""
    from .evaluation.protocol import EvalOptions, base_config

    with _opened(data) as store:
        return base_config(store, EvalOptions(k=k))


def tune_k(data, run_id: str | None, ks: Sequence[int], sample: int = 5000, seed: int = 0,
           progress: ProgressFn | None = None, *, by: Actor | str | None = None) -> dict:
    """K-Means for each K over a run's reference poses (cluster.sweep_k): inertia, silhouette and,
    when the catalogue has pose labels, purity per K, as plain rows (non-finite values -> None)."""
    import numpy as np

    from .cluster import sweep_k, sweep_ks
    from .progress import Progress
    from .projection import reference_embeddings

    ks = sweep_ks(ks)
    with _opened(data) as store, performing(store, by, Action.TUNE, f"run {run_id or 'active'}", {"ks": ks}):
        run = _run_of(store, run_id)
        if progress:
            progress(Progress("sweep", 0, len(ks), "loading reference poses"))
        frame, raw = reference_embeddings(store, run)
    X = run.to_space(raw)
    if len(X) < max(ks):
        raise ValueError(f"only {len(X)} reference images show a person; the largest K must be at most that")
    labels = frame.get("pose_label")
    has_labels = labels is not None and labels.notna().any()
    rows = sweep_k(X, ks, seed=seed, labels=labels.to_numpy(object) if has_labels else None,
                   sample=sample, progress=progress, feature_weights=run.space_weights())
    for r in rows:
        for key, v in list(r.items()):
            if isinstance(v, float) and not np.isfinite(v):
                r[key] = None
    return {"run_id": run.run_id, "ks": list(ks), "rows": rows, "n_points": int(len(X)),
            "has_labels": bool(has_labels), "sample": sample}


# -- runs ----------------------------------------------------------------------------------
def list_runs(data=None) -> pd.DataFrame:
    """The trained runs, oldest first, with an ``active`` column (the one suggestions use)."""
    with _opened(data) as store:
        df = store.runs()
        df["active"] = df["run_id"] == store.active_run_id() if len(df) else []
        return df


def activate_run(data, run_id: str, keep_unmatched: bool = False, by: Actor | str | None = None) -> Activation:
    """Make a trained run the active one; a run never active before gets the descriptions and
    marks of the run active now, carried to its matching centroids (what was carried, what
    was not and why: the :class:`Activation`). ``keep_unmatched``: activate even when the
    active run cannot be read, listing its labels as unplaced."""
    from .lineage import activate_run as _activate

    with _opened(data) as store:
        return _activate(store, run_id, keep_unmatched=keep_unmatched, by=by)


# -- descriptions: what people call the pose clusters ------------------------------------
def _unplaced_dict(u) -> dict:
    return {"id": u.id, "kind": u.kind, "text": u.text, "what": u.what(), "source": u.source,
            "is_description": u.is_description, "anchors": [a.to_dict() | {"profile": None} for a in u.anchors]}


def centroid_descriptions(data=None, run_id: str | Run | None = None) -> dict:
    """Each centroid of a run (the active one by default) with what it is called -- the human
    description when one is written, else the automatic one -- its size and review status, and
    the unplaced descriptions and marks no centroid of the run matched."""
    from .descriptions import describe_centroid

    with _opened(data) as store:
        run = _run_of(store, run_id)
        desc = store.descriptions(run.run_id)
        unplaced = store.unplaced(run.run_id)
    return {"run_id": run.run_id, "centroids": [
        {"centroid": c.id, "size": c.size, "description": describe_centroid(run, desc, c.id),
         "label": describe_centroid(run, desc, c.id, mark_auto=True), "human": c.id in desc,
         "status": str(desc[c.id].status) if c.id in desc else "auto",
         "source": desc[c.id].source if c.id in desc else None} for c in run.centroids],
        "unplaced": [_unplaced_dict(u) for u in unplaced]}


def set_description(data, centroid: int, text: str, run_id: str | Run | None = None,
                    source: Actor | str = "api") -> str:
    """Write the human description of a centroid of a run (the active one by default), bound to
    that run: when a retrain made another run active meanwhile, it is carried there too (or
    listed unplaced there). Returns the run where it now counts."""
    from .lineage import describe

    with _opened(data) as store:
        run = _run_of(store, run_id)
        if not 0 <= centroid < run.n_classes:
            raise ValueError(f"centroid must be within 0..{run.n_classes - 1}")
        return describe(store, run.run_id, centroid, text, "ok", source).current_in


def mark_reviewed(data, centroid: int, run_id: str | Run | None = None, source: Actor | str = "api"):
    """The description carried onto ``centroid`` is checked: its [needs review] is cleared."""
    from .descriptions import mark_reviewed as _reviewed

    with _opened(data) as store:
        return _reviewed(store, _run_of(store, run_id), centroid, source)


def place_unplaced(data, item_id: int, centroids: Sequence[int], run_id: str | Run | None = None,
                   source: Actor | str = "api"):
    """Put an unplaced description or mark on centroids of a run (the active one by default)."""
    from .descriptions import place_unplaced as _place

    with _opened(data) as store:
        return _place(store, _run_of(store, run_id), item_id, list(centroids), source)


def dismiss_unplaced(data, item_id: int, run_id: str | Run | None = None, source: Actor | str = "api"):
    """Drop an unplaced description or mark (it stays in the history)."""
    from .descriptions import dismiss_unplaced as _dismiss

    with _opened(data) as store:
        return _dismiss(store, _run_of(store, run_id), item_id, source)


# -- pose groups and the analyst's marks ---------------------------------------------------
def pose_groups(data=None, run_id: str | Run | None = None) -> dict:
    """A run's pose groups (same description, mirror pairs, the analyst's merges), their marks,
    the merge proposals at the data dir's separation, and the unplaced marks."""
    import unpose_core.groups as grp


    with _opened(data) as store:
        run = _run_of(store, run_id)
        rows = grp.group_rows(store, run, grp.pose_groups(store, run))
        for r in rows:   # the tags a person reads next to each centroid's name
            r["tags"] = {c: run.class_tag(c) for c in r["named"]}
        q = grp.merge_separation(store)
        props = grp.proposals(store, run, q)
        marks = [u for u in store.unplaced(run.run_id) if not u.is_description]
    return {"run_id": run.run_id, "n_classes": run.n_classes, "groups": rows, "separation": q,
            "proposals": [p.to_dict() for p in props], "unplaced_marks": [_unplaced_dict(u) for u in marks]}


def set_merge_separation(data, separation: float, *, by: Actor | str | None = None) -> None:
    """Keep the data dir's merge-proposal setting (:func:`merge_proposals`), checked first."""
    import unpose_core.groups as grp

    with _opened(data) as store, performing(store, by, Action.GROUPS, "merge separation", {"value": separation}):
        grp.set_merge_separation(store, separation)


def merge_proposals(data=None, run_id: str | Run | None = None, separation: float | None = None,
                    save: bool = False, by: Actor | str | None = None) -> dict:
    """The merges the engine proposes: centroids whose centres are closer than ``separation`` x
    their members' spread (default: the data dir's setting), or mirror partners. ``save``: keep
    ``separation`` as the data dir's setting."""
    import unpose_core.groups as grp


    with _opened(data) as store:
        if separation is not None and save:
            with performing(store, by, Action.GROUPS, "merge separation", {"value": separation}):
                grp.set_merge_separation(store, separation)
        run = _run_of(store, run_id)
        q = grp.merge_separation(store) if separation is None else separation
        return {"run_id": run.run_id, "separation": q, "proposals": [p.to_dict() for p in grp.proposals(store, run, q)]}


def edit_groups(data, action: str, centroids: Sequence[int], run_id: str | Run | None = None, *,
                note: str | None = None, undo: bool = False, source: Actor | str = "api") -> dict:
    """One of the analyst's marks on a run's pose groups: ``merge`` (these centroids are one pose),
    ``split`` (a centroid is a pose of its own), ``exclude`` (never ask for it; ``undo`` asks
    again), ``desirable`` (a pose to ask for), ``accept`` / ``reject`` (a merge proposal of two
    centroids). Returns the groups after it ({"groups": ...}, ``group_of`` each centroid)."""
    import unpose_core.groups as grp


    centroids = [int(c) for c in centroids]
    need = {"merge": None, "split": 1, "exclude": 1, "desirable": 1, "accept": 2, "reject": 2}
    if action not in need:
        raise ValueError(f"action must be one of {', '.join(need)}, got {action!r}")
    if (need[action] is not None and len(centroids) != need[action]) or not centroids:
        raise ValueError(f"{action} takes {need[action] or 'one or more'} centroid(s), got {len(centroids)}")
    with _opened(data) as store:
        run = _run_of(store, run_id)
        if action == "merge":
            gs = grp.merge(store, run, centroids, source, note)
        elif action == "split":
            gs = grp.split(store, run, centroids[0], source)
        elif action == "exclude":
            gs = grp.exclude(store, run, centroids[0], note, source, undo=undo)
        elif action == "desirable":
            gs = grp.mark_desirable(store, run, centroids[0], source, undo=undo)
        elif action == "accept":
            gs = grp.accept_proposal(store, run, *centroids, source)
        else:
            gs = grp.reject_proposal(store, run, *centroids, source)
        return {"run_id": run.run_id, "group_of": {c: gs.group_of(c) for c in centroids},
                "members": {c: list(gs.get(gs.group_of(c)).members) for c in centroids}}


# -- seller hints --------------------------------------------------------------------------
def group_hints(data=None, run_id: str | Run | None = None) -> dict:
    """The hint a seller sees for each pose group of a run (edited, else generated), and the
    edited hints no group of this run has (kept for when the description returns)."""
    from .outputs import hints as hnt

    with _opened(data) as store:
        run = _run_of(store, run_id)
        return {"run_id": run.run_id, "groups": [h.to_dict() for h in hnt.group_hints(store, run)],
                "unmatched": hnt.orphan_hints(store, run)}


def set_hint(data, description: str, hint: str, source: Actor | str = "api") -> str:
    """Set the seller hint of the pose group with this description ('' clears it: the generated
    hint again); kept across retraining. Returns the key it is stored under."""
    from .outputs.hints import set_group_hint

    with _opened(data) as store:
        return set_group_hint(store, description, hint, source)


def hint_history(data=None) -> pd.DataFrame:
    """Every seller hint set or cleared, oldest first (id, action, text_key, hint, source)."""
    with _opened(data) as store:
        return store.hint_history()


# -- seller sheets -------------------------------------------------------------------------
def seller_sheet(data, product_id: str, run_id: str | Run | None = None, config: SuggestConfig | None = None,
                 n_examples: int = N_REFERENCES) -> str:
    """One product's seller sheet: a self-contained HTML page (images embedded) of the photos
    its listing is missing, with example photos and hints."""
    from .outputs import sheet

    with _opened(data) as store:
        return sheet.product_sheet(store, _run_of(store, run_id), product_id, config, n_examples=n_examples)


def seller_sheets(data=None, cohort: str | None = None, run_id: str | Run | None = None,
                  config: SuggestConfig | None = None, n_examples: int = N_REFERENCES,
                  progress: ProgressFn | None = None) -> SheetBatch:
    """Seller sheets of every subject product (of ``cohort``, e.g. 'Clothing / T-shirts', when
    given) in one zip with an index page: a ``SheetBatch`` (``data``: the zip's bytes)."""
    from .outputs import sheet

    with _opened(data) as store:
        run = _run_of(store, run_id)
        ids = sheet.subject_ids(store, run, cohort)
        return sheet.sheets_zip(store, run, ids, config, n_examples=n_examples, progress=progress)


# -- what images show ------------------------------------------------------------------------
def describe_images(images: Sequence[str | os.PathLike], backend: str = PoseOptions.backend,
                    data=None, progress: ProgressFn | None = None, **backend_params) -> list[dict]:
    """What each image file shows (no catalogue needed): kind, facing, framing, flags with their
    confidence and evidence, and which images are copies of an earlier one."""
    from .evaluation.views import measure_views
    from .listing import listing_duplicates

    paths = [str(Path(p)) for p in images]
    for p in paths:
        if not Path(p).is_file():
            raise FileNotFoundError(f"image not found: {p}")
    rows, seen, _, _ = measure_views(paths, PoseOptions(backend=backend, params=backend_params), progress,
                                     data_dir=_data_dir(data))
    copy_of = {i: g[0] for g in listing_duplicates(rows) for i in g[1:]}
    return [{"image": p, "status": str(r.status), "error": r.error,
             "duplicate_of": paths[copy_of[i]] if i in copy_of else None,
             **({} if v is None else v.to_dict())} for i, (p, r, v) in enumerate(zip(paths, rows, seen))]


def evaluate_views(labels: str | os.PathLike, images: str | os.PathLike | None = None,
                   backend: str = PoseOptions.backend, ks: Sequence[int] | None = None, data=None,
                   progress: ProgressFn | None = None, **backend_params) -> ViewsReport:
    """Score the view rules on labelled images (a CSV of file, kind, facing or yaw_deg, framing,
    n_people; ``images``: their folder, default the CSV's) and K-Means purity for ``ks``."""
    from .evaluation.views import PURITY_KS, read_labels
    from .evaluation.views import evaluate_views as _evaluate_views

    return _evaluate_views(read_labels(labels, images), PoseOptions(backend=backend, params=backend_params),
                           ks=list(ks or PURITY_KS), progress=progress, data_dir=_data_dir(data))


def _data_dir(data) -> Path:
    """The folder of ``data`` (a path, a store or None) without opening a store."""
    from .config import resolve_data_dir
    from .store import Store

    return Path(data.data_dir) if isinstance(data, Store) else resolve_data_dir(data)


# -- pose model weights the user supplies ---------------------------------------------------
def import_model(data, path: str | os.PathLike, kind: str, *, config_name: str | None = None,
                 trust: bool = False, by: Actor | str | None = None) -> dict:
    """Import pose weights into the data dir: ``kind="mmpose"`` converts an MMPose HRNet .pth
    checkpoint to safetensors (a pickle: only with ``trust``), ``kind="rtmpose"`` an RTMPose
    ONNX model. Returns the model's record (name, path, sha256 ...). Needs an admin."""
    from .pose import weights

    actor = acting(_data_dir(data), by, Action.IMPORT)
    check_import_path(_data_dir(data), actor, path)

    if kind == "mmpose":
        return weights.import_mmpose_checkpoint(path, _data_dir(data),
                                                config_name=config_name or weights.DEFAULT_MMPOSE_CONFIG,
                                                trust=trust)
    if kind == "rtmpose":
        return weights.import_rtmpose_onnx(path, _data_dir(data))
    raise ValueError(f"kind must be mmpose or rtmpose, got {kind!r}")


def calibrate_visibility(data, labels: str | os.PathLike, backend: str, images: str | os.PathLike | None = None,
                         *, save: bool = True, seed: int = 0, progress: ProgressFn | None = None,
                         by: Actor | str | None = None):
    """Fit ``backend``'s joint-score map to BlazePose's visibility scale on the labelled photos of
    ``labels`` (a CSV as for :func:`evaluate_views`; ``images``: their folder, default the CSV's),
    with a check on photos held out of the fit (:func:`evaluation.calibration.fit_visibility`).
    With ``save`` the map becomes the data dir's own for that backend (``calibrations/<backend>.json``):
    the backend reads through it from then on, under a new version, so its poses are extracted
    again and runs trained before ask for a retrain. Saving needs an admin; it is audited.
    Returns the :class:`evaluation.calibration.CalibrationReport`."""
    from .evaluation.calibration import fit_visibility
    from .evaluation.views import read_labels
    from .pose.calibration import save_calibration

    data_dir = _data_dir(data)
    actor = acting(data_dir, by, Action.IMPORT) if save else None
    if actor is not None:
        check_import_path(data_dir, actor, labels)
    frame = read_labels(labels, images)
    frame.attrs["source"] = Path(labels).name
    report = fit_visibility(frame, backend, data_dir, seed=seed, progress=progress)
    if actor is not None:
        report.path = str(save_calibration(data_dir, backend, report.calibration, by=actor.name))
        with _opened(data) as store:
            _audit(store, actor, Action.IMPORT, f"calibration {backend}",
                   {"labels": str(labels), "images": report.n_images, "version": report.calibration.version})
    return report


def list_models(data=None) -> list[dict]:
    """The pose weights imported into the data dir (name, kind, sha256, path), then the pretrained
    ones fetched at set-up (``kind="bundled"``: installed or not, source, licence)."""
    from .pose.bundled import list_bundled
    from .pose.weights import list_models as _list

    return _list(_data_dir(data)) + [{**b, "kind": "bundled"} for b in list_bundled()]


# -- the data dir at a glance ---------------------------------------------------------------
def status(data=None) -> dict:
    """Counts of the data dir: products, images, import problems, the active run, and the
    reference and subject products the default selection finds."""
    from .catalog.selection import select_sets
    from .config import SelectionConfig

    with _opened(data) as store:
        products, images = store.products(), store.images()
        sel = select_sets(products, images, SelectionConfig()) if len(products) else None
        return {"data_dir": str(store.data_dir), "products": len(products), "images": len(images),
                "import_problems": len(store.import_problems()), "active_run": store.active_run_id(),
                "selection": sel.counts() if sel else None}


# -- view labels and the learned view reader -------------------------------------------------------

def _user(user: str | None) -> str | None:
    from .reading import acting_user

    return acting_user(user)


def label_views(data, hashes: Sequence[str], facing: str | None = None, framing: str | None = None,
                kind: str | None = None, no_pose: bool = False, source: str = "analyst",
                user: str | None = None, note: str | None = None, *, by: Actor | str | None = None) -> list:
    """Label images (by content hash) with what they show: ``facing`` (views.Facing values, or
    side-less ``three_quarter`` / ``profile``), ``framing`` (views.Framing values), ``kind``
    (views.ImageKind values) or ``no_pose=True`` ("no pose visible"). ``source``: ``analyst``
    or ``reviewer`` (``manifest`` / ``filename`` are the catalogue's). Appended to the one
    label table with the user (default: the OS user) and time; parts not given are kept from
    the image's label in force. Returns the stored :class:`views.labels.ViewLabel` rows. The
    reading changes after :func:`train_view_reader`."""
    from .reading import label_views as _label

    with _opened(data) as store:
        return _label(store, hashes, facing, framing, kind, no_pose, source, _user(user), note, by=by)


def view_labels(data=None, hashes: Sequence[str] | None = None, history: bool = False) -> pd.DataFrame:
    """The view labels in force, one row per image (content_hash, facing, framing, kind, no_pose,
    source, user, created_at, words, note), or every row ever added (``history=True``), of the
    given images or all."""
    import pandas as pd

    with _opened(data) as store:
        rows = store.view_label_history(hashes) if history else list(store.view_labels(hashes).values())
    cols = ["id", "content_hash", "facing", "framing", "kind", "no_pose", "source", "user", "created_at",
            "words", "note", "text"]
    return pd.DataFrame([r.to_dict() for r in rows], columns=cols)


def import_view_labels(data=None, filename_words: bool = False, user: str | None = None) -> list:
    """Read the catalogue's own words into view labels: its ``pose_label`` / ``view`` / ``shot``
    columns through the vocabulary, and the file names' words when ``filename_words`` (opt-in).
    Only what is new for an image is appended. Every import runs the columns' part itself."""
    from .catalog.manifest import labels_from_catalogue

    with _opened(data) as store:
        return labels_from_catalogue(store, filename_words, _user(user) if user is not None else None)


def view_vocabulary(data=None) -> dict:
    """word -> what it says (facing, framing, kind, no_pose, side): built-in plus this data dir's edits."""
    from .catalog.manifest import vocabulary

    with _opened(data) as store:
        return {w: m.to_dict() for w, m in sorted(vocabulary(store).items())}


def set_view_words(data, words: dict, user: str | None = None) -> dict:
    """Edit the vocabulary: ``{"rueckseite": {"facing": "back"}, "detail": None}`` (None removes a
    word, also a built-in one). Returns the vocabulary in force."""
    from .views.labels import WordMeaning

    parsed = {w: None if m is None else WordMeaning(**m) for w, m in words.items()}
    with _opened(data) as store:
        store.set_view_words(parsed, _user(user))
    return view_vocabulary(data)


def train_view_reader(data=None, progress: ProgressFn | None = None, backend: str = "blazepose", **options):
    """Train the catalogue's view reader on its labels plus the labelled render set, check it
    against the view rules on held-out labels, save it and make it the one that reads (see
    :mod:`unpose_core.views.reader`). ``options``: :class:`~unpose_core.views.reader.ReaderOptions`
    fields. Returns a :class:`~unpose_core.views.reader.ReaderResult` (``reader`` None without labels).
    Runs trained before it say so in their suggestions until retrained. ``backend``: the pose
    backend whose landmarks it reads."""
    from .reading import train_view_reader as _train
    from .views.reader import ReaderOptions

    with _opened(data) as store:
        return _train(store, ReaderOptions(**options) if options else None, backend=backend, progress=progress)


def view_reader_status(data=None) -> dict:
    """Which reader reads (or the rules), how many labels it learned from, its held-out accuracy
    per facing and framing next to the rules', and how many images are labelled."""
    from .reading import reader_status

    with _opened(data) as store:
        return reader_status(store)


def reader_domain_shift(data=None, seeds: int = 3, progress: ProgressFn | None = None, parts: int | None = None):
    """The learned view reader against the view rules on the labelled render set, whole outfits,
    backgrounds and lights held out of the reader's training (see
    :mod:`unpose_core.evaluation.reader`): facing and framing accuracy where the person was found.
    ``parts``: how many parts each of outfits, backgrounds and lights are split into (default
    :data:`evaluation.reader.DOMAIN_PARTS`)."""
    from .evaluation.reader import DOMAIN_PARTS, domain_shift

    with _opened(data) as store:
        return domain_shift(store, seeds=seeds, parts=parts or DOMAIN_PARTS, progress=progress)


def label_budget_curve(data, budgets: str | Sequence[str], configuration: str | None = None,
                       progress: ProgressFn | None = None, *, options: EvalOptions | None = None,
                       workers: int | None = None):
    """View accuracy and suggestion accuracy / precision per label budget (``"0,25,100,all"``:
    counts, shares as ``10%`` or ``0.1``, or ``all`` of the reference images whose view labels the
    reader may learn from; 0 = the view rules). Returns a ``BudgetResult`` (``table`` per budget
    and seed, ``summary()`` per budget)."""
    from .evaluation.protocol import Configuration
    from .evaluation.reader import label_budgets, parse_budgets

    parsed = parse_budgets(budgets) if isinstance(budgets, str) else [str(b) for b in budgets]
    configs = [Configuration.parse(configuration)] if configuration else None
    with _opened(data) as store:
        opts = options
        if opts is None:
            from .evaluation.protocol import EvalOptions as _EvalOptions
            opts = _EvalOptions()
        return label_budgets(store, parsed, seeds=opts.seeds, first_seed=opts.first_seed, eval_options=opts,
                             configurations=configs, progress=progress, workers=workers)


# -- who did what: histories, revert, undo, the audit log -------------------------------------
def history(data, what: str, key: str | int | None = None, run_id: str | Run | None = None) -> list[dict]:
    """The history of one object, oldest first (id, at, by, what, text): ``what="description"`` with
    ``key`` the centroid, ``"groups"`` (one row per pose-group edit, its id to :func:`undo_groups_edit`),
    ``"hint"`` with ``key`` the group's description (None: every hint)."""
    from .changes import description_history, hint_history, mark_history

    with _opened(data) as store:
        if what == "hint":
            return [h.to_dict() for h in hint_history(store, None if key is None else str(key))]
        run = _run_of(store, run_id)
        if what == "description":
            if key is None:
                raise ValueError("the history of a description needs its centroid")
            return [h.to_dict() for h in description_history(store, run.run_id, int(key))]
        if what == "groups":
            return [h.to_dict() for h in mark_history(store, run.run_id)]
    raise ValueError(f"what must be description, groups or hint, got {what!r}")


def revert_description(data, centroid: int, history_id: int, run_id: str | Run | None = None, *,
                       by: Actor | str | None = None) -> str:
    """The description of ``centroid`` back to its text at history row ``history_id`` (an analyst)."""
    from .changes import revert_description as _revert

    with _opened(data) as store:
        return _revert(store, _run_of(store, run_id), centroid, history_id, by)


def undo_groups_edit(data, edit_id: int, run_id: str | Run | None = None, *, by: Actor | str | None = None) -> dict:
    """Take back one pose-group edit (a merge, split, exclusion ...; ids from ``history(data, "groups")``)."""
    from .changes import undo_mark_edit

    with _opened(data) as store:
        return undo_mark_edit(store, _run_of(store, run_id), edit_id, by).to_dict()


def audit(data=None, since: float | None = None, *, by: Actor | str | None = None) -> pd.DataFrame:
    """The audit log (who, when, action, object, details), oldest first; ``since``: epoch seconds.
    Only admins read it."""
    from .changes import audit_table

    with _opened(data) as store:
        acting(store.data_dir, by, Action.ROLES)
        return audit_table(store, since)


__all__ = ["activate_run", "audit", "backup", "base_train_config", "calibrate_visibility", "centroid_descriptions",
           "cohorts", "describe_images", "dismiss_unplaced", "edit_groups", "evaluate", "evaluate_views",
           "evaluation_labels", "extract", "group_hints", "hint_history", "history", "import_catalogue",
           "import_deepfashion", "import_model", "import_view_labels", "install_demo", "judgements",
           "label_budget_curve", "label_views", "list_models", "list_runs", "load_run", "mark_reviewed",
           "merge_proposals", "open_store", "place_unplaced", "pose_groups", "reader_domain_shift", "report",
           "restore", "revert_description", "save_evaluation", "seller_sheet", "seller_sheets", "set_description",
           "set_hint", "set_view_words", "status", "submit_review", "suggest", "train", "train_view_reader",
           "tune_k", "undo_groups_edit", "view_labels", "view_reader_status", "view_vocabulary"]
