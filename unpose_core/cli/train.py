"""Runs: `train`, `runs`, `evaluate`."""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import unpose_core.api as api

from ..config import EvalOptions, SelectionConfig, TrainConfig
from .common import BACKEND_HELP, backend_params, numbers, open_store, print_json, progress, switches

_TRAIN, _SEL, _EVAL = TrainConfig(), SelectionConfig(), EvalOptions()


def add_train_opts(sp) -> None:
    """The training settings (`train`, `demo --train`): each default is TrainConfig's or
    SelectionConfig's, shown in the help."""
    sp.add_argument("--k", type=int, default=_TRAIN.k, help="number of pose clusters (default %(default)s)")
    sp.add_argument("--backend", default=_TRAIN.backend, help=f"{BACKEND_HELP} (default %(default)s)")
    sp.add_argument("--model", default=None, help="imported weights to use (`unposed models list`)")
    sp.add_argument("--backend-param", action="append", metavar="KEY=VALUE",
                    help="backend setting, e.g. flip_test=false or keypoint_threshold=0.2")
    sp.add_argument("--seed", type=int, default=_TRAIN.seed, help="default %(default)s")
    sp.add_argument("--autoencoder", action="store_true", default=_TRAIN.autoencoder,
                    help="compress embeddings to 8 dims first")
    sp.add_argument("--no-views", dest="views", action="store_false", default=_TRAIN.views,
                    help="the paper's embedding alone, without the view dimensions (facing, framing)")
    sp.add_argument("--top-k", type=int, default=_SEL.top_k,
                    help="reference products kept, most popular first (default %(default)s)")
    sp.add_argument("--min-images", type=int, default=_SEL.min_images,
                    help="reference products have more images than this (default %(default)s)")
    sp.add_argument("--subject-max-images", type=int, default=_SEL.subject_max_images,
                    help="subject products have fewer than this (default %(default)s)")
    sp.add_argument("--rating-weight", type=float, default=_TRAIN.rating_weight, help="default %(default)s")
    sp.add_argument("--count-weight", type=float, default=_TRAIN.count_weight, help="default %(default)s")
    sp.add_argument("--min-share", dest="min_cohort_share", metavar="SHARE", type=float,
                    default=_TRAIN.min_cohort_share,
                    help="absolute floor under the calibrated expectation: a pose is expected only when "
                         "at least this share of a cohort's top products show it (default %(default)s: off)")
    sp.add_argument("--workers", type=int, default=None, help="pose processes (default: one per core for big jobs)")


def train_config(args) -> TrainConfig:
    sel = SelectionConfig(top_k=args.top_k, min_images=args.min_images, subject_max_images=args.subject_max_images)
    return TrainConfig(backend=args.backend, k=args.k, seed=args.seed, autoencoder=args.autoencoder,
                       views=args.views, rating_weight=args.rating_weight, count_weight=args.count_weight,
                       min_cohort_share=args.min_cohort_share, selection=sel, backend_params=backend_params(args))


def run_train(args, store) -> int:
    res = api.train(store, train_config(args), progress=progress(args), workers=args.workers)
    if getattr(args, "json", False):
        print_json(res.to_dict())
    else:
        sel = res.selection
        print(f"run {res.run_id}: K={args.k}, {sel['reference']} reference products "
              f"({res.summary['n_reference_images']} images, {res.summary['n_no_person']} without a person), "
              f"{sel['subject']} subject products; saved to {res.path}")
    for note in res.notes:   # e.g. empty K-Means clusters re-seeded
        print(f"note: {note}", file=sys.stderr)
    print_activation(res.activation)
    return 0


def print_activation(act) -> None:
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
    return run_train(args, open_store(args))


def cmd_runs(args) -> int:
    store = open_store(args)
    if args.activate:
        print_activation(api.activate_run(store, args.activate, keep_unmatched=args.keep_unmatched))
    runs = api.list_runs(store)
    if args.json:
        print_json(runs.to_dict(orient="records"))
        return 0
    if runs.empty:
        print("no runs yet: `unposed train`")
    for r in runs.itertuples():
        print(f"{'*' if r.active else ' '} {r.run_id}  backend={r.backend} K={r.k}  {r.path}")
    return 0


def eval_options(args, store) -> EvalOptions:
    ks = numbers(args.k, int, "--k")
    opts = replace(_EVAL, k=ks[0] if ks else None, ks=ks if ks and len(ks) > 1 else None, seeds=args.seeds,
                   first_seed=args.first_seed, holdout=args.holdout, keep_min=args.keep_min, keep_max=args.keep_max,
                   draws=args.draws, answer_min=args.answer_min, expect=numbers(args.expect, float, "--expect"),
                   coverage=numbers(args.coverage, float, "--coverage"),
                   min_confidence=numbers(args.min_confidence, float, "--min-confidence"),
                   by_score=switches(args.by_score, "--by-score"),
                   view_share=numbers(args.view_share, float, "--view-share"),
                   score_ranks=numbers(args.score_ranks, int, "--score-ranks"))
    if args.min_images is not None or args.min_share is not None or args.subject_max_images is not None:
        base = api.base_train_config(store, opts.k)
        sel = base.selection
        if args.min_images is not None:
            sel = replace(sel, min_images=args.min_images)
        if args.subject_max_images is not None:
            sel = replace(sel, subject_max_images=args.subject_max_images)
        base = replace(base, selection=sel)
        if args.min_share is not None:
            base = replace(base, min_cohort_share=args.min_share)
        opts.base = base
    return opts


def _label_budget(args, store) -> int:
    """`unposed evaluate --label-budget 0,25,100,all`: view and suggestion accuracy per budget."""
    res = api.label_budget_curve(store, args.label_budget, args.config[0] if args.config else None,
                                 progress(args), options=eval_options(args, store), workers=args.workers)
    if args.out:
        from ..exports import to_csv
        to_csv(res.table, args.out)
    if args.json:
        print_json({"per_seed": res.table.to_dict(orient="records"),
                    "summary": res.summary().to_dict(orient="records")})
        return 0
    print("label budget: reference images whose labels the view reader may learn from (0 = the view rules); "
          "view accuracy where the person was found, on the labelled images it did not learn from; "
          "suggestion accuracy / precision of the hide-and-complete evaluation")
    print(res.summary().to_string(index=False))
    return 0


def cmd_evaluate(args) -> int:
    """Missing-pose accuracy against labelled views (hide and complete), Table-1 style."""
    store = open_store(args)
    if args.label_budget:
        return _label_budget(args, store)
    labels = api.evaluation_labels(store, args.labels)
    res = api.evaluate(store, labels, args.config, progress(args), options=eval_options(args, store),
                       workers=args.workers)
    saved = api.save_evaluation(store, res)
    judged = api.judgements(store)
    if args.out:
        from ..exports import to_csv

        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        to_csv(res.trials, out)
    if args.json:
        d = res.to_dict()
        if judged is not None and not judged.empty:
            d["judgements"] = {"run_id": store.active_run_id(),
                               "table": json.loads(judged.to_json(orient="index"))}
        print_json(d)
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


def add_parsers(sub, common) -> None:
    sp = sub.add_parser("train", parents=[common], help="cluster reference poses and rank them per cohort")
    add_train_opts(sp)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser("runs", parents=[common], help="list trained runs, or pick the active one")
    sp.add_argument("--activate", metavar="RUN_ID",
                    help="make this run active; one never active before gets the descriptions and marks of the "
                         "active run, carried to its matching centroids")
    sp.add_argument("--keep-unmatched", action="store_true",
                    help="with --activate, when the active run cannot be read and no earlier run of its lineage "
                         "can: activate anyway and list its descriptions and marks as unplaced")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_runs)

    sp = sub.add_parser("evaluate", parents=[common],
                        help="missing-pose accuracy against labelled views (the paper's Table 1)")
    sp.add_argument("--labels", default=None, metavar="FILE",
                    help="CSV of image,label rows and/or product_id,missing rows (default: the "
                         "catalogue's pose_label column, e.g. the demo's)")
    sp.add_argument("--config", action="append", metavar="NAME",
                    help="blazepose, blazepose+ae, mmpose-hrnet+ae ... (repeatable; default: BlazePose "
                         "with and without the autoencoder, plus any other backend already extracted)")
    sp.add_argument("--k", default=_EVAL.k,
                    help=f"clusters, or a comma-separated sweep such as 6,8,10,12 (default: the active run's K, "
                         f"else {_TRAIN.k})")
    sp.add_argument("--expect", default=_EVAL.expect,
                    help="expectation setting(s) to sweep, e.g. 0.5,0.75,1 (x the cohort's typical support)")
    sp.add_argument("--coverage", default=_EVAL.coverage, metavar="PERCENTILES",
                    help="soft-coverage percentile(s) to sweep, e.g. 0,75,90 (0 = nearest centroid only)")
    sp.add_argument("--min-confidence", default=_EVAL.min_confidence,
                    help="confidence cut-off(s) to sweep, e.g. 0,0.2")
    sp.add_argument("--by-score", default=_EVAL.by_score, metavar="on,off",
                    help="also expect poses the ranker scores above the cohort's baseline: on, off, or on,off")
    sp.add_argument("--view-share", default=_EVAL.view_share, metavar="SHARES",
                    help="view-coverage share(s) to sweep, e.g. 0,0.6 (0 = off)")
    sp.add_argument("--score-ranks", default=_EVAL.score_ranks, metavar="N,...",
                    help="by-score rule reach(es) to sweep, e.g. 0,1 (1 = the ranker's first pose, 0 = any rank)")
    sp.add_argument("--seeds", type=int, default=_EVAL.seeds,
                    help="repeats, each with a new split, training and draws (default %(default)s)")
    sp.add_argument("--seed", dest="first_seed", metavar="SEED", type=int, default=_EVAL.first_seed,
                    help="first seed (default %(default)s)")
    sp.add_argument("--holdout", type=float, default=_EVAL.holdout,
                    help="share of labelled reference products held out of training per seed (default %(default)s)")
    sp.add_argument("--keep", dest="keep_max", metavar="N", type=int, default=_EVAL.keep_max,
                    help="keep at most this many images (the paper's p - 1; default %(default)s)")
    sp.add_argument("--keep-min", type=int, default=_EVAL.keep_min,
                    help="keep at least this many images (default %(default)s)")
    sp.add_argument("--draws", type=int, default=_EVAL.draws,
                    help="kept subsets per product and seed (default %(default)s)")
    sp.add_argument("--answer-min", type=int, default=_EVAL.answer_min, metavar="N",
                    help="score only products with at least N images, whose full listing is the answer "
                         f"(default: the subject threshold p, {_SEL.subject_max_images}; keep-min + 1 scores "
                         "sparse listings too)")
    sp.add_argument("--min-images", type=int, default=None, help="override: reference products have more images")
    sp.add_argument("--subject-max-images", type=int, default=None, help="override the subject threshold")
    sp.add_argument("--min-share", type=float, default=None,
                    help="override the absolute floor under the calibrated expectation (share of top products)")
    sp.add_argument("--workers", type=int, default=None)
    sp.add_argument("--out", default=None, metavar="CSV", help="write every trial (kept, truth, flagged) here")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--label-budget", default=None, metavar="N,...",
                    help="view reader learning curve: counts (25), shares (10%% or 0.1) or 'all' of the reference "
                         "images whose view labels the reader may learn from, e.g. 0,25,100,all")
    sp.set_defaults(func=cmd_evaluate)
