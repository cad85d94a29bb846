"""The records that cross a stage boundary: statuses as enums, rows as dataclasses.

Everything past the pose stage speaks in these, not in dicts of strings. The enums are
``str`` enums so a stored value (``"person"``) and its member (``Status.PERSON``) compare
equal and serialise as the plain string in JSON, CSV and SQLite.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path

import numpy as np


class Status(StrEnum):
    """What the pose stage made of one image."""

    PERSON = "person"          # landmarks found
    NO_PERSON = "no_person"    # the model ran and found nobody (fabric, size chart, flat lay)
    ERROR = "error"            # the image could not be read or the model failed on it
    PENDING = "pending"        # not run through this backend yet


# the stages a job of each kind goes through, in order (their Progress.stage starts with these):
# a job's overall progress (Job.overall) moves forward through them
JOB_STAGES = {"train": ("pose", "train", "umap"), "demo": ("demo", "import", "pose", "train", "umap")}


class JobStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"   # its process died; finished work is cached

    @property
    def finished(self) -> bool:
        return self is not JobStatus.RUNNING


class DescriptionStatus(StrEnum):
    OK = "ok"                       # a person wrote it for this centroid, or it matched closely
    NEEDS_REVIEW = "needs_review"   # carried from an earlier run onto a centroid that only roughly matches


@dataclass(frozen=True)
class PoseRow:
    """One image content's result under one backend (the pose cache's row)."""

    content_hash: str
    status: Status
    landmarks: np.ndarray | None = None     # (n_landmarks, 4): x, y (0..1 of the image), z, confidence
    width: int | None = None
    height: int | None = None
    score: float | None = None
    error: str | None = None
    signals: dict = field(default_factory=dict)   # measured once with the landmarks (views.describe_image)

    @property
    def is_person(self) -> bool:
        return self.status is Status.PERSON and self.landmarks is not None


@dataclass(frozen=True)
class RunRecord:
    """A trained run as the store lists it; ``path`` is absolute, resolved against the data dir
    (the store keeps it relative, so a copied data dir finds its own run folders)."""

    run_id: str
    created_at: float
    path: Path
    backend: str
    k: int
    config: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Description:
    """An analyst's text on one centroid of one run."""

    centroid: int
    text: str
    status: DescriptionStatus = DescriptionStatus.OK
    source: str | None = None
    updated_at: float | None = None


class MarkKind(StrEnum):
    """An analyst's mark on the pose groups of a run (``groups.py`` applies them)."""

    MERGE = "merge"            # these two centroids are one pose
    SPLIT = "split"            # this centroid is a pose of its own (no automatic grouping)
    EXCLUDE = "exclude"        # never ask for this centroid (junk, or a pose the shop does not want)
    DESIRABLE = "desirable"    # a pose the shop wants asked for
    REJECT = "reject"          # a proposed merge of these two centroids was rejected

    @property
    def is_pair(self) -> bool:
        return self in (MarkKind.MERGE, MarkKind.REJECT)


@dataclass(frozen=True)
class GroupMark:
    """One mark on one run: ``other`` is the second centroid of a pair mark (merge, reject)."""

    kind: MarkKind
    centroid: int
    other: int | None = None
    note: str | None = None
    status: DescriptionStatus = DescriptionStatus.OK
    source: str | None = None
    updated_at: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "kind", MarkKind(self.kind))
        object.__setattr__(self, "status", DescriptionStatus(self.status))
        if self.kind.is_pair:
            if self.other is None or self.other == self.centroid:
                raise ValueError(f"a {self.kind} mark needs two different centroids")
            a, b = sorted((int(self.centroid), int(self.other)))
            object.__setattr__(self, "centroid", a)
            object.__setattr__(self, "other", b)
        elif self.other is not None:
            raise ValueError(f"a {self.kind} mark takes one centroid")

    @property
    def centroids(self) -> tuple[int, ...]:
        return (self.centroid,) if self.other is None else (self.centroid, self.other)


@dataclass(frozen=True)
class Anchor:
    """Where an unplaced label sat: portable across runs. ``centroid`` is set once the side is
    placed in the run the label waits in; otherwise ``profile`` (the mean raw embedding of the
    centroid it was written on, in embedding ``family``) lets a later run place it again."""

    centroid: int | None = None
    origin: str = ""                        # "<run>:<centroid>" it was written on / last sat on
    family: str | None = None
    profile: tuple[float, ...] | None = None
    label: str = ""                         # what that centroid was called there, for people
    no_person: bool = False                 # a class without a person (the same kind in every run)
    image_kind: str | None = None           # which one (views.ImageKind); None: a run's one catch-all class

    def to_dict(self) -> dict:
        return {"centroid": self.centroid, "origin": self.origin, "family": self.family,
                "profile": None if self.profile is None else list(self.profile), "label": self.label,
                "no_person": self.no_person, "image_kind": self.image_kind}

    @classmethod
    def from_dict(cls, d: dict) -> Anchor:
        p = d.get("profile")
        return cls(d.get("centroid"), d.get("origin") or "", d.get("family"),
                   None if p is None else tuple(float(v) for v in p), d.get("label") or "",
                   bool(d.get("no_person")), d.get("image_kind"))


UNPLACED_DESCRIPTION = "description"


class UnplacedState(StrEnum):
    """Where an unplaced description or mark stands."""

    OPEN = "open"              # waiting for a person; carried to every later run
    PLACED = "placed"          # a person put it on centroids (``placed_on``)
    DISMISSED = "dismissed"    # a person dismissed it


@dataclass(frozen=True)
class UnplacedLabel:
    """A description or mark that found no centroid in a run: kept for a person to place or
    dismiss, and carried to every later run until they do. ``kind`` is "description" or a
    :class:`MarkKind`; ``text`` the description (or the mark's note)."""

    kind: str
    anchors: tuple[Anchor, ...]
    text: str = ""
    status: DescriptionStatus = DescriptionStatus.NEEDS_REVIEW
    source: str | None = None
    run_id: str | None = None
    id: int | None = None
    created_at: float | None = None
    state: UnplacedState = UnplacedState.OPEN
    placed_on: tuple[int, ...] | None = None

    @property
    def is_description(self) -> bool:
        return self.kind == UNPLACED_DESCRIPTION

    def __post_init__(self):
        object.__setattr__(self, "state", UnplacedState(self.state))

    @property
    def open(self) -> bool:
        return self.state == UnplacedState.OPEN

    def what(self) -> str:
        """One line for people: the text, or the mark and what its centroids were called."""
        if self.is_description:
            return self.text
        sides = " + ".join((f"“{a.label}”" if a.label else (a.origin or "?"))
                           + (f" (on centroid {a.centroid})" if a.centroid is not None else "") for a in self.anchors)
        return f"{self.kind}: {sides}" + (f" ({self.text})" if self.text else "")


@dataclass(frozen=True)
class LabelEdit:
    """What a person wrote on one run in one go: descriptions set, marks set and cleared, labels
    listed as unplaced. ``run_id`` is the run the edit was made against (``lineage.write_edit``
    carries it on when that run was replaced meanwhile)."""

    run_id: str
    descriptions: tuple[Description, ...] = ()
    add_marks: tuple[GroupMark, ...] = ()
    clear_marks: tuple[GroupMark, ...] = ()
    unplaced: tuple[UnplacedLabel, ...] = ()
    source: str | None = None

    def __bool__(self) -> bool:
        return bool(self.descriptions or self.add_marks or self.clear_marks or self.unplaced)


@dataclass(frozen=True)
class LineageRecord:
    """How a run became active: the run active before it (``parent``) and the run its labels
    were carried from (``carried_from``: the parent, or an earlier readable run of the lineage)."""

    run_id: str
    parent: str | None
    carried_from: str | None
    activated_at: float
    summary: dict = field(default_factory=dict)


@dataclass
class Job:
    """A background job's row: what it is, how far it got, how it ended.

    The runner mutates its own instance while the job runs; everyone else gets copies
    (from memory in the same process, from the store in any other).
    """

    job_id: str
    kind: str
    status: JobStatus
    stage: str = ""
    done: int = 0
    total: int = 0
    message: str = ""
    rate: float = 0.0
    eta: float | None = None
    params: dict = field(default_factory=dict)
    result: dict | None = None
    error: str | None = None
    created_at: float = 0.0
    started_at: float | None = None
    updated_at: float | None = None
    finished_at: float | None = None
    pid: int | None = None
    host: str | None = None
    cancel_requested: bool = False

    def __post_init__(self):
        self.status = JobStatus(self.status)

    @property
    def running(self) -> bool:
        return self.status is JobStatus.RUNNING

    @property
    def fraction(self) -> float:
        if self.status is JobStatus.DONE:
            return 1.0
        return 0.0 if not self.total else max(0.0, min(1.0, self.done / self.total))

    @property
    def overall(self) -> float:
        """0..1 over the job's stages (:data:`JOB_STAGES`): each stage is an equal share, so the bar
        only moves forward when the next stage starts at 0 (the stage's own bar is :attr:`fraction`)."""
        if self.status is JobStatus.DONE:
            return 1.0
        plan = JOB_STAGES.get(self.kind, ())
        i = self.stage_index
        if i is None:
            return self.fraction if not plan else 0.0
        return (i + self.fraction) / len(plan)

    @property
    def stage_index(self) -> int | None:
        """The current stage's place in :data:`JOB_STAGES` of the job's kind (None: unknown / not started)."""
        plan = JOB_STAGES.get(self.kind, ())
        return next((i for i, s in enumerate(plan) if (self.stage or "").startswith(s)), None)

    @property
    def elapsed(self) -> float:
        end = self.finished_at or time.time()
        return max(0.0, end - (self.started_at or self.created_at))

    def progress_text(self) -> str:
        """E.g. 'pose (blazepose): 312 / 864 images, 6.1/s, ETA 1:30'."""
        if self.status is not JobStatus.RUNNING:
            return f"{self.kind} {self.status}" + (f": {self.error}" if self.error else "")
        parts = [f"{self.stage or self.kind}: {self.done} / {self.total}"]
        if self.stage.startswith("pose") or self.stage == "import":
            parts[0] += " images"
        if self.rate and self.stage.startswith(("pose", "import")):
            parts.append(f"{self.rate:.1f}/s")
        if self.eta is not None and self.done < self.total:
            parts.append(f"ETA {format_seconds(self.eta)}")
        text = ", ".join(parts)
        return f"{text} ({self.message})" if self.message else text

    def to_dict(self) -> dict:
        return asdict(self)


def format_seconds(s: float | None) -> str:
    """'1:30' / '1:02:03' ('?' when unknown)."""
    if s is None:
        return "?"
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


@dataclass
class Judgement:
    """A reviewer's judgement of one product's suggestions under one run (append-only rows)."""

    run_id: str
    product_id: str
    suggested: list[int]          # pose classes the system flagged, in its order
    confirmed: list[int]          # ... of those, the ones the reviewer says are truly missing
    added: list[int]              # classes the reviewer says are missing but were not flagged
    labels: dict[int, str]        # view label of each involved class under the run, when known
    reviewer: str | None = None
    note: str | None = None
    created_at: float = 0.0
    id: int | None = None

    @property
    def rejected(self) -> list[int]:
        return [c for c in self.suggested if c not in self.confirmed]

    def missing_labels(self) -> frozenset[str] | None:
        """The views judged missing, or None when a class involved has no known label."""
        classes = [*self.confirmed, *self.added]
        if any(c not in self.labels for c in classes):
            return None
        return frozenset(self.labels[c] for c in classes)


# -- a trained run's records (written to and read from its folder's JSON files) ----------------

class CentroidKind(StrEnum):
    POSE = "pose"              # a K-Means centroid of person poses
    NO_PERSON = "no_person"    # a reserved class K, K+1, ...: images without a person, one per image kind


def _split_known(cls, d: dict) -> tuple[dict, dict]:
    """(the keys that are fields of ``cls``, the rest) of a record read from disk."""
    names = {f.name for f in fields(cls)} - {"extra"}
    return {k: v for k, v in d.items() if k in names}, {k: v for k, v in d.items() if k not in names}


@dataclass
class RunInfo:
    """What a run records about how it was made: the pose backend and the spaces it clusters in
    (``config.json``'s ``info``)."""

    backend: str
    backend_version: str
    family: str = "blazepose33"              # embedding family: "blazepose33" (77 dims) or "coco17" (61)
    landmark_names: list[str] = field(default_factory=list)
    skeleton: list[list[int]] = field(default_factory=list)
    k: int = 0
    embedding_dim: int = 0                   # raw pose embedding
    space_dim: int = 0                       # what K-Means clustered (the autoencoder's code if any)
    autoencoder: bool = False
    no_person_class: int | None = None       # = k, the first class without a person
    # the image kinds without a person (views.ImageKind values), classes K, K+1, ... in this order;
    # empty in runs made before image kinds: then class K holds every image without a person
    kinds: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)   # keys of newer or older files, kept as they are

    @property
    def identity(self) -> tuple[str, str]:
        """(backend, backend_version): the key of the pose cache rows the run uses."""
        return self.backend, self.backend_version

    @property
    def n_classes(self) -> int:
        """K pose classes and the classes without a person (one per kind, or one catch-all)."""
        return self.k + max(1, len(self.kinds))

    @classmethod
    def from_dict(cls, d: dict) -> RunInfo:
        known, extra = _split_known(cls, d)
        return cls(**known, extra=extra)

    def to_dict(self) -> dict:
        d = asdict(self)
        extra = d.pop("extra")
        return {**d, **extra}


@dataclass
class CentroidInfo:
    """One pose class of a run (``centroids.json``): its size, automatic description, and for
    pose centroids the mean landmarks, mean raw embedding and mirror partner."""

    id: int
    kind: CentroidKind
    size: int
    n_products: int
    auto_description: str
    mean_landmarks: list | None = None       # (n_landmarks, 4) averages, pose centroids only
    profile: list[float] | None = None       # mean raw embedding, pose centroids only
    mirror: int | None = None                # the centroid its mirrored members land in, if any
    image_kind: str | None = None            # no-person classes: which kind (views.ImageKind value)

    def __post_init__(self):
        self.kind = CentroidKind(self.kind)

    @classmethod
    def from_dict(cls, d: dict) -> CentroidInfo:
        return cls(**_split_known(cls, d)[0])

    @property
    def is_pose(self) -> bool:
        return self.kind is CentroidKind.POSE

    def to_dict(self) -> dict:
        """As stored: optional fields only when set."""
        d = {k: v for k, v in asdict(self).items()
             if v is not None or k not in ("mean_landmarks", "profile", "mirror", "image_kind")}
        return d | {"kind": str(self.kind)}


@dataclass(frozen=True)
class Reference:
    """A reference photo shown with a missing pose: an image of a top product of the cohort."""

    product_id: str
    title: str | None
    path: str
    content_hash: str


# -- reviews per pose group and the cohorts' operating points ---------------------------------

class Verdict(StrEnum):
    """A reviewer's word on one pose group of one product (``reviews.py``)."""

    CONFIRM = "confirm"        # suggested, and the listing truly lacks it
    REJECT = "reject"          # suggested, but not a photo this listing needs
    UNSURE = "unsure"          # suggested, the reviewer cannot tell (never scored)
    HAVE = "have"              # suggested, but a listing photo shows it already (``photo``)
    ADDED = "added"            # not suggested, but the listing lacks it

    @property
    def missing(self) -> bool | None:
        """True: the listing lacks the pose; False: it does not; None: unknown."""
        return {Verdict.CONFIRM: True, Verdict.ADDED: True, Verdict.REJECT: False,
                Verdict.HAVE: False}.get(self)


@dataclass(frozen=True)
class GroupVerdict:
    """One pose group as judged: its label and member classes under the run it was judged on
    (so a retrain maps it through the lineage's carry-over), the verdict, and for ``have`` the
    listing photo (content hash) that shows it."""

    verdict: Verdict
    members: tuple[int, ...]
    label: str = ""
    rank: int | None = None            # its place in the suggestion list (None: added)
    photo: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "verdict", Verdict(self.verdict))
        object.__setattr__(self, "members", tuple(sorted({int(c) for c in self.members})))
        if not self.members:
            raise ValueError("a judged pose group needs its member classes")
        if self.verdict is Verdict.HAVE and not self.photo:
            raise ValueError("'I already have this' needs the listing photo that shows it")

    def to_dict(self) -> dict:
        return {"verdict": str(self.verdict), "members": list(self.members), "label": self.label,
                "rank": self.rank, "photo": self.photo}


@dataclass(frozen=True)
class Review:
    """One submitted review of one product's suggestions under one run (append-only)."""

    run_id: str
    product_id: str
    verdicts: tuple[GroupVerdict, ...]
    by: str
    created_at: float = 0.0
    id: int | None = None

    def of(self, verdict: Verdict) -> list[GroupVerdict]:
        return [v for v in self.verdicts if v.verdict is verdict]


class SettingsSource(StrEnum):
    DEFAULTS = "defaults"      # nothing stored: SuggestConfig's defaults
    TUNED = "tuned"            # chosen to maximise F1 on the cohort's reviews
    RESET = "reset"            # an analyst put the defaults back


@dataclass(frozen=True)
class CohortSettings:
    """A cohort's operating point as stored (``operating.py``): the SuggestConfig fields it sets,
    where they came from, the cross-validated estimate behind a tuning, who and when."""

    cohort: str
    source: SettingsSource
    settings: dict = field(default_factory=dict)
    estimate: dict = field(default_factory=dict)
    run_id: str | None = None
    by: str | None = None
    created_at: float = 0.0
    id: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "source", SettingsSource(self.source))


def left_right_swap(names) -> list[int]:
    """For each landmark name, the index of its other-side twin ("left_x" <-> "right_x"; a landmark
    on the midline is its own): the order that relabels a skeleton's left and right."""
    names = list(names)
    return [names.index(n.replace("left", "\0").replace("right", "left").replace("\0", "right"))
            if ("left" in n or "right" in n) else i for i, n in enumerate(names)]
