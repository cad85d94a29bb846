"""The batched catalogue report gives what one product at a time gives; store reads used at scale
return what the old paths returned (benchmarks/bench_store.py measures the time)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from unpose_core.catalog.selection import select_sets
from unpose_core.outputs.report import report
from unpose_core.suggestions import Suggester


def _same(a, b) -> bool:
    """Equal suggestions (NaN equal to NaN)."""
    return json.dumps(a.to_dict(), default=str, sort_keys=True) == json.dumps(b.to_dict(), default=str,
                                                                              sort_keys=True)


@pytest.fixture(scope="module")
def demo_ids(demo_store, demo_run) -> list[str]:
    """Every demo product, subject ones first (the report's own), so listings of all sizes count."""
    sel = select_sets(demo_store.products(), demo_store.images(), demo_run.config.selection)
    rest = [p for p in demo_store.products()["product_id"] if p not in set(sel.subject_ids)]
    assert sel.subject_ids and rest
    return sel.subject_ids + rest


def test_batched_suggestions_equal_one_at_a_time(demo_store, demo_run, demo_ids):
    s = Suggester(demo_store, demo_run, n_references=3)
    try:
        single = [s.for_product(p) for p in demo_ids]
        for batch in (3, 1000):   # several pose reads, and one
            batched = list(s.for_products(demo_ids, batch=batch))
            assert len(batched) == len(single)
            for p, b, o in zip(demo_ids, batched, single, strict=True):
                assert b.product_id == p
                assert _same(b, o), p
    finally:
        s.close()
    assert any(o.missing for o in single) and any(o.images for o in single)


def test_report_rows_match_per_product_suggestions(demo_store, demo_run, demo_ids):
    sel = select_sets(demo_store.products(), demo_store.images(), demo_run.config.selection)
    df = report(demo_store, demo_run)
    assert df["product_id"].tolist() == sel.subject_ids
    s = Suggester(demo_store, demo_run, n_references=3)
    try:
        for row, pid in zip(df.itertuples(index=False), sel.subject_ids, strict=True):
            o = s.for_product(pid)
            assert (row.status, row.reason, row.cohort, row.n_images) == (o.status, o.reason, o.cohort,
                                                                          len(o.images))
            assert row.missing_classes == " ".join(str(m.pose_class) for m in o.missing)
            assert row.missing_poses == "; ".join(f"{m.description} ({m.confidence:.2f})" for m in o.missing)
            assert row.missing_examples == " | ".join(" ".join(r.path for r in m.references) for m in o.missing)
            assert row.missing_hints == " | ".join(m.hint for m in o.missing)
            assert (row.completeness == o.completeness) or (pd.isna(row.completeness) and o.completeness is None)
    finally:
        s.close()


def test_batched_reads_poses_once_per_batch(demo_store, demo_run, demo_ids, monkeypatch):
    s = Suggester(demo_store, demo_run, n_references=3)
    calls = []
    real = demo_store.poses

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(demo_store, "poses", counting)
    try:
        out = list(s.for_products(demo_ids, batch=4))
    finally:
        s.close()
    assert len(out) == len(demo_ids)
    assert len(calls) == -(-len(demo_ids) // 4)


def test_unknown_product_is_a_key_error(demo_store, demo_run, demo_ids):
    s = Suggester(demo_store, demo_run)
    try:
        with pytest.raises(KeyError, match="no product 'nope'"):
            list(s.for_products([demo_ids[0], "nope"]))
    finally:
        s.close()


# -- store reads on a small synthetic store -------------------------------------------------------

@pytest.fixture()
def small_store(tmp_path):
    from unpose_core.records import PoseRow, Status
    from unpose_core.store import Store

    rng = np.random.default_rng(1)
    counts = rng.integers(1, 8, 40)
    pids = np.repeat([f"p{i:03d}" for i in range(len(counts))], counts)
    n = len(pids)
    products = pd.DataFrame({"product_id": [f"p{i:03d}" for i in range(len(counts))], "title": "t",
                             "category": "Clothing", "subcategory": "Tops", "product_type": "Shirt",
                             "avg_rating": 4.0, "n_ratings": 3, "attrs": "{}"})
    hashes = [f"h{i % (n - 5):05d}" for i in range(n)]   # a few contents shown twice
    images = pd.DataFrame({"product_id": pids, "position": np.concatenate([np.arange(c) for c in counts]),
                           "path": [f"/x/{i}.jpg" for i in range(n)], "rel_path": [f"{i}.jpg" for i in range(n)],
                           "content_hash": hashes, "width": 10, "height": 10, "pose_label": None, "attrs": "{}"})
    store = Store(tmp_path)
    store.replace_catalogue(products, images, pd.DataFrame(columns=["row", "product_id", "kind", "detail"]), "t")
    lm = rng.random((33, 4)).astype(np.float32)
    rows = [PoseRow(h, Status.PERSON if i % 3 else Status.ERROR, lm if i % 3 else None, 10, 10, 0.5,
                    None if i % 3 else "bad", {}) for i, h in enumerate(sorted(set(hashes))[:-4])]
    store.put_poses("b", "1", rows)
    yield store
    store.close()


def test_missing_poses_after_partial_cache(small_store):
    images = small_store.images()
    done = set(small_store.poses("b", "1"))
    missing = small_store.missing_poses("b", "1")
    expect = images[~images["content_hash"].isin(done)].groupby("content_hash", sort=False)["path"].min()
    assert sorted(missing["content_hash"]) == sorted(expect.index) and len(missing) == 4
    assert dict(zip(missing["content_hash"], missing["path"])) == expect.to_dict()
    assert len(small_store.missing_poses("b", "2")) == images["content_hash"].nunique()


def test_counts_in_sql_equal_the_frames(small_store):
    images = small_store.images()
    assert small_store.n_images() == len(images)
    assert small_store.image_counts() == images.groupby("product_id").size().to_dict()
    n, last = small_store._one("SELECT COUNT(*), MAX(created_at) FROM poses")   # the query it replaced
    assert small_store.pose_cache_version() == f"{n}|{last}"


def _na(df: pd.DataFrame) -> pd.DataFrame:
    """Missing values as None (a column that is all NULL reads as object None, a filtered one as NaN)."""
    return df.astype(object).where(df.notna(), None)


@pytest.mark.parametrize("status", ["error", "person", "pending"])
def test_image_status_of_one_status(small_store, status):
    full = small_store.image_status("b", "1")
    one = small_store.image_status("b", "1", status=status)
    expect = full[full["status"] == status].reset_index(drop=True)
    assert len(expect) and len(expect) < len(full)
    pd.testing.assert_frame_equal(_na(one), _na(expect), check_dtype=False)


@pytest.mark.parametrize("backend", [("b", "1"), ("b", "2"), (None, None)])
def test_catalogue_summary_and_failed_equal_the_per_image_tables(small_store, backend):
    """catalogue_summary / failed_images counted in SQL equal what the per-image status table gives."""
    from unpose_core import app_tables
    from unpose_core.config import SelectionConfig

    sel_cfg = SelectionConfig(min_images=4, top_k=5, subject_max_images=3)
    got = app_tables.catalogue_summary(small_store, sel_cfg, *backend)
    status = small_store.image_status(*backend)
    counts = status["status"].value_counts().to_dict()
    sel = select_sets(small_store.products(), small_store.images(), sel_cfg)
    assert got["images"] == len(status) and got["products"] == len(small_store.products())
    assert (got["reference_ids"], got["subject_ids"]) == (sel.reference_ids, sel.subject_ids)
    assert got["reference_ids"] and got["subject_ids"]
    for key, st in (("person", "person"), ("no_person", "no_person"), ("failed", "error"), ("pending", "pending")):
        assert got[key] == counts.get(st, 0), key
    failed = app_tables.failed_images(small_store, *backend)
    expect = status.loc[status["status"] == "error", ["product_id", "rel_path", "error"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(_na(failed), _na(expect), check_dtype=False)
    assert len(failed) == (len(expect) if backend == ("b", "1") else 0)


def test_catalogue_summary_is_kept_until_the_catalogue_or_poses_change(small_store, monkeypatch):
    from unpose_core import app_tables
    from unpose_core.records import PoseRow, Status

    first = app_tables.catalogue_summary(small_store, None, "b", "1")
    calls = []
    real = small_store.pose_counts
    monkeypatch.setattr(small_store, "pose_counts", lambda *a: calls.append(a) or real(*a))
    again = app_tables.catalogue_summary(small_store, None, "b", "1")
    assert again == first and not calls   # nothing counted again
    again["subject_ids"].clear()          # a caller changing its copy changes nothing kept
    assert app_tables.catalogue_summary(small_store, None, "b", "1") == first
    pending = small_store.missing_poses("b", "1")["content_hash"].tolist()
    small_store.put_poses("b", "1", [PoseRow(h, Status.NO_PERSON, None, 10, 10, 0.0, None, {}) for h in pending])
    after = app_tables.catalogue_summary(small_store, None, "b", "1")
    assert calls and after["pending"] == 0 and after["no_person"] == first["pending"]
    failed = app_tables.failed_images(small_store, "b", "1")
    monkeypatch.setattr(small_store, "image_status", lambda *a, **k: pytest.fail("counted again"))
    pd.testing.assert_frame_equal(app_tables.failed_images(small_store, "b", "1"), failed)
    monkeypatch.undo()
    images, products = small_store.images(), small_store.products()
    small_store.replace_catalogue(products, images.iloc[:10], small_store.import_problems(), "smaller")
    assert app_tables.catalogue_summary(small_store, None, "b", "1")["images"] == 10
