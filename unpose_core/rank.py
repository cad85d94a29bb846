"""Rank pose classes per cohort with LightGBM on a popularity target (paper §4.5).

Each reference image is a training row: its pose class plus its product's category,
subcategory and product type (all categorical) -> the product's popularity target,
a weighted mean of its normalised average rating and normalised log(1 + n_ratings).
The model's prediction for (cohort, pose class) orders the classes within a cohort:
poses that go with popular products come first.

Scores are tabulated once per known cohort at three levels (category / subcategory /
product type), so a product from a cohort never seen in training falls back to the
closest known level, down to the global table.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

COHORT_LEVELS = ("category", "subcategory", "product_type")
UNKNOWN = "(unknown)"
RATING_SCALE = 5.0


def popularity_target(products: pd.DataFrame, rating_weight: float = 0.5,
                      count_weight: float = 0.5) -> pd.Series:
    """Weighted mean of rating / max(5, max rating) and log1p(n) / log1p(max n), in [0, 1]."""
    r = pd.to_numeric(products["avg_rating"], errors="coerce")
    n = pd.to_numeric(products["n_ratings"], errors="coerce")
    r = r.fillna(r.median() if r.notna().any() else 0.0)
    n = n.fillna(0.0).clip(lower=0)
    r_norm = r / max(RATING_SCALE, float(r.max()) if len(r) else RATING_SCALE)
    top = np.log1p(float(n.max())) if len(n) and n.max() > 0 else 1.0
    c_norm = np.log1p(n) / top
    total = rating_weight + count_weight
    return ((rating_weight * r_norm + count_weight * c_norm) / total).rename("target")


def ranked_classes(table: dict, min_share: float = 0.0) -> list[dict]:
    """THE ranking and "expected" rule: one cohort table's classes, best first.

    Order: a pose no top product of the cohort shows (support 0) has no evidence for it and
    goes last, whatever the model extrapolates for that (cohort, class) pair; then higher
    score first (a missing score counts as lowest), then higher support, then lower class id.
    Expected: shown by at least ``min_share`` of the cohort's top products, and by at least one.
    Each row: pose_class, rank (1 = best), score, support, expected. The ranker, the app's
    cohort tables, the suggestions and the evaluation all rank through this function.
    """
    score = [float("-inf") if s is None or not np.isfinite(s) else float(s) for s in table["score"]]
    support = table["support"]
    order = sorted(range(len(score)), key=lambda c: (support[c] == 0, -score[c], -support[c], c))
    return [{"pose_class": c, "rank": i + 1, "score": table["score"][c], "support": support[c],
             "expected": bool(support[c] > 0 and support[c] >= min_share)} for i, c in enumerate(order)]


def cohort_keys(row) -> list[str]:
    """Keys from most to least specific: 'cat|sub|type', 'cat|sub', 'cat', '*'."""
    vals = [str(row.get(c) or UNKNOWN) for c in COHORT_LEVELS]
    return ["|".join(vals), "|".join(vals[:2]), vals[0], "*"]


class CentroidRanker:
    def __init__(self, n_classes: int, rating_weight: float = 0.5, count_weight: float = 0.5,
                 seed: int = 0, n_estimators: int = 300, learning_rate: float = 0.05,
                 num_leaves: int = 31, min_data_in_leaf: int = 5):
        self.n_classes = n_classes
        self.rating_weight = rating_weight
        self.count_weight = count_weight
        self.seed = seed
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_data_in_leaf = min_data_in_leaf

    def _params(self) -> dict:
        return {
            "objective": "regression", "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves, "min_data_in_leaf": self.min_data_in_leaf,
            # catalogue cohorts are small: let small categories form their own groups
            "min_data_per_group": self.min_data_in_leaf, "cat_smooth": 1.0, "cat_l2": 1.0,
            "max_cat_to_onehot": 64, "seed": self.seed, "deterministic": True,
            "force_row_wise": True, "num_threads": 1, "verbose": -1,
        }

    def _features(self, df: pd.DataFrame) -> pd.DataFrame:
        X = pd.DataFrame({"pose_class": pd.Categorical(df["pose_class"].astype(int),
                                                       categories=range(self.n_classes))})
        for col in COHORT_LEVELS:
            X[col] = pd.Categorical(df[col].fillna(UNKNOWN).astype(str), categories=self.vocab_[col])
        return X

    def fit(self, image_classes: np.ndarray, image_products: pd.DataFrame) -> CentroidRanker:
        """``image_products``: one row per reference image (product_id + cohort + rating columns)."""
        import lightgbm as lgb

        classes = np.asarray(image_classes, dtype=int)
        if len(classes) != len(image_products):
            raise ValueError("one product row is needed per image class")
        if len(classes) == 0:
            raise ValueError("no reference images to rank poses on")
        if classes.min() < 0 or classes.max() >= self.n_classes:
            raise ValueError(f"pose classes must be within [0, {self.n_classes})")
        df = image_products.reset_index(drop=True).copy()
        for col in COHORT_LEVELS:
            df[col] = df[col].fillna(UNKNOWN).astype(str)
        df["pose_class"] = classes
        products = df.drop_duplicates("product_id")
        target = popularity_target(products, self.rating_weight, self.count_weight)
        df["target"] = df["product_id"].map(dict(zip(products["product_id"], target)))
        self.vocab_ = {c: sorted(df[c].unique().tolist()) for c in COHORT_LEVELS}
        data = lgb.Dataset(self._features(df), label=df["target"].to_numpy(),
                           categorical_feature=["pose_class", *COHORT_LEVELS], free_raw_data=False)
        self.booster_ = lgb.train(self._params(), data, num_boost_round=self.n_estimators)
        self.tables_ = self._tabulate(df)
        return self

    def _tabulate(self, df: pd.DataFrame) -> dict:
        """Score and support of every class at every cohort level seen in training."""
        cohorts = df.drop_duplicates(list(COHORT_LEVELS))[list(COHORT_LEVELS)].reset_index(drop=True)
        grid = cohorts.loc[cohorts.index.repeat(self.n_classes)].reset_index(drop=True)
        grid["pose_class"] = np.tile(np.arange(self.n_classes), len(cohorts))
        grid["score"] = self.booster_.predict(self._features(grid))
        n_products = df.groupby(list(COHORT_LEVELS))["product_id"].nunique()
        grid["weight"] = [n_products[tuple(r)] for r in grid[list(COHORT_LEVELS)].itertuples(index=False)]
        has = df.groupby(["product_id", "pose_class"]).size().reset_index()[["product_id", "pose_class"]]
        prod = df.drop_duplicates("product_id").set_index("product_id")
        tables = {}
        for depth, name in ((3, "product_type"), (2, "subcategory"), (1, "category"), (0, "global")):
            cols = list(COHORT_LEVELS[:depth])
            groups = grid.groupby(cols) if cols else [((), grid)]
            for key, g in groups:
                key = key if isinstance(key, tuple) else (key,)
                pids = prod.index if not cols else prod.index[(prod[cols] == pd.Series(key, index=cols)).all(axis=1)]
                have = has[has["product_id"].isin(pids)].groupby("pose_class")["product_id"].nunique()
                score = g.groupby("pose_class").apply(
                    lambda s: float(np.average(s["score"], weights=s["weight"])), include_groups=False)
                tables["|".join(key) if key else "*"] = {
                    "level": name, "n_products": int(len(pids)),
                    "score": [float(score.get(c, np.nan)) for c in range(self.n_classes)],
                    "support": [float(have.get(c, 0) / max(len(pids), 1)) for c in range(self.n_classes)],
                }
        return tables

    def cohort_table(self, product: dict | pd.Series) -> tuple[str, dict]:
        """(key, table) for the most specific known cohort of a product."""
        row = dict(product)
        for key in cohort_keys(row):
            if key in self.tables_:
                return key, self.tables_[key]
        raise RuntimeError("ranker has no global table; was it fitted?")

    def rank(self, product: dict | pd.Series, min_share: float = 0.0) -> list[dict]:
        """The product's most specific known cohort, ranked (:func:`ranked_classes`), each row
        also naming the cohort and its level."""
        key, _ = self.cohort_table(product)
        return self.rank_cohort(key, min_share)

    def rank_cohort(self, key: str, min_share: float = 0.0) -> list[dict]:
        """One cohort table (by key: 'cat|sub|type', 'cat|sub', 'cat' or '*'), ranked."""
        t = self.tables_[key]
        return [{**r, "cohort": key, "cohort_level": t["level"]} for r in ranked_classes(t, min_share)]

    # plain files: LightGBM text model + JSON tables
    def save(self, folder: Path) -> list[str]:
        folder = Path(folder)
        self.booster_.save_model(str(folder / "ranker.txt"))
        (folder / "ranker_tables.json").write_text(json.dumps(
            {"n_classes": self.n_classes, "vocab": self.vocab_, "tables": self.tables_,
             "params": {"rating_weight": self.rating_weight, "count_weight": self.count_weight,
                        "seed": self.seed}}, indent=1))
        return ["ranker.txt", "ranker_tables.json"]

    @classmethod
    def load(cls, folder: Path) -> CentroidRanker:
        import lightgbm as lgb

        folder = Path(folder)
        meta = json.loads((folder / "ranker_tables.json").read_text())
        r = cls(meta["n_classes"], **meta["params"])
        r.vocab_, r.tables_ = meta["vocab"], meta["tables"]
        r.booster_ = lgb.Booster(model_file=str(folder / "ranker.txt"))
        return r
