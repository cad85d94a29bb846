"""The demo catalogue generator: shape, determinism, vocabulary and the popularity rule."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from unpose_core.catalog.demo import (
    ASSETS_DIR,
    DEMO_SUBCATEGORIES,
    KEY_FRAMINGS,
    MANIFEST_COLUMNS,
    PERSON_LABELS,
    POSE_LABELS,
    PRODUCT_GARMENT,
    PRODUCT_TYPES,
    SIZE_CHART_SOURCE,
    TYPICAL_FRAMINGS,
    UNSEEN_PRODUCT_TYPE,
    build_demo,
    count_key_framings,
    popularity,
    view_outfits,
)

SAMPLE = ("polo-01/01", "tee-05/02", "shirt-10/01")  # image path prefixes compared byte for byte


def _sample_bytes(build) -> dict[str, bytes]:
    out = {}
    for prefix in SAMPLE:
        (path,) = sorted(build.image_root.glob(f"{prefix}_*.jpg"))
        out[prefix] = path.read_bytes()
    return out


def _files(root) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def builds(demo_build, tmp_path_factory):
    """Seed 0 (the session's shared build), seed 1, and seed 0 again built over that seed-1
    build in the same dir (with its progress reports recorded)."""
    calls = []
    other_dir = tmp_path_factory.mktemp("b")
    other = build_demo(other_dir, seed=1)
    other_manifest, other_sample = other.manifest_path.read_bytes(), _sample_bytes(other)
    again = build_demo(other_dir, seed=0, progress=calls.append)
    return {"first": demo_build, "again": again, "calls": calls,
            "other_manifest": other_manifest, "other_sample": other_sample}


@pytest.fixture(scope="module")
def manifest(builds) -> pd.DataFrame:
    return pd.read_csv(builds["first"].manifest_path, keep_default_na=False)


@pytest.fixture(scope="module")
def products(manifest) -> pd.DataFrame:
    return manifest.groupby("product_id").agg(
        subcategory=("subcategory", "first"), product_type=("product_type", "first"),
        avg_rating=("avg_rating", "first"), n_ratings=("n_ratings", "first"),
        n_images=("image_path", "size"), labels=("pose_label", list),
    )


def test_counts_and_cohorts(builds, manifest, products):
    build = builds["first"]
    assert 90 <= build.n_products <= 115 and build.n_products == len(products)
    assert build.n_images == len(manifest)
    assert (manifest["category"] == "Clothing").all()
    assert sorted(products["subcategory"].unique()) == sorted(DEMO_SUBCATEGORIES)
    for sub in DEMO_SUBCATEGORIES:
        p = products[products["subcategory"] == sub]
        assert (p["n_images"] > 9).sum() >= 15, sub
        assert (p["n_images"] < 5).sum() >= 8, sub
        assert p["n_images"].between(5, 9).any(), sub
        rich_types = set(p.loc[p["n_images"] > 9, "product_type"])
        assert rich_types == set(PRODUCT_TYPES[sub]), sub
    unseen = products[products["product_type"] == UNSEEN_PRODUCT_TYPE]
    assert len(unseen) > 0 and (unseen["n_images"] < 5).all()
    assert (builds["calls"][-1].done, builds["calls"][-1].total) == (build.n_products, build.n_products)
    assert [c.done for c in builds["calls"]] == list(range(1, build.n_products + 1))


def test_manifest_columns_and_paths(builds, manifest):
    assert tuple(manifest.columns) == MANIFEST_COLUMNS
    for pid, group in manifest.groupby("product_id"):
        assert list(group["position"]) == list(range(1, len(group) + 1)), pid
    expected = manifest["product_id"] + "/" + manifest["position"].map("{:02d}".format) + "_" \
        + manifest["pose_label"] + ".jpg"
    assert (manifest["image_path"] == expected).all()
    assert manifest["avg_rating"].between(1, 5).all() and (manifest["n_ratings"] >= 1).all()
    assert all((ASSETS_DIR / s).is_file() for s in manifest["source"].unique() if s != SIZE_CHART_SOURCE)


def test_every_image_exists_and_opens(builds, manifest):
    root = builds["first"].image_root
    assert _files(root) == sorted(manifest["image_path"])
    for rel in manifest["image_path"]:
        with Image.open(root / rel) as im:
            im.load()
            assert im.format == "JPEG" and im.mode == "RGB" and max(im.size) <= 512, rel
    digests = {hashlib.sha256((root / rel).read_bytes()).hexdigest() for rel in manifest["image_path"]}
    assert len(digests) == len(manifest), "every generated image should differ from all others"


def test_same_seed_same_bytes_even_over_an_old_build(builds):
    first, again = builds["first"], builds["again"]
    assert first.manifest_path.read_bytes() == again.manifest_path.read_bytes()
    assert _files(first.image_root) == _files(again.image_root)  # nothing left of the seed-1 build
    assert _sample_bytes(first) == _sample_bytes(again)


def test_different_seed_differs(builds):
    first = builds["first"]
    assert first.manifest_path.read_bytes() != builds["other_manifest"]
    assert _sample_bytes(first) != builds["other_sample"]


def test_label_vocabulary(manifest, products):
    assert set(manifest["pose_label"]) <= set(POSE_LABELS)
    assert set(manifest["view"]) <= {"front", "back", "side", "threequarter", "none"}
    assert set(manifest["framing"]) <= {"full", "upper", "closeup", "far", "flat", "chart", "product"}
    for label, group in manifest.groupby("pose_label"):
        if "_" in label and label not in ("size_chart", "flat_lay"):
            view, framing = label.split("_")
            assert set(group["view"]) == {view} and set(group["framing"]) == {framing}, label
    assert set(manifest.loc[manifest["pose_label"] == "far", "framing"]) == {"far"}
    assert set(manifest.loc[manifest["pose_label"] == "closeup", "framing"]) == {"closeup"}
    assert set(manifest.loc[manifest["pose_label"] == "fabric", "view"]) == {"none"}
    assert set(manifest.loc[manifest["pose_label"] == "size_chart", "framing"]) == {"chart"}
    assert set(manifest.loc[manifest["pose_label"] == "flat_lay", "view"]) == {"none"}
    for pid, row in products.iterrows():
        assert set(row["labels"]) <= set(TYPICAL_FRAMINGS[row["subcategory"]]), pid
        assert set(row["labels"]) & set(PERSON_LABELS), pid
        if row["n_images"] > 9:
            non_key = set(TYPICAL_FRAMINGS[row["subcategory"]]) - set(KEY_FRAMINGS[row["subcategory"]])
            assert non_key <= set(row["labels"]), pid
    for sub, keys in KEY_FRAMINGS.items():
        assert len(keys) == 2 and set(keys) <= set(TYPICAL_FRAMINGS[sub]) & set(PERSON_LABELS)
    # the labelled render set's outfits appear next to the older renders
    sources = set(manifest["source"])
    assert any(s.startswith("views/") for s in sources) and any(s.startswith("renders/") for s in sources)


# -- issue 25: a demo whose listings hold only garment photos, titles that match them, and size
# charts and flat lays of the listing's own garment
def test_listings_hold_only_garment_photos(manifest):
    """No test photo of a person that is not a garment shot (the astronaut, the cameraman, Grace
    Hopper, the skier) and no texture standing in for cloth (brick, grass, gravel)."""
    sources = set(manifest["source"])
    assert not {s for s in sources if s.startswith("photos/")}, sources
    assert sources <= {s for s in sources if s.startswith(("views/", "renders/"))} | {SIZE_CHART_SOURCE}


def test_titles_match_the_garment_shown(manifest):
    """Each title names the colour (and pattern) of the top most of the listing's photos show, and
    every photo from the labelled render set shows a top of the listing's garment type."""
    outfits = view_outfits()
    views = pd.read_csv(ASSETS_DIR / "views" / "labels.csv", keep_default_na=False).set_index("file")
    renders = pd.read_csv(ASSETS_DIR / "renders" / "labels.csv", keep_default_na=False).set_index("file")

    def colour(source: str) -> str:
        folder, file = source.split("/", 1)
        if folder == "renders":
            return renders.loc[file, "outfit"].split("/")[0].capitalize()
        return outfits[views.loc[file, "product"]].colour()

    for pid, rows in manifest.groupby("product_id"):
        title, ptype = rows["title"].iloc[0], rows["product_type"].iloc[0]
        colours = [colour(s) for s in rows["source"] if s != SIZE_CHART_SOURCE]
        most = {c for c in colours if colours.count(c) == max(map(colours.count, colours))}
        assert any(title.startswith(c + " ") for c in most), (pid, title, most)
        for s in rows["source"]:
            if s.startswith("views/"):
                r = views.loc[s.split("/", 1)[1]]
                garment = r["garments"] if r["kind"] == "flat_lay" else outfits[r["product"]].garment
                assert garment == PRODUCT_GARMENT[ptype], (pid, ptype, s, garment)


def test_size_charts_and_flat_lays_are_the_listings_own(builds, manifest):
    """A size chart names its listing's product type and no two listings share one byte for byte;
    a flat lay shows the listing's own garment (never trousers under a T-shirt's title)."""
    root = builds["first"].image_root
    charts = manifest[manifest["pose_label"] == "size_chart"]
    assert len(charts) >= 10
    digests = [hashlib.sha256((root / p).read_bytes()).hexdigest() for p in charts["image_path"]]
    assert len(set(digests)) == len(digests)
    sizes = {Image.open(root / p).size for p in charts["image_path"]}
    assert len(sizes) > 3, sizes                 # layouts differ, not one image re-cut
    flat = manifest[manifest["pose_label"] == "flat_lay"]
    render_rows = pd.read_csv(ASSETS_DIR / "views" / "labels.csv", keep_default_na=False).set_index("file")
    assert len(flat) >= 10
    for r in flat.itertuples():
        garment = render_rows.loc[r.source.split("/", 1)[1], "garments"]
        assert garment == PRODUCT_GARMENT[r.product_type], (r.product_id, r.product_type, r.source)


def test_popularity_rule_function():
    assert popularity(0) == (3.0, 20)
    assert popularity(1) == (3.8, round(20 * np.exp(0.8)))
    assert popularity(2) == (4.6, round(20 * np.exp(1.6)))
    assert popularity(2, rating_noise=1.0)[0] == 5.0  # clipped
    assert popularity(0, rating_noise=-3.0)[0] == 1.0
    assert popularity(1, count_noise=0.3)[1] > popularity(1)[1]
    assert count_key_framings("Polo shirts", ["front_upper", "closeup", "closeup"]) == 1


def test_catalogue_ratings_follow_the_rule(products):
    k = products.apply(lambda r: count_key_framings(r["subcategory"], r["labels"]), axis=1)
    by_k = products.groupby(k)["avg_rating"].mean()
    assert list(by_k.index) == [0, 1, 2]
    assert by_k.is_monotonic_increasing and by_k.diff().dropna().gt(0.5).all()
    assert ((products["avg_rating"] - (3.0 + 0.8 * k)).abs() < 0.75).all()  # noise sd 0.15
    assert products.groupby(k)["n_ratings"].median().is_monotonic_increasing
    rich = products[products["n_images"] > 9]
    for sub, keys in KEY_FRAMINGS.items():
        for key in keys:
            share = rich[rich["subcategory"] == sub]["labels"].map(lambda ls, key=key: key in ls).mean()
            assert 0.15 <= share <= 0.85, (sub, key, share)  # included with p = 0.5
