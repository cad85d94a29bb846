"""The labelled render set ``assets/views/`` (made by ``tools/renders/build.py``) is complete and consistent."""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from unpose_core.views.vocab import Facing, Framing, ImageKind, facing_from_yaw

VIEWS = Path(__file__).resolve().parents[1] / "assets" / "views"
LABELS = VIEWS / "labels.csv"


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    assert LABELS.is_file(), "assets/views/labels.csv is missing: run `make renders`"
    with LABELS.open(newline="") as f:
        return list(csv.DictReader(f))


def people(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in rows if r["kind"] == ImageKind.PERSON]


def test_labels_match_files(rows):
    names = [r["file"] for r in rows]
    assert len(names) == len(set(names)), "duplicate rows"
    assert set(names) == {p.name for p in VIEWS.glob("*.jpg")}


def test_images_open_and_are_512(rows):
    total = 0
    for r in rows:
        path = VIEWS / r["file"]
        total += path.stat().st_size
        with Image.open(path) as im:
            im.load()
            assert im.format == "JPEG" and im.mode == "RGB", r["file"]
            assert 500 <= max(im.size) <= 520, (r["file"], im.size)
            assert (str(im.width), str(im.height)) == (r["width"], r["height"]), r["file"]
    assert total < 25_000_000


def test_vocabulary_and_facing_follow_yaw(rows):
    for r in rows:
        ImageKind(r["kind"])
        if r["kind"] == ImageKind.PERSON:
            assert int(r["n_people"]) in (1, 2), r["file"]
            assert r["facing"] == facing_from_yaw(float(r["yaw_deg"])).value, r["file"]
            Framing(r["framing"])
            if r["yaw2_deg"]:
                assert r["facing2"] == facing_from_yaw(float(r["yaw2_deg"])).value, r["file"]
        else:
            assert r["n_people"] == "0" and not r["facing"] and not r["framing"] and not r["yaw_deg"], r["file"]


def test_sign_convention_positive_yaw_is_right(rows):
    # the vocabulary's convention: positive yaw = nose towards the image's right = "right" classes
    rights = {r["yaw_deg"] for r in people(rows) if r["facing"].endswith("_right")}
    lefts = {r["yaw_deg"] for r in people(rows) if r["facing"].endswith("_left")}
    assert rights and lefts
    assert all(((float(y) + 180) % 360 - 180) > 0 for y in rights)
    assert all(((float(y) + 180) % 360 - 180) < 0 for y in lefts)


def test_class_counts(rows):
    kinds = Counter(r["kind"] for r in rows)
    assert kinds[ImageKind.PERSON] >= 200
    assert kinds[ImageKind.FLAT_LAY] >= 30
    assert kinds[ImageKind.FABRIC] >= 10
    solo = [r for r in people(rows) if r["n_people"] == "1"]
    facings = Counter(r["facing"] for r in solo)
    framings = Counter(r["framing"] for r in solo)
    assert all(facings[f.value] >= 20 for f in Facing), facings
    assert all(framings[f.value] >= 40 for f in Framing), framings
    cells = Counter((r["facing"], r["framing"]) for r in solo)
    assert all(cells[(fa.value, fr.value)] >= 5 for fa in Facing for fr in Framing), cells
    yaws = Counter(int(float(r["yaw_deg"])) % 360 for r in solo)
    assert sorted(yaws) == list(range(0, 360, 45))


def test_two_person_scenes(rows):
    pairs = [r for r in people(rows) if r["n_people"] == "2"]
    assert len(pairs) >= 20
    assert len({r["facing"] for r in pairs}) >= 4
    assert len({r["framing"] for r in pairs}) == 4
    assert all(r["yaw2_deg"] and r["facing2"] for r in pairs)


def test_products_are_listings(rows):
    by_product: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        if r["n_people"] != "2":
            by_product.setdefault(r["product"], []).append(r)
    assert len(by_product) >= 8
    for pid, rs in by_product.items():
        facings = {r["facing"] for r in rs if r["kind"] == ImageKind.PERSON}
        framings = {r["framing"] for r in rs if r["kind"] == ImageKind.PERSON}
        assert len(facings) == len(Facing) and len(framings) == len(Framing), pid
        assert any(r["kind"] == ImageKind.FLAT_LAY for r in rs), pid
