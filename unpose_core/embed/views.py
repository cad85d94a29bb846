"""View dimensions appended to a pose embedding ("+view" families), so K-Means clusters by
what the image shows and not only by where the joints are.

The paper's 77 BlazePose dimensions (or the 61 COCO ones) carry facing only indirectly, and on
real catalogues front, side and back views of the same stance land in one cluster. These
dimensions come from :func:`unpose_core.views.describe_image` (facing from landmarks, depth,
and the face detector on the head; framing from what is in frame), each scaled by its
confidence, so an uncertain view pulls less. K-Means standardises every dimension; ``VIEW_WEIGHT``
then sets how much a view dimension counts against one pose dimension (:func:`kmeans_weights`,
chosen by K-Means purity on the labelled renders: see the README's "What each image shows").

=============  ===========================================================================
dimension      meaning
=============  ===========================================================================
view_yaw_cos   cos(yaw) x facing confidence: +1 front, 0 profile, -1 back
view_yaw_sin   sin(yaw) x facing confidence: + nose towards the image's right
view_framing   framing on 0..1 (close-up 0, upper body 1/3, three-quarter 2/3, full length 1),
               centred on 0.5, x framing confidence
=============  ===========================================================================
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..views import Facing, Framing
from ..views.describe import ImageView

VIEW_SUFFIX = "+view"
# K-Means standardises every dimension, so each view dimension is weighted after that
# (PoseKMeans feature_weights): VIEW_WEIGHT^2 x 3 against the pose dimensions' 1 each
VIEW_WEIGHT = 4.0
VIEW_FEATURES: tuple[tuple[str, str], ...] = (
    ("view_yaw_cos", "cos(estimated yaw) x facing confidence: +1 front, 0 profile, -1 back"),
    ("view_yaw_sin", "sin(estimated yaw) x facing confidence: + nose towards the image's right"),
    ("view_framing", "framing 0 close-up .. 1 full length, centred, x framing confidence"),
)
VIEW_DIM = len(VIEW_FEATURES)

# the yaw a facing class stands for, when the estimate gives a class but no angle
FACING_YAW = {Facing.FRONT: 0.0, Facing.THREE_QUARTER_RIGHT: 45.0, Facing.PROFILE_RIGHT: 90.0,
              Facing.BACK: 180.0, Facing.PROFILE_LEFT: -90.0, Facing.THREE_QUARTER_LEFT: -45.0}
FRAMING_LEVEL = {Framing.CLOSE_UP: 0.0, Framing.UPPER_BODY: 1 / 3, Framing.THREE_QUARTER: 2 / 3,
                 Framing.FULL_LENGTH: 1.0}


def split_family(family: str) -> tuple[str, bool]:
    """"blazepose33+view" -> ("blazepose33", True)."""
    return (family[:-len(VIEW_SUFFIX)], True) if family.endswith(VIEW_SUFFIX) else (family, False)


def kmeans_weights(family: str, dim: int, weight: float = VIEW_WEIGHT) -> np.ndarray | None:
    """PoseKMeans feature weights for a ``dim``-dimensional embedding of ``family``: 1 for the
    pose dimensions, ``weight`` for the trailing view dimensions; None without views."""
    if not split_family(family)[1]:
        return None
    w = np.ones(dim, np.float32)
    w[-VIEW_DIM:] = weight
    return w


def view_embedding(views: Sequence[ImageView | None], weight: float = 1.0) -> np.ndarray:
    """(n, VIEW_DIM) view dimensions; zeros for an image with no view (or no person)."""
    out = np.zeros((len(views), VIEW_DIM), np.float32)
    for i, v in enumerate(views):
        if v is None or not v.is_person:
            continue
        if v.facing is not None:
            yaw = v.yaw_deg if v.yaw_deg is not None else FACING_YAW[v.facing]
            c = float(np.clip(v.facing_confidence, 0.0, 1.0))
            out[i, 0], out[i, 1] = c * np.cos(np.radians(yaw)), c * np.sin(np.radians(yaw))
        if v.framing is not None:
            out[i, 2] = float(np.clip(v.framing_confidence, 0.0, 1.0)) * (FRAMING_LEVEL[v.framing] - 0.5)
    return out * np.float32(weight)


def mirror_view_embedding(X: np.ndarray) -> np.ndarray:
    """The view dimensions of the horizontally mirrored images: yaw -> -yaw."""
    out = np.array(X, np.float32, copy=True)
    out[..., 1] *= -1.0
    return out
