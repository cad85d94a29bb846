"""Pose embeddings (paper §4.3): landmarks -> fixed-length vectors that K-Means can use.

One family per file: ``blazepose33`` (77 dims, BlazePose's 33 landmarks) and ``coco17``
(61 dims, the 17 COCO joints), each documenting every dimension in one table; the
optional autoencoder (autoencoder.py) compresses either to a small code.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..pose.skeletons import BLAZEPOSE33_NAMES, COCO17_NAMES
from ..records import left_right_swap
from ..views.describe import ImageView
from ..views.facing import turned_to_front
from .blazepose33 import BLAZEPOSE_DIM, BLAZEPOSE_FEATURES, embed_blazepose
from .views import VIEW_FEATURES, mirror_view_embedding, split_family, view_embedding

__all__ = ["BLAZEPOSE_DIM", "BLAZEPOSE_FEATURES", "VIEW_FEATURES", "embed", "embed_blazepose", "embedding_table",
           "mirror_landmarks", "mirror_view_embedding", "split_family", "view_embedding"]


def mirror_landmarks(landmarks: np.ndarray, names) -> np.ndarray:
    """Landmarks as the model reports them on the horizontally mirrored image: x -> 1 - x,
    and each left joint takes its right twin's place (the person's left side is now where
    their right side was). Depth and visibility travel with the joint."""
    out = np.array(landmarks, dtype=np.float32, copy=True)[..., left_right_swap(names), :]
    out[..., 0] = 1.0 - out[..., 0]
    return out


def embedding_table(family: str) -> tuple[tuple[str, str], ...]:
    """Every dimension of ``family`` with its meaning (a "+view" family adds :data:`VIEW_FEATURES`)."""
    base, with_view = split_family(family)
    if base == "blazepose33":
        table = BLAZEPOSE_FEATURES
    elif base == "coco17":
        from .coco17 import COCO17_FEATURES
        table = COCO17_FEATURES
    else:
        raise ValueError(f"unknown embedding family {family!r}")
    return table + VIEW_FEATURES if with_view else table


def embed(landmarks: np.ndarray, family: str, views: Sequence[ImageView | None] | None = None) -> np.ndarray:
    """Dispatch on the embedding family: "blazepose33" (the paper's 77 dims), "coco17" (61), or
    either with "+view", which appends the view dimensions of ``views`` (one per landmark set)."""
    base, with_view = split_family(family)
    # a headless body the pose model read from behind is embedded as the view reading takes it, the front
    # half (views.facing.turned_to_front): it lands on the front poses, not on a profile or three-quarter one
    if base == "blazepose33":
        X = embed_blazepose(turned_to_front(landmarks, BLAZEPOSE33_NAMES))
    elif base == "coco17":
        from .coco17 import embed_coco17
        X = embed_coco17(turned_to_front(landmarks, COCO17_NAMES))
    else:
        raise ValueError(f"unknown embedding family {family!r}")
    if not with_view:
        return X
    if views is None or len(views) != len(X):
        raise ValueError(f"a {family!r} embedding needs one view per landmark set "
                         f"({len(X)}), got {None if views is None else len(views)}")
    return np.concatenate([X, view_embedding(views)], axis=1).astype(np.float32)
