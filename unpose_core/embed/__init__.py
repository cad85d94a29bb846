"""Pose embeddings (paper §4.3): landmarks -> fixed-length vectors that K-Means can use.

One family per file: ``blazepose33`` (77 dims, BlazePose's 33 landmarks) and ``coco17``
(61 dims, the 17 COCO joints), each documenting every dimension in one table; the
optional autoencoder (autoencoder.py) compresses either to a small code.
"""
from __future__ import annotations

import numpy as np

from .blazepose33 import BLAZEPOSE_DIM, BLAZEPOSE_FEATURES, embed_blazepose

__all__ = ["BLAZEPOSE_DIM", "BLAZEPOSE_FEATURES", "embed", "embed_blazepose", "embedding_table",
           "mirror_landmarks"]


def mirror_landmarks(landmarks: np.ndarray, names) -> np.ndarray:
    """Landmarks as the model reports them on the horizontally mirrored image: x -> 1 - x,
    and each left joint takes its right twin's place (the person's left side is now where
    their right side was). Depth and visibility travel with the joint."""
    names = list(names)
    swap = [names.index(n.replace("left", "\0").replace("right", "left").replace("\0", "right"))
            if ("left" in n or "right" in n) else i for i, n in enumerate(names)]
    out = np.array(landmarks, dtype=np.float32, copy=True)[..., swap, :]
    out[..., 0] = 1.0 - out[..., 0]
    return out


def embedding_table(family: str) -> tuple[tuple[str, str], ...]:
    if family == "blazepose33":
        return BLAZEPOSE_FEATURES
    if family == "coco17":
        from .coco17 import COCO17_FEATURES
        return COCO17_FEATURES
    raise ValueError(f"unknown embedding family {family!r}")


def embed(landmarks: np.ndarray, family: str) -> np.ndarray:
    """Dispatch on the backend's embedding family ("blazepose33" or "coco17")."""
    if family == "blazepose33":
        return embed_blazepose(landmarks)
    if family == "coco17":
        from .coco17 import embed_coco17
        return embed_coco17(landmarks)
    raise ValueError(f"unknown embedding family {family!r}")
