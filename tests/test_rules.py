"""Every domain rule has one home, and everything that shows or scores it agrees with it.

On the shared demo run (no training here): the Clusters page's cohort ranks are the ranker's
order; report rows, `unposed suggest --json` and the evaluation give the same missing poses;
the Suggester, the centroid table and `unposed describe` call a class the same; training,
suggestions and the evaluation assign an image the same class; a run records its backend's
identity and checks its files with the one file hash; run records keep their JSON format.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from unpose_core import app_tables
from unpose_core.catalog.selection import select_sets
from unpose_core.cli import main as cli_main
from unpose_core.config import SuggestConfig
from unpose_core.descriptions import describe_centroid, effective_descriptions
from unpose_core.groups import pose_groups
from unpose_core.images import content_hash
from unpose_core.outputs.report import report
from unpose_core.rank import DEFAULT_EXPECT, DEFAULT_SCORE_RANKS, ranked_classes
from unpose_core.records import CentroidInfo, Reference, RunInfo
from unpose_core.suggestions import Suggester, missing_groups, rank_cohort


@pytest.fixture(scope="module")
def subjects(demo_store, demo_run) -> list[str]:
    return select_sets(demo_store.products(), demo_store.images(), demo_run.config.selection).subject_ids


@pytest.fixture(scope="module")
def suggester(demo_store, demo_run):
    s = Suggester(demo_store, demo_run, n_references=1)
    yield s
    s.close()


def _product(store, pid: str) -> dict:
    return store.products().set_index("product_id").loc[pid].to_dict() | {"product_id": pid}


def _cli_json(capsys, data_dir, *args) -> dict | list:
    capsys.readouterr()
    assert cli_main([*args, "--json", "-q", "--data-dir", str(data_dir)]) == 0
    return json.loads(capsys.readouterr().out)


# -- ranking: rank.ranked_classes -------------------------------------------------------------

def test_clusters_page_ranks_are_the_suggestions_ranking_in_every_cohort(demo_store, demo_run):
    share = demo_run.config.min_cohort_share
    shown = app_tables.cohort_ranks(demo_run, demo_store)
    tables = demo_run.ranker.tables_
    groups = pose_groups(demo_store, demo_run)
    assert set(shown["cohort_key"]) == set(tables)
    for key in tables:
        # the page's rows are the suggestions' ranking of pose groups, one row per member class
        page = shown[shown["cohort_key"] == key].sort_values(["rank", "pose_class"])
        ranked = rank_cohort(demo_run, key, groups, SuggestConfig())
        assert page["pose_class"].tolist() == [c for r in ranked for c in sorted(r["members"])], key
        assert page.drop_duplicates("group")["expected"].tolist() == [r["expected"] for r in ranked], key
        assert sorted(set(page["rank"])) == list(range(1, len(ranked) + 1))
        # the ranker's class rule itself: a pose no top product shows ranks last; then by score;
        # expected means shown by at least DEFAULT_EXPECT x the cohort's typical support (the mean
        # support of the poses its top products show) and by the run's floor share, or scored
        # above the cohort's baseline (support-weighted mean score) and shown by 2+ top products,
        # among the ranker's first DEFAULT_SCORE_RANKS poses
        classes = pd.DataFrame(ranked_classes(tables[key], share))
        sup, score = classes["support"].to_numpy(), classes["score"].to_numpy()
        assert classes["rank"].tolist() == list(range(1, demo_run.n_classes + 1))
        assert not (np.diff((sup == 0).astype(int)) < 0).any(), key
        assert (np.diff(score[sup > 0]) <= 1e-12).all() and (np.diff(score[sup == 0]) <= 1e-12).all(), key
        threshold = max(DEFAULT_EXPECT * sup[sup > 0].mean(), share)
        ok = (sup > 0) & np.isfinite(score)
        baseline = (sup * score)[ok].sum() / sup[ok].sum()
        n = tables[key]["n_products"]
        first = DEFAULT_SCORE_RANKS or len(sup)   # the score rule reaches the ranker's first poses only
        assert classes["expected"].tolist() == [
            bool(s > 0 and (s >= threshold - 1e-12 or (i < first and v > baseline and s * n >= 2 - 1e-9
                                                         and s >= share)))
            for i, (s, v) in enumerate(zip(sup, score))], key
    # the centroid x cohort matrix of the Clusters page shows the same ranks
    matrix = app_tables.rank_matrix(demo_run, "subcategory", demo_store)
    sub = shown[shown["level"] == "subcategory"]
    for r in sub.itertuples():
        assert matrix.at[r.pose_class, r.cohort] == r.rank


def test_ranked_classes_puts_unshown_poses_last_whatever_their_score():
    table = {"score": [0.9, 0.5, float("nan"), 0.7, 0.8], "support": [0.0, 0.5, 0.5, 0.25, 0.0], "n_products": 4}
    rows = ranked_classes(table, min_share=0.3)
    assert [r["pose_class"] for r in rows] == [3, 1, 2, 0, 4]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5]
    assert [r["expected"] for r in rows] == [False, True, True, False, False]
    # calibrated: typical support (0.5 + 0.5 + 0.25) / 3; at 0.5 x typical the 25 % pose is expected too
    assert [r["expected"] for r in ranked_classes(table, expect=0.5)] == [True, True, True, False, False]
    # by score: class 3 (score 0.7) is above the baseline (0.57) but only one of 4 products shows it;
    # with 8 products (two show it) it is expected although its support is below the threshold
    assert [r["expected"] for r in ranked_classes(table, expect=1.0)] == [False, True, True, False, False]
    assert [r["expected"] for r in ranked_classes(table | {"n_products": 8}, expect=1.0)] == \
        [True, True, True, False, False]
    assert [r["expected"] for r in ranked_classes(table | {"n_products": 8}, expect=1.0, by_score=False)] == \
        [False, True, True, False, False]


# -- missing poses: suggestions.missing_groups ------------------------------------------------

def test_report_cli_and_evaluation_agree_on_missing_poses(demo_store, demo_run, demo_data_dir, subjects,
                                                          suggester, capsys):
    from unpose_core.coverage import centroid_distances
    from unpose_core.evaluation.labels import LabelSet
    from unpose_core.evaluation.protocol import Configuration, EvalOptions, _score_run
    from unpose_core.groups import pose_groups

    rep = report(demo_store, demo_run).set_index("product_id")
    assert list(rep.index) == subjects
    from_report = {pid: [int(c) for c in str(v).split()] if v == v and v != "" else []
                   for pid, v in rep["missing_classes"].items()}
    # the evaluation's answer for a whole listing ("reviewed" protocol), from its own code path
    images = demo_store.images()
    images = images.assign(label=None)
    labels = LabelSet(pd.Series(dtype=object), {pid: frozenset() for pid in subjects})
    trials = _score_run(demo_run, demo_store, {int(i): int(i) for i in images["image_id"]}, Configuration(), 0,
                        demo_store.products(), images, [], subjects, labels, EvalOptions(), [])
    from_eval = {t["product_id"]: [int(c) for c in t["missing_classes"].split()] for t in trials}
    assert set(from_eval) == set(subjects)
    groups = pose_groups(demo_store, demo_run)
    for pid in subjects:
        sug = suggester.for_product(pid)
        hashes = images.loc[images["product_id"] == pid, "content_hash"]
        poses = demo_store.poses(*demo_run.info.identity, hashes)
        rows = [poses.get(h) for h in hashes]
        d = centroid_distances(demo_run, rows)
        d = d[np.isfinite(d).all(axis=1)]
        direct = missing_groups(demo_run, _product(demo_store, pid), sug.present, d, groups,
                                 views=demo_run.describe(rows)).classes
        assert [m.pose_class for m in sug.missing] == direct == from_report[pid] == from_eval[pid], pid
    for pid in subjects[::6]:   # the CLI, in process (each call loads the run again)
        cli = _cli_json(capsys, demo_data_dir, "suggest", pid)
        assert [m["pose_class"] for m in cli["missing"]] == from_report[pid], pid
        assert [m["rank"] for m in cli["missing"]] == list(range(1, len(cli["missing"]) + 1))
        assert cli["cohort"] == rep.at[pid, "cohort"] and cli["present"] == suggester.for_product(pid).present


def test_hide_and_complete_trials_answer_as_the_suggester_does_for_the_kept_images(demo_store, demo_run,
                                                                                   suggester):
    """The evaluation's hide protocol keeps a few images of a listing; its answer is what the
    Suggester says for exactly those images (uploaded ad hoc into the product's cohort)."""
    from unpose_core.evaluation.labels import LabelSet
    from unpose_core.evaluation.protocol import Configuration, EvalOptions, _score_run, kept_subset

    products, images = demo_store.products(), demo_store.images().assign(label="x")
    n_img = images.groupby("product_id").size()
    options = EvalOptions(draws=2)
    picked = sorted(n_img[n_img >= options.keep_max + 1].index)[::15][:4]
    labels = LabelSet(pd.Series("x", index=images["image_id"].astype(int)), {})
    trials = _score_run(demo_run, demo_store, {int(i): int(i) for i in images["image_id"]}, Configuration(), 0,
                        products, images, picked, [], labels, options, [])
    hide = [t for t in trials if t["protocol"] == "hide"]
    assert len(hide) == len(picked) * options.draws
    for t in hide:
        pid, g = t["product_id"], images[images["product_id"] == t["product_id"]]
        kept = kept_subset(len(g), 0, t["draw"], pid, options.keep_min, options.keep_max)
        p = _product(demo_store, pid)
        sug = suggester.for_images(g["path"].iloc[kept].tolist(), p["category"], p["subcategory"],
                                   p["product_type"])
        assert t["missing_classes"] == " ".join(str(m.pose_class) for m in sug.missing), (pid, t["draw"])


# -- descriptions: descriptions.describe_centroid --------------------------------------------

@pytest.fixture
def described_store(demo_store, demo_data_dir, tmp_path):
    """A private data dir sharing the demo's run folders and images, with two descriptions."""
    from unpose_core.store import Store

    demo_store.backup(tmp_path)   # the database (a file copy would break this process's locks on it)
    for entry in demo_data_dir.iterdir():
        if entry.is_dir():
            (tmp_path / entry.name).symlink_to(entry, target_is_directory=True)
    store = Store(tmp_path)
    yield store
    store.close()


def test_every_surface_calls_a_class_the_same(described_store, demo_run, capsys):
    store = described_store
    store.set_description(demo_run.run_id, 0, "Model walking towards camera")
    store.set_description(demo_run.run_id, 1, "Back, arms crossed", "needs_review", "old-run:3")
    desc = store.descriptions(demo_run.run_id)
    expected = {c.id: desc[c.id].text if c.id in desc else c.auto_description for c in demo_run.centroids}
    assert effective_descriptions(demo_run, desc) == expected
    s = Suggester(store, demo_run, n_references=1)
    try:
        assert {c: s.describe(c) for c in expected} == expected
    finally:
        s.close()
    table = app_tables.centroid_table(store, demo_run).set_index("centroid")
    assert table["shown"].to_dict() == {c: describe_centroid(demo_run, desc, c, mark_auto=True) for c in expected}
    assert table.at[0, "shown"] == "Model walking towards camera"
    assert table.at[2, "shown"] == f"({demo_run.centroids[2].auto_description})"
    capsys.readouterr()
    assert cli_main(["describe", "--data-dir", str(store.data_dir)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if re.match(r"\s*\d+\s+size\s", line)]
    assert len(lines) == demo_run.n_classes
    for c, line in zip(expected, lines):
        assert describe_centroid(demo_run, desc, c, mark_auto=True) in line
    assert lines[1].endswith("[needs review]") and not lines[0].endswith("]")


# -- nearest centroid: PoseKMeans.nearest / Run.classify -------------------------------------

def test_run_classify_reproduces_the_training_assignment(demo_store, demo_run):
    ref = demo_run.reference
    poses = demo_store.poses(*demo_run.info.identity, ref["content_hash"])
    classes, dists = demo_run.classify([poses.get(h) for h in ref["content_hash"]])
    np.testing.assert_array_equal(classes, ref["pose_class"].to_numpy())
    np.testing.assert_allclose(dists, ref["distance"].to_numpy(), rtol=1e-5, atol=1e-6)


# -- a backend's identity and the one file hash ----------------------------------------------

def test_run_records_its_backend_identity_and_checks_it(demo_run):
    from unpose_core.pose import backend_identity, require_version

    assert demo_run.info.identity == backend_identity("blazepose") == backend_identity(
        demo_run.config.pose_options())

    class Stale:
        id, version, closed = "blazepose", "blazepose-0.0", False

        def close(self):
            self.closed = True

    stale = Stale()
    with pytest.raises(RuntimeError, match=f"trained with {re.escape(demo_run.info.backend_version)}.*retrain"):
        require_version(stale, demo_run.info.backend_version)
    assert stale.closed


def test_run_files_are_checked_with_the_one_file_hash(demo_run):
    for name, digest in demo_run.metadata["files"].items():
        assert content_hash(demo_run.path / name) == digest


# -- typed run records keep the JSON format on disk ------------------------------------------

def test_run_records_round_trip_their_json(demo_run):
    on_disk = json.loads((demo_run.path / "config.json").read_text())["info"]
    assert demo_run.info.to_dict() == on_disk and isinstance(demo_run.info, RunInfo)
    cents = json.loads((demo_run.path / "centroids.json").read_text())
    assert [c.to_dict() for c in demo_run.centroids] == cents
    assert all(isinstance(c, CentroidInfo) for c in demo_run.centroids)
    assert "mirror" not in cents[-1] and "profile" not in cents[-1]   # optional fields stay optional
    # an older or newer file: missing fields take defaults, unknown keys are kept as they are
    old = {k: v for k, v in on_disk.items() if k not in ("skeleton", "no_person_class")} | {"note": "x"}
    info = RunInfo.from_dict(old)
    assert info.skeleton == [] and info.k == demo_run.k and info.to_dict()["note"] == "x"


def test_suggestion_json_keeps_its_keys(demo_store, subjects, suggester):
    sug = suggester.for_product(subjects[0])
    ref = sug.missing[0].references[0]
    assert isinstance(ref, Reference)
    d = json.loads(json.dumps(sug.to_dict(), default=str))
    assert set(d) == {"run_id", "product_id", "title", "cohort", "cohort_level", "images", "present", "missing",
                      "status", "reason", "present_groups", "covered_groups", "expected_groups", "settings",
                      "duplicates", "notes", "completeness", "run_notes", "also"}
    assert set(d["missing"][0]) == {"pose_class", "rank", "score", "support", "description", "hint", "references",
                                    "group", "members", "support_low", "support_high", "relative", "closest",
                                    "closest_image", "confidence", "importance", "value", "why", "hint_edited"}
    assert set(d["missing"][0]["references"][0]) == {"product_id", "title", "path", "content_hash"}
    assert d["images"][0]["status"] in ("person", "no_person", "error")
    assert {"view", "flags", "flag_text", "duplicate_of"} <= set(d["images"][0])
    assert {"kind", "facing", "framing", "label", "flags"} <= set(d["images"][0]["view"])
