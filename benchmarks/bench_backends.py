"""Per-image time of every pose backend on the same fixture photos, side by side.

The backends with trained weights from ``make models`` (BlazePose full and heavy, MoveNet
Thunder and Lightning, each MoveNet with BlazePose's person box and on the whole image) run
their real weights. No MMPose weights can be downloaded here, so, as in tests/test_mmpose.py, the
MMPose backends run RANDOM-INITIALISED weights built from the bundled configs (the compute
is the same as with trained weights): an HRNet-w32 checkpoint is saved and imported with
``import_mmpose_checkpoint(trust=True)``, a random RTMPose-m is exported to ONNX and
imported with ``import_rtmpose_onnx``, both into a throw-away data dir. Each backend gets
one warm-up call, then the mean wall time of ``estimate()`` over the photos in
assets/photos is printed (ms per image), with the machine's core count and load.

    .venv/bin/python benchmarks/bench_backends.py [--repeat 1] [--only real|mmpose]

Needs mmpose, onnx, onnxruntime and rtmlib (scripts/install_mmpose.sh, part of
``make install``); the backends whose packages are missing are skipped with a note.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GLOG_minloglevel", "2")

import numpy as np  # noqa: E402

PHOTOS = ROOT / "assets" / "photos"


def photos() -> dict[str, np.ndarray]:
    from unpose_core.images import load_rgb

    return {p.name: load_rgb(p) for p in sorted(PHOTOS.iterdir()) if p.suffix in (".jpg", ".png")}


def ms_per_image(backend, imgs: dict, repeat: int = 1) -> float:
    """Mean wall time of estimate() over the images, after one warm-up call."""
    backend.estimate(next(iter(imgs.values())))
    t0 = time.perf_counter()
    for _ in range(repeat):
        for img in imgs.values():
            backend.estimate(img)
    return (time.perf_counter() - t0) * 1000 / (repeat * len(imgs))


def import_random_hrnet(data_dir: Path) -> None:
    """A random HRNet-w32 saved as an mmpose-style checkpoint, imported into ``data_dir``."""
    import torch

    from unpose_core.pose import weights

    torch.manual_seed(0)
    ckpt = data_dir / "hrnet_w32_random.pth"
    torch.save({"state_dict": weights.build_mmpose_model().state_dict(),
                "meta": {"epoch": np.int64(1)}}, ckpt)
    weights.import_mmpose_checkpoint(ckpt, data_dir, trust=True)


def import_random_rtmpose(data_dir: Path) -> None:
    """A random RTMPose-m exported to ONNX (backbone + head, SimCC x / y, as mmdeploy does)."""
    import torch

    from unpose_core.pose import weights

    torch.manual_seed(0)
    model = weights.build_mmpose_model("rtmpose-m_8xb256-420e_coco-256x192")

    class Export(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m.head(self.m.backbone(x))

    path = data_dir / "rtmpose_m_random.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Export(model).eval(), (torch.zeros(1, 3, 256, 192),), str(path),
                          input_names=["input"], output_names=["simcc_x", "simcc_y"],
                          opset_version=17, dynamo=False)
    weights.import_rtmpose_onnx(path, data_dir)


def backend(name: str, data_dir: Path, **params):
    from unpose_core.pose import PoseOptions, create_backend

    return create_backend(PoseOptions(backend=name, params=params), data_dir)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1, help="passes over the photos per backend (RTMPose: 3x this)")
    ap.add_argument("--only", choices=("real", "mmpose"), default=None,
                    help="real: only the backends with trained weights; mmpose: only the random-weight ones")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    imgs = photos()
    rows: list[tuple[str, float]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="unposed-bench-backends-") as tmp:
        data_dir = Path(tmp)
        if args.only != "mmpose":
            rows += real_weights_rows(data_dir, imgs, args.repeat, notes)
        if args.only == "real":
            report(imgs, rows, notes)
            return
        b = backend("blazepose-coco17", data_dir)
        rows.append(("blazepose-coco17", ms_per_image(b, imgs, args.repeat)))
        b.close()
        has_mmpose = importlib.util.find_spec("mmpose") is not None
        has_rtm = has_mmpose and all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime", "rtmlib"))
        if has_mmpose:
            import_random_hrnet(data_dir)
        if has_rtm:
            import_random_rtmpose(data_dir)
        for box, flips in (("image", (True, False)), ("auto", (False,))):
            for flip in flips if has_mmpose else ():
                b = backend("mmpose-hrnet", data_dir, person_box=box, flip_test=flip)
                rows.append((f"mmpose-hrnet flip={'on ' if flip else 'off'} box={box}",
                             ms_per_image(b, imgs, args.repeat)))
                b.close()
            if has_rtm:
                b = backend("rtmpose-onnx", data_dir, person_box=box)
                rows.append((f"rtmpose-onnx             box={box}", ms_per_image(b, imgs, 3 * args.repeat)))
                b.close()
    if not has_mmpose:
        notes.append("mmpose-hrnet / rtmpose-onnx skipped: mmpose is not installed (scripts/install_mmpose.sh)")
    elif not has_rtm:
        notes.append("rtmpose-onnx skipped: needs onnx, onnxruntime and rtmlib (scripts/install_mmpose.sh)")
    report(imgs, rows, notes)


def real_weights_rows(data_dir: Path, imgs: dict, repeat: int, notes: list[str]) -> list[tuple[str, float]]:
    """The backends with trained weights: BlazePose full (bundled) and those of ``make models``."""
    from unpose_core.pose.bundled import BundledModelMissing

    rows = []
    for name, params in (("blazepose", {}), ("blazepose-heavy", {}),
                         ("movenet-thunder", {"person_box": "auto"}), ("movenet-thunder", {"person_box": "image"}),
                         ("movenet-lightning", {"person_box": "auto"}),
                         ("movenet-lightning", {"person_box": "image"})):
        label = name + "".join(f" box={v}" for v in params.values()) + " (trained)"
        try:
            b = backend(name, data_dir, **params)
        except BundledModelMissing as exc:
            notes.append(f"{name} skipped: {exc}")
            continue
        rows.append((label, ms_per_image(b, imgs, repeat)))
        b.close()
    return rows


def report(imgs: dict, rows: list[tuple[str, float]], notes: list[str]) -> None:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"ms per image over {len(imgs)} fixture photos ({os.cpu_count()} cores, load {load:.1f}; "
          "MMPose rows: random weights, same compute):")
    for name, ms in rows:
        print(f"  {name:<48} {ms:8.1f} ms")
    for note in notes:
        print(f"  {note}")


if __name__ == "__main__":
    main()
