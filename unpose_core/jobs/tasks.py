"""The app's background jobs: train, demo build, import, K sweep, evaluation. Each job runs a
function of the public API (:mod:`unpose_core.api`), as the CLI does, in a thread. ``by`` (the
:class:`~unpose_core.identity.Actor` of the page) is checked before the job starts: a refused job
never starts (:class:`~unpose_core.identity.Forbidden`); the job's own writes are attributed to them."""
from __future__ import annotations

import threading
from pathlib import Path

import unpose_core.api as api

from ..identity import Action, Actor, acting, check_import_path
from ..progress import Progress, ProgressFn
from ..store import Store
from .runner import Job, start


# -- the app's jobs ---------------------------------------------------------------------
def start_train(store: Store, config, workers: int | None = None, umap: bool = True,
                by: Actor | str | None = None) -> Job:
    """Extract poses for the catalogue, train a run (it becomes active) and project it to 2-D."""
    from ..config import TrainConfig

    by = acting(store.data_dir, by, Action.TRAIN)
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    cfg.validate()   # bad settings fail here, in the page, not later in the thread
    params = {"config": cfg.to_dict(), "workers": workers, "umap": umap}
    return start(store, "train", lambda s, p, stop: _train_target(s, p, stop, cfg, workers, umap, by), params)


def _train_target(store: Store, progress: ProgressFn, stop: threading.Event, cfg, workers, umap, by) -> dict:
    res = api.train(store, cfg, progress=progress, workers=workers, stop=stop, by=by)
    out = res.to_dict()   # as `unposed train --json`: the run, its selection, the labels carried
    if umap:
        from ..projection import ensure_projection

        proj = ensure_projection(store, api.load_run(store, res.run_id), progress=progress)
        out["umap_seconds"] = proj.meta.get("seconds")
    return out


def start_demo(store: Store, seed: int = 0, k: int | None = None, train: bool = True,
               by: Actor | str | None = None) -> Job:
    """What `unposed demo --train` does: build + import the demo catalogue, then train (with
    K = ``k``, default the chosen default ``TrainConfig.k``)."""
    by = acting(store.data_dir, by, Action.IMPORT)
    if k is None:
        from ..config import TrainConfig
        k = TrainConfig.k
    return start(store, "demo", lambda s, p, stop: _demo_target(s, p, stop, seed, k, train, by),
                 {"seed": seed, "k": k, "train": train})


def _demo_target(store: Store, progress: ProgressFn, stop: threading.Event, seed: int, k: int,
                 do_train: bool, by: Actor) -> dict:
    from ..config import TrainConfig

    progress(Progress("demo", 0, 1, "generating demo images"))
    report = api.install_demo(store, seed, progress, by=by)
    out = {"import": report.summary()}
    if do_train:
        out.update(_train_target(store, progress, stop, TrainConfig(k=k, seed=seed), None, True, by))
    return out


def start_import(store: Store, manifest: str | Path, image_root: str | Path | None = None,
                 by: Actor | str | None = None) -> Job:
    """Validate a manifest + image folder and, when usable, replace the catalogue with it. The paths
    must be inside the data dir (uploads) or under an import root an admin configured."""
    by = acting(store.data_dir, by, Action.IMPORT)
    for path in (manifest, image_root):
        if path is not None:
            check_import_path(store.data_dir, by, path)
    manifest = str(manifest)
    return start(store, "import", lambda s, p, stop: _import_target(s, p, manifest, image_root, by),
                 {"manifest": manifest, "image_root": None if image_root is None else str(image_root)})


MAX_PROBLEMS_IN_RESULT = 500


def _import_target(store: Store, progress: ProgressFn, manifest: str, image_root, by: Actor) -> dict:
    report = api.import_catalogue(store, manifest, image_root, progress, by=by)
    d = report.to_dict()
    d["n_problems"] = len(d["problems"])
    d["problems"] = d["problems"][:MAX_PROBLEMS_IN_RESULT]
    d["summary"] = report.summary()
    if not report.applied and report.ok:
        d["summary"] = f"no usable images: {report.summary()}"
    return d


def start_sweep(store: Store, run_id: str, ks: list[int], sample: int = 5000, seed: int = 0,
                by: Actor | str | None = None) -> Job:
    """Tune K: K-Means for each K over the run's reference poses (api.tune_k)."""
    from ..cluster import sweep_ks

    by = acting(store.data_dir, by, Action.TUNE)
    ks = sweep_ks(ks)   # bad values fail here, in the page, not in the thread
    return start(store, "sweep", lambda s, p, stop: api.tune_k(s, run_id, ks, sample, seed, p, by=by),
                 {"run_id": run_id, "ks": ks, "sample": sample, "seed": seed})


def start_evaluate(store: Store, configurations: list[str], options=None, by: Actor | str | None = None) -> Job:
    """Hide-and-complete evaluation (what `unposed evaluate` does) of ``configurations`` (keys such as
    ``"blazepose"`` or ``"blazepose+ae"``) with an ``EvalOptions``; the result is saved with the others."""
    from ..evaluation.protocol import Configuration, EvalOptions

    by = acting(store.data_dir, by, Action.EVALUATE)
    opts = options if options is not None else EvalOptions()
    if not configurations:
        raise ValueError("pick at least one configuration")
    for c in configurations:   # bad keys and options fail here, not in the thread
        Configuration.parse(c)
    opts.validate()
    params = {"configurations": list(configurations), **opts.__dict__,
              "base": opts.base.to_dict() if opts.base is not None else None}
    return start(store, "evaluate", lambda s, p, stop: _evaluate_target(s, p, list(configurations), opts, by),
                 params)


def _evaluate_target(store: Store, progress: ProgressFn, configs, opts, by: Actor) -> dict:
    res = api.evaluate(store, None, configs, progress, options=opts, by=by)
    folder = api.save_evaluation(store, res)
    return {"path": str(folder), "seconds": round(res.seconds, 1), "winner_f1": res.winner("f1")}
