"""Pose backends. Each lives in its own module and registers a factory here by name."""
from __future__ import annotations

import importlib
from typing import Callable

from .base import NO_PERSON, PERSON, PoseBackend, PoseOptions, PoseResult

# name -> "module:factory". Factories take (PoseOptions, data_dir) and return a PoseBackend.
# Import is lazy so that e.g. mmpose is only imported when that backend is used.
_REGISTRY: dict[str, str] = {
    "blazepose": "unpose_core.pose.blazepose:create",
    # BlazePose's 33 landmarks mapped to the 17 COCO joints: the offline, pretrained path
    # into the 61-dim pipeline (BlazePose-derived, not an MMPose model)
    "blazepose-coco17": "unpose_core.pose.blazepose_coco17:create",
    # user-supplied weights, imported with `unposed models add-mmpose` / `add-rtmpose`
    "mmpose-hrnet": "unpose_core.pose.mmpose_hrnet:create",
    "rtmpose-onnx": "unpose_core.pose.rtmpose_onnx:create",
}
# name -> embedding family ("blazepose33" -> 77 dims, "coco17" -> 61 dims)
EMBEDDING_FAMILY: dict[str, str] = {
    "blazepose": "blazepose33",
    "blazepose-coco17": "coco17",
    "mmpose-hrnet": "coco17",
    "rtmpose-onnx": "coco17",
}


def register(name: str, target: str, family: str) -> None:
    _REGISTRY[name] = target
    EMBEDDING_FAMILY[name] = family


def available_backends() -> list[str]:
    return sorted(_REGISTRY)


def create_backend(options: PoseOptions, data_dir=None) -> PoseBackend:
    try:
        target = _REGISTRY[options.backend]
    except KeyError:
        raise ValueError(
            f"unknown pose backend {options.backend!r}; choose one of {', '.join(available_backends())}"
        ) from None
    module_name, factory_name = target.split(":")
    factory: Callable = getattr(importlib.import_module(module_name), factory_name)
    return factory(options, data_dir)


__all__ = [
    "NO_PERSON", "PERSON", "PoseBackend", "PoseOptions", "PoseResult",
    "available_backends", "create_backend", "register", "EMBEDDING_FAMILY",
]
