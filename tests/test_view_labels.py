"""View labels: the vocabulary from a catalogue's words, the one append-only label table, the
manifest's columns read into it on import, and the API and CLI that add to it."""
from __future__ import annotations

import json

import pytest
from conftest import copy_data_dir

from unpose_core.store import Store
from unpose_core.views.labels import (
    LabelSource,
    ViewLabel,
    WordMeaning,
    current_labels,
    facing_matches,
    filename_words,
    merge_vocabulary,
    parse_words,
)


def _says(text, vocab=None):
    m = parse_words(text, vocab)
    return None if m is None else (m.facing, m.framing, m.kind, m.no_pose)


@pytest.mark.parametrize("text,expected", [
    ("front_full", ("front", "full_length", None, False)),          # the demo's pose_label
    ("back_upper", ("back", "upper_body", None, False)),
    ("side_full", ("profile", "full_length", None, False)),
    ("threequarter_full", ("three_quarter", "full_length", None, False)),
    ("closeup", (None, "close_up", None, False)),
    ("far", (None, "full_length", None, False)),
    ("size_chart", (None, None, "size_chart", False)),
    ("Flat Lay", (None, None, "flat_lay", False)),
    ("fabric", (None, None, "fabric", False)),
    # DeepFashion In-shop's view words
    ("front", ("front", None, None, False)), ("side", ("profile", None, None, False)),
    ("back", ("back", None, None, False)), ("full", (None, "full_length", None, False)),
    ("flat", (None, None, "flat_lay", False)), ("additional", (None, "close_up", None, False)),
    # shop words, phrases before single words, sides
    ("Full length, back", ("back", "full_length", None, False)),
    ("three quarter length", (None, "three_quarter", None, False)),
    ("3/4 right", ("three_quarter_right", None, None, False)),
    ("left side", ("profile_left", None, None, False)),
    ("Detail", (None, "close_up", None, False)),
    ("no pose visible", (None, None, None, True)),
    # nothing known, or a contradiction: no label
    ("IMG_2041", None), ("front back", None), ("", None), (None, None),
])
def test_words_map_to_facing_framing_kind(text, expected):
    assert _says(text) == expected


def test_a_kind_without_a_person_drops_facing_and_framing_and_edits_override_builtins():
    assert _says("flat lay front") == (None, None, "flat_lay", False)
    vocab = merge_vocabulary({"rueckseite": WordMeaning(facing="back"), "detail": None,
                              "Ganzkörper": WordMeaning(framing="full_length")})
    assert _says("Rueckseite", vocab) == ("back", None, None, False)
    assert _says("detail", vocab) is None                       # removed
    assert _says("rueckseite ganzkörper", vocab) == ("back", "full_length", None, False)
    assert filename_words("img/MEN/Tees/id_01/02_3_back.jpg") == "02 3 back"


def test_a_side_less_label_agrees_with_either_side():
    assert facing_matches("profile", "profile_left") and facing_matches("profile", "profile_right")
    assert not facing_matches("profile_left", "profile_right")
    assert facing_matches("back", "back") and not facing_matches("back", "three_quarter_left")
    assert facing_matches("front", None) is False and facing_matches(None, "front") is None


def test_labels_are_validated():
    with pytest.raises(ValueError, match="unknown facing"):
        ViewLabel("h", facing="sideways")
    with pytest.raises(ValueError, match="shows no person"):
        ViewLabel("h", facing="front", kind="size_chart")


def test_the_label_table_is_append_only_and_people_outrank_the_catalogue(tmp_path):
    store = Store(tmp_path)
    store.add_view_labels([ViewLabel("h1", "back", "full_length", source="manifest")])
    store.add_view_labels([ViewLabel("h1", "front", "full_length", source="analyst", user="ann")])
    store.add_view_labels([ViewLabel("h1", "back", "upper_body", source="manifest")])   # a later re-import
    store.add_view_labels([ViewLabel("h2", kind="size_chart", source="reviewer", user="rob")])
    cur = store.view_labels()
    assert (cur["h1"].facing, cur["h1"].source, cur["h1"].user) == ("front", LabelSource.ANALYST, "ann")
    assert cur["h2"].kind == "size_chart" and cur["h2"].created_at > 0
    assert [lab.id for lab in store.view_label_history(["h1"])] == [1, 2, 3]     # nothing overwritten
    assert current_labels(store.view_label_history()) == cur
    with pytest.raises(ValueError, match="empty view label"):
        store.add_view_labels([ViewLabel("h3")])
    store.close()
    again = Store(tmp_path)   # it is on disk
    assert again.n_view_labels() == 2 and again.view_labels()["h1"].facing == "front"
    again.close()


@pytest.fixture(scope="module")
def labelled_dir(demo_data_dir, tmp_path_factory):
    """A copy of the demo data dir whose manifest columns were read into view labels."""
    from unpose_core.catalog.manifest import labels_from_catalogue

    d = copy_data_dir(demo_data_dir, tmp_path_factory.mktemp("labelled") / "data")
    store = Store(d)
    labels_from_catalogue(store)
    store.close()
    return d


def test_manifest_columns_land_in_the_table_once(labelled_dir):
    from unpose_core.catalog.manifest import labels_from_catalogue

    store = Store(labelled_dir)
    images = store.images()
    cur = store.view_labels()
    assert set(cur) == set(images["content_hash"])          # every demo image has a pose_label
    row = images[images["pose_label"] == "back_full"].iloc[0]
    lab = cur[row["content_hash"]]
    assert (lab.facing, lab.framing, lab.source) == ("back", "full_length", LabelSource.MANIFEST)
    assert "back_full" in lab.words
    chart = images[images["pose_label"] == "size_chart"].iloc[0]
    assert cur[chart["content_hash"]].kind == "size_chart"
    n = len(store.view_label_history())
    assert labels_from_catalogue(store) == [] and len(store.view_label_history()) == n   # a re-run adds nothing
    store.close()


def test_import_reads_the_view_column_through_the_vocabulary(tmp_path):
    """A catalogue's own `view` / `shot` words (not the demo's) become labels on import."""
    from PIL import Image

    from unpose_core.catalog.manifest import import_into_store

    root = tmp_path / "imgs"
    root.mkdir()
    rows = ["sku,image,view,shot"]
    for i, (view, shot) in enumerate([("Back", "full length"), ("Front", "detail"), ("", "flat lay"),
                                      ("rückseite", "")]):
        Image.new("RGB", (64 + i, 64), (40 * i, 80, 120)).save(root / f"{i}.jpg")
        rows.append(f"p1,{i}.jpg,{view},{shot}")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    store = Store(tmp_path / "data")
    report = import_into_store(store, tmp_path / "m.csv", root)
    assert report.applied and report.n_view_labels == 3
    words = {r.rel_path: r.content_hash for r in store.images().itertuples()}
    cur = store.view_labels()
    assert (cur[words["0.jpg"]].facing, cur[words["0.jpg"]].framing) == ("back", "full_length")
    assert (cur[words["1.jpg"]].facing, cur[words["1.jpg"]].framing) == ("front", "close_up")
    assert cur[words["2.jpg"]].kind == "flat_lay" and words["3.jpg"] not in cur
    assert json.loads((tmp_path / "data" / "import_report.json").read_text())["n_view_labels"] == 3
    from unpose_core.evaluation.labels import catalogue_labels  # the evaluation reads the same table

    ids = dict(zip(store.images()["rel_path"], store.images()["image_id"], strict=True))
    ev = catalogue_labels(store)
    assert ev.image_labels[ids["0.jpg"]] == "back_full_length" and ev.image_labels[ids["2.jpg"]] == "flat_lay"
    assert "view label table" in ev.sources and ids["3.jpg"] not in ev.image_labels
    # the analyst teaches the vocabulary a word; the next import reads it, nothing else twice
    store.set_view_words({"rückseite": WordMeaning(facing="back")}, user="ann")
    report = import_into_store(store, tmp_path / "m.csv", root)
    assert report.n_view_labels == 1 and store.view_labels()[words["3.jpg"]].facing == "back"
    store.close()


def test_api_and_cli_labels_keep_user_time_and_the_parts_not_given(labelled_dir, capsys):
    import unpose_core as up
    from unpose_core.cli import main

    store = Store(labelled_dir)
    images = store.images()
    h = images[images["pose_label"] == "front_full"]["content_hash"].iloc[0]
    out = up.label_views(store, [h], facing="back", user="ann")
    assert (out[0].facing, out[0].framing, out[0].source, out[0].user) == ("back", "full_length",
                                                                          LabelSource.ANALYST, "ann")
    iid = int(images[images["content_hash"] == h]["image_id"].iloc[0])
    store.close()
    assert main(["views", "label", str(iid), "--framing", "upper_body", "--source", "reviewer", "--user", "rob",
                 "--data-dir", str(labelled_dir)]) == 0
    assert "back, upper body" in capsys.readouterr().out
    frame = up.view_labels(labelled_dir, [h], history=True)
    assert list(frame["source"]) == ["manifest", "analyst", "reviewer"] and list(frame["user"])[1:] == ["ann", "rob"]
    now = up.view_labels(labelled_dir, [h]).iloc[0]
    assert (now["facing"], now["framing"], now["user"]) == ("back", "upper_body", "rob")
    assert main(["views", "label", "no-such-image", "--facing", "back", "--data-dir", str(labelled_dir)]) == 2
    with pytest.raises(ValueError, match="unknown facing"):
        up.label_views(labelled_dir, [h], facing="sideways")


def test_one_caption_per_image_with_the_disagreement_apart():
    from unpose_core.views import POSE_MISSED_TEXT, Facing, Framing, ImageKind, ImageView, caption

    back_full = ImageView(ImageKind.PERSON, 0.9, Facing.BACK, 0.8, 180.0, Framing.FULL_LENGTH, 0.9)
    assert caption(back_full, "Back, full length") == ("back, full length", None)
    text, differs = caption(back_full, "Front, full length")
    assert text == "back, full length" and "Front, full length" in differs
    assert caption(back_full, "the model's favourite")[1] is None       # words the vocabulary does not know
    assert caption(back_full, "Size chart")[1] is not None
    chart = ImageView(ImageKind.SIZE_CHART, 0.8)
    assert caption(chart, "Size chart or text") == ("size chart or text", None)
    assert caption(chart, "Back, upper body")[1] is not None
    missed = ImageView(ImageKind.OTHER, 0.3, pose_missed=True)
    assert missed.label == POSE_MISSED_TEXT == caption(missed, "Other image without a person")[0]
    assert caption(None, "Back, full length") == ("Back, full length", None)


def test_a_face_without_a_pose_is_a_person_whose_pose_was_not_detected():
    from unpose_core.records import PoseRow, Status
    from unpose_core.views import describe_image

    names = ("nose",)
    nobody = describe_image(PoseRow("h", Status.NO_PERSON, signals={"face": {"n_faces": 0}}), names)
    face = describe_image(PoseRow("h", Status.NO_PERSON, signals={"face": {"n_faces": 1, "head_score": 0.9}}), names)
    assert not nobody.pose_missed and nobody.label == "other image without a person"
    assert face.pose_missed and face.label == "person, pose not detected" and face.to_dict()["pose_missed"]
