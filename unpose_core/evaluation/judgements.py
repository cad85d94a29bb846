"""Reviewer judgements: which suggested poses a person confirmed, rejected or added (append-only)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..store import Store
from .labels import LabelSet, catalogue_labels, normalise_label, read_labels_file, saved_labels_path
from .metrics import ALL, NO_SUBCATEGORY, ratios

_SCHEMA = """
CREATE TABLE IF NOT EXISTS judgements(
    id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, product_id TEXT NOT NULL,
    suggested TEXT NOT NULL, confirmed TEXT NOT NULL, added TEXT NOT NULL,
    labels TEXT, reviewer TEXT, note TEXT, created_at REAL NOT NULL)
"""
_INDEX = "CREATE INDEX IF NOT EXISTS judgements_run_product ON judgements(run_id, product_id, id)"


# -- reviewer judgements ----------------------------------------------------------------------

@dataclass
class Judgement:
    run_id: str
    product_id: str
    suggested: list[int]          # pose classes the system flagged, in its order
    confirmed: list[int]          # ... of those, the ones the reviewer says are truly missing
    added: list[int]              # classes the reviewer says are missing but were not flagged
    labels: dict[int, str]        # view label of each involved class under the run, when known
    reviewer: str | None = None
    note: str | None = None
    created_at: float = 0.0
    id: int | None = None

    @property
    def rejected(self) -> list[int]:
        return [c for c in self.suggested if c not in self.confirmed]

    def missing_labels(self) -> frozenset[str] | None:
        """The views judged missing, or None when a class involved has no known label."""
        classes = [*self.confirmed, *self.added]
        if any(c not in self.labels for c in classes):
            return None
        return frozenset(self.labels[c] for c in classes)


def ensure_tables(store: Store) -> None:
    store.execute(_SCHEMA)
    store.execute(_INDEX)


def _has_table(store: Store) -> bool:
    """Readers never write: a data dir nobody reviewed in has no judgements table yet."""
    return store.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='judgements'").fetchone() \
        is not None


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
    for c, l in (labels or {}).items():
        n = normalise_label(l)
        if n is not None:
            clean_labels[int(c)] = n
    ensure_tables(store)
    now = time.time()
    cur = store.execute(
        "INSERT INTO judgements(run_id, product_id, suggested, confirmed, added, labels, reviewer, note,"
        " created_at) VALUES(?,?,?,?,?,?,?,?,?)",
        (run_id, str(product_id), json.dumps(suggested), json.dumps(confirmed), json.dumps(added),
         json.dumps({str(k): v for k, v in clean_labels.items()}), reviewer, note, now))
    return Judgement(run_id, str(product_id), suggested, confirmed, added, clean_labels, reviewer, note,
                     now, cur.lastrowid)


def _row_to_judgement(row) -> Judgement:
    jid, run_id, pid, sug, conf, add, labels, reviewer, note, created = row
    lab = {int(k): v for k, v in (json.loads(labels) if labels else {}).items()}
    return Judgement(run_id, pid, json.loads(sug), json.loads(conf), json.loads(add), lab, reviewer, note,
                     created, jid)


_COLS = "id, run_id, product_id, suggested, confirmed, added, labels, reviewer, note, created_at"


def latest_judgement(store: Store, run_id: str, product_id: str) -> Judgement | None:
    if not _has_table(store):
        return None
    row = store.execute(f"SELECT {_COLS} FROM judgements WHERE run_id=? AND product_id=?"
                        " ORDER BY id DESC LIMIT 1", (run_id, str(product_id))).fetchone()
    return None if row is None else _row_to_judgement(row)


def latest_judgements(store: Store, run_id: str | None = None) -> list[Judgement]:
    """The current judgement of every (run, product) pair, or of one run's products."""
    if not _has_table(store):
        return []
    sql = (f"SELECT {_COLS} FROM judgements j WHERE id = (SELECT MAX(id) FROM judgements k"
           " WHERE k.run_id=j.run_id AND k.product_id=j.product_id)")
    params: tuple = ()
    if run_id is not None:
        sql += " AND run_id=?"
        params = (run_id,)
    return [_row_to_judgement(r) for r in store.execute(sql + " ORDER BY id", params).fetchall()]


def judgement_history(store: Store, run_id: str | None = None) -> pd.DataFrame:
    ensure_tables(store)   # an empty frame with the right columns
    if run_id is None:
        return store.query_df(f"SELECT {_COLS} FROM judgements ORDER BY id")
    return store.query_df(f"SELECT {_COLS} FROM judgements WHERE run_id=? ORDER BY id", (run_id,))


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
