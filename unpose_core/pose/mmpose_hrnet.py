"""MMPose HRNet-W32 top-down, 17 COCO keypoints ("mmpose-hrnet"): the paper's MMPose column.

Pipeline for one RGB image:

1. **Person box.** ``params["person_box"]``: ``"auto"`` (default) uses BlazePose's person
   (its landmarks' extent + 10 %, see :class:`~.blazepose_coco17.BlazePoseBoxFinder`) and
   falls back to the whole image when BlazePose finds nobody - e.g. a T-shirt photo with
   the head cropped off, where HRNet still finds the body (paper §6). ``"image"`` always
   uses the whole image (faster, no mediapipe).
2. **HRNet** from the bundled config (default ``td-hm_hrnet-w32_8xb64-210e_coco-256x192``)
   with the user's imported weights (safetensors, see :mod:`unpose_core.pose.weights`), through
   mmpose's own ``inference_topdown`` (box padding 1.25, 192x256 affine crop, heatmap
   decoding). ``params["flip_test"]`` (default True, as in the config) averages with the
   mirrored image: about 2x the time for slightly steadier joints.
3. **Landmarks** (17, 4): x / width, y / height, z = 0, score = heatmap maximum clipped
   to [0, 1].

**No-person rule** (shared by every top-down COCO backend here, :func:`coco17_result`):
a person is reported when at least ``min_keypoints`` joints (default 4, e.g. both
shoulders and hips of a headless torso) reach ``keypoint_threshold`` (default 0.3,
mmpose's demo ``kpt_thr``). Otherwise "no person" (textures, size charts). The head is
deliberately not required. ``PoseResult.score`` is the mean of the 17 scores.

Options: ``params`` keys ``model`` (imported model name; default the newest import),
``person_box``, ``flip_test``, ``keypoint_threshold``, ``min_keypoints``. All of them and
the weights' sha256 prefix are part of :attr:`MMPoseHRNet.version`.
"""
from __future__ import annotations

import threading

import numpy as np

from .base import NO_PERSON, PERSON, ClosingBackend, PoseOptions, PoseResult
from .blazepose_coco17 import _check_image
from .calibration import ScoreCalibration, load_calibration
from .skeletons import COCO17_NAMES, COCO17_SKELETON

DEFAULT_KEYPOINT_THRESHOLD = 0.3
DEFAULT_MIN_KEYPOINTS = 4
BOX_MODES = ("auto", "image")


def coco17_result(keypoints_px: np.ndarray, scores: np.ndarray, image_size: tuple[int, int],
                  backend_id: str, keypoint_threshold: float = DEFAULT_KEYPOINT_THRESHOLD,
                  min_keypoints: int = DEFAULT_MIN_KEYPOINTS,
                  calibration: ScoreCalibration | None = None) -> PoseResult:
    """Pixel keypoints (17, 2) + scores (17,) -> a PoseResult, applying the no-person rule to the
    raw scores. With a ``calibration`` the landmarks' fourth column is the scores mapped to
    BlazePose's visibility scale (:mod:`.calibration`) and ``signals["joint_scores"]`` keeps the
    raw scores; without one it is the raw scores."""
    w, h = image_size
    kp = np.nan_to_num(np.asarray(keypoints_px, dtype=np.float64).reshape(17, 2))
    sc = np.clip(np.nan_to_num(np.asarray(scores, dtype=np.float64).reshape(17)), 0.0, 1.0)
    score = float(sc.mean())
    if int((sc >= keypoint_threshold).sum()) < min_keypoints:
        return PoseResult(NO_PERSON, None, (w, h), backend_id, score=score)
    lm = np.zeros((17, 4), dtype=np.float32)
    lm[:, 0] = kp[:, 0] / w
    lm[:, 1] = kp[:, 1] / h
    lm[:, 3] = sc if calibration is None else calibration(sc)
    signals = {} if calibration is None else {"joint_scores": [round(float(x), 4) for x in sc]}
    return PoseResult(PERSON, lm, (w, h), backend_id, score=score, signals=signals)


class TopDownSettings:
    """The options every top-down COCO-17 backend here reads from ``PoseOptions.params``."""

    def __init__(self, options: PoseOptions):
        p = dict(options.params or {})
        self.model_name: str | None = p.get("model") or None
        self.person_box: str = str(p.get("person_box", "auto"))
        if self.person_box not in BOX_MODES:
            raise ValueError(f"person_box must be one of {BOX_MODES}, got {self.person_box!r}")
        self.keypoint_threshold = float(p.get("keypoint_threshold", DEFAULT_KEYPOINT_THRESHOLD))
        self.min_keypoints = int(p.get("min_keypoints", DEFAULT_MIN_KEYPOINTS))
        if not 0 <= self.min_keypoints <= 17:
            raise ValueError(f"min_keypoints must be within [0, 17], got {self.min_keypoints}")
        self.min_detection_confidence = options.min_detection_confidence
        self._finder = None
        self.box_version = "image"
        self.last_signals: dict = {}   # the box finder's signals (people, mask, face) of the last image

    def start(self) -> None:
        """Load the person-box finder (BlazePose) when ``person_box == "auto"``."""
        if self.person_box == "auto" and self._finder is None:
            try:
                from .blazepose_coco17 import BlazePoseBoxFinder

                self._finder = BlazePoseBoxFinder(self.min_detection_confidence)
                self.box_version = f"{self._finder.version}-d{self.min_detection_confidence:g}"
            except ImportError:  # no mediapipe: whole image, and the version says so
                self._finder = None

    @property
    def rule_version(self) -> str:
        return f"thr{self.keypoint_threshold:g}x{self.min_keypoints}"

    def box(self, image: np.ndarray) -> np.ndarray:
        """xyxy pixel box of the person to crop (float32, shape (4,))."""
        h, w = image.shape[:2]
        self.last_signals = {}
        if self._finder is not None:
            found = self._finder.box(image)
            self.last_signals = self._finder.last_signals
            if found is not None:
                return found
        return np.array([0, 0, w, h], dtype=np.float32)

    def close(self) -> None:
        if self._finder is not None:
            self._finder.close()
            self._finder = None


class TopDownCOCO17(ClosingBackend):
    """What the top-down COCO-17 backends share: a person box, then ``infer`` on it, then
    the common no-person rule. Subclasses set ``settings`` and implement ``infer``."""

    n_landmarks = 17
    landmark_names = COCO17_NAMES
    skeleton = COCO17_SKELETON
    settings: TopDownSettings
    # the model's scores on BlazePose's visibility scale (:mod:`.calibration`); None: the raw scores
    calibration: ScoreCalibration | None = None

    def person_box(self, image: np.ndarray) -> np.ndarray:
        return self.settings.box(image)

    def use_calibration(self, data_dir, bundled: ScoreCalibration | None = None) -> str:
        """Read the scores through the data dir's own map for this backend (``unposed models
        calibrate``), else through ``bundled`` (None: the raw scores). Returns what the backend
        version adds for it ('' for raw scores), so a changed map never shares a cache."""
        self.calibration = load_calibration(data_dir, self.id) or bundled
        return f"-{self.calibration.version}" if self.calibration else ""

    def infer(self, image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def estimate(self, image: np.ndarray) -> PoseResult:
        size = _check_image(image)
        kp, sc = self.infer(image, self.person_box(image))
        res = coco17_result(kp, sc, size, self.id, self.settings.keypoint_threshold, self.settings.min_keypoints,
                            self.calibration)
        # several people, face: from the box finder's BlazePose
        res.signals = {**self.settings.last_signals, **res.signals}
        return res

    def _release(self) -> None:
        """Drop the model (subclasses)."""

    def close(self) -> None:
        self.settings.close()
        self._release()


class MMPoseHRNet(TopDownCOCO17):
    id = "mmpose-hrnet"
    description = "MMPose HRNet-W32 top-down (COCO-17) with user-imported weights"

    def __init__(self, options: PoseOptions | None = None, data_dir=None):
        import torch

        from . import weights as models
        from .mmpose_stubs import import_mmpose_apis

        self.options = options or PoseOptions(backend=self.id)
        self.settings = TopDownSettings(self.options)
        params = self.options.params or {}
        self.flip_test = bool(params.get("flip_test", True))
        self.record = models.find_model(data_dir, models.MMPOSE, self.settings.model_name)
        state_dict = models.load_mmpose_state_dict(self.record)  # checks the sha256

        self._apis = import_mmpose_apis()
        import mmpose

        self.model = models.build_mmpose_model(self.record["config"])
        self.model.load_state_dict(state_dict, strict=True)
        self.model.test_cfg["flip_test"] = self.flip_test
        self.model.eval()
        self.settings.start()
        self._torch = torch
        self._lock = threading.Lock()
        self.version = (f"mmpose-{mmpose.__version__}-{self.record['config']}-{self.record['sha256'][:12]}"
                        f"-flip{int(self.flip_test)}-box-{self.settings.box_version}"
                        f"-{self.settings.rule_version}" + self.use_calibration(data_dir))

    def infer(self, image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw mmpose output for an RGB image and an xyxy box: (17, 2) pixels, (17,) scores."""
        bgr = np.ascontiguousarray(image[:, :, ::-1])  # mmpose expects BGR ndarrays (cv2 order)
        with self._lock, self._torch.inference_mode():
            out = self._apis.inference_topdown(self.model, bgr, np.asarray(box, np.float32)[None],
                                               bbox_format="xyxy")
        inst = out[0].pred_instances
        return np.asarray(inst.keypoints[0]), np.asarray(inst.keypoint_scores[0])

    def _release(self) -> None:
        self.model = None


def create(options: PoseOptions, data_dir=None) -> MMPoseHRNet:
    return MMPoseHRNet(options, data_dir)
