"""Coverage: which pose clusters a listing's photos already show, the one home of that rule.

An image *covers* a pose cluster (it needs no more photos of it) when

1. it is the image's own class (its nearest centroid, or the reserved class of its kind when it
   shows no person);
2. soft coverage (``SuggestConfig.coverage_percentile``): its squared distance to the centroid is
   within the cluster's typical radius (:func:`typical_radii`), even if another centroid is nearer;
3. view coverage (``SuggestConfig.view_share``): the cluster's reference photos mostly show the
   image's own view (facing and framing, read surely enough: :func:`view_covered`);
4. mirror: the mirror partner of any of these, when the run treats mirrored poses as the same
   (``Run.covered``).

Every part is a rule about one image, so what a listing covers is exactly the union of what its
images cover: :func:`covered_classes` over a listing = the union of :func:`image_covers`. The
missing-pose rule, each image's ``covers``, the completeness score and the evaluation all read it
here. Which images take part is the listing's business (``listing.Listing.usable``: a copy of an
earlier photo covers nothing; a flagged photo covers like any other).

Distances are squared, in the standardised space K-Means clusters in (``PoseKMeans.transform``).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .config import SuggestConfig
from .records import PoseRow
from .runs import Run

CONFIDENCE_PERCENTILE = 90.0   # the radius a request's closeness is measured in when coverage is nearest-only


# -- distances and radii ---------------------------------------------------------------------

def centroid_distances(run: Run, poses: list[PoseRow | None], views: list | None = None,
                       space: tuple[list[int], np.ndarray] | None = None) -> np.ndarray:
    """(n images, K) squared distances to every pose centroid (``PoseKMeans.transform``), in the
    standardised space the nearest-centroid rule (``Run.classify``) uses; NaN rows for images
    without a person (by the view rules: a pose found on a garment laid flat has none).
    ``space``: the rows' ``Run.person_space`` when the caller has it already."""
    out = np.full((len(poses), run.k), np.nan, dtype=np.float64)
    rows, X = run.person_space(poses, views) if space is None else space
    if rows:
        out[rows] = run.kmeans.transform(X)
    return out


def typical_radii(run: Run, percentile: float) -> np.ndarray:
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


def closest(run: Run, members, distances, config: SuggestConfig) -> tuple[float | None, int | None]:
    """(the nearest listing image's distance to a pose group in units of its members' typical
    radius, that image's row in ``distances``); (None, None) when there is nothing to compare
    (no person image, or a group without a person pose). The radius is the coverage percentile's,
    or :data:`CONFIDENCE_PERCENTILE` when coverage is nearest-only."""
    person = [c for c in members if c < run.k]
    if distances is None or not person or not len(distances):
        return None, None
    d = np.asarray(distances, float)[:, person]
    if not np.isfinite(d).any():
        return None, None
    pct = config.coverage_percentile if config.coverage_percentile > 0 else CONFIDENCE_PERCENTILE
    r2 = np.maximum(typical_radii(run, pct)[person], 1e-9)
    q = np.where(np.isfinite(d), d / r2[None, :], np.inf)
    row = int(np.unravel_index(np.argmin(q), q.shape)[0])
    return float(np.sqrt(q.min())), row


# -- views -----------------------------------------------------------------------------------

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


# -- THE coverage rule -----------------------------------------------------------------------

def covered_classes(run: Run, present, distances: np.ndarray | None, config: SuggestConfig,
                    views=None) -> set[int]:
    """Classes a set of images needs no more photos of (the module's four parts): the images'
    own classes ``present``, every cluster an image lies within the typical radius of
    (``distances``: their squared distances to every centroid; ``coverage_percentile``, 0 =
    nearest only), the clusters that mostly show a view one of them shows (``views``: their
    ImageViews; ``view_share``), and the mirror partners of all these. Each part is per image,
    so this is the union of :func:`image_covers` over the images."""
    have = {int(c) for c in present if int(c) >= 0}
    if distances is not None and len(distances) and config.coverage_percentile > 0:
        r2 = typical_radii(run, config.coverage_percentile)
        d = np.asarray(distances, float)
        d = d[np.isfinite(d).all(axis=1)]
        if len(d):
            have |= {int(c) for c in np.flatnonzero((d <= r2[None, :]).any(axis=0))}
    have |= view_covered(run, views, config)
    return run.covered(have)


def image_covers(run: Run, pose_class: int | None, distances: np.ndarray | None, view,
                 config: SuggestConfig) -> set[int]:
    """The classes one image covers: :func:`covered_classes` of that image alone (its class,
    ``distances`` its row of squared distances to every centroid or None, ``view`` its ImageView)."""
    d = None if distances is None else np.asarray(distances, float).reshape(1, -1)
    return covered_classes(run, [] if pose_class is None else [pose_class], d, config, [view])


# -- completeness ------------------------------------------------------------------------------

def rank_weight(rank: int) -> float:
    """What the pose at ``rank`` (1 = best) of a cohort's expected poses counts for in the
    completeness score: 1 / log2(rank + 1), the discount of DCG (1, 0.63, 0.5, 0.43, ...): the
    first pose matters most, later ones less, none counts for nothing."""
    if rank < 1:
        raise ValueError(f"rank starts at 1, got {rank}")
    return float(1.0 / np.log2(rank + 1))


def usable_coverage(images: Iterable) -> set[int]:
    """The pose groups a listing's images cover: the union of their ``covers``, which is what the
    rule counts as covered (``Suggestion.covered_groups``). A copy of an earlier photo
    (``duplicate_of``) covers nothing, so it adds nothing here either; a flagged image (several
    people, low resolution, blurred) counts like any other."""
    return {int(g) for a in images if a.duplicate_of is None for g in a.covers}


def completeness_score(expected: Sequence[int], covered: Iterable[int]) -> float | None:
    """How complete a listing is, 0..100: the share of its cohort's expected pose groups
    (``expected``, best first) it covers, each weighted by :func:`rank_weight` of its place.
    None when the cohort expects nothing. Monotone: the expected groups and their weights
    depend on the cohort only, so covering one more group never lowers the score. ``covered``
    is what the missing-pose rule treats as covered (the union of the usable images' covers)."""
    expected = list(dict.fromkeys(int(g) for g in expected))
    if not expected:
        return None
    have = {int(g) for g in covered}
    weights = [rank_weight(i) for i in range(1, len(expected) + 1)]
    got = sum(w for g, w in zip(expected, weights) if g in have)
    return round(100.0 * got / sum(weights), 1)
