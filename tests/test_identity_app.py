"""Roles in the app (AppTest): each role clicks every action above it on the pages and is refused
with the reason while the store stays unchanged (a backup before and after); an anonymous visitor
to a server with sign-in configured sees only the sign-in page; an analyst's edit reads "by NAME",
and undo of a merge and revert of a description work from the app's history widgets."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import test_app
from apphelpers import APP, PAGES
from streamlit.testing.v1 import AppTest
from test_app import TIMEOUT, open_page

from unpose_core import jobs
from unpose_core.identity import Action, Role, can, os_actor, os_user
from unpose_core.store import Store

app_dir, fresh_dir = test_app.app_dir, test_app.fresh_dir   # the app tests' data dir fixtures


def labelled(elements, label: str):
    hits = [e for e in elements if e.label == label]
    assert hits, f"no widget labelled {label!r}: {[e.label for e in elements]}"
    return hits[0]


def dump(store: Store, path: Path) -> list[str]:
    conn = sqlite3.connect(store.backup_file(path))
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def _describe(at, run_id):
    at.selectbox(key=f"centroid-{run_id}").set_value(2).run()
    at.text_input(key=f"desc-{run_id}-2").input("Back view, arms down").run()
    at.button(key=f"desc-save-{run_id}-2").click().run()


def _merge(at, run_id):
    at.multiselect(key=f"groups-merge-{run_id}").set_value([0, 1]).run()
    at.button(key=f"groups-merge-btn-{run_id}").click().run()


def _exclude(at, run_id):
    at.button(key=f"groups-exclude-btn-{run_id}").click().run()


def _hint(at, run_id):
    area = next(t for t in at.text_area if t.key and t.key.startswith(f"hints-text-{run_id}-"))
    area.input("Show the whole outfit, please").run()
    at.button(key=f"hints-save-{run_id}").click().run()


def _train(at, run_id):
    labelled(at.button, "Extract poses and train").click().run()


def _import(at, run_id):
    labelled(at.text_input, "Manifest path").input("/etc/passwd")
    labelled(at.button, "Validate and import").click().run()


def _sweep(at, run_id):
    labelled(at.button, "Run the sweep").click().run()


# (action, page, steps, the error's start)
CLICKS = [
    (Action.DESCRIBE, "clusters", _describe, "Not saved"),
    (Action.GROUPS, "clusters", _merge, "Cannot merge"),
    (Action.GROUPS, "clusters", _exclude, "Cannot save"),
    (Action.HINTS, "clusters", _hint, "Cannot save the hint"),
    (Action.TRAIN, "train", _train, "Cannot start training"),
    (Action.IMPORT, "catalogue", _import, "Could not start the import"),
    (Action.TUNE, "tune", _sweep, "Cannot start the sweep"),
]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.REVIEWER, Role.ANALYST])
def test_each_role_is_refused_in_the_app_and_nothing_changes(fresh_dir, tmp_path, monkeypatch, role):
    (fresh_dir / "roles.toml").write_text(f'[users]\n"{os_user()}" = "{role.value}"\n')
    store = Store(fresh_dir)
    run_id = store.active_run_id()
    before = dump(store, tmp_path / "before.sqlite")
    refused = 0
    for action, page, steps, what in CLICKS:
        if can(os_actor(fresh_dir), action):
            continue
        at = open_page(fresh_dir, page, monkeypatch)
        assert any(f"({role.value})" in c.value for c in at.sidebar.caption)   # who, in the sidebar
        steps(at, run_id)
        errors = [e.value for e in at.error]
        assert any(e.startswith(what) and f"may not {action.value}" in e for e in errors), (action, errors)
        refused += 1
    assert refused == {Role.VIEWER: 7, Role.REVIEWER: 7, Role.ANALYST: 1}[role]
    assert jobs.current(store) is None
    assert dump(store, tmp_path / "after.sqlite") == before
    store.close()


def test_anonymous_visitor_with_sign_in_configured_sees_only_the_sign_in_page(app_dir, monkeypatch):
    monkeypatch.setenv("UNPOSED_DATA_DIR", str(app_dir))
    for page in ["home", *PAGES]:
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
                              "client_id": "unposed", "client_secret": "s",
                              "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}
        if page != "home":
            at.switch_page(PAGES[page])
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert [t.value for t in at.title] == ["Unposed"]
        assert [b.label for b in at.button] == ["Sign in"]
        assert not at.sidebar.caption and not at.sidebar.markdown and not at.metric and not at.dataframe
        assert not at.get("image") and not at.get("plotly_chart") and not at.get("page_link")


def test_history_undo_and_revert_in_the_app(fresh_dir, monkeypatch):
    store = Store(fresh_dir)
    run_id = store.active_run_id()
    at = open_page(fresh_dir, "clusters", monkeypatch)
    _describe(at, run_id)
    at.text_input(key=f"desc-{run_id}-2").input("Back view, one arm up").run()
    at.button(key=f"desc-save-{run_id}-2").click().run()
    assert store.descriptions(run_id)[2].text == "Back view, one arm up"
    assert any(c.value.startswith(f"Written by {os_user()} (app) · ") for c in at.caption)
    first = [b for b in at.button if b.key and b.key.startswith(f"desc-hist-{run_id}-2-")][-1]   # oldest last
    first.click().run()
    assert store.descriptions(run_id)[2].text == "Back view, arms down"
    assert at.text_input(key=f"desc-{run_id}-2").value == "Back view, arms down"   # the field follows
    _merge(at, run_id)
    groups = store.group_marks(run_id)
    assert any(m.kind == "merge" for m in groups)
    undo = [b for b in at.button if b.key and b.key.startswith(f"groups-undo-{run_id}-")][0]   # newest first
    undo.click().run()
    assert not any(m.kind == "merge" for m in store.group_marks(run_id))
    log = store.audit_log()
    for action in ("revert", "undo"):
        row = log[log["action"] == action].iloc[-1]
        assert row["who"] == os_user() and row["at"] > 0
    store.close()
