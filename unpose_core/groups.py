"""Pose groups: what a seller is asked for is a pose *group*, not a raw centroid.

K-Means often splits one pose a person would name once ("Full body, front") over two
centroids, and a left- and a right-facing profile show a garment the same way. A group is
a set of centroids that count as one pose:
  - centroids whose effective description (``descriptions.describe_centroid``) is the same
    text, case and spacing ignored;
  - a centroid and its mirror partner, when the run treats mirrored poses as the same (one
    pose whether the listing lacks one side or both);
  - the analyst's marks (``Store.group_marks``, kept per run, carried to retrained runs with
    the descriptions): ``merge`` joins two centroids; ``split`` makes a centroid a pose of its
    own (it takes part in no automatic grouping, and its explicit merges are removed);
    ``exclude`` takes a centroid out of its group into an excluded one (junk, or a pose the
    shop does not want asked for); ``desirable`` marks the group of a centroid as wanted.
The no-person class is its own group (it may be excluded, never merged with a pose).
Suggestions, ranks, example images, the report and the evaluation all work per group
through :class:`PoseGroups` (``pose_groups(store, run)`` applies the stored marks).

Merge proposals (:func:`merge_proposals`): two centroids of different groups are proposed
as one pose when, in the standardised space K-Means clustered, the distance between their
centres is less than ``separation`` (default 2.0, settable per data dir) times the spread
of their members along the line joining the two centres (the square root of the sum of the
two clusters' variances along it). K-Means cutting one normal blob of poses in two gives
about 1.9 (centres 1.6 sigma apart, each half 0.6 sigma wide along the cut); two poses
whose centres lie 3 sigma apart give about 2.3. Distances to the own centre in all
dimensions (a quantile of within-cluster distances) were tried first and do not work: they
grow with the number of dimensions and the cluster's spread, not with how the two clusters
overlap (measured on the demo, README). When the run does not treat mirrored poses as one,
mirror partners are proposed too. An analyst accepts (a merge mark) or rejects (a reject
mark: not proposed again) each one.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from .config import MERGE_SEPARATION
from .descriptions import describe_centroid
from .identity import Action, Actor, performing
from .lineage import set_marks
from .records import Description, DescriptionStatus, GroupMark, MarkKind
from .runs import Run
from .store import Store

DEFAULT_SEPARATION = MERGE_SEPARATION   # the data dir setting's default (config.py: the CLI shows it)
SEPARATION_KEY = "groups.merge_separation"


@dataclass(frozen=True)
class PoseGroup:
    id: int                       # the smallest member centroid: stable while members stay
    members: tuple[int, ...]      # centroid ids, sorted
    label: str                    # what the group is called: the name given when merged, else a member's
    #                               human description, else the smallest member's automatic one
    desirable: bool = False       # an analyst marked it as a pose to ask for
    excluded: bool = False        # an analyst said: never ask for it (junk, or not wanted)
    reasons: tuple[str, ...] = ()  # why these centroids are one group, in words (same description, mirror, merge)


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
                            "excluded": g.excluded, "reasons": list(g.reasons)} for g in self.groups]}


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def _human(descriptions: Mapping[int, Description | str], c: int) -> str:
    d = descriptions.get(c)
    return d if isinstance(d, str) else (d.text if d is not None else "")


def build_groups(run: Run, descriptions: Mapping[int, Description | str],
                 marks: Iterable[GroupMark] = ()) -> PoseGroups:
    """Groups from shared descriptions, mirror pairs and the analyst's ``marks`` (union-find
    over the run's classes; see the module docstring for what each mark does)."""
    marks = list(marks)
    parent = {c.id: c.id for c in run.centroids}
    of_kind = {k: {m.centroid for m in marks if m.kind is k} for k in (MarkKind.SPLIT, MarkKind.EXCLUDE,
                                                                       MarkKind.DESIRABLE)}
    split, excluded, desirable = of_kind[MarkKind.SPLIT], of_kind[MarkKind.EXCLUDE], of_kind[MarkKind.DESIRABLE]
    pose = {c.id for c in run.centroids if c.is_pose}

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
    links: list[tuple[int, int, str]] = []   # (a, b, why) for every union, to explain the groups
    by_text: dict[str, int] = {}
    for c in run.centroids:
        if not c.is_pose or c.id in split:
            continue
        first = by_text.setdefault(_key(names[c.id]), c.id)
        if first != c.id:
            union(first, c.id)
            links.append((first, c.id, f"same description “{names[c.id]}”"))
        if run.config.mirror_equivalent and c.mirror is not None and c.mirror in pose and c.mirror not in split:
            union(c.id, c.mirror)
            if c.id < c.mirror:
                links.append((c.id, c.mirror, "mirror pair (one pose facing left and right)"))
    merged = sorted((m for m in marks if m.kind is MarkKind.MERGE and m.centroid in pose and m.other in pose),
                    key=lambda m: m.updated_at or 0.0)
    for m in merged:
        union(m.centroid, m.other)
        links.append((m.centroid, m.other, "merged" + (f" as “{m.note}”" if m.note else "")
                      + f" by {m.source or 'someone'}" + (f", {when(m.updated_at)}" if m.updated_at else "")))
    members: dict[tuple[int, bool], list[int]] = {}
    for c in parent:   # an excluded centroid leaves its group for an excluded one
        members.setdefault((find(c), c in excluded), []).append(c)
    groups = []
    for (_, excl), ms in members.items():
        ms = sorted(ms)
        human = next((_human(descriptions, c) for c in ms if _human(descriptions, c)), "")
        # the name given at the group's latest merge is what the group is called
        name = next((m.note for m in reversed(merged) if m.note and {m.centroid, m.other} <= set(ms)), None)
        why = tuple(dict.fromkeys(w for a, b, w in links if a in ms and b in ms))
        groups.append(PoseGroup(ms[0], tuple(ms), name or human or names[ms[0]], any(c in desirable for c in ms),
                                excl, why))
    return PoseGroups(sorted(groups, key=lambda g: g.id))


def when(t: float | None) -> str:
    """A mark's time in words (UTC, to the minute)."""
    return "" if not t else _dt.datetime.fromtimestamp(float(t), _dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def pose_groups(store: Store, run: Run) -> PoseGroups:
    """The run's pose groups with its stored descriptions and marks applied."""
    return build_groups(run, store.descriptions(run.run_id), store.group_marks(run.run_id))


# -- merge proposals -------------------------------------------------------------------------------

@dataclass(frozen=True)
class MergeProposal:
    a: int
    b: int
    reason: str           # "close": centres within `separation` x the members' spread between them; "mirror"
    distance: float       # between the two centres, standardised space
    separation: float     # distance / the members' spread along the line joining the centres (NaN: unknown)

    def to_dict(self) -> dict:
        return asdict(self)


def merge_separation(store: Store) -> float:
    """The data dir's setting for :func:`merge_proposals` (default 2.0)."""
    try:
        return _check_separation(store.get_meta(SEPARATION_KEY, str(DEFAULT_SEPARATION)))
    except (TypeError, ValueError):
        return DEFAULT_SEPARATION


def set_merge_separation(store: Store, value: float) -> None:
    store.set_meta(SEPARATION_KEY, str(_check_separation(value)))


def _check_separation(value) -> float:
    value = float(value)
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"the merge-proposal separation must be a number >= 0, got {value}")
    return value


MEMBERS_MAX = 2_000   # members per centroid whose poses are read for the proposals' separations


def member_sample(run: Run, per_class: int = MEMBERS_MAX, seed: int = 0) -> Run:
    """``run`` with at most ``per_class`` reference images per pose class (a seeded sample of larger
    classes; the rows without a person are kept): what the merge proposals measure separations on.
    The run itself when no class is larger. A separation divides by the members' spread (a
    standard deviation) along the line between two centres: 2,000 members estimate a standard
    deviation to about 1.6 % (1 / sqrt(2n)), while reading and embedding every member's pose grows
    with the catalogue (at 1M reference images merely asking the pose cache took 2.9 s)."""
    if not members_sampled(run, per_class):
        return run
    pc = run.reference["pose_class"].to_numpy()
    person = (pc >= 0) & (pc < run.k)
    rng = np.random.default_rng(seed)
    keep = [np.flatnonzero(~person)]
    for c in range(run.k):
        idx = np.flatnonzero(pc == c)
        keep.append(rng.choice(idx, per_class, replace=False) if len(idx) > per_class else idx)
    return replace(run, reference=run.reference.iloc[np.sort(np.concatenate(keep))])


def members_sampled(run: Run, per_class: int = MEMBERS_MAX) -> bool:
    """Whether a pose class of ``run`` has more than ``per_class`` reference images."""
    return any(c.size > per_class for c in run.centroids[:run.k])


def member_space(store: Store, run: Run, per_class: int = MEMBERS_MAX) -> dict[int, np.ndarray]:
    """Pose centroid -> its reference members' coordinates in the standardised space K-Means
    clustered (from the pose cache, as at training); at most ``per_class`` members of each
    (:func:`member_sample`), for the CLI and the app alike."""
    run = member_sample(run, per_class)
    ref = run.reference[(run.reference["pose_class"] >= 0) & (run.reference["pose_class"] < run.k)]
    poses = store.poses(*run.info.identity, ref["content_hash"])
    rows = [(int(c), poses[h]) for h, c in zip(ref["content_hash"], ref["pose_class"])
            if h in poses and poses[h].is_person]
    if not rows:
        return {}
    X = run.to_space(run.embed([p for _, p in rows]))
    Z = run.kmeans.scaled(X)
    cls = np.array([c for c, _ in rows])
    return {c: Z[cls == c] for c in np.unique(cls).tolist()}


def separation(za: np.ndarray, zb: np.ndarray, ca: np.ndarray, cb: np.ndarray) -> float:
    """Distance between centres ``ca`` and ``cb`` over the spread of members ``za`` / ``zb``
    along the line joining them (NaN when a cluster has fewer than two members)."""
    u = np.asarray(cb, float) - np.asarray(ca, float)
    d = float(np.linalg.norm(u))
    if len(za) < 2 or len(zb) < 2:
        return float("nan")
    if d == 0:
        return 0.0
    u /= d
    spread = float(np.sqrt(((np.asarray(za) - ca) @ u).var() + ((np.asarray(zb) - cb) @ u).var()))
    return d / spread if spread > 0 else float("inf")


def merge_proposals(run: Run, groups: PoseGroups, marks: Iterable[GroupMark] = (),
                    max_separation: float = DEFAULT_SEPARATION,
                    members: Mapping[int, np.ndarray] | None = None) -> list[MergeProposal]:
    """Pairs of centroids in different groups that look like one pose (module docstring), most
    alike first. ``members``: centroid -> member coordinates (:func:`member_space`). Excluded,
    split and rejected centroids / pairs are left out."""
    max_separation = _check_separation(max_separation)
    marks = list(marks)
    members = members or {}
    rejected = {(m.centroid, m.other) for m in marks if m.kind is MarkKind.REJECT}
    left_out = {m.centroid for m in marks if m.kind in (MarkKind.SPLIT, MarkKind.EXCLUDE)}
    pose = [c.id for c in run.centroids if c.is_pose and c.id not in left_out]
    centres = np.asarray(run.kmeans.cluster_centers_scaled_, dtype=float)
    empty = np.zeros((0, centres.shape[1]))
    out: dict[tuple[int, int], MergeProposal] = {}

    def candidate(a: int, b: int) -> bool:
        return (a, b) not in rejected and groups.group_of(a) != groups.group_of(b)

    for i, a in enumerate(pose):
        for b in pose[i + 1:]:
            if not candidate(a, b):
                continue
            sep = separation(members.get(a, empty), members.get(b, empty), centres[a], centres[b])
            if sep < max_separation:
                out[(a, b)] = MergeProposal(a, b, "close", round(float(np.linalg.norm(centres[a] - centres[b])), 4),
                                            round(sep, 4))
    if not run.config.mirror_equivalent:
        for c in run.centroids:
            if c.id in pose and c.mirror in pose:
                a, b = sorted((c.id, c.mirror))
                if (a, b) not in out and candidate(a, b):
                    sep = separation(members.get(a, empty), members.get(b, empty), centres[a], centres[b])
                    out[(a, b)] = MergeProposal(a, b, "mirror", round(float(np.linalg.norm(centres[a] - centres[b])),
                                                                      4), round(sep, 4))
    return sorted(out.values(), key=lambda p: (p.reason != "close", p.separation, p.a, p.b))


def proposals(store: Store, run: Run, max_separation: float | None = None) -> list[MergeProposal]:
    """:func:`merge_proposals` for the run's stored groups and marks, at the data dir's setting."""
    marks = store.group_marks(run.run_id)
    groups = build_groups(run, store.descriptions(run.run_id), marks)
    return merge_proposals(run, groups, marks, merge_separation(store) if max_separation is None else max_separation,
                           member_space(store, run))


# -- what an analyst does --------------------------------------------------------------------------

def _centroid(run: Run, c: int) -> int:
    c = int(c)
    if not 0 <= c < run.n_classes:
        raise ValueError(f"centroid must be within 0..{run.n_classes - 1} (run {run.run_id}), got {c}")
    return c


def _pose_centroids(run: Run, cs: Iterable[int]) -> list[int]:
    cs = list(dict.fromkeys(_centroid(run, c) for c in cs))
    if any(not run.is_pose(c) for c in cs):
        raise ValueError("a class without a person (size chart, fabric, flat lay, other) cannot be merged "
                         "with a pose")
    return cs


def merge(store: Store, run: Run, centroids: Iterable[int], source: Actor | str = "person",
          note: str | None = None) -> PoseGroups:
    """One pose from these centroids (and the groups they are in). Clears a rejection between them.
    ``note``: the merged pose's name, kept on the merge marks (with their history) and used as the
    group's label everywhere (suggestions, report, app) until a later merge names it again."""
    cs = [int(c) for c in centroids]
    with performing(store, source, Action.GROUPS, f"groups {run.run_id}", {"merge": cs, "note": note}) as actor:
        return _merge(store, run, cs, actor.source, note)


def _merge(store: Store, run: Run, centroids: Iterable[int], source: str, note: str | None = None) -> PoseGroups:
    cs = _pose_centroids(run, centroids)
    note = " ".join(note.split()) if note else None
    if len(cs) < 2:
        raise ValueError("merge needs at least two different centroids")
    add = [GroupMark(MarkKind.MERGE, cs[0], c, note, DescriptionStatus.OK, source) for c in cs[1:]]
    clear = [GroupMark(MarkKind.REJECT, a, b) for i, a in enumerate(cs) for b in cs[i + 1:]]
    set_marks(store, run.run_id, add, clear, source)
    return pose_groups(store, run)


def split(store: Store, run: Run, c: int, source: Actor | str = "person") -> PoseGroups:
    """Make centroid ``c`` a pose of its own. Its merges are removed; the rest of its group
    stays one group (merges are added between them where ``c`` was their only link)."""
    with performing(store, source, Action.GROUPS, f"groups {run.run_id}", {"split": int(c)}) as actor:
        return _split(store, run, c, actor.source)


def _split(store: Store, run: Run, c: int, source: str) -> PoseGroups:
    c = _centroid(run, c)
    marks = store.group_marks(run.run_id)
    before = build_groups(run, store.descriptions(run.run_id), marks)
    rest = [m for m in before.get(before.group_of(c)).members if m != c]
    clear = [m for m in marks if m.kind is MarkKind.MERGE and c in m.centroids]
    kept = [m for m in marks if m not in clear] + [GroupMark(MarkKind.SPLIT, c, source=source)]
    after = build_groups(run, store.descriptions(run.run_id), kept)
    add = [GroupMark(MarkKind.SPLIT, c, source=source)]
    for m in rest[1:]:
        if after.group_of(m) != after.group_of(rest[0]):
            add.append(GroupMark(MarkKind.MERGE, rest[0], m, None, DescriptionStatus.OK, f"split:{source}"))
            kept.append(add[-1])
            after = build_groups(run, store.descriptions(run.run_id), kept)
    set_marks(store, run.run_id, add, clear, source)
    return pose_groups(store, run)


def exclude(store: Store, run: Run, c: int, note: str | None = None, source: Actor | str = "person",
            undo: bool = False) -> PoseGroups:
    """Never ask for centroid ``c`` (``note``: why, e.g. "junk" or "not wanted"); ``undo`` takes it back."""
    c = _centroid(run, c)
    with performing(store, source, Action.GROUPS, f"groups {run.run_id}",
                    {"exclude": c, "note": note, "undo": undo}) as actor:
        mark = GroupMark(MarkKind.EXCLUDE, c, None, note, DescriptionStatus.OK, actor.source)
        set_marks(store, run.run_id, [] if undo else [mark], [mark] if undo else [], actor.source)
    return pose_groups(store, run)


def mark_desirable(store: Store, run: Run, c: int, source: Actor | str = "person", undo: bool = False) -> PoseGroups:
    """Mark the pose (group) of centroid ``c`` as one to ask for; ``undo`` clears it on every member."""
    c = _centroid(run, c)
    with performing(store, source, Action.GROUPS, f"groups {run.run_id}", {"desirable": c, "undo": undo}) as actor:
        return _mark_desirable(store, run, c, actor.source, undo)


def _mark_desirable(store: Store, run: Run, c: int, source: str, undo: bool) -> PoseGroups:
    if undo:
        groups = pose_groups(store, run)
        members = groups.get(groups.group_of(c)).members
        clear = [m for m in store.group_marks(run.run_id) if m.kind is MarkKind.DESIRABLE and m.centroid in members]
        set_marks(store, run.run_id, [], clear, source)
    else:
        set_marks(store, run.run_id, [GroupMark(MarkKind.DESIRABLE, c, source=source)], [], source)
    return pose_groups(store, run)


def accept_proposal(store: Store, run: Run, a: int, b: int, source: Actor | str = "person") -> PoseGroups:
    """The analyst agrees that ``a`` and ``b`` are one pose: a merge mark."""
    with performing(store, source, Action.GROUPS, f"groups {run.run_id}", {"accept": [int(a), int(b)]}) as actor:
        return _merge(store, run, [a, b], f"proposal:{actor.source}")


def reject_proposal(store: Store, run: Run, a: int, b: int, source: Actor | str = "person") -> PoseGroups:
    """The analyst says ``a`` and ``b`` are different poses: never proposed again (a reject mark)."""
    if int(a) == int(b):
        raise ValueError("a proposal joins two different centroids")
    a, b = _pose_centroids(run, [a, b])
    with performing(store, source, Action.GROUPS, f"groups {run.run_id}", {"reject": [a, b]}) as actor:
        set_marks(store, run.run_id, [GroupMark(MarkKind.REJECT, a, b, None, DescriptionStatus.OK, actor.source)],
                  [], actor.source)
    return pose_groups(store, run)


def group_rows(store: Store, run: Run, groups: PoseGroups | None = None) -> list[dict]:
    """One row per group for the CLI and the app: id, members (with what each is called),
    label, flags, and the marks on its members."""
    desc = store.descriptions(run.run_id)
    marks = store.group_marks(run.run_id)
    groups = groups or build_groups(run, desc, marks)
    rows = []
    for g in groups.groups:
        on = [m for m in marks if set(m.centroids) & set(g.members)]
        rows.append({"group": g.id, "members": list(g.members), "label": g.label, "desirable": g.desirable,
                     "excluded": g.excluded,
                     "named": {c: describe_centroid(run, desc, c, mark_auto=True) for c in g.members},
                     "size": int(sum(run.centroids[c].size for c in g.members)),
                     "reasons": list(g.reasons),
                     "marks": [mark_words(m, run, desc) for m in on]})
    return rows


_VERB = {MarkKind.MERGE: "Merged", MarkKind.SPLIT: "Split off", MarkKind.EXCLUDE: "Excluded",
         MarkKind.DESIRABLE: "Desirable", MarkKind.REJECT: "Kept apart"}


def mark_words(m: GroupMark, run: Run, descriptions: Mapping[int, Description | str]) -> str:
    """A mark in words, naming centroids by their description (which follows them to retrained
    runs, unlike a centroid number), with the reason, who and when: 'Excluded “Sitting” — junk —
    by app, 2026-12-06 20:30 UTC'."""
    what = " + ".join(f"“{describe_centroid(run, descriptions, c)}”" for c in m.centroids)
    parts = [f"{_VERB[m.kind]} {what}"]
    if m.note:
        parts.append(f"as “{m.note}”" if m.kind is MarkKind.MERGE else m.note)
    parts.append(f"by {m.source or 'someone'}" + (f", {when(m.updated_at)}" if m.updated_at else ""))
    if m.status == DescriptionStatus.NEEDS_REVIEW:
        parts.append("needs review")
    return " — ".join(parts)


def also_named(store: Store, run: Run, c: int, text: str) -> list[int]:
    """The other centroids a description ``text`` written for centroid ``c`` names too: its
    group mates called by the group's name (those without a description of their own, when ``c``
    would give the group its name) and the centroids already called ``text`` (same description:
    one pose group). Empty when the text names only ``c``."""
    c = _centroid(run, c)
    desc = dict(store.descriptions(run.run_id))
    marks = store.group_marks(run.run_id)
    desc[c] = Description(c, text, DescriptionStatus.OK)
    after = build_groups(run, desc, marks)
    g = after.get(after.group_of(c))
    if _key(g.label) != _key(text):   # the group keeps another name (a merge name or another's words)
        return []
    return [m for m in g.members if m != c and not _human(desc, m)] + \
        [m for m in g.members if m != c and _human(desc, m) and _key(_human(desc, m)) == _key(text)]


def last_change(store: Store, run: Run) -> list[dict]:
    """The rows of the run's latest pose-group edit (one transaction: one time stamp) in the mark
    history, oldest first; empty when there is none."""
    h = store.group_mark_history(run.run_id)
    if h.empty:
        return []
    last = h[h["created_at"] == h["created_at"].max()]
    return last.to_dict("records")


def describe_change(rows: list[dict], run: Run, descriptions: Mapping[int, Description | str]) -> str:
    """The edit :func:`last_change` returned, in words."""
    out = []
    for r in rows:
        m = _history_mark(r)
        out.append(("Cleared: " if r["action"] == "clear" else "") + mark_words(
            replace(m, source=_text(r.get("source")), updated_at=float(r["created_at"])), run, descriptions))
    return "; ".join(out)


def _text(v) -> str | None:
    return v if isinstance(v, str) and v else None   # a history cell: None / NaN when empty


def _history_mark(r: dict) -> GroupMark:
    other = r.get("other")
    other = None if other is None or other != other or int(other) < 0 else int(other)
    return GroupMark(MarkKind(r["kind"]), int(r["centroid"]), other, _text(r.get("note")),
                     DescriptionStatus(_text(r.get("status")) or "ok"))
