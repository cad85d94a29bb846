
from unpose_core.descriptions import describe_landmarks, seller_hint
from unpose_core.pose.blazepose import LANDMARK_NAMES
from unpose_core.training import load_image_poses

# mean landmarks of a demo framing -> words its automatic description must hold (the demo mixes
# renders at many distances and heights, so only the robust words are asked for)
EXPECTED = {
    "front_full": ("Full body", "front"),
    "back_full": ("Full body", "back"),
    "side_full": ("side view",),
    "front_upper": ("front",),
    "back_upper": ("back",),
}
# demo framing -> (facing, framing) most of its images must show by the view rules
EXPECTED_VIEWS = {
    "front_full": ({"front"}, {"full_length"}),
    "back_full": ({"back"}, {"full_length"}),
    "side_full": ({"profile_left", "profile_right"}, {"full_length"}),
    "front_upper": ({"front"}, {"upper_body", "close_up"}),
    "back_upper": ({"back"}, {"upper_body", "close_up", "three_quarter"}),
    "closeup": ({"front", "three_quarter_left", "three_quarter_right"}, {"close_up"}),
}


def test_descriptions_of_demo_framings(demo_store, demo_run):
    """Mean landmarks of each recorded demo framing read back as that framing, and most of
    its images' views (views.describe_image) show its facing and framing."""
    info = demo_run.info
    ip = load_image_poses(demo_store, demo_store.images(), info.backend, info.backend_version, info.family,
                          info.landmark_names)
    labels = ip.images.loc[ip.person_rows, "pose_label"].to_numpy()
    for label, words in EXPECTED.items():
        text = describe_landmarks(ip.landmarks[labels == label].mean(axis=0), LANDMARK_NAMES)
        assert all(w in text for w in words), (label, text)
        if "front" in words:
            assert "back" not in text
    views = [ip.views[i] for i in ip.person_rows]
    for label, (facings, framings) in EXPECTED_VIEWS.items():
        mine = [v for v, lab in zip(views, labels, strict=True) if lab == label]
        assert mine, label
        facing_share = sum(str(v.facing) in facings for v in mine) / len(mine)
        framing_share = sum(str(v.framing) in framings for v in mine) / len(mine)
        assert facing_share >= 0.7 and framing_share >= 0.6, (label, facing_share, framing_share)


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
