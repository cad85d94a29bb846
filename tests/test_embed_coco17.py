"""The 61-dim COCO-17 embedding: its table, shapes, finiteness on any input, and that the
engineered features say what the table says (front / back, visibility, framing)."""
from __future__ import annotations

import numpy as np
import pytest

from unpose_core.embed.coco17 import (
    COCO17_DIM,
    COCO17_FEATURES,
    COCO17_NAMES,
    VISIBLE_SCORE,
    embed_coco17,
)

COL = {name: i for i, (name, _) in enumerate(COCO17_FEATURES)}


def front_pose(score: float = 0.9) -> np.ndarray:
    """A standing person facing the camera: their LEFT side on the image's RIGHT."""
    xy = {
        "nose": (0.50, 0.10), "left_eye": (0.52, 0.08), "right_eye": (0.48, 0.08),
        "left_ear": (0.55, 0.09), "right_ear": (0.45, 0.09),
        "left_shoulder": (0.60, 0.22), "right_shoulder": (0.40, 0.22),
        "left_elbow": (0.63, 0.37), "right_elbow": (0.37, 0.37),
        "left_wrist": (0.64, 0.50), "right_wrist": (0.36, 0.50),
        "left_hip": (0.57, 0.52), "right_hip": (0.43, 0.52),
        "left_knee": (0.57, 0.72), "right_knee": (0.43, 0.72),
        "left_ankle": (0.57, 0.92), "right_ankle": (0.43, 0.92),
    }
    lm = np.zeros((17, 4), np.float32)
    for i, name in enumerate(COCO17_NAMES):
        lm[i, :2] = xy[name]
        lm[i, 3] = score
    return lm


def mirrored(lm: np.ndarray) -> np.ndarray:
    """The same pose seen from the back: x mirrored, so left joints land on the image's left."""
    out = lm.copy()
    out[:, 0] = 1.0 - out[:, 0]
    return out


def test_table_has_61_unique_documented_dimensions():
    assert COCO17_DIM == 61 == len(COCO17_FEATURES)
    names = [n for n, _ in COCO17_FEATURES]
    assert len(set(names)) == 61
    assert all(desc.strip() for _, desc in COCO17_FEATURES)
    # the first 34 are the joints' x, y in COCO order
    assert names[:34] == [f"{a}_{n}" for n in COCO17_NAMES for a in ("x", "y")]


def test_shapes_dtype_and_coordinates_pass_through():
    lm = np.stack([front_pose(), mirrored(front_pose())])
    emb = embed_coco17(lm)
    assert emb.shape == (2, 61) and emb.dtype == np.float32
    np.testing.assert_allclose(emb[:, :34], lm[:, :, :2].reshape(2, 34), atol=1e-6)
    single = embed_coco17(front_pose())
    assert single.shape == (1, 61)
    np.testing.assert_array_equal(single[0], emb[0])
    assert embed_coco17(np.zeros((0, 17, 4))).shape == (0, 61)


@pytest.mark.parametrize("shape", [(17, 3), (2, 33, 4), (2, 17), (17,)])
def test_wrong_shapes_are_rejected(shape):
    with pytest.raises(ValueError, match="17, 4"):
        embed_coco17(np.zeros(shape))


def test_finite_for_degenerate_and_hostile_inputs():
    rng = np.random.default_rng(0)
    cases = [
        np.zeros((17, 4)),                                   # every joint at the origin
        np.full((17, 4), 0.5),                               # every joint on one point
        np.full((17, 4), np.nan),
        np.full((17, 4), np.inf),
        np.full((17, 4), -np.inf),
        rng.normal(0, 1e6, (17, 4)),                          # absurd magnitudes
        rng.uniform(-0.5, 1.5, (17, 4)),
        np.concatenate([rng.uniform(0, 1, (17, 3)), np.zeros((17, 1))], axis=1),  # nothing seen
    ]
    # x_right == 0 exactly, tiny negative denominators
    c = front_pose()
    c[[2, 4, 6, 8, 10, 12, 14, 16], 0] = 0.0
    cases.append(c)
    c = front_pose()
    c[:, 0] = -1e-9
    cases.append(c)
    emb = embed_coco17(np.stack(cases))
    assert emb.shape == (len(cases), 61)
    assert np.isfinite(emb).all()
    assert np.abs(emb).max() <= 10.0 + 1e-6  # every feature is clipped


def test_vectorised_equals_row_by_row():
    rng = np.random.default_rng(1)
    lm = rng.uniform(-0.2, 1.2, (50, 17, 4))
    lm[..., 3] = rng.uniform(0, 1, (50, 17))
    batch = embed_coco17(lm)
    rows = np.concatenate([embed_coco17(x) for x in lm])
    np.testing.assert_array_equal(batch, rows)


def test_front_back_side_features_have_the_documented_signs():
    front, back = embed_coco17(front_pose())[0], embed_coco17(mirrored(front_pose()))[0]
    for name in ("ratio_x_shoulders", "ratio_x_hips", "ratio_x_ears", "ratio_x_eyes"):
        assert front[COL[name]] > 1.0 > back[COL[name]], name
    for name in ("facing_shoulders", "facing_hips", "facing_ears"):
        assert front[COL[name]] > 0 > back[COL[name]], name
    # side view: shoulders and hips on top of each other
    side = front_pose()
    side[[5, 6], 0] = 0.5
    side[[11, 12], 0] = 0.5
    s = embed_coco17(side)[0]
    assert abs(s[COL["facing_shoulders"]]) < 1e-6 and abs(s[COL["facing_hips"]]) < 1e-6
    assert s[COL["shoulder_over_torso"]] < 0.1 < front[COL["shoulder_over_torso"]]


def test_visibility_and_framing_features():
    full = embed_coco17(front_pose())[0]
    assert full[COL["vis_head"]] == pytest.approx(0.9)
    assert full[COL["visible_height"]] == pytest.approx(0.92 - 0.08)
    assert full[COL["visible_aspect"]] > 1.0            # tall: standing full body
    assert full[COL["vis_left_minus_right"]] == pytest.approx(0.0)

    headless = front_pose()
    headless[:5, 3] = 0.05                               # T-shirt photo, head cropped off
    h = embed_coco17(headless)[0]
    assert h[COL["vis_head"]] == pytest.approx(0.05) and h[COL["vis_face"]] == pytest.approx(0.05)
    assert h[COL["visible_height"]] == pytest.approx(0.92 - 0.22)  # top is now the shoulders

    upper = front_pose()
    upper[13:, 3] = 0.0                                  # legs not seen
    u = embed_coco17(upper)[0]
    assert u[COL["vis_legs"]] == 0.0 and full[COL["vis_legs"]] > VISIBLE_SCORE

    left_hidden = front_pose()
    left_hidden[[1, 3, 5, 7, 9, 11, 13, 15], 3] = 0.1    # side view hides the left side
    assert embed_coco17(left_hidden)[0, COL["vis_left_minus_right"]] < -0.5


def test_dispatch_from_the_engine():
    embed = pytest.importorskip("unpose_core.embed")
    lm = front_pose()[None]
    np.testing.assert_array_equal(embed.embed(lm, "coco17"), embed_coco17(lm))
    assert embed.embedding_table("coco17") is COCO17_FEATURES
