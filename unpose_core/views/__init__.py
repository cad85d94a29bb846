"""What each image shows: facing, framing, image kind, several people, near-duplicates and
quality. Pure rules over the signals measured once per image at extraction time (stored
with the landmarks), so changing a rule never re-runs a model. :func:`describe_image` is the
one place a pose row becomes a view; every surface calls it (through ``Run.describe``)."""
from __future__ import annotations

from .describe import POSE_MISSED_TEXT, SEVERAL_PEOPLE, ImageView, caption, describe_image, describe_images
from .duplicates import DUPLICATE_MAX_DISTANCE, duplicate_groups, duplicate_hash, hash_distance
from .facing import FacingEstimate, FramingEstimate, estimate_facing, estimate_framing
from .kinds import KindDecision, classify_nonhuman
from .measure import measure_image
from .people import PeopleDecision, PersonDecision, person_decision, several_people
from .quality import QualityFlag, quality_flags
from .vocab import NON_HUMAN_KINDS, RULES_VERSION, Facing, Framing, ImageKind, facing_from_yaw

__all__ = ["DUPLICATE_MAX_DISTANCE", "NON_HUMAN_KINDS", "POSE_MISSED_TEXT", "RULES_VERSION", "SEVERAL_PEOPLE",
           "Facing", "FacingEstimate", "Framing", "FramingEstimate", "ImageKind", "ImageView", "KindDecision",
           "PeopleDecision", "PersonDecision", "QualityFlag", "caption", "classify_nonhuman", "describe_image",
           "describe_images", "duplicate_groups", "duplicate_hash", "estimate_facing", "estimate_framing",
           "facing_from_yaw", "hash_distance", "measure_image", "person_decision", "quality_flags", "several_people"]
