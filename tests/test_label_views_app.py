"""Issue 22 in the app: the labelling queue (least sure first, keys, undo), the label action on a
map selection and on a centroid's images, each landing in the one view label table with the
user and the time (AppTest on a copy of the trained demo data dir)."""
from __future__ import annotations

import time

import pytest
import test_app
from apphelpers import APP, PAGES

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from unpose_core import api
from unpose_core import app_tables as views
from unpose_core.runs import active_run
from unpose_core.store import Store

TIMEOUT = 120
app_dir, fresh_dir = test_app.app_dir, test_app.fresh_dir   # the app tests' copies of the demo


def _clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _shown(at: AppTest) -> str:
    """The content hash prefix of the image the queue shows."""
    cap = next(c.value for c in at.caption if "· image `" in c.value)
    return cap.split("· image `")[1].split("`")[0]


def test_queue_least_sure_first_keys_and_undo(fresh_dir, monkeypatch):
    store = Store(fresh_dir)
    queue = views.label_queue(store, active_run(store))
    assert len(queue) > 3 and not queue["labelled"].any()
    assert queue["sureness"].is_monotonic_increasing          # least sure first
    monkeypatch.setenv("UNPOSED_DATA_DIR", str(fresh_dir))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.switch_page(PAGES["label_views"])
    at.run()
    _clean(at)
    first, second = queue["content_hash"].iloc[0], queue["content_hash"].iloc[1]
    assert _shown(at) == first[:12]
    assert any("[F]" in b.label for b in at.button) and any("[1]" in b.label for b in at.button)
    t0 = time.time()
    at.button(key="vq-facing-back").click().run()
    assert api.view_labels(fresh_dir, [first]).empty           # one part picked: not saved yet
    at.button(key="vq-framing-upper_body").click().run()
    _clean(at)
    lab = api.view_labels(fresh_dir, [first]).iloc[0]
    assert (lab["facing"], lab["framing"], lab["source"]) == ("back", "upper_body", "analyst")
    assert lab["user"] and lab["created_at"] >= t0 - 1
    assert _shown(at) == second[:12]                          # the next least sure
    # skip, then undo: the last label's image comes back first
    at.button(key="vq-skip").click().run()
    assert _shown(at) == queue["content_hash"].iloc[2][:12]
    at.button(key="vq-undo").click().run()
    _clean(at)
    assert _shown(at) == first[:12]
    # label it again, undo: the label before is in force again (appended anew)
    at.button(key="vq-facing-front").click().run()
    at.button(key="vq-framing-full_length").click().run()
    assert _shown(at) != first[:12]
    at.button(key="vq-undo").click().run()        # back to it (its first label is in force again)
    assert _shown(at) == first[:12]
    assert api.view_labels(fresh_dir, [first]).iloc[0]["facing"] == "back"
    at.button(key="vq-facing-front").click().run()
    at.button(key="vq-framing-full_length").click().run()
    at.button(key="vq-skip").click().run()
    at.button(key="vq-undo").click().run()        # undo goes back past a skip to the last label
    assert _shown(at) == first[:12]
    assert api.view_labels(fresh_dir, [first]).iloc[0]["facing"] == "back"
    at.button(key="vq-facing-profile_left").click().run()
    at.button(key="vq-framing-close_up").click().run()
    assert api.view_labels(fresh_dir, [first]).iloc[0]["facing"] == "profile_left"
    at.button(key="vq-undo").click().run()
    _clean(at)
    now = api.view_labels(fresh_dir, [first]).iloc[0]
    assert (now["facing"], now["framing"]) == ("back", "upper_body")
    assert len(api.view_labels(fresh_dir, [first], history=True)) == 7   # append-only: nothing erased


def test_map_selection_and_centroid_label_action(fresh_dir, monkeypatch):
    def panel():
        from ui.common import get_run, get_store
        from ui.view_labels import label_selection

        store = get_store()
        ref = get_run(store).reference
        label_selection(store, ref["content_hash"].iloc[:7], key="sel")

    monkeypatch.setenv("UNPOSED_DATA_DIR", str(fresh_dir))
    at = AppTest.from_function(panel, default_timeout=TIMEOUT).run()
    _clean(at)
    assert any("Label these 7 images" in m.value for m in at.markdown)
    at.selectbox(key="sel-facing").set_value(at.selectbox(key="sel-facing").options[3])
    at.selectbox(key="sel-framing").select_index(4)
    t0 = time.time()
    at.button[0].click().run()
    _clean(at)
    run = active_run(Store(fresh_dir))
    hashes = list(dict.fromkeys(run.reference["content_hash"].iloc[:7]))
    got = api.view_labels(fresh_dir, hashes)
    assert len(got) == len(hashes) and set(got["framing"]) == {"full_length"} and got["facing"].nunique() == 1
    assert got["user"].notna().all() and (got["created_at"] >= t0 - 1).all()
    assert set(got["source"]) == {"analyst"}

    # the Clusters page: the centroid's images, in one action
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.switch_page(PAGES["clusters"])
    at.run()
    _clean(at)
    c = at.selectbox(key=f"centroid-{run.run_id}").value
    at.selectbox(key=f"cen-{c}-kind").set_value(at.selectbox(key=f"cen-{c}-kind").options[1])  # person
    at.selectbox(key=f"cen-{c}-facing").select_index(1)
    next(b for b in at.button if b.label.startswith("Save for ")).click().run()
    _clean(at)
    members = set(run.reference.loc[run.reference["pose_class"] == c, "content_hash"])
    got = api.view_labels(fresh_dir, list(members))
    assert len(got) == len(members) and set(got["facing"]) == {"front"} and got["user"].notna().all()
