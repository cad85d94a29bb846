"""THE missing-pose rule (paper Algorithm 2): a product's cohort, the pose groups it expects in the
ranker's order, those the listing does not cover, each with a confidence. Suggestions, reports,
the app's Clusters page (its "expected" column) and the evaluation all call it."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import SuggestConfig
from ..coverage import closest, covered_classes, rank_weight
from ..groups import PoseGroups, build_groups
from ..rank import cohort_keys, cohort_name, cohort_ranking
from ..runs import Run
from .records import BELOW_CONFIDENCE, COVERS_EXPECTED, MISSING, NOTHING_EXPECTED, MissingGroups


def confidence(closest: float | None, support_low: float, threshold: float, desirable: bool = False) -> float:
    """How sure a request is, 0..1: gap x stability.

    gap: how far the listing's nearest image is from the pose, ``closest`` in units of the
    pose's typical radius: 0 within it, rising to 1 far away (1 - 1/closest); 1 when the listing
    has no image to compare (no person photo, or the no-person pose). Farther -> higher.
    stability: the Wilson lower bound of the group's support over the cohort's top products
    against the share the cohort needs for "expected" (1 when even the lower bound clears it,
    or the group is marked desirable)."""
    gap = 1.0 if closest is None else (0.0 if closest <= 1 else 1.0 - 1.0 / closest)
    stability = 1.0 if desirable or threshold <= 0 else min(1.0, max(0.0, support_low / threshold))
    return float(gap * stability)


# how much the ranker's place counts in a request's importance: rank_weight(place) ** RANK_POWER
RANK_POWER = 0.5


def importance(place: int) -> float:
    """The pose's importance for the cohort from its ``place`` among the cohort's expected poses in
    the ranker's order: ``coverage.rank_weight`` (1, 0.63, 0.5, ...; what covering it adds to the
    completeness score) to the power :data:`RANK_POWER` (1, 0.80, 0.71, ...). Softened because the
    ranker's order says which poses go with popularity, not how surely a listing needs them: with
    the full weight, the demo's shirts were first asked for a three-quarter view (the ranker's
    first, shown by fewer top listings) before the front view every top listing shows."""
    return rank_weight(place) ** RANK_POWER


def expected_value(place: int, confidence: float, share: float = 1.0) -> float:
    """THE order of the requests (:data:`config.ORDER_TEXT`): what asking for the pose is worth
    -- its :func:`importance` for the cohort -- times the chance the request is right: that the
    cohort's listings need the pose (``share``: the share of its top products showing it; 1 for a
    pose an analyst marked desirable) and that this listing lacks it (:func:`confidence`). A pose
    the ranker puts first but the listing probably shows (confidence 0.03), or that few top
    listings show, never leads a request the catalogue surely expects and the listing surely
    lacks. Every surface (CLI, JSON, Product page, report, seller sheet, dashboard) shows this
    order. Demo, K=14, 3 seeds (``unposed evaluate --config blazepose --seeds 3``), precision of
    the first request of the main list: 0.723 with importance x confidence, 0.823 with the share
    and the ranker's full weight, 0.913 with :data:`RANK_POWER` 0.5, 0.915 at 0.25, 0.926 with
    the share alone (no ranker); 0.5 keeps most of the gain and the ranker's voice (a pose it puts
    first shown by 80 % of top listings still leads one at its third place shown by all)."""
    return importance(place) * float(share) * float(confidence)


def is_main(row: dict, config: SuggestConfig) -> bool:
    """Whether a request belongs in the main list (else "also worth trying"): confidence at least
    ``also_below``, and expected by its support or an analyst's desirable mark, not only because
    the ranker scores it first (``score_ranks``)."""
    return row["confidence"] >= config.also_below and not row.get("by_score", False)


def default_groups(run: Run) -> PoseGroups:
    """Groups from the automatic descriptions and mirror pairs (no analyst input)."""
    return build_groups(run, {})


def group_label(groups: PoseGroups, gid: int) -> str:
    try:
        return groups.get(gid).label
    except StopIteration:
        return f"pose {gid}"


def min_share_of(run: Run, config: SuggestConfig) -> float:
    """The absolute support floor: the setting's, else the run's ``min_cohort_share``."""
    return config.min_share if config.min_share is not None else float(run.config.min_cohort_share)


def rank_cohort(run: Run, key: str, groups: PoseGroups, config: SuggestConfig) -> list[dict]:
    """One cohort's pose groups ranked, expected or not, with the analyst's marks
    (``rank.cohort_ranking``): what :func:`missing_groups` asks from, and what the Clusters page
    shows (``app_tables.cohort_ranks``)."""
    return cohort_ranking(run.ranker, key, [(g.id, tuple(g.members)) for g in groups.groups], config,
                          min_share_of(run, config), {g.id for g in groups.groups if g.desirable},
                          {g.id for g in groups.groups if g.excluded})


def missing_groups(run: Run, product: dict | pd.Series, present, distances: np.ndarray | None = None,
                   groups: PoseGroups | None = None, config: SuggestConfig | None = None,
                   views=None) -> MissingGroups:
    """THE missing-pose rule (paper Algorithm 2) for a product whose usable images
    (``listing.Listing.rule_input``) have the classes ``present`` (and, for soft coverage and
    confidence, the squared ``distances`` of its person images to every centroid,
    :func:`coverage.centroid_distances`; for view coverage, ``views``: their ImageViews).

    1. Cohort: the product's most specific cohort the ranker knows that has at least
       ``min_cohort_products`` top products and expects some pose; otherwise its parent
       (type -> subcategory -> category -> all products), each skip stated in the reason.
    2. Expected groups: :func:`rank_cohort` (the ranker's order, calibrated expectation,
       analyst marks).
    3. Covered: :func:`coverage.covered_classes` -> their groups (the union of the images'
       ``coverage.image_covers``). Missing: expected groups not covered, at most one per mirror
       pair, each with its :func:`confidence`; those below ``min_confidence`` are left out.
    4. Order: highest :func:`expected_value` first; the main list (``ranked``) holds the requests
       :func:`is_main` keeps, the rest is "also worth trying" (``also``), in the same order.
    The result always has a status and a reason, also when nothing is missing."""
    config = config or SuggestConfig()
    groups = groups if groups is not None else default_groups(run)
    covered = covered_classes(run, present, distances, config, views)
    covered_g = groups.of_classes(covered)
    present_g = groups.of_classes(present)
    tables = run.ranker.tables_
    keys = [k for k in cohort_keys(dict(product)) if k in tables]
    notes: list[str] = []
    rows: list[dict] = []
    key = keys[-1]
    for i, key in enumerate(keys):
        t = tables[key]
        last = i == len(keys) - 1
        if t["n_products"] < config.min_cohort_products and not last:
            notes.append(f"cohort {cohort_name(key)} has only {t['n_products']} top product(s) "
                         f"(fewer than {config.min_cohort_products})")
            continue
        rows = rank_cohort(run, key, groups, config)
        if any(r["expected"] for r in rows) or last:
            break
        notes.append(f"cohort {cohort_name(key)} expects no pose ({_nothing_expected_why(rows)})")
    t = tables[key]
    expected = [r for r in rows if r["expected"]]
    missing, asked = [], set()
    place = {r["group"]: i for i, r in enumerate(expected, 1)}
    for r in expected:
        if r["group"] in covered_g:
            continue
        members = set(r["members"])
        if run.covered(members) & asked:     # the other side of a mirror pair already asked for
            continue
        asked |= members
        near, row = closest(run, r["members"], distances, config)
        conf = confidence(near, r["support_low"], r["threshold"], r["desirable"])
        share = 1.0 if r["desirable"] else float(r["support"])
        missing.append({**r, "closest": near, "closest_row": row, "confidence": conf,
                        "importance": importance(place[r["group"]]),
                        "value": expected_value(place[r["group"]], conf, share)})
    kept = sorted((r for r in missing if r["confidence"] >= config.min_confidence),
                  key=lambda r: (-r["value"], place[r["group"]]))
    main = [r for r in kept if is_main(r, config)]
    also = [r for r in kept if not is_main(r, config)]
    for i, r in enumerate(main + also, 1):
        r["rank"] = i
    where = cohort_name(key) + (f" ({t['level'].replace('_', ' ')} level)" if key != "*" else "")
    prefix = ("; ".join(notes) + ": using " + where + ". ") if notes else ""
    also_text = (f"{len(also)} also worth trying (confidence under {config.also_below:g}, or expected only "
                 "for the ranker's score)")
    if kept:
        if main:
            status = MISSING
            reason = f"{len(main)} of the {len(expected)} poses expected in {where} are missing" \
                + (f"; {also_text}" if also else "")
        else:   # only weak candidates: nothing in the main list, as under the cut-off
            status = BELOW_CONFIDENCE
            reason = f"none of the {len(expected)} poses expected in {where} is surely missing; {also_text}"
        if len(kept) < len(missing):
            reason += f" ({len(missing) - len(kept)} more below the confidence cut-off {config.min_confidence:g})"
    elif missing:
        status = BELOW_CONFIDENCE
        best = max(r["confidence"] for r in missing)
        reason = (f"{len(missing)} expected pose(s) missing, none with confidence >= {config.min_confidence:g} "
                  f"(best {best:.2f})")
    elif expected:
        status = COVERS_EXPECTED
        names = ", ".join(group_label(groups, r["group"]) for r in expected)
        reason = f"shows all {len(expected)} pose(s) expected in {where}: {names}"
    else:
        status = NOTHING_EXPECTED
        reason = f"no cohort expects a pose: {_nothing_expected_why(rows)}"
    return MissingGroups(key, t["level"], int(t["n_products"]), main, status, prefix + reason,
                         tuple(r["group"] for r in expected), tuple(sorted(covered_g)), tuple(sorted(present_g)),
                         also)


def _nothing_expected_why(rows: list[dict]) -> str:
    if not rows:
        return "it has no pose groups"
    if all(r["excluded"] or r["support"] <= 0 for r in rows):
        return "every pose its top products show is excluded by an analyst" \
            if any(r["excluded"] for r in rows) else "its top products show no pose"
    return f"no pose reaches the threshold {rows[0]['threshold']:.0%}"
