"""MediaPipe BlazePose GHUM **heavy** (33 landmarks, 3-D): "blazepose-heavy".

The same Tasks ``PoseLandmarker`` graph as the ``blazepose`` backend (the wheel's pose
detector, its ROI logic, landmark refinement, segmentation and the face signals; see
:mod:`.blazepose`), with Google's heavy landmark model (``model_complexity=2``) in place of the
full one. The wheel fetches that model from Google's storage on first use, which fails offline;
``make models`` takes the very file from the npm package ``@mediapipe/pose`` (Google,
Apache-2.0; its ``pose_landmark_full.tflite`` is byte-identical to the wheel's) once at set-up,
and this backend reads it from the models folder after checking its sha256
(:mod:`.bundled`). Nothing is converted, so the model runs exactly as MediaPipe ships it.

About 3-4x the full model's time per image; the 77-dim embedding and every view rule are the
``blazepose`` backend's. The version holds the weights' sha256 prefix.
"""
from __future__ import annotations

from .base import PoseOptions
from .blazepose import BlazePose
from .bundled import find_bundled


class BlazePoseHeavy(BlazePose):
    id = "blazepose-heavy"

    def __init__(self, options: PoseOptions | None = None):
        self.record = find_bundled(self.id)
        super().__init__(options, landmark_model=self.record["path"])
        conf = self.options.min_detection_confidence
        self.version = (f"mediapipe-{self.mediapipe_version}-tasks-heavy-c2-{self.record['sha256'][:12]}"
                        + ("" if conf == 0.5 else f"-d{conf:g}"))


def create(options: PoseOptions, data_dir=None) -> BlazePoseHeavy:
    return BlazePoseHeavy(options)
