"""Pose groups and analyst marks: hand-built runs with known answers (same description, mirror
pair, merge, split, exclude, desirable), merge proposals accepted and rejected, the CLI, and
groups + marks surviving K=10 -> 4 -> 10 on a copy of the demo data dir."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import copy_data_dir

from unpose_core import groups as grp
from unpose_core.cli import main as cli_main
from unpose_core.cluster import PoseKMeans
from unpose_core.config import TrainConfig
from unpose_core.records import (
    Anchor,
    CentroidInfo,
    CentroidKind,
    Description,
    DescriptionStatus,
    GroupMark,
    MarkKind,
    RunInfo,
    UnplacedLabel,
)
from unpose_core.runs import Run, active_run, get_run
from unpose_core.store import Store
from unpose_core.training import train


def hand_run(autos: list[str], mirrors: dict[int, int] | None = None, mirror_equivalent: bool = True,
             centres=None, run_id: str = "hand") -> Run:
    """A run with pose centroids 0..K-1 called ``autos`` (automatic descriptions) and the
    no-person class K; centres in a 2-D standardised space."""
    k = len(autos)
    centres = np.zeros((k, 2), np.float32) if centres is None else np.asarray(centres, np.float32)
    d = centres.shape[1]
    km = PoseKMeans.from_state({"centroids": centres, "centroids_scaled": centres,
                                "mean": np.zeros(d, np.float32), "scale": np.ones(d, np.float32)})
    cents = [CentroidInfo(i, CentroidKind.POSE, 10, 5, a, profile=[float(i)] * 3, mirror=(mirrors or {}).get(i))
             for i, a in enumerate(autos)]
    cents.append(CentroidInfo(k, CentroidKind.NO_PERSON, 3, 2, "No person"))
    info = RunInfo("hand", "1", k=k, no_person_class=k, embedding_dim=d, space_dim=d)
    ref = pd.DataFrame(columns=["image_id", "product_id", "content_hash", "status", "pose_class", "distance"])
    return Run(run_id, Path("."), TrainConfig(k=k, mirror_equivalent=mirror_equivalent), info, km, None, ref, cents)


def members(groups) -> list[tuple[int, ...]]:
    return [g.members for g in groups.groups]


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "data")
    yield s
    s.close()


# -- grouping: known answers ---------------------------------------------------------------------

def test_same_description_is_one_group():
    run = hand_run(["Full body, front", "Full body,  FRONT", "Full body, back"])
    g = grp.build_groups(run, {})
    assert members(g) == [(0, 1), (2,), (3,)]
    assert g.get(0).label == "Full body, front" and g.group_of(1) == 0 and g.group_of(3) == 3
    # a human description joins a centroid to the group of the same text, and names it
    g = grp.build_groups(run, {2: "Full body, front"})
    assert members(g) == [(0, 1, 2), (3,)]
    g = grp.build_groups(run, {1: "Walking, front"})
    assert members(g) == [(0,), (1,), (2,), (3,)] and g.get(1).label == "Walking, front"
    g = grp.build_groups(run, {1: "Walking", 2: "walking"})   # first human text names the group
    assert members(g) == [(0,), (1, 2), (3,)] and g.get(1).label == "Walking"


def test_mirror_pair_is_one_pose_whether_one_or_both_sides_are_missing():
    run = hand_run(["Side view, facing left", "Side view, facing right", "Front"], mirrors={0: 1, 1: 0})
    g = grp.build_groups(run, {})
    assert members(g) == [(0, 1), (2,), (3,)]
    assert g.of_classes([0]) == g.of_classes([1]) == g.of_classes([0, 1]) == {0}
    assert g.of_classes([2, -1, 99]) == {2}
    # a one-way mirror relation still joins; without mirror equivalence the sides stay apart
    assert members(grp.build_groups(hand_run(["a", "b", "c"], mirrors={2: 0}), {})) == [(0, 2), (1,), (3,)]
    assert members(grp.build_groups(hand_run(["a", "b"], mirrors={0: 1}, mirror_equivalent=False), {})) == \
        [(0,), (1,), (2,)]


def test_merge_split_exclude_desirable_marks():
    run = hand_run(["a", "b", "c", "d", "d"], mirrors={0: 1})
    M = MarkKind
    assert members(grp.build_groups(run, {})) == [(0, 1), (2,), (3, 4), (5,)]
    merge = [GroupMark(M.MERGE, 2, 3)]
    assert members(grp.build_groups(run, {}, merge)) == [(0, 1), (2, 3, 4), (5,)]
    # split: out of the description group and the mirror pair, into a group of its own
    assert members(grp.build_groups(run, {}, [GroupMark(M.SPLIT, 4)])) == [(0, 1), (2,), (3,), (4,), (5,)]
    assert members(grp.build_groups(run, {}, [GroupMark(M.SPLIT, 1)])) == [(0,), (1,), (2,), (3, 4), (5,)]
    # an explicit merge still joins a split centroid
    assert members(grp.build_groups(run, {}, [GroupMark(M.SPLIT, 4), GroupMark(M.MERGE, 2, 4)])) == \
        [(0, 1), (2, 4), (3,), (5,)]
    # exclude: the centroid leaves its group for an excluded one; the no-person class may be excluded
    g = grp.build_groups(run, {}, merge + [GroupMark(M.EXCLUDE, 4), GroupMark(M.EXCLUDE, 5)])
    assert [(x.members, x.excluded) for x in g.groups] == [((0, 1), False), ((2, 3), False), ((4,), True),
                                                           ((5,), True)]
    # desirable: the whole group of a marked centroid
    g = grp.build_groups(run, {}, merge + [GroupMark(M.DESIRABLE, 3)])
    assert [(x.members, x.desirable) for x in g.groups] == [((0, 1), False), ((2, 3, 4), True), ((5,), False)]
    # the no-person class is never merged with a pose
    assert members(grp.build_groups(run, {}, [GroupMark(M.MERGE, 2, 5)])) == [(0, 1), (2,), (3, 4), (5,)]
    assert grp.build_groups(run, {}).to_dict()["groups"][0] == \
        {"id": 0, "members": [0, 1], "label": "a", "desirable": False, "excluded": False,
         "reasons": ["mirror pair (one pose facing left and right)"]}


def test_groups_say_why_and_a_merge_name_labels_the_group(store):
    run = hand_run(["Full body, front", "Full body, front", "Sitting", "Back", "Detail"], mirrors={3: 4})
    store.add_run(run.run_id, "runs/hand", "hand", run.k, {}, {})
    g = grp.pose_groups(store, run)
    assert g.get(0).reasons == ("same description “Full body, front”",)
    assert g.get(3).reasons == ("mirror pair (one pose facing left and right)",) and g.get(2).reasons == ()
    g = grp.merge(store, run, [0, 2], "ana", "  Standing   or sitting ")
    assert g.get(0).members == (0, 1, 2) and g.get(0).label == "Standing or sitting"   # the name, not a member's
    assert any(r.startswith("merged as “Standing or sitting” by ") and "ana" in r and r.endswith("UTC")
               for r in g.get(0).reasons)
    assert [m.note for m in store.group_marks(run.run_id) if m.kind is MarkKind.MERGE] == ["Standing or sitting"]
    hist = store.group_mark_history(run.run_id)
    assert "Standing or sitting" in set(hist["note"])                     # kept in the history too
    # a later merge into the group may rename it; the latest name wins
    g = grp.merge(store, run, [1, 3], "bo", "Any full body")
    assert g.get(0).label == "Any full body" and g.get(0).members == (0, 1, 2, 3, 4)


def test_marks_in_words_with_reason_author_time_and_descriptions_not_numbers(store):
    run = hand_run(["Full body, front", "Sitting", "Back"])
    store.add_run(run.run_id, "runs/hand", "hand", run.k, {}, {})
    grp.exclude(store, run, 1, "junk", "bo")
    row = next(r for r in grp.group_rows(store, run) if r["group"] == 1)
    (words,) = row["marks"]
    assert words.startswith("Excluded “Sitting” — junk — by ") and "bo" in words and words.endswith("UTC")
    assert "1" not in words.split(" — ")[0]                  # no centroid number: retrains renumber
    store.write_labels(run.run_id, [Description(1, "Kneeling", DescriptionStatus.OK, "bo")])
    assert next(r for r in grp.group_rows(store, run) if r["group"] == 1)["marks"][0].startswith("Excluded “Kneeling”")


def test_a_description_that_names_a_group_mate_too_is_found(store):
    run = hand_run(["Back", "Back", "Sitting", "Side"], mirrors={2: 3})
    store.add_run(run.run_id, "runs/hand", "hand", run.k, {}, {})
    assert grp.also_named(store, run, 0, "Back view") == []        # new words take it out of the "Back" group
    grp.merge(store, run, [0, 1], "ana")                           # merged without a name
    assert grp.also_named(store, run, 0, "Back view") == [1]       # its merged mate is called so too
    assert grp.also_named(store, run, 2, "Seated") == [3]          # its mirror partner too
    assert grp.also_named(store, run, 0, "Sitting") == [1, 2, 3]   # joins the Sitting group
    store.write_labels(run.run_id, [Description(1, "Back, far", DescriptionStatus.OK, "x")])
    assert grp.also_named(store, run, 0, "Back view") == []        # its mate has words of its own now


def undo(store, run):
    from unpose_core.changes import undo_last
    undo_last(store, run, "ana")
    return grp.pose_groups(store, run)


def test_undo_takes_back_the_last_change_and_undo_twice_redoes(store):
    run = hand_run(["a", "b", "c", "d"])
    store.add_run(run.run_id, "runs/hand", "hand", run.k, {}, {})
    with pytest.raises(ValueError, match="no pose-group change"):
        undo(store, run)
    grp.merge(store, run, [0, 1], "ana", "Front")
    grp.exclude(store, run, 2, "junk", "ana")
    assert "Excluded “c” — junk" in grp.describe_change(grp.last_change(store, run), run, {})
    g = undo(store, run)
    assert not g.get(2).excluded and g.get(0).label == "Front"
    g = undo(store, run)                          # undoing the undo excludes it again
    assert g.get(2).excluded
    assert g.get(0).members == (0, 1)
    # split chains: its cleared merges come back on undo
    grp.split(store, run, 1, "ana")
    assert grp.pose_groups(store, run).get(1).members == (1,)
    g = undo(store, run)
    assert g.get(0).members == (0, 1) and g.get(0).label == "Front"


def test_marks_through_the_store_with_append_only_history(store):
    run = hand_run(["a", "b", "c", "d", "e"])
    store.add_run(run.run_id, "runs/hand", "hand", run.k, {}, {})
    g = grp.merge(store, run, [0, 1])
    g = grp.merge(store, run, [1, 2])
    assert members(g)[0] == (0, 1, 2)
    # split the middle of a chain of merges: the other two stay one pose
    g = grp.split(store, run, 1)
    assert members(g) == [(0, 2), (1,), (3,), (4,), (5,)]
    assert {(m.kind, m.centroids) for m in store.group_marks(run.run_id)} == \
        {(MarkKind.SPLIT, (1,)), (MarkKind.MERGE, (0, 2))}
    g = grp.exclude(store, run, 3, "junk")
    assert g.get(3).excluded and grp.exclude(store, run, 3, undo=True).get(3).excluded is False
    g = grp.mark_desirable(store, run, 2)
    assert g.get(0).desirable and g.get(0).members == (0, 2)
    g = grp.mark_desirable(store, run, 0, undo=True)          # undo on any member clears the group
    assert not g.get(0).desirable
    with pytest.raises(ValueError, match="without a person"):
        grp.merge(store, run, [0, run.no_person_class])
    with pytest.raises(ValueError, match="within 0..5"):
        grp.exclude(store, run, 9)
    with pytest.raises(ValueError, match="two different"):
        grp.merge(store, run, [2, 2])
    hist = store.group_mark_history(run.run_id)
    assert list(hist["action"]).count("set") >= 6 and list(hist["action"]).count("clear") >= 3
    assert len(hist) == len(store.group_mark_history())   # nothing of it ever deleted
    assert store.labels_version(run.run_id) > 0


# -- merge proposals ----------------------------------------------------------------------------

def _blob_split(rng, n=4000):
    """One normal blob cut in two by K-Means (the sign of x): members and the two centres."""
    X = rng.normal(size=(n, 2))
    a, b = X[X[:, 0] < 0], X[X[:, 0] >= 0]
    return a, b, a.mean(axis=0), b.mean(axis=0)


def test_separation_of_one_blob_cut_in_two_is_below_the_default():
    a, b, ca, cb = _blob_split(np.random.default_rng(0))
    sep = grp.separation(a, b, ca, cb)
    assert 1.75 < sep < grp.DEFAULT_SEPARATION        # ~1.88 in theory
    # two poses 4 sigma apart are far above it
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(500, 2)), rng.normal(size=(500, 2)) + [4, 0]
    assert grp.separation(x, y, x.mean(axis=0), y.mean(axis=0)) > 2.6
    assert np.isnan(grp.separation(x[:1], y, x[0], y.mean(axis=0)))


def test_merge_proposals_accepted_and_rejected(store):
    rng = np.random.default_rng(0)
    a, b, ca, cb = _blob_split(rng)
    far = rng.normal(size=(300, 2)) + [8, 8]
    far2 = rng.normal(size=(300, 2)) + [-8, 8]
    run = hand_run(["front", "front, arms up", "back", "side"], centres=[ca, cb, far.mean(0), far2.mean(0)])
    space = {0: a, 1: b, 2: far, 3: far2}
    g = grp.build_groups(run, {})
    props = grp.merge_proposals(run, g, (), members=space)
    assert [(p.a, p.b, p.reason) for p in props] == [(0, 1, "close")]
    assert props[0].separation < 2.0 and props[0].to_dict()["a"] == 0
    assert grp.merge_proposals(run, g, (), 1.5, space) == []          # the threshold is a setting
    # in the store: the setting, then accept / reject
    store.add_run(run.run_id, "runs/hand", "hand", run.k, {}, {})
    assert grp.merge_separation(store) == grp.DEFAULT_SEPARATION
    grp.set_merge_separation(store, 1.5)
    assert grp.merge_separation(store) == 1.5
    with pytest.raises(ValueError):
        grp.set_merge_separation(store, -1)
    grp.reject_proposal(store, run, 1, 0)
    marks = store.group_marks(run.run_id)
    assert grp.merge_proposals(run, grp.pose_groups(store, run), marks, members=space) == []
    g = grp.accept_proposal(store, run, 0, 1)                  # a later accept overrides the rejection
    assert g.group_of(1) == 0
    assert {(m.kind, m.centroids) for m in store.group_marks(run.run_id)} == {(MarkKind.MERGE, (0, 1))}
    assert grp.merge_proposals(run, g, store.group_marks(run.run_id), members=space) == []
    # excluded or split centroids are not proposed
    g = grp.build_groups(run, {}, [GroupMark(MarkKind.EXCLUDE, 1)])
    assert grp.merge_proposals(run, g, [GroupMark(MarkKind.EXCLUDE, 1)], members=space) == []


def test_mirror_partners_are_proposed_when_the_run_keeps_them_apart():
    run = hand_run(["left", "right", "front"], mirrors={0: 1}, mirror_equivalent=False,
                   centres=[[0, 0], [10, 0], [0, 10]])
    props = grp.merge_proposals(run, grp.build_groups(run, {}), ())
    assert [(p.a, p.b, p.reason) for p in props] == [(0, 1, "mirror")]


def test_demo_proposals_follow_the_rule(demo_store, demo_run):
    space = grp.member_space(demo_store, demo_run)
    ref = demo_run.reference
    assert sum(len(v) for v in space.values()) == int(((ref["pose_class"] >= 0)
                                                       & (ref["pose_class"] < demo_run.k)).sum())
    props = grp.proposals(demo_store, demo_run, 10.0)        # generous: every pair it proposes obeys the rule
    centres = demo_run.kmeans.cluster_centers_scaled_
    for p in props:
        assert p.separation == pytest.approx(grp.separation(space[p.a], space[p.b], centres[p.a], centres[p.b]),
                                             abs=1e-3)
        assert p.separation < 10.0
    assert all(p.separation < 2.0 for p in grp.proposals(demo_store, demo_run))


# -- on the demo: the CLI, and marks surviving retraining ----------------------------------------------

@pytest.fixture
def data_copy(demo_data_dir, tmp_path):
    """A writable copy of the demo data dir (run folders and database; images stay shared)."""
    d = tmp_path / "data"
    copy_data_dir(demo_data_dir, d, skip=("demo", "evaluations", "uploads"))
    return d


def run_cli(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = cli_main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_groups_cli(data_copy, capsys):
    d = str(data_copy)
    rc, out, _ = run_cli(capsys, "groups", "--data-dir", d)
    assert rc == 0 and "pose groups from" in out and "merge proposals" in out
    run_id = Store(data_copy).active_run_id()
    assert run_cli(capsys, "groups", "merge", "1", "3", "--data-dir", d)[0] == 0
    assert run_cli(capsys, "groups", "--data-dir", d, "exclude", "4", "--note", "junk")[0] == 0
    assert run_cli(capsys, "groups", "desirable", "7", "--data-dir", d)[0] == 0
    assert run_cli(capsys, "groups", "split", "9", "--data-dir", d)[0] == 0
    assert run_cli(capsys, "groups", "proposals", "reject", "0", "6", "--data-dir", d)[0] == 0
    rc, out, _ = run_cli(capsys, "groups", "--json", "--data-dir", d)
    listed = json.loads(out)
    def of(c):   # the group holding centroid c (groups are numbered by their smallest member)
        return next(r for r in listed["groups"] if c in r["members"])
    assert {1, 3} <= set(of(1)["members"]) and of(4)["excluded"] and of(7)["desirable"]
    assert of(9)["members"] == [9]
    assert any(m.startswith("Merged “") and " by " in m for m in of(1)["marks"])
    rc, out, _ = run_cli(capsys, "groups", "proposals", "--separation", "50", "--json", "--data-dir", d)
    props = json.loads(out)["proposals"]
    assert rc == 0 and props and all({"a", "b", "reason", "distance", "separation"} <= set(p) for p in props)
    assert (0, 6) not in {(p["a"], p["b"]) for p in props}               # rejected: not proposed again
    a, b = props[0]["a"], props[0]["b"]
    assert run_cli(capsys, "groups", "proposals", "accept", str(a), str(b), "--data-dir", d)[0] == 0
    s = Store(data_copy)
    run = active_run(s)
    assert grp.pose_groups(s, run).group_of(a) == grp.pose_groups(s, run).group_of(b)
    # an unplaced mark (as carried from an earlier run): listed, placed, another dismissed
    s.write_labels(run_id, unplaced=[UnplacedLabel("exclude", (Anchor(origin="old:3", label="Full body"),), "junk"),
                                     UnplacedLabel("merge", (Anchor(2), Anchor(origin="old:5")))])
    ids = [u.id for u in s.unplaced(run_id)]
    rc, out, _ = run_cli(capsys, "groups", "--data-dir", d)
    assert f"#{ids[0]}" in out and "Full body" in out and "unposed groups place" in out
    assert run_cli(capsys, "groups", "place", str(ids[0]), "8", "--data-dir", d)[0] == 0
    assert run_cli(capsys, "groups", "place", str(ids[1]), "0", "--data-dir", d)[0] == 0   # one side was set
    assert {(m.kind, m.centroids) for m in s.group_marks(run_id)} >= {(MarkKind.EXCLUDE, (8,)),
                                                                       (MarkKind.MERGE, (0, 2))}
    assert s.unplaced(run_id) == []
    rc, _, err = run_cli(capsys, "groups", "place", str(ids[0]), "8", "--data-dir", d)
    assert rc == 2 and "already placed" in err
    rc, _, err = run_cli(capsys, "groups", "merge", "1", str(run.no_person_class), "--data-dir", d)
    assert rc == 2 and "without a person" in err
    s.close()


def test_groups_and_marks_survive_retraining_10_4_10(data_copy):
    store = Store(data_copy)
    r0 = active_run(store)
    assert r0.k == 10
    store.set_description(r0.run_id, 3, "Back, full length")
    store.set_description(r0.run_id, 1, "Back, waist up", "needs_review", "earlier")
    grp.merge(store, r0, [1, 3])
    grp.merge(store, r0, [2, 8])
    grp.exclude(store, r0, 4, "junk")
    grp.exclude(store, r0, r0.no_person_class, "not wanted")
    grp.mark_desirable(store, r0, 7)
    grp.split(store, r0, 9)
    grp.reject_proposal(store, r0, 0, 6)
    def same(groups):   # members, labels, flags (the reasons name who carried a mark, and when)
        return [{k: v for k, v in g.items() if k != "reasons"} for g in groups.to_dict()["groups"]]

    before_groups = same(grp.pose_groups(store, r0))
    before_marks = {(m.kind, m.centroids) for m in store.group_marks(r0.run_id)}
    assert len(before_marks) == 7

    mid = train(store, TrainConfig(k=4, seed=0))
    # K=4: every mark and description is on a centroid or listed unplaced
    marks, waiting = store.group_marks(mid.run_id), store.unplaced(mid.run_id)
    assert len(marks) + sum(not u.is_description for u in waiting) == len(before_marks)
    assert len(store.descriptions(mid.run_id)) + sum(u.is_description for u in waiting) == 2
    assert any(not u.is_description for u in waiting)              # K=4 cannot hold them all

    back = train(store, TrainConfig(k=10, seed=0))
    new = get_run(store, back.run_id)
    np.testing.assert_allclose(new.kmeans.cluster_centers_, r0.kmeans.cluster_centers_, atol=1e-5)
    # the same centroids again: every mark is back where the analyst put it, the groups are the same
    assert {(m.kind, m.centroids) for m in store.group_marks(new.run_id)} == before_marks
    assert same(grp.pose_groups(store, new)) == before_groups
    assert store.unplaced(new.run_id) == []
    assert {c: d.text for c, d in store.descriptions(new.run_id).items()} == {3: "Back, full length",
                                                                              1: "Back, waist up"}
    assert store.descriptions(new.run_id)[1].status == "needs_review"
    # the runs before keep their own marks
    assert {(m.kind, m.centroids) for m in store.group_marks(r0.run_id)} == before_marks
    store.close()


# -- the Clusters page -----------------------------------------------------------------------------

def open_clusters_page(data_dir, monkeypatch):
    pytest.importorskip("streamlit")
    from apphelpers import APP, PAGES
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("UNPOSED_DATA_DIR", str(data_dir))
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.switch_page(PAGES["clusters"]).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_clusters_page_groups_panel(data_copy, monkeypatch):
    from unpose_core import projection

    store = Store(data_copy)
    run = active_run(store)
    rid = run.run_id
    projection.ensure_projection(store, run)
    at = open_clusters_page(data_copy, monkeypatch)
    assert any(s.value == "Pose groups" for s in at.subheader)

    def click(key):
        at.button(key=key).click().run()
        assert not at.exception, [e.value for e in at.exception]

    at.multiselect(key=f"groups-merge-{rid}").set_value([1, 3]).run()
    assert at.button(key=f"groups-merge-btn-{rid}").disabled          # a name is asked first
    at.text_input(key=f"groups-merge-name-{rid}").input("Merged front").run()
    click(f"groups-merge-btn-{rid}")
    assert any("Merged 2 centroids into “Merged front”" in t.value for t in at.toast)
    assert at.multiselect(key=f"groups-merge-{rid}").value == [] and \
        at.text_input(key=f"groups-merge-name-{rid}").value == ""      # the form is cleared
    table = next(df.value for df in at.dataframe if "why one pose" in df.value.columns)
    row = table[table["pose"] == "Merged front"].iloc[0]
    assert "merged as “Merged front” by " in row["why one pose"] and "Merged “" in row["marks"]
    assert any("Merged front" in m.value for m in at.markdown)         # the members' panel, thumbnails
    from ui.common import class_tag
    captions = [im.caption for i in at.get("image") for im in i.proto.imgs]
    assert all(any(cap.startswith(f"{class_tag(c, run)} · ") for cap in captions) for c in (1, 3))  # one per member
    # undo the merge, then redo it
    assert any("Last change: Merged" in c.value for c in at.caption)
    click(f"groups-undo-btn-{rid}")
    assert not [m for m in store.group_marks(rid) if m.kind is MarkKind.MERGE]
    assert any(t.value.startswith("Undone: Merged") for t in at.toast)
    click(f"groups-undo-btn-{rid}")
    at.selectbox(key=f"groups-mark-{rid}").set_value(4).run()
    at.text_input(key=f"groups-note-{rid}").input("junk").run()
    click(f"groups-exclude-btn-{rid}")
    assert any(t.value.startswith("Excluded “") and "(junk)" in t.value for t in at.toast)
    assert at.text_input(key=f"groups-note-{rid}").value == ""
    at.selectbox(key=f"groups-mark-{rid}").set_value(7).run()
    click(f"groups-desirable-btn-{rid}")
    at.selectbox(key=f"groups-split-{rid}").set_value(9).run()
    click(f"groups-split-btn-{rid}")
    assert {(m.kind, m.centroids, m.note) for m in store.group_marks(rid)} == {
        (MarkKind.MERGE, (1, 3), "Merged front"), (MarkKind.EXCLUDE, (4,), "junk"), (MarkKind.DESIRABLE, (7,), None),
        (MarkKind.SPLIT, (9,), None)}
    table = next(df.value for df in at.dataframe if "centroids" in df.value.columns)
    assert any({"1", "3"} <= set(c.split(", ")) for c in table["centroids"])
    assert table.set_index("group").loc[4, "excluded"]
    # proposals: a generous setting proposes pairs; accept one, reject another
    at.number_input(key=f"groups-separation-{rid}").set_value(15.0).run()
    assert not at.exception, [e.value for e in at.exception]
    assert grp.merge_separation(store) == 15.0
    accept = [b for b in at.button if b.key and b.key.startswith(f"prop-accept-{rid}-")]
    assert len(accept) >= 2
    a1, b1 = tuple(map(int, accept[0].key.rsplit("-", 2)[1:]))
    click(f"prop-accept-{rid}-{a1}-{b1}")
    # the accepted merge may settle other proposals: reject one still on offer
    rejects = [b for b in at.button if b.key and b.key.startswith(f"prop-reject-{rid}-")]
    assert rejects, "no proposal left to reject"
    a2, b2 = tuple(map(int, rejects[0].key.rsplit("-", 2)[1:]))
    click(f"prop-reject-{rid}-{a2}-{b2}")
    kinds = {(m.kind, m.centroids) for m in store.group_marks(rid)}
    assert (MarkKind.MERGE, (a1, b1)) in kinds
    assert (MarkKind.REJECT, (a2, b2)) in kinds or grp.pose_groups(store, run).group_of(a2) == \
        grp.pose_groups(store, run).group_of(b2)   # (the accepted merge may have joined them already)
    # marks carried from an earlier run: placed or dismissed here
    store.write_labels(rid, unplaced=[UnplacedLabel("exclude", (Anchor(origin="old:3", label="Full body"),), "junk"),
                                      UnplacedLabel("desirable", (Anchor(origin="old:5"),))])
    first, second = [u.id for u in store.unplaced(rid)]
    at.run()
    assert any("Marks to place" in m.value for m in at.markdown)
    at.multiselect(key=f"mark-place-{first}").set_value([2]).run()
    click(f"mark-place-btn-{first}")
    at = open_clusters_page(data_copy, monkeypatch)          # a fresh session: the placed one is gone
    assert not [m for m in at.multiselect if m.key == f"mark-place-{first}"]
    click(f"mark-dismiss-btn-{second}")
    assert store.unplaced(rid) == [] and (MarkKind.EXCLUDE, (2,)) in {(m.kind, m.centroids)
                                                                      for m in store.group_marks(rid)}
    store.close()


def test_clusters_page_warns_when_a_description_names_a_group_mate_too(data_copy, monkeypatch):
    """Words written for a centroid merged (without a name) with another that has no words of its
    own name that mate too: the save says so, and the page warns under the field, naming the mate.
    Once the mate has words of its own, the warning no longer names it."""
    from ui.common import class_tag
    from unpose_core import projection

    store = Store(data_copy)
    run = active_run(store)
    rid = run.run_id
    projection.ensure_projection(store, run)
    a, b = 1, 3
    grp.merge(store, run, [a, b], "ana")                      # one pose group, named by its members' words
    text = "Front, arms by the sides"
    mates = grp.also_named(store, run, a, text)
    assert b in mates

    def warnings(at) -> list[str]:
        return [w.value for w in at.warning if "names centroid(s)" in w.value]

    at = open_clusters_page(data_copy, monkeypatch)
    at.selectbox(key=f"centroid-{rid}").set_value(a).run()
    assert warnings(at) == []                                  # nothing written yet
    at.text_input(key=f"desc-{rid}-{a}").input(text).run()
    at.button(key=f"desc-save-{rid}-{a}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert store.descriptions(rid)[a].text == text
    named = ", ".join(class_tag(m, run) for m in mates)
    assert any(f"it names centroid(s) {', '.join(map(str, mates))} too" in t.value for t in at.toast), \
        [t.value for t in at.toast]
    assert warnings(at) == [f"“{text}” names centroid(s) {named} too: they are one pose group with this one "
                            "(same description, mirror pair or merge). Give them their own descriptions, or "
                            "split one off below, to keep them apart."]

    # the mate gets words of its own: the warning on the first no longer names it
    at.selectbox(key=f"centroid-{rid}").set_value(b).run()
    at.text_input(key=f"desc-{rid}-{b}").input("Front, close-up of the collar").run()
    at.button(key=f"desc-save-{rid}-{b}").click().run()
    at.selectbox(key=f"centroid-{rid}").set_value(a).run()
    assert not at.exception, [e.value for e in at.exception]
    rest = [m for m in mates if m != b]
    assert grp.also_named(store, run, a, text) == rest
    assert warnings(at) == ([f"“{text}” names centroid(s) {', '.join(class_tag(m, run) for m in rest)} too: they "
                             "are one pose group with this one (same description, mirror pair or merge). Give "
                             "them their own descriptions, or split one off below, to keep them apart."]
                            if rest else [])
    store.close()
