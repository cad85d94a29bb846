"""What each image shows: facing, framing, image kind, several people, near-duplicates and
quality. Pure rules over the signals measured once per image at extraction time (stored
with the landmarks), so changing a rule never re-runs a model."""
from __future__ import annotations

from .vocab import NON_HUMAN_KINDS, Facing, Framing, ImageKind, facing_from_yaw

__all__ = ["NON_HUMAN_KINDS", "Facing", "Framing", "ImageKind", "facing_from_yaw"]
