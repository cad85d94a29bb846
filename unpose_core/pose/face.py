"""The face detector bundled with mediapipe 0.10.14 (BlazeFace), run on a person's head.

BlazePose always predicts a face (nose, eyes, ears) once it has found a body, also on a
back view, so it cannot say on its own whether the face is shown. A face detector run on
a square crop around the predicted head can: it finds the face in front and three-quarter
views, usually a weaker one in profile and none from behind.

The short-range model (``model_selection=0``, 128x128 input, faces within ~2 m) is used
on the head crop: the crop makes every head "close", and it costs ~1.8 ms, against ~5.4 ms
for the full-range model. The crop is resized to :data:`CROP_PX` (the model's input size)
with OpenCV first. When no pose was found the whole image goes through the short-range
model too (a pose is missed mostly when the person is cropped close, i.e.
the face is large); ``full_range=True`` loads the full-range model for that instead.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import cv2
import numpy as np

HEAD_LANDMARKS: tuple[int, ...] = tuple(range(11))  # BlazePose nose .. mouth_right
HEAD_CROP_SCALE = 2.2        # crop side = this x the head landmarks' extent (eyes to ears)
HEAD_CROP_MIN_SHOULDER = 0.9  # ... and at least this x the shoulder width (profile heads are narrow)
MIN_CROP_PX = 16             # no crop under this many pixels a side: no face is reported
CROP_PX = 128                # head crops are resized to this side (the model's input size)
FACE_MIN_SCORE = 0.2         # the detector's own threshold: low, so weak faces still give a score
FACE_COUNT_SCORE = 0.5       # a face counts in ``n_faces`` from this score
KEYPOINT_NAMES: tuple[str, ...] = ("right_eye", "left_eye", "nose_tip", "mouth_center",
                                   "right_ear_tragion", "left_ear_tragion")


@dataclass(frozen=True)
class Face:
    """One detected face in full-image normalised coordinates."""

    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    keypoints: tuple[tuple[float, float], ...]  # KEYPOINT_NAMES order


def head_crop_box(landmarks: np.ndarray, image_size: tuple[int, int]) -> tuple[int, int, int] | None:
    """Square head crop (centre x, centre y, side) in pixels from BlazePose's 33 landmarks."""
    w, h = image_size
    head = np.nan_to_num(landmarks[list(HEAD_LANDMARKS), :2].astype(np.float64)) * (w, h)
    shoulders = np.nan_to_num(landmarks[[11, 12], :2].astype(np.float64)) * (w, h)
    extent = float(max(np.ptp(head[:, 0]), np.ptp(head[:, 1])))
    shoulder_w = float(np.linalg.norm(shoulders[0] - shoulders[1]))
    side = max(extent * HEAD_CROP_SCALE, shoulder_w * HEAD_CROP_MIN_SHOULDER)
    if side < MIN_CROP_PX:
        return None
    cx, cy = head.mean(axis=0)
    return int(round(cx)), int(round(cy)), int(round(side))


def square_crop(image: np.ndarray, cx: int, cy: int, side: int) -> tuple[np.ndarray, int, int]:
    """The square ``side`` crop centred on (cx, cy), zero-padded where it leaves the image.

    Returns (crop, x0, y0): the crop's top-left corner in image pixels."""
    h, w = image.shape[:2]
    x0, y0 = cx - side // 2, cy - side // 2
    crop = np.zeros((side, side, 3), dtype=np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
    if sx1 > sx0 and sy1 > sy0:
        crop[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return crop, x0, y0


class FaceDetector:
    """mediapipe's BlazeFace (bundled, offline), short range for head crops and full range
    for whole images. Not thread-safe: the caller holds a lock (the pose backend does)."""

    def __init__(self, full_range: bool = False):
        import mediapipe as mp

        warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype")
        self._short = mp.solutions.face_detection.FaceDetection(model_selection=0,
                                                                min_detection_confidence=FACE_MIN_SCORE)
        self._full = (mp.solutions.face_detection.FaceDetection(model_selection=1,
                                                                min_detection_confidence=FACE_MIN_SCORE)
                      if full_range else None)

    @staticmethod
    def _faces(out, x0: float, y0: float, side_w: float, side_h: float, w: int, h: int) -> list[Face]:
        faces = []
        for det in out.detections or []:
            bb = det.location_data.relative_bounding_box
            box = ((x0 + bb.xmin * side_w) / w, (y0 + bb.ymin * side_h) / h,
                   (x0 + (bb.xmin + bb.width) * side_w) / w, (y0 + (bb.ymin + bb.height) * side_h) / h)
            kps = tuple(((x0 + k.x * side_w) / w, (y0 + k.y * side_h) / h)
                        for k in det.location_data.relative_keypoints)
            faces.append(Face(float(det.score[0]), box, kps))
        return sorted(faces, key=lambda f: -f.score)

    def detect_in_head(self, image: np.ndarray, landmarks: np.ndarray) -> list[Face]:
        """Faces found in the square crop around the pose's head, best first."""
        h, w = image.shape[:2]
        crop_box = head_crop_box(landmarks, (w, h))
        if crop_box is None:
            return []
        crop, x0, y0 = square_crop(image, *crop_box)
        side = crop_box[2]
        crop = cv2.resize(crop, (CROP_PX, CROP_PX),
                          interpolation=cv2.INTER_AREA if side > CROP_PX else cv2.INTER_LINEAR)
        return self._faces(self._short.process(crop), x0, y0, side, side, w, h)

    def detect_in_image(self, image: np.ndarray) -> list[Face]:
        """Faces in the whole image (full range if loaded, else short range), best first."""
        h, w = image.shape[:2]
        model = self._full or self._short
        return self._faces(model.process(np.ascontiguousarray(image)), 0, 0, w, h, w, h)

    def close(self) -> None:
        self._short.close()
        if self._full is not None:
            self._full.close()
