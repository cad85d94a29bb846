"""Nothing a person wrote leaves the active run's lineage: descriptions over two retrains
(K=12 -> 3 -> 10), 'needs_review' kept until a person clears it, activation and carry-over in
one transaction (a kill inside it leaves the previous run active with its labels), an unreadable
previous run (carry from the last readable one, or refuse with a message), unplaced texts listed,
placed and dismissed from `unposed describe`. Runs on copies of the demo data dir; its pose cache
makes each retraining take about a second."""
from __future__ import annotations

import inspect
import json
import shutil
import sqlite3

import pytest

from unpose_core import groups as grp
from unpose_core import lineage
from unpose_core.cli import main as cli_main
from unpose_core.config import TrainConfig
from unpose_core.descriptions import mark_reviewed
from unpose_core.lineage import LineageError, activate_run
from unpose_core.records import DescriptionStatus, MarkKind
from unpose_core.runs import active_run, get_run
from unpose_core.store import Store
from unpose_core.store.schema import SCHEMA_VERSION
from unpose_core.training import train

REVIEW = DescriptionStatus.NEEDS_REVIEW


def run_cli(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = cli_main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def visible(store: Store, run_id: str) -> tuple[dict, list]:
    """(centroid -> description, open unplaced descriptions) of a run."""
    return store.descriptions(run_id), [u for u in store.unplaced(run_id) if u.is_description]


def newest_other_run(store: Store, not_this: str) -> str:
    return next(r.run_id for r in store.run_records() if r.run_id != not_this)


# -- descriptions over two retrains ------------------------------------------------------------------

def test_descriptions_survive_two_retrains_12_3_10(store, data_copy, capsys):
    first = get_run(store, train(store, TrainConfig(k=12, seed=0)).run_id)
    texts = {c: f"label {c}" for c in range(first.n_classes)}
    assert len(texts) == 12 + 4   # 12 poses, 4 kinds without a person
    flagged = {"label 1", "label 5"}
    for c, t in texts.items():
        store.set_description(first.run_id, c, t, REVIEW if t in flagged else "ok", "test")
    figures = []
    for k in (3, 10):
        res = train(store, TrainConfig(k=k, seed=0))
        assert store.active_run_id() == res.run_id and res.activation.carried_from is not None
        placed, waiting = visible(store, res.run_id)
        shown = sorted([d.text for d in placed.values()] + [u.text for u in waiting])
        assert shown == sorted(texts.values())                   # every one, exactly once
        for d in placed.values():                                # 'needs_review' never turns 'ok' by itself
            if d.text in flagged:
                assert d.status is REVIEW
        assert all(u.status is REVIEW for u in waiting)
        figures.append((k, len(placed), len(waiting)))
        # `unposed describe` lists the unplaced ones with their ids
        rc, out, _ = run_cli(capsys, "describe", "--data-dir", data_copy)
        assert rc == 0
        for u in waiting:
            assert f"#{u.id}" in out and u.text in out
    (k3, placed3, waiting3), (k10, placed10, waiting10) = figures
    assert placed3 <= 3 + 4 and placed3 + waiting3 == 16         # K=3: 3 poses + 4 kinds without a person
    assert placed10 > placed3                                    # K=10 takes most of them back
    print(f"descriptions kept: K=12 16 -> K=3 {placed3} placed + {waiting3} unplaced -> "
          f"K=10 {placed10} placed + {waiting10} unplaced")


def test_needs_review_stays_until_a_person_clears_it(store, data_copy, capsys):
    r0 = active_run(store)
    store.set_description(r0.run_id, 0, "Chest close-up", REVIEW, "old-run:4")
    store.set_description(r0.run_id, 2, "Waist up, front", "ok", "test")
    r1 = train(store, TrainConfig(k=r0.k, seed=r0.config.seed)).run_id       # the same centroids
    d = store.descriptions(r1)
    assert (d[0].text, d[0].status) == ("Chest close-up", REVIEW) and d[2].status == "ok"
    rc, out, _ = run_cli(capsys, "describe", "--data-dir", data_copy)
    assert "[needs review]" in out and "--reviewed" in out
    assert run_cli(capsys, "describe", "--reviewed", 0, "--data-dir", data_copy)[0] == 0
    assert store.descriptions(r1)[0].status == "ok"
    r2 = train(store, TrainConfig(k=r0.k, seed=r0.config.seed)).run_id
    assert store.descriptions(r2)[0].status == "ok"
    assert store.descriptions(r0.run_id)[0].status is REVIEW    # each run keeps its own
    with pytest.raises(ValueError, match="no description"):
        mark_reviewed(store, get_run(store, r2), 5)


# -- one transaction -----------------------------------------------------------------------------

def test_a_kill_inside_activation_leaves_the_previous_run_active_with_its_labels(store, monkeypatch):
    r0 = active_run(store)
    store.set_description(r0.run_id, 0, "Chest close-up")
    store.set_description(r0.run_id, 3, "Back, full length")
    grp.exclude(store, r0, 4, "junk")
    before = (store.descriptions(r0.run_id), store.group_marks(r0.run_id), store.labels_version(r0.run_id))
    real = store.activate_run_with_labels
    sig = inspect.signature(real)

    def killed(*args, **kwargs):
        bound = sig.bind(*args, **kwargs)
        rows = list(bound.arguments["descriptions"])

        def some_then_killed():
            yield rows[0]                                   # written inside the transaction, then:
            raise KeyboardInterrupt("killed")

        bound.arguments["descriptions"] = some_then_killed()
        return real(*bound.args, **bound.kwargs)

    monkeypatch.setattr(store, "activate_run_with_labels", killed)
    with pytest.raises(KeyboardInterrupt):
        train(store, TrainConfig(k=8, seed=0))
    new_id = newest_other_run(store, r0.run_id)
    assert store.active_run_id() == r0.run_id
    assert (store.descriptions(r0.run_id), store.group_marks(r0.run_id), store.labels_version(r0.run_id)) == before
    assert store.descriptions(new_id) == {} and store.group_marks(new_id) == [] and store.unplaced(new_id) == []
    assert store.lineage(new_id) is None and store.labels_version(new_id) == 0
    assert get_run(store, new_id).k == 8                    # the folder was complete before the transaction
    monkeypatch.undo()
    store.set_description(new_id, 0, "Written before activation", "ok", "cli")   # `describe --run NEW`
    act = activate_run(store, new_id)                        # activating it later carries as training would
    assert store.active_run_id() == new_id and act.carried_from == r0.run_id
    placed, waiting = visible(store, new_id)
    assert placed[0].text == "Written before activation"    # what the person wrote there stays
    assert {"Chest close-up", "Back, full length", "Written before activation"} == \
        {d.text for d in placed.values()} | {u.text for u in waiting}
    assert {(m.kind, m.centroids) for m in store.group_marks(new_id)} | \
        {(u.kind, ()) for u in store.unplaced(new_id) if not u.is_description} != set()


def test_a_label_written_while_activating_is_carried_too(store, monkeypatch):
    r0 = active_run(store)
    store.set_description(r0.run_id, 1, "Back, waist up")
    real, calls = lineage.plan_carry, []

    def plan_while_a_person_writes(*args, **kwargs):
        plan = real(*args, **kwargs)
        if not calls:
            store.set_description(r0.run_id, 5, "Written meanwhile", "ok", "app")
        calls.append(1)
        return plan

    monkeypatch.setattr(lineage, "plan_carry", plan_while_a_person_writes)
    res = train(store, TrainConfig(k=r0.k, seed=r0.config.seed))
    assert len(calls) == 2                                  # planned again: the labels had changed
    assert {c: d.text for c, d in store.descriptions(res.run_id).items()} == {1: "Back, waist up",
                                                                              5: "Written meanwhile"}


# -- an unreadable previous run ------------------------------------------------------------------

def test_unreadable_previous_run_carries_from_the_last_readable_one(store, data_copy, capsys):
    r0 = active_run(store)
    store.set_description(r0.run_id, 0, "Chest close-up")
    store.set_description(r0.run_id, 3, "Back, full length")
    grp.exclude(store, r0, 4, "junk")
    r1 = get_run(store, train(store, TrainConfig(k=8, seed=0)).run_id)
    store.set_description(r1.run_id, 2, "Written on the broken run", "ok", "app")
    grp.mark_desirable(store, r1, 1, "app")
    (r1.path / "centroids.json").write_text("[]")            # the active run can no longer be read
    rc, out, err = run_cli(capsys, "train", "--k", r0.k, "--seed", r0.config.seed, "-q", "--data-dir", data_copy)
    assert rc == 0 and "cannot be read" in err and r0.run_id in err and "last readable" in err
    new = active_run(store)
    assert new.run_id not in (r0.run_id, r1.run_id)
    rec = store.lineage(new.run_id)
    assert (rec.parent, rec.carried_from) == (r1.run_id, r0.run_id)
    # the last readable run's labels land on the same centroids (same K and seed as r0) ...
    assert {c: d.text for c, d in store.descriptions(new.run_id).items()} == {0: "Chest close-up",
                                                                              3: "Back, full length"}
    assert {(m.kind, m.centroids) for m in store.group_marks(new.run_id)} == {(MarkKind.EXCLUDE, (4,))}
    # ... and what was written on the broken run is listed for a person, not lost
    waiting = store.unplaced(new.run_id)
    assert {(u.kind, u.text) for u in waiting} == {("description", "Written on the broken run"),
                                                   ("desirable", "")}
    rc, out, _ = run_cli(capsys, "describe", "--data-dir", data_copy)
    assert "Written on the broken run" in out


def test_unreadable_run_with_no_readable_lineage_is_not_replaced(store, data_copy, capsys):
    r0 = active_run(store)
    store.set_description(r0.run_id, 0, "Chest close-up")
    store.set_description(r0.run_id, r0.no_person_class, "Fabric and size charts")
    grp.exclude(store, r0, 4, "junk")
    shutil.rmtree(r0.path)                                   # gone
    rc, _, err = run_cli(capsys, "train", "--k", 8, "-q", "--data-dir", data_copy)
    assert rc == 2 and "NOT made active" in err and "cannot be read" in err and "--keep-unmatched" in err
    assert store.active_run_id() == r0.run_id
    new_id = newest_other_run(store, r0.run_id)
    with pytest.raises(LineageError):
        activate_run(store, new_id)
    rc, _, err = run_cli(capsys, "runs", "--activate", new_id, "--data-dir", data_copy)
    assert rc == 2 and store.active_run_id() == r0.run_id
    rc, _, err = run_cli(capsys, "runs", "--activate", new_id, "--keep-unmatched", "--data-dir", data_copy)
    assert rc == 0 and "listed as unplaced" in err and store.active_run_id() == new_id
    new = get_run(store, new_id)
    # a class without a person goes to the same kind in every run; the unreadable run's kind is
    # unknown, so its description lands on "other"; the rest waits for a person
    assert {c: d.text for c, d in store.descriptions(new_id).items()} == {new.class_of_kind("other"):
                                                                          "Fabric and size charts"}
    assert {(u.kind, u.text) for u in store.unplaced(new_id)} == {("description", "Chest close-up"),
                                                                 ("exclude", "junk")}


def test_unreadable_run_without_labels_is_simply_replaced(store):
    r0 = active_run(store)
    shutil.rmtree(r0.path)                                   # nothing on it to lose
    res = train(store, TrainConfig(k=6, seed=0))
    assert store.active_run_id() == res.run_id and store.lineage(res.run_id).parent == r0.run_id


# -- unplaced texts: listed, placed, dismissed; only open ones carried on ------------------------

def test_describe_lists_places_and_dismisses_unplaced_texts(store, data_copy, capsys):
    r0 = active_run(store)
    store.set_description(r0.run_id, 2, "Waist up, front")
    a = store.add_unplaced_description(r0.run_id, "Model sitting on a stool", "old-run:7")
    b = store.add_unplaced_description(r0.run_id, "Detail of a sleeve", "old-run:8")
    c = store.add_unplaced_description(r0.run_id, "Walking towards the camera", "old-run:9")
    rc, out, _ = run_cli(capsys, "describe", "--data-dir", data_copy)
    assert rc == 0 and "unplaced descriptions (3" in out
    assert all(f"#{i}" in out for i in (a, b, c)) and "--place ID CENTROID" in out
    assert run_cli(capsys, "describe", "--place", a, 2, "--data-dir", data_copy)[0] == 0
    assert run_cli(capsys, "describe", "--dismiss", b, "--data-dir", data_copy)[0] == 0
    # placing on a described centroid keeps the text it replaces, as an unplaced one
    assert store.descriptions(r0.run_id)[2].text == "Model sitting on a stool"
    open_texts = {u.text for u in store.unplaced(r0.run_id)}
    assert open_texts == {"Walking towards the camera", "Waist up, front"}
    rc, _, err = run_cli(capsys, "describe", "--place", a, 3, "--data-dir", data_copy)
    assert rc == 2 and "already placed" in err
    rc, _, err = run_cli(capsys, "describe", "--place", c, 99, "--data-dir", data_copy)
    assert rc == 2 and "within 0.." in err
    rc, out, _ = run_cli(capsys, "describe", "--json", "--data-dir", data_copy)
    assert {u["text"] for u in json.loads(out)["unplaced"]} == open_texts
    # the history keeps all of them, with what became of each
    hist = store.unplaced_descriptions(r0.run_id).set_index("text")
    assert hist.loc["Model sitting on a stool", "state"] == "placed"
    assert hist.loc["Model sitting on a stool", "placed_on"] == 2
    assert hist.loc["Detail of a sleeve", "state"] == "dismissed"
    # the next run gets the placed one as a description and the open ones unplaced; not the dismissed one
    new = train(store, TrainConfig(k=r0.k, seed=r0.config.seed)).run_id
    placed, waiting = visible(store, new)
    assert placed[2].text == "Model sitting on a stool"
    assert {u.text for u in waiting} == open_texts
    assert "Detail of a sleeve" not in {d.text for d in placed.values()} | {u.text for u in waiting}


def test_v2_unplaced_descriptions_are_migrated(tmp_path):
    d = tmp_path / "v2"
    s = Store(d)
    s.add_run("run-a", "runs/run-a", "blazepose", 4, {}, {})
    s.set_description("run-a", 1, "Placed later")
    s.close()
    con = sqlite3.connect(d / "unposed.sqlite")   # what a v2 data dir held: unplaced rows in the history only
    for t in ("unplaced", "unplaced_resolutions", "group_marks", "group_mark_history", "lineage"):
        con.execute(f"DROP TABLE {t}")
    con.executemany("INSERT INTO description_history(run_id, centroid, text, status, source, created_at)"
                    " VALUES('run-a', NULL, ?, 'needs_review', ?, 1.0)",
                    [("Placed later", "old:1"), ("Still waiting", "old:2")])
    con.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
    con.commit()
    con.close()
    s = Store(d)
    assert s.opened_version == 2 and s.schema_version == SCHEMA_VERSION
    hist = s.unplaced_descriptions("run-a").set_index("text")
    assert hist.loc["Placed later", "state"] == "placed" and hist.loc["Placed later", "placed_on"] == 1
    assert [u.text for u in s.unplaced("run-a")] == ["Still waiting"]
    s.close()


def test_clusters_page_lists_places_and_dismisses_unplaced_texts(store, data_copy, monkeypatch):
    pytest.importorskip("streamlit")
    from apphelpers import APP, PAGES
    from streamlit.testing.v1 import AppTest

    from unpose_core import projection

    run = active_run(store)
    projection.ensure_projection(store, run)
    a = store.add_unplaced_description(run.run_id, "Model sitting on a stool", "old-run:7")
    b = store.add_unplaced_description(run.run_id, "Detail of a sleeve", "old-run:8")
    monkeypatch.setenv("UNPOSED_DATA_DIR", str(data_copy))
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.switch_page(PAGES["clusters"]).run()
    assert not at.exception
    shown = " ".join(m.value for m in at.markdown)
    assert "Model sitting on a stool" in shown and "Detail of a sleeve" in shown and "2 without a centroid" in shown
    at.selectbox(key=f"place-{a}").set_value(3).run()
    at.button(key=f"place-btn-{a}").click().run()
    at.button(key=f"dismiss-btn-{b}").click().run()
    assert not at.exception
    assert store.descriptions(run.run_id)[3].text == "Model sitting on a stool"
    assert store.unplaced(run.run_id) == []
    assert set(store.unplaced_descriptions(run.run_id)["state"]) == {"placed", "dismissed"}   # the history
    assert "Detail of a sleeve" not in " ".join(m.value for m in at.markdown)
