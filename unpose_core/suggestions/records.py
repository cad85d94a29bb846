"""The records a suggestion is made of: each image's assignment, each missing pose group, the
rule's answer (:class:`MissingGroups`) and the whole :class:`Suggestion`, plus its statuses."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

from ..records import Reference, Status

# Suggestion.status
MISSING = "missing"                    # at least one request
COVERS_EXPECTED = "covers_expected"    # the listing shows every pose its cohort expects
NOTHING_EXPECTED = "nothing_expected"  # no cohort up to "all products" expects a pose (e.g. all excluded)
BELOW_CONFIDENCE = "below_confidence"  # candidates exist, all under the cut-off or only "also worth trying"


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
    covers: list[int] = field(default_factory=list)   # groups it covers (coverage); a copy: none
    view: dict | None = None                          # views.ImageView.to_dict(): kind, facing, framing...
    flags: list[str] = field(default_factory=list)    # several_people, low_resolution, blurred
    flag_text: list[str] = field(default_factory=list)
    duplicate_of: str | None = None                   # the listing's earlier copy of the same photo
    caption: str = ""                                 # the one caption: the image's own reading first
    disagreement: str | None = None                   # its cluster's description says otherwise (views.caption)


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
    confidence: float = 1.0      # 0..1, see :func:`.rule.confidence`
    importance: float = 1.0      # its weight for the cohort from its place among the expected poses (rule.importance)
    value: float = 1.0           # expected value, the order of the requests (rule.expected_value, config.ORDER_TEXT)
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
    missing: list[MissingPose]                 # the main list, highest expected value first
    status: str = MISSING
    reason: str = ""
    present_groups: list[int] = field(default_factory=list)
    covered_groups: list[int] = field(default_factory=list)     # = the union of the images' covers
    expected_groups: list[int] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    duplicates: list[list[str]] = field(default_factory=list)   # near-identical photos, first one kept
    notes: list[str] = field(default_factory=list)              # for the seller: duplicates, flagged images
    completeness: float | None = None   # 0..100, coverage.completeness_score; None when nothing is expected
    run_notes: list[str] = field(default_factory=list)          # for the analyst, about the run (not on seller sheets)
    also: list[MissingPose] = field(default_factory=list)       # "also worth trying", after the main list

    @property
    def requests(self) -> list[MissingPose]:
        """Every request in order: the main list, then "also worth trying"."""
        return [*self.missing, *self.also]

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> pd.DataFrame:
        """One row per request, the main list then "also worth trying" (``list``)."""
        cols = ["rank", "list", "group", "pose_class", "description", "support", "confidence", "value", "closest",
                "score", "hint", "references"]
        also = {id(m) for m in self.also}
        return pd.DataFrame([{"rank": m.rank, "list": "also worth trying" if id(m) in also else "main",
                              "group": m.group, "pose_class": m.pose_class, "value": round(m.value, 3),
                              "description": m.description, "support": round(m.support, 3),
                              "confidence": round(m.confidence, 3),
                              "closest": None if m.closest is None else round(m.closest, 2),
                              "score": round(m.score, 4), "hint": m.hint,
                              "references": " ".join(r.path for r in m.references)}
                             for m in self.requests], columns=cols)


@dataclass(frozen=True)
class MissingGroups:
    """The missing pose groups of a product: its cohort and the ranker's rows (``rank_groups``)
    of the groups expected there that it does not cover, highest expected value first, with their
    confidence: the main list (``ranked``), then "also worth trying" (``also``)."""

    cohort: str                  # the ranker's table key, e.g. 'Clothing|T-shirts' or '*'
    cohort_level: str            # product_type / subcategory / category / global
    n_products: int              # top products behind the cohort's table
    ranked: list[dict]           # the main list: rank_groups rows + closest, closest_row, confidence, value
    status: str = MISSING
    reason: str = ""
    expected: tuple[int, ...] = ()     # the expected groups, best first
    covered: tuple[int, ...] = ()      # the groups the listing covers
    present: tuple[int, ...] = ()      # the groups of the listing's own (nearest) classes
    also: list[dict] = field(default_factory=list)   # "also worth trying": rows like ``ranked``, after it

    @property
    def classes(self) -> list[int]:
        """Each missing group's representative class (its best-ranked centroid)."""
        return [r["pose_class"] for r in self.ranked]

    @property
    def groups(self) -> list[int]:
        """The main list's groups, in order."""
        return [r["group"] for r in self.ranked]

    @property
    def requests(self) -> list[dict]:
        """Every request in order: the main list, then "also worth trying"."""
        return [*self.ranked, *self.also]
