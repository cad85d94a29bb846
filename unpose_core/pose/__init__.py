"""Pose backends. Each lives in its own module and registers a factory here by name."""
from __future__ import annotations

import importlib
from collections.abc import Callable

from ..views.measure import MEASURE_VERSION
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
    # Google's trained weights fetched and converted once at set-up (`make models`, pose/bundled.py)
    "movenet-thunder": "unpose_core.pose.movenet:create",
    "movenet-lightning": "unpose_core.pose.movenet:create_lightning",
    "blazepose-heavy": "unpose_core.pose.blazepose_heavy:create",
}
# name -> embedding family ("blazepose33" -> 77 dims, "coco17" -> 61 dims)
EMBEDDING_FAMILY: dict[str, str] = {
    "blazepose": "blazepose33",
    "blazepose-coco17": "coco17",
    "mmpose-hrnet": "coco17",
    "rtmpose-onnx": "coco17",
    "movenet-thunder": "coco17",
    "movenet-lightning": "coco17",
    "blazepose-heavy": "blazepose33",
}


# the pose cache holds the measurement pass's signals next to the landmarks: a change to what
# views.measure.measure_image or the backends' signals record must re-run extraction
SIGNALS_VERSION = f"signals{MEASURE_VERSION}"

def register(name: str, target: str, family: str) -> None:
    _REGISTRY[name] = target
    EMBEDDING_FAMILY[name] = family


def available_backends() -> list[str]:
    return sorted(_REGISTRY)


def backend_problem(name: str, data_dir=None, params: dict | None = None) -> str | None:
    """Why the backend ``name`` cannot run here (its weights not installed or imported, a library
    missing), in the backend's own words with the command that fixes it; None when it starts.
    Starts the backend once and closes it (seconds for a model that loads: callers cache it)."""
    try:
        create_backend(PoseOptions(backend=name, params=dict(params or {})), data_dir).close()
    except (ValueError, LookupError, ImportError, OSError, RuntimeError) as exc:
        return str(exc) or type(exc).__name__
    return None


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


# -- a backend's identity: the one place that says which model made a pose ----------------------

def backend_identity(backend: PoseBackend | PoseOptions | str, data_dir=None) -> tuple[str, str]:
    """(id, version) of a pose backend: the key of its cached poses and what a run records.

    Given options or a backend name, the backend is started just long enough to read them
    (the version of user weights includes their sha256, so it needs the data dir)."""
    if isinstance(backend, (PoseOptions, str)):
        b = create_backend(backend if isinstance(backend, PoseOptions) else PoseOptions(backend=backend),
                           data_dir)
        try:
            return backend_identity(b)
        finally:
            b.close()
    return backend.id, f"{backend.version}+{SIGNALS_VERSION}"


def backend_info(backend: PoseBackend) -> dict:
    """What a run records of the backend that made its poses (``RunInfo``'s backend fields)."""
    bid, version = backend_identity(backend)
    return {"backend": bid, "backend_version": version, "family": EMBEDDING_FAMILY[bid],
            "landmark_names": list(backend.landmark_names),
            "skeleton": [list(p) for p in getattr(backend, "skeleton", ())]}


def require_version(backend: PoseBackend, expected_version: str | None, who: str = "the run") -> PoseBackend:
    """``backend`` when it is the version ``who`` was trained with (or nothing is expected);
    otherwise it is closed and a RuntimeError says to retrain: its poses would not match."""
    bid, version = backend_identity(backend)
    if expected_version and version != expected_version:
        backend.close()
        raise RuntimeError(f"{who} was trained with {expected_version}, the installed {bid} is {version}: "
                           "retrain to use it")
    return backend


__all__ = [
    "NO_PERSON", "PERSON", "PoseBackend", "PoseOptions", "PoseResult",
    "available_backends", "backend_identity", "backend_info", "create_backend", "register",
    "require_version", "EMBEDDING_FAMILY",
]
