"""The public Python API: one thin function per capability over the stage packages.

Every function takes ``data`` — a data dir path, an open :class:`~unpose_core.store.Store`,
or ``None`` for ``$UNPOSED_DATA_DIR`` (else ``~/.unposed``) — and returns a result object
that serialises (``to_dict()`` or a DataFrame). Long work reports through one callback
type, ``progress(Progress)``. The CLI and the app call the same stage functions.

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

if TYPE_CHECKING:   # imported for annotations only: `import unpose_core` stays light
    import pandas as pd

    from .catalog.manifest import ImportReport
    from .config import SuggestConfig, TrainConfig
    from .evaluation.results import EvalResult
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


def open_store(data: str | os.PathLike | None = None) -> Store:
    """Open (creating or upgrading when needed) the data dir's store; close it when done."""
    from .config import resolve_data_dir
    from .store import Store

    return Store(resolve_data_dir(data))


def import_catalogue(data, manifest: str | os.PathLike, images: str | os.PathLike | None = None,
                     progress: ProgressFn | None = None) -> ImportReport:
    """Validate a CSV/Parquet manifest and its image folder and, when any row is usable, make it
    the data dir's catalogue. Bad rows never stop the import: each gets a reason in the report."""
    from .catalog.manifest import import_into_store

    with _opened(data) as store:
        return import_into_store(store, manifest, images, progress)


def install_demo(data=None, seed: int = 0, progress: ProgressFn | None = None) -> ImportReport:
    """Build the licensed demo catalogue into ``<data dir>/demo`` and make it the catalogue."""
    from .catalog.demo import install_demo as _install

    with _opened(data) as store:
        return _install(store, seed=seed, progress=progress)


def extract(data=None, backend: str = "blazepose", workers: int | None = None,
            progress: ProgressFn | None = None, *, engine: str = "local", address: str | None = None,
            actors: int | None = None, **backend_params) -> ExtractResult:
    """Run a pose backend over every catalogue image not yet in the pose cache (resumable).
    ``engine="local"``: ``workers`` processes (default: one per core for big jobs); ``"ray"``:
    ``actors`` on a local Ray or the cluster at ``address`` (the ``ray`` extra)."""
    from .config import PoseOptions
    from .pose.engines import check_engine, run_engine

    check_engine(engine, workers, actors, address)   # before anything is read
    with _opened(data) as store:
        return run_engine(store, PoseOptions(backend=backend, params=backend_params), engine, workers=workers,
                          actors=actors, address=address, progress=progress)


def train(data=None, config: TrainConfig | None = None, progress: ProgressFn | None = None,
          workers: int | None = None, **settings) -> TrainResult:
    """Extract what is missing, cluster the reference poses, rank them per cohort, save the run
    and make it active. ``settings`` are :class:`~unpose_core.config.TrainConfig` fields
    (``k=10``, ``autoencoder=True`` ...), applied over ``config``."""
    from dataclasses import replace

    from .config import TrainConfig
    from .training import train as _train

    cfg = replace(config or TrainConfig(), **settings)
    with _opened(data) as store:
        return _train(store, cfg, progress=progress, workers=workers)


def load_run(data=None, run_id: str | None = None) -> Run:
    """A trained run (the active one by default), validated on load."""
    from .runs import get_run

    with _opened(data) as store:
        return get_run(store, run_id)


def suggest(data=None, product_id: str | None = None, images: Sequence[str | os.PathLike] | None = None,
            *, category: str | None = None, subcategory: str | None = None, product_type: str | None = None,
            run_id: str | None = None, n_references: int = 3,
            config: SuggestConfig | None = None) -> Suggestion:
    """Missing poses of a catalogue product, or of image files (a seller's listing) in a cohort
    given by name: each image's pose, then the missing poses best first with example images.
    ``config`` (:class:`~unpose_core.config.SuggestConfig`): the expectation, coverage and
    confidence settings; the defaults are the ones chosen on the evaluation sweep."""
    from .runs import get_run
    from .suggestions import Suggester

    if (product_id is None) == (images is None):
        raise ValueError("give either a product_id or images")
    with _opened(data) as store:
        s = Suggester(store, get_run(store, run_id), n_references=n_references, config=config)
        try:
            if product_id is not None:
                return s.for_product(product_id)
            return s.for_images([Path(p) for p in images], category, subcategory, product_type)
        finally:
            s.close()


def report(data=None, run_id: str | None = None, product_ids: Sequence[str] | None = None,
           progress: ProgressFn | None = None, config: SuggestConfig | None = None, *, engine: str = "local",
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
    from .runs import get_run

    check_engine(engine, workers, actors, address)   # before anything is read
    with _opened(data) as store:
        return _report(store, get_run(store, run_id), list(product_ids) if product_ids is not None else None,
                       progress=progress, config=config, engine=engine, workers=workers, address=address,
                       actors=actors)


def evaluate(data=None, labels: str | os.PathLike | None = None, configurations: Sequence[str] | None = None,
             progress: ProgressFn | None = None, **options) -> EvalResult:
    """Hide-and-complete evaluation against labelled views (the paper's Table 1 and baselines).
    ``configurations``: e.g. ``["blazepose", "blazepose+ae"]``; ``options`` are
    :class:`~unpose_core.evaluation.protocol.EvalOptions` fields (``k``, ``seeds``, ``draws`` ...)."""
    from .evaluation.judgements import load_labels
    from .evaluation.protocol import Configuration, EvalOptions
    from .evaluation.protocol import evaluate as _evaluate

    configs = [Configuration.parse(c) for c in configurations] if configurations else None
    with _opened(data) as store:
        return _evaluate(store, load_labels(store, labels), configs, EvalOptions(**options), progress=progress)


__all__ = ["evaluate", "extract", "import_catalogue", "install_demo", "load_run", "open_store", "report",
           "suggest", "train"]
