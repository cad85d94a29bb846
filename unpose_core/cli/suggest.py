"""What a listing is missing: `suggest`, `report`, `sheet`."""
from __future__ import annotations

from pathlib import Path

import unpose_core.api as api

from ..config import N_REFERENCES, ORDER_TEXT, SuggestConfig
from ..records import Status
from .common import CliError, add_engine_opts, open_store, print_json, progress, write_table

_SUGGEST = SuggestConfig()
SHEETS_ZIP = "seller-sheets.zip"


def add_suggest_opts(sp) -> None:
    """The rule's settings (`suggest`, `report`, `sheet`): each default is SuggestConfig's."""
    d = _SUGGEST
    sp.add_argument("--expect", type=float, default=d.expect,
                    help="a pose group is expected in a cohort when its support is at least this times the "
                         "cohort's typical support (default %(default)g)")
    sp.add_argument("--min-share", type=float, default=d.min_share,
                    help="and at least this share of the cohort's top products (default: the run's floor, "
                         "0 for new runs)")
    sp.add_argument("--coverage", dest="coverage_percentile", type=float, default=d.coverage_percentile,
                    metavar="PERCENTILE",
                    help="an image covers a pose cluster within this percentile of the cluster's member "
                         "distances, even if another centroid is nearer; 0 = nearest only (default %(default)g)")
    sp.add_argument("--min-confidence", type=float, default=d.min_confidence,
                    help="leave out requests below this confidence, 0..1 (default %(default)g)")
    sp.add_argument("--also-below", type=float, default=d.also_below, metavar="CONFIDENCE",
                    help="requests under this confidence go to 'also worth trying', below the main list, 0..1; "
                         "0 = none do (default %(default)g)")
    sp.add_argument("--view-share", type=float, default=d.view_share, metavar="SHARE",
                    help="view coverage: an image also covers every pose cluster whose reference photos show "
                         "its facing and framing at least this often, 0..1; 0 = off (default %(default)g)")
    sp.add_argument("--support-only", dest="by_score", action="store_false", default=d.by_score,
                    help="expect a pose by its support only, not also when the ranker scores it above the "
                         "cohort's baseline")
    sp.add_argument("--score-ranks", type=int, default=d.score_ranks, metavar="N",
                    help="the ranker's first N poses can be expected by their score when their support is low "
                         "(default %(default)s: the pose it puts first; 0 = any pose above the baseline)")


def suggest_config(args) -> SuggestConfig:
    """The rule's settings from the options (add_suggest_opts), validated."""
    fields = SuggestConfig.__dataclass_fields__
    cfg = SuggestConfig(**{k: v for k, v in vars(args).items() if k in fields})
    cfg.validate()
    return cfg


def given_config(args) -> SuggestConfig | None:
    """:func:`suggest_config` when an option moves a setting off its default, else None: then each
    product's cohort uses its own operating point (`unposed cohorts`: defaults, or tuned from reviews)."""
    cfg = suggest_config(args)
    return None if cfg == _SUGGEST else cfg


def cmd_suggest(args) -> int:
    if not args.product_id and not args.images:
        raise CliError("give a PRODUCT_ID or --images FILE [FILE ...]")
    for p in args.images or []:
        if not Path(p).is_file():
            raise CliError(f"image not found: {p}")
    sug = api.suggest(open_store(args), args.product_id or None, None if args.product_id else args.images,
                      category=args.category, subcategory=args.subcategory, product_type=args.product_type,
                      run_id=args.run, n_references=args.references, config=given_config(args))
    if args.json:
        print_json(sug.to_dict())
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
    print(f"rule: {SuggestConfig.from_dict(sug.settings).rule_text()}"
          + (f" (settings: {sug.settings['source']})" if sug.settings.get("source") else ""))
    unread = [a for a in sug.images if a.status == Status.ERROR]
    if sug.images and len(unread) == len(sug.images):   # nothing to score: say so, with each image's reason
        print(f"no image of the listing could be read ({len(unread)} image(s)), so there is no completeness "
              "figure: " + "; ".join(f"{Path(a.image).name}: {a.error}" for a in unread))
    elif sug.completeness is not None:
        print(f"completeness: {sug.completeness:.0f}/100 (expected poses its usable images show, the first ones "
              "counting most)")
    if not sug.requests:
        print(f"no request ({sug.status}): {sug.reason}")
        return 0
    print(f"missing poses, most important first ({ORDER_TEXT}; {sug.reason}):")
    _print_requests(sug.missing)
    if sug.also:
        print(f"also worth trying (confidence under {sug.settings.get('also_below', 0):g}, or expected only for "
              "the ranker's score):")
        _print_requests(sug.also)
    return 0


def _print_requests(requests) -> None:
    for m in requests:
        members = f"pose group {m.group} (centroids {' '.join(map(str, m.members))})" if len(m.members) > 1 \
            else f"pose {m.pose_class}"
        far = "no comparable image" if m.closest is None else f"nearest image {m.closest:.1f} x its radius"
        print(f"  {m.rank}. {members}: {m.description}  confidence {m.confidence:.2f} ({far}; in {m.support:.0%} "
              f"of top listings, 95% {m.support_low:.0%}-{m.support_high:.0%})")
        print(f"     {m.hint}")
        for r in m.references:
            print(f"     e.g. {r.product_id}: {r.path}")


def cmd_report(args) -> int:
    # the poses of the products' images not cached yet are extracted first with the chosen engine
    # (api.report checks the engine options before anything is read)
    df = api.report(open_store(args), args.run, progress=progress(args), config=given_config(args),
                    engine=args.engine, workers=args.workers, address=args.address, actors=args.actors)
    write_table(df, args.out, args.format)
    print(f"{len(df)} subject products, {int(df['n_missing'].sum()) if len(df) else 0} missing poses -> {args.out}")
    if len(df):
        for status, n in df["status"].value_counts().items():
            print(f"  {status}: {n}")
    return 0


def cmd_sheet(args) -> int:
    """Seller sheets: one product's HTML page, or a zip of them (a cohort, or every subject product)."""
    if args.product_id and (args.cohort or args.all):
        raise CliError("give a PRODUCT_ID, or --cohort / --all for a batch, not both")
    if not (args.product_id or args.cohort or args.all):
        raise CliError("give a PRODUCT_ID, --cohort COHORT or --all")
    store, cfg = open_store(args), given_config(args)
    if args.product_id:
        from ..outputs.sheet import sheet_filename

        out = Path(args.out or sheet_filename(args.product_id))
        html = api.seller_sheet(store, args.product_id, args.run, cfg, n_examples=args.references)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
        print(f"seller sheet of {args.product_id} -> {out} ({len(html) // 1024} KB, images embedded)")
        return 0
    out = Path(args.out or SHEETS_ZIP)
    batch = api.seller_sheets(store, None if args.all else args.cohort, args.run, cfg, n_examples=args.references,
                              progress=progress(args))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(batch.data)
    print(f"{batch.n_products} seller sheets + index.html -> {out} ({len(batch.data) // 1024} KB)")
    return 0


def add_parsers(sub, common) -> None:
    sp = sub.add_parser("suggest", parents=[common], help="missing poses of a product or of image files")
    add_suggest_opts(sp)
    sp.add_argument("product_id", nargs="?")
    sp.add_argument("--images", nargs="+", help="image files of a product not in the catalogue")
    sp.add_argument("--category")
    sp.add_argument("--subcategory")
    sp.add_argument("--product-type")
    sp.add_argument("--run", default=None, help="run id (default: the active run)")
    sp.add_argument("--references", type=int, default=N_REFERENCES,
                    help="reference images per missing pose (default %(default)s)")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_suggest)

    sp = sub.add_parser("report", parents=[common], help="missing poses of every subject product")
    add_suggest_opts(sp)
    sp.add_argument("--out", required=True)
    sp.add_argument("--format", choices=["csv", "json"], help="default: from --out's suffix (.json, else csv)")
    sp.add_argument("--run", default=None, help="run id (default: the active run)")
    add_engine_opts(sp, "the products' images not in the pose cache yet")
    sp.set_defaults(func=cmd_report)

    sp = sub.add_parser("sheet", parents=[common],
                        help="seller sheets: one product's HTML page, or a zip for a cohort or all subject products")
    add_suggest_opts(sp)
    sp.add_argument("product_id", nargs="?")
    sp.add_argument("--cohort", help="every subject product of this cohort, e.g. 'Clothing / T-shirts' (a zip)")
    sp.add_argument("--all", action="store_true", help="every subject product (a zip)")
    sp.add_argument("--out", help=f"file to write (default PRODUCT_ID.html, or {SHEETS_ZIP})")
    sp.add_argument("--references", type=int, default=N_REFERENCES,
                    help="example photos per missing pose (default %(default)s)")
    sp.add_argument("--run", default=None, help="run id (default: the active run)")
    sp.set_defaults(func=cmd_sheet)
