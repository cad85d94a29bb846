"""The order of the requests: highest expected value (the pose's importance for the cohort x the
share of its top listings showing it x the request's confidence) first, the weak ones in "also
worth trying" below the main list, on every surface (Suggestion, JSON, report CSV, CLI); and the
order's own metrics (precision@k)."""
from __future__ import annotations

import pytest

from unpose_core.config import SuggestConfig
from unpose_core.coverage import rank_weight
from unpose_core.evaluation.metrics import order_counts, precision_at
from unpose_core.outputs.report import report
from unpose_core.suggestions import Suggester
from unpose_core.suggestions.rule import RANK_POWER, expected_value, importance


def test_precision_at_k_counts():
    assert precision_at({"a", "b"}, ["c", "a", "b"], 1) == (0, 1)
    assert precision_at({"a", "b"}, ["c", "a", "b"], 3) == (2, 3)
    assert precision_at({"a"}, [], 3) == (0, 0)            # asking for nothing adds nothing
    assert order_counts({"a"}, ["a", "x"], "_main") == {"hit1_main": 1, "n1_main": 1, "hit3_main": 1, "n3_main": 2}


def test_expected_value_weighs_place_share_and_confidence():
    assert expected_value(1, 0.03) < expected_value(4, 1.0) == pytest.approx(importance(4))
    assert importance(1) == 1 and importance(4) == pytest.approx(rank_weight(4) ** RANK_POWER)
    assert importance(4) > rank_weight(4)
    assert expected_value(2, 0.5, 0.8) == pytest.approx(importance(2) * 0.5 * 0.8)
    # a pose every top listing shows leads one the ranker puts first but fewer show
    assert expected_value(3, 1.0, 1.0) > expected_value(1, 1.0, 0.6)
    assert expected_value(1, 1.0, 0.8) > expected_value(3, 1.0, 1.0)


@pytest.fixture(scope="module")
def subject_suggestions(demo_store, demo_run):
    from unpose_core.catalog.selection import select_sets

    subjects = select_sets(demo_store.products(), demo_store.images(), demo_run.config.selection).subject_ids
    s = Suggester(demo_store, demo_run, n_references=1)
    try:
        yield {pid: s.for_product(pid) for pid in subjects}
    finally:
        s.close()


def test_no_weak_request_leads_a_sure_one_on_any_demo_subject(subject_suggestions):
    floor = SuggestConfig().also_below
    n_also = n_moved = 0
    for pid, sug in subject_suggestions.items():
        asked = sug.requests
        assert [m.rank for m in asked] == list(range(1, len(asked) + 1)), pid
        # the first request is never under the floor while one above it comes further down
        if asked and asked[0].confidence < floor:
            assert all(m.confidence < floor for m in asked), pid
        # the main list: every request above the floor, none expected only for the ranker's score;
        # each part highest expected value first
        assert all(m.confidence >= floor and "ranker scores it" not in m.why for m in sug.missing), pid
        assert all(m.confidence < floor or "ranker scores it" in m.why for m in sug.also), pid
        for part in (sug.missing, sug.also):
            values = [m.value for m in part]
            assert values == sorted(values, reverse=True), pid
            # (the demo has no desirable marks: a marked pose would count as needed, share 1)
            assert all(m.value == pytest.approx(m.importance * m.confidence * m.support) for m in part), pid
        n_also += len(sug.also)
        n_moved += bool(sug.also and sug.missing)
        d = sug.to_dict()                 # the JSON keeps the two parts apart, in order
        assert [x["group"] for x in d["missing"]] == [m.group for m in sug.missing], pid
        assert [x["group"] for x in d["also"]] == [m.group for m in sug.also], pid
    assert n_also and n_moved            # the demo has weak requests, and they no longer lead


def test_report_top_missing_is_the_main_lists_first(demo_store, demo_run, subject_suggestions):
    rep = report(demo_store, demo_run, list(subject_suggestions)).set_index("product_id")
    for pid, sug in subject_suggestions.items():
        row = rep.loc[pid]
        assert row["top_missing"] == (sug.missing[0].description if sug.missing else ""), pid
        assert row["n_missing"] == len(sug.missing) and row["n_also"] == len(sug.also), pid
        assert row["also_worth_trying"] == "; ".join(f"{m.description} ({m.confidence:.2f})" for m in sug.also)
        if sug.missing:
            assert row["top_confidence"] >= SuggestConfig().also_below
