#!/usr/bin/env bash
# Install the COCO-17 pose stack (mmpose 1.3.2 on CPU torch, onnxruntime + rtmlib for
# RTMPose ONNX) into an existing venv, without disturbing what is already there.
#
#   usage: bash scripts/install_mmpose.sh path/to/venv/bin/python
#
# Idempotent: a quick check at the start exits when everything is in place.
# Why it is done this way (each point verified on torch 2.13.0+cpu, numpy 2, Python 3.11):
# * Every other package installed in the venv is frozen as a pip constraint, so no step
#   can up- or downgrade torch (a newer one is a multi-GB CUDA build), numpy, protobuf
#   (mediapipe needs <5), streamlit... A conflict fails loudly instead.
# * setuptools < 81: mmengine imports pkg_resources, which setuptools 81+ removed.
# * opencv-python (wanted by mmcv/mmengine/mmpose/rtmlib) and opencv-contrib-python
#   (wanted by mediapipe) both write site-packages/cv2/: both are pinned to the SAME
#   version, and contrib is reinstalled last so cv2/ holds its (superset) build.
# * xtcocotools' wheel is built against numpy 1 ("numpy.dtype size changed" under
#   numpy 2): it is built from source against the venv's numpy (needs cython and gcc).
# * mmpose itself goes in with --no-deps: its requirements pull torchvision (a CUDA
#   build that replaces the CPU torch) and chumpy (not needed). The three imports that
#   need mmcv.ops / mmdet / torchvision get stand-ins at import time, see
#   unpose_core/pose/mmpose_stubs.py.
set -euo pipefail

PY=${1:?usage: install_mmpose.sh path/to/venv/bin/python}
[ -x "$PY" ] || { echo "install_mmpose: $PY is not an executable python" >&2; exit 2; }

TORCH_VERSION=2.13.0
MMENGINE_VERSION=0.10.7
MMCV_LITE_VERSION=2.2.0
XTCOCOTOOLS_VERSION=1.14.3
MMPOSE_VERSION=1.3.2
# newest release published for BOTH opencv-python and opencv-contrib-python
OPENCV_VERSION=${UNPOSED_OPENCV_VERSION:-5.0.0.93}
ONNXRUNTIME_VERSION=1.32.0
ONNX_VERSION=1.22.0          # only for torch.onnx.export in the tests
RTMLIB_VERSION=0.0.16

pip_() { "$PY" -m pip --disable-pip-version-check "$@"; }

check() {
  "$PY" - "$@" <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version

want = dict(a.split("=", 1) for a in sys.argv[1:])
bad = []
for name, ver in want.items():
    try:
        have = version(name)
    except PackageNotFoundError:
        have = None
    ok = have is not None and (have.startswith(ver[1:]) if ver.startswith("~") else have == ver)
    if not ok:
        bad.append(f"{name} {have or 'missing'} (want {ver.lstrip('~')})")
try:
    st = version("setuptools")
    if int(st.split(".")[0]) >= 81:
        bad.append(f"setuptools {st} (want <81)")
except PackageNotFoundError:
    bad.append("setuptools missing (want <81)")
try:
    import xtcocotools.mask  # noqa: F401  (fails if built against numpy 1)
except Exception as exc:
    bad.append(f"xtcocotools does not import: {exc}")
try:
    import cv2
    if not hasattr(cv2, "ximgproc"):
        bad.append("cv2/ holds opencv-python's build, not opencv-contrib-python's")
except Exception as exc:
    bad.append(f"cv2 does not import: {exc}")
if bad:
    print("install_mmpose: to do: " + "; ".join(bad))
    sys.exit(1)
EOF
}

WANT=(torch="~$TORCH_VERSION" mmengine=$MMENGINE_VERSION mmcv-lite=$MMCV_LITE_VERSION
      xtcocotools=$XTCOCOTOOLS_VERSION mmpose=$MMPOSE_VERSION opencv-python=$OPENCV_VERSION
      opencv-contrib-python=$OPENCV_VERSION onnxruntime=$ONNXRUNTIME_VERSION onnx=$ONNX_VERSION
      rtmlib=$RTMLIB_VERSION)

if check "${WANT[@]}" >/dev/null 2>&1; then
  echo "install_mmpose: mmpose $MMPOSE_VERSION stack already installed in $PY"
  exit 0
fi
check "${WANT[@]}" || true

if ! "$PY" -c "import torch" 2>/dev/null; then
  echo "install_mmpose: installing torch==$TORCH_VERSION (the CPU build) first"
  pip_ install "torch==$TORCH_VERSION"
fi
"$PY" - "$TORCH_VERSION" <<'EOF'
import sys, torch
if torch.__version__.split("+")[0] != sys.argv[1] or torch.version.cuda is not None:
    sys.exit(f"install_mmpose: this venv has torch {torch.__version__} (cuda {torch.version.cuda}); "
             f"expected the CPU build of {sys.argv[1]}")
EOF

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
CONSTRAINTS=$WORK/constraints.txt
# Freeze everything installed except what this script manages.
pip_ list --format=freeze 2>/dev/null | "$PY" -c '
import re, sys
managed = {"pip", "setuptools", "wheel", "cython", "opencv-python", "opencv-contrib-python",
           "opencv-python-headless", "mmengine", "mmcv", "mmcv-lite", "xtcocotools", "mmpose",
           "onnxruntime", "onnx", "rtmlib", "json-tricks", "munkres"}
for line in sys.stdin:
    name = line.split("==")[0].strip()
    if "==" in line and re.sub(r"[-_.]+", "-", name).lower() not in managed:
        print(line.strip())
' > "$CONSTRAINTS"
cat >> "$CONSTRAINTS" <<EOF
setuptools<81
numpy>=2
opencv-python==$OPENCV_VERSION
opencv-contrib-python==$OPENCV_VERSION
EOF
PIPC=(install -c "$CONSTRAINTS")

echo "install_mmpose: [1/6] build tools, setuptools<81"
pip_ "${PIPC[@]}" "setuptools<81" wheel cython "numpy>=2"

echo "install_mmpose: [2/6] opencv-python and opencv-contrib-python, both $OPENCV_VERSION"
pip_ "${PIPC[@]}" "opencv-python==$OPENCV_VERSION" "opencv-contrib-python==$OPENCV_VERSION"
# the package installed last owns cv2/: make it contrib (what mediapipe is built for)
pip_ install --no-deps --force-reinstall "opencv-contrib-python==$OPENCV_VERSION"

echo "install_mmpose: [3/6] mmengine $MMENGINE_VERSION, mmcv-lite $MMCV_LITE_VERSION"
pip_ "${PIPC[@]}" "mmengine==$MMENGINE_VERSION" "mmcv-lite==$MMCV_LITE_VERSION" json-tricks munkres six scipy matplotlib pillow

echo "install_mmpose: [4/6] xtcocotools $XTCOCOTOOLS_VERSION built from source against numpy 2"
if ! "$PY" -c "import xtcocotools.mask" 2>/dev/null \
   || [ "$("$PY" -c 'from importlib.metadata import version; print(version("xtcocotools"))' 2>/dev/null)" != "$XTCOCOTOOLS_VERSION" ]; then
  pip_ "${PIPC[@]}" --no-build-isolation --no-binary xtcocotools --force-reinstall --no-deps \
    "xtcocotools==$XTCOCOTOOLS_VERSION"
fi

echo "install_mmpose: [5/6] mmpose $MMPOSE_VERSION (--no-deps)"
pip_ install --no-deps "mmpose==$MMPOSE_VERSION"

echo "install_mmpose: [6/6] onnxruntime $ONNXRUNTIME_VERSION, rtmlib $RTMLIB_VERSION, onnx $ONNX_VERSION"
pip_ "${PIPC[@]}" "onnxruntime==$ONNXRUNTIME_VERSION" "rtmlib==$RTMLIB_VERSION" "onnx==$ONNX_VERSION"

echo "install_mmpose: verifying"
check "${WANT[@]}"
"$PY" - <<'EOF'
import importlib.util
import warnings

warnings.simplefilter("ignore")
import cv2
import numpy as np
import torch

assert torch.version.cuda is None, "torch must stay the CPU build"
assert hasattr(cv2, "ximgproc"), "cv2/ should hold opencv-contrib-python's build"
mp_version = "absent"
if importlib.util.find_spec("mediapipe") is not None:
    import mediapipe as mp

    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        pose.process(np.zeros((64, 64, 3), np.uint8))
    mp_version = mp.__version__
if importlib.util.find_spec("streamlit") is not None:
    import streamlit  # noqa: F401
import onnxruntime  # noqa: F401
import rtmlib  # noqa: F401
if importlib.util.find_spec("unpose_core") is not None:
    from unpose_core.pose.mmpose_stubs import import_mmpose_apis
    apis = import_mmpose_apis()
else:
    import mmpose  # noqa: F401
print(f"install_mmpose: ok (torch {torch.__version__}, cv2 {cv2.__version__}, mediapipe {mp_version})")
EOF
