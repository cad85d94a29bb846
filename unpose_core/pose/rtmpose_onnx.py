"""RTMPose exported to ONNX, run by onnxruntime through rtmlib ("rtmpose-onnx").

The fast COCO-17 peer of ``mmpose-hrnet`` (about 5x faster on CPU). The user imports
their own RTMPose ``.onnx`` (``unposed models add-rtmpose MODEL.onnx``, see
:func:`unpose_core.pose.weights.import_rtmpose_onnx`); an ONNX file is a protobuf graph, not a
pickle, so it is only checksummed and copied. ``rtmlib.RTMPose`` does RTMPose's
top-down preprocessing (box padding 1.25, affine crop to the model's input size, ImageNet
mean/std) and runs the onnxruntime session; it is only ever given the local file (it
never downloads). SimCC decoding is done here, exactly as mmpose does it
(:func:`simcc_maximum`), so scores mean the same as with mmpose's own RTMPose.

Same person box, landmarks and no-person rule as ``mmpose-hrnet`` (see
:mod:`.mmpose_hrnet`). SimCC scores are not probabilities (they can exceed 1); they are
clipped to [0, 1] like the heatmap scores.

Channel order: MMPose trains RTMPose with ``bgr_to_rgb=True``, i.e. on RGB images, so the
RGB image is fed as is. ``params["channel_order"] = "bgr"`` feeds BGR instead (rtmlib's
own demos pass cv2's BGR images). Part of :attr:`RTMPoseONNX.version`.
"""
from __future__ import annotations

import contextlib
import io
import threading

import numpy as np

from .base import PoseOptions
from .mmpose_hrnet import TopDownCOCO17, TopDownSettings


def simcc_maximum(simcc_x: np.ndarray, simcc_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SimCC decoding as mmpose 1.3's ``get_simcc_maximum``: (K, Wx), (K, Wy) ->
    bin locations (K, 2) and scores (K,) = the smaller of the two axis maxima (rtmlib
    uses their mean instead); locations with a score <= 0 are set to -1."""
    x_locs, y_locs = simcc_x.argmax(axis=1), simcc_y.argmax(axis=1)
    locs = np.stack([x_locs, y_locs], axis=-1).astype(np.float64)
    scores = np.minimum(simcc_x.max(axis=1), simcc_y.max(axis=1)).astype(np.float64)
    locs[scores <= 0.0] = -1.0
    return locs, scores


class RTMPoseONNX(TopDownCOCO17):
    id = "rtmpose-onnx"
    description = "RTMPose (ONNX, onnxruntime via rtmlib) top-down COCO-17 with user-imported weights"

    def __init__(self, options: PoseOptions | None = None, data_dir=None):
        from . import weights as models

        try:
            import onnxruntime
            from rtmlib import RTMPose
        except ImportError as exc:
            raise ImportError("rtmpose-onnx needs onnxruntime and rtmlib; run "
                              "`bash scripts/install_mmpose.sh <venv python>` (part of `make install`)") from exc

        self.options = options or PoseOptions(backend=self.id)
        self.settings = TopDownSettings(self.options)
        params = self.options.params or {}
        self.channel_order = str(params.get("channel_order", "rgb")).lower()
        if self.channel_order not in ("rgb", "bgr"):
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {self.channel_order!r}")
        self.record = models.find_model(data_dir, models.RTMPOSE_ONNX, self.settings.model_name)
        models.verify_model_file(self.record)  # sha256 as recorded when it was checked at import
        self.input_size = tuple(int(v) for v in self.record["input_size"])  # (W, H)
        self.simcc_split_ratio = float(self.record["simcc_split_ratio"])
        with contextlib.redirect_stdout(io.StringIO()):  # rtmlib prints "load <path> ..."
            self._rtm = RTMPose(self.record["path"], model_input_size=self.input_size,
                                backend="onnxruntime", device="cpu")
        self.settings.start()
        self._lock = threading.Lock()
        self.version = (f"rtmpose-ort{onnxruntime.__version__}-{self.record['sha256'][:12]}"
                        f"-{self.input_size[0]}x{self.input_size[1]}-{self.channel_order}"
                        f"-box-{self.settings.box_version}-{self.settings.rule_version}"
                        + self.use_calibration(data_dir))

    def infer(self, image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw RTMPose output for an RGB image and an xyxy box: (17, 2) pixels, (17,) scores."""
        img = np.ascontiguousarray(image[:, :, ::-1]) if self.channel_order == "bgr" else image
        rtm = self._rtm
        with self._lock:
            crop, center, scale = rtm.preprocess(img, np.asarray(box, dtype=np.float64).tolist())
            simcc_x, simcc_y = rtm.inference(crop)
        locs, scores = simcc_maximum(np.asarray(simcc_x)[0], np.asarray(simcc_y)[0])
        # SimCC bins -> crop pixels -> image pixels (as mmpose's TopdownPoseEstimator does)
        kp = locs / self.simcc_split_ratio / np.asarray(self.input_size, dtype=np.float64)
        kp = kp * scale + center - 0.5 * scale
        return kp, scores

    def _release(self) -> None:
        self._rtm = None


def create(options: PoseOptions, data_dir=None) -> RTMPoseONNX:
    return RTMPoseONNX(options, data_dir)
