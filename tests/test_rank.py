import numpy as np
import pandas as pd
import pytest

from unpose_core.rank import CentroidRanker, popularity_target


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
