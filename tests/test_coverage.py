"""Coverage has one home (``coverage``) and ranking one entry point (``suggestions.rank_cohort``):

- on 500 random listings of the demo (random subsets of its images, some with a copy, under
  random cohorts), what the completeness score counts as covered is the union of the images'
  ``covers`` and exactly what the missing-pose rule treats as covered;
- the Clusters page's expected poses (``app_tables.cohort_ranks``) are the suggestions' in
  every cohort, with an analyst's exclude and desirable marks applied;
- ``PoseKMeans.transform`` gives the distances the nearest-centroid rule measures.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import copy_data_dir

from unpose_core import app_tables
from unpose_core import groups as grp
from unpose_core.config import SuggestConfig
from unpose_core.coverage import completeness_score, covered_classes, image_covers
from unpose_core.listing import read_listing
from unpose_core.suggestions import Suggester, missing_groups, rank_cohort


def test_transform_is_the_nearest_centroid_distance(demo_store, demo_run):
    rows = list(demo_store.poses(*demo_run.info.identity, demo_run.reference["content_hash"][:60]).values())
    idx, X = demo_run.person_space(rows)
    assert idx
    d = demo_run.kmeans.transform(X)
    assert d.shape == (len(idx), demo_run.k)
    near, dist = demo_run.kmeans.nearest(X)
    np.testing.assert_array_equal(d.argmin(axis=1), near)
    np.testing.assert_allclose(d.min(axis=1), dist, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="dims"):
        demo_run.kmeans.transform(X[:, :-1])


def test_500_random_listings_cover_what_the_rule_and_the_score_count(demo_store, demo_run):
    rng = np.random.default_rng(20)
    s = Suggester(demo_store, demo_run, n_references=1)
    images = s.images.reset_index(drop=True)
    products = s.products.reset_index(drop=True)
    groups = s.groups()
    poses = demo_store.poses(*demo_run.info.identity, images["content_hash"])
    cfgs = [SuggestConfig(), SuggestConfig(coverage_percentile=90, view_share=0.3), SuggestConfig(view_share=0),
            SuggestConfig(coverage_percentile=0)]
    seen = {"flagged": 0, "copy": 0, "soft_or_view": 0, "missing": 0}
    try:
        for n in range(500):
            cfg = cfgs[n % len(cfgs)]
            size = int(rng.integers(1, 7))
            pick = rng.choice(len(images), size=size, replace=False).tolist()
            if rng.random() < 0.15:
                pick.append(pick[0])                                   # a copy of its first photo
            prod = products.iloc[int(rng.integers(len(products)))]
            cohort = {"category": prod["category"], "subcategory": prod["subcategory"],
                      "product_type": prod["product_type"] if rng.random() < 0.7 else None}
            sug = s.for_images(images.loc[pick, "path"].tolist(), **cohort, config=cfg)
            union = set().union(*(set(a.covers) for a in sug.images))
            # the score's covered set = the union of the images' covers = the rule's covered set
            assert set(sug.covered_groups) == union, n
            assert sug.completeness == completeness_score(sug.expected_groups, union), n
            # ... and the rule itself, asked directly with the listing's usable images, agrees
            lst = read_listing(demo_run, [poses.get(h) for h in images.loc[pick, "content_hash"]])
            present, d, views, _ = lst.rule_input()
            m = missing_groups(demo_run, cohort, present, d, groups, cfg, views)
            assert set(groups.of_classes(covered_classes(demo_run, present, d, cfg, views))) == union, n
            assert set(m.covered) == union, n
            # never a request for a covered pose; every expected pose not covered is asked for
            # (confidence cut-off 0), or its mirror partner is
            asked = {x.group for x in sug.requests}
            assert not asked & union, n
            asked_members = {c for x in sug.requests for c in x.members}
            for g in set(sug.expected_groups) - union:
                assert g in asked or demo_run.covered(groups.get(g).members) & asked_members, (n, g)
            # a copy covers nothing; any other photo (a flagged one too) at least its own pose
            for i, a in enumerate(sug.images):
                seen["flagged"] += bool(a.flags)
                if a.duplicate_of is not None:
                    assert a.covers == [], n
                    seen["copy"] += 1
                elif a.pose_class is not None:
                    assert a.group in a.covers, n
                    own = image_covers(demo_run, a.pose_class, lst.distances[i] if lst.person[i] else None,
                                       lst.views[i], cfg)
                    assert sorted(groups.of_classes(own)) == a.covers, n
                    seen["soft_or_view"] += len(a.covers) > 1
            seen["missing"] += bool(sug.missing)
    finally:
        s.close()
    # the listings exercised every part: copies, flagged photos, soft or view coverage, requests
    assert min(seen.values()) > 0, seen


@pytest.fixture(scope="module")
def marked(demo_data_dir, tmp_path_factory):
    """A copy of the demo with an exclude mark on a pose expected somewhere and a desirable mark
    on a pose not expected somewhere."""
    from unpose_core.runs import active_run
    from unpose_core.store import Store

    store = Store(copy_data_dir(demo_data_dir, tmp_path_factory.mktemp("marked") / "data"))
    run = active_run(store)
    before = app_tables.cohort_ranks(run, store)
    counts = before[before["pose_class"] < run.k].groupby("pose_class")["expected"].sum()
    excluded = int(counts.idxmax())
    groups = grp.pose_groups(store, run)
    desirable = int(next(c for c in counts.sort_values().index
                         if groups.group_of(c) != groups.group_of(excluded)))
    grp.exclude(store, run, excluded, "test: junk")
    grp.mark_desirable(store, run, desirable)
    yield store, run, excluded, desirable, before
    store.close()


def test_clusters_page_expects_what_suggestions_expect_with_marks(marked):
    store, run, excluded, desirable, before = marked
    assert before[before["pose_class"] == excluded]["expected"].any()          # the marks change something
    assert not before[before["pose_class"] == desirable]["expected"].all()
    page = app_tables.cohort_ranks(run, store)
    assert not page[page["pose_class"] == excluded]["expected"].any()          # excluded: never expected
    assert page[page["pose_class"] == desirable]["expected"].all()             # desirable: always
    groups = grp.pose_groups(store, run)
    s = Suggester(store, run, n_references=1)
    try:
        checked = set()
        for pid in s.products["product_id"]:
            sug = s.for_product(pid)
            rows = page[page["cohort_key"] == sug.cohort].sort_values(["rank", "pose_class"])
            assert rows.drop_duplicates("group").query("expected")["group"].tolist() == sug.expected_groups, pid
            assert groups.group_of(excluded) not in sug.expected_groups
            assert groups.group_of(desirable) in sug.expected_groups
            checked.add(sug.cohort)
        # every cohort the page shows ranks as the rule ranks it
        for key in run.ranker.tables_:
            want = [r["group"] for r in rank_cohort(run, key, groups, SuggestConfig()) if r["expected"]]
            got = page[page["cohort_key"] == key].sort_values(["rank", "pose_class"]).drop_duplicates("group")
            assert got.query("expected")["group"].tolist() == want, key
    finally:
        s.close()
    assert len(checked) >= 3
