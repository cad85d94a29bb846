"""An evaluation's result: tables, the printed Table-1 layout, and saved results on disk."""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..store import Store
from .metrics import ALL, METRIC_TITLES, METRICS


@dataclass
class EvalResult:
    configurations: list[str]
    table: pd.DataFrame             # rows subcategory (+ All), columns (configuration, metric)
    counts: pd.DataFrame            # rows subcategory (+ All), columns (configuration, tp/fp/fn/...)
    trials: pd.DataFrame            # one row per (configuration, seed, product, draw)
    reviewed: pd.DataFrame | None   # same shape as table, for reviewed products
    notes: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)
    seconds: float = 0.0
    strict: pd.DataFrame | None = None   # rows configuration + baselines, all subcategories pooled
    sweep: pd.DataFrame | None = None    # one row per (configuration, K, suggestion setting), with baselines
    order: pd.DataFrame | None = None    # per configuration, the main list and main + also: metrics, precision@1, @3

    def operating_point(self, min_accuracy: float = 0.9, min_gain: float = 0.2,
                        configuration: str | None = None) -> dict | None:
        """The sweep row to run at, for the first (or the given) configuration: among the settings
        reaching both targets -- paper accuracy >= ``min_accuracy`` and precision >= flagging every
        expected pose + ``min_gain`` -- the highest F1; when none reaches both, the one closest to
        them (the smallest sum of the two shortfalls), ties to the higher F1. ``rule`` says which."""
        if self.sweep is None or self.sweep.empty:
            return None
        name = configuration or self.configurations[0]
        rows = self.sweep[self.sweep["configuration"] == name].dropna(subset=["f1"]).copy()
        if rows.empty:
            return None
        gain = rows["precision_gain"].fillna(rows["precision"])
        rows["shortfall"] = (min_accuracy - rows["accuracy"]).clip(lower=0) + (min_gain - gain).clip(lower=0)
        both = rows[rows["shortfall"] <= 1e-12]
        if len(both):
            pick = both.sort_values(["f1", "precision"], ascending=False).iloc[0]
            rule = f"highest F1 with accuracy >= {min_accuracy:g} and precision >= flag-everything + {min_gain:g}"
        else:
            pick = rows.sort_values(["shortfall", "f1"], ascending=[True, False]).iloc[0]
            rule = (f"no setting reaches accuracy {min_accuracy:g} with precision >= flag-everything + "
                    f"{min_gain:g}: the closest (shortfall {pick['shortfall']:.3f})")
        return {k: _json_num(v) for k, v in pick.items()} | {"rule": rule, "reaches_targets": bool(len(both))}

    def winner(self, metric: str = "f1", row: str = ALL) -> str | None:
        if self.table.empty or row not in self.table.index:
            return None
        vals = {c: self.table.loc[row, (c, metric)] for c in self.configurations}
        vals = {c: v for c, v in vals.items() if v == v}
        return max(vals, key=vals.get) if vals else None

    def format(self, digits: int = 4) -> str:
        o = self.options
        first = (o.get("settings") or [{}])[0].get("label", "")
        answer = f" of {o['answer_min']}+ images" if o.get("answer_min") else ""
        lines = [f"Hide and complete: {o.get('n_products', 0)} labelled products{answer} x {o.get('seeds')} seed(s) "
                 f"x {o.get('draws')} draw(s), keeping {o.get('keep_min')}-{o.get('keep_max')} images (never all); "
                 f"K={o.get('k')}, {first}; {o.get('holdout', 0):.0%} of labelled reference products held out "
                 "per seed"]
        lines += ["", format_table(self.table, self.configurations, digits)]
        if self.strict is not None and not self.strict.empty:
            lines += ["", "Stricter view, all subcategories: specificity = kept views the system does not flag "
                          "again; redundant = flags per trial for a view the seller already shows",
                      format_strict(self.strict, digits)]
        if self.order is not None and not self.order.empty:
            lines += ["", "Order of the requests, all subcategories: precision@1 = share of first requests that are "
                          "truly missing, precision@3 = of the first three",
                      format_order(self.order, digits)]
        if self.sweep is not None and len(self.sweep) > 1:
            lines += ["", "Sweep, all subcategories: the system, then flagging every expected pose ('all') and a "
                          "random pose per image ('random') on the same trials and setting, and the ceiling ('ceil': "
                          "every expected view the kept images do not show, read from the labels); gain = "
                          "precision - all precision; empty = share of answers asking for nothing",
                      format_sweep(self.sweep, digits=3)]
            op = self.operating_point()
            if op:
                lines.append(f"operating point ({op['configuration']}; {op['rule']}): "
                             f"K={op['k']}, {op['setting']} -> accuracy {op['accuracy']:.3f}, precision "
                             f"{op['precision']:.3f} (all {op['all_precision']:.3f}, random "
                             f"{op['random_precision']:.3f}), F1 {op['f1']:.3f}")
        if self.reviewed is not None and not self.reviewed.empty:
            lines += ["", f"Reviewed products ({o.get('n_reviewed', 0)}, all images kept, truth = reviewer's "
                          "missing views):", format_table(self.reviewed, self.configurations, digits,
                                                          metrics=METRICS[:3])]
        if self.notes:
            lines += [""] + [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        def tab(df):
            if df is None:
                return None
            return {str(r): {c: {m: _json_num(df.loc[r, (c, m)]) for m in df[c].columns}
                             for c in self.configurations} for r in df.index}
        strict = None if self.strict is None else {
            str(i): {k: _json_num(v) for k, v in r.items()} for i, r in self.strict.iterrows()}
        sweep = None if self.sweep is None else [{k: _json_num(v) for k, v in r.items()}
                                                  for r in self.sweep.to_dict(orient="records")]
        order = None if self.order is None else [{k: _json_num(v) for k, v in r.items()}
                                                  for r in self.order.to_dict(orient="records")]
        return {"configurations": self.configurations, "table": tab(self.table), "counts": tab(self.counts),
                "strict": strict, "sweep": sweep, "order": order, "operating_point": self.operating_point(),
                "reviewed": tab(self.reviewed), "notes": self.notes, "options": self.options,
                "seconds": round(self.seconds, 2), "winner_f1": self.winner("f1"),
                "winner_accuracy": self.winner("accuracy")}


def _json_num(v):
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) else round(float(v), 6)
    if isinstance(v, (np.integer,)):
        return int(v)
    return v


def format_strict(strict: pd.DataFrame, digits: int = 4) -> str:
    cols = [("accuracy", "Accuracy"), ("precision", "Precision"), ("f1", "F1"), ("specificity", "Specificity"),
            ("redundant_per_trial", "Redundant"), ("flags_per_trial", "Flags")]
    first = max(len("Configuration"), *(len(str(i)) for i in strict.index))
    width = max(digits + 2, *(len(t) for _, t in cols))
    out = ["Configuration".ljust(first) + " | " + " ".join(t.rjust(width) for _, t in cols)]
    out.append("-" * len(out[0]))
    for name, r in strict.iterrows():
        places = {c: 2 if c in ("redundant_per_trial", "flags_per_trial") else digits for c, _ in cols}
        vals = [("-" if r[c] != r[c] else f"{r[c]:.{places[c]}f}").rjust(width) for c, _ in cols]
        out.append(str(name).ljust(first) + " | " + " ".join(vals))
    return "\n".join(out)


def format_order(order: pd.DataFrame, digits: int = 4) -> str:
    """The order table: per configuration and list, accuracy, precision, F1, precision@1, @3."""
    cols = [("accuracy", "Accuracy"), ("precision", "Precision"), ("f1", "F1"), ("p_at_1", "P@1"),
            ("p_at_3", "P@3"), ("flags_per_trial", "Flags")]
    labels = [f"{r['configuration']}, {r['list']}" for _, r in order.iterrows()]
    first = max(len("Configuration, list"), *(len(t) for t in labels))
    width = max(digits + 2, *(len(t) for _, t in cols))
    out = ["Configuration, list".ljust(first) + " | " + " ".join(t.rjust(width) for _, t in cols)]
    out.append("-" * len(out[0]))
    for label, (_, r) in zip(labels, order.iterrows()):
        vals = [("-" if r[c] != r[c] else f"{r[c]:.{2 if c == 'flags_per_trial' else digits}f}").rjust(width)
                for c, _ in cols]
        out.append(label.ljust(first) + " | " + " ".join(vals))
    return "\n".join(out)


SWEEP_PRINTED = (("k", "K"), ("setting", "Setting"), ("accuracy", "Acc"), ("precision", "Prec"), ("f1", "F1"),
                 ("p_at_1", "P@1"), ("p_at_1_main", "P@1 main"),
                 ("flags_per_trial", "Flags"), ("empty_answers", "Empty"), ("all_accuracy", "All acc"),
                 ("all_precision", "All prec"), ("random_accuracy", "Rnd acc"), ("random_precision", "Rnd prec"),
                 ("ceiling_precision", "Ceil prec"), ("precision_gain", "Gain"))


def format_sweep(sweep: pd.DataFrame, digits: int = 3) -> str:
    """The sweep as a plain-text table, one line per (configuration, K, setting)."""
    cols = [c for c in SWEEP_PRINTED if c[0] in sweep.columns]
    many = sweep["configuration"].nunique() > 1
    if many:
        cols = [("configuration", "Configuration"), *cols]
    cells = [[("-" if isinstance(r[c], float) and r[c] != r[c] else
               f"{r[c]:.{2 if c in ('flags_per_trial',) else digits}f}" if isinstance(r[c], float) else str(r[c]))
              for c, _ in cols] for _, r in sweep.iterrows()]
    widths = [max(len(t), *(len(row[i]) for row in cells)) for i, (_, t) in enumerate(cols)]
    text = [c in ("setting", "configuration") for c, _ in cols]
    fmt = lambda vals: " | ".join(v.ljust(w) if t else v.rjust(w) for v, w, t in zip(vals, widths, text))
    head = fmt([t for _, t in cols])
    return "\n".join([head, "-" * len(head), *(fmt(row) for row in cells)])


def format_table(table: pd.DataFrame, configurations: list[str], digits: int = 4,
                 metrics: tuple[str, ...] = METRICS) -> str:
    """Plain-text table shaped like the paper's Table 1: a column group per configuration."""
    if table is None or table.empty:
        return "(no results)"
    first = max(len("Subcategory"), *(len(str(r)) for r in table.index))
    width = max(digits + 2, *(len(METRIC_TITLES[m]) for m in metrics))
    group = len(metrics) * (width + 1) - 1
    head1 = "Subcategory".ljust(first) + "".join(" | " + c[:group].ljust(group) for c in configurations)
    head2 = " " * first + "".join(" | " + " ".join(METRIC_TITLES[m].rjust(width) for m in metrics)
                                  for _ in configurations)
    rule = "-" * len(head2)
    out = [head1, head2, rule]
    for r in table.index:
        if r == ALL:
            out.append(rule)
        cells = []
        for c in configurations:
            vals = []
            for m in metrics:
                v = table.loc[r, (c, m)] if (c, m) in table.columns else float("nan")
                vals.append(("-" if v != v else f"{v:.{digits}f}").rjust(width))
            cells.append(" ".join(vals))
        out.append(str(r).ljust(first) + "".join(" | " + c for c in cells))
    return "\n".join(out)




# -- saved evaluations (the app's Evaluate page lists them) -----------------------------------

EVAL_DIR = "evaluations"


def save_result(store: Store, result: EvalResult) -> Path:
    """Write result.json (tables, notes, options, the printed text) + trials.csv under
    ``<data dir>/evaluations/eval-<time>/``; returns the folder."""
    root = Path(store.data_dir) / EVAL_DIR
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("eval-%Y%m%d-%H%M%S")
    folder, n = root / stamp, 1
    while folder.exists():
        n += 1
        folder = root / f"{stamp}-{n}"
    tmp = folder.with_name(folder.name + ".partial")
    tmp.mkdir()
    d = result.to_dict() | {"text": result.format(), "created_at": time.time(), "id": folder.name,
                            "active_run": store.active_run_id()}
    (tmp / "result.json").write_text(json.dumps(d, indent=1, default=str))
    from ..exports import to_csv
    to_csv(result.trials, tmp / "trials.csv")   # the app offers it for download: formula-safe
    tmp.rename(folder)
    return folder


def saved_results(store: Store) -> list[dict]:
    """Saved evaluations, newest first (unreadable ones are skipped)."""
    root = Path(store.data_dir) / EVAL_DIR
    out = []
    for f in sorted(root.glob("eval-*/result.json")) if root.is_dir() else []:
        try:
            d = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        d["path"] = str(f.parent)
        out.append(d)
    return sorted(out, key=lambda d: d.get("created_at", 0), reverse=True)


def table_from_dict(tab: dict | None, configurations: list[str]) -> pd.DataFrame:
    """A saved table ({row: {configuration: {metric: value}}}) back into the printed shape."""
    if not tab:
        return pd.DataFrame()
    metrics = list(next(iter(next(iter(tab.values())).values())).keys())
    cols = pd.MultiIndex.from_product([configurations, metrics])
    rows = {r: [((v.get(c) or {}).get(m)) for c in configurations for m in metrics] for r, v in tab.items()}
    df = pd.DataFrame.from_dict(rows, orient="index", columns=cols).astype(float)
    df.index.name = "subcategory"
    return df
