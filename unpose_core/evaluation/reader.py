"""The learned view reader measured against the view rules.

Domain shift (:func:`domain_shift`)
    On the labelled render set (``assets/views/labels.csv``), each render's outfit (``product``),
    background and light (the key light's angle, in quantiles) are split into ``parts`` parts
    each (seeded); for every cell (outfit part a, background part b, light part c) a reader
    learns from the renders that share *none* of a, b and c and reads the cell's renders: whole
    outfits, backgrounds and lights it never saw. Facing and framing accuracy where the pose
    model found the person (the rules read those images too), both readers on the same images,
    and how often one is right where the other is wrong.

    Five parts (:data:`DOMAIN_PARTS`) by default, three before: every test render still has an
    outfit, a background and a light the reader never saw (that holds for any number of parts),
    but the reader learns from ``(1 - 1/parts)**3`` of the renders: 51 % (82 renders) with five
    parts, 30 % (48) with three. A catalogue's reader learns from the whole render set plus the
    catalogue's own labels, so three parts measured a reader starved to a third of the labels it
    will have; five come closer while keeping the shift on all three factors (125 cells per
    seed instead of 27; ``--parts 3`` gives the old split).

Label budget (:func:`label_budgets`)
    ``unposed evaluate --label-budget 0,25,100,all``: per budget (a count, or a share with
    ``%`` / a fraction below 1, of the reference images whose labels the reader may learn from;
    ``all`` = every labelled reference image outside the held-out products) a reader is trained
    (render set + those labels, cross-validated against the rules as in ``unposed views
    train``), then the hide-and-complete evaluation (:func:`evaluation.protocol.evaluate`) runs
    with it reading every photo. View accuracy is measured on the labelled images it did not
    learn from. Budget 0 is the rules.
"""
from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..catalog.selection import select_sets
from ..pose.skeletons import BLAZEPOSE33_NAMES
from ..progress import Progress, ProgressFn
from ..reading import render_set, train_view_reader
from ..store import Store
from ..views.describe import describe_image, describe_images
from ..views.labels import facing_matches
from ..views.reader import ReaderOptions, ViewReader

__all__ = ["DOMAIN_PARTS", "BudgetResult", "DomainShiftResult", "domain_shift", "label_budgets", "parse_budgets",
           "view_accuracy"]

DOMAIN_PARTS = 5   # parts each of outfits, backgrounds and lights are split into (see the module doc)


@dataclass
class DomainShiftResult:
    n_images: int                       # single-person renders with a pose found
    accuracy: dict = field(default_factory=dict)   # "rules" / "reader" -> {"facing": acc, "framing": acc, ...}
    per_image: pd.DataFrame | None = None
    seconds: float = 0.0
    parts: int = DOMAIN_PARTS

    def to_dict(self) -> dict:
        return {"n_images": self.n_images, "parts": self.parts, "accuracy": self.accuracy,
                "seconds": round(self.seconds, 1)}


def _light_angle(text: str) -> float:
    m = re.match(r"key([+-]?\d+)", str(text))
    return float(m.group(1)) if m else 0.0


def _parts(values: Sequence, n: int, rng: np.random.Generator) -> dict:
    uniq = sorted(set(values))
    order = rng.permutation(len(uniq))
    return {uniq[j]: i % n for i, j in enumerate(order)}


def domain_shift(store: Store, seeds: int = 3, parts: int = DOMAIN_PARTS, options: ReaderOptions | None = None,
                 progress: ProgressFn | None = None) -> DomainShiftResult:
    """See the module doc. ``seeds``: independent partitions, averaged."""
    if parts < 2:
        raise ValueError(f"parts must be >= 2 (a cell's outfits, backgrounds and lights held out), got {parts}")
    t0 = time.perf_counter()
    rs = render_set(store, progress=progress)
    names = BLAZEPOSE33_NAMES
    views_rules = [describe_image(r, names) for r in rs.rows]
    found = [i for i, (r, v) in enumerate(zip(rs.rows, views_rules, strict=True))
             if r is not None and r.is_person and v is not None and v.is_person]
    df = rs.frame.iloc[found].reset_index(drop=True)
    rows = [rs.rows[i] for i in found]
    labels = [rs.labels[i] for i in found]
    rules = [views_rules[i] for i in found]
    light = pd.qcut(df["light"].map(_light_angle), parts, labels=False, duplicates="drop").to_numpy()
    options = options or ReaderOptions(landmark_names=names)
    out = []
    total = seeds * parts ** 3
    step = 0
    for seed in range(seeds):
        rng = np.random.default_rng([seed, 4242])
        po, pb = _parts(df["product"], parts, rng), _parts(df["background"], parts, rng)
        pl = {v: int(v) % parts for v in set(light)}
        a = df["product"].map(po).to_numpy()
        b = df["background"].map(pb).to_numpy()
        c = np.array([pl[v] for v in light])
        for ca in range(parts):
            for cb in range(parts):
                for cc in range(parts):
                    step += 1
                    test = np.flatnonzero((a == ca) & (b == cb) & (c == cc))
                    train = np.flatnonzero((a != ca) & (b != cb) & (c != cc))
                    if not len(test) or len(train) < 10:
                        continue
                    r = ViewReader(replace(options, seed=seed)).fit([rows[i] for i in train],
                                                                   [labels[i] for i in train])
                    r.use_facing_ = r.use_framing_ = True
                    for i, v in zip(test, describe_images([rows[i] for i in test], names, r), strict=True):
                        out.append({"seed": seed, "file": df["file"].iloc[i], "n_train": len(train),
                                    "facing": labels[i].facing, "framing": labels[i].framing,
                                    "rules_facing": str(rules[i].facing), "rules_framing": str(rules[i].framing),
                                    "reader_facing": str(v.facing), "reader_framing": str(v.framing)})
                    if progress:
                        progress(Progress("domain shift", step, total, f"seed {seed}"))
    per = pd.DataFrame(out)
    right = {who: np.array([bool(facing_matches(t, p)) for t, p in zip(per["facing"], per[f"{who}_facing"],
                                                                      strict=True)], bool)
             for who in ("rules", "reader")}
    acc: dict = {}
    for who in ("rules", "reader"):
        acc[who] = {
            "facing": round(float(right[who].mean()), 4),
            "facing_front_side_back": round(float(np.mean([_fsb(t) == _fsb(p) for t, p in
                                                           zip(per["facing"], per[f"{who}_facing"], strict=True)])), 4),
            "framing": round(float((per["framing"] == per[f"{who}_framing"]).mean()), 4)}
    acc["facing_counts"] = {"reader_only": int((right["reader"] & ~right["rules"]).sum()),
                            "rules_only": int((right["rules"] & ~right["reader"]).sum()),
                            "both_wrong": int((~right["rules"] & ~right["reader"]).sum())}
    acc["n_readings"] = len(per)
    acc["mean_train_images"] = round(float(per["n_train"].mean()), 1) if len(per) else 0
    return DomainShiftResult(len(found), acc, per, time.perf_counter() - t0, parts)


def _fsb(f: str | None) -> str | None:
    return None if f is None else {"front": "front", "back": "back"}.get(f, "side")


# -- label budgets ------------------------------------------------------------------------------------------

def parse_budgets(text: str) -> list[str]:
    """'0,25,100,all' -> ['0', '25', '100', 'all']; shares as '10%' or '0.1'."""
    out = []
    for part in str(text).split(","):
        p = part.strip().lower()
        if not p:
            continue
        if p != "all" and not re.fullmatch(r"\d+(\.\d+)?%?", p):
            raise ValueError(f"a label budget is a count, a share (10% or 0.1) or 'all', not {part!r}")
        out.append(p)
    if not out:
        raise ValueError("no label budget given")
    return out


def _budget_n(budget: str, n_available: int) -> int:
    if budget == "all":
        return n_available
    if budget.endswith("%"):
        return min(n_available, round(float(budget[:-1]) / 100 * n_available))
    v = float(budget)
    if v < 1 and "." in budget:
        return min(n_available, round(v * n_available))
    return min(n_available, int(v))


def view_accuracy(rows, labels, names, reader) -> dict:
    """Facing / framing accuracy where the person was found, over labelled person rows."""
    views = describe_images(rows, names, reader)
    fa, fr = [], []
    for lab, v in zip(labels, views, strict=True):
        if v is None or not v.is_person:
            continue
        if lab.facing:
            fa.append(bool(facing_matches(lab.facing, str(v.facing))))
        if lab.framing:
            fr.append(lab.framing == str(v.framing))
    return {"facing": round(float(np.mean(fa)), 4) if fa else None, "n_facing": len(fa),
            "framing": round(float(np.mean(fr)), 4) if fr else None, "n_framing": len(fr)}


@dataclass
class BudgetResult:
    table: pd.DataFrame            # one row per (budget, seed)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        cols = [c for c in self.table.columns if c not in ("budget", "seed", "reader")]
        return self.table.groupby("budget", sort=False)[cols].mean(numeric_only=True).round(3).reset_index()


def label_budgets(store: Store, budgets: Sequence[str], seeds: int = 1, first_seed: int = 0, eval_options=None,
                  configurations=None, progress: ProgressFn | None = None, workers: int | None = None) -> BudgetResult:
    """See the module doc: view accuracy, suggestion accuracy and precision per label budget."""
    from .judgements import load_labels
    from .protocol import EvalOptions, base_config, evaluate, split_holdout

    opts = eval_options or EvalOptions()
    images, products = store.images(), store.products()
    labels_now = store.view_labels(images["content_hash"])
    if not labels_now:
        raise ValueError("no view labels in the catalogue: import a manifest with a pose_label / view / shot "
                         "column, or label images (`unposed views label`)")
    base = base_config(store, opts)
    sel = select_sets(products, images, base.selection)
    names = BLAZEPOSE33_NAMES
    bid_rows = None
    rows_out, notes = [], []
    for seed in range(first_seed, first_seed + seeds):
        held = set(split_holdout(sorted(sel.reference_ids), products, opts.holdout, seed))
        learnable = images[images["product_id"].isin(set(sel.reference_ids) - held)]
        pool = [h for h in dict.fromkeys(learnable["content_hash"]) if h in labels_now]
        rng = np.random.default_rng([seed, 31337])
        order = [pool[i] for i in rng.permutation(len(pool))]
        for budget in budgets:
            n = _budget_n(budget, len(order))
            chosen = order[:n]
            reader, info = None, {}
            if n:
                res = train_view_reader(store, hashes=chosen, activate=False, save=False)
                reader = res.reader
                info = {"used_facing": bool(res.used.get("facing")), "used_framing": bool(res.used.get("framing"))}
            # view accuracy on the labelled catalogue images the reader did not learn from
            rest = [h for h in dict.fromkeys(images["content_hash"]) if h in labels_now and h not in set(chosen)]
            if bid_rows is None:
                from ..pose import backend_identity

                bid_rows = store.poses(*backend_identity("blazepose", store.data_dir))
            rest = [h for h in rest if bid_rows.get(h) is not None]
            va = view_accuracy([bid_rows[h] for h in rest], [labels_now[h] for h in rest], names, reader)
            ev = evaluate(store, load_labels(store), configurations,
                          replace(opts, seeds=1, first_seed=seed), progress=progress, workers=workers, reader=reader)
            hc = ev.trials[(ev.trials["protocol"] == "hide")] if len(ev.trials) else ev.trials
            first = hc[hc["configuration"] == ev.configurations[0]] if len(hc) else hc
            tp, fp, fn = (int(first[c].sum()) for c in ("tp", "fp", "fn")) if len(first) else (0, 0, 0)
            rows_out.append({"budget": budget, "seed": seed, "n_labels": n, "reader": None if reader is None
                             else reader.id_, **info, "view_facing": va["facing"], "view_framing": va["framing"],
                             "n_view_images": va["n_facing"],
                             "suggestion_accuracy": round(tp / (tp + fn), 4) if tp + fn else None,
                             "suggestion_precision": round(tp / (tp + fp), 4) if tp + fp else None})
            if progress:
                progress(Progress("label budget", len(rows_out), len(budgets) * seeds, f"budget {budget}"))
    return BudgetResult(pd.DataFrame(rows_out), notes)
