"""DeepFashion In-shop importer on a tiny look-alike folder built from the fixture images
(the real data set is research-licensed and never part of this repository)."""
from __future__ import annotations

import shutil

import pytest
from conftest import PHOTOS, RENDERS
from PIL import Image

from unpose_core.catalog.importers import import_deepfashion, scan_deepfashion
from unpose_core.store import Store

# (gender, category, item, file name, source image)
LAYOUT = [
    ("MEN", "Tees_Tanks", "id_00000001", "01_1_front.jpg", RENDERS / "front_full_1.jpg"),
    ("MEN", "Tees_Tanks", "id_00000001", "01_2_side.jpg", RENDERS / "side_full_1.jpg"),
    ("MEN", "Tees_Tanks", "id_00000001", "01_3_back.jpg", RENDERS / "back_full_1.jpg"),
    ("MEN", "Tees_Tanks", "id_00000001", "01_4_full.jpg", RENDERS / "front_full_2.jpg"),
    ("MEN", "Tees_Tanks", "id_00000001", "01_7_additional.jpg", RENDERS / "threequarter_full_1.jpg"),
    ("MEN", "Tees_Tanks", "id_00000001", "02_1_front.jpg", RENDERS / "front_upper_1.jpg"),
    ("MEN", "Tees_Tanks", "id_00000001", "01_6_flat.jpg", PHOTOS / "skimage_brick.png"),
    ("WOMEN", "Blouses_Shirts", "id_00000002", "01_1_front.jpg", RENDERS / "front_upper_2.jpg"),
    ("WOMEN", "Blouses_Shirts", "id_00000002", "01_3_back.jpg", RENDERS / "back_upper_2.jpg"),
    ("WOMEN", "Blouses_Shirts", "id_00000002", "01_2_side.jpg", RENDERS / "side_upper_3.jpg"),
    # the same id under another category folder must not merge with the MEN item
    ("WOMEN", "Tees_Tanks", "id_00000001", "01_1_front.jpg", RENDERS / "front_full_3.jpg"),
]


def _copy(src, dst):
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.suffix.lower() == ".jpg":
        shutil.copy(src, dst)
    else:
        with Image.open(src) as im:
            im.convert("RGB").save(dst, format="JPEG")


@pytest.fixture
def deepfashion(tmp_path):
    root = tmp_path / "In-shop"
    for gender, cat, item, name, src in LAYOUT:
        _copy(src, root / "img" / gender / cat / item / name)
    item = root / "img" / "MEN" / "Tees_Tanks" / "id_00000001"
    (item / "notes.txt").write_text("not an image")
    _copy(RENDERS / "front_full_4.jpg", item / "cover.jpg")                  # wrong name pattern
    _copy(RENDERS / "front_full_4.jpg", item / "03_5_sideways.jpg")          # unknown view
    (root / "img" / "MEN" / "Tees_Tanks" / "id_00000003").mkdir()            # empty item
    (root / "img" / "MEN" / "Tees_Tanks" / "misc").mkdir()                   # not an item folder
    (root / "list_eval_partition.txt").write_text("ignored\n")
    return root


def test_scan_reads_products_views_and_order(deepfashion):
    scan = scan_deepfashion(deepfashion)
    m = scan.manifest
    assert scan.root == deepfashion.resolve()
    assert sorted(m["product_id"].unique()) == ["id_00000001-men-tees_tanks", "id_00000001-women-tees_tanks",
                                                "id_00000002"]
    men = m[m["product_id"] == "id_00000001-men-tees_tanks"]
    assert men["pose_label"].tolist() == ["front", "side", "back", "full", "flat", "additional", "front"]
    assert men["position"].tolist() == list(range(1, 8))
    assert men["image_path"].iloc[0] == "img/MEN/Tees_Tanks/id_00000001/01_1_front.jpg"
    assert set(men["category"]) == {"Men"} and set(men["subcategory"]) == {"Tees Tanks"}
    women = m[m["product_id"] == "id_00000002"]
    assert women["pose_label"].tolist() == ["front", "side", "back"]     # sorted by view number
    assert women["title"].iloc[0] == "Women Blouses Shirts id_00000002"
    reasons = "\n".join(scan.skipped)
    for bad in ("notes.txt: not an image", "cover.jpg: name is not NN_V_view", "unknown view 'sideways'",
                "id_00000003: no NN_V_view images", "misc: not an id_XXXXXXXX"):
        assert bad in reasons
    assert "11 images of 3 products" in scan.summary()


def test_scan_accepts_the_img_folder_itself(deepfashion):
    a, b = scan_deepfashion(deepfashion), scan_deepfashion(deepfashion / "img")
    assert a.manifest.equals(b.manifest) and a.root == b.root


def test_import_into_a_store_with_view_labels(deepfashion, tmp_path):
    store = Store(tmp_path / "data")
    try:
        scan, report = import_deepfashion(store, deepfashion)
        assert report.ok and report.n_products == 3 and report.n_images == 11
        images = store.images()
        assert set(images["pose_label"]) == {"front", "side", "back", "full", "additional", "flat"}
        assert images["path"].map(lambda p: p.startswith(str(deepfashion.resolve()))).all()
        products = store.products()
        assert set(products["category"]) == {"Men", "Women"}
        assert products["avg_rating"].isna().all()
        # the evaluation reads these labels straight from the catalogue
        from unpose_core.evaluation.labels import catalogue_labels
        assert len(catalogue_labels(store).image_labels) == 11
        assert "DeepFashion" in store.get_meta("catalogue_source")
    finally:
        store.close()


def test_not_deepfashion_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        scan_deepfashion(tmp_path / "nope")
    (tmp_path / "random" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match="does not look like DeepFashion"):
        scan_deepfashion(tmp_path / "random")
    (tmp_path / "empty" / "img" / "MEN" / "Denim").mkdir(parents=True)
    store = Store(tmp_path / "data")
    try:
        with pytest.raises(ValueError, match="no DeepFashion images"):
            import_deepfashion(store, tmp_path / "empty")
    finally:
        store.close()


@pytest.mark.slow
def test_cli_import_deepfashion(deepfashion, tmp_path):
    from test_cli import run

    d = tmp_path / "data"
    out = run("import-deepfashion", str(deepfashion), "-q", data_dir=d).stdout
    assert "11 images of 3 products" in out and "3 products, 11 images kept" in out
    bad = run("import-deepfashion", str(tmp_path / "nope"), data_dir=d, check=False)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: DeepFashion folder not found")
    assert len(bad.stderr.strip().splitlines()) == 1
