"""What a pose class is called: a human description when an analyst wrote one (paper
Table 2), else a plain-words one made from its mean landmarks; seller hints; and carrying
everything a person wrote on a run's centroids (descriptions, pose-group marks, and the
labels still waiting to be placed) over to a retrained run.

The automatic descriptions work for any backend whose landmark names include shoulders,
hips, knees and ankles (BlazePose 33 and COCO 17 both do).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from .identity import Action, Actor, performing
from .rank import cohort_name
from .records import (
    UNPLACED_DESCRIPTION,
    Anchor,
    Description,
    DescriptionStatus,
    GroupMark,
    LabelEdit,
    MarkKind,
    UnplacedLabel,
)
from .runs import Run
from .store import LabelsChanged, Store
from .views import Facing, Framing, ImageKind

NO_PERSON_TEXT = "Non-human image (fabric close-up, size chart, flat lay)"   # the catch-all class of older runs

# what a class without a person is called, and what a seller is asked to add, per image kind
KIND_DESCRIPTIONS = {
    ImageKind.SIZE_CHART: "Size chart or measurements table",
    ImageKind.FABRIC: "Fabric or texture close-up",
    ImageKind.FLAT_LAY: "Product on its own (flat lay, hanger or mannequin, no model)",
    ImageKind.OTHER: "Other image without a person",
}
KIND_REQUESTS = {
    ImageKind.SIZE_CHART: "Add a size chart (a table of measurements per size)",
    ImageKind.FABRIC: "Add a close-up of the fabric that shows its texture and pattern",
    ImageKind.FLAT_LAY: "Add a photo of the product on its own: laid flat, on a hanger or a mannequin",
    ImageKind.OTHER: "Add an image like the examples (no person in it)",
}


def kind_description(kind: ImageKind | None) -> str:
    """The automatic description of the class of images of ``kind`` without a person."""
    return NO_PERSON_TEXT if kind is None else KIND_DESCRIPTIONS[ImageKind(kind)]


VIEW_MAJORITY = 0.6   # share of a centroid's images that must agree on facing and framing to name it by them


def describe_views(views) -> str | None:
    """'Back, full length' when at least :data:`VIEW_MAJORITY` of a centroid's images
    (views.ImageView) show that facing and framing; None when they disagree (the landmarks
    then describe it)."""
    labels = [(v.facing, v.framing) for v in views if v is not None and v.is_person and v.facing and v.framing]
    if not labels:
        return None
    values, counts = np.unique(np.array([f"{a}|{b}" for a, b in labels]), return_counts=True)
    best = int(counts.argmax())
    if counts[best] < VIEW_MAJORITY * len(labels):
        return None
    facing, framing = values[best].split("|")
    text = f"{Facing(facing).text}, {Framing(framing).text}"
    return text[0].upper() + text[1:]


def _idx(names, *wanted):
    return [names.index(w) for w in wanted if w in names]


def describe_landmarks(mean_lm: np.ndarray, names: tuple[str, ...]) -> str:
    """E.g. 'Full body, front' from (n_landmarks, 4) [x, y, z, confidence] averages."""
    lm = np.asarray(mean_lm, dtype=float)
    x, y, vis = lm[:, 0], lm[:, 1], lm[:, 3]
    ls, rs = _idx(names, "left_shoulder"), _idx(names, "right_shoulder")
    hips = _idx(names, "left_hip", "right_hip")
    knees = _idx(names, "left_knee", "right_knee")
    ankles = _idx(names, "left_ankle", "right_ankle")
    face = _idx(names, "nose", "left_eye", "right_eye")
    if not (ls and rs and hips):
        return "Person"
    sh_dx = x[ls[0]] - x[rs[0]]
    sh_y = (y[ls[0]] + y[rs[0]]) / 2
    hip_y = float(np.mean(y[hips]))
    if np.mean(vis[hips]) > 0.5 or not face:
        turn = abs(sh_dx) / (abs(hip_y - sh_y) or 1e-3)   # ~1 square to the camera, ~0 in profile
    else:
        # hips out of frame, so their estimate is a guess: compare with the head instead
        turn = 0.6 * abs(sh_dx) / (abs(sh_y - y[face[0]]) or 1e-3)
    side = "front" if sh_dx > 0 else "back"
    if turn < 0.35:
        facing = "side view"
    elif turn < 0.6:
        facing = f"three-quarter {side}"
    else:
        facing = side
    if face and np.mean(vis[face]) < 0.5 and side == "front":
        facing += ", head cropped"
    visible = vis > 0.5
    height = float(y[visible].max() - y[visible].min()) if visible.any() else 0.0
    # max over left/right: in profile one leg hides the other
    if ankles and vis[ankles].max() > 0.5:
        framing = "Far view, full body" if height < 0.5 else "Full body"
    elif knees and vis[knees].max() > 0.5:
        framing = "Three-quarter length (to the knees)"
    elif hip_y <= 1.05:
        framing = "Upper body till waist"
    elif hip_y <= 1.6:
        framing = "Upper body, chest up"
    else:
        framing = "Close-up, chin to chest"
    return f"{framing}, {facing}"


def describe_centroid(run: Run, descriptions: Mapping[int, Description | str], c: int,
                      mark_auto: bool = False) -> str:
    """THE rule for what class ``c`` is called: its human description when one is written,
    else the automatic one (in brackets when ``mark_auto``, for tables that show which is which).

    ``descriptions``: ``Store.descriptions(run_id)`` (or class -> text). Suggestions, reports,
    the CLI and every app page name classes through this function."""
    d = descriptions.get(c)
    human = d if isinstance(d, str) else (d.text if d is not None else "")
    if human:
        return human
    auto = run.centroids[c].auto_description
    return f"({auto})" if mark_auto else auto


def effective_descriptions(run: Run, descriptions: Mapping[int, Description | str],
                           mark_auto: bool = False) -> dict[int, str]:
    """Class -> what it is called (:func:`describe_centroid`) for every class of the run."""
    return {c.id: describe_centroid(run, descriptions, c.id, mark_auto) for c in run.centroids}


def hint_key(text: str) -> str:
    """How a pose group's description keys its edited hint: lower case, runs of spaces as one (the
    rule ``groups`` uses to make centroids with the same description one group). Hints are kept
    per key, not per run, so an edited hint follows its group through retraining."""
    return " ".join(str(text or "").lower().split())


def seller_hint(description: str, support: float, cohort: str, n_products: int,
                kind: ImageKind | None = None, described: bool = False) -> str:
    """One line a seller can act on. For a class without a person, the request names the kind
    (unless an analyst described the class: then their words lead)."""
    who = f"top {cohort_name(cohort)} listings" if cohort != "*" else "top listings"
    share = f"{support:.0%} of the {n_products} {who}" if n_products else who
    if kind is not None and not described:
        return f"{KIND_REQUESTS[ImageKind(kind)]}. {share} have one."
    what = "have one" if kind is not None else "show this pose"
    return f"Add a photo like this: {description.rstrip('.')}. {share} {what}."


# -- carrying labels to a new run ----------------------------------------------------------------
#
# Lineage rules (README, "Choices where the paper is silent"):
# - every description and mark of the run carried from, and every label still unplaced there,
#   reaches the new run: on a centroid, or as an unplaced label listed for a person;
# - centroids are matched one-to-one (Hungarian) on their mean raw embeddings, standardised;
#   only centroids that carry a label take part, the no-person class maps to the no-person class;
# - a label matched farther than ``max_distance`` is placed but marked 'needs_review';
#   'needs_review' is kept until a person clears it;
# - an unplaced label keeps the profile of the centroid it was written on: a later run places it
#   again (as 'needs_review') on a centroid within ``max_distance`` that no other description
#   holds; otherwise it is carried on, unplaced, until a person places or dismisses it.

MAX_DISTANCE = 1.0   # RMS per embedding dimension, in standard units


@dataclass
class RunLabels:
    """Everything a person wrote on one run that must follow it: descriptions, pose-group marks,
    and the unplaced labels (descriptions and marks) not yet placed or dismissed."""

    descriptions: dict[int, Description] = field(default_factory=dict)
    marks: list[GroupMark] = field(default_factory=list)
    unplaced: list[UnplacedLabel] = field(default_factory=list)

    @classmethod
    def read(cls, store: Store, run_id: str) -> RunLabels:
        return cls(store.descriptions(run_id), store.group_marks(run_id), store.unplaced(run_id))

    def __bool__(self) -> bool:
        return bool(self.descriptions or self.marks or self.unplaced)


Side = int | Anchor   # a centroid of the run carried from, or an anchor with no centroid there


@dataclass
class CarryItem:
    """One label on its way to a new run: a description (``kind`` "description", ``text``) or a
    mark (``kind`` a MarkKind, ``text`` its note), sitting on ``sides``."""

    kind: str
    text: str
    sides: list[Side]
    status: DescriptionStatus = DescriptionStatus.OK
    source: str | None = None
    unplaced: bool = False          # it was an unplaced label where it comes from

    @property
    def is_description(self) -> bool:
        return self.kind == UNPLACED_DESCRIPTION


@dataclass
class CarryPlan:
    """What the new run gets: written in one transaction (``Store.activate_run_with_labels``)."""

    descriptions: list[Description] = field(default_factory=list)
    marks: list[GroupMark] = field(default_factory=list)
    unplaced: list[UnplacedLabel] = field(default_factory=list)
    summary: dict = field(default_factory=dict)


def anchor_of(run: Run, c: int, label: str | None = None) -> Anchor:
    """A portable record of centroid ``c`` of ``run``: enough for a later run to find its match."""
    info = run.centroids[c]
    return Anchor(None, f"{run.run_id}:{c}", run.info.family,
                  tuple(float(v) for v in info.profile) if info.is_pose and info.profile is not None else None,
                  info.auto_description if label is None else label, not info.is_pose, info.image_kind)


def items_of(run_id: str, labels: RunLabels, run: Run | None = None, k: int | None = None) -> list[CarryItem]:
    """The labels of run ``run_id`` as carry items. With the run loaded, sides are its centroids;
    without (the run cannot be read) they become anchors with no profile (``k``: the run's K,
    to recognise its no-person class), which only a person can place."""
    def side(c: int, label: str = "") -> Side:
        if run is not None:
            return int(c)
        return Anchor(None, f"{run_id}:{c}", None, None, label, k is not None and c >= k)

    names = {c: d.text for c, d in labels.descriptions.items()}
    items = [CarryItem(UNPLACED_DESCRIPTION, d.text, [side(c)], d.status, f"{run_id}:{c}")
             for c, d in sorted(labels.descriptions.items())]
    items += [CarryItem(str(m.kind), m.note or "", [side(x, names.get(x, "")) for x in m.centroids], m.status,
                        f"{run_id}:{m.kind}:{'+'.join(map(str, m.centroids))}") for m in labels.marks]
    for u in labels.unplaced:
        # a side a person could place on (centroid set) still travels by the profile it was written
        # with, so an item waiting through several runs does not drift; without one, by the centroid
        sides = [a if a.centroid is None else
                 replace(a, centroid=None) if (a.profile is not None or a.no_person) else side(a.centroid, a.label)
                 for a in u.anchors]
        items.append(CarryItem(u.kind, u.text, sides, u.status, u.source, unplaced=True))
    return items


def _scaled_distances(a: np.ndarray, b: np.ndarray, scale_from: np.ndarray) -> np.ndarray:
    scale = scale_from.std(axis=0)
    scale[scale < 1e-6] = 1.0
    return np.sqrt((((a[:, None, :] - b[None, :, :]) / scale) ** 2).mean(axis=2))


def plan_carry(old: Run | None, items: Iterable[CarryItem], new: Run,
               max_distance: float = MAX_DISTANCE, existing: RunLabels | None = None) -> CarryPlan:
    """Where each label goes in ``new`` (see the lineage rules above). ``old``: the run whose
    centroids the integer sides refer to (None when every side is an anchor). ``existing``:
    labels ``new`` holds already; they stay, and a description carried onto a centroid one of
    them describes is listed unplaced instead."""
    from scipy.optimize import linear_sum_assignment

    items = list(items)
    new_pose = [c.id for c in new.centroids if c.is_pose]
    pn = np.array([new.centroids[c].profile for c in new_pose], dtype=float)
    same_family = old is not None and old.info.family == new.info.family

    # round 1: centroids of the old run that carry a label, one-to-one
    placed_side: dict[int, tuple[int, float]] = {}          # old centroid -> (new centroid, distance)
    used = sorted({s for it in items for s in it.sides if isinstance(s, int)})
    if old is not None:
        for c in used:
            if not old.centroids[c].is_pose:   # a kind without a person: the same kind's class
                placed_side[c] = (new.class_of_kind(old.kind_of_class(c) or ImageKind.OTHER), 0.0)
        pose_used = [c for c in used if old.centroids[c].is_pose]
        if same_family and pose_used and len(new_pose):
            po = np.array([old.centroids[c].profile for c in pose_used], dtype=float)
            allp = np.concatenate([np.array([c.profile for c in old.centroids if c.is_pose], dtype=float), pn])
            dist = _scaled_distances(po, pn, allp)
            for r, col in zip(*linear_sum_assignment(dist)):
                placed_side[pose_used[r]] = (new_pose[col], float(dist[r, col]))

    def resolve1(s: Side) -> tuple[int, float] | None:
        return placed_side.get(s) if isinstance(s, int) else None

    # descriptions placed in round 1 take their centroids
    occupied = set(existing.descriptions) if existing else set()
    had_marks = {(str(m.kind), *m.centroids): m.note or "" for m in existing.marks} if existing else {}
    taken: set[int] = set(occupied)
    for it in items:
        if it.is_description and not it.unplaced and (hit := resolve1(it.sides[0])) is not None:
            taken.add(hit[0])

    # round 2: anchors (unplaced labels, or sides whose run cannot be matched) with a usable profile
    def usable(a: Anchor) -> bool:
        return a.profile is not None and a.family == new.info.family and len(a.profile) == pn.shape[1]

    anchor_hit: dict[int, tuple[int, float]] = {}            # id(anchor) -> (new centroid, distance)
    desc_anchors, other_anchors = [], []
    for it in items:
        for a in it.sides:
            if not isinstance(a, Anchor):
                continue
            if a.no_person:
                anchor_hit[id(a)] = (new.class_of_kind(a.image_kind or ImageKind.OTHER), 0.0)
            elif usable(a):
                (desc_anchors if it.is_description else other_anchors).append(a)
    scale_base = np.concatenate([pn, np.array([a.profile for a in desc_anchors + other_anchors],
                                              dtype=float).reshape(-1, pn.shape[1])])
    free = [c for c in new_pose if c not in taken]
    if desc_anchors and free:
        pa = np.array([a.profile for a in desc_anchors], dtype=float)
        pf = np.array([new.centroids[c].profile for c in free], dtype=float)
        dist = _scaled_distances(pa, pf, scale_base)
        for r, col in zip(*linear_sum_assignment(dist)):
            if dist[r, col] <= max_distance:
                anchor_hit[id(desc_anchors[r])] = (free[col], float(dist[r, col]))
    if other_anchors:
        pa = np.array([a.profile for a in other_anchors], dtype=float)
        dist = _scaled_distances(pa, pn, scale_base)
        for r, a in enumerate(other_anchors):
            j = int(np.argmin(dist[r]))
            if dist[r, j] <= max_distance:
                anchor_hit[id(a)] = (new_pose[j], float(dist[r, j]))

    plan = CarryPlan()
    counts = {"descriptions": dict.fromkeys(("carried", "placed", "needs_review", "replaced", "unplaced"), 0),
              "marks": dict.fromkeys(("carried", "placed", "needs_review", "replaced", "unplaced"), 0)}
    described: set[int] = set(occupied)
    marks_seen: set[tuple] = set()

    def anchor_for(s: Side) -> Anchor:
        if isinstance(s, Anchor):
            return s
        return anchor_of(old, s) if old is not None else Anchor(origin=str(s))

    for it in items:
        kind_counts = counts["descriptions" if it.is_description else "marks"]
        kind_counts["carried"] += 1
        hits = [resolve1(s) if isinstance(s, int) else anchor_hit.get(id(s)) for s in it.sides]
        targets = [h[0] for h in hits if h is not None]
        complete = all(h is not None for h in hits) and len(set(targets)) == len(targets)
        if complete and it.is_description and targets[0] in described:
            complete = False
        if complete and not it.is_description:
            key = (it.kind, *sorted(targets))
            if key in had_marks and it.text in ("", had_marks[key]):   # the new run has this mark already
                kind_counts["placed"] += 1
                continue
            # the same mark with another note there (or carried already): its note waits, unplaced
            complete = key not in marks_seen and key not in had_marks
        if complete:
            far = any(h[1] > max_distance for h in hits)
            from_anchor = any(isinstance(s, Anchor) for s in it.sides)
            review = far or from_anchor or it.status == DescriptionStatus.NEEDS_REVIEW
            status = DescriptionStatus.NEEDS_REVIEW if review else DescriptionStatus.OK
            kind_counts["needs_review" if review else "placed"] += 1
            kind_counts["replaced"] += int(it.unplaced)
            if it.is_description:
                plan.descriptions.append(Description(targets[0], it.text, status, it.source))
                described.add(targets[0])
            else:
                marks_seen.add((it.kind, *sorted(targets)))
                plan.marks.append(GroupMark(MarkKind(it.kind), targets[0], targets[1] if len(targets) > 1 else None,
                                            it.text or None, status, it.source))
            continue
        anchors = []
        for s, h in zip(it.sides, hits):
            a = anchor_for(s)
            if h is not None and not it.is_description:   # a matched side of a mark: a person only adds the rest
                a = replace(a, centroid=h[0])
            anchors.append(a)
        kind_counts["unplaced"] += 1
        plan.unplaced.append(UnplacedLabel(it.kind, tuple(anchors), it.text, DescriptionStatus.NEEDS_REVIEW,
                                           it.source))
    plan.summary = counts
    return plan
# -- what a person does with descriptions --------------------------------------------------------

def _check_centroid(run: Run, c: int) -> int:
    c = int(c)
    if not 0 <= c < run.n_classes:
        raise ValueError(f"centroid must be within 0..{run.n_classes - 1} (run {run.run_id}), got {c}")
    return c


def place_unplaced(store: Store, run: Run, item_id: int, centroids: Iterable[int], by: Actor | str = "person"):
    """Put an unplaced description or mark of ``run`` on centroids of it (one per side still
    unplaced). A description already on the target centroid is kept as an unplaced one."""
    item = store.unplaced_item(item_id)
    if item.run_id != run.run_id:
        raise ValueError(f"#{item_id} waits in run {item.run_id}, not in {run.run_id}")
    cs = [_check_centroid(run, c) for c in centroids]
    if not item.is_description and any(not run.is_pose(c) for c in cs) and MarkKind(item.kind).is_pair:
        raise ValueError("the no-person class cannot be merged with a pose")
    if not item.open:
        raise ValueError(f"#{item_id} is already {item.state}")
    free = [i for i, a in enumerate(item.anchors) if a.centroid is None]
    if len(cs) != len(free):
        raise ValueError(f"#{item_id} ({item.what()}) needs {len(free)} centroid(s) to be placed, got {len(cs)}")
    sides = [a.centroid for a in item.anchors]
    for i, cen in zip(free, cs):
        sides[i] = cen
    with performing(store, by, Action.DESCRIBE, f"unplaced #{item_id}", {"centroids": cs}) as actor:
        return _place(store, item, item_id, sides, actor.source)


def _place(store: Store, item, item_id: int, sides: list, by: str):
    source = f"placed:{item.source or ''}"
    for _ in range(20):
        version = store.labels_version(item.run_id)
        if item.is_description:
            # a description that sat on the target centroid is not lost: it becomes an unplaced
            # description of the run itself
            (target,) = sides
            current = store.descriptions(item.run_id).get(target)
            displaced = () if current is None or current.text == item.text else (UnplacedLabel(
                UNPLACED_DESCRIPTION, (Anchor(origin=f"{item.run_id}:{target}"),), current.text,
                source=current.source or f"{item.run_id}:{target}"),)
            edit = LabelEdit(item.run_id, (Description(target, item.text, DescriptionStatus.OK, source),),
                             unplaced=displaced, source=source)
        else:
            edit = LabelEdit(item.run_id, add_marks=(GroupMark(MarkKind(item.kind), sides[0], sides[1] if len(sides) > 1
                                                               else None, item.text or None, DescriptionStatus.OK,
                                                               source),), source=source)
        try:
            return store.place_unplaced(item_id, sides, edit, by, expect_versions={item.run_id: version})
        except LabelsChanged:
            continue
    raise RuntimeError(f"the labels of run {item.run_id} kept changing while placing #{item_id}; try again")


def dismiss_unplaced(store: Store, run: Run, item_id: int, by: Actor | str = "person"):
    """A person drops an unplaced label from the lineage (it stays in the history)."""
    item = store.unplaced_item(item_id)
    if item.run_id != run.run_id:
        raise ValueError(f"#{item_id} waits in run {item.run_id}, not in {run.run_id}")
    with performing(store, by, Action.DESCRIBE, f"unplaced #{item_id}", {"dismissed": True}) as actor:
        return store.dismiss_unplaced(item_id, actor.source)


def mark_reviewed(store: Store, run: Run, c: int, by: Actor | str = "person") -> Description:
    """A person checked the description carried onto ``c``: 'needs_review' becomes 'ok'."""
    c = _check_centroid(run, c)
    d = store.descriptions(run.run_id).get(c)
    if d is None:
        raise ValueError(f"centroid {c} of run {run.run_id} has no description to review")
    with performing(store, by, Action.DESCRIBE, f"description {run.run_id}:{c}", {"reviewed": True}) as actor:
        store.set_description(run.run_id, c, d.text, DescriptionStatus.OK, f"reviewed:{actor.source}:{d.source or ''}")
    return store.descriptions(run.run_id)[c]


def remove_description(store: Store, run: Run, c: int, by: Actor | str = "person") -> Description:
    """A person removes the human description on ``c``: the centroid is called by its automatic
    description again. The removed text stays in the description history (a row with empty
    text marks the removal). Returns what was removed; ValueError when there is none."""
    c = _check_centroid(run, c)
    with performing(store, by, Action.DESCRIBE, f"description {run.run_id}:{c}", {"removed": True}) as actor:
        removed = store.clear_description(run.run_id, c, actor.source)
        if removed is None:
            raise ValueError(f"centroid {c} of run {run.run_id} has no human description to remove")
    return removed
