"""What images show: `views show`, `views evaluate`."""
from __future__ import annotations

from pathlib import Path

import unpose_core.api as api

from .common import add_backend_opts, backend_params, numbers, print_json, progress


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
    vp.add_argument("labels", help="labels CSV, e.g. assets/views/labels.csv")
    vp.add_argument("--images", default=None, help="folder the CSV's files are in (default: the CSV's folder)")
    add_backend_opts(vp)
    vp.add_argument("--k", default=None,
                    help="K values for the purity table, e.g. 6,8,10 (default: evaluation.views.PURITY_KS, 6..16)")
    vp.add_argument("--out", default=None, metavar="CSV", help="write the per-image predictions here")
    vp.add_argument("--json", action="store_true")
    vp.set_defaults(func=cmd_views_evaluate)
