"""Rules people read in several places have one home each: the cohort's name, the suggestion
rule in words, a training result's JSON."""
from __future__ import annotations

import re
from pathlib import Path

from unpose_core.config import SuggestConfig
from unpose_core.rank import cohort_keys, cohort_name

ROOT = Path(__file__).resolve().parents[1]
CODE = [*sorted((ROOT / "unpose_core").rglob("*.py")), *sorted((ROOT / "ui").glob("*.py")),
        *sorted((ROOT / "pages").glob("*.py")), ROOT / "app.py"]


def test_cohort_name_reads_a_cohort_key():
    keys = cohort_keys({"category": "Clothing", "subcategory": "T-shirts", "product_type": "Polo"})
    assert [cohort_name(k) for k in keys] == ["Clothing / T-shirts / Polo", "Clothing / T-shirts", "Clothing",
                                              "all products"]


def test_no_copy_of_the_cohort_name_rule():
    """The key -> name rule ('|' -> ' / ', '*' -> 'all products') is written once, in rank.py."""
    rule = re.compile(r"""replace\(\s*["']\|["']\s*,\s*["'] / ["']\s*\)""")
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in CODE
            for i, line in enumerate(p.read_text().splitlines(), 1) if rule.search(line)]
    assert hits == ["unpose_core/rank.py:" + str(next(
        i for i, line in enumerate((ROOT / "unpose_core/rank.py").read_text().splitlines(), 1) if rule.search(line)))]


def test_the_app_and_the_cli_show_one_rule_text():
    from ui.suggestion_view import rule_text

    for cfg in (SuggestConfig(), SuggestConfig(min_share=0.3, min_confidence=0.2, view_share=0, by_score=False,
                                               coverage_percentile=0), SuggestConfig(score_ranks=0)):
        text = cfg.rule_text()
        assert rule_text(cfg.to_dict()) == f"Rule: {text}."
        assert f"{cfg.expect:g} × the cohort's typical support" in text
        assert ("requests below confidence" in text) == bool(cfg.min_confidence)
        assert ("facing and framing" in text) == bool(cfg.view_share)
        assert (cfg.score_text() in text) if cfg.by_score else "ranker" not in text
    assert "only its nearest pose" in SuggestConfig(coverage_percentile=0).rule_text()
