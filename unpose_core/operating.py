"""Each cohort's operating point: the suggestion settings its reviewers' judgements favour.

The defaults (``SuggestConfig``) were chosen on the demo sweep; another catalogue, or another
cohort of the same one, may be better served by other settings. A cohort's settings are data,
stored append-only (``Store.add_cohort_settings``), never code:

defaults
    Nothing stored for the cohort (or its last row is a reset): ``SuggestConfig``'s defaults.
tuned
    ``evaluation.tuning.tune`` found enough reviewed products (``OperatingOptions.min_reviews``) in the cohort
    and chose, among a grid of the four settings reviewers can tell apart -- ``expect``,
    ``view_share``, ``min_confidence`` and the score rule (``by_score`` / ``score_ranks``) --
    the one with the best F1 on their reviews. The figure shown with it is cross-validated
    (settings chosen on the other folds' products, scored on the held-out fold, counts pooled),
    so it is not the in-sample best. The defaults' F1 on the same reviews is kept beside it.
reset
    An analyst put the defaults back (:func:`reset`); the history keeps what was there.

Which products tune which cohort: a reviewed product counts for its most specific cohort (product
type, then subcategory, category, all products) with at least ``min_reviews`` reviewed products;
a product of a thinner cohort counts for the parent instead. A suggestion uses the settings of the
product's most specific cohort that has tuned ones (``settings_for``: the Suggester asks it
whenever no explicit settings are given). Settings are keyed by cohort, not by run: a retrain
keeps them for every cohort it still has, and the reviews they were tuned on are carried onto the
new run's groups (``reviews.carry_classes``) when the cohort is tuned again.

Scoring a setting on a product's review: a suggested group is right when the reviewer judged it
missing (confirmed or added), wrong when judged not missing or not judged at all (the reviewer
saw the list and could add what it lacked), and not scored when the reviewer was not sure; a group
judged missing that the setting does not ask for is a miss.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from itertools import product as _grid

import pandas as pd

from .config import SuggestConfig
from .identity import Action, Actor, acting, performing
from .rank import cohort_keys, cohort_name
from .records import CohortSettings, SettingsSource
from .runs import Run
from .store import Store

TUNED_FIELDS = ("expect", "view_share", "min_confidence", "by_score", "score_ranks")
# the score rule in words -> (by_score, score_ranks)
SCORE_RULES: dict[str, tuple[bool, int]] = {"support only": (False, 1), "ranker's first": (True, 1),
                                            "any above baseline": (True, 0)}


@dataclass
class OperatingOptions:
    """What :func:`tune` searches and how much evidence it needs."""

    min_reviews: int = 8
    expect: tuple[float, ...] = (0.4, 0.55, 0.7, 0.85, 1.0, 1.25)
    view_share: tuple[float, ...] = (0.0, 0.5, 0.7)
    min_confidence: tuple[float, ...] = (0.0, 0.1, 0.25, 0.4)
    score_rules: tuple[str, ...] = tuple(SCORE_RULES)
    folds: int = 5
    seed: int = 0

    def validate(self) -> None:
        if self.min_reviews < 2:
            raise ValueError("min_reviews must be at least 2 (a held-out estimate needs two products)")
        if self.folds < 2:
            raise ValueError("folds must be at least 2")
        bad = [r for r in self.score_rules if r not in SCORE_RULES]
        if bad:
            raise ValueError(f"unknown score rule {bad[0]!r}: one of {', '.join(SCORE_RULES)}")
        if not (self.expect and self.view_share and self.min_confidence and self.score_rules):
            raise ValueError("every setting needs at least one value to try")
        for v in (*self.expect, *self.view_share, *self.min_confidence):
            if v < 0:
                raise ValueError("setting values must be >= 0")

    def grid(self, base: SuggestConfig) -> list[SuggestConfig]:
        """Every combination, the defaults' own values included (so tuning never does worse than
        them in sample)."""
        d = base
        ex = sorted({*self.expect, d.expect})
        vs = sorted({*self.view_share, d.view_share})
        mc = sorted({*self.min_confidence, d.min_confidence})
        rules = list(dict.fromkeys([*self.score_rules, score_rule_of(d)]))
        return [replace(base, expect=float(e), view_share=float(v), min_confidence=float(m),
                        by_score=SCORE_RULES[r][0], score_ranks=SCORE_RULES[r][1])
                for e, v, r, m in _grid(ex, vs, rules, mc)]


def score_rule_of(cfg: SuggestConfig) -> str:
    if not cfg.by_score:
        return "support only"
    return "ranker's first" if cfg.score_ranks == 1 else (
        "any above baseline" if cfg.score_ranks == 0 else f"ranker's first {cfg.score_ranks}")


def settings_of(cfg: SuggestConfig) -> dict:
    """The tuned fields of a SuggestConfig (what a cohort's row stores)."""
    d = cfg.to_dict()
    return {k: d[k] for k in TUNED_FIELDS}


def settings_text(settings: dict) -> str:
    cfg = SuggestConfig.from_dict(settings)
    return (f"expect {cfg.expect:g}x, view share {cfg.view_share:g}, confidence floor {cfg.min_confidence:g}, "
            f"score rule: {score_rule_of(cfg)}")


def estimate_text(estimate: dict) -> str:
    """'tuned from N reviews: precision about P, recall about R' (the held-out figures)."""
    if not estimate:
        return ""
    p, r = estimate.get("precision"), estimate.get("recall")
    fmt = (lambda x: "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}")
    return f"tuned from {estimate.get('n_reviews', 0)} reviews: precision about {fmt(p)}, recall about {fmt(r)}"


# -- what a suggestion uses ---------------------------------------------------------------------

def current_settings(store: Store) -> dict[str, CohortSettings]:
    """cohort key -> the row in force, tuned ones only (a reset cohort is back on the defaults)."""
    return {k: s for k, s in store.cohort_settings().items() if s.source is SettingsSource.TUNED}


def settings_for(product, tuned: dict[str, CohortSettings],
                 base: SuggestConfig | None = None) -> tuple[SuggestConfig, CohortSettings | None]:
    """The settings a product's suggestion uses: its most specific cohort's tuned ones, else
    ``base`` (the defaults). Returns them and the row they came from (None: the defaults)."""
    base = base or SuggestConfig()
    for key in cohort_keys(dict(product)):
        s = tuned.get(key)
        if s is not None:
            return replace(base, **{k: v for k, v in s.settings.items() if k in TUNED_FIELDS}), s
    return base, None


def source_text(row: CohortSettings | None) -> str:
    """Where a suggestion's settings came from, in words (shown with the rule)."""
    if row is None:
        return "the defaults"
    return f"{cohort_name(row.cohort)}'s settings, {estimate_text(row.estimate)}"


def reset(store: Store, cohort: str, by: str | None = None, actor: Actor | str | None = None) -> CohortSettings:
    """Put a cohort back on the defaults (a 'reset' row; the history keeps the tuned ones).
    ``cohort``: its key ('Clothing|T-shirts') or its name ('Clothing / T-shirts'). ``actor``: who
    acts (an analyst at least: checked first, audited); a signed-in actor's name is the row's ``by``."""
    who = acting(store.data_dir, actor, Action.TUNE)   # refused before anything else is read
    key = cohort_key_of(store, cohort)
    with performing(store, who, Action.TUNE, f"cohort settings of {key}", {"reset": True}):
        by = who.name if who.signed_in else (by or who.name)
        return store.add_cohort_settings([CohortSettings(key, SettingsSource.RESET, settings_of(SuggestConfig()),
                                                         {}, None, by)])[0]


def cohort_key_of(store: Store, cohort: str) -> str:
    """A cohort given by key or by name -> its key (must be a cohort of the catalogue or stored)."""
    known = set(store.cohort_settings())
    for _, p in store.products().iterrows():
        known.update(cohort_keys(p.to_dict()))
    for key in known:
        if cohort in (key, cohort_name(key)):
            return key
    raise ValueError(f"no cohort {cohort!r}: give its name as `unposed cohorts` lists it "
                     "(e.g. 'Clothing / T-shirts')")


def cohort_table(store: Store, run: Run) -> pd.DataFrame:
    """Every cohort of the run with its settings in force and where they came from."""
    rows_in_force = store.cohort_settings()
    d = SuggestConfig()
    out = []
    for key, t in sorted(run.ranker.tables_.items(), key=lambda kv: (kv[0] != "*", kv[0])):
        row = rows_in_force.get(key)
        tuned = row is not None and row.source is SettingsSource.TUNED
        s = SuggestConfig.from_dict({**settings_of(d), **(row.settings if tuned else {})})
        est = row.estimate if tuned else {}
        source = str(row.source) if row is not None else str(SettingsSource.DEFAULTS)
        out.append({"cohort": cohort_name(key), "key": key, "level": t["level"],
                    "top_products": int(t["n_products"]), "source": source,
                    "settings": settings_text(settings_of(s)), "estimate": estimate_text(est),
                    "precision": est.get("precision"), "recall": est.get("recall"), "f1": est.get("f1"),
                    "default_f1": (est.get("default") or {}).get("f1"),
                    "n_reviews": est.get("n_reviews", 0), "tuned_on": row.run_id if tuned else None,
                    "by": row.by if row is not None else None,
                    "changed_at": row.created_at if row is not None else None,
                    **settings_of(s)})
    return pd.DataFrame(out)
