"""BlazePose-derived COCO-17 keypoints ("blazepose-coco17"): NOT an MMPose model.

MediaPipe BlazePose (mediapipe 0.10.14, ``model_complexity=1``, static images, the same
settings as the ``blazepose`` backend) finds 33 landmarks; 17 of them are the COCO
joints, picked by :data:`BLAZEPOSE_TO_COCO17`. z is set to 0 (COCO models are 2-D) and
the score is BlazePose's visibility. It gives the 61-dim "coco17" embedding without any
user-supplied weights, so it is the baseline the MMPose/RTMPose backends are compared
with - but it keeps BlazePose's behaviour, including "no person" when the head or legs
are cropped off (paper §6).

This module also provides :class:`BlazePoseBoxFinder`, the person box the top-down COCO
models (mmpose-hrnet, rtmpose-onnx) use when BlazePose finds someone.
"""
from __future__ import annotations

import numpy as np

from .base import NO_PERSON, PERSON, ClosingBackend, PoseOptions, PoseResult
from .blazepose import BlazePose
from .skeletons import COCO17_NAMES, COCO17_SKELETON

# COCO-17 index -> BlazePose-33 index
BLAZEPOSE_TO_COCO17: tuple[int, ...] = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
assert len(BLAZEPOSE_TO_COCO17) == len(COCO17_NAMES) == 17

BOX_MARGIN = 0.10  # grow the landmarks' extent by this share of its size on every side


def _check_image(image: np.ndarray) -> tuple[int, int]:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError("expected an RGB uint8 image of shape (H, W, 3), got "
                         f"{getattr(image, 'dtype', type(image))} {getattr(image, 'shape', '')}")
    h, w = image.shape[:2]
    return w, h


def landmarks_box(landmarks: np.ndarray, image_size: tuple[int, int],
                  margin: float = BOX_MARGIN) -> np.ndarray | None:
    """Pixel xyxy box around normalised landmarks, grown by ``margin`` and clipped to the
    image; None when it would be degenerate (under 8 px a side)."""
    w, h = image_size
    xy = np.nan_to_num(np.asarray(landmarks, dtype=np.float64)[:, :2]) * (w, h)
    x0, y0 = xy.min(axis=0)
    x1, y1 = xy.max(axis=0)
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    box = np.array([max(0.0, x0 - dx), max(0.0, y0 - dy), min(float(w), x1 + dx), min(float(h), y1 + dy)])
    if box[2] - box[0] < 8 or box[3] - box[1] < 8:
        return None
    return box.astype(np.float32)


class BlazePoseBoxFinder:
    """The person box for top-down COCO models: BlazePose's landmarks' extent (+10 %).

    BlazePose predicts all 33 landmarks once it has found a person, extrapolating the
    ones outside the frame, so the clipped extent covers the visible body.
    """

    def __init__(self, min_detection_confidence: float = 0.5):
        self._blazepose = BlazePose(PoseOptions(min_detection_confidence=min_detection_confidence))
        self.version = f"blazepose-mp{self._blazepose.mediapipe_version}-tasks-c1-m{BOX_MARGIN:g}"
        self.last_signals: dict = {}   # BlazePose's signals (people, mask, face) of the last image

    def box(self, image: np.ndarray) -> np.ndarray | None:
        res = self._blazepose.estimate(image)
        self.last_signals = dict(res.signals)
        if not res.has_person:
            return None
        return landmarks_box(res.landmarks, (image.shape[1], image.shape[0]))

    def close(self) -> None:
        self._blazepose.close()


class BlazePoseCOCO17(ClosingBackend):
    """17 COCO joints taken from BlazePose's 33 (see module doc); BlazePose-derived."""

    id = "blazepose-coco17"
    n_landmarks = 17
    landmark_names = COCO17_NAMES
    skeleton = COCO17_SKELETON
    description = "BlazePose (MediaPipe) landmarks mapped to the 17 COCO joints; not an MMPose model"

    def __init__(self, options: PoseOptions | None = None):
        self.options = options or PoseOptions(backend=self.id)
        self._blazepose = BlazePose(self.options)
        self.version = (f"mediapipe-{self._blazepose.mediapipe_version}-tasks-full-c1-coco17map1"
                        f"-d{self.options.min_detection_confidence:g}")

    def estimate(self, image: np.ndarray) -> PoseResult:
        size = _check_image(image)
        res = self._blazepose.estimate(image)
        if not res.has_person:
            return PoseResult(NO_PERSON, None, size, self.id, signals=res.signals)
        lm = res.landmarks[list(BLAZEPOSE_TO_COCO17)].copy()
        lm[:, 2] = 0.0
        return PoseResult(PERSON, lm, size, self.id, score=float(lm[:, 3].mean()), signals=res.signals)

    def close(self) -> None:
        self._blazepose.close()


def create(options: PoseOptions, data_dir=None) -> BlazePoseCOCO17:
    return BlazePoseCOCO17(options)
