
from unpose_core.descriptions import describe_landmarks, seller_hint
from unpose_core.pose.blazepose import LANDMARK_NAMES
from unpose_core.training import load_image_poses

EXPECTED = {
    "front_full": ("Full body", "front"),
    "back_full": ("Full body", "back"),
    "side_full": ("Full body", "side view"),
    "front_upper": ("Upper body", "front"),
    "back_upper": ("Upper body", "back"),
    "side_upper": ("Upper body", "side view"),
    "closeup": ("Close-up", "front"),
}


def test_descriptions_of_demo_framings(demo_store, demo_run):
    """Mean landmarks of each recorded demo framing read back as that framing."""
    info = demo_run.info
    ip = load_image_poses(demo_store, demo_store.images(), info.backend, info.backend_version, info.family,
                          info.landmark_names)
    labels = ip.images.loc[ip.person_rows, "pose_label"].to_numpy()
    for label, words in EXPECTED.items():
        text = describe_landmarks(ip.landmarks[labels == label].mean(axis=0), LANDMARK_NAMES)
        assert all(w in text for w in words), (label, text)
        if words[1] == "front":
            assert "back" not in text


def test_every_centroid_has_an_auto_description(demo_run):
    assert len(demo_run.centroids) == demo_run.n_classes
    assert all(c.auto_description for c in demo_run.centroids)
    assert demo_run.centroids[-1].kind == "no_person" and not demo_run.centroids[-1].is_pose
    assert [demo_run.centroids[c].image_kind for c in demo_run.non_human_classes] == \
        ["size_chart", "fabric", "flat_lay", "other"]


def test_seller_hint_names_the_cohort_and_share():
    hint = seller_hint("Full body, back", 0.8, "Clothing|T-shirts", 20)
    assert hint == ("Add a photo like this: Full body, back. 80% of the 20 top Clothing / T-shirts "
                    "listings show this pose.")
