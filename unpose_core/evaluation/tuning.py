"""Tuning a cohort's operating point on its reviews (``operating.py`` holds the settings and the
rules; this module scores the grid of settings through THE missing-pose rule and stores the best)."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..config import SuggestConfig
from ..groups import PoseGroups, pose_groups
from ..identity import Action, Actor, acting, performing
from ..listing import read_listing
from ..operating import OperatingOptions, settings_of
from ..rank import cohort_keys, cohort_name
from ..records import CohortSettings, SettingsSource
from ..reviews import JudgedProduct, judged_products
from ..runs import Run
from ..store import Store
from ..suggestions import missing_groups

# -- tuning -------------------------------------------------------------------------------------

def _counts(rows: list[dict], judged: JudgedProduct, floor: float) -> tuple[int, int, int]:
    """(tp, fp, fn) of one product's suggested rows (with confidence >= ``floor``) against its review."""
    tp = fp = 0
    hit: set[int] = set()
    for r in rows:
        if r["confidence"] < floor:
            continue
        members = set(r["members"])
        found = [i for i, cs in enumerate(judged.missing) if cs & members]
        if found:
            tp += 1
            hit.update(found)
        elif not members & judged.unsure:
            fp += 1
    fn = sum(1 for i in range(len(judged.missing)) if i not in hit)
    return tp, fp, fn


def _f1(c: np.ndarray) -> np.ndarray:
    tp, fp, fn = c[..., 0], c[..., 1], c[..., 2]
    den = 2 * tp + fp + fn
    return np.where(den > 0, 2 * tp / np.maximum(den, 1), 0.0)


def _ratios(c) -> dict:
    tp, fp, fn = (int(x) for x in c)
    return {"precision": tp / (tp + fp) if tp + fp else float("nan"),
            "recall": tp / (tp + fn) if tp + fn else float("nan"),
            "f1": 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else float("nan"), "tp": tp, "fp": fp, "fn": fn}


def score_grid(store: Store, run: Run, judged: list[JudgedProduct], grid: list[SuggestConfig],
               groups: PoseGroups | None = None) -> np.ndarray:
    """counts[setting, product] = (tp, fp, fn) of each setting's suggestions for each reviewed
    product, through THE rule (``suggestions.missing_groups``) on the listing read once."""
    groups = groups if groups is not None else pose_groups(store, run)
    products = store.products().set_index("product_id", drop=False)
    images = store.images()
    out = np.zeros((len(grid), len(judged), 3), dtype=np.int64)
    # the confidence floor only filters the rule's rows: one rule call per other combination
    floors: dict[tuple, list[tuple[int, float]]] = {}
    for i, cfg in enumerate(grid):
        floors.setdefault(tuple(v for k, v in cfg.to_dict().items() if k != "min_confidence"), []).append(
            (i, cfg.min_confidence))
    for j, jp in enumerate(judged):
        imgs = images[images["product_id"] == jp.product_id]
        hashes = imgs["content_hash"].tolist()
        poses = store.poses(*run.info.identity, hashes)
        lst = read_listing(run, [poses.get(h) for h in hashes])
        present, distances, views, _ = lst.rule_input()
        product = products.loc[jp.product_id].to_dict()
        for _key, members in floors.items():
            cfg = replace(grid[members[0][0]], min_confidence=0.0)
            rows = missing_groups(run, product, present, distances, groups, cfg, views).ranked
            for i, floor in members:
                out[i, j] = _counts(rows, jp, floor)
    return out


def _best(counts: np.ndarray, default_index: int) -> int:
    """The setting with the best pooled F1 (ties: the defaults, else the first in the grid)."""
    f1 = _f1(counts.sum(axis=1))
    top = f1.max()
    return default_index if f1[default_index] >= top - 1e-12 else int(np.flatnonzero(f1 >= top - 1e-12)[0])


def cross_validate(counts: np.ndarray, default_index: int, folds: int, seed: int) -> dict:
    """Held-out estimate of choosing the best setting: per fold, choose on the other products and
    count on the fold's; counts pooled over the folds."""
    n = counts.shape[1]
    k = min(folds, n)
    order = np.random.default_rng(seed).permutation(n)
    fold_of = np.empty(n, dtype=int)
    fold_of[order] = np.arange(n) % k
    pooled = np.zeros(3, dtype=np.int64)
    for f in range(k):
        train, test = fold_of != f, fold_of == f
        pooled += counts[_best(counts[:, train], default_index)][test].sum(axis=0)
    return {**_ratios(pooled), "folds": k}


def tuning_cohorts(store: Store, run: Run, judged: list[JudgedProduct], min_reviews: int) -> dict[str, list[int]]:
    """cohort key -> indices of the reviewed products that tune it: each product counts for its most
    specific cohort (known to the run's ranker) with at least ``min_reviews`` of them, else the parent."""
    tables = run.ranker.tables_
    products = store.products().set_index("product_id")
    keys = [[k for k in cohort_keys(products.loc[jp.product_id].to_dict()) if k in tables] for jp in judged]
    out: dict[str, list[int]] = {}
    left = set(range(len(judged)))
    for level in range(4):
        count: dict[str, list[int]] = {}
        for i in sorted(left):
            if level < len(keys[i]):
                count.setdefault(keys[i][level], []).append(i)
        for key, idx in count.items():
            if len(idx) >= min_reviews:
                out[key] = idx
                left -= set(idx)
    return out


@dataclass
class CohortTuning:
    """One cohort's tuning: the chosen settings, the held-out estimate, the defaults' figures."""

    cohort: str
    n_reviews: int
    settings: dict
    estimate: dict
    default: dict
    in_sample: dict
    stored: CohortSettings | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stored"] = None if self.stored is None else self.stored.id
        d["cohort_name"] = cohort_name(self.cohort)
        return d


@dataclass
class TuneResult:
    run_id: str
    n_reviewed: int
    tuned: list[CohortTuning] = field(default_factory=list)
    untuned: dict[str, int] = field(default_factory=dict)     # cohort -> reviewed products (too few)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "n_reviewed": self.n_reviewed, "tuned": [t.to_dict() for t in self.tuned],
                "untuned": {cohort_name(k): v for k, v in self.untuned.items()}, "seconds": round(self.seconds, 2)}


def tune(store: Store, run: Run, options: OperatingOptions | None = None, by: str | None = None,
         save: bool = True, actor: Actor | str | None = None) -> TuneResult:
    """Choose each sufficiently reviewed cohort's settings (see the module docstring) and, with
    ``save``, store them as its new operating point. Cohorts with too few reviews are untouched.
    ``actor``: who acts (an analyst at least, checked before anything is computed; a saving tune
    is audited); a signed-in actor's name is the rows' ``by``."""
    who = acting(store.data_dir, actor, Action.TUNE)
    by = who.name if who.signed_in else (by or who.name)
    if not save:
        return _tune(store, run, options, by, save)
    with performing(store, who, Action.TUNE, "cohort settings from the reviews", {"run": run.run_id}):
        return _tune(store, run, options, by, save)


def _tune(store: Store, run: Run, options: OperatingOptions | None, by: str, save: bool) -> TuneResult:
    t0 = time.perf_counter()
    options = options or OperatingOptions()
    options.validate()
    base = SuggestConfig()
    judged = [jp for jp in judged_products(store, run) if jp.missing or jp.not_missing]
    products = set(store.products()["product_id"].astype(str))
    judged = [jp for jp in judged if jp.product_id in products]
    result = TuneResult(run.run_id, len(judged))
    cohorts = tuning_cohorts(store, run, judged, options.min_reviews)
    tables = run.ranker.tables_
    pkeys = store.products().set_index("product_id")
    for jp in judged:
        for k in cohort_keys(pkeys.loc[jp.product_id].to_dict()):
            if k in tables and k not in cohorts:
                result.untuned[k] = result.untuned.get(k, 0) + 1
    if cohorts:
        grid = options.grid(base)
        default_index = grid.index(base)
        groups = pose_groups(store, run)
        counts = score_grid(store, run, judged, grid, groups)
        rows = []
        for key, idx in sorted(cohorts.items()):
            c = counts[:, idx]
            best = _best(c, default_index)
            t = CohortTuning(key, len(idx), settings_of(grid[best]),
                             {**cross_validate(c, default_index, options.folds, options.seed), "n_reviews": len(idx),
                              "grid": len(grid)},
                             _ratios(c[default_index].sum(axis=0)), _ratios(c[best].sum(axis=0)))
            result.tuned.append(t)
            rows.append(CohortSettings(key, SettingsSource.TUNED, t.settings,
                                       {**t.estimate, "default": t.default, "in_sample": t.in_sample,
                                        "products": [judged[i].product_id for i in idx]}, run.run_id, by))
        if save:
            for t, s in zip(result.tuned, store.add_cohort_settings(rows), strict=True):
                t.stored = s
    result.seconds = time.perf_counter() - t0
    return result
