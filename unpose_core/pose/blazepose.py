"""MediaPipe BlazePose (33 landmarks, 3-D), the model bundled in mediapipe 0.10.14.

Only ``model_complexity=1`` ships inside the wheel (0 and 2 are downloaded on first
use, which fails offline), so that is the one we use. Static image mode: every
catalogue photo is independent, there is no video to track through.
"""
from __future__ import annotations

import threading
import warnings

import numpy as np

from .base import NO_PERSON, PERSON, ClosingBackend, PoseOptions, PoseResult
from .skeletons import BLAZEPOSE33_NAMES as LANDMARK_NAMES
from .skeletons import BLAZEPOSE33_SKELETON as SKELETON


class BlazePose(ClosingBackend):
    id = "blazepose"
    n_landmarks = 33
    landmark_names = LANDMARK_NAMES
    skeleton = SKELETON

    def __init__(self, options: PoseOptions | None = None):
        import mediapipe as mp  # heavy import, only when a model is really needed

        # mediapipe 0.10.14 calls a protobuf API that warns once per image
        warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype")

        self.options = options or PoseOptions()
        self.mediapipe_version = mp.__version__
        conf = self.options.min_detection_confidence
        self.version = f"mediapipe-{mp.__version__}-full-c1" + ("" if conf == 0.5 else f"-d{conf:g}")
        self._lock = threading.Lock()   # a mediapipe graph is not thread-safe (app sessions share it)
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=True, model_complexity=1, smooth_landmarks=False,
            enable_segmentation=False,
            min_detection_confidence=self.options.min_detection_confidence)

    def estimate(self, image: np.ndarray) -> PoseResult:
        h, w = image.shape[:2]
        with self._lock:
            out = self._pose.process(np.ascontiguousarray(image))
        if out.pose_landmarks is None:
            return PoseResult(NO_PERSON, None, (w, h), self.id)
        lm = np.array([[p.x, p.y, p.z, p.visibility] for p in out.pose_landmarks.landmark],
                      dtype=np.float32)
        lm[:, 3] = np.clip(np.nan_to_num(lm[:, 3]), 0.0, 1.0)
        return PoseResult(PERSON, lm, (w, h), self.id, score=float(lm[:, 3].mean()))

    def close(self) -> None:
        self._pose.close()


def create(options: PoseOptions, data_dir=None) -> BlazePose:
    return BlazePose(options)
