"""One pose model shared by many callers (the app's sessions): loaded on first use, one image at a time.

The app keeps one :class:`SharedBackend` per (data dir, backend, version) for the life of the
server, so rebuilding a suggester (after a description changes, say) never reloads the model.
"""
from __future__ import annotations

import threading

from . import create_backend, require_version
from .base import PoseOptions, PoseResult


class SharedBackend:
    """A pose backend created on first use and shared; ``close()`` by a borrower is a no-op.

    ``expected_version``: the version a run was trained with; a different installed model is
    refused (its poses would not match the run's clusters).
    """

    def __init__(self, options: PoseOptions, data_dir=None, expected_version: str | None = None):
        self.options, self.data_dir, self.expected_version = options, data_dir, expected_version
        self._real = None
        self._load_lock = threading.Lock()
        self._lock = threading.Lock()

    @classmethod
    def for_run(cls, run, data_dir=None) -> SharedBackend:
        """The backend a run was trained with, checked against the run's backend version."""
        return cls(run.config.pose_options(), data_dir, run.info.backend_version)

    def _get(self):
        with self._load_lock:
            if self._real is None:
                self._real = require_version(create_backend(self.options, self.data_dir), self.expected_version)
            return self._real

    @property
    def id(self) -> str:
        return self.options.backend

    @property
    def version(self) -> str:
        return self._get().version

    def __getattr__(self, item):   # n_landmarks, landmark_names, ...
        if item.startswith("_"):
            raise AttributeError(item)
        return getattr(self._get(), item)

    def estimate(self, image) -> PoseResult:
        with self._lock:
            return self._get().estimate(image)

    def close(self) -> None:   # shared: a borrower never closes it
        pass

    def shutdown(self) -> None:
        """Free the model (the owner, e.g. when the app evicts it)."""
        with self._load_lock:
            if self._real is not None:
                self._real.close()
                self._real = None
