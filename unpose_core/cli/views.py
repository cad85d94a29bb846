"""What images show: `views show`, `views evaluate`, and the catalogue's view labels and learned
view reader: `views label`, `views train`, `views status`, `views evaluate --reader`."""
from __future__ import annotations

from pathlib import Path

import unpose_core.api as api

from .common import CliError, add_backend_opts, backend_params, numbers, open_store, print_json, progress


def cmd_views_show(args) -> int:
    """What each image shows: kind, facing, framing, flags, with confidence and evidence."""
    out = api.describe_images(args.images, args.backend, args.data_dir, **backend_params(args))
    if args.json:
        print_json(out)
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

    if args.reader:
        return cmd_views_reader_evaluate(args)
    if args.labels is None:
        raise CliError("give a labels CSV (e.g. assets/views/labels.csv), or --reader")
    rep = api.evaluate_views(args.labels, args.images, args.backend, numbers(args.k, int, "--k"), args.data_dir,
                             progress(args), **backend_params(args))
    if args.out:
        from ..exports import to_csv
        to_csv(rep.per_image, args.out)
    if args.json:
        print_json(rep.to_dict())
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


def cmd_views_reader_evaluate(args) -> int:
    """The learned reader against the rules on the render set, outfits / backgrounds / lights held out."""
    res = api.reader_domain_shift(open_store(args), progress=progress(args),
                                  **{k: v for k, v in (("seeds", args.seeds), ("parts", args.parts)) if v is not None})
    if args.json:
        print_json(res.to_dict())
        return 0
    a = res.accuracy
    print(f"render set, domain-shift split (outfits, backgrounds and lights split {res.parts} ways, a cell's held "
          f"out of the reader's training; {a['n_readings']} readings of {res.n_images} single-person renders where "
          f"the pose model found the person, {a['mean_train_images']} training renders on average):")
    for who in ("rules", "reader"):
        print(f"  {who:<7} facing {a[who]['facing']:.3f} (front/side/back {a[who]['facing_front_side_back']:.3f}),"
              f" framing {a[who]['framing']:.3f}")
    c = a.get("facing_counts") or {}
    if c:
        print(f"  facing: reader right where the rules are wrong {c['reader_only']}, rules right where the reader is "
              f"wrong {c['rules_only']}, both wrong {c['both_wrong']}")
    return 0


def _print_held_out(held_out: dict, used: dict) -> None:
    for head in ("facing", "framing"):
        h = (held_out or {}).get(head) or {}
        if h.get("reader") is None:
            print(f"  {head:<8} {h.get('n', 0)} labels: too few to check the reader, the rules read it")
            continue
        print(f"  {head:<8} held-out accuracy on {h['n']} labels: reader {h['reader']:.3f}, rules {h['rules']:.3f}"
              f" -> {'reader' if (used or {}).get(head) else 'rules'}")


def cmd_views_train(args) -> int:
    """Train the catalogue's view reader on its labels (+ the render set), checked against the rules."""
    opts = {k: v for k, v in (("seed", args.seed), ("label_weight", args.label_weight)) if v is not None}
    res = api.train_view_reader(open_store(args), progress(args), backend=args.backend or "blazepose", **opts)
    if args.json:
        print_json(res.to_dict())
        return 0
    if res.reader is None:
        print(f"no reader: {res.reason}")
        return 0
    print(f"view reader {res.reader.id_}: learned from {res.n_catalogue_labels} catalogue labels and "
          f"{res.n_render_labels} render-set labels; now reading")
    _print_held_out(res.held_out, res.used)
    if res.reason:
        print(res.reason)
    print("runs trained before read their reference photos differently: retrain (`unposed train`) to read both alike")
    return 0


def cmd_views_status(args) -> int:
    st = api.view_reader_status(open_store(args))
    if args.json:
        print_json(st)
        return 0
    by = ", ".join(f"{k} {n}" for k, n in (st.get("by_source") or {}).items())
    print(f"labelled images: {st['n_labelled_images']}" + (f" ({by})" if by else ""))
    if st["reader"] is None:
        print("reading: the view rules (no view reader trained: `unposed views train`)")
        return 0
    print(f"view reader {st['reader']}: {st['reading']}; learned from {st['n_catalogue_labels']} catalogue "
          f"labels and {st['n_render_labels']} render-set labels")
    _print_held_out(st.get("held_out"), st.get("used"))
    return 0


def cmd_views_label(args) -> int:
    """Label images by catalogue image id or content hash (or read the catalogue's own words)."""
    store = open_store(args)
    if args.from_catalogue:
        new = api.import_view_labels(store, args.filename_words, args.user)
        print(f"{len(new)} new labels from the catalogue's words")
        return 0
    if not args.images:
        raise CliError("give images (content hashes or image ids) to label, or --from-catalogue")
    images = store.images()
    by_id = dict(zip(images["image_id"].astype(str), images["content_hash"], strict=True))
    known = set(images["content_hash"])
    hashes = []
    for ref in args.images:
        h = by_id.get(str(ref), ref)
        if h not in known:
            raise CliError(f"no catalogue image {ref!r} (give an image id or a content hash)")
        hashes.append(h)
    try:
        out = api.label_views(store, hashes, args.facing, args.framing, args.kind, args.no_pose,
                              args.source or "analyst", args.user, args.note)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    for lab in out:
        print(f"{lab.content_hash[:12]}  {lab.text}  ({lab.source}, {lab.user or 'no user'})")
    print("the reading changes after `unposed views train`")
    return 0


def add_parsers(sub, common) -> None:
    sp = sub.add_parser("views", parents=[common], help="what images show: facing, framing, kind, flags")
    vsub = sp.add_subparsers(dest="views_command", required=True)
    vp = vsub.add_parser("show", parents=[common], help="the view of image files (no catalogue needed)")
    vp.add_argument("images", nargs="+")
    add_backend_opts(vp)
    vp.add_argument("--json", action="store_true")
    vp.set_defaults(func=cmd_views_show)
    vp = vsub.add_parser("evaluate", parents=[common],
                         help="score the view rules on labelled images (CSV: file, kind, facing|yaw_deg, framing, "
                              "n_people)")
    vp.add_argument("labels", nargs="?", default=None,
                    help="labels CSV, e.g. assets/views/labels.csv (not with --reader)")
    vp.add_argument("--reader", action="store_true",
                    help="the learned view reader against the rules on the render set, with outfits, backgrounds "
                         "and lights held out of its training")
    vp.add_argument("--seeds", type=int, default=None, help="--reader: independent partitions (default 3)")
    vp.add_argument("--parts", type=int, default=None,
                    help="--reader: parts each of outfits, backgrounds and lights are split into (default 5)")
    vp.add_argument("--images", default=None, help="folder the CSV's files are in (default: the CSV's folder)")
    add_backend_opts(vp)
    vp.add_argument("--k", default=None,
                    help="K values for the purity table, e.g. 6,8,10 (default: evaluation.views.PURITY_KS, 6..16)")
    vp.add_argument("--out", default=None, metavar="CSV", help="write the per-image predictions here")
    vp.add_argument("--json", action="store_true")
    vp.set_defaults(func=cmd_views_evaluate)
    vp = vsub.add_parser("train", parents=[common],
                         help="learn the catalogue's view reader from its labels (used where it beats the rules)")
    vp.add_argument("--backend", default=None, help="the pose backend whose landmarks it reads (default blazepose)")
    vp.add_argument("--label-weight", type=float, default=None,
                    help="a catalogue label counts this many times a render-set label (default 3)")
    vp.add_argument("--seed", type=int, default=None)
    vp.add_argument("--json", action="store_true")
    vp.set_defaults(func=cmd_views_train)
    vp = vsub.add_parser("status", parents=[common], help="which view reader reads, its labels and held-out accuracy")
    vp.add_argument("--json", action="store_true")
    vp.set_defaults(func=cmd_views_status)
    vp = vsub.add_parser("label", parents=[common], help="label images' views (appended, with user and time)")
    vp.add_argument("images", nargs="*", help="catalogue image ids or content hashes")
    vp.add_argument("--facing", default=None,
                    help="front, three_quarter[_left|_right], profile[_left|_right], back")
    vp.add_argument("--framing", default=None, help="close_up, upper_body, three_quarter, full_length")
    vp.add_argument("--kind", default=None, help="person, size_chart, fabric, flat_lay, other")
    vp.add_argument("--no-pose", action="store_true", help="no pose visible")
    vp.add_argument("--source", default=None, choices=["analyst", "reviewer"], help="default analyst")
    vp.add_argument("--user", default=None, help="who labels (default: the OS user)")
    vp.add_argument("--note", default=None)
    vp.add_argument("--from-catalogue", action="store_true",
                    help="read the catalogue's pose_label / view / shot columns into labels (imports do this)")
    vp.add_argument("--filename-words", action="store_true", help="with --from-catalogue: file names' words too")
    vp.set_defaults(func=cmd_views_label)
