"""COCO-17 backends: mmpose-hrnet, rtmpose-onnx, blazepose-coco17, and the model import.

No pretrained COCO-17 weights can be downloaded here, so the MMPose tests run the real
mmpose code path with RANDOM-INITIALISED weights: the model is built from the bundled
config, saved as an mmpose-style checkpoint (numpy objects in its meta, so it needs a
full unpickle), imported with trust, and the backend - which only reads the
safetensors - must give exactly what the original model gives through mmpose's own
``inference_topdown``. RTMPose likewise: a random RTMPose-m from the bundled config is
exported to ONNX and run by onnxruntime. The backends' per-image timings are
benchmarks/bench_backends.py's job, not a test's.
mmpose, onnxruntime and rtmlib are installed by scripts/install_mmpose.sh (part of
``make install``); the importorskip calls are only a guard.
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np
import pytest
from conftest import PHOTOS

from unpose_core.embed.coco17 import embed_coco17
from unpose_core.images import content_hash, load_rgb
from unpose_core.pose import NO_PERSON, PERSON, PoseBackend, PoseOptions
from unpose_core.pose import weights as models

PHOTO_FILES = sorted(p for p in PHOTOS.iterdir() if p.suffix in (".jpg", ".png"))
PEOPLE = ["coco_000000000785.jpg", "matplotlib_grace_hopper.jpg", "skimage_astronaut.png",
          "skimage_camera.png"]
TEXTURES = ["skimage_brick.png", "skimage_grass.png", "skimage_gravel.png", "skimage_text.png"]
SKIER = "coco_000000000785.jpg"
# COCO val2017 image 785 ground truth (assets/LICENSES.md), COCO-17 order, pixels; 640x425
SKIER_GT = np.array([
    [367, 81], [374, 73], [360, 75], [386, 78], [356, 81], [399, 108], [358, 129], [433, 142], [341, 159],
    [449, 165], [309, 178], [424, 203], [393, 214], [429, 294], [367, 273], [466, 362], [396, 341]], dtype=float)
# blazepose-coco17 vs that ground truth, measured: median 5.8 px, worst joint 21.4 px
# (left wrist); person box 219 x 347 px. Tolerances with ~2x margin:
SKIER_MEDIAN_PX = 12.0
SKIER_MAX_PX = 45.0

ALL_OPEN = {"keypoint_threshold": 0.0, "min_keypoints": 0}  # random weights: report every pose


def images() -> dict[str, np.ndarray]:
    return {p.name: load_rgb(p) for p in PHOTO_FILES}


def report(capsys, *lines: str) -> None:
    with capsys.disabled():
        for line in lines:
            print(line)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def photos():
    return images()


@pytest.fixture(scope="module")
def hrnet_checkpoint(tmp_path_factory):
    """(path of an mmpose-style random checkpoint, the model it was saved from)."""
    pytest.importorskip("mmpose")
    import torch

    torch.manual_seed(0)
    model = models.build_mmpose_model()
    path = tmp_path_factory.mktemp("ckpt") / "hrnet_w32_random.pth"
    torch.save({
        "state_dict": model.state_dict(),
        "meta": {"epoch": np.int64(210), "seed": np.array([0], dtype=np.int64),
                 "dataset_meta": {"flip_indices": np.array([0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9,
                                                            12, 11, 14, 13, 16, 15])}},
        "optimizer": {"lr": np.float64(5e-4)},
    }, path)
    return path, model


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("unposed-coco17")


@pytest.fixture(scope="module")
def hrnet_record(hrnet_checkpoint, data_dir):
    path, _ = hrnet_checkpoint
    t0 = time.perf_counter()
    rec = models.import_mmpose_checkpoint(path, data_dir, trust=True)
    rec["_seconds"] = time.perf_counter() - t0
    return rec


def hrnet(data_dir, **params):
    from unpose_core.pose.mmpose_hrnet import create

    return create(PoseOptions(backend="mmpose-hrnet", params=params), data_dir)


def crop_bounds(box, input_wh=(192, 256), padding=1.25) -> tuple[np.ndarray, np.ndarray]:
    """Pixel corners of the region a top-down model sees for an xyxy box: the box grown
    by ``padding`` and widened or heightened to the input's aspect ratio (mmpose's rule)."""
    box = np.asarray(box, np.float64)
    center, size = (box[:2] + box[2:]) / 2, (box[2:] - box[:2]) * padding
    aspect = input_wh[0] / input_wh[1]
    if size[0] > size[1] * aspect:
        size[1] = size[0] / aspect
    else:
        size[0] = size[1] * aspect
    return center - size / 2, center + size / 2


def direct_topdown(model, rgb: np.ndarray, box: np.ndarray, flip_test: bool):
    """mmpose's own API on the original in-memory model (mmpose expects BGR arrays)."""
    from unpose_core.pose.mmpose_stubs import import_mmpose_apis

    apis = import_mmpose_apis()
    model.test_cfg["flip_test"] = flip_test
    out = apis.inference_topdown(model, np.ascontiguousarray(rgb[:, :, ::-1]),
                                 np.asarray(box, np.float32)[None], bbox_format="xyxy")
    inst = out[0].pred_instances
    assert inst.keypoints.shape == (1, 17, 2) and inst.keypoint_scores.shape == (1, 17)
    return inst.keypoints[0], inst.keypoint_scores[0]


# --------------------------------------------------------------------------- import / refusal
def test_mmpose_checkpoint_refused_without_trust(tmp_path):
    torch = pytest.importorskip("torch")
    ckpt = tmp_path / "someone_elses.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "meta": {"x": np.arange(3)}}, ckpt)
    with pytest.raises(models.UntrustedCheckpointError) as err:
        models.import_mmpose_checkpoint(ckpt, tmp_path / "data")
    msg = str(err.value)
    assert "--trust" in msg and "pickle" in msg and "unposed models add-mmpose" in msg
    assert list((tmp_path / "data" / "models").glob("*")) == []  # nothing written, nothing read


@pytest.mark.parametrize("content, match", [
    (b"", "empty"),
    (b"this is not a checkpoint at all\n" * 10, "not a readable PyTorch checkpoint"),
    (b"PK\x03\x04" + bytes(range(256)) * 4, "not a readable PyTorch checkpoint"),  # broken zip
])
def test_corrupt_files_give_a_clear_error(tmp_path, content, match):
    pytest.importorskip("torch")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(content)
    with pytest.raises(models.ModelImportError, match=match):
        models.import_mmpose_checkpoint(bad, tmp_path / "data", trust=True)


def test_non_checkpoint_pickles_and_missing_files(tmp_path):
    torch = pytest.importorskip("torch")
    odd = tmp_path / "list.pth"
    torch.save([1, 2, 3], odd)
    with pytest.raises(models.ModelImportError, match="not an MMPose checkpoint"):
        models.import_mmpose_checkpoint(odd, tmp_path / "data", trust=True)
    no_sd = tmp_path / "meta_only.pth"
    torch.save({"meta": {"epoch": 1}}, no_sd)
    with pytest.raises(models.ModelImportError, match="'state_dict'"):
        models.import_mmpose_checkpoint(no_sd, tmp_path / "data", trust=True)
    with pytest.raises(models.ModelImportError, match="does not exist"):
        models.import_mmpose_checkpoint(tmp_path / "nope.pth", tmp_path / "data", trust=True)


def test_config_must_be_a_bundled_name(tmp_path):
    for name in ("../../evil", "/tmp/x.py", "my_config.py", ""):
        with pytest.raises(models.ModelImportError, match="bundled"):
            models.mmpose_config_path(name)


@pytest.mark.slow
def test_state_dict_of_another_architecture_is_rejected(tmp_path):
    pytest.importorskip("mmpose")
    torch = pytest.importorskip("torch")
    ckpt = tmp_path / "other.pth"
    torch.save({"state_dict": {"backbone.conv1.weight": torch.zeros(3, 3, 3, 3)}}, ckpt)
    with pytest.raises(models.ModelImportError, match="does not fit config"):
        models.import_mmpose_checkpoint(ckpt, tmp_path / "data", trust=True)


@pytest.mark.slow
def test_import_writes_safetensors_and_a_json_record(hrnet_checkpoint, hrnet_record, data_dir, capsys):
    rec = hrnet_record
    src, model = hrnet_checkpoint
    report(capsys, f"\n[coco17] import + conversion of the HRNet checkpoint: {rec['_seconds']:.1f} s")
    folder = data_dir / "models"
    st = folder / f"{rec['name']}.safetensors"
    assert rec["path"] == str(st) and st.is_file()
    assert rec["kind"] == "mmpose" and rec["backend"] == "mmpose-hrnet"
    assert rec["config"] == models.DEFAULT_MMPOSE_CONFIG
    assert rec["sha256"] == content_hash(st) and rec["source_sha256"] == content_hash(src)
    assert rec["name"].startswith("hrnet_w32_random-")
    stored = json.loads((folder / f"{rec['name']}.json").read_text())
    assert stored["sha256"] == rec["sha256"] and "path" not in stored  # relocatable
    assert not list(folder.glob("*.pth")) and not list(folder.glob("*.pkl"))
    # safetensors = 8-byte header length + JSON header; no pickle opcode at the start
    head = st.read_bytes()[:9]
    assert head[8:9] == b"{"
    sd = models.load_mmpose_state_dict(rec)
    ref = model.state_dict()
    assert set(sd) == set(ref)
    for k in ("backbone.conv1.weight", "head.final_layer.weight"):
        assert np.array_equal(sd[k].numpy(), ref[k].numpy())
    listed = models.list_models(data_dir)
    assert [r["name"] for r in listed] == [rec["name"]]


@pytest.mark.slow
def test_reimport_is_idempotent(hrnet_checkpoint, hrnet_record, data_dir):
    again = models.import_mmpose_checkpoint(hrnet_checkpoint[0], data_dir, trust=True)
    assert again["name"] == hrnet_record["name"] and again["sha256"] == hrnet_record["sha256"]
    assert len(models.list_models(data_dir, models.MMPOSE)) == 1


def test_backend_without_an_import_names_the_cli_command(tmp_path):
    from unpose_core.pose.mmpose_hrnet import create

    with pytest.raises(models.ModelNotFoundError, match="unposed models add-mmpose CKPT --trust"):
        create(PoseOptions(backend="mmpose-hrnet", params={"person_box": "image"}), tmp_path)
    from unpose_core.pose.rtmpose_onnx import create as create_rtm

    pytest.importorskip("rtmlib")
    with pytest.raises(models.ModelNotFoundError, match="unposed models add-rtmpose"):
        create_rtm(PoseOptions(backend="rtmpose-onnx", params={"person_box": "image"}), tmp_path)


@pytest.mark.slow
def test_unknown_model_name_and_tampered_file(hrnet_record, data_dir, tmp_path):
    with pytest.raises(models.ModelNotFoundError, match=hrnet_record["name"]):
        models.find_model(data_dir, models.MMPOSE, "no-such-model")
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(data_dir, copy)
    st = copy / "models" / f"{hrnet_record['name']}.safetensors"
    with open(st, "r+b") as fh:
        fh.seek(-4, 2)
        fh.write(b"\x00\x01\x02\x03")
    rec = models.find_model(copy, models.MMPOSE)
    with pytest.raises(models.ModelImportError, match="sha256"):
        models.load_mmpose_state_dict(rec)


# --------------------------------------------------------------------------- mmpose-hrnet
def test_stubs_are_scoped_and_idempotent():
    pytest.importorskip("mmpose")
    import importlib.util

    from unpose_core.pose.mmpose_stubs import import_mmpose_apis

    apis = import_mmpose_apis()
    assert import_mmpose_apis() is apis  # e.g. every Streamlit rerun
    assert hasattr(apis, "init_model") and hasattr(apis, "inference_topdown")
    for name in ("torchvision", "mmdet", "mmdet.utils", "mmcv.ops"):
        mod = sys.modules.get(name)
        assert mod is None or not getattr(mod, "__unposed_stub__", False), name
    import mmcv

    assert not getattr(getattr(mmcv, "ops", None), "__unposed_stub__", False)
    if importlib.util.find_spec("torchvision") is None:
        assert "torchvision" not in sys.modules


@pytest.mark.slow
def test_hrnet_backend_equals_the_model_used_directly(hrnet_checkpoint, hrnet_record, data_dir, photos,
                                                      capsys):
    _, model = hrnet_checkpoint
    direct = {}   # (image, box, flip) -> mmpose's answer: where the auto box is the whole image,
    #               the model sees what it saw in "image" mode, so mmpose need not run again
    for flip in (False, True):
        for box_mode in ("image", "auto"):
            b = hrnet(data_dir, flip_test=flip, person_box=box_mode, **ALL_OPEN)
            assert isinstance(b, PoseBackend)
            assert hrnet_record["sha256"][:12] in b.version and f"flip{int(flip)}" in b.version
            names = list(photos) if not flip else [SKIER, "skimage_brick.png"]
            for name in names:
                img = photos[name]
                h, w = img.shape[:2]
                box = b.person_box(img)
                if box_mode == "image":
                    np.testing.assert_array_equal(box, [0, 0, w, h])
                key = (name, tuple(np.asarray(box, np.float64).round(3)), flip)
                if key not in direct:
                    direct[key] = direct_topdown(model, img, box, flip)
                kp, sc = direct[key]
                res = b.estimate(img)
                assert res.status == PERSON and res.backend == "mmpose-hrnet"
                assert res.image_size == (w, h)
                lm = res.landmarks
                assert lm.shape == (17, 4) and lm.dtype == np.float32
                np.testing.assert_allclose(lm[:, 0] * w, kp[:, 0], rtol=0, atol=1e-3)
                np.testing.assert_allclose(lm[:, 1] * h, kp[:, 1], rtol=0, atol=1e-3)
                np.testing.assert_allclose(lm[:, 3], np.clip(sc, 0, 1), atol=1e-6)
                assert (lm[:, 2] == 0).all()
                assert ((lm[:, 3] >= 0) & (lm[:, 3] <= 1)).all()
                # normalised by image size: [0, 1] for joints inside the image, and never
                # outside the model's padded crop around the box (random weights put joints
                # anywhere in it; a wide image's crop reaches far above and below it) by more
                # than one heatmap pixel (mmpose puts zero-score joints at heatmap index -1)
                lo, hi = crop_bounds(box)
                cell = (hi - lo) / (48, 64)
                assert ((lm[:, :2] >= (lo - cell - 1) / (w, h)) & (lm[:, :2] <= (hi + cell + 1) / (w, h))).all()
                assert np.isfinite(embed_coco17(lm)).all()
            b.close()
    # the box mode and the rule are part of the version (they change outputs)
    v1 = hrnet(data_dir, person_box="image").version
    v2 = hrnet(data_dir, person_box="image", keypoint_threshold=0.5).version
    assert v1 != v2 and "box-image" in v1


@pytest.mark.slow
def test_hrnet_auto_box_uses_blazepose_when_it_finds_someone(hrnet_record, data_dir, photos):
    b = hrnet(data_dir, person_box="auto", flip_test=False)
    try:
        skier = b.person_box(photos[SKIER])
        # around the annotated person (x, y, w, h = 280.8, 44.7, 218.7, 346.7), not the image
        assert 230 < skier[0] < 300 and 0 <= skier[1] < 60 and 480 < skier[2] < 560 and 370 < skier[3] <= 425
        brick = photos["skimage_brick.png"]
        np.testing.assert_array_equal(b.person_box(brick), [0, 0, brick.shape[1], brick.shape[0]])
        assert "box-blazepose" in b.version
    finally:
        b.close()


@pytest.mark.slow
def test_headless_crop_falls_back_to_the_whole_image(hrnet_record, data_dir, photos, blaze17):
    """Paper §6: with the head cropped off BlazePose finds nobody, but the top-down model
    still runs (on the whole image) and can report a pose. With random weights only the
    path is checked, not the pose."""
    headless = np.ascontiguousarray(photos["skimage_astronaut.png"][230:])  # chin and below
    assert blaze17.estimate(headless).status == NO_PERSON
    b = hrnet(data_dir, person_box="auto", flip_test=False, **ALL_OPEN)
    try:
        np.testing.assert_array_equal(b.person_box(headless), [0, 0, 512, 282])
        res = b.estimate(headless)
        assert res.status == PERSON and res.landmarks.shape == (17, 4)
    finally:
        b.close()


def test_no_person_rule():
    from unpose_core.pose.mmpose_hrnet import coco17_result

    kp = np.tile([[320.0, 200.0]], (17, 1))
    low = np.full(17, 0.1)
    r = coco17_result(kp, low, (640, 480), "x")
    assert r.status == NO_PERSON and r.landmarks is None and r.score == pytest.approx(0.1)
    # a headless torso (shoulders + hips seen, head not) is a person
    torso = low.copy()
    torso[[5, 6, 11, 12]] = 0.8
    r = coco17_result(kp, torso, (640, 480), "x")
    assert r.status == PERSON and r.landmarks.shape == (17, 4)
    np.testing.assert_allclose(r.landmarks[0, :2], [0.5, 200 / 480])
    three = low.copy()
    three[[5, 6, 11]] = 0.8
    assert coco17_result(kp, three, (640, 480), "x").status == NO_PERSON
    # scores are clipped to [0, 1]; NaN never leaks out
    weird = np.full(17, 7.0)
    weird[0] = np.nan
    r = coco17_result(kp, weird, (640, 480), "x")
    assert r.status == PERSON and r.landmarks[:, 3].max() == 1.0 and np.isfinite(r.landmarks).all()


@pytest.mark.slow
def test_hrnet_no_person_when_scores_say_so(hrnet_record, data_dir, photos):
    b = hrnet(data_dir, person_box="image", flip_test=False, keypoint_threshold=1.01)
    try:
        for name in (SKIER, "skimage_text.png"):
            res = b.estimate(photos[name])
            assert res.status == NO_PERSON and res.landmarks is None and not res.has_person
    finally:
        b.close()


@pytest.mark.slow
def test_hrnet_rejects_bad_input(hrnet_record, data_dir):
    b = hrnet(data_dir, person_box="image", flip_test=False)
    try:
        with pytest.raises(ValueError, match="RGB uint8"):
            b.estimate(np.zeros((32, 32), np.uint8))
        with pytest.raises(ValueError, match="RGB uint8"):
            b.estimate(np.zeros((32, 32, 3), np.float32))
    finally:
        b.close()
    with pytest.raises(ValueError, match="person_box"):
        hrnet(data_dir, person_box="detector")


# --------------------------------------------------------------------------- rtmpose-onnx
@pytest.fixture(scope="module")
def rtmpose_onnx(tmp_path_factory):
    """(ONNX file of a random RTMPose-m from the bundled config, the torch model)."""
    pytest.importorskip("mmpose")
    pytest.importorskip("onnx")  # torch.onnx.export needs it
    pytest.importorskip("onnxruntime")
    pytest.importorskip("rtmlib")
    import warnings

    import torch

    torch.manual_seed(0)
    model = models.build_mmpose_model("rtmpose-m_8xb256-420e_coco-256x192")

    class Export(torch.nn.Module):  # what mmdeploy exports: backbone + head, SimCC x / y
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m.head(self.m.backbone(x))

    path = tmp_path_factory.mktemp("onnx") / "rtmpose_m_random.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Export(model).eval(), (torch.zeros(1, 3, 256, 192),), str(path),
                          input_names=["input"], output_names=["simcc_x", "simcc_y"],
                          opset_version=17, dynamo=False)
    return path, model


def rtmpose(data_dir, **params):
    from unpose_core.pose.rtmpose_onnx import create

    return create(PoseOptions(backend="rtmpose-onnx", params=params), data_dir)


@pytest.mark.slow
def test_rtmpose_onnx_import_checks_the_file(rtmpose_onnx, tmp_path):
    pytest.importorskip("onnxruntime")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf" * 20)
    with pytest.raises(models.ModelImportError, match="not a loadable ONNX model"):
        models.import_rtmpose_onnx(bad, tmp_path / "data")
    rec = models.import_rtmpose_onnx(rtmpose_onnx[0], tmp_path / "data")
    assert rec["kind"] == "rtmpose-onnx" and rec["input_size"] == [192, 256]
    assert rec["simcc_split_ratio"] == 2.0
    assert rec["sha256"] == rec["source_sha256"] == content_hash(rtmpose_onnx[0])
    assert models.find_model(tmp_path / "data", models.RTMPOSE_ONNX)["name"] == rec["name"]


@pytest.mark.slow
def test_rtmpose_onnx_backend_matches_mmpose_on_the_same_weights(rtmpose_onnx, data_dir, photos):
    """onnxruntime + rtmlib preprocessing + our SimCC decoding == mmpose's own pipeline."""
    path, model = rtmpose_onnx
    rec = models.import_rtmpose_onnx(path, data_dir)
    b = rtmpose(data_dir, person_box="auto", **ALL_OPEN)
    assert isinstance(b, PoseBackend) and rec["sha256"][:12] in b.version
    worst, n_off = 0.0, 0
    try:
        for name, img in photos.items():
            h, w = img.shape[:2]
            box = b.person_box(img)
            kp_ref, sc_ref = direct_topdown(model, img, box, flip_test=False)
            res = b.estimate(img)
            assert res.status == PERSON and res.landmarks.shape == (17, 4), name
            kp_raw, sc_raw = b.infer(img, box)
            # scores: the same SimCC maxima (min over x / y, as mmpose), float noise only
            np.testing.assert_allclose(sc_raw, sc_ref, rtol=1e-3, atol=1e-3)
            # positions: the same bins; ORT vs torch noise may flip an argmax on a near-tie
            err = np.abs(kp_raw - kp_ref).max(axis=1)
            n_off += int((err > 1e-2).sum())
            worst = max(worst, float(np.median(err)))
            np.testing.assert_allclose(res.landmarks[:, 0] * w, kp_raw[:, 0], atol=1e-3)
            assert np.isfinite(embed_coco17(res.landmarks)).all()
    finally:
        b.close()
    assert worst < 1e-2, worst
    assert n_off <= 2 * len(photos), n_off  # at most ~12 % of joints on a flipped near-tie


# --------------------------------------------------------------------------- blazepose-coco17
@pytest.fixture(scope="module")
def blaze17():
    from unpose_core.pose.blazepose_coco17 import create

    b = create(PoseOptions(backend="blazepose-coco17"))
    yield b
    b.close()


def test_blazepose_coco17_skier_matches_coco_ground_truth(blaze17, photos, capsys):
    res = blaze17.estimate(photos[SKIER])
    assert res.status == PERSON and res.image_size == (640, 425)
    assert res.landmarks.shape == (17, 4) and (res.landmarks[:, 2] == 0).all()
    err = np.linalg.norm(res.landmarks[:, :2] * (640, 425) - SKIER_GT, axis=1)
    report(capsys, f"\n[coco17] blazepose-coco17 vs COCO GT on the skier: median {np.median(err):.1f} px, "
                   f"max {err.max():.1f} px (tolerance {SKIER_MEDIAN_PX} / {SKIER_MAX_PX})")
    assert np.median(err) < SKIER_MEDIAN_PX
    assert err.max() < SKIER_MAX_PX


@pytest.mark.parametrize("name", PEOPLE)
def test_blazepose_coco17_people(blaze17, photos, name):
    res = blaze17.estimate(photos[name])
    assert res.status == PERSON and res.backend == "blazepose-coco17"
    lm = res.landmarks
    assert lm.dtype == np.float32 and ((lm[:, 3] >= 0) & (lm[:, 3] <= 1)).all()
    assert np.isfinite(embed_coco17(lm)).all()


@pytest.mark.parametrize("name", TEXTURES)
def test_blazepose_coco17_textures_have_no_person(blaze17, photos, name):
    res = blaze17.estimate(photos[name])
    assert res.status == NO_PERSON and res.landmarks is None


def test_blazepose_coco17_is_the_blazepose_backend_subset(blaze17, photos):
    from unpose_core.pose.blazepose import BlazePose
    from unpose_core.pose.blazepose_coco17 import BLAZEPOSE_TO_COCO17

    full = BlazePose(PoseOptions())
    try:
        a = full.estimate(photos[SKIER]).landmarks
    finally:
        full.close()
    b = blaze17.estimate(photos[SKIER]).landmarks
    np.testing.assert_allclose(b[:, [0, 1, 3]], a[list(BLAZEPOSE_TO_COCO17)][:, [0, 1, 3]], atol=1e-6)
