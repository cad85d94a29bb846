"""MediaPipe BlazePose (33 landmarks, 3-D) through the Tasks ``PoseLandmarker``.

The models are the two bundled in the mediapipe 0.10.14 wheel (pose detector +
``pose_landmark_full``, i.e. ``model_complexity=1``; 0 and 2 are downloaded on first use,
which fails offline). The Tasks API needs a ``.task`` bundle whose tflite files carry
input-normalisation metadata, which the wheel's files lack: :func:`pose_landmarker_bundle`
adds it with mediapipe's metadata writer and zips the two files in memory; the bundle is
passed as ``model_asset_buffer`` (no file written, nothing downloaded).

Against the legacy ``mp.solutions.pose`` the Tasks graph finds up to ``num_poses`` people
and their segmentation masks in one pass at about the same cost. Static images: every
catalogue photo is independent.

Besides the primary person's landmarks, :attr:`PoseResult.signals` holds (JSON-safe,
rounded to 4 digits):

``people``
    one entry per detected pose, primary (largest landmark box) first:
    ``{"score": mean visibility, "box": [x0, y0, x1, y1], "area": box area fraction,
    "n_visible": landmarks with visibility > 0.5}``; the box spans the landmarks with
    visibility > 0.5 (all of them if fewer than 4), clipped to the image.
``mask``
    the primary pose's segmentation mask: ``{"area": fraction of pixels > 0.5,
    "at_landmarks": mean mask value at the visible landmarks inside the image,
    "box": [x0, y0, x1, y1] of the pixels > 0.5 or None}``.
``face``
    BlazeFace on a square crop around each pose's head (see :mod:`.face`):
    ``{"head_score": best score in the primary head crop or 0, "head_box": [x0, y0, x1, y1]
    or None, "keypoints": the 6 face keypoints (right eye, left eye, nose tip, mouth,
    right ear tragion, left ear tragion) as [x, y] in the full image or None, "n_faces":
    faces scoring >= 0.5}``. With a pose, ``n_faces`` counts over the detected people's
    head crops (a whole-image run of the full-range model would cost ~20 % more per image);
    without one, it counts over the whole image (full-range model), and ``people`` is [].
"""
from __future__ import annotations

import functools
import io
import os
import threading
import warnings
import zipfile

import numpy as np

from .base import NO_PERSON, PERSON, ClosingBackend, PoseOptions, PoseResult
from .face import FACE_COUNT_SCORE, FaceDetector
from .skeletons import BLAZEPOSE33_NAMES as LANDMARK_NAMES
from .skeletons import BLAZEPOSE33_SKELETON as SKELETON

NUM_POSES = 2             # people looked for per image (the second one only flags "several people")
VISIBLE = 0.5             # a landmark counts as visible from this visibility
MASK_THRESHOLD = 0.5      # segmentation mask value from which a pixel is the person
MASK_STRIDE = 4           # the mask's area and box are measured on every 4th pixel each way
MIN_BOX_LANDMARKS = 4     # fewer visible landmarks than this: the box spans all 33
ROUND = 4                 # digits kept in the signals


def _metadata_model(path: str, mean: float, std: float, name: str) -> bytes:
    """A wheel tflite file with the image-input normalisation metadata the Tasks API needs."""
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer, writer_utils

    with open(path, "rb") as f:
        buf = bytearray(f.read())
    n_out = len(writer_utils.get_output_tensor_types(buf))
    writer = metadata_writer.MetadataWriter.create(buf).add_general_info(name, name)
    writer = writer.add_image_input(norm_mean=[mean], norm_std=[std])
    for _ in range(n_out):
        writer = writer.add_feature_output()
    model, _ = writer.populate()
    return bytes(model)


@functools.lru_cache(maxsize=2)
def pose_landmarker_bundle(landmark_model: str | None = None) -> bytes:
    """The ``.task`` bundle (a zip) of the wheel's pose detector and a landmark model: the
    wheel's full one by default, or ``landmark_model`` (a path: the heavy one, see
    :mod:`.blazepose_heavy`)."""
    import mediapipe as mp

    modules = os.path.join(os.path.dirname(mp.__file__), "modules")
    det = _metadata_model(os.path.join(modules, "pose_detection", "pose_detection.tflite"),
                          127.5, 127.5, "pose_detector")
    lmk = _metadata_model(landmark_model or os.path.join(modules, "pose_landmark", "pose_landmark_full.tflite"),
                          0.0, 255.0, "pose_landmarks_detector")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("pose_detector.tflite", det)
        z.writestr("pose_landmarks_detector.tflite", lmk)
    return out.getvalue()


def _r(v: float) -> float:
    return round(float(v), ROUND)


def _box(lm: np.ndarray) -> list[float]:
    """Normalised [x0, y0, x1, y1] of the visible landmarks (all if too few), clipped to [0, 1]."""
    vis = lm[lm[:, 3] > VISIBLE] if int((lm[:, 3] > VISIBLE).sum()) >= MIN_BOX_LANDMARKS else lm
    xy = np.clip(np.nan_to_num(vis[:, :2].astype(np.float64)), 0.0, 1.0)
    return [_r(xy[:, 0].min()), _r(xy[:, 1].min()), _r(xy[:, 0].max()), _r(xy[:, 1].max())]


def _area(box: list[float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _mask_signal(mask: np.ndarray, lm: np.ndarray) -> dict:
    h, w = mask.shape[:2]
    on = mask[::MASK_STRIDE, ::MASK_STRIDE] > MASK_THRESHOLD   # area and box on a subsample: 16x cheaper
    ys, xs = np.nonzero(on)
    box = ([_r(xs.min() * MASK_STRIDE / w), _r(ys.min() * MASK_STRIDE / h),
            _r(min(1.0, (xs.max() + 1) * MASK_STRIDE / w)), _r(min(1.0, (ys.max() + 1) * MASK_STRIDE / h))]
           if len(xs) else None)
    pts = lm[(lm[:, 3] > VISIBLE) & (lm[:, 0] >= 0) & (lm[:, 0] < 1) & (lm[:, 1] >= 0) & (lm[:, 1] < 1)]
    if len(pts):
        px = np.clip((pts[:, 0] * w).astype(int), 0, w - 1)
        py = np.clip((pts[:, 1] * h).astype(int), 0, h - 1)
        at = float(mask[py, px].mean())
    else:
        at = 0.0
    return {"area": _r(on.mean()), "at_landmarks": _r(at), "box": box}


def _face_signal(faces: list, n_faces: int) -> dict:
    best = faces[0] if faces else None
    return {"head_score": _r(best.score) if best else 0.0,
            "head_box": [_r(v) for v in best.box] if best else None,
            "keypoints": [[_r(x), _r(y)] for x, y in best.keypoints] if best else None,
            "n_faces": int(n_faces)}


class BlazePose(ClosingBackend):
    id = "blazepose"
    n_landmarks = 33
    landmark_names = LANDMARK_NAMES
    skeleton = SKELETON

    def __init__(self, options: PoseOptions | None = None, landmark_model: str | None = None):
        import mediapipe as mp  # heavy import, only when a model is really needed
        from mediapipe.tasks import python as mp_tasks
        from mediapipe.tasks.python import vision

        # mediapipe 0.10.14 calls a protobuf API that warns once per image
        warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype")

        self.options = options or PoseOptions()
        self.mediapipe_version = mp.__version__
        conf = self.options.min_detection_confidence
        self.version = f"mediapipe-{mp.__version__}-tasks-full-c1" + ("" if conf == 0.5 else f"-d{conf:g}")
        self._mp = mp
        self._lock = threading.Lock()   # a mediapipe graph is not thread-safe (app sessions share it)
        opts = vision.PoseLandmarkerOptions(
            base_options=mp_tasks.BaseOptions(model_asset_buffer=pose_landmarker_bundle(landmark_model)),
            running_mode=vision.RunningMode.IMAGE, num_poses=NUM_POSES,
            min_pose_detection_confidence=conf, output_segmentation_masks=True)
        self._landmarker = vision.PoseLandmarker.create_from_options(opts)
        self._faces = FaceDetector()

    def estimate(self, image: np.ndarray) -> PoseResult:
        h, w = image.shape[:2]
        image = np.ascontiguousarray(image)
        with self._lock:
            out = self._landmarker.detect(self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=image))
            poses = []
            for i, landmarks in enumerate(out.pose_landmarks or []):
                lm = np.array([[p.x, p.y, p.z, p.visibility] for p in landmarks], dtype=np.float32)
                lm[:, 3] = np.clip(np.nan_to_num(lm[:, 3]), 0.0, 1.0)
                mask = (out.segmentation_masks[i].numpy_view()
                        if out.segmentation_masks and i < len(out.segmentation_masks) else None)
                box = _box(lm)
                poses.append((lm, box, mask))
            if not poses:
                faces = self._faces.detect_in_image(image)
                n = sum(f.score >= FACE_COUNT_SCORE for f in faces)
                return PoseResult(NO_PERSON, None, (w, h), self.id,
                                  signals={"people": [], "face": _face_signal([], n)})
            poses.sort(key=lambda p: -_area(p[1]))   # primary person = the largest landmark box
            head_faces = [self._faces.detect_in_head(image, lm) for lm, _, _ in poses]
        lm, _, mask = poses[0]
        n_faces = sum(int(bool(f) and f[0].score >= FACE_COUNT_SCORE) for f in head_faces)
        signals = {
            "people": [{"score": _r(p[:, 3].mean()), "box": b, "area": _r(_area(b)),
                        "n_visible": int((p[:, 3] > VISIBLE).sum())} for p, b, _ in poses],
            "mask": _mask_signal(np.squeeze(np.asarray(mask, dtype=np.float32)), lm) if mask is not None else None,
            "face": _face_signal(head_faces[0], n_faces),
        }
        return PoseResult(PERSON, lm, (w, h), self.id, score=float(lm[:, 3].mean()), signals=signals)

    def close(self) -> None:
        self._landmarker.close()
        self._faces.close()


def create(options: PoseOptions, data_dir=None) -> BlazePose:
    return BlazePose(options)
