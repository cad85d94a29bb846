import numpy as np
import pandas as pd
import pytest

from unpose_core.rank import COHORT_LEVELS, CentroidRanker, popularity_target


def _synthetic(seed=0):
    """Two subcategories; in 'Polo' products with class 2 are popular, in 'Tee' class 3."""
    rng = np.random.default_rng(seed)
    rows, classes = [], []
    for sub, key in (("Polo", 2), ("Tee", 3)):
        for i in range(30):
            has_key = i % 2 == 0
            rating = 4.5 if has_key else 3.0
            pid = f"{sub}{i}"
            cls = [0, 1] + ([key] if has_key else [4])
            for c in cls:
                rows.append({"product_id": pid, "category": "Clothing", "subcategory": sub,
                             "product_type": f"{sub}-a" if i < 15 else f"{sub}-b",
                             "avg_rating": rating + rng.normal(0, 0.05), "n_ratings": int(50 * rating)})
                classes.append(c)
    return np.array(classes), pd.DataFrame(rows)


def test_popularity_target_weights():
    p = pd.DataFrame({"avg_rating": [5.0, 2.5, None], "n_ratings": [0, 99, 9]})
    t = popularity_target(p, 1.0, 0.0)
    assert t.tolist() == [1.0, 0.5, pytest.approx(0.75)]          # missing rating -> median
    t = popularity_target(p, 0.0, 1.0)
    assert t.iloc[1] == pytest.approx(1.0) and t.iloc[0] == 0.0
    assert popularity_target(p).between(0, 1).all()


def test_ranker_puts_poses_of_popular_products_first_per_cohort():
    classes, products = _synthetic()
    r = CentroidRanker(5, seed=0).fit(classes, products)
    polo = r.rank({"category": "Clothing", "subcategory": "Polo", "product_type": "Polo-a"})
    tee = r.rank({"category": "Clothing", "subcategory": "Tee", "product_type": "Tee-b"})
    assert polo[0]["pose_class"] == 2 and tee[0]["pose_class"] == 3
    assert polo[0]["cohort_level"] == "product_type"
    # class 3 never occurs among Polo products: support 0, not expected there
    by_class = {x["pose_class"]: x for x in polo}
    assert by_class[3]["support"] == 0 and not by_class[3]["expected"]
    assert by_class[0]["support"] == 1.0 and by_class[2]["support"] == pytest.approx(8 / 15)  # i = 0, 2 .. 14


def test_unseen_cohorts_fall_back_to_closest_known_level():
    classes, products = _synthetic()
    r = CentroidRanker(5, seed=0).fit(classes, products)
    new_type = r.rank({"category": "Clothing", "subcategory": "Tee", "product_type": "Henley"})
    assert new_type[0]["cohort"] == "Clothing|Tee" and new_type[0]["cohort_level"] == "subcategory"
    assert new_type[0]["pose_class"] == 3
    other_cat = r.rank({"category": "Shoes", "subcategory": None, "product_type": None})
    assert other_cat[0]["cohort"] == "*" and other_cat[0]["cohort_level"] == "global"


def test_save_load_round_trip(tmp_path):
    classes, products = _synthetic()
    r = CentroidRanker(5, seed=0).fit(classes, products)
    files = r.save(tmp_path)
    assert sorted(files) == ["ranker.txt", "ranker_tables.json"]
    assert (tmp_path / "ranker.txt").read_text().startswith("tree")
    r2 = CentroidRanker.load(tmp_path)
    q = {"category": "Clothing", "subcategory": "Polo", "product_type": "Polo-b"}
    assert r2.rank(q) == r.rank(q)
    X = r._features(pd.DataFrame({"pose_class": [0, 2], "category": "Clothing", "subcategory": "Polo",
                                  "product_type": "Polo-a"}))
    np.testing.assert_allclose(r2.booster_.predict(X), r.booster_.predict(X))


def test_deterministic_and_validated():
    classes, products = _synthetic()
    a = CentroidRanker(5, seed=1).fit(classes, products).tables_
    b = CentroidRanker(5, seed=1).fit(classes, products).tables_
    assert a == b
    with pytest.raises(ValueError, match="within"):
        CentroidRanker(3).fit(classes, products)
    with pytest.raises(ValueError, match="one product row"):
        CentroidRanker(5).fit(classes[:3], products)


def _tables_one_key_at_a_time(r: CentroidRanker, df: pd.DataFrame) -> dict:
    """The ranker's tables as they were first computed: a scan of the products and of the
    (product, class) pairs per cohort key (quadratic, kept here as the reference)."""
    cols_all = list(COHORT_LEVELS)
    cohorts = df.drop_duplicates(cols_all)[cols_all].reset_index(drop=True)
    grid = cohorts.loc[cohorts.index.repeat(r.n_classes)].reset_index(drop=True)
    grid["pose_class"] = np.tile(np.arange(r.n_classes), len(cohorts))
    grid["score"] = r.booster_.predict(r._features(grid))
    n_products = df.groupby(cols_all)["product_id"].nunique()
    grid["weight"] = [n_products[tuple(x)] for x in grid[cols_all].itertuples(index=False)]
    has = df.groupby(["product_id", "pose_class"]).size().reset_index()[["product_id", "pose_class"]]
    prod = df.drop_duplicates("product_id").set_index("product_id")
    tables = {}
    for depth, name in ((3, "product_type"), (2, "subcategory"), (1, "category"), (0, "global")):
        cols = cols_all[:depth]
        for key, g in (grid.groupby(cols) if cols else [((), grid)]):
            key = key if isinstance(key, tuple) else (key,)
            pids = prod.index if not cols else prod.index[(prod[cols] == pd.Series(key, index=cols)).all(axis=1)]
            have = has[has["product_id"].isin(pids)].groupby("pose_class")["product_id"].nunique()
            score = g.groupby("pose_class").apply(
                lambda s: float(np.average(s["score"], weights=s["weight"])), include_groups=False)
            tables["|".join(key) if key else "*"] = {
                "level": name, "n_products": int(len(pids)), "products": sorted(map(str, pids)),
                "score": [float(score.get(c, np.nan)) for c in range(r.n_classes)],
                "support": [float(have.get(c, 0) / max(len(pids), 1)) for c in range(r.n_classes)]}
    return tables


@pytest.mark.slow
def test_tables_are_those_of_the_per_cohort_scan():
    """The tables, grouped once per level, are exactly (same floats, same key order) the ones the
    per-cohort scan computed, with missing cohort values, two categories, a product whose rows
    name two cohorts, integer product ids and a class no image has; products' classes too."""
    import json

    rng = np.random.default_rng(4)
    n = 1500
    pid = rng.integers(0, 300, n)
    df = pd.DataFrame({"product_id": [f"q{i}" for i in pid],
                       "category": np.where(pid % 5 == 0, "Shoes", "Clothing"),
                       "subcategory": [None if i % 11 == 0 else f"S{i % 4}" for i in pid],
                       "product_type": [np.nan if i % 13 == 0 else f"T{i % 7}" for i in pid],
                       "avg_rating": rng.uniform(2, 5, 300)[pid], "n_ratings": rng.integers(0, 900, 300)[pid]})
    df.loc[3, "product_type"] = "Odd"          # one image row in another cohort than its product's first
    classes = rng.integers(0, 7, n)            # class 7 of 8 never occurs
    for products in (df, df.assign(product_id=pid)):
        r = CentroidRanker(8, seed=0).fit(classes, products)
        prepared = products.reset_index(drop=True).copy()
        for col in COHORT_LEVELS:
            prepared[col] = prepared[col].fillna("(unknown)").astype(str)
        prepared["pose_class"] = classes
        assert json.dumps(r.tables_) == json.dumps(_tables_one_key_at_a_time(r, prepared))
        expected = {str(p): sorted({int(c) for c in g}) for p, g in prepared.groupby("product_id")["pose_class"]}
        assert json.dumps(r.product_classes_) == json.dumps(expected)
