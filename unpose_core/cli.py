"""`unposed ...`: a thin command line over the engine. Bad input -> one line, exit 2."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path

from .config import DATA_DIR_ENV, SelectionConfig, TrainConfig, resolve_data_dir
from .progress import tqdm_progress
from .records import Status

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130      # Ctrl-C; a signal N stops with 128 + N (SIGTERM: 143, SIGHUP: 129)
INTERRUPTED = "interrupted; finished work is saved and a re-run continues from there"


class CliError(Exception):
    pass


class Terminated(KeyboardInterrupt):
    """SIGTERM (or SIGHUP) turned into an interrupt, so it stops a command exactly as Ctrl-C does:
    work already finished is saved, worker processes are shut down, nothing is left running."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum, frame) -> None:
    signal.signal(signum, signal.SIG_DFL)   # a second one ends the process at once
    raise Terminated(signum)


@contextlib.contextmanager
def _signals_as_interrupts():
    """SIGTERM and SIGHUP raise :class:`Terminated` while a command runs (not where they are
    ignored, e.g. SIGHUP under nohup). Only ``main`` installs it -- importing this module
    changes no handler -- and only in the main thread; the old handlers come back after."""
    old = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:
                old[sig] = signal.getsignal(sig)
                signal.signal(sig, _raise_terminated)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


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
    from .pose import PoseOptions
    from .pose.engines import run_engine

    store = _store(args)
    if store.products().empty:
        raise CliError("the catalogue is empty: run `unposed demo` or `unposed import` first")
    options = PoseOptions(backend=args.backend, params=_backend_params(args))
    _check_engine_args(args)
    res = run_engine(store, options, args.engine, workers=args.workers, actors=args.actors, address=args.address,
                     progress=_progress(args))
    if args.json:
        _print_json(res.to_dict())
    else:
        print(f"{res.backend}: {res.n_processed} images processed ({res.images_per_second:.1f}/s, "
              f"{res.workers} worker(s)), {res.n_cached} already cached; "
              f"{res.n_person} person, {res.n_no_person} no person, {res.n_errors} failed")
    return 0


def _check_engine_args(args) -> None:
    """--workers belongs to the local engine, --address and --actors to the Ray one; counts >= 1."""
    if args.engine == "ray" and args.workers is not None:
        raise CliError("--workers is for the local engine: use --actors with --engine ray")
    if args.engine != "ray" and (args.address is not None or args.actors is not None):
        raise CliError("--address and --actors need --engine ray")
    for flag in ("workers", "actors"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise CliError(f"--{flag} must be at least 1")


def _engine_opts(sp, what: str) -> None:
    """--engine, --workers, --address, --actors: which engine runs the pose model over ``what``."""
    sp.add_argument("--engine", choices=("local", "ray"), default="local",
                    help=f"what runs the pose model over {what}: local: this machine's processes (default); "
                         "ray: Ray Data actors, locally or on a cluster (needs the ray extra: "
                         "pip install \"unpose-core[ray]\")")
    sp.add_argument("--workers", type=int, default=None,
                    help="with the local engine: pose processes (default: one per core for big jobs)")
    sp.add_argument("--address", default=None,
                    help="with --engine ray: a running Ray cluster, e.g. HOST:6379 (default: start a local Ray)")
    sp.add_argument("--actors", type=int, default=None,
                    help="with --engine ray: model actors (default: one per core, or the cluster's CPUs)")


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
                       views=not getattr(args, "no_views", False),
                       rating_weight=args.rating_weight, count_weight=args.count_weight,
                       min_cohort_share=args.min_share, selection=sel,
                       backend_params=_backend_params(args))


def _train(args, store) -> int:
    from .training import train

    res = train(store, _train_config(args), progress=_progress(args), workers=args.workers)
    if getattr(args, "json", False):
        _print_json({"run_id": res.run_id, "path": str(res.path), "selection": res.selection,
                     "extract": res.extract, "summary": res.summary,
                     "activation": res.activation.to_dict() if res.activation else None})
    else:
        sel = res.selection
        print(f"run {res.run_id}: K={args.k}, {sel['reference']} reference products "
              f"({res.summary['n_reference_images']} images, {res.summary['n_no_person']} without a person), "
              f"{sel['subject']} subject products; saved to {res.path}")
    _print_activation(res.activation)
    return 0


def _print_activation(act) -> None:
    """What was carried to a newly active run, and what a person should know (stderr)."""
    if act is None:
        return
    if act.carried_from:
        parts = []
        for what, c in act.summary.items():
            if c.get("carried"):
                parts.append(f"{c['carried']} {what}: {c['placed']} on their matching centroid, "
                             f"{c['needs_review']} placed for review, {c['unplaced']} unplaced")
        if parts:
            print(f"labels carried from {act.carried_from}: " + "; ".join(parts), file=sys.stderr)
    for note in act.notes:
        print(f"note: {note}", file=sys.stderr)


def cmd_train(args) -> int:
    return _train(args, _store(args))


def _suggest_config(args):
    """--expect / --coverage / --min-confidence / --min-share / --view-share / --support-only / --score-ranks ->
    SuggestConfig (defaults elsewhere)."""
    from .config import SuggestConfig

    d = SuggestConfig()
    cfg = SuggestConfig(expect=d.expect if args.expect is None else args.expect,
                        min_share=args.min_share,
                        coverage_percentile=d.coverage_percentile if args.coverage is None else args.coverage,
                        min_confidence=d.min_confidence if args.min_confidence is None else args.min_confidence,
                        by_score=d.by_score and not args.support_only,
                        score_ranks=d.score_ranks if args.score_ranks is None else args.score_ranks,
                        view_share=d.view_share if args.view_share is None else args.view_share)
    cfg.validate()
    return cfg


def _suggester(args, store):
    from .runs import get_run
    from .suggestions import Suggester

    return Suggester(store, get_run(store, args.run), n_references=args.references, config=_suggest_config(args))


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
        seen = f"  [{a.view['label']}]" if a.view else ""
        flags = f"  ({', '.join(a.flags)})" if a.flags else ""
        copy = f"  (same photo as {Path(a.duplicate_of).name})" if a.duplicate_of else ""
        print(f"  {Path(a.image).name:<28} {what}{seen}{flags}{copy}")
    for note in sug.notes:
        print(f"  note: {note}")
    for note in sug.run_notes:
        print(f"run note: {note}")
    st = sug.settings
    from .config import SuggestConfig

    print(f"rule: expected from {st.get('expect')} x the cohort's typical support"
          + (f" and >= {st.get('min_share'):.0%}" if st.get("min_share") else "")
          + "; an image covers a pose " + (f"within its cluster's p{st.get('coverage_percentile'):g} radius"
                                           if st.get("coverage_percentile") else "only as its nearest centroid")
          + (f"; confidence >= {st.get('min_confidence'):g}" if st.get("min_confidence") else "")
          + (f"; and every pose whose reference photos (>= {st.get('view_share'):.0%}) show its view"
             if st.get("view_share") else "")
          + (f"; also {score}" if (score := SuggestConfig.from_dict(st).score_text()) else ""))
    unread = [a for a in sug.images if a.status == Status.ERROR]
    if sug.images and len(unread) == len(sug.images):   # nothing to score: say so, with each image's reason
        print(f"no image of the listing could be read ({len(unread)} image(s)), so there is no completeness "
              "figure: " + "; ".join(f"{Path(a.image).name}: {a.error}" for a in unread))
    elif sug.completeness is not None:
        print(f"completeness: {sug.completeness:.0f}/100 (expected poses its usable images show, the first ones "
              "counting most)")
    if not sug.missing:
        print(f"no request ({sug.status}): {sug.reason}")
        return 0
    print(f"missing poses, most important first ({sug.reason}):")
    for m in sug.missing:
        members = f"pose group {m.group} (centroids {' '.join(map(str, m.members))})" if len(m.members) > 1 \
            else f"pose {m.pose_class}"
        far = "no comparable image" if m.closest is None else f"nearest image {m.closest:.1f} x its radius"
        print(f"  {m.rank}. {members}: {m.description}  confidence {m.confidence:.2f} ({far}; in {m.support:.0%} "
              f"of top listings, 95% {m.support_low:.0%}-{m.support_high:.0%})")
        print(f"     {m.hint}")
        for r in m.references:
            print(f"     e.g. {r.product_id}: {r.path}")
    return 0


def cmd_report(args) -> int:
    from .outputs.report import report
    from .runs import get_run

    _check_engine_args(args)
    store = _store(args)
    # the poses of the products' images not cached yet are extracted first with the chosen engine
    df = report(store, get_run(store, args.run), progress=_progress(args), config=_suggest_config(args),
                engine=args.engine, workers=args.workers, address=args.address, actors=args.actors)
    out = Path(args.out)
    fmt = args.format or ("json" if out.suffix.lower() == ".json" else "csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        out.write_text(df.to_json(orient="records", indent=1))
    else:
        from .exports import to_csv
        to_csv(df, out)   # formula-safe: titles come from sellers
    print(f"{len(df)} subject products, {int(df['n_missing'].sum()) if len(df) else 0} missing poses -> {out}")
    if len(df):
        for status, n in df["status"].value_counts().items():
            print(f"  {status}: {n}")
    return 0


def cmd_sheet(args) -> int:
    """Seller sheets: one product's HTML page, or a zip of them (a cohort, or every subject product)."""
    from .outputs import sheet
    from .runs import get_run

    store = _store(args)
    run = get_run(store, args.run)
    cfg = _suggest_config(args)
    if args.product_id and (args.cohort or args.all):
        raise CliError("give a PRODUCT_ID, or --cohort / --all for a batch, not both")
    if args.product_id:
        out = Path(args.out or sheet.sheet_filename(args.product_id))
        html = sheet.product_sheet(store, run, args.product_id, cfg, n_examples=args.references)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
        print(f"seller sheet of {args.product_id} -> {out} ({len(html) // 1024} KB, images embedded)")
        return 0
    if not (args.cohort or args.all):
        raise CliError("give a PRODUCT_ID, --cohort COHORT or --all")
    ids = sheet.subject_ids(store, run, args.cohort if not args.all else None)
    out = Path(args.out or "seller-sheets.zip")
    batch = sheet.sheets_zip(store, run, ids, cfg, n_examples=args.references, progress=_progress(args))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(batch.data)
    print(f"{batch.n_products} seller sheets + index.html -> {out} ({len(batch.data) // 1024} KB)")
    return 0


def cmd_hints(args) -> int:
    """Seller hints per pose group: list them, set one (kept across retraining), or the history."""
    from .outputs import hints as hnt
    from .runs import get_run

    store = _store(args)
    action = args.hints_command or "list"
    if action == "set":
        if not args.clear and not (args.hint or "").strip():
            raise CliError("hints set TEXT HINT needs the HINT (or --clear to go back to the generated one)")
        key = hnt.set_group_hint(store, args.text, "" if args.clear else args.hint, "cli")
        print(f"hint for {key!r} " + ("cleared: the generated hint is used again" if args.clear else "saved"))
        return 0
    if action == "history":
        df = store.hint_history()
        if args.json:
            _print_json(df.to_dict("records"))
            return 0
        for r in df.itertuples():
            print(f"  #{r.id} {r.action:<5} {r.text_key!r}: {r.hint or '(generated)'}  [{r.source or ''}]")
        print(f"{len(df)} change(s)")
        return 0
    run = get_run(store, args.run)
    rows = hnt.group_hints(store, run)
    orphans = hnt.orphan_hints(store, run)
    if args.json:
        _print_json({"run_id": run.run_id, "groups": [h.to_dict() for h in rows], "unmatched": orphans})
        return 0
    print(f"run {run.run_id}: {len(rows)} pose groups ({sum(h.edited is not None for h in rows)} with an edited hint)")
    for h in rows:
        tag = "edited" if h.edited else "generated"
        print(f"  group {h.group}: {h.label}{' [excluded]' if h.excluded else ''}\n      {tag}: {h.hint}")
    if orphans:
        print(f"edited hints no group of this run has ({len(orphans)}; kept for when the description returns):")
        for r in orphans:
            print(f"  {r['text']!r}: {r['hint']}")
    print('set one: unposed hints set "DESCRIPTION" "HINT"  (--clear: back to the generated hint)')
    return 0


def cmd_runs(args) -> int:
    store = _store(args)
    if args.activate:
        from .training import activate_run

        _print_activation(activate_run(store, args.activate, keep_unmatched=args.keep_unmatched))
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


def _unplaced_line(u) -> str:
    where = ", ".join(a.origin for a in u.anchors if a.origin and a.centroid is None)
    was = "; ".join(f"written on a centroid called “{a.label}”" for a in u.anchors
                    if u.is_description and a.label and a.centroid is None)
    return f"  #{u.id:<5} {u.what()}  (from {u.source or where or '?'}" + (f"; {was}" if was else "") + ")"


def cmd_describe(args) -> int:
    from .descriptions import describe_centroid, dismiss_unplaced, mark_reviewed, place_unplaced
    from .runs import get_run

    store = _store(args)
    run = get_run(store, args.run)
    if args.place is not None:
        item_id, centroid = args.place
        u = place_unplaced(store, run, item_id, [centroid], "cli")
        print(f"#{u.id} placed on centroid {centroid} of run {run.run_id}: {u.what()}")
        return 0
    if args.dismiss is not None:
        u = dismiss_unplaced(store, run, args.dismiss, "cli")
        print(f"#{u.id} dismissed (kept in the history): {u.what()}")
        return 0
    if args.reviewed is not None:
        d = mark_reviewed(store, run, args.reviewed, "cli")
        print(f"run {run.run_id} centroid {args.reviewed}: “{d.text}” checked")
        return 0
    if args.centroid is None:
        desc = store.descriptions(run.run_id)
        unplaced = store.unplaced(run.run_id)
        if args.json:
            _print_json({"run_id": run.run_id, "centroids": [
                {"centroid": c.id, "size": c.size, "description": describe_centroid(run, desc, c.id),
                 "human": c.id in desc, "status": str(desc[c.id].status) if c.id in desc else "auto",
                 "source": desc[c.id].source if c.id in desc else None} for c in run.centroids],
                "unplaced": [{"id": u.id, "kind": u.kind, "text": u.text, "source": u.source,
                              "anchors": [a.to_dict() | {"profile": None} for a in u.anchors]} for u in unplaced]})
            return 0
        for c in run.centroids:
            d = desc.get(c.id)
            review = "  [needs review]" if d is not None and d.status != "ok" else ""
            print(f"{c.id:>3}  size {c.size:>5}  {describe_centroid(run, desc, c.id, mark_auto=True)}{review}")
        if any(d.status != "ok" for d in desc.values()):
            print("[needs review]: carried from an earlier run onto a centroid that only roughly matches; "
                  "check it: unposed describe --reviewed CENTROID")
        texts = [u for u in unplaced if u.is_description]
        if texts:
            print(f"unplaced descriptions ({len(texts)}: no centroid of this run matched them; they go on to "
                  f"later runs until you place or dismiss them):")
            for u in texts:
                print(_unplaced_line(u))
            print("place one: unposed describe --place ID CENTROID; drop one: unposed describe --dismiss ID")
        if len(texts) < len(unplaced):
            print(f"{len(unplaced) - len(texts)} unplaced pose-group marks: unposed groups")
        return 0
    if not 0 <= args.centroid < run.n_classes:
        raise CliError(f"centroid must be within 0..{run.n_classes - 1}")
    store.set_description(run.run_id, args.centroid, args.text, "ok", "cli")
    print(f"run {run.run_id} centroid {args.centroid}: {args.text}")
    return 0


def cmd_groups(args) -> int:
    """Pose groups of a run and the analyst's marks on them."""
    import unpose_core.groups as grp

    from .descriptions import dismiss_unplaced, place_unplaced
    from .runs import get_run

    store = _store(args)
    run = get_run(store, args.run)
    action = args.groups_command or "list"
    if action == "merge":
        gs = grp.merge(store, run, args.centroids, "cli", args.note)
        print(f"merged: group {gs.group_of(args.centroids[0])} = centroids "
              f"{' '.join(map(str, gs.get(gs.group_of(args.centroids[0])).members))}")
        return 0
    if action == "split":
        gs = grp.split(store, run, args.centroid, "cli")
        print(f"centroid {args.centroid} is a pose of its own (group {gs.group_of(args.centroid)})")
        return 0
    if action == "exclude":
        grp.exclude(store, run, args.centroid, args.note, "cli", undo=args.undo)
        print(f"centroid {args.centroid} {'is asked for again' if args.undo else 'is never asked for'}")
        return 0
    if action == "desirable":
        grp.mark_desirable(store, run, args.centroid, "cli", undo=args.undo)
        print(f"the pose of centroid {args.centroid} is {'no longer ' if args.undo else ''}marked desirable")
        return 0
    if action == "place":
        u = place_unplaced(store, run, args.id, args.centroids, "cli")
        print(f"#{u.id} placed on centroid(s) {' '.join(map(str, u.placed_on or ()))}: {u.what()}")
        return 0
    if action == "dismiss":
        u = dismiss_unplaced(store, run, args.id, "cli")
        print(f"#{u.id} dismissed (kept in the history): {u.what()}")
        return 0
    if action == "proposals":
        if args.separation is not None and args.save:
            grp.set_merge_separation(store, args.separation)
        if args.decision:
            if len(args.pair) != 2:
                raise CliError(f"proposals {args.decision} takes two centroids, e.g. `proposals {args.decision} 2 7`")
            a, b = args.pair
            if args.decision == "accept":
                gs = grp.accept_proposal(store, run, a, b, "cli")
                print(f"accepted: centroids {a} and {b} are one pose (group {gs.group_of(a)})")
            else:
                grp.reject_proposal(store, run, a, b, "cli")
                print(f"rejected: centroids {a} and {b} stay apart and are not proposed again")
            return 0
        q = grp.merge_separation(store) if args.separation is None else args.separation
        props = grp.proposals(store, run, q)
        if args.json:
            _print_json({"run_id": run.run_id, "separation": q, "proposals": [p.to_dict() for p in props]})
            return 0
        _print_proposals(props, q)
        return 0
    # list
    gs = grp.pose_groups(store, run)
    rows = grp.group_rows(store, run, gs)
    q = grp.merge_separation(store)
    props = grp.proposals(store, run, q)
    marks_waiting = [u for u in store.unplaced(run.run_id) if not u.is_description]
    if args.json:
        _print_json({"run_id": run.run_id, "groups": rows, "separation": q,
                     "proposals": [p.to_dict() for p in props],
                     "unplaced_marks": [{"id": u.id, "kind": u.kind, "what": u.what(), "source": u.source}
                                        for u in marks_waiting]})
        return 0
    print(f"run {run.run_id}: {len(rows)} pose groups from {run.n_classes} classes")
    for r in rows:
        flags = (" [desirable]" if r["desirable"] else "") + (" [excluded]" if r["excluded"] else "")
        print(f"  group {r['group']}: {r['label']}{flags}  ({r['size']} images)")
        for c, name in r["named"].items():
            print(f"      {run.class_tag(c):>3}  {name}")
        if r["marks"]:
            print(f"      marks: {', '.join(r['marks'])}")
    _print_proposals(props, q)
    if marks_waiting:
        print(f"unplaced marks ({len(marks_waiting)}: no centroid of this run matched them):")
        for u in marks_waiting:
            print(_unplaced_line(u))
        print("place one: unposed groups place ID CENTROID [CENTROID]; drop one: unposed groups dismiss ID")
    return 0


def _print_proposals(props, q: float) -> None:
    rule = f"centres closer than {q:g} x their members' spread along the line between them"
    if not props:
        print(f"no merge proposals ({rule})")
        return
    print(f"merge proposals ({len(props)}; {rule}, or mirror partners):")
    for p in props:
        why = (f"separation {p.separation:.2f} < {q:g}" if p.reason == "close"
               else f"mirror partners, separation {p.separation:.2f}")
        print(f"  {p.a} + {p.b}: {why}   accept: unposed groups proposals accept {p.a} {p.b}  |  "
              f"reject: ... reject {p.a} {p.b}")


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

    from .evaluation.judgements import judgement_table, load_labels
    from .evaluation.protocol import Configuration, EvalOptions, evaluate

    store = _store(args)
    labels = load_labels(store, args.labels)
    configs = [Configuration.parse(c) for c in args.config] if args.config else None
    ks = _numbers(args.k, int, "--k")
    opts = EvalOptions(k=ks[0] if ks else None, ks=ks if ks and len(ks) > 1 else None, seeds=args.seeds,
                       first_seed=args.seed, holdout=args.holdout, keep_min=args.keep_min, keep_max=args.keep,
                       draws=args.draws, answer_min=args.answer_min, expect=_numbers(args.expect, float, "--expect"),
                       coverage=_numbers(args.coverage, float, "--coverage"),
                       min_confidence=_numbers(args.min_confidence, float, "--min-confidence"),
                       by_score=_switches(args.by_score, "--by-score"),
                       view_share=_numbers(args.view_share, float, "--view-share"),
                       score_ranks=_numbers(args.score_ranks, int, "--score-ranks"))
    if args.min_images is not None or args.min_share is not None or args.subject_max_images is not None:
        from .evaluation.protocol import base_config
        base = base_config(store, EvalOptions(k=opts.k))
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


def _numbers(text: str | None, kind, flag: str) -> list | None:
    """'6,8,10' -> [6, 8, 10] (None when not given)."""
    if text is None:
        return None
    try:
        out = [kind(v) for v in str(text).replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise CliError(f"{flag} takes a number or a comma-separated list, got {text!r}") from None
    if not out:
        raise CliError(f"{flag} takes a number or a comma-separated list, got {text!r}")
    return out


def _switches(text: str | None, flag: str) -> list[bool] | None:
    """'on,off' -> [True, False] (None when not given)."""
    if text is None:
        return None
    words = {"on": True, "1": True, "yes": True, "true": True, "off": False, "0": False, "no": False, "false": False}
    out = [words.get(v.strip().lower()) for v in str(text).split(",") if v.strip()]
    if not out or None in out:
        raise CliError(f"{flag} takes on, off or both (on,off), got {text!r}")
    return out


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


def cmd_views_show(args) -> int:
    """What each image shows: kind, facing, framing, flags, with confidence and evidence."""
    from .evaluation.views import measure_views
    from .listing import listing_duplicates

    paths = [str(Path(p)) for p in args.images]
    for p in paths:
        if not Path(p).is_file():
            raise CliError(f"image not found: {p}")
    from .config import PoseOptions

    rows, seen, _, _ = measure_views(paths, PoseOptions(backend=args.backend, params=_backend_params(args)),
                                     data_dir=resolve_data_dir(args.data_dir))
    dupes = listing_duplicates(rows)
    copy_of = {i: g[0] for g in dupes for i in g[1:]}
    out = [{"image": p, "status": str(r.status), "error": r.error,
            "duplicate_of": paths[copy_of[i]] if i in copy_of else None,
            **({} if v is None else v.to_dict())} for i, (p, r, v) in enumerate(zip(paths, rows, seen))]
    if args.json:
        _print_json(out)
        return 0
    for o in out:
        if o["status"] == "error":
            print(f"{Path(o['image']).name:<28} failed: {o['error']}")
            continue
        conf = (f"facing {o['facing_confidence']:.2f}, framing {o['framing_confidence']:.2f}"
                if o["kind"] == "person" else f"kind {o['kind_confidence']:.2f}")
        extra = "".join(f"\n    ! {t}" for t in o["flag_text"])
        if o["duplicate_of"]:
            extra += f"\n    = the same photo as {Path(o['duplicate_of']).name}"
        print(f"{Path(o['image']).name:<28} {o['label']}  ({conf}){extra}")
    return 0


def cmd_views_evaluate(args) -> int:
    import pandas as pd

    from .config import PoseOptions
    from .evaluation.views import PURITY_KS, evaluate_views, read_labels

    labels = read_labels(args.labels, args.images)
    ks = _numbers(args.k, int, "--k") or list(PURITY_KS)
    rep = evaluate_views(labels, PoseOptions(backend=args.backend, params=_backend_params(args)), ks=ks,
                         progress=_progress(args), data_dir=resolve_data_dir(args.data_dir))
    if args.out:
        from .exports import to_csv
        to_csv(rep.per_image, args.out)
    if args.json:
        _print_json(rep.to_dict())
        return 0
    print(f"{rep.n_images} images, {rep.seconds_per_image * 1000:.1f} ms per image (pose + signals)")
    for name, value in rep.accuracy.items():
        print(f"  {name:<24} {value}")
    sp = rep.several_people
    print(f"  several people: precision {sp['precision']}, recall {sp['recall']} "
          f"({sp['n_true']} true, {sp['n_flagged']} flagged)")
    for name, table in rep.tables.items():
        print(f"\n{name.replace('_', ' ')}:")
        print(table.to_string())
    if rep.purity:
        print("\nK-Means purity (single-person images):")
        print(pd.DataFrame(rep.purity).to_string(index=False))
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
    from .pose.bundled import list_bundled
    from .pose.weights import list_models

    models = list_models(resolve_data_dir(args.data_dir))
    bundled = [{**b, "kind": "bundled"} for b in list_bundled()]
    if args.json:
        _print_json(models + bundled)
        return 0
    if not models:
        print("no models imported: `unposed models add-mmpose CKPT --trust` or `add-rtmpose MODEL.onnx`")
    for m in models:
        print(f"{m['name']}  kind={m.get('kind')}  sha256={m.get('sha256', '')[:12]}  {m.get('path')}")
    print("pretrained, fetched at set-up (`make models`):")
    for b in bundled:
        state = f"sha256={b['sha256'][:12]}  {b['file']}" if b["installed"] else "NOT INSTALLED: run `make models`"
        print(f"  {b['name']:<18} {state}\n  {'':<18} {b['source']}; {b['licence']}")
    return 0


BACKEND_HELP = ("blazepose (77 dims), blazepose-heavy (77 dims), movenet-thunder / movenet-lightning "
                "(61 dims; these three need `make models` once), blazepose-coco17 (61 dims, BlazePose-derived), "
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
        sp.add_argument("--k", type=int, default=TrainConfig().k, help="number of pose clusters")
        sp.add_argument("--backend", default="blazepose", help=BACKEND_HELP)
        sp.add_argument("--model", default=None, help="imported weights to use (`unposed models list`)")
        sp.add_argument("--backend-param", action="append", metavar="KEY=VALUE",
                        help="backend setting, e.g. flip_test=false or keypoint_threshold=0.2")
        sp.add_argument("--seed", type=int, default=0)
        sp.add_argument("--autoencoder", action="store_true", help="compress embeddings to 8 dims first")
        sp.add_argument("--no-views", action="store_true",
                        help="the paper's embedding alone, without the view dimensions (facing, framing)")
        sp.add_argument("--top-k", type=int, default=3000, help="reference products kept, most popular first")
        sp.add_argument("--min-images", type=int, default=9, help="reference products have more images than this")
        sp.add_argument("--subject-max-images", type=int, default=5, help="subject products have fewer than this")
        sp.add_argument("--rating-weight", type=float, default=0.5)
        sp.add_argument("--count-weight", type=float, default=0.5)
        sp.add_argument("--min-share", type=float, default=0.0,
                        help="absolute floor under the calibrated expectation: a pose is expected only when "
                             "at least this share of a cohort's top products show it (default 0: off)")
        sp.add_argument("--workers", type=int, default=None, help="pose processes (default: one per core for big jobs)")

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
    _engine_opts(sp, "the catalogue")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_extract)

    sp = sub.add_parser("train", parents=[common], help="cluster reference poses and rank them per cohort")
    train_opts(sp)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_train)

    def suggest_opts(sp):
        from .config import SuggestConfig

        d = SuggestConfig()
        sp.add_argument("--expect", type=float, default=None,
                        help=f"a pose group is expected in a cohort when its support is at least this times the "
                             f"cohort's typical support (default {d.expect:g})")
        sp.add_argument("--min-share", type=float, default=None,
                        help="and at least this share of the cohort's top products (default: the run's floor, "
                             "0 for new runs)")
        sp.add_argument("--coverage", type=float, default=None, metavar="PERCENTILE",
                        help="an image covers a pose cluster within this percentile of the cluster's member "
                             f"distances, even if another centroid is nearer; 0 = nearest only "
                             f"(default {d.coverage_percentile:g})")
        sp.add_argument("--min-confidence", type=float, default=None,
                        help=f"leave out requests below this confidence, 0..1 (default {d.min_confidence:g})")
        sp.add_argument("--view-share", type=float, default=None, metavar="SHARE",
                        help="view coverage: an image also covers every pose cluster whose reference photos show "
                             "its facing and framing at least this often, 0..1; 0 = off "
                             f"(default {d.view_share:g})")
        sp.add_argument("--support-only", action="store_true",
                        help="expect a pose by its support only, not also when the ranker scores it above the "
                             "cohort's baseline")
        sp.add_argument("--score-ranks", type=int, default=None, metavar="N",
                        help="the ranker's first N poses can be expected by their score when their support is low "
                             f"(default {d.score_ranks}: the pose it puts first; 0 = any pose above the baseline)")

    sp = sub.add_parser("suggest", parents=[common], help="missing poses of a product or of image files")
    suggest_opts(sp)
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
    suggest_opts(sp)
    sp.add_argument("--out", required=True)
    sp.add_argument("--format", choices=["csv", "json"])
    sp.add_argument("--run", default=None)
    _engine_opts(sp, "the products' images not in the pose cache yet")
    sp.set_defaults(func=cmd_report)

    sp = sub.add_parser("sheet", parents=[common],
                        help="seller sheets: one product's HTML page, or a zip for a cohort or all subject products")
    suggest_opts(sp)
    sp.add_argument("product_id", nargs="?")
    sp.add_argument("--cohort", help="every subject product of this cohort, e.g. 'Clothing / T-shirts' (a zip)")
    sp.add_argument("--all", action="store_true", help="every subject product (a zip)")
    sp.add_argument("--out", help="file to write (default PRODUCT_ID.html, or seller-sheets.zip)")
    sp.add_argument("--references", type=int, default=3, help="example photos per missing pose")
    sp.add_argument("--run", default=None)
    sp.set_defaults(func=cmd_sheet)

    sp = sub.add_parser("hints", parents=[common], help="seller hints per pose group: list, set, history")
    sp.add_argument("--run", default=None, help="run id whose groups to list (default: the active run)")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_hints, hints_command=None)
    hsub = sp.add_subparsers(dest="hints_command")
    hinner = argparse.ArgumentParser(add_help=False)
    hinner.add_argument("--data-dir", default=argparse.SUPPRESS, help="as for `unposed hints`")
    hinner.add_argument("--run", default=argparse.SUPPRESS)
    hinner.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    hsub.add_parser("list", parents=[hinner], help="every pose group with the hint a seller sees")
    hp = hsub.add_parser("set", parents=[hinner], help="the hint of the pose group with this description")
    hp.add_argument("text", help="the pose group's description, e.g. 'Back, full length'")
    hp.add_argument("hint", nargs="?", default="")
    hp.add_argument("--clear", action="store_true", help="back to the generated hint")
    hsub.add_parser("history", parents=[hinner], help="every hint set or cleared")

    sp = sub.add_parser("runs", parents=[common], help="list trained runs, or pick the active one")
    sp.add_argument("--activate", metavar="RUN_ID",
                    help="make this run active; one never active before gets the descriptions and marks of the "
                         "active run, carried to its matching centroids")
    sp.add_argument("--keep-unmatched", action="store_true",
                    help="with --activate, when the active run cannot be read and no earlier run of its lineage "
                         "can: activate anyway and list its descriptions and marks as unplaced")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_runs)

    sp = sub.add_parser("describe", parents=[common],
                        help="list or set human descriptions of centroids; place or dismiss unplaced ones")
    sp.add_argument("centroid", nargs="?", type=int)
    sp.add_argument("text", nargs="?")
    sp.add_argument("--run", default=None)
    sp.add_argument("--place", nargs=2, type=int, metavar=("ID", "CENTROID"),
                    help="put unplaced description ID on CENTROID")
    sp.add_argument("--dismiss", type=int, metavar="ID", help="drop unplaced description ID (kept in the history)")
    sp.add_argument("--reviewed", type=int, metavar="CENTROID",
                    help="the description carried onto CENTROID is checked: clear its [needs review]")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_describe)

    sp = sub.add_parser("groups", parents=[common],
                        help="pose groups: list, merge, split, exclude, desirable, merge proposals")
    sp.add_argument("--run", default=None, help="run id (default: the active run)")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_groups, groups_command=None)
    # options given before or after the subcommand both count (SUPPRESS: no default to overwrite them)
    inner = argparse.ArgumentParser(add_help=False)
    inner.add_argument("--data-dir", default=argparse.SUPPRESS, help="as for `unposed groups`")
    inner.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS)
    inner.add_argument("--run", default=argparse.SUPPRESS, help="run id (default: the active run)")
    inner.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    gsub = sp.add_subparsers(dest="groups_command")
    gp = gsub.add_parser("list", parents=[inner], help="the groups, their marks, proposals, unplaced marks")
    gp = gsub.add_parser("merge", parents=[inner], help="make these centroids (and their groups) one pose")
    gp.add_argument("centroids", nargs="+", type=int)
    gp.add_argument("--note", default=None)
    gp = gsub.add_parser("split", parents=[inner], help="make a centroid a pose of its own")
    gp.add_argument("centroid", type=int)
    gp = gsub.add_parser("exclude", parents=[inner],
                         help="never ask for a centroid (junk, or a pose the shop does not want)")
    gp.add_argument("centroid", type=int)
    gp.add_argument("--note", default=None, help="why, e.g. junk / not wanted")
    gp.add_argument("--undo", action="store_true", help="ask for it again")
    gp = gsub.add_parser("desirable", parents=[inner], help="mark the pose of a centroid as one to ask for")
    gp.add_argument("centroid", type=int)
    gp.add_argument("--undo", action="store_true")
    gp = gsub.add_parser("proposals", parents=[inner],
                         help="merges the engine proposes; `proposals accept A B` / `proposals reject A B`")
    gp.add_argument("decision", nargs="?", choices=["accept", "reject"])
    gp.add_argument("pair", nargs="*", type=int)
    gp.add_argument("--separation", type=float, default=None,
                    help="propose two centroids when the distance between their centres is less than this times "
                         "their members' spread along the line joining them (default 2.0, or the data dir's "
                         "setting; one normal blob cut in two gives about 1.9)")
    gp.add_argument("--save", action="store_true", help="keep --separation as the data dir's setting")
    gp = gsub.add_parser("place", parents=[inner], help="put an unplaced mark on centroids of this run")
    gp.add_argument("id", type=int)
    gp.add_argument("centroids", nargs="+", type=int)
    gp = gsub.add_parser("dismiss", parents=[inner], help="drop an unplaced mark (kept in the history)")
    gp.add_argument("id", type=int)

    sp = sub.add_parser("evaluate", parents=[common],
                        help="missing-pose accuracy against labelled views (the paper's Table 1)")
    sp.add_argument("--labels", default=None, metavar="FILE",
                    help="CSV of image,label rows and/or product_id,missing rows (default: the "
                         "catalogue's pose_label column, e.g. the demo's)")
    sp.add_argument("--config", action="append", metavar="NAME",
                    help="blazepose, blazepose+ae, mmpose-hrnet+ae ... (repeatable; default: BlazePose "
                         "with and without the autoencoder, plus any other backend already extracted)")
    sp.add_argument("--k", default=None,
                    help="clusters, or a comma-separated sweep such as 6,8,10,12 (default: the active run's K)")
    sp.add_argument("--expect", default=None,
                    help="expectation setting(s) to sweep, e.g. 0.5,0.75,1 (x the cohort's typical support)")
    sp.add_argument("--coverage", default=None, metavar="PERCENTILES",
                    help="soft-coverage percentile(s) to sweep, e.g. 0,75,90 (0 = nearest centroid only)")
    sp.add_argument("--min-confidence", default=None, help="confidence cut-off(s) to sweep, e.g. 0,0.2")
    sp.add_argument("--by-score", default=None, metavar="on,off",
                    help="also expect poses the ranker scores above the cohort's baseline: on, off, or on,off")
    sp.add_argument("--view-share", default=None, metavar="SHARES",
                    help="view-coverage share(s) to sweep, e.g. 0,0.6 (0 = off)")
    sp.add_argument("--score-ranks", default=None, metavar="N,...",
                    help="by-score rule reach(es) to sweep, e.g. 0,1 (1 = the ranker's first pose, 0 = any rank)")
    sp.add_argument("--seeds", type=int, default=3, help="repeats, each with a new split, training and draws")
    sp.add_argument("--seed", type=int, default=0, help="first seed")
    sp.add_argument("--holdout", type=float, default=0.25,
                    help="share of labelled reference products held out of training per seed")
    sp.add_argument("--keep", type=int, default=4, help="keep at most this many images (the paper's p - 1)")
    sp.add_argument("--keep-min", type=int, default=2, help="keep at least this many images")
    sp.add_argument("--draws", type=int, default=5, help="kept subsets per product and seed")
    sp.add_argument("--answer-min", type=int, default=None, metavar="N",
                    help="score only products with at least N images, whose full listing is the answer "
                         "(default: the subject threshold p, 5; keep-min + 1 scores sparse listings too)")
    sp.add_argument("--min-images", type=int, default=None, help="override: reference products have more images")
    sp.add_argument("--subject-max-images", type=int, default=None, help="override the subject threshold")
    sp.add_argument("--min-share", type=float, default=None,
                    help="override the absolute floor under the calibrated expectation (share of top products)")
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

    sp = sub.add_parser("views", parents=[common], help="what images show: facing, framing, kind, flags")
    vsub = sp.add_subparsers(dest="views_command", required=True)
    vp = vsub.add_parser("show", parents=[common], help="the view of image files (no catalogue needed)")
    vp.add_argument("images", nargs="+")
    vp.add_argument("--backend", default="blazepose")
    vp.add_argument("--model", default=None, help="imported weights for an MMPose/RTMPose backend")
    vp.add_argument("--backend-param", action="append", metavar="KEY=VALUE")
    vp.add_argument("--json", action="store_true")
    vp.set_defaults(func=cmd_views_show)
    vp = vsub.add_parser("evaluate", parents=[common],
                         help="score the view rules on labelled images (CSV: file, kind, facing|yaw_deg, framing, "
                              "n_people)")
    vp.add_argument("labels", help="labels CSV, e.g. assets/views/labels.csv")
    vp.add_argument("--images", default=None, help="folder the CSV's files are in (default: the CSV's folder)")
    vp.add_argument("--backend", default="blazepose")
    vp.add_argument("--model", default=None, help="imported weights for an MMPose/RTMPose backend")
    vp.add_argument("--backend-param", action="append", metavar="KEY=VALUE")
    vp.add_argument("--k", default=None, help="K values for the purity table, e.g. 6,8,10 (default 6..16)")
    vp.add_argument("--out", default=None, metavar="CSV", help="write the per-image predictions here")
    vp.add_argument("--json", action="store_true")
    vp.set_defaults(func=cmd_views_evaluate)

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
        with _signals_as_interrupts():
            code = _run(args)
    except KeyboardInterrupt as exc:   # Ctrl-C, SIGTERM, SIGHUP: the same clean stop
        print(INTERRUPTED, file=sys.stderr)
        code = 128 + exc.signum if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    ray_engine = sys.modules.get("unpose_core.pose.ray_engine")
    if ray_engine is not None and ray_engine.abandoned():   # a Ray cluster lost its head under us:
        ray_engine.end_process(code)                       # Ray's teardown would crash the exit
    return code


def _interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C / SIGTERM behind an error, if any: Python wraps an exception raised while a class
    is created (``__set_name__``) in a RuntimeError, and an error raised while cleaning up after an
    interrupt has it as its context. Either way the user asked to stop."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, KeyboardInterrupt):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _run(args) -> int:
    try:
        return args.func(args)
    except Exception as exc:  # bad input of any kind: one clear line, no traceback
        stop = _interrupt_behind(exc)
        if stop is not None:   # a stop, not bad input: the same clean stop as a bare interrupt
            if exc.__cause__ is not stop:   # an error while stopping: say it, then stop
                print(f"error: {exc}", file=sys.stderr)
            raise stop from None
        from .diskspace import disk_full
        full = disk_full(exc, resolve_data_dir(getattr(args, "data_dir", None)))
        if full is not None:   # the disk, not the input: say where and what to do (finished work is kept)
            if args.debug:
                raise
            print(f"error: {full}", file=sys.stderr)
            return EXIT_USAGE
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
