"""Missing poses for a product (paper §3.3-3.4, Algorithm 2), with example images.

Each image goes to its nearest centroid (or the reserved no-person class) and also covers
every pose cluster whose typical radius it lies within (soft coverage). What a seller is
asked for is a pose *group* (``groups.PoseGroups``: centroids that count as one pose, a
mirror pair among them): the groups expected in the product's cohort -- calibrated from the
catalogue itself (``rank.rank_groups``) -- that the listing does not cover, in the ranker's
order, each with a confidence, example photos from the cohort's top products closest to the
pose's centre and a hint a seller can act on. An empty answer always says why.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .catalog.selection import popularity_sort
from .config import SuggestConfig
from .descriptions import describe_centroid, seller_hint
from .groups import PoseGroups, build_groups, pose_groups
from .images import content_hash
from .pose import PoseBackend, create_backend, require_version
from .pose.extract import estimate_files
from .progress import ProgressFn, ProgressTracker
from .rank import cohort_keys, rank_groups
from .records import PoseRow, Reference, Status
from .runs import Run
from .store import Store
from .store.db import hint_key
from .views import ImageKind
from .views.duplicates import duplicate_groups, duplicate_hash

# Suggestion.status
MISSING = "missing"                    # at least one request
COVERS_EXPECTED = "covers_expected"    # the listing shows every pose its cohort expects
NOTHING_EXPECTED = "nothing_expected"  # no cohort up to "all products" expects a pose (e.g. all excluded)
BELOW_CONFIDENCE = "below_confidence"  # candidates exist, all under the confidence cut-off
CONFIDENCE_PERCENTILE = 90.0           # the radius confidence is measured in when coverage is nearest-only
REPORT_BATCH = 2000                    # products whose cached poses report() reads in one go


@dataclass
class ImageAssignment:
    image: str
    status: Status
    pose_class: int | None
    description: str = ""
    distance: float | None = None
    error: str | None = None
    image_id: int | None = None
    group: int | None = None                          # the pose group of its class
    covers: list[int] = field(default_factory=list)   # groups it covers (its own + soft coverage)
    view: dict | None = None                          # views.ImageView.to_dict(): kind, facing, framing...
    flags: list[str] = field(default_factory=list)    # several_people, low_resolution, blurred
    flag_text: list[str] = field(default_factory=list)
    duplicate_of: str | None = None                   # the listing's earlier copy of the same photo


@dataclass
class MissingPose:
    pose_class: int              # the group's best-ranked centroid in the cohort
    rank: int
    score: float
    support: float               # share of the cohort's top products showing the group
    description: str
    hint: str
    references: list[Reference] = field(default_factory=list)
    group: int | None = None
    members: list[int] = field(default_factory=list)
    support_low: float = 0.0     # Wilson 95 % interval of the support over the cohort's top products
    support_high: float = 1.0
    relative: float = 0.0        # support / the cohort's typical support
    closest: float | None = None         # the listing's nearest image, in units of the pose's typical radius
    closest_image: str | None = None
    confidence: float = 1.0      # 0..1, see :func:`confidence`
    why: str = ""                # why the cohort expects it
    hint_edited: bool = False    # the hint is an analyst's (Store.set_hint), not the generated one


@dataclass
class Suggestion:
    run_id: str
    product_id: str | None
    title: str | None
    cohort: str
    cohort_level: str
    images: list[ImageAssignment]
    present: list[int]
    missing: list[MissingPose]
    status: str = MISSING
    reason: str = ""
    present_groups: list[int] = field(default_factory=list)
    covered_groups: list[int] = field(default_factory=list)
    expected_groups: list[int] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    duplicates: list[list[str]] = field(default_factory=list)   # near-identical photos, first one kept
    notes: list[str] = field(default_factory=list)              # for the seller: duplicates, flagged images
    completeness: float | None = None   # 0..100, :func:`completeness_score`; None when nothing is expected
    run_notes: list[str] = field(default_factory=list)          # for the analyst, about the run (not on seller sheets)

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> pd.DataFrame:
        cols = ["rank", "group", "pose_class", "description", "support", "confidence", "closest", "score",
                "hint", "references"]
        return pd.DataFrame([{"rank": m.rank, "group": m.group, "pose_class": m.pose_class,
                              "description": m.description, "support": round(m.support, 3),
                              "confidence": round(m.confidence, 3),
                              "closest": None if m.closest is None else round(m.closest, 2),
                              "score": round(m.score, 4), "hint": m.hint,
                              "references": " ".join(r.path for r in m.references)}
                             for m in self.missing], columns=cols)


@dataclass(frozen=True)
class MissingClasses:
    """The missing pose groups of a product: its cohort and the ranker's rows (``rank_groups``)
    of the groups expected there that it does not cover, best first, with their confidence."""

    cohort: str                  # the ranker's table key, e.g. 'Clothing|T-shirts' or '*'
    cohort_level: str            # product_type / subcategory / category / global
    n_products: int              # top products behind the cohort's table
    ranked: list[dict]           # rank_groups rows + closest, closest_row, confidence
    status: str = MISSING
    reason: str = ""
    expected: tuple[int, ...] = ()     # the expected groups, best first
    covered: tuple[int, ...] = ()      # the groups the listing covers
    present: tuple[int, ...] = ()      # the groups of the listing's own (nearest) classes

    @property
    def classes(self) -> list[int]:
        """Each missing group's representative class (its best-ranked centroid)."""
        return [r["pose_class"] for r in self.ranked]

    @property
    def groups(self) -> list[int]:
        return [r["group"] for r in self.ranked]


# -- what the listing's images are ------------------------------------------------------------

def listing_duplicates(poses: list[PoseRow | None]) -> list[list[int]]:
    """Groups of a listing's images that are the same photo, in listing order: the same file
    twice (same content hash), or near-identical perceptual hashes
    (:func:`views.duplicates.duplicate_groups`: re-encoded, resized, slightly cropped or
    colour-shifted copies). Only the first image of a group covers poses."""
    hashes = [None if p is None else duplicate_hash((p.signals or {}).get("image") or {}) for p in poses]
    sets = [set(g) for g in duplicate_groups(hashes)]
    by_content: dict[str, set[int]] = {}
    for i, p in enumerate(poses):
        if p is not None:
            by_content.setdefault(p.content_hash, set()).add(i)
    sets += [g for g in by_content.values() if len(g) > 1]
    out: list[set[int]] = []
    for g in sets:   # join groups that share an image
        for o in [o for o in out if o & g]:
            g = g | o
            out.remove(o)
        out.append(g)
    return sorted((sorted(g) for g in out), key=lambda g: g[0])


def listing_notes(images: list[ImageAssignment], duplicates: list[list[int]]) -> list[str]:
    """What a seller should know about the photos they have: copies, and flagged images."""
    notes = []
    n_same = sum(len(g) for g in duplicates)
    if duplicates:
        notes.append(f"{n_same} of your {len(images)} images are "
                     + ("the same photo" if len(duplicates) == 1 else f"{len(duplicates)} repeated photos")
                     + ": a copy shows nothing new.")
    for i, a in enumerate(images, 1):
        for text in a.flag_text:
            notes.append(f"Image {i}: {text}.")
    return notes


# -- completeness ------------------------------------------------------------------------------

def rank_weight(rank: int) -> float:
    """What the pose at ``rank`` (1 = best) of a cohort's expected poses counts for in the
    completeness score: 1 / log2(rank + 1), the discount of DCG (1, 0.63, 0.5, 0.43, ...): the
    first pose matters most, later ones less, none counts for nothing."""
    if rank < 1:
        raise ValueError(f"rank starts at 1, got {rank}")
    return float(1.0 / np.log2(rank + 1))


def usable_coverage(images: Iterable[ImageAssignment]) -> set[int]:
    """The pose groups a listing's *usable* images cover: a copy of an earlier photo
    (``duplicate_of``) or an image with a flag (several people, low resolution, blurred) adds
    nothing."""
    return {int(g) for a in images if a.duplicate_of is None and not a.flags for g in a.covers}


def completeness_score(expected: Sequence[int], covered: Iterable[int]) -> float | None:
    """How complete a listing is, 0..100: the share of its cohort's expected pose groups
    (``expected``, best first) it covers, each weighted by :func:`rank_weight` of its place.
    None when the cohort expects nothing. Monotone: the expected groups and their weights
    depend on the cohort only, so covering one more group never lowers the score."""
    expected = list(dict.fromkeys(int(g) for g in expected))
    if not expected:
        return None
    have = {int(g) for g in covered}
    weights = [rank_weight(i) for i in range(1, len(expected) + 1)]
    got = sum(w for g, w in zip(expected, weights) if g in have)
    return round(100.0 * got / sum(weights), 1)


# -- distances and radii ---------------------------------------------------------------------

def centroid_distances(run: Run, poses: list[PoseRow | None], views: list | None = None,
                       space: tuple[list[int], np.ndarray] | None = None) -> np.ndarray:
    """(n images, K) squared distances to every pose centroid, in the standardised space the
    nearest-centroid rule (``Run.classify``) uses; NaN rows for images without a person (by
    the view rules: a pose found on a garment laid flat has none). ``space``: the rows'
    ``Run.person_space`` when the caller has it already (it also classifies them)."""
    out = np.full((len(poses), run.k), np.nan, dtype=np.float64)
    rows, X = run.person_space(poses, views) if space is None else space
    if rows:
        km = run.kmeans
        Z = (np.asarray(X, np.float64) - km.mean_) / km.scale_
        C = np.asarray(km.cluster_centers_scaled_, np.float64)
        out[rows] = ((Z[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
    return out


def cluster_radii(run: Run, percentile: float) -> np.ndarray:
    """Each pose cluster's squared typical radius: the ``percentile`` of its members' squared
    distances, from the radii stored at training time (interpolated between the stored
    percentiles), else -- a run trained before they were stored -- from its reference images."""
    cache = run.__dict__.setdefault("_radii_cache", {})
    if percentile in cache:
        return cache[percentile]
    stored = run.info.extra.get("radii") if isinstance(run.info.extra, dict) else None
    out = np.zeros(run.k)
    if stored and len(stored.get("squared") or []) == run.k:
        pcts = np.asarray(stored["percentiles"], float)
        for c, vals in enumerate(stored["squared"]):
            out[c] = float(np.interp(percentile, pcts, vals)) if vals else 0.0
    else:
        ref = run.reference
        for c in range(run.k):
            d = ref.loc[ref["pose_class"] == c, "distance"].to_numpy(float)
            d = d[np.isfinite(d)]
            out[c] = float(np.percentile(d, percentile)) if len(d) else 0.0
    cache[percentile] = out
    return out


def class_view_shares(run: Run) -> dict[int, list[tuple[str, float]]]:
    """Each class's views among its reference images ("back, full length"), most common first,
    with their shares; empty for a run stored without views. Computed once per run (the view
    coverage rule and the Clusters page read it)."""
    cache = run.__dict__.get("_class_view_shares")
    if cache is None:
        cache = {}
        ref = run.reference
        if "view" in ref.columns:
            ref = ref[(ref["pose_class"] >= 0) & ref["view"].notna()]
            for c, views in ref.groupby("pose_class")["view"]:
                cache[int(c)] = [(str(v), float(x)) for v, x in views.value_counts(normalize=True).items()]
        run.__dict__["_class_view_shares"] = cache
    return cache


def class_views(run: Run) -> dict[int, tuple[str, float]]:
    """Each pose cluster's most common view among its reference images and that view's share."""
    return {c: shares[0] for c, shares in class_view_shares(run).items() if c < run.k and shares}


def view_covered(run: Run, views, config: SuggestConfig) -> set[int]:
    """View coverage (``SuggestConfig.view_share``): the pose clusters whose reference images
    mostly (at least ``view_share``) show the view a listing's person image shows, read with at
    least ``view_confidence`` on both facing and framing."""
    if config.view_share <= 0 or not views:
        return set()
    read = {v.label for v in views if v is not None and v.is_person and v.facing is not None
            and v.framing is not None and min(v.facing_confidence, v.framing_confidence) >= config.view_confidence}
    return {c for c, (view, share) in class_views(run).items() if view in read and share >= config.view_share}


def covered_classes(run: Run, present, distances: np.ndarray | None, config: SuggestConfig,
                    views=None) -> set[int]:
    """Classes a listing needs no more photos of: its images' own classes, every cluster an
    image lies within the typical radius of (``coverage_percentile``; 0 = nearest only), the
    clusters that mostly show a view one of its images shows (``view_share``, :func:`view_covered`;
    ``views``: the listing's ImageViews), and their mirror partners when the run treats mirrored
    poses as the same (``Run.covered``)."""
    have = {int(c) for c in present}
    if distances is not None and len(distances) and config.coverage_percentile > 0:
        r2 = cluster_radii(run, config.coverage_percentile)
        d = np.asarray(distances, float)
        d = d[np.isfinite(d).all(axis=1)]
        if len(d):
            have |= {int(c) for c in np.flatnonzero((d <= r2[None, :]).any(axis=0))}
    have |= view_covered(run, views, config)
    return run.covered(have)


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


# -- THE rule --------------------------------------------------------------------------------

def default_groups(run: Run) -> PoseGroups:
    """Groups from the automatic descriptions and mirror pairs (no analyst input)."""
    return build_groups(run, {})


def _group_label(groups: PoseGroups, gid: int) -> str:
    try:
        return groups.get(gid).label
    except StopIteration:
        return f"pose {gid}"


def _cohort_name(key: str) -> str:
    return "all products" if key == "*" else key.replace("|", " / ")


def missing_classes(run: Run, product: dict | pd.Series, present, distances: np.ndarray | None = None,
                    groups: PoseGroups | None = None, config: SuggestConfig | None = None,
                    views=None) -> MissingClasses:
    """THE missing-pose rule (paper Algorithm 2) for a product whose images have the classes
    ``present`` (and, for soft coverage and confidence, the squared ``distances`` of its person
    images to every centroid, :func:`centroid_distances`; for view coverage, ``views``: the
    ImageViews of its images). Suggestions, reports and the evaluation all call it.

    1. Cohort: the product's most specific cohort the ranker knows that has at least
       ``min_cohort_products`` top products and expects some pose; otherwise its parent
       (type -> subcategory -> category -> all products), each skip stated in the reason.
    2. Expected groups: ``rank.rank_groups`` (the ranker's order, calibrated expectation,
       analyst marks).
    3. Covered: :func:`covered_classes` -> their groups. Missing: expected groups not covered,
       at most one per mirror pair, each with its :func:`confidence`; those below
       ``min_confidence`` are left out.
    The result always has a status and a reason, also when nothing is missing."""
    config = config or SuggestConfig()
    groups = groups if groups is not None else default_groups(run)
    min_share = config.min_share if config.min_share is not None else float(run.config.min_cohort_share)
    covered = covered_classes(run, present, distances, config, views)
    covered_g = groups.of_classes(covered)
    present_g = groups.of_classes(present)
    glist = [(g.id, tuple(g.members)) for g in groups.groups]
    desirable = {g.id for g in groups.groups if g.desirable}
    excluded = {g.id for g in groups.groups if g.excluded}
    tables = run.ranker.tables_
    keys = [k for k in cohort_keys(dict(product)) if k in tables]
    notes: list[str] = []
    rows: list[dict] = []
    key = keys[-1]
    for i, key in enumerate(keys):
        t = tables[key]
        last = i == len(keys) - 1
        if t["n_products"] < config.min_cohort_products and not last:
            notes.append(f"cohort {_cohort_name(key)} has only {t['n_products']} top product(s) "
                         f"(fewer than {config.min_cohort_products})")
            continue
        support = run.ranker.group_support(key, [ms for _, ms in glist])
        rows = rank_groups(t, glist, support, config.expect, min_share, desirable, excluded, config.by_score,
                           score_ranks=config.score_ranks)
        if any(r["expected"] for r in rows) or last:
            break
        notes.append(f"cohort {_cohort_name(key)} expects no pose ({_nothing_expected_why(rows)})")
    t = tables[key]
    expected = [r for r in rows if r["expected"]]
    missing, asked = [], set()
    for r in expected:
        if r["group"] in covered_g:
            continue
        members = set(r["members"])
        if run.covered(members) & asked:     # the other side of a mirror pair already asked for
            continue
        asked |= members
        closest, row = _closest(run, r["members"], distances, config)
        conf = confidence(closest, r["support_low"], r["threshold"], r["desirable"])
        missing.append({**r, "closest": closest, "closest_row": row, "confidence": conf})
    kept = [r for r in missing if r["confidence"] >= config.min_confidence]
    for i, r in enumerate(kept, 1):
        r["rank"] = i
    where = _cohort_name(key) + (f" ({t['level'].replace('_', ' ')} level)" if key != "*" else "")
    prefix = ("; ".join(notes) + ": using " + where + ". ") if notes else ""
    if kept:
        status = MISSING
        reason = f"{len(kept)} of the {len(expected)} poses expected in {where} are missing"
        if len(kept) < len(missing):
            reason += f" ({len(missing) - len(kept)} more below the confidence cut-off {config.min_confidence:g})"
    elif missing:
        status = BELOW_CONFIDENCE
        best = max(r["confidence"] for r in missing)
        reason = (f"{len(missing)} expected pose(s) missing, none with confidence >= {config.min_confidence:g} "
                  f"(best {best:.2f})")
    elif expected:
        status = COVERS_EXPECTED
        names = ", ".join(_group_label(groups, r["group"]) for r in expected)
        reason = f"shows all {len(expected)} pose(s) expected in {where}: {names}"
    else:
        status = NOTHING_EXPECTED
        reason = f"no cohort expects a pose: {_nothing_expected_why(rows)}"
    return MissingClasses(key, t["level"], int(t["n_products"]), kept, status, prefix + reason,
                          tuple(r["group"] for r in expected), tuple(sorted(covered_g)), tuple(sorted(present_g)))


def _nothing_expected_why(rows: list[dict]) -> str:
    if not rows:
        return "it has no pose groups"
    if all(r["excluded"] or r["support"] <= 0 for r in rows):
        return "every pose its top products show is excluded by an analyst" \
            if any(r["excluded"] for r in rows) else "its top products show no pose"
    return f"no pose reaches the threshold {rows[0]['threshold']:.0%}"


def _closest(run: Run, members, distances, config: SuggestConfig) -> tuple[float | None, int | None]:
    """(nearest listing image's distance to the group in units of its members' typical radius,
    that image's row in ``distances``); (None, None) when there is nothing to compare."""
    person = [c for c in members if c < run.k]
    if distances is None or not person or not len(distances):
        return None, None
    d = np.asarray(distances, float)[:, person]
    if not np.isfinite(d).any():
        return None, None
    pct = config.coverage_percentile if config.coverage_percentile > 0 else CONFIDENCE_PERCENTILE
    r2 = np.maximum(cluster_radii(run, pct)[person], 1e-9)
    q = np.where(np.isfinite(d), d / r2[None, :], np.inf)
    row = int(np.unravel_index(np.argmin(q), q.shape)[0])
    return float(np.sqrt(q.min())), row


# -- the Suggester ---------------------------------------------------------------------------

class Suggester:
    """Holds a run plus the lookups suggestions need; build once, ask many times."""

    def __init__(self, store: Store, run: Run, n_references: int = 4, backend: PoseBackend | None = None,
                 config: SuggestConfig | None = None):
        self.store, self.run, self.n_references = store, run, n_references
        self.config = config or SuggestConfig()
        self.config.validate()
        self._backend = backend
        self.products = store.products().set_index("product_id", drop=False)
        self.images = store.images()
        self.descriptions = store.descriptions(run.run_id)
        order = popularity_sort(self.products.reset_index(drop=True), run.config.selection.popularity_order)
        self._popularity = {p: i for i, p in enumerate(order["product_id"])}
        ref = run.reference.copy()
        ref = ref[ref["pose_class"] >= 0]
        paths = self.images.drop_duplicates("content_hash").set_index("content_hash")["path"]
        ref["path"] = ref["content_hash"].map(paths)
        ref = ref[ref["path"].notna() & ref["product_id"].isin(self.products.index)]
        ref["pop"] = ref["product_id"].map(self._popularity)
        # cohort keys once per product (not a .loc lookup per reference image)
        keys = {p: set(cohort_keys(r)) for p, r in
                self.products.loc[ref["product_id"].unique()].to_dict("index").items()}
        ref["keys"] = [keys[p] for p in ref["product_id"]]
        self._titles = self.products["title"].to_dict()
        # closeness to the pose's centre in units of the cluster's typical radius (comparable
        # across a group's members); the no-person class has no centre: popularity decides
        pct = self.config.coverage_percentile if self.config.coverage_percentile > 0 else CONFIDENCE_PERCENTILE
        r2 = np.maximum(cluster_radii(run, pct), 1e-9)
        cls = ref["pose_class"].to_numpy()
        ref["closeness"] = np.where(cls < run.k, ref["distance"].to_numpy(float) / r2[np.minimum(cls, run.k - 1)],
                                    0.0)
        self.reference = ref.sort_values(["pose_class", "closeness", "pop"], kind="stable")
        self._by_cohort: dict[str, list[tuple]] = {}

    # -- helpers --------------------------------------------------------------
    def describe(self, c: int) -> str:
        return describe_centroid(self.run, self.descriptions, c)

    def groups(self) -> PoseGroups:
        """Read each time: an analyst's merge, split or mark counts from the next suggestion."""
        return pose_groups(self.store, self.run)

    def backend(self) -> PoseBackend:
        if self._backend is None:
            self._backend = require_version(create_backend(self.run.config.pose_options(), self.store.data_dir),
                                            self.run.info.backend_version, f"run {self.run.run_id}")
        return self._backend

    def references(self, members, cohort_key: str, exclude: str | None = None) -> list[Reference]:
        """Example photos of a pose group: images of the cohort's top products assigned to one of
        its members (never to another group), closest to the pose's centre first, one per product."""
        members = {int(members)} if isinstance(members, (int, np.integer)) else {int(c) for c in members}
        out: list[Reference] = []
        seen: set[str] = set()
        for c, pid, path, h in self._cohort_rows(cohort_key):
            if c in members and pid != exclude and pid not in seen:
                seen.add(pid)
                out.append(Reference(pid, self._titles[pid], path, h))
                if len(out) >= self.n_references:
                    break
        return out

    def _cohort_rows(self, cohort_key: str) -> list[tuple]:
        """The cohort's reference images as (class, product, path, hash), closest to their pose's
        centre first, then most popular: computed once per cohort (a listing asks for several)."""
        rows = self._by_cohort.get(cohort_key)
        if rows is None:
            ref = self.reference[self.reference["keys"].map(lambda ks: cohort_key in ks)]
            ref = ref.sort_values(["closeness", "pop"], kind="stable")
            rows = list(zip(ref["pose_class"].astype(int).tolist(), ref["product_id"].tolist(), ref["path"].tolist(),
                            ref["content_hash"].tolist(), strict=True))
            self._by_cohort[cohort_key] = rows
        return rows

    def _poses_for(self, hashes: list[str], paths: list[str],
                   known: dict[str, PoseRow] | None = None) -> dict[str, PoseRow]:
        """Cached pose rows of the images (``known``: rows already read, e.g. by :func:`report`
        for all its products at once); images not in the cache yet are run through the backend."""
        ident = self.run.info.identity
        cached = self.store.poses(*ident, hashes) if known is None else {h: known[h] for h in hashes if h in known}
        todo = [(h, p) for h, p in zip(hashes, paths) if h not in cached]
        if todo:
            # decoded once, measured alongside the model (estimate_files); the rows as stored come
            # back from the write, no second query
            rows = estimate_files(self.backend(), list(dict(todo).items()))
            fresh = {r.content_hash: r for r in self.store.put_poses(*ident, rows, returning=True)}
            cached.update(fresh)
            if known is not None:   # another listing of the batch may show the same file
                known.update(fresh)
        return cached

    # -- the algorithm --------------------------------------------------------
    def _suggest(self, product: dict, hashes: list[str], paths: list[str], image_ids: list,
                 config: SuggestConfig | None = None, known: dict[str, PoseRow] | None = None,
                 groups: PoseGroups | None = None, hints: dict[str, str] | None = None) -> Suggestion:
        """``known``, ``groups``, ``hints``: read once by :func:`report` for all its products
        (else read here: the store's pose rows, :meth:`groups`, ``Store.hints``)."""
        cfg = config or self.config
        cfg.validate()
        poses = self._poses_for(hashes, paths, known)
        results = [poses.get(h) for h in hashes]
        views = self.run.describe(results)
        space = self.run.person_space(results, views)   # embedded once: classes and distances share it
        classes, dists = self.run.classify(results, views, space)
        distances = centroid_distances(self.run, results, views, space)
        dupes = listing_duplicates(results)
        first_of = {i: g[0] for g in dupes for i in g[1:]}
        groups = self.groups() if groups is None else groups
        r2 = cluster_radii(self.run, cfg.coverage_percentile) if cfg.coverage_percentile > 0 else None
        assignments = []
        for i, p in enumerate(paths):
            pr = results[i] or PoseRow(hashes[i], Status.ERROR, error="no pose result")
            c = int(classes[i]) if classes[i] >= 0 else None
            own = {c} if c is not None else set()
            if r2 is not None and np.isfinite(distances[i]).all():
                own |= {int(x) for x in np.flatnonzero(distances[i] <= r2)}
            v = views[i]
            assignments.append(ImageAssignment(
                image=p, status=pr.status, pose_class=c, error=pr.error, image_id=image_ids[i],
                description=self.describe(c) if c is not None else "",
                distance=None if np.isnan(dists[i]) else float(dists[i]),
                group=groups.group_of(c) if c is not None else None,
                covers=sorted(groups.of_classes(self.run.covered(own))) if i not in first_of else [],
                view=None if v is None else v.to_dict(), flags=[] if v is None else list(v.flags),
                flag_text=[] if v is None else list(v.flag_text),
                duplicate_of=paths[first_of[i]] if i in first_of else None))
        present = sorted({a.pose_class for a in assignments if a.pose_class is not None})
        person = np.isfinite(distances).all(axis=1)
        m = missing_classes(self.run, product, present, distances[person], groups, cfg,
                            [v for i, v in enumerate(views) if i not in first_of])
        person_paths = [p for p, ok in zip(paths, person) if ok]
        edited = self.store.hints() if hints is None else hints   # an analyst's, per group description
        missing = []
        for r in m.ranked:
            label = _group_label(groups, r["group"])
            own = edited.get(hint_key(label))
            missing.append(MissingPose(
                r["pose_class"], r["rank"], r["score"], r["support"], label,
                own or seller_hint(label, r["support"], m.cohort, m.n_products,
                                   kind=None if self.run.is_pose(r["pose_class"]) else
                                   (self.run.kind_of_class(r["pose_class"]) or ImageKind.OTHER),
                                   described=any(c in self.descriptions for c in r["members"])),
                self.references(r["members"], m.cohort, exclude=product.get("product_id")),
                group=r["group"], members=list(r["members"]), support_low=r["support_low"],
                support_high=r["support_high"], relative=r["relative"], closest=r["closest"],
                closest_image=person_paths[r["closest_row"]] if r["closest_row"] is not None else None,
                confidence=r["confidence"], why=r["why"], hint_edited=bool(own)))
        settings = cfg.to_dict() | {"min_share": cfg.min_share if cfg.min_share is not None
                                    else float(self.run.config.min_cohort_share)}
        return Suggestion(self.run.run_id, product.get("product_id"), product.get("title"), m.cohort,
                          m.cohort_level, assignments, present, missing, m.status, m.reason,
                          list(m.present), list(m.covered), list(m.expected), settings,
                          duplicates=[[paths[i] for i in g] for g in dupes],
                          notes=listing_notes(assignments, dupes),
                          completeness=completeness_score(m.expected, usable_coverage(assignments)),
                          run_notes=[n for n in [self.run.view_rules_note] if n])

    def for_product(self, product_id: str, config: SuggestConfig | None = None) -> Suggestion:
        """A catalogue product's missing poses (``config`` overrides the Suggester's settings)."""
        if product_id not in self.products.index:
            raise KeyError(f"no product {product_id!r} in the catalogue")
        imgs = self.images[self.images["product_id"] == product_id]
        return self._suggest(self.products.loc[product_id].to_dict(), imgs["content_hash"].tolist(),
                             imgs["path"].tolist(), imgs["image_id"].tolist(), config)

    def for_products(self, product_ids: Sequence[str], config: SuggestConfig | None = None,
                     batch: int = REPORT_BATCH) -> Iterator[Suggestion]:
        """:meth:`for_product` of each product in turn, the same suggestions, but what that reads
        per product is read once: the products' images, the pose groups and the edited hints
        (a snapshot: a mark set meanwhile counts from the next call), and the cached poses once
        per ``batch`` products (so memory stays bounded). What :func:`report` runs."""
        product_ids = list(product_ids)
        unknown = [p for p in product_ids if p not in self.products.index]
        if unknown:
            raise KeyError(f"no product {unknown[0]!r} in the catalogue")
        wanted = list(dict.fromkeys(product_ids))
        imgs = self.images[self.images["product_id"].isin(set(wanted))]
        by_product = imgs.groupby("product_id", sort=False).indices
        hashes, paths, ids = (imgs[c].tolist() for c in ("content_hash", "path", "image_id"))
        products = self.products.loc[wanted].to_dict("index")
        groups, hints = self.groups(), self.store.hints()
        known: dict[str, PoseRow] = {}
        for n, pid in enumerate(product_ids):
            if n % batch == 0:
                rows = [i for p in product_ids[n:n + batch] for i in by_product.get(p, ())]
                known = self.store.poses(*self.run.info.identity, [hashes[i] for i in rows])
            at = by_product.get(pid, ())
            yield self._suggest(products[pid], [hashes[i] for i in at], [paths[i] for i in at],
                                [ids[i] for i in at], config, known=known, groups=groups, hints=hints)

    def for_images(self, paths: list[str | Path], category: str | None = None,
                   subcategory: str | None = None, product_type: str | None = None,
                   config: SuggestConfig | None = None) -> Suggestion:
        """Ad-hoc images (e.g. a seller's upload) for a cohort given by name."""
        hashes, good = [], []
        bad = []
        for p in map(str, paths):
            try:
                hashes.append(content_hash(p))
                good.append(p)
            except OSError as exc:
                bad.append(ImageAssignment(p, Status.ERROR, None, error=f"cannot read: {exc.strerror or exc}"))
        product = {"product_id": None, "title": None, "category": category, "subcategory": subcategory,
                   "product_type": product_type}
        s = self._suggest(product, hashes, good, [None] * len(good), config)
        s.images.extend(bad)
        return s

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


def suggest_for_product(store: Store, run: Run, product_id: str, n_references: int = 4,
                        config: SuggestConfig | None = None) -> Suggestion:
    s = Suggester(store, run, n_references, config=config)
    try:
        return s.for_product(product_id)
    finally:
        s.close()


def report(store: Store, run: Run, product_ids: list[str] | None = None,
           progress: ProgressFn | None = None, config: SuggestConfig | None = None, *, engine: str = "local",
           workers: int | None = None, address: str | None = None, actors: int | None = None) -> pd.DataFrame:
    """Every subject product (or the given ones) with its ranked missing poses, its status and the
    reason when nothing is asked for.

    The poses of the products' images not cached yet under the run's backend are extracted
    first with ``engine`` (:func:`.pose.engines.fill_pose_cache`: ``"local"``, ``workers``
    processes, by default one per core for big jobs and in-process for small ones; ``"ray"``,
    ``actors`` on a local Ray or the cluster at ``address``), so the report itself only reads
    cached rows. The rows are the same whichever engine ran."""
    from .catalog.selection import select_sets
    from .pose.engines import check_engine, fill_pose_cache

    check_engine(engine, workers, actors, address)
    s = Suggester(store, run, n_references=3, config=config)
    if product_ids is None:
        product_ids = select_sets(s.products.reset_index(drop=True), s.images,
                                  run.config.selection).subject_ids
    hashes = s.images.loc[s.images["product_id"].isin(set(product_ids)), "content_hash"].unique().tolist()
    rows = []
    try:
        fill_pose_cache(store, run.config.pose_options(), hashes, run.info.identity, engine=engine, workers=workers,
                        actors=actors, address=address, progress=progress, who=f"run {run.run_id}")
        tracker = ProgressTracker("report", len(product_ids), progress)
        for pid, sug in zip(product_ids, s.for_products(product_ids), strict=True):
            tracker.update()
            rows.append({
                "product_id": pid, "title": sug.title,
                "category": s.products.at[pid, "category"], "subcategory": s.products.at[pid, "subcategory"],
                "product_type": s.products.at[pid, "product_type"], "cohort": sug.cohort,
                "cohort_level": sug.cohort_level, "n_images": len(sug.images),
                "n_failed_images": sum(a.status == Status.ERROR for a in sug.images),
                "n_duplicate_images": sum(a.duplicate_of is not None for a in sug.images),
                "flagged_images": "; ".join(f"{Path(a.image).name}: {', '.join(a.flags)}"
                                            for a in sug.images if a.flags),
                "present_poses": " ".join(map(str, sug.present)), "n_missing": len(sug.missing),
                "status": sug.status, "reason": sug.reason,
                "top_missing": sug.missing[0].description if sug.missing else "",
                "missing_poses": "; ".join(f"{m.description} ({m.confidence:.2f})" for m in sug.missing),
                "missing_classes": " ".join(str(m.pose_class) for m in sug.missing),
                "missing_groups": " ".join(str(m.group) for m in sug.missing),
                "confidence": " ".join(f"{m.confidence:.2f}" for m in sug.missing),
                "top_confidence": round(sug.missing[0].confidence, 3) if sug.missing else None,
                "completeness": sug.completeness,
                "n_expected": len(sug.expected_groups),
                "missing_hints": " | ".join(m.hint for m in sug.missing),
                "missing_examples": " | ".join(" ".join(r.path for r in m.references) for m in sug.missing),
            })
    finally:
        s.close()
    tracker.finish()
    return pd.DataFrame(rows)
