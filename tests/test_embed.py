import numpy as np
import pytest
from conftest import PHOTOS
from PIL import Image

from unpose_core.embed import BLAZEPOSE_DIM, BLAZEPOSE_FEATURES, embed, embed_blazepose
from unpose_core.images import load_rgb
from unpose_core.pose import PoseOptions, create_backend

NAMES = [n for n, _ in BLAZEPOSE_FEATURES]
F = {n: i for i, n in enumerate(NAMES)}


@pytest.fixture(scope="module")
def blazepose():
    b = create_backend(PoseOptions("blazepose"))
    yield b
    b.close()


def test_table_documents_exactly_77_dims():
    assert BLAZEPOSE_DIM == 77 == len(BLAZEPOSE_FEATURES) == len(set(NAMES))
    assert all(desc for _, desc in BLAZEPOSE_FEATURES)
    assert NAMES[:4] == ["x_nose", "y_nose", "x_left_eye_inner", "y_left_eye_inner"]


def test_finite_for_any_input():
    rng = np.random.default_rng(0)
    cases = [np.zeros((33, 4)), np.full((33, 4), np.nan), np.full((33, 4), 1e9),
             rng.normal(0, 100, (33, 4)), np.ones((33, 4))]
    lm = np.stack(cases)
    lm[4, [11, 12, 23, 24], 0] = 0.0    # zero denominators in every ratio
    out = embed_blazepose(lm)
    assert out.shape == (5, 77) and out.dtype == np.float32 and np.isfinite(out).all()
    assert np.abs(out).max() <= 10.0


def test_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"\(n, 33, 4\)"):
        embed_blazepose(np.zeros((2, 17, 4)))
    with pytest.raises(ValueError, match="unknown embedding family"):
        embed(np.zeros((1, 33, 4)), "openpose25")


def _embed_image(backend, arr):
    return embed_blazepose(backend.estimate(arr).landmarks)[0]


@pytest.mark.parametrize("name", ["coco_000000000785.jpg", "skimage_astronaut.png"])
def test_invariant_to_image_scale(blazepose, name):
    im = Image.open(PHOTOS / name).convert("RGB")
    lm = blazepose.estimate(np.asarray(im)).landmarks
    base = embed_blazepose(lm)[0]
    # coordinates of landmarks in view; those out of frame are guesses that may wander
    seen = np.repeat(lm[:, 3] > 0.5, 2)
    for s in (0.5, 1.5):
        scaled = np.asarray(im.resize((round(im.width * s), round(im.height * s)), Image.BILINEAR))
        e = _embed_image(blazepose, scaled)
        # normalised coordinates move by at most a few hundredths of the frame
        assert np.abs(e[:66] - base[:66])[seen].max() < 0.03
        for f in ("facing_signed", "shoulder_width_over_torso", "leg_visibility", "body_height"):
            assert abs(e[F[f]] - base[F[f]]) < 0.1, f


@pytest.mark.parametrize("name", ["skimage_astronaut.png", "skimage_camera.png", "coco_000000000785.jpg"])
def test_mirroring_changes_left_right_features_as_expected(blazepose, name):
    """A mirrored photo of someone facing the camera still faces the camera, so BlazePose
    keeps the anatomical left shoulder on the image's right: x_left' = 1 - x_right and
    the shoulder ratio becomes (1 - x_right) / (1 - x_left). A body turned one way is
    turned the other way after mirroring: the nearer shoulder swaps (z difference flips)."""
    arr = load_rgb(PHOTOS / name)
    lm = blazepose.estimate(arr).landmarks
    e, m = embed_blazepose(lm)[0], _embed_image(blazepose, arr[:, ::-1].copy())
    expected_ratio = (1 - lm[12, 0]) / (1 - lm[11, 0])
    assert m[F["ratio_x_shoulders"]] == pytest.approx(expected_ratio, rel=0.1)
    assert m[F["x_left_shoulder"]] == pytest.approx(1 - lm[12, 0], abs=0.04)
    assert np.sign(m[F["facing_signed"]]) == np.sign(e[F["facing_signed"]])
    assert np.sign(m[F["z_shoulder_diff"]]) == -np.sign(e[F["z_shoulder_diff"]])


def test_mirror_landmarks_predicts_the_model_on_a_mirrored_image(blazepose):
    """mirror_landmarks (used to pair left- and right-facing pose clusters) reproduces what
    BlazePose reports for the mirrored photo, for the joints it can see."""
    from unpose_core.embed import mirror_landmarks
    from unpose_core.pose.blazepose import LANDMARK_NAMES

    for name in ("skimage_camera.png", "coco_000000000785.jpg"):
        arr = load_rgb(PHOTOS / name)
        lm = blazepose.estimate(arr).landmarks
        real = blazepose.estimate(arr[:, ::-1].copy()).landmarks
        pred = mirror_landmarks(lm, LANDMARK_NAMES)
        seen = (real[:, 3] > 0.8) & (pred[:, 3] > 0.8)
        assert seen.sum() >= 10
        assert np.median(np.abs(pred[seen, :2] - real[seen, :2])) < 0.03
        np.testing.assert_allclose(mirror_landmarks(pred, LANDMARK_NAMES), lm, atol=1e-6)   # an involution
