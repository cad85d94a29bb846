"""The contract every pose backend meets, so BlazePose and COCO-17 models are peers.

A backend takes an RGB uint8 image (H, W, 3) and returns a :class:`PoseResult`:
landmarks normalised by image size, or an explicit "no person". Backends are
created from a :class:`PoseOptions` through :func:`unpose_core.pose.create_backend`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from ..config import PoseOptions
from ..records import Status

__all__ = ["NO_PERSON", "PERSON", "ClosingBackend", "PoseBackend", "PoseOptions", "PoseResult"]

PERSON = Status.PERSON
NO_PERSON = Status.NO_PERSON


@dataclass
class PoseResult:
    """One image's pose.

    ``landmarks`` is (n_landmarks, 4): x / width, y / height, z (BlazePose: depth in the
    x scale; 0 for 2-D models) and a per-landmark confidence in [0, 1]. ``None`` when
    ``status`` is :data:`NO_PERSON`.

    ``signals`` holds extra, JSON-safe evidence a backend can give about the image (plain
    floats / ints / lists / dicts, rounded): the ``blazepose`` backend reports every
    detected person (``people``), the primary person's segmentation mask (``mask``) and a
    face detector's answer on the head (``face``); see :mod:`unpose_core.pose.blazepose`.
    Empty for backends that have nothing more to say (the COCO-17 ones).
    """

    status: str
    landmarks: np.ndarray | None
    image_size: tuple[int, int]  # (width, height)
    backend: str
    score: float = 0.0
    signals: dict = field(default_factory=dict)

    @property
    def has_person(self) -> bool:
        return self.status == PERSON and self.landmarks is not None


@runtime_checkable
class PoseBackend(Protocol):
    """A pose model. ``id`` + ``version`` key the landmark cache, so bump ``version``
    whenever outputs could change (new weights, new preprocessing)."""

    id: str
    version: str
    n_landmarks: int
    landmark_names: tuple[str, ...]

    def estimate(self, image: np.ndarray) -> PoseResult: ...

    def close(self) -> None: ...


class ClosingBackend:
    """Mixin: a backend is a context manager that frees its model on exit."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
