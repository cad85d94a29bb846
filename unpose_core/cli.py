"""`unposed ...`: a thin command line over the engine. Bad input -> one line, exit 2."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .config import DATA_DIR_ENV, SelectionConfig, TrainConfig, resolve_data_dir
from .progress import tqdm_progress

EXIT_USAGE = 2


class CliError(Exception):
    pass


def _store(args):
    from .store import Store
    return Store(resolve_data_dir(args.data_dir))


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _progress(args):
    return None if getattr(args, "quiet", False) else tqdm_progress()


def cmd_demo(args) -> int:
    from .catalog.demo import install_demo

    store = _store(args)
    if args.if_empty and not store.products().empty:
        print(f"{store.path} already holds a catalogue; left as it is")
        if args.train and store.active_run_id() is None:
            return _train(args, store)
        return 0
    report = install_demo(store, seed=args.seed, progress=_progress(args))
    print(f"demo catalogue: {report.summary()} -> {store.path}")
    if args.train:
        return _train(args, store)
    return 0


def cmd_import(args) -> int:
    from .catalog.manifest import import_into_store

    store = _store(args)
    report = import_into_store(store, args.manifest, args.images, _progress(args),
                               rating_scale=args.rating_scale)
    if args.json:
        _print_json(report.to_dict())
    if not report.ok:
        raise CliError(report.summary())
    if not report.applied:
        raise CliError(f"no usable images: {report.summary()} (details: {store.data_dir / 'import_report.json'})")
    if not args.json:
        print(report.summary())
        for r in report.problems.head(args.show_problems).itertuples():
            where = f"row {int(r.row)}" if r.row == r.row and r.row is not None else "manifest"
            print(f"  {where}: {r.kind}: {r.detail}")
        if len(report.problems) > args.show_problems:
            print(f"  ... {len(report.problems) - args.show_problems} more in {store.data_dir / 'import_report.json'}")
    return 0


def cmd_extract(args) -> int:
    from .pose.extract import extract_poses
    from .pose import PoseOptions

    store = _store(args)
    if store.products().empty:
        raise CliError("the catalogue is empty: run `unposed demo` or `unposed import` first")
    options = PoseOptions(backend=args.backend, params=_backend_params(args))
    res = extract_poses(store, options, workers=args.workers, progress=_progress(args))
    if args.json:
        _print_json(res.to_dict())
    else:
        print(f"{res.backend}: {res.n_processed} images processed ({res.images_per_second:.1f}/s, "
              f"{res.workers} worker(s)), {res.n_cached} already cached; "
              f"{res.n_person} person, {res.n_no_person} no person, {res.n_errors} failed")
    return 0


def _backend_params(args) -> dict:
    """--model NAME and --backend-param KEY=VALUE (VALUE read as JSON when it parses)."""
    params = {}
    for item in args.backend_param or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"--backend-param takes KEY=VALUE, got {item!r}")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    if args.model:
        params["model"] = args.model
    return params


def _train_config(args) -> TrainConfig:
    sel = SelectionConfig(top_k=args.top_k, min_images=args.min_images,
                          subject_max_images=args.subject_max_images)
    return TrainConfig(backend=args.backend, k=args.k, seed=args.seed, autoencoder=args.autoencoder,
                       rating_weight=args.rating_weight, count_weight=args.count_weight,
                       min_cohort_share=args.min_share, selection=sel,
                       backend_params=_backend_params(args))


def _train(args, store) -> int:
    from .training import train

    res = train(store, _train_config(args), progress=_progress(args), workers=args.workers)
    if getattr(args, "json", False):
        _print_json({"run_id": res.run_id, "path": str(res.path), "selection": res.selection,
                     "extract": res.extract, "summary": res.summary})
    else:
        sel = res.selection
        print(f"run {res.run_id}: K={args.k}, {sel['reference']} reference products "
              f"({res.summary['n_reference_images']} images, {res.summary['n_no_person']} without a person), "
              f"{sel['subject']} subject products; saved to {res.path}")
    return 0


def cmd_train(args) -> int:
    return _train(args, _store(args))


def _suggester(args, store):
    from .runs import get_run
    from .suggest import Suggester

    return Suggester(store, get_run(store, args.run), n_references=args.references)


def cmd_suggest(args) -> int:
    store = _store(args)
    if not args.product_id and not args.images:
        raise CliError("give a PRODUCT_ID or --images FILE [FILE ...]")
    for p in args.images or []:
        if not Path(p).is_file():
            raise CliError(f"image not found: {p}")
    s = _suggester(args, store)
    try:
        sug = (s.for_product(args.product_id) if args.product_id else
               s.for_images(args.images, args.category, args.subcategory, args.product_type))
    finally:
        s.close()
    if args.json:
        _print_json(sug.to_dict())
        return 0
    title = f"{sug.product_id} {sug.title or ''}".strip() if sug.product_id else "uploaded images"
    print(f"{title}  (cohort {sug.cohort}, {sug.cohort_level} level, run {sug.run_id})")
    print("images:")
    for a in sug.images:
        what = f"pose {a.pose_class}: {a.description}" if a.pose_class is not None else f"{a.status}: {a.error}"
        print(f"  {Path(a.image).name:<28} {what}")
    if not sug.missing:
        print("no missing poses: this listing covers what its cohort's top products show")
        return 0
    print("missing poses, most important first:")
    for m in sug.missing:
        print(f"  {m.rank}. pose {m.pose_class}: {m.description}  (in {m.support:.0%} of top listings)")
        print(f"     {m.hint}")
        for r in m.references:
            print(f"     e.g. {r.product_id}: {r.path}")
    return 0


def cmd_report(args) -> int:
    from .runs import get_run
    from .suggest import report

    store = _store(args)
    df = report(store, get_run(store, args.run), progress=_progress(args))
    out = Path(args.out)
    fmt = args.format or ("json" if out.suffix.lower() == ".json" else "csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        out.write_text(df.to_json(orient="records", indent=1))
    else:
        from .exports import to_csv
        to_csv(df, out)   # formula-safe: titles come from sellers
    print(f"{len(df)} subject products, {int(df['n_missing'].sum()) if len(df) else 0} missing poses -> {out}")
    return 0


def cmd_runs(args) -> int:
    store = _store(args)
    if args.activate:
        store.set_active_run(args.activate)
    runs = store.runs()
    active = store.active_run_id()
    if args.json:
        _print_json([{**r, "active": r["run_id"] == active} for r in runs.to_dict(orient="records")])
        return 0
    if runs.empty:
        print("no runs yet: `unposed train`")
    for r in runs.itertuples():
        print(f"{'*' if r.run_id == active else ' '} {r.run_id}  backend={r.backend} K={r.k}  {r.path}")
    return 0


def cmd_describe(args) -> int:
    from .descriptions import describe_centroid
    from .runs import get_run

    store = _store(args)
    run = get_run(store, args.run)
    if args.centroid is None:
        desc = store.descriptions(run.run_id)
        for c in run.centroids:
            d = desc.get(c.id)
            review = "  [needs review]" if d is not None and d.status != "ok" else ""
            print(f"{c.id:>3}  size {c.size:>5}  {describe_centroid(run, desc, c.id, mark_auto=True)}{review}")
        return 0
    if not 0 <= args.centroid < run.n_classes:
        raise CliError(f"centroid must be within 0..{run.n_classes - 1}")
    store.set_description(run.run_id, args.centroid, args.text, "ok", "cli")
    print(f"run {run.run_id} centroid {args.centroid}: {args.text}")
    return 0


def cmd_status(args) -> int:
    from .catalog.selection import select_sets

    store = _store(args)
    products, images = store.products(), store.images()
    sel = select_sets(products, images, SelectionConfig()) if len(products) else None
    out = {"data_dir": str(store.data_dir), "products": len(products), "images": len(images),
           "import_problems": len(store.import_problems()), "active_run": store.active_run_id(),
           "selection": sel.counts() if sel else None}
    _print_json(out)
    return 0


def cmd_evaluate(args) -> int:
    """Missing-pose accuracy against labelled views (hide and complete), Table-1 style."""
    from dataclasses import replace as _replace

    from .evaluation.protocol import Configuration, EvalOptions, evaluate

    from .evaluation.judgements import judgement_table
    from .evaluation.judgements import load_labels

    store = _store(args)
    labels = load_labels(store, args.labels)
    configs = [Configuration.parse(c) for c in args.config] if args.config else None
    opts = EvalOptions(k=args.k, seeds=args.seeds, first_seed=args.seed, holdout=args.holdout,
                       keep_min=args.keep_min, keep_max=args.keep, draws=args.draws)
    if args.min_images is not None or args.min_share is not None or args.subject_max_images is not None:
        from .evaluation.protocol import base_config
        base = base_config(store, EvalOptions(k=args.k))
        sel = base.selection
        if args.min_images is not None:
            sel = _replace(sel, min_images=args.min_images)
        if args.subject_max_images is not None:
            sel = _replace(sel, subject_max_images=args.subject_max_images)
        base = _replace(base, selection=sel)
        if args.min_share is not None:
            base = _replace(base, min_cohort_share=args.min_share)
        opts.base = base
    res = evaluate(store, labels, configs, opts, progress=_progress(args), workers=args.workers)
    from .evaluation.results import save_result
    saved = save_result(store, res)
    judged = judgement_table(store, store.active_run_id()) if store.active_run_id() else None
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        from .exports import to_csv
        to_csv(res.trials, out)
    if args.json:
        d = res.to_dict()
        if judged is not None and not judged.empty:
            d["judgements"] = {"run_id": store.active_run_id(),
                               "table": json.loads(judged.to_json(orient="index"))}
        _print_json(d)
        return 0
    print(f"labels: {labels.summary()}")
    print(res.format())
    if judged is not None and not judged.empty:
        print(f"\nReviewer judgements of the active run {store.active_run_id()} (accuracy = confirmed / "
              "(confirmed + added), precision = confirmed / suggested):")
        print(judged.to_string(float_format=lambda v: f"{v:.4f}"))
    best_f1, best_acc = res.winner("f1"), res.winner("accuracy")
    if best_f1:
        print(f"\nbest F1: {best_f1} ({res.table.loc['All', (best_f1, 'f1')]:.4f}); best accuracy: {best_acc} "
              f"({res.table.loc['All', (best_acc, 'accuracy')]:.4f}); {res.seconds:.0f} s"
              + (f"; trials -> {args.out}" if args.out else ""))
    print(f"saved to {saved} (the app's Evaluate page shows it)")
    return 0


def cmd_import_deepfashion(args) -> int:
    from .catalog.importers import import_deepfashion

    store = _store(args)
    scan, report = import_deepfashion(store, args.folder, _progress(args))
    print(f"DeepFashion In-shop: {scan.summary()}")
    print(f"catalogue: {report.summary()} -> {store.path}")
    for line in scan.skipped[:args.show_problems]:
        print(f"  skipped {line}")
    if len(scan.skipped) > args.show_problems:
        print(f"  ... {len(scan.skipped) - args.show_problems} more skipped")
    return 0


def cmd_models_add_mmpose(args) -> int:
    from .pose.weights import DEFAULT_MMPOSE_CONFIG, import_mmpose_checkpoint

    rec = import_mmpose_checkpoint(args.checkpoint, resolve_data_dir(args.data_dir),
                                   config_name=args.config or DEFAULT_MMPOSE_CONFIG, trust=args.trust)
    print(f"imported {rec['name']} ({rec['config']}) -> {rec['path']}; "
          f"use it with `unposed train --backend mmpose-hrnet --model {rec['name']}`")
    return 0


def cmd_models_add_rtmpose(args) -> int:
    from .pose.weights import import_rtmpose_onnx

    rec = import_rtmpose_onnx(args.onnx, resolve_data_dir(args.data_dir))
    print(f"imported {rec['name']} -> {rec['path']}; "
          f"use it with `unposed train --backend rtmpose-onnx --model {rec['name']}`")
    return 0


def cmd_models_list(args) -> int:
    from .pose.weights import list_models

    models = list_models(resolve_data_dir(args.data_dir))
    if args.json:
        _print_json(models)
        return 0
    if not models:
        print("no models imported: `unposed models add-mmpose CKPT --trust` or `add-rtmpose MODEL.onnx`")
    for m in models:
        print(f"{m['name']}  kind={m.get('kind')}  sha256={m.get('sha256', '')[:12]}  {m.get('path')}")
    return 0


BACKEND_HELP = ("blazepose (77 dims), blazepose-coco17 (61 dims, BlazePose-derived), "
                "mmpose-hrnet / rtmpose-onnx (61 dims, need `unposed models add-...`)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="unposed", description="Find the photos a fashion listing is missing.")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=None,
                        help=f"where the database and runs live (default ${DATA_DIR_ENV} or ~/.unposed)")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True)

    def train_opts(sp):
        sp.add_argument("--k", type=int, default=8, help="number of pose clusters")
        sp.add_argument("--backend", default="blazepose", help=BACKEND_HELP)
        sp.add_argument("--model", default=None, help="imported weights to use (`unposed models list`)")
        sp.add_argument("--backend-param", action="append", metavar="KEY=VALUE",
                        help="backend setting, e.g. flip_test=false or keypoint_threshold=0.2")
        sp.add_argument("--seed", type=int, default=0)
        sp.add_argument("--autoencoder", action="store_true", help="compress embeddings to 8 dims first")
        sp.add_argument("--top-k", type=int, default=3000, help="reference products kept, most popular first")
        sp.add_argument("--min-images", type=int, default=9, help="reference products have more images than this")
        sp.add_argument("--subject-max-images", type=int, default=5, help="subject products have fewer than this")
        sp.add_argument("--rating-weight", type=float, default=0.5)
        sp.add_argument("--count-weight", type=float, default=0.5)
        sp.add_argument("--min-share", type=float, default=0.4,
                        help="a pose is expected in a cohort when this share of its top products show it")
        sp.add_argument("--workers", type=int, default=None, help="pose processes (default: 2 for big jobs)")

    sp = sub.add_parser("demo", parents=[common], help="build and import the demo catalogue")
    sp.add_argument("--train", action="store_true", help="also extract poses and train a run")
    sp.add_argument("--if-empty", action="store_true",
                    help="do nothing when the data dir already holds a catalogue (train if it has no run)")
    sp.add_argument("--json", action="store_true")
    train_opts(sp)
    sp.set_defaults(func=cmd_demo)

    sp = sub.add_parser("import", parents=[common], help="import a CSV/Parquet manifest and image folder")
    sp.add_argument("manifest")
    sp.add_argument("--images", default=None, help="image folder (default: the manifest's folder)")
    sp.add_argument("--json", action="store_true", help="print the validation report as JSON")
    sp.add_argument("--show-problems", type=int, default=20)
    sp.add_argument("--rating-scale", type=float, default=5.0,
                    help="highest avg_rating of the catalogue (default 5); larger values are refused")
    sp.set_defaults(func=cmd_import)

    sp = sub.add_parser("extract", parents=[common], help="run the pose model over the catalogue (resumable)")
    sp.add_argument("--backend", default="blazepose", help=BACKEND_HELP)
    sp.add_argument("--model", default=None, help="imported weights to use (`unposed models list`)")
    sp.add_argument("--backend-param", action="append", metavar="KEY=VALUE",
                    help="backend setting, e.g. flip_test=false or keypoint_threshold=0.2")
    sp.add_argument("--workers", type=int, default=None)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_extract)

    sp = sub.add_parser("train", parents=[common], help="cluster reference poses and rank them per cohort")
    train_opts(sp)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser("suggest", parents=[common], help="missing poses of a product or of image files")
    sp.add_argument("product_id", nargs="?")
    sp.add_argument("--images", nargs="+", help="image files of a product not in the catalogue")
    sp.add_argument("--category")
    sp.add_argument("--subcategory")
    sp.add_argument("--product-type")
    sp.add_argument("--run", default=None, help="run id (default: the active run)")
    sp.add_argument("--references", type=int, default=3, help="reference images per missing pose")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_suggest)

    sp = sub.add_parser("report", parents=[common], help="missing poses of every subject product")
    sp.add_argument("--out", required=True)
    sp.add_argument("--format", choices=["csv", "json"])
    sp.add_argument("--run", default=None)
    sp.set_defaults(func=cmd_report)

    sp = sub.add_parser("runs", parents=[common], help="list trained runs, or pick the active one")
    sp.add_argument("--activate", metavar="RUN_ID")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_runs)

    sp = sub.add_parser("describe", parents=[common], help="list or set human descriptions of centroids")
    sp.add_argument("centroid", nargs="?", type=int)
    sp.add_argument("text", nargs="?")
    sp.add_argument("--run", default=None)
    sp.set_defaults(func=cmd_describe)

    sp = sub.add_parser("evaluate", parents=[common],
                        help="missing-pose accuracy against labelled views (the paper's Table 1)")
    sp.add_argument("--labels", default=None, metavar="FILE",
                    help="CSV of image,label rows and/or product_id,missing rows (default: the "
                         "catalogue's pose_label column, e.g. the demo's)")
    sp.add_argument("--config", action="append", metavar="NAME",
                    help="blazepose, blazepose+ae, mmpose-hrnet+ae ... (repeatable; default: BlazePose "
                         "with and without the autoencoder, plus any other backend already extracted)")
    sp.add_argument("--k", type=int, default=None, help="clusters (default: the active run's K, else 8)")
    sp.add_argument("--seeds", type=int, default=3, help="repeats, each with a new split, training and draws")
    sp.add_argument("--seed", type=int, default=0, help="first seed")
    sp.add_argument("--holdout", type=float, default=0.25,
                    help="share of labelled reference products held out of training per seed")
    sp.add_argument("--keep", type=int, default=4, help="keep at most this many images (the paper's p - 1)")
    sp.add_argument("--keep-min", type=int, default=2, help="keep at least this many images")
    sp.add_argument("--draws", type=int, default=5, help="kept subsets per product and seed")
    sp.add_argument("--min-images", type=int, default=None, help="override: reference products have more images")
    sp.add_argument("--subject-max-images", type=int, default=None, help="override the subject threshold")
    sp.add_argument("--min-share", type=float, default=None, help="override the cohort share for expected poses")
    sp.add_argument("--workers", type=int, default=None)
    sp.add_argument("--out", default=None, metavar="CSV", help="write every trial (kept, truth, flagged) here")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_evaluate)

    sp = sub.add_parser("import-deepfashion", parents=[common],
                        help="import your copy of DeepFashion In-shop (img/GENDER/Category/id_*/NN_V_view.jpg)")
    sp.add_argument("folder", help="the data set folder (holding img/) or its img folder")
    sp.add_argument("--show-problems", type=int, default=10)
    sp.set_defaults(func=cmd_import_deepfashion)

    sp = sub.add_parser("models", parents=[common], help="import or list user-supplied pose weights")
    msub = sp.add_subparsers(dest="models_command", required=True)
    mp_ = msub.add_parser("add-mmpose", parents=[common],
                          help="convert an MMPose HRNet .pth checkpoint to safetensors (unpickles it once)")
    mp_.add_argument("checkpoint")
    mp_.add_argument("--config", default=None, help="mmpose config name bundled with mmpose")
    mp_.add_argument("--trust", action="store_true",
                     help="you trust this file: a .pth is a pickle and loading it can run code")
    mp_.set_defaults(func=cmd_models_add_mmpose)
    mp_ = msub.add_parser("add-rtmpose", parents=[common], help="import an RTMPose ONNX model")
    mp_.add_argument("onnx")
    mp_.set_defaults(func=cmd_models_add_rtmpose)
    mp_ = msub.add_parser("list", parents=[common], help="imported models")
    mp_.add_argument("--json", action="store_true")
    mp_.set_defaults(func=cmd_models_list)

    sp = sub.add_parser("status", parents=[common], help="catalogue and run counts")
    sp.set_defaults(func=cmd_status)
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GLOG_minloglevel", "2")       # quiet mediapipe's C++ logging
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "describe" and args.centroid is not None and not args.text:
        parser.error("describe CENTROID needs the TEXT to set")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted; finished work is saved and a re-run continues from there", file=sys.stderr)
        return 130
    except Exception as exc:  # bad input of any kind: one clear line, no traceback
        if args.debug:
            raise
        from .catalog.manifest import ManifestError
        from .images import ImageError
        from .runs import RunError
        known = (CliError, ValueError, LookupError, RunError, ManifestError, ImageError,
                 FileNotFoundError, PermissionError, RuntimeError, InterruptedError)
        msg = str(exc) if isinstance(exc, known) else f"{type(exc).__name__}: {exc} (re-run with --debug)"
        if isinstance(exc, KeyError):
            msg = str(exc.args[0]) if exc.args else msg
        print(f"error: {msg}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
