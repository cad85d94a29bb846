import shutil

import pandas as pd
import pytest
from conftest import PHOTOS

from unpose_core.catalog import manifest as catalog
from unpose_core.catalog.manifest import import_catalogue
from unpose_core.catalog.selection import select_sets
from unpose_core.config import SelectionConfig

GOOD = {"title": "t", "category": "Clothing", "subcategory": "T-shirts", "product_type": "Tee",
        "avg_rating": "4.5", "n_ratings": "10"}


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "imgs"
    r.mkdir()
    for f in ("skimage_astronaut.png", "skimage_brick.png", "skimage_camera.png"):
        shutil.copy(PHOTOS / f, r / f)
    (r / "broken.jpg").write_text("definitely not a jpeg")
    (tmp_path / "outside.png").write_bytes((PHOTOS / "skimage_grass.png").read_bytes())
    return r


def _write(tmp_path, rows, name="m.csv"):
    p = tmp_path / name
    df = pd.DataFrame(rows)
    if name.endswith(".parquet"):
        df.to_parquet(p)
    else:
        df.to_csv(p, index=False)
    return p


def test_each_bad_row_kind_has_its_reason_and_good_rows_survive(tmp_path, root):
    rows = [
        {"product_id": "A", **GOOD, "image_path": "skimage_astronaut.png", "colour": "navy"},
        {"product_id": "A", **GOOD, "image_path": "skimage_brick.png", "colour": "navy"},
        {"product_id": "A", **GOOD, "image_path": "skimage_brick.png", "colour": "navy"},    # duplicate
        {"product_id": "B", **GOOD, "avg_rating": "great", "image_path": "skimage_camera.png", "colour": "red"},
        {"product_id": "C", **GOOD, "n_ratings": "-3", "image_path": "skimage_camera.png", "colour": "red"},
        {"product_id": "D", **GOOD, "image_path": "missing.png", "colour": "red"},
        {"product_id": "E", **GOOD, "image_path": "broken.jpg", "colour": "red"},
        {"product_id": "F", **GOOD, "image_path": "../outside.png", "colour": "red"},
        {"product_id": "", **GOOD, "image_path": "skimage_camera.png", "colour": "red"},
        {"product_id": "G", **GOOD, "image_path": "", "colour": "red"},
        {"product_id": "A", **{**GOOD, "title": "other"}, "image_path": "skimage_camera.png", "colour": "navy"},
    ]
    products, images, report = import_catalogue(_write(tmp_path, rows), root)
    assert report.ok
    kinds = report.problems.set_index("row")["kind"].dropna().to_dict()
    assert kinds[4] == catalog.DUPLICATE_ID
    assert kinds[5] == catalog.BAD_RATING and kinds[6] == catalog.BAD_RATING
    assert kinds[7] == catalog.MISSING_FILE
    assert kinds[8] == catalog.NOT_AN_IMAGE
    assert kinds[9] == catalog.PATH_ESCAPE
    assert kinds[10] == catalog.MISSING_ID
    assert kinds[11] == catalog.EMPTY_PATH
    assert kinds[12] == catalog.DUPLICATE_ID   # same id, conflicting title: first kept
    assert catalog.UNKNOWN_COLUMN in set(report.problems["kind"])
    assert products["product_id"].tolist() == ["A"]
    assert products.iloc[0]["title"] == "t"
    assert '"colour": "navy"' in products.iloc[0]["attrs"]
    assert images["rel_path"].tolist() == ["skimage_astronaut.png", "skimage_brick.png", "skimage_camera.png"]
    assert images["position"].tolist() == [1, 2, 3]
    assert images["content_hash"].str.len().eq(64).all()
    assert "3 products" not in report.summary() and "1 products" in report.summary()


def test_a_row_cut_short_has_its_own_reason(tmp_path, root):
    """A row with fewer fields than the header lost its image path (or id) to the cut: short_row,
    not empty_path; a short row that only lost optional trailing columns is kept; an empty path in a
    full row stays empty_path."""
    p = tmp_path / "m.csv"
    p.write_text("product_id,title,avg_rating,image_path\n"
                 "A,t,4.5,skimage_astronaut.png\n"
                 "B,t\n"                          # cut short: no image path
                 "C\n"                            # only the id
                 "D,t,4.5,\n"                     # all fields, the path left empty
                 "E,t,4.5\n")                     # one short, exactly the path
    q = tmp_path / "q.csv"
    q.write_text("product_id,image_path,title,avg_rating\nF,skimage_brick.png\n")   # optional columns cut
    _, _, report = import_catalogue(p, root)
    rows = report.problems.dropna(subset=["row"])
    kinds = dict(zip(rows["row"], rows["kind"]))
    assert kinds == {3: catalog.SHORT_ROW, 4: catalog.SHORT_ROW, 5: catalog.EMPTY_PATH, 6: catalog.SHORT_ROW}
    assert dict(zip(rows["row"], rows["detail"]))[3] == "row has 2 field(s) but the header has 4: no image path"
    products, images, report = import_catalogue(q, root)
    assert report.problems["row"].dropna().empty and images["rel_path"].tolist() == ["skimage_brick.png"]


def test_missing_required_column_is_fatal_with_a_reason(tmp_path, root):
    _, _, report = import_catalogue(_write(tmp_path, [{"sku_code": "A", "image_path": "x.png"}]), root)
    assert not report.ok and "product_id" in report.fatal
    _, _, report = import_catalogue(_write(tmp_path, [{"product_id": "A", "foo": 1}]), root)
    assert not report.ok and "image_path" in report.fatal


def test_unreadable_manifest_and_missing_folder(tmp_path, root):
    bad = tmp_path / "m.xlsx"
    bad.write_text("x")
    assert "must be .csv" in import_catalogue(bad, root)[2].fatal
    assert "not found" in import_catalogue(tmp_path / "none.csv", root)[2].fatal
    ok = _write(tmp_path, [{"product_id": "A", "image_path": "skimage_brick.png"}])
    assert "image folder not found" in import_catalogue(ok, tmp_path / "nope")[2].fatal


def test_wide_parquet_manifest_with_aliases(tmp_path, root):
    rows = [{"sku": "P1", "name": "Polo", "rating": 4.2, "num_ratings": 7,
             "images": "skimage_astronaut.png|skimage_camera.png; skimage_brick.png"}]
    products, images, report = import_catalogue(_write(tmp_path, rows, "m.parquet"), root)
    assert report.ok and report.n_images == 3
    assert products.iloc[0]["avg_rating"] == 4.2 and products.iloc[0]["title"] == "Polo"
    assert images["position"].tolist() == [1, 2, 3]


def _catalogue(n_images: dict, ratings: dict):
    products = pd.DataFrame([{"product_id": p, "avg_rating": ratings[p][0], "n_ratings": ratings[p][1]}
                             for p in n_images])
    images = pd.DataFrame([{"product_id": p} for p, n in n_images.items() for _ in range(n)])
    return products, images


def test_reference_and_subject_selection():
    products, images = _catalogue(
        {"a": 10, "b": 12, "c": 10, "d": 9, "e": 4, "f": 1, "g": 5},
        {"a": (4.0, 10), "b": (4.5, 1), "c": (4.0, 50), "d": (5.0, 9), "e": (3, 1), "f": (2, 1), "g": (1, 1)})
    sel = select_sets(products, images, SelectionConfig(top_k=2))
    assert sel.reference_ids == ["b", "c"]          # rating first, then number of ratings
    assert sel.subject_ids == ["e", "f"]             # fewer than 5 images
    assert sel.counts() == {"reference": 2, "subject": 2, "rich_candidates": 3, "products": 7}
    sel = select_sets(products, images, SelectionConfig(top_k=5, min_images=8, subject_max_images=6,
                                                        popularity_order=("n_ratings",)))
    assert sel.reference_ids == ["c", "a", "d", "b"]
    assert sel.subject_ids == ["e", "f", "g"]
    with pytest.raises(ValueError, match="popularity column"):
        select_sets(products, images, SelectionConfig(popularity_order=("sales",)))
