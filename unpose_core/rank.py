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

from .config import SuggestConfig

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


# the suggestion rule's defaults have one home, SuggestConfig: expected from ``expect`` x the
# cohort's typical support, or (``by_score``) scored above the cohort's baseline among the
# ranker's first ``score_ranks`` poses
DEFAULT_EXPECT = SuggestConfig.expect
DEFAULT_BY_SCORE = SuggestConfig.by_score
DEFAULT_SCORE_RANKS = SuggestConfig.score_ranks


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval (95 % by default) of a share ``p`` observed over ``n`` products."""
    if n <= 0:
        return 0.0, 1.0
    p = min(max(float(p), 0.0), 1.0)
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def _class_order(score: list[float], support: list[float]) -> list[int]:
    s = [float("-inf") if v is None or not np.isfinite(v) else float(v) for v in score]
    return sorted(range(len(s)), key=lambda c: (support[c] == 0, -s[c], -support[c], c))


def rank_groups(table: dict, groups: list[tuple[int, tuple[int, ...]]], support: list[float] | None = None,
                expect: float = DEFAULT_EXPECT, min_share: float = 0.0, desirable=(), excluded=(),
                by_score: bool = False, min_products: int = 2, score_ranks: int = 0) -> list[dict]:
    """THE ranking and "expected" rule, for pose groups (sets of classes that count as one pose).

    ``table``: one cohort's ranker table (score, support per class, n_products); ``groups``:
    (group id, member classes); ``support``: each group's share of the cohort's top products
    showing any member (None: the largest member support, exact for one-class groups).

    Order (the ranker's): classes ordered as in :func:`ranked_classes` -- a pose no top product
    shows last, then higher score, higher support, lower id -- and a group takes the place of its
    best-ordered member, which is its representative ``pose_class`` and gives its score.

    Expected (calibrated from the catalogue itself): with ``typical`` = the mean support of the
    groups the cohort's top products show (excluded groups aside) = mean distinct groups per top
    product / number of groups shown, a group is expected when its support is at least
    ``expect`` x typical and at least ``min_share``, and at least one top product shows it. So
    when every listing is small, every support and the typical support shrink together and no
    pose drops out only for that. With ``by_score``, a group the ranker scores above the
    cohort's baseline (the support-weighted mean score of the groups shown: what a top
    product's photo scores on average) is expected too, when at least ``min_products`` top
    products show it: the poses that go with popularity are asked for even when fewer
    listings have them; ``score_ranks`` > 0 keeps that to the ranker's first ``score_ranks``
    groups (1: the pose the ranker puts first), 0 lets every group above the baseline in.
    An analyst's *desirable* mark makes a group expected, an
    *excluded* mark never. Rows (best first): group, members, pose_class, rank, score, support,
    support_low / support_high (Wilson 95 % over the cohort's top products), typical, relative
    (support / typical), threshold, expected, by_score (expected by the score rule alone), why.
    """
    n = int(table.get("n_products") or 0)
    cls_support = table["support"]
    position = {c: i for i, c in enumerate(_class_order(table["score"], cls_support))}
    desirable, excluded = set(desirable), set(excluded)
    members = {gid: tuple(sorted(int(c) for c in ms if int(c) in position)) for gid, ms in groups}
    members = {gid: ms for gid, ms in members.items() if ms}
    if support is None:
        gsup = {gid: max(float(cls_support[c]) for c in ms) for gid, ms in members.items()}
    else:
        gsup = {gid: float(sv) for (gid, _), sv in zip(groups, support) if gid in members}
    shown = [v for gid, v in gsup.items() if v > 0 and gid not in excluded]
    typical = float(np.mean(shown)) if shown else 0.0
    threshold = max(expect * typical, min_share)
    rep = {gid: min(ms, key=position.get) for gid, ms in members.items()}

    def score_of(gid):
        v = table["score"][rep[gid]]
        return float(v) if v is not None and np.isfinite(v) else float("-inf")

    weights = {gid: v for gid, v in gsup.items() if v > 0 and gid not in excluded and np.isfinite(score_of(gid))}
    baseline = (sum(w * score_of(g) for g, w in weights.items()) / sum(weights.values())) if weights else float("inf")
    order = sorted(members, key=lambda g: (position[rep[g]], g))
    rows = []
    for i, gid in enumerate(order):
        c, sup = rep[gid], gsup[gid]
        lo, hi = wilson(sup, n)
        by_score_only = False
        if gid in excluded:
            expected, why = False, "excluded by an analyst"
        elif gid in desirable:
            expected, why = True, "marked desirable by an analyst"
        elif sup <= 0:
            expected, why = False, "no top product of the cohort shows it"
        elif sup >= threshold:
            expected, why = True, (f"shown by {sup:.0%} of the {n} top products; expected from {threshold:.0%} "
                                   f"({expect:g} x the typical {typical:.0%})")
        elif by_score and (score_ranks <= 0 or i < score_ranks) and score_of(gid) > baseline \
                and sup * n >= min_products - 1e-9 and sup >= min_share:
            first = "the ranker puts it first and " if i == 0 else ""
            by_score_only = True
            expected, why = True, (f"{first}the ranker scores it above the cohort's baseline ({score_of(gid):.3f} > "
                                   f"{baseline:.3f}): it goes with popular listings; shown by {sup:.0%} of the "
                                   f"{n} top products")
        else:
            expected, why = False, (f"shown by {sup:.0%} of the {n} top products, below {threshold:.0%} "
                                    f"({expect:g} x the typical {typical:.0%})")
        rows.append({"group": gid, "members": list(members[gid]), "pose_class": c, "rank": i + 1,
                     "score": table["score"][c], "support": sup, "support_low": lo, "support_high": hi,
                     "typical": typical, "relative": sup / typical if typical else 0.0, "threshold": threshold,
                     "baseline": baseline, "above_baseline": score_of(gid) > baseline,
                     "expected": expected, "by_score": by_score_only, "desirable": gid in desirable,
                     "excluded": gid in excluded, "why": why})
    return rows


def cohort_ranking(ranker: CentroidRanker, key: str, groups: list[tuple[int, tuple[int, ...]]],
                   config: SuggestConfig, min_share: float, desirable=(), excluded=()) -> list[dict]:
    """THE ranking entry point: one cohort's pose groups (``groups``: (group id, member classes))
    in the ranker's order with "expected" decided (:func:`rank_groups`), their support counted over
    the cohort's top products (``CentroidRanker.group_support``), the analyst's marks
    (``desirable``, ``excluded`` group ids) applied, under ``config`` (expect, by_score,
    score_ranks) and the support floor ``min_share``. The missing-pose rule and the app's
    Clusters page both rank through it (``suggestions.rule.rank_cohort``)."""
    table = ranker.tables_[key]
    support = ranker.group_support(key, [ms for _, ms in groups])
    return rank_groups(table, groups, support, config.expect, min_share, desirable, excluded, config.by_score,
                       score_ranks=config.score_ranks)


def ranked_classes(table: dict, min_share: float = 0.0, expect: float = DEFAULT_EXPECT,
                   by_score: bool = DEFAULT_BY_SCORE, score_ranks: int = DEFAULT_SCORE_RANKS) -> list[dict]:
    """THE ranking and "expected" rule for single classes: :func:`rank_groups` with every class
    its own group. Order: a pose no top product of the cohort shows (support 0) has no evidence
    for it and goes last, whatever the model extrapolates for that (cohort, class) pair; then
    higher score first (a missing score counts as lowest), then higher support, then lower class
    id. Expected: support >= ``expect`` x the cohort's typical support and >= ``min_share``, and
    at least one top product shows it (or, ``by_score``, a ranker score above the cohort's
    baseline and at least two top products, among the first ``score_ranks``). Each row: pose_class,
    rank (1 = best), score, support,
    expected (+ the group fields of :func:`rank_groups`): the ranker's view of its classes alone;
    what a seller is asked for, and the app's cohort tables, rank groups (:func:`cohort_ranking`)."""
    return rank_groups(table, [(c, (c,)) for c in range(len(table["score"]))], None, expect, min_share,
                       by_score=by_score, score_ranks=score_ranks)


def cohort_name(key: str) -> str:
    """A cohort key as people read it: 'Clothing|T-shirts' -> 'Clothing / T-shirts', '*' -> 'all
    products'. The one name of a cohort: notes, reasons, reports, seller sheets and the app."""
    return "all products" if key == "*" else key.replace("|", " / ")


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
        self._support_cache: dict = {}
        # each product's classes, from its unique (product, class) pairs sorted by product then class
        pairs = df.groupby(["product_id", "pose_class"]).size().reset_index()
        bounds = np.flatnonzero(pairs["product_id"].to_numpy()[1:] != pairs["product_id"].to_numpy()[:-1]) + 1
        starts = [0, *bounds.tolist()]
        cls = pairs["pose_class"].astype(int).tolist()
        ends = [*bounds.tolist(), len(pairs)]
        pids = pairs["product_id"].tolist()
        self.product_classes_ = {str(pids[a]): cls[a:b] for a, b in zip(starts, ends)}
        return self

    def _tabulate(self, df: pd.DataFrame) -> dict:
        """Score and support of every class at every cohort level seen in training.

        One prediction per (known cohort, class); a level's score of a class is the mean of its
        cohorts' scores weighted by their numbers of products; support is the share of the level's
        products (each counted in the cohort of its first image row) with an image of the class.
        Grouped once per level with integer codes (was a scan of every product and every
        (product, class) pair per cohort key: quadratic in the catalogue); the same tables, the
        same float operations in the same order (tests/test_rank.py compares them)."""
        cols_all = list(COHORT_LEVELS)
        cohorts = df.drop_duplicates(cols_all)[cols_all].reset_index(drop=True)
        k = self.n_classes
        grid = cohorts.loc[cohorts.index.repeat(k)].reset_index(drop=True)
        grid["pose_class"] = np.tile(np.arange(k), len(cohorts))
        scores = np.asarray(self.booster_.predict(self._features(grid)), dtype=np.float64).reshape(len(cohorts), k)
        n_products = df.groupby(cols_all)["product_id"].nunique()
        weights = np.array([n_products[tuple(r)] for r in cohorts.itertuples(index=False)])
        has = df.groupby(["product_id", "pose_class"]).size().reset_index()[["product_id", "pose_class"]]
        prod = df.drop_duplicates("product_id").set_index("product_id")
        has_pos = prod.index.get_indexer(has["product_id"])
        has_class = has["pose_class"].to_numpy(dtype=np.int64)
        cohort_vals = [cohorts[c].tolist() for c in cols_all]
        prod_vals = [prod[c].tolist() for c in cols_all]
        pid_str = [str(p) for p in prod.index]
        tables = {}
        for depth, name in ((3, "product_type"), (2, "subcategory"), (1, "category"), (0, "global")):
            cohort_keys_d = list(zip(*cohort_vals[:depth])) if depth else [()] * len(cohorts)
            prod_keys = list(zip(*prod_vals[:depth])) if depth else [()] * len(prod)
            members: dict[tuple, list[int]] = {}
            for i, key in enumerate(cohort_keys_d):   # each key's cohorts, in cohort order
                members.setdefault(key, []).append(i)
            code = {key: j for j, key in enumerate(members)}
            prod_code = np.array([code.get(key, -1) for key in prod_keys], dtype=np.int64)
            pids_of: dict[int, list[int]] = {}
            for pos, c in enumerate(prod_code.tolist()):
                pids_of.setdefault(c, []).append(pos)
            pair_code = prod_code[has_pos] if len(has_pos) else np.zeros(0, np.int64)
            ok = pair_code >= 0
            have = np.bincount(pair_code[ok] * k + has_class[ok], minlength=len(members) * k).reshape(-1, k)
            for key in sorted(members):   # groupby's order: keys sorted
                j, idx = code[key], members[key]
                pos = pids_of.get(j, [])
                w = weights[idx]
                tables["|".join(key) if key else "*"] = {
                    "level": name, "n_products": int(len(pos)), "products": sorted(pid_str[p] for p in pos),
                    "score": [float(np.average(scores[idx, c], weights=w)) for c in range(k)],
                    "support": [float(have[j, c] / max(len(pos), 1)) for c in range(k)],
                }
        return tables

    def cohort_table(self, product: dict | pd.Series) -> tuple[str, dict]:
        """(key, table) for the most specific known cohort of a product."""
        row = dict(product)
        for key in cohort_keys(row):
            if key in self.tables_:
                return key, self.tables_[key]
        raise RuntimeError("ranker has no global table; was it fitted?")

    def rank(self, product: dict | pd.Series, min_share: float = 0.0, expect: float = DEFAULT_EXPECT,
             by_score: bool = DEFAULT_BY_SCORE) -> list[dict]:
        """The product's most specific known cohort, ranked (:func:`ranked_classes`), each row
        also naming the cohort and its level."""
        key, _ = self.cohort_table(product)
        return self.rank_cohort(key, min_share, expect, by_score)

    def rank_cohort(self, key: str, min_share: float = 0.0, expect: float = DEFAULT_EXPECT,
                    by_score: bool = DEFAULT_BY_SCORE) -> list[dict]:
        """One cohort table (by key: 'cat|sub|type', 'cat|sub', 'cat' or '*'), ranked."""
        t = self.tables_[key]
        return [{**r, "cohort": key, "cohort_level": t["level"]}
                for r in ranked_classes(t, min_share, expect, by_score)]

    def group_support(self, key: str, groups: list[tuple[int, ...]]) -> list[float] | None:
        """Per group (a set of classes), the share of the cohort's top products that show any
        member; None for a ranker saved before products were recorded per cohort."""
        t = self.tables_[key]
        pcs = getattr(self, "product_classes_", None)
        if not pcs or "products" not in t:
            return None
        # asked for every listing of the cohort (an upload, each row of a report): kept per
        # (cohort, groups) until the tables are learnt again (fit empties it)
        cache = self.__dict__.setdefault("_support_cache", {})
        ck = (key, tuple(tuple(int(c) for c in ms) for ms in groups))
        if ck not in cache:
            shown = [set(pcs.get(p, ())) for p in t["products"]]
            n = max(len(shown), 1)
            cache[ck] = tuple(sum(1 for s in shown if s & set(ms)) / n for ms in groups)
        return list(cache[ck])

    # plain files: LightGBM text model + JSON tables
    def save(self, folder: Path) -> list[str]:
        folder = Path(folder)
        # written by Python, not LightGBM's save_model: a full disk is then an OSError (ENOSPC), not a
        # LightGBMError without a cause (the same text: save_model writes model_to_string's)
        (folder / "ranker.txt").write_text(self.booster_.model_to_string(), encoding="ascii")
        (folder / "ranker_tables.json").write_text(json.dumps(
            {"n_classes": self.n_classes, "vocab": self.vocab_, "tables": self.tables_,
             "product_classes": getattr(self, "product_classes_", None),
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
        r.product_classes_ = meta.get("product_classes")   # None in runs saved before it was recorded
        r.booster_ = lgb.Booster(model_file=str(folder / "ranker.txt"))
        return r
