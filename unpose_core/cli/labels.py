"""What people call and mark the poses: `describe`, `groups`, `hints`."""
from __future__ import annotations

import argparse
import sys

import unpose_core.api as api
from unpose_core.records import DescriptionStatus

from ..config import MERGE_SEPARATION
from .common import SOURCE, CliError, open_store, print_json, unplaced_line


def cmd_describe(args) -> int:
    store = open_store(args)
    run = api.load_run(store, args.run)
    if args.place is not None:
        item_id, centroid = args.place
        u = api.place_unplaced(store, item_id, [centroid], run, SOURCE)
        print(f"#{u.id} placed on centroid {centroid} of run {run.run_id}: {u.what()}")
        return 0
    if args.dismiss is not None:
        u = api.dismiss_unplaced(store, args.dismiss, run, SOURCE)
        print(f"#{u.id} dismissed (kept in the history): {u.what()}")
        return 0
    if args.reviewed is not None:
        d = api.mark_reviewed(store, args.reviewed, run, SOURCE)
        print(f"run {run.run_id} centroid {args.reviewed}: “{d.text}” checked")
        return 0
    if args.centroid is not None:
        now_in = api.set_description(store, args.centroid, args.text, run, SOURCE)
        print(f"run {run.run_id} centroid {args.centroid}: {args.text}")
        if now_in != run.run_id:   # a retrain activated another run while this was written
            print(f"note: run {run.run_id} was replaced by {now_in} meanwhile: carried into {now_in}",
                  file=sys.stderr)
        return 0
    listing = api.centroid_descriptions(store, run)
    if args.json:
        print_json(listing)
        return 0
    for c in listing["centroids"]:
        review = "  [needs review]" if c["human"] and c["status"] != DescriptionStatus.OK else ""
        print(f"{c['centroid']:>3}  size {c['size']:>5}  {c['label']}{review}")
    if any(c["human"] and c["status"] != DescriptionStatus.OK for c in listing["centroids"]):
        print("[needs review]: carried from an earlier run onto a centroid that only roughly matches; "
              "check it: unposed describe --reviewed CENTROID")
    unplaced = listing["unplaced"]
    texts = [u for u in unplaced if u["is_description"]]
    if texts:
        print(f"unplaced descriptions ({len(texts)}: no centroid of this run matched them; they go on to "
              f"later runs until you place or dismiss them):")
        for u in texts:
            print(unplaced_line(u))
        print("place one: unposed describe --place ID CENTROID; drop one: unposed describe --dismiss ID")
    if len(texts) < len(unplaced):
        print(f"{len(unplaced) - len(texts)} unplaced pose-group marks: unposed groups")
    return 0


def cmd_groups(args) -> int:
    """Pose groups of a run and the analyst's marks on them."""
    store = open_store(args)
    run = api.load_run(store, args.run)
    action = args.groups_command or "list"
    if action in ("merge", "split", "exclude", "desirable"):
        cs = args.centroids if action == "merge" else [args.centroid]
        res = api.edit_groups(store, action, cs, run, note=getattr(args, "note", None),
                              undo=getattr(args, "undo", False), source=SOURCE)
        c, undo = cs[0], getattr(args, "undo", False)
        if action == "merge":
            print(f"merged: group {res['group_of'][c]} = centroids {' '.join(map(str, res['members'][c]))}")
        elif action == "split":
            print(f"centroid {c} is a pose of its own (group {res['group_of'][c]})")
        elif action == "exclude":
            print(f"centroid {c} {'is asked for again' if undo else 'is never asked for'}")
        else:
            print(f"the pose of centroid {c} is {'no longer ' if undo else ''}marked desirable")
        return 0
    if action == "place":
        u = api.place_unplaced(store, args.id, args.centroids, run, SOURCE)
        print(f"#{u.id} placed on centroid(s) {' '.join(map(str, u.placed_on or ()))}: {u.what()}")
        return 0
    if action == "dismiss":
        u = api.dismiss_unplaced(store, args.id, run, SOURCE)
        print(f"#{u.id} dismissed (kept in the history): {u.what()}")
        return 0
    if action == "proposals":
        if args.decision:
            if len(args.pair) != 2:
                raise CliError(f"proposals {args.decision} takes two centroids, e.g. `proposals {args.decision} 2 7`")
            if args.separation is not None and args.save:
                api.set_merge_separation(store, args.separation)
            a, b = args.pair
            res = api.edit_groups(store, args.decision, [a, b], run, source=SOURCE)
            if args.decision == "accept":
                print(f"accepted: centroids {a} and {b} are one pose (group {res['group_of'][a]})")
            else:
                print(f"rejected: centroids {a} and {b} stay apart and are not proposed again")
            return 0
        props = api.merge_proposals(store, run, args.separation, save=args.save)
        if args.json:
            print_json(props)
            return 0
        _print_proposals(props["proposals"], props["separation"])
        return 0
    listing = api.pose_groups(store, run)
    if args.json:
        print_json(listing)
        return 0
    rows, q = listing["groups"], listing["separation"]
    print(f"run {listing['run_id']}: {len(rows)} pose groups from {listing['n_classes']} classes")
    for r in rows:
        flags = (" [desirable]" if r["desirable"] else "") + (" [excluded]" if r["excluded"] else "")
        print(f"  group {r['group']}: {r['label']}{flags}  ({r['size']} images)")
        for c, name in r["named"].items():
            print(f"      {r['tags'][c]:>3}  {name}")
        if r["marks"]:
            print(f"      marks: {', '.join(r['marks'])}")
    _print_proposals(listing["proposals"], q)
    marks_waiting = listing["unplaced_marks"]
    if marks_waiting:
        print(f"unplaced marks ({len(marks_waiting)}: no centroid of this run matched them):")
        for u in marks_waiting:
            print(unplaced_line(u))
        print("place one: unposed groups place ID CENTROID [CENTROID]; drop one: unposed groups dismiss ID")
    return 0


def _print_proposals(props: list[dict], q: float) -> None:
    rule = f"centres closer than {q:g} x their members' spread along the line between them"
    if not props:
        print(f"no merge proposals ({rule})")
        return
    print(f"merge proposals ({len(props)}; {rule}, or mirror partners):")
    for p in props:
        a, b = p["a"], p["b"]
        why = (f"separation {p['separation']:.2f} < {q:g}" if p["reason"] == "close"
               else f"mirror partners, separation {p['separation']:.2f}")
        print(f"  {a} + {b}: {why}   accept: unposed groups proposals accept {a} {b}  |  "
              f"reject: ... reject {a} {b}")


def cmd_hints(args) -> int:
    """Seller hints per pose group: list them, set one (kept across retraining), or the history."""
    store = open_store(args)
    action = args.hints_command or "list"
    if action == "set":
        if not args.clear and not (args.hint or "").strip():
            raise CliError("hints set TEXT HINT needs the HINT (or --clear to go back to the generated one)")
        key = api.set_hint(store, args.text, "" if args.clear else args.hint, SOURCE)
        print(f"hint for {key!r} " + ("cleared: the generated hint is used again" if args.clear else "saved"))
        return 0
    if action == "history":
        df = api.hint_history(store)
        if args.json:
            print_json(df.to_dict("records"))
            return 0
        for r in df.itertuples():
            print(f"  #{r.id} {r.action:<5} {r.text_key!r}: {r.hint or '(generated)'}  [{r.source or ''}]")
        print(f"{len(df)} change(s)")
        return 0
    listing = api.group_hints(store, args.run)
    if args.json:
        print_json(listing)
        return 0
    rows, orphans = listing["groups"], listing["unmatched"]
    print(f"run {listing['run_id']}: {len(rows)} pose groups ({sum(h['edited'] is not None for h in rows)} "
          "with an edited hint)")
    for h in rows:
        tag = "edited" if h["edited"] else "generated"
        print(f"  group {h['group']}: {h['label']}{' [excluded]' if h['excluded'] else ''}\n      {tag}: {h['hint']}")
    if orphans:
        print(f"edited hints no group of this run has ({len(orphans)}; kept for when the description returns):")
        for r in orphans:
            print(f"  {r['text']!r}: {r['hint']}")
    print('set one: unposed hints set "DESCRIPTION" "HINT"  (--clear: back to the generated hint)')
    return 0


def cmd_cohorts(args) -> int:
    """Each cohort's suggestion settings and their source; --tune chooses them from the reviews."""
    from ..rank import cohort_name

    if args.min_reviews is not None and not args.tune:
        raise CliError("--min-reviews goes with --tune")
    out = api.cohorts(open_store(args), args.run, tune=args.tune, reset=args.reset, actor=SOURCE,
                      min_reviews=args.min_reviews)
    table = out["cohorts"]
    if args.json:
        print_json({**{k: v for k, v in out.items() if k != "cohorts"}, "cohorts": table.to_dict("records")})
        return 0
    if out.get("reset"):
        print(f"{cohort_name(out['reset'])}: back on the defaults (the history keeps the tuned settings)")
    tuning = out.get("tuning")
    if tuning is not None:
        for t in tuning["tuned"]:
            d, e = t["default"], t["estimate"]
            print(f"tuned {t['cohort_name']} from {t['n_reviews']} reviews: held-out precision {e['precision']:.2f}, "
                  f"recall {e['recall']:.2f}, F1 {e['f1']:.2f} ({e['folds']} folds); the defaults on the same "
                  f"reviews: precision {d['precision']:.2f}, recall {d['recall']:.2f}, F1 {d['f1']:.2f}")
        for name, n in tuning["untuned"].items():
            print(f"not tuned: {name} ({n} reviewed products counted elsewhere or too few)")
        if not tuning["tuned"]:
            print(f"no cohort has enough reviewed products yet ({tuning['n_reviewed']} reviewed in all): "
                  "the defaults hold")
    print(f"run {out['run_id']}:")
    for r in table.to_dict("records"):
        src = r["estimate"] if r["source"] == "tuned" else r["source"]
        print(f"  {r['cohort']:<42} {r['settings']}  [{src}]")
    return 0


def add_parsers(sub, common) -> None:
    sp = sub.add_parser("describe", parents=[common],
                        help="list or set human descriptions of centroids; place or dismiss unplaced ones")
    sp.add_argument("centroid", nargs="?", type=int)
    sp.add_argument("text", nargs="?")
    sp.add_argument("--run", default=None, help="run id (default: the active run)")
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
                         f"their members' spread along the line joining them (default {MERGE_SEPARATION:g}, or "
                         "the data dir's setting; one normal blob cut in two gives about 1.9)")
    gp.add_argument("--save", action="store_true", help="keep --separation as the data dir's setting")
    gp = gsub.add_parser("place", parents=[inner], help="put an unplaced mark on centroids of this run")
    gp.add_argument("id", type=int)
    gp.add_argument("centroids", nargs="+", type=int)
    gp = gsub.add_parser("dismiss", parents=[inner], help="drop an unplaced mark (kept in the history)")
    gp.add_argument("id", type=int)

    sp = sub.add_parser("cohorts", parents=[common],
                        help="each cohort's suggestion settings and where they came from; tune them from the "
                             "reviews, or reset one")
    sp.add_argument("--run", default=None, help="run id (default: the active run)")
    sp.add_argument("--tune", action="store_true",
                    help="choose the settings of every cohort with enough reviewed products by F1 on the reviews")
    sp.add_argument("--min-reviews", type=int, default=None, metavar="N",
                    help="reviewed products a cohort needs to be tuned (default: OperatingOptions.min_reviews)")
    sp.add_argument("--reset", default=None, metavar="COHORT", help="put a cohort back on the defaults")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_cohorts)

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
    hp.add_argument("hint", nargs="?", default=None)
    hp.add_argument("--clear", action="store_true", help="back to the generated hint")
    hsub.add_parser("history", parents=[hinner], help="every hint set or cleared")
