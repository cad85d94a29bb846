"""One image's view: the one place that turns a pose row (landmarks + measured signals) into
what the image shows. Suggestions, the evaluation, the app, the CLI and the report all call
:func:`describe_image`; none re-derives facing, framing, kind or flags on its own.

Order of decisions:

1. a failed image (status ``error``) has no view;
2. a pose with landmarks is a person unless :func:`views.people.person_decision` finds it
   implausible (a garment laid flat or on a hanger, landmarks off the segmentation mask,
   limbs of impossible proportions): then it is judged as an image without a person;
3. a person gets facing and framing (:mod:`views.facing`) and the several-people check;
4. an image without a person gets its kind (:func:`views.kinds.classify_nonhuman`);
5. every image gets its quality flags (:func:`views.quality.quality_flags`).

Rows cached before signals existed (an old data dir) have none: they are described from the
landmarks alone, with lower confidence, and their kind without a person is ``other``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..records import PoseRow, Status
from .facing import estimate_facing, estimate_framing
from .kinds import classify_nonhuman
from .measure import BASIC_KEYS, KEYS
from .people import person_decision, several_people
from .quality import quality_flags
from .vocab import Facing, Framing, ImageKind

KIND_KEYS = set(KEYS) - set(BASIC_KEYS)   # measured only for images taken for no person

SEVERAL_PEOPLE = "several_people"   # the flag code of a picture with more than one person


@dataclass(frozen=True)
class ImageView:
    """What one image shows. ``facing`` / ``framing`` only for a person; ``flags`` are codes
    (``several_people``, ``low_resolution``, ``blurred``) with a reason each in ``flag_text``."""

    kind: ImageKind
    kind_confidence: float
    facing: Facing | None = None
    facing_confidence: float = 0.0
    yaw_deg: float | None = None
    framing: Framing | None = None
    framing_confidence: float = 0.0
    n_people: int = 0
    flags: tuple[str, ...] = ()
    flag_text: tuple[str, ...] = ()
    evidence: dict = field(default_factory=dict)

    @property
    def is_person(self) -> bool:
        return self.kind is ImageKind.PERSON

    @property
    def label(self) -> str:
        """Short words for captions: "front, full length" / "size chart or text"."""
        if self.is_person and self.facing is not None and self.framing is not None:
            return f"{self.facing.text}, {self.framing.text}"
        return self.kind.text

    def to_dict(self) -> dict:
        return {"kind": str(self.kind), "kind_confidence": round(self.kind_confidence, 3),
                "facing": None if self.facing is None else str(self.facing),
                "facing_confidence": round(self.facing_confidence, 3),
                "yaw_deg": None if self.yaw_deg is None else round(self.yaw_deg, 1),
                "framing": None if self.framing is None else str(self.framing),
                "framing_confidence": round(self.framing_confidence, 3),
                "n_people": self.n_people, "flags": list(self.flags), "flag_text": list(self.flag_text),
                "label": self.label, "evidence": self.evidence}


def describe_image(row: PoseRow | None, names: Sequence[str]) -> ImageView | None:
    """The view of one cached pose row under a backend with landmark ``names``; None for a
    failed image or one without a result."""
    if row is None or row.status is Status.ERROR:
        return None
    signals = row.signals or {}
    image_signals = signals.get("image") or {}
    flags = list(quality_flags(image_signals)) if image_signals else []
    codes, texts = [f.code for f in flags], [f.text for f in flags]
    evidence: dict = {}
    if row.is_person:
        lm = np.asarray(row.landmarks, np.float32)
        person = person_decision(lm, names, signals)
        evidence["person"] = {"is_person": person.is_person, "confidence": round(person.confidence, 3),
                              "reasons": list(person.reasons)}
        if person.is_person:
            facing = estimate_facing(lm, names, signals)
            framing = estimate_framing(lm, names, signals)
            people = several_people(signals)
            if people.flagged:
                codes.insert(0, SEVERAL_PEOPLE)
                texts.insert(0, f"{people.n_people} people in the picture: it is placed by the most "
                                "prominent one")
            evidence.update(facing=facing.evidence, framing=framing.evidence)
            return ImageView(ImageKind.PERSON, float(person.confidence), facing.label, float(facing.confidence),
                             None if facing.yaw_deg is None else float(facing.yaw_deg), framing.label,
                             float(framing.confidence), max(1, int(people.n_people)), tuple(codes), tuple(texts),
                             evidence)
    if not image_signals:
        return ImageView(ImageKind.OTHER, 0.0, flags=tuple(codes), flag_text=tuple(texts),
                         evidence={**evidence, "kind": "no measured signals (cached before they existed)"})
    if not set(image_signals) >= KIND_KEYS:   # measured as a person; a later rule change says it is none
        return ImageView(ImageKind.OTHER, 0.0, flags=tuple(codes), flag_text=tuple(texts),
                         evidence={**evidence, "kind": "kind statistics not measured (taken for a person "
                                                       "at extraction); re-extract to classify it"})
    kind = classify_nonhuman(image_signals)
    evidence["kind"] = kind.evidence
    return ImageView(kind.kind, float(kind.confidence), flags=tuple(codes), flag_text=tuple(texts),
                     evidence=evidence)
