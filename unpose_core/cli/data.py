"""The catalogue and its poses: `demo`, `import`, `import-deepfashion`, `extract`, `status`; the
database's `backup` and `restore`."""
from __future__ import annotations

import unpose_core.api as api

from ..config import RATING_SCALE, TrainConfig
from .common import (
    CliError,
    add_backend_opts,
    add_engine_opts,
    backend_params,
    open_store,
    print_first,
    print_json,
    progress,
)
from .train import add_train_opts, run_train

SHOW_PROBLEMS = 20    # import problems printed (all of them are in import_report.json)
SHOW_SKIPPED = 10     # DeepFashion folders skipped, printed


def cmd_demo(args) -> int:
    store = open_store(args)
    if args.if_empty and not store.products().empty:
        print(f"{store.path} already holds a catalogue; left as it is")
        if args.train and store.active_run_id() is None:
            return run_train(args, store)
        return 0
    report = api.install_demo(store, seed=args.seed, progress=progress(args))
    print(f"demo catalogue: {report.summary()} -> {store.path}")
    if args.train:
        return run_train(args, store)
    return 0


def cmd_import(args) -> int:
    store = open_store(args)
    report = api.import_catalogue(store, args.manifest, args.images, progress(args), rating_scale=args.rating_scale)
    if args.json:
        print_json(report.to_dict())
    if not report.ok:
        raise CliError(report.summary())
    if not report.applied:
        raise CliError(f"no usable images: {report.summary()} (details: {store.data_dir / 'import_report.json'})")
    if not args.json:
        print(report.summary())
        lines = [f"  {f'row {int(r.row)}' if r.row == r.row and r.row is not None else 'manifest'}: "
                 f"{r.kind}: {r.detail}" for r in report.problems.head(args.show_problems).itertuples()]
        print_first(lines, len(report.problems), f"more in {store.data_dir / 'import_report.json'}")
    return 0


def cmd_import_deepfashion(args) -> int:
    store = open_store(args)
    scan, report = api.import_deepfashion(store, args.folder, progress(args))
    print(f"DeepFashion In-shop: {scan.summary()}")
    print(f"catalogue: {report.summary()} -> {store.path}")
    print_first([f"  skipped {line}" for line in scan.skipped[:args.show_problems]], len(scan.skipped),
                "more skipped")
    return 0


def cmd_extract(args) -> int:
    params = backend_params(args)
    res = api.extract(open_store(args), args.backend, args.workers, progress(args), engine=args.engine,
                      address=args.address, actors=args.actors, **params)
    if args.json:
        print_json(res.to_dict())
    else:
        print(f"{res.backend}: {res.n_processed} images processed ({res.images_per_second:.1f}/s, "
              f"{res.workers} worker(s)), {res.n_cached} already cached; "
              f"{res.n_person} person, {res.n_no_person} no person, {res.n_errors} failed")
    return 0


def cmd_status(args) -> int:
    print_json(api.status(open_store(args)))
    return 0


def cmd_backup(args) -> int:
    store = open_store(args)
    dest = api.backup(store, args.dest)
    print(f"{store.path} -> {dest} (a checked copy of the database; run folders and images are plain files: "
          f"copy {store.data_dir} as it is for those)")
    return 0


def cmd_restore(args) -> int:
    from ..config import resolve_data_dir
    from ..store import CorruptDatabase, StoreError, check_backup

    target = resolve_data_dir(args.data_dir) / "unposed.sqlite"
    if target.exists() and not args.force:
        try:
            check_backup(target)
        except CorruptDatabase:   # damaged: nothing to lose, restore it
            pass
        except StoreError:
            raise CliError(f"{target} is readable but not this unposed's database; --force replaces it "
                           "(it is kept beside it)") from None
        else:
            raise CliError(f"{target} is a healthy database; --force replaces it with {args.src} "
                           f"(the current one is kept as {target.name}.before-restore-*)")
    restored = api.restore(args.data_dir, args.src)
    print(f"{args.src} -> {restored} (restored; what it replaced is kept beside it)")
    return 0


def add_parsers(sub, common) -> None:
    sp = sub.add_parser("demo", parents=[common], help="build and import the demo catalogue")
    sp.add_argument("--train", action="store_true",
                    help=f"also extract poses and train a run (K={TrainConfig.k} unless --k)")
    sp.add_argument("--if-empty", action="store_true",
                    help="do nothing when the data dir already holds a catalogue (train if it has no run)")
    sp.add_argument("--json", action="store_true")
    add_train_opts(sp)
    sp.set_defaults(func=cmd_demo)

    sp = sub.add_parser("import", parents=[common], help="import a CSV/Parquet manifest and image folder")
    sp.add_argument("manifest")
    sp.add_argument("--images", default=None, help="image folder (default: the manifest's folder)")
    sp.add_argument("--json", action="store_true", help="print the validation report as JSON")
    sp.add_argument("--show-problems", type=int, default=SHOW_PROBLEMS)
    sp.add_argument("--rating-scale", type=float, default=RATING_SCALE,
                    help="highest avg_rating of the catalogue (default %(default)g); larger values are refused")
    sp.set_defaults(func=cmd_import)

    sp = sub.add_parser("import-deepfashion", parents=[common],
                        help="import your copy of DeepFashion In-shop (img/GENDER/Category/id_*/NN_V_view.jpg)")
    sp.add_argument("folder", help="the data set folder (holding img/) or its img folder")
    sp.add_argument("--show-problems", type=int, default=SHOW_SKIPPED)
    sp.set_defaults(func=cmd_import_deepfashion)

    sp = sub.add_parser("extract", parents=[common], help="run the pose model over the catalogue (resumable)")
    add_backend_opts(sp)
    add_engine_opts(sp, "the catalogue")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_extract)

    sp = sub.add_parser("status", parents=[common], help="catalogue and run counts")
    sp.set_defaults(func=cmd_status)

    sp = sub.add_parser("backup", parents=[common],
                        help="a checked copy of the database as the file DEST (SQLite's online backup: safe while "
                             "the app and jobs run)")
    sp.add_argument("dest", help="the backup file to write (an existing one is replaced once the copy is complete)")
    sp.set_defaults(func=cmd_backup)

    sp = sub.add_parser("restore", parents=[common],
                        help="make a backup file the database (checked first; a damaged database is moved aside)")
    sp.add_argument("src", help="a file `unposed backup` wrote")
    sp.add_argument("--force", action="store_true",
                    help="replace a healthy database too (it is kept as unposed.sqlite.before-restore-*)")
    sp.set_defaults(func=cmd_restore)
