"""Completeness of listings, one product and the whole catalogue: how much of what a product's
cohort expects its usable photos show, and where photos would help most.

The score itself is THE rule in ``coverage`` (:func:`~unpose_core.coverage.completeness_score`,
filled in on every :class:`~unpose_core.suggestions.Suggestion`): over the pose groups expected in
the product's cohort, best first, each weighted by ``rank_weight`` (1 / log2(rank + 1)), the share
its images cover, 0..100. Covered means what the missing-pose rule treats as covered, the union of
the images' ``covers`` (``Suggestion.covered_groups``): a copy covers nothing; a flagged image
(several people, low resolution, blurred) covers its pose as in the rule -- the seller's notes say
to replace it -- so a pose is never both counted missing by the score and not asked for. This module explains a
score (:func:`explain`: which expected pose counts for how much, what each photo asked for would
add) and builds the catalogue view (:func:`catalogue`: per product, per cohort, per missing pose).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

from ..catalog.selection import select_sets
from ..config import SuggestConfig
from ..coverage import completeness_score, rank_weight
from ..groups import PoseGroups
from ..progress import ProgressFn, ProgressTracker
from ..rank import cohort_name
from ..records import Status
from ..runs import Run
from ..store import Store
from ..suggestions import Suggester, Suggestion


@dataclass(frozen=True)
class ExpectedPose:
    """One pose group the product's cohort expects, and what it counts for in the score."""

    group: int
    rank: int                 # 1 = the cohort's first expected pose
    label: str
    weight: float             # rank_weight(rank) / the sum of all weights: its share of 100
    covered: bool             # by a usable image of the listing
    requested: bool           # the suggestion asks for it (expected, not covered, above the confidence cut-off)


@dataclass(frozen=True)
class Completeness:
    """A product's completeness score explained."""

    product_id: str | None
    score: float | None                       # 0..100, None when the cohort expects nothing
    expected: list[ExpectedPose] = field(default_factory=list)
    n_images: int = 0
    n_usable: int = 0                         # neither a copy nor flagged (flagged ones still cover)
    gain_next: float = 0.0                    # score points the first requested photo adds
    gain_requested: float = 0.0               # ... all requested photos together

    @property
    def missing(self) -> list[ExpectedPose]:
        return [e for e in self.expected if not e.covered]

    def to_dict(self) -> dict:
        return asdict(self)


def explain(sug: Suggestion, groups: PoseGroups | None = None) -> Completeness:
    """Which expected pose counts for how much in ``sug.completeness``, and what the photos the
    suggestion asks for would add (``groups`` names the covered poses; without it they are
    called by their group id)."""
    expected = list(dict.fromkeys(sug.expected_groups))
    have = set(sug.covered_groups)   # what the rule treats as covered: the union of the images' covers
    requested = [m.group for m in sug.missing if m.group is not None]
    labels = {m.group: m.description for m in sug.missing}
    if groups is not None:
        for gid in expected:
            labels.setdefault(gid, next((g.label for g in groups.groups if g.id == gid), f"pose group {gid}"))
    total = sum(rank_weight(i) for i in range(1, len(expected) + 1)) or 1.0
    rows = [ExpectedPose(g, i, labels.get(g, f"pose group {g}"), rank_weight(i) / total, g in have, g in requested)
            for i, g in enumerate(expected, 1)]
    score = completeness_score(expected, have)
    if score is None:
        gain_next = gain_all = 0.0
    else:
        gain_next = (completeness_score(expected, have | set(requested[:1])) or 0.0) - score
        gain_all = (completeness_score(expected, have | set(requested)) or 0.0) - score
    usable = sum(a.duplicate_of is None and not a.flags and a.status != Status.ERROR for a in sug.images)
    return Completeness(sug.product_id, score, rows, len(sug.images), usable, round(gain_next, 1),
                        round(gain_all, 1))


@dataclass
class Catalogue:
    """Every subject product's completeness and requests, and the views of them the dashboard
    shows. ``products``: one row per product; ``missing``: one row per (product, requested pose)."""

    run_id: str
    products: pd.DataFrame
    missing: pd.DataFrame

    def by_cohort(self) -> pd.DataFrame:
        """Per cohort: products, mean / median / lowest completeness, products asked for something."""
        p = self.products[self.products["completeness"].notna()]
        if p.empty:
            return pd.DataFrame(columns=["cohort", "n_products", "mean", "median", "min", "n_with_requests"])
        out = p.groupby("cohort").agg(n_products=("product_id", "size"), mean=("completeness", "mean"),
                                      median=("completeness", "median"), min=("completeness", "min"),
                                      n_with_requests=("n_missing", lambda s: int((s > 0).sum())))
        return out.round(1).reset_index().sort_values(["mean", "cohort"], kind="stable").reset_index(drop=True)

    def most_missing(self) -> pd.DataFrame:
        """Per requested pose (by description): how many products are asked for it, how often it is
        their first request, the mean confidence and the completeness points it would add in all."""
        m = self.missing
        if m.empty:
            return pd.DataFrame(columns=["pose", "n_products", "n_first", "mean_confidence", "points"])
        out = m.groupby("pose").agg(n_products=("product_id", "nunique"), n_first=("rank", lambda r: int((r == 1)
                                                                                                    .sum())),
                                    mean_confidence=("confidence", "mean"), points=("points", "sum"))
        out = out.round({"mean_confidence": 3, "points": 1}).reset_index()
        return out.sort_values(["n_products", "points", "pose"], ascending=[False, False, True],
                               kind="stable").reset_index(drop=True)

    def gains(self, pose: str | None = None, top: int | None = None) -> pd.DataFrame:
        """Products by the completeness points the requested photos would add, most first (only
        those asked for ``pose``, when given)."""
        p = self.products[self.products["gain_requested"] > 0]
        if pose is not None:
            p = p[p["product_id"].isin(self.missing.loc[self.missing["pose"] == pose, "product_id"])]
        cols = ["product_id", "title", "cohort", "completeness", "gain_next", "gain_requested", "n_missing",
                "top_missing"]
        p = p.sort_values(["gain_requested", "completeness", "product_id"], ascending=[False, True, True],
                          kind="stable")[cols].reset_index(drop=True)
        return p.head(top) if top else p

    def worst_first(self) -> pd.DataFrame:
        """The products by completeness, lowest first (nothing expected: last)."""
        return self.products.sort_values(["completeness", "product_id"], na_position="last",
                                         kind="stable").reset_index(drop=True)


PRODUCT_COLUMNS = ["product_id", "title", "category", "subcategory", "product_type", "cohort", "n_images",
                   "n_usable_images", "n_expected", "completeness", "gain_next", "gain_requested", "n_missing",
                   "top_missing", "status"]
MISSING_COLUMNS = ["product_id", "cohort", "rank", "group", "pose", "confidence", "points", "hint", "examples"]


def catalogue(store: Store, run: Run, product_ids: list[str] | None = None, config: SuggestConfig | None = None,
              progress: ProgressFn | None = None, n_references: int = 3) -> Catalogue:
    """One suggestion per subject product (or the given ones) -> :class:`Catalogue`."""
    s = Suggester(store, run, n_references=n_references, config=config)
    try:
        if product_ids is None:
            product_ids = select_sets(s.products.reset_index(drop=True), s.images, run.config.selection).subject_ids
        tracker = ProgressTracker("completeness", len(product_ids), progress)
        groups = s.groups()
        prows, mrows = [], []
        for pid in product_ids:
            sug = s.for_product(pid)
            tracker.update()
            c = explain(sug, groups)
            prod = s.products.loc[pid]
            prows.append({"product_id": pid, "title": sug.title, "category": prod["category"],
                          "subcategory": prod["subcategory"], "product_type": prod["product_type"],
                          "cohort": cohort_name(sug.cohort),
                          "n_images": c.n_images, "n_usable_images": c.n_usable, "n_expected": len(c.expected),
                          "completeness": sug.completeness, "gain_next": c.gain_next,
                          "gain_requested": c.gain_requested, "n_missing": len(sug.missing),
                          "top_missing": sug.missing[0].description if sug.missing else "", "status": sug.status})
            weight = {e.group: e.weight for e in c.expected}
            for m in sug.missing:
                mrows.append({"product_id": pid, "cohort": prows[-1]["cohort"], "rank": m.rank, "group": m.group,
                              "pose": m.description, "confidence": round(m.confidence, 3),
                              "points": round(100 * weight.get(m.group, 0.0), 1), "hint": m.hint,
                              "examples": " ".join(r.path for r in m.references)})
        tracker.finish()
    finally:
        s.close()
    products = pd.DataFrame(prows, columns=PRODUCT_COLUMNS)
    products["completeness"] = products["completeness"].astype(float)
    return Catalogue(run.run_id, products, pd.DataFrame(mrows, columns=MISSING_COLUMNS))
