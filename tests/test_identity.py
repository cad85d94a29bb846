"""Identity, roles and the audit log in the engine: every write names its author, each role is
refused every action above it (with the reason, the store unchanged: compared through a backup
before and after), undo of a merge and revert of a description from the history, and the CLI's
`unposed history` / `unposed audit`."""
from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
from pathlib import Path

import pytest
from test_groups import hand_run

import unpose_core.api as api
from unpose_core import changes as hist
from unpose_core import groups as grp
from unpose_core import identity as idn
from unpose_core import jobs, lineage
from unpose_core.cli import main as cli_main
from unpose_core.config import TrainConfig
from unpose_core.descriptions import mark_reviewed, remove_description
from unpose_core.evaluation.tuning import tune as tune_cohorts
from unpose_core.identity import Action, Actor, Forbidden, Role
from unpose_core.operating import reset as reset_cohort
from unpose_core.outputs.hints import set_group_hint
from unpose_core.reviews import submit_review
from unpose_core.store import Store
from unpose_core.training import train

ANA = Actor("ana@example.com", Role.ANALYST, "app", signed_in=True)
ADMIN = Actor("root@example.com", Role.ADMIN, "app", signed_in=True)


@pytest.fixture
def labelled(tmp_path):
    """A store with a hand-built run holding a description, a merge, an exclusion and a hint, written by ANA."""
    store = Store(tmp_path / "data")
    run = hand_run(["a", "b", "c", "d", "e"])
    store.add_run(run.run_id, "runs/hand", "hand", run.k, {}, {})
    store.set_active_run(run.run_id)
    lineage.describe(store, run.run_id, 0, "Full body, front", source=ANA)
    grp.merge(store, run, [1, 2], ANA)
    grp.exclude(store, run, 3, "junk", ANA)
    set_group_hint(store, "Full body, front", "Show the whole outfit from the front", ANA)
    yield store, run
    store.close()


def dump(store: Store, tmp: Path, name: str) -> list[str]:
    """Every row of every table, through a backup of the database (Store.backup_file)."""
    path = store.backup_file(tmp / f"{name}.sqlite")
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_roles_file_and_rules(tmp_path, monkeypatch):
    monkeypatch.delenv("UNPOSED_ROLES", raising=False)
    assert idn.read_roles(tmp_path).role_of("anyone") is Role.VIEWER
    assert idn.read_roles(tmp_path).role_of(idn.os_user(), local=True) is Role.ADMIN   # local mode
    (tmp_path / "roles.toml").write_text(
        f'default = "reviewer"\n[users]\n"Ana@Example.com" = "analyst"\n"{idn.os_user()}" = "viewer"\n'
        '[imports]\nroots = ["/srv/catalogues"]\n')
    roles = idn.read_roles(tmp_path)
    assert roles.role_of("ana@example.com") is Role.ANALYST and roles.role_of("bob") is Role.REVIEWER
    assert idn.os_actor(tmp_path).role is Role.VIEWER   # the file overrides the local default
    assert idn.signed_in_actor(tmp_path, "ana@example.com").role is Role.ANALYST
    assert idn.can(ANA, Action.TRAIN) and not idn.can(ANA, Action.ACTIVATE)
    with pytest.raises(Forbidden, match=r"ana@example.com \(analyst\) may not activate run: .*admin role"):
        idn.require(ANA, Action.ACTIVATE)
    (tmp_path / "roles.toml").write_text('[users]\nana = "boss"\n')
    with pytest.raises(ValueError, match="unknown role 'boss'"):
        idn.read_roles(tmp_path)


def test_edits_name_their_author_and_land_in_the_audit_log(labelled):
    store, run = labelled
    d = store.descriptions(run.run_id)[0]
    assert d.source == "ana@example.com (app)" and d.updated_at
    assert {m.source for m in store.group_marks(run.run_id)} == {"ana@example.com (app)"}
    log = store.audit_log()
    assert list(log["action"]) == ["describe", "edit groups", "edit groups", "edit hints"]
    assert set(log["who"]) == {"ana@example.com"} and set(log["role"]) == {"analyst"} and (log["at"] > 0).all()
    assert json.loads(log["details"].iloc[0]) == {"text": "Full body, front"}
    # a plain string: the OS user, via that (the CLI), admin locally
    lineage.describe(store, run.run_id, 1, "Back", source="cli")
    assert store.descriptions(run.run_id)[1].source == f"{idn.os_user()} (cli)"
    assert store.audit_log()["who"].iloc[-1] == idn.os_user()


def test_undo_a_merge_and_revert_a_description_from_the_history(labelled):
    store, run = labelled
    lineage.describe(store, run.run_id, 0, "Full body, side", source=ADMIN)
    h = hist.description_history(store, run.run_id, 0)
    assert [(c.by, c.text) for c in h] == [("ana@example.com (app)", "Full body, front"),
                                          ("root@example.com (app)", "Full body, side")]
    assert hist.revert_description(store, run, 0, h[0].id, ANA) == "Full body, front"
    assert store.descriptions(run.run_id)[0].text == "Full body, front"
    edits = hist.mark_history(store, run.run_id)
    merge = next(e for e in edits if "merge 1+2" in e.what)
    assert grp.pose_groups(store, run).group_of(1) == grp.pose_groups(store, run).group_of(2)
    undo = hist.undo_mark_edit(store, run, merge.id, ANA)
    assert "clear merge 1+2" in undo.what and undo.by == "ana@example.com (app)"
    assert grp.pose_groups(store, run).group_of(1) != grp.pose_groups(store, run).group_of(2)
    log = store.audit_log()
    rows = log[log["action"].isin(["revert", "undo"])]
    assert list(rows["action"]) == ["revert", "undo"] and set(rows["who"]) == {"ana@example.com"}
    assert (rows["at"] > 0).all() and list(rows["object"]) == [f"description {run.run_id}:0", f"groups {run.run_id}"]
    # reverting to the removal row removes it; the history keeps everything
    remove_description(store, run, 0, ANA)
    removed = hist.description_history(store, run.run_id, 0)[-1]
    assert removed.what == "removed"
    lineage.describe(store, run.run_id, 0, "Again", source=ANA)
    assert hist.revert_description(store, run, 0, removed.id, ANA) == ""
    assert 0 not in store.descriptions(run.run_id)


def _actions(store: Store, run, data: Path, tmp: Path):
    """Every engine call a page or the CLI makes that writes, with the action it needs."""
    edits = hist.mark_history(store, run.run_id)
    first = hist.description_history(store, run.run_id, 0)[0].id
    manifest = tmp / "m.csv"
    manifest.write_text("product_id,image_path\np1,a.jpg\n")
    return [
        (Action.DESCRIBE, lambda a: lineage.describe(store, run.run_id, 1, "Sitting", source=a)),
        (Action.DESCRIBE, lambda a: remove_description(store, run, 0, a)),
        (Action.DESCRIBE, lambda a: mark_reviewed(store, run, 0, a)),
        (Action.DESCRIBE, lambda a: hist.revert_description(store, run, 0, first, a)),
        (Action.GROUPS, lambda a: grp.merge(store, run, [0, 4], a)),
        (Action.GROUPS, lambda a: grp.split(store, run, 1, a)),
        (Action.GROUPS, lambda a: grp.exclude(store, run, 4, None, a)),
        (Action.GROUPS, lambda a: grp.mark_desirable(store, run, 0, a)),
        (Action.GROUPS, lambda a: grp.accept_proposal(store, run, 0, 4, a)),
        (Action.GROUPS, lambda a: grp.reject_proposal(store, run, 0, 4, a)),
        (Action.GROUPS, lambda a: hist.undo_mark_edit(store, run, edits[0].id, a)),
        (Action.GROUPS, lambda a: api.set_merge_separation(store, 1.5, by=a)),
        (Action.HINTS, lambda a: set_group_hint(store, "Full body, front", "Other", a)),
        (Action.TRAIN, lambda a: train(store, TrainConfig(k=2), by=a)),
        (Action.TRAIN, lambda a: jobs.start_train(store, TrainConfig(k=2), by=a)),
        (Action.EVALUATE, lambda a: api.evaluate(store, by=a)),
        (Action.EVALUATE, lambda a: jobs.start_evaluate(store, ["blazepose"], by=a)),
        (Action.TUNE, lambda a: api.tune_k(store, None, [2, 3], by=a)),
        (Action.TUNE, lambda a: jobs.start_sweep(store, run.run_id, [2, 3], by=a)),
        (Action.IMPORT, lambda a: api.import_catalogue(store, manifest, by=a)),
        (Action.IMPORT, lambda a: jobs.start_import(store, manifest, by=a)),
        (Action.IMPORT, lambda a: api.install_demo(store, by=a)),
        (Action.IMPORT, lambda a: jobs.start_demo(store, by=a)),
        (Action.IMPORT, lambda a: api.import_model(store, manifest, "rtmpose", by=a)),
        (Action.IMPORT, lambda a: api.calibrate_visibility(store, manifest, "movenet-thunder", by=a)),
        (Action.ACTIVATE, lambda a: lineage.activate_run(store, run.run_id, by=a)),
        (Action.ACTIVATE, lambda a: api.activate_run(store, run.run_id, by=a)),
        (Action.RESTORE, lambda a: api.restore(data, tmp / "before.sqlite", by=a)),
        (Action.ROLES, lambda a: api.audit(store, by=a)),
        (Action.JUDGE, lambda a: submit_review(store, run, "p1", [], "someone", actor=a)),
        (Action.TUNE, lambda a: tune_cohorts(store, run, actor=a)),
        (Action.TUNE, lambda a: reset_cohort(store, "Clothing / T-shirts", actor=a)),
    ]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.REVIEWER, Role.ANALYST])
def test_each_role_is_refused_every_action_above_it_and_nothing_changes(labelled, tmp_path, role):
    store, run = labelled
    who = Actor(f"{role.value}@example.com", role, "app", signed_in=True)
    before = dump(store, tmp_path, "before")
    refused = 0
    for action, call in _actions(store, run, store.data_dir, tmp_path):
        if idn.can(who, action):
            continue
        with pytest.raises(Forbidden) as err:
            call(who)
        assert f"may not {action.value}" in str(err.value) and "role or above" in str(err.value)
        refused += 1
    assert refused == sum(not idn.can(who, a) for a, _ in _actions(store, run, store.data_dir, tmp_path))
    assert refused >= {Role.VIEWER: 28, Role.REVIEWER: 28, Role.ANALYST: 9}[role]
    assert dump(store, tmp_path, "after") == before
    assert jobs.current(store) is None   # no refused job was started


def test_import_from_a_path_only_under_the_configured_roots(tmp_path, monkeypatch):
    monkeypatch.delenv("UNPOSED_ROLES", raising=False)
    data = tmp_path / "data"
    data.mkdir()
    inside, outside = tmp_path / "srv" / "shop" / "m.csv", tmp_path / "home" / "m.csv"
    assert idn.check_import_path(data, ADMIN, data / "uploads" / "x.csv") == (data / "uploads" / "x.csv").resolve()
    with pytest.raises(Forbidden, match="none configured"):   # a signed-in admin: only configured roots
        idn.check_import_path(data, ADMIN, outside)
    local = idn.os_actor(data)
    assert idn.check_import_path(data, local, outside)   # the local user, no roots set: anywhere
    (data / "roles.toml").write_text(f'[imports]\nroots = ["{tmp_path / "srv"}"]\n')
    assert idn.check_import_path(data, ADMIN, inside) == inside.resolve()
    for who in (ADMIN, local):
        with pytest.raises(Forbidden, match="not inside the data dir nor under an allowed import root"):
            idn.check_import_path(data, who, outside)
    with pytest.raises(Forbidden):   # no escape through ..
        idn.check_import_path(data, ADMIN, tmp_path / "srv" / ".." / "home" / "m.csv")


def test_cli_history_audit_and_a_refusal(labelled, capsys, monkeypatch):
    store, run = labelled
    data = str(store.data_dir)
    assert cli_main(["history", "hint", "--data-dir", data]) == 0
    assert "by ana@example.com (app): set hint" in capsys.readouterr().out
    assert cli_main(["audit", "--data-dir", data, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["action"] for r in rows][:4] == ["describe", "edit groups", "edit groups", "edit hints"]
    assert all(r["time"].endswith("Z") for r in rows)
    # formula-escaped CSV: a hint text starting with '=' is written by an analyst, read safely
    set_group_hint(store, "=HYPERLINK(1)", "=cmd", ANA)
    assert cli_main(["audit", "--data-dir", data, "--since", "2020-01-01"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert table[-1]["object"].startswith("'=") or table[-1]["details"].startswith("{")
    assert all(not v.startswith("=") for r in table for v in r.values() if v)
    # the OS user made a viewer: the CLI is refused, with the reason, exit 2
    (store.data_dir / "roles.toml").write_text(f'[users]\n"{idn.os_user()}" = "viewer"\n')
    assert cli_main(["audit", "--data-dir", data]) == 2
    assert "may not manage roles: manage roles needs the admin role" in capsys.readouterr().err


def test_uploads_are_bounded_per_person_and_old_ones_make_room(tmp_path, monkeypatch):
    from unpose_core.catalog import uploads

    monkeypatch.delenv("UNPOSED_ROLES", raising=False)
    data = tmp_path / "data"
    data.mkdir()
    (data / "roles.toml").write_text("[uploads]\nmax_count = 2\nmax_bytes = 3000\n")
    rev = Actor("rev@example.com", Role.REVIEWER, "app", signed_in=True)
    other = Actor("other@example.com", Role.REVIEWER, "app", signed_in=True)
    viewer = Actor("v@example.com", Role.VIEWER, "app", signed_in=True)
    with pytest.raises(Forbidden, match="may not upload"):
        uploads.save_product_images(data, [("a.jpg", b"x" * 10)], by=viewer)
    assert not (data / "uploads").exists()   # refused before anything was written
    theirs = uploads.save_product_images(data, [("a.jpg", b"x" * 1000)], by=other).folder
    made = []
    for _ in range(3):
        made.append(uploads.save_product_images(data, [("a.jpg", b"x" * 1000)], by=rev).folder)
        time.sleep(0.02)   # distinct modification times: the oldest is known
    kept = [p for _, p, _ in uploads.uploads_of(data, rev.name)]
    assert kept == made[1:] and not made[0].exists()   # at most 2 per person: the oldest went
    assert theirs.exists()                            # another person's upload is not theirs to clean
    with pytest.raises(uploads.UploadError, match="at most 0.0 MB|at most"):
        uploads.save_product_images(data, [("a.jpg", b"x" * 2000), ("b.jpg", b"x" * 2000)], by=rev)
