"""Pose groups: what a seller is asked for is a pose *group*, not a raw centroid.

K-Means often splits one pose a person would name once ("Full body, front") over two
centroids, and a left- and a right-facing profile show a garment the same way. A group is
a set of centroids that count as one pose:
  - centroids whose effective description (``descriptions.describe_centroid``) is the same
    text, case and spacing ignored;
  - a centroid and its mirror partner, when the run treats mirrored poses as the same;
  - (analyst marks, added by the pose-group work: merges, splits, exclusions, desirable).
The no-person class is its own group. Suggestions, ranks, example images, the report and
the evaluation all work per group through :class:`PoseGroups`.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .descriptions import describe_centroid
from .records import Description
from .runs import Run


@dataclass(frozen=True)
class PoseGroup:
    id: int                       # the smallest member centroid: stable while members stay
    members: tuple[int, ...]      # centroid ids, sorted
    label: str                    # what the group is called (its members' shared description)
    desirable: bool = False       # an analyst marked it as a pose to ask for
    excluded: bool = False        # an analyst said: never ask for it (junk, or not wanted)


@dataclass
class PoseGroups:
    """The run's centroids partitioned into groups; ``group_of`` maps a centroid to its group."""

    groups: list[PoseGroup]
    _of: dict[int, int] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self._of = {c: g.id for g in self.groups for c in g.members}

    def group_of(self, c: int) -> int | None:
        return self._of.get(int(c))

    def get(self, gid: int) -> PoseGroup:
        return next(g for g in self.groups if g.id == gid)

    def of_classes(self, classes: Iterable[int]) -> set[int]:
        """The groups a set of centroid classes covers (unknown / -1 classes ignored)."""
        return {self._of[int(c)] for c in classes if int(c) in self._of}

    def to_dict(self) -> dict:
        return {"groups": [{"id": g.id, "members": list(g.members), "label": g.label, "desirable": g.desirable,
                            "excluded": g.excluded} for g in self.groups]}


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def build_groups(run: Run, descriptions: Mapping[int, Description | str]) -> PoseGroups:
    """Groups from shared descriptions and mirror pairs (union-find over the run's classes)."""
    parent = {c.id: c.id for c in run.centroids}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    names = {c.id: describe_centroid(run, descriptions, c.id) for c in run.centroids}
    by_text: dict[str, int] = {}
    for c in run.centroids:
        if not c.is_pose:
            continue
        first = by_text.setdefault(_key(names[c.id]), c.id)
        union(first, c.id)
        if run.config.mirror_equivalent and c.mirror is not None and c.mirror in parent:
            union(c.id, c.mirror)
    members: dict[int, list[int]] = {}
    for c in parent:
        members.setdefault(find(c), []).append(c)
    groups = [PoseGroup(min(ms), tuple(sorted(ms)), names[min(ms)]) for ms in members.values()]
    return PoseGroups(sorted(groups, key=lambda g: g.id))
