"""Reviewer judgements: which suggested poses a person confirmed, rejected or added (append-only)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..records import Judgement
from ..store import Store
from .labels import LabelSet, catalogue_labels, normalise_label, read_labels_file, saved_labels_path
from .metrics import ALL, NO_SUBCATEGORY, ratios

__all__ = ["Judgement", "judged_missing_labels", "judgement_history", "judgement_table", "latest_judgement",
           "latest_judgements", "load_labels", "save_judgement"]


# -- reviewer judgements (stored append-only by the store) -------------------------------------

def _classes(values, what: str) -> list[int]:
    out = []
    for v in values or []:
        try:
            c = int(v)
        except (TypeError, ValueError):
            raise ValueError(f"{what}: pose classes must be whole numbers, got {v!r}") from None
        if c < 0:
            raise ValueError(f"{what}: pose classes must be >= 0, got {c}")
        if c not in out:
            out.append(c)
    return out


def save_judgement(store: Store, run_id: str, product_id: str, suggested, confirmed, added=(),
                   labels: dict | None = None, reviewer: str | None = None, note: str | None = None) -> Judgement:
    """Append the reviewer's current judgement of one product under one run."""
    if not run_id or not product_id:
        raise ValueError("a judgement needs a run id and a product id")
    suggested = _classes(suggested, "suggested")
    confirmed = _classes(confirmed, "confirmed")
    added = _classes(added, "added")
    stray = [c for c in confirmed if c not in suggested]
    if stray:
        raise ValueError(f"confirmed poses {stray} were not suggested; list them as added instead")
    dup = [c for c in added if c in suggested]
    if dup:
        raise ValueError(f"added poses {dup} were already suggested; tick them as confirmed instead")
    clean_labels = {}
    for c, label in (labels or {}).items():
        n = normalise_label(label)
        if n is not None:
            clean_labels[int(c)] = n
    return store.add_judgement(Judgement(run_id, str(product_id), suggested, confirmed, added, clean_labels,
                                         reviewer, note))


def latest_judgement(store: Store, run_id: str, product_id: str) -> Judgement | None:
    return store.latest_judgement(run_id, product_id)


def latest_judgements(store: Store, run_id: str | None = None) -> list[Judgement]:
    """The current judgement of every (run, product) pair, or of one run's products."""
    return store.latest_judgements(run_id)


def judgement_history(store: Store, run_id: str | None = None) -> pd.DataFrame:
    return store.judgement_history(run_id)


def judged_missing_labels(store: Store) -> dict[str, frozenset[str]]:
    """product -> views judged missing, from the newest label-complete judgement per product."""
    out: dict[str, tuple[float, frozenset[str]]] = {}
    for j in latest_judgements(store):
        views = j.missing_labels()
        if views is None:
            continue
        if j.product_id not in out or out[j.product_id][0] < j.created_at:
            out[j.product_id] = (j.created_at, views)
    return {p: v for p, (_, v) in out.items()}


# -- reviewer judgements of one run (class space) ----------------------------------------------

def judgement_table(store: Store, run_id: str) -> pd.DataFrame:
    """Per subcategory (+ All): how the run's suggestions fared with reviewers.
    accuracy = confirmed / (confirmed + added), precision = confirmed / suggested."""
    judged = latest_judgements(store, run_id)
    if not judged:
        return pd.DataFrame()
    products = store.products().set_index("product_id")
    rows = []
    for j in judged:
        s = products["subcategory"].get(j.product_id) if j.product_id in products.index else None
        rows.append({"subcategory": s if isinstance(s, str) and s else NO_SUBCATEGORY,
                     "tp": len(j.confirmed), "fp": len(j.rejected), "fn": len(j.added)})
    df = pd.DataFrame(rows)
    out = []
    for r in sorted(df["subcategory"].unique()) + [ALL]:
        g = df if r == ALL else df[df["subcategory"] == r]
        tp, fp, fn = int(g["tp"].sum()), int(g["fp"].sum()), int(g["fn"].sum())
        out.append({"subcategory": r, "products": len(g), **ratios(tp, fp, fn), "confirmed": tp,
                    "rejected": fp, "added": fn})
    return pd.DataFrame(out).set_index("subcategory")


def load_labels(store: Store, path: str | Path | None = None, with_judgements: bool = True) -> LabelSet:
    """Catalogue pose_label, overridden by ``path`` (default: the data dir's saved labels file,
    if any); plus judged products when their judgements carry view labels (a labels file's
    'missing' rows win over them)."""
    base = catalogue_labels(store)
    if path is None:
        path = saved_labels_path(store)
    if path is not None:
        extra = read_labels_file(path, store.images())
        merged = pd.concat([base.image_labels, extra.image_labels])
        merged = merged[~merged.index.duplicated(keep="last")].sort_index()
        base = LabelSet(merged, dict(extra.product_missing), base.sources + extra.sources, extra.problems)
    if with_judgements:
        judged = judged_missing_labels(store)
        added = {p: s for p, s in judged.items() if p not in base.product_missing}
        if added:
            base.product_missing.update(added)
            base.sources.append(f"{len(added)} reviewer judgements")
    return base
