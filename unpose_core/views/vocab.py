"""The words for what an image shows: facing, framing and image kind.

Facing is named from the camera's side, and "left"/"right" are named by the subject's side
that faces the camera, which is also the side of the image the nose points to: in a
``profile_right`` photo the subject's right arm is visible and the nose points to the
image's right. As a yaw angle (the subject turned about the vertical axis, 0 = looking at the
camera, positive = turned so that the nose moves towards the image's right) the classes are
bins of 45 degrees: front |yaw| < 22.5, three-quarter 22.5..67.5, profile 67.5..112.5, back
beyond (a subject turned 135 degrees shows mostly the back).

Framing is how much of the body is in frame, by the lowest body part shown: ``close_up``
(head and shoulders, or a detail: hips out of frame), ``upper_body`` (to the waist or hips),
``three_quarter`` (to the thighs or knees) and ``full_length`` (feet in frame).
"""
from __future__ import annotations

from enum import StrEnum

# The reading rules' version (kinds, facing, framing): bump when a rule changes what an image
# reads as. A run records the version it was trained with (metadata.json "versions"), and a
# suggestion from a run trained with other rules says so: its reference photos were read
# differently from the listing. 2: flat lays cut by an edge, coarse fabrics, waist-length
# framing (stop 18).
RULES_VERSION = 2


class Facing(StrEnum):
    FRONT = "front"
    THREE_QUARTER_LEFT = "three_quarter_left"
    THREE_QUARTER_RIGHT = "three_quarter_right"
    PROFILE_LEFT = "profile_left"
    PROFILE_RIGHT = "profile_right"
    BACK = "back"

    @property
    def text(self) -> str:
        return self.value.replace("_", " ").replace("three quarter", "three-quarter")

    @property
    def mirror(self) -> Facing:
        """The same view of the other side (front and back are their own mirror)."""
        v = self.value
        if v.endswith("_left"):
            return Facing(v[:-5] + "_right")
        if v.endswith("_right"):
            return Facing(v[:-6] + "_left")
        return self


class Framing(StrEnum):
    CLOSE_UP = "close_up"
    UPPER_BODY = "upper_body"
    THREE_QUARTER = "three_quarter"
    FULL_LENGTH = "full_length"

    @property
    def text(self) -> str:
        return {"close_up": "close-up", "upper_body": "upper body", "three_quarter": "three-quarter length",
                "full_length": "full length"}[self.value]


class ImageKind(StrEnum):
    """What kind of image it is. Every kind but ``person`` is a class of its own in a run."""

    PERSON = "person"
    SIZE_CHART = "size_chart"     # a size chart, a table or other text
    FABRIC = "fabric"             # a fabric or texture close-up (no garment outline)
    FLAT_LAY = "flat_lay"         # the garment without a person: laid flat, on a hanger, product-only
    OTHER = "other"               # anything else without a person

    @property
    def text(self) -> str:
        return {"person": "person", "size_chart": "size chart or text", "fabric": "fabric or texture close-up",
                "flat_lay": "flat lay or product only (no person)", "other": "other image without a person"}[self.value]


NON_HUMAN_KINDS: tuple[ImageKind, ...] = (ImageKind.SIZE_CHART, ImageKind.FABRIC, ImageKind.FLAT_LAY,
                                          ImageKind.OTHER)


def facing_from_yaw(yaw_deg: float) -> Facing:
    """The facing class of a yaw angle in degrees (see the module docstring)."""
    y = (float(yaw_deg) + 180.0) % 360.0 - 180.0   # -> [-180, 180)
    a = abs(y)
    if a < 22.5:
        return Facing.FRONT
    if a >= 112.5:
        return Facing.BACK
    side = "right" if y > 0 else "left"
    return Facing(("three_quarter_" if a < 67.5 else "profile_") + side)
