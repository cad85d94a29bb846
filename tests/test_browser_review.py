"""The review panel in Chromium (issue 23 item 2): a reviewer enters a name, judges three
suggestions with the keys, submits with S and lands on the next product of the review queue;
nothing is stored before the submit. The harness is tests/test_browser.py's."""
from __future__ import annotations

import time

import pytest
from apphelpers import copy_data_dir
from test_browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, app_server, chromium, wait_ready, watch_console

from unpose_core.outputs import catalogue
from unpose_core.records import Verdict
from unpose_core.reviews import next_to_review, review_queue
from unpose_core.runs import active_run
from unpose_core.store import Store

pytestmark = [pytest.mark.browser, pytest.mark.slow]
__all__ = ["chromium"]   # the fixture, used by name


def _stored(store: Store) -> tuple[int, int]:
    return len(store.latest_reviews()), len(store.judgement_history())


def test_review_with_keys_then_next(chromium, demo_data_dir, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    data = copy_data_dir(demo_data_dir, tmp_path_factory.mktemp("review") / "data")
    store = Store(data)
    run = active_run(store)
    table = catalogue(store, run).products
    queue = review_queue(table)
    n_missing = table.set_index("product_id")["n_missing"]
    pid = next(p for p in queue if n_missing[p] >= 3)
    expected_next = next_to_review(table, pid)
    assert expected_next not in (None, pid)

    with app_server(data, "streamlit-review.log") as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            console = watch_console(page)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/Product?product={pid}")
            wait_ready(page)
            panel = page.locator(".st-key-review-panel")
            panel.wait_for(timeout=60_000)
            assert panel.get_by_role("button", name="Submit and next").is_disabled()   # the name comes first
            name = panel.get_by_label("Your name", exact=False)
            name.fill("Asha")
            name.press("Enter")
            wait_ready(page)
            page.evaluate("document.activeElement && document.activeElement.blur()")
            assert not panel.get_by_role("button", name="Submit and next").is_disabled()
            for key in ("Y", "N", "U"):
                page.keyboard.press(key)
                time.sleep(0.5)
                wait_ready(page)
                assert _stored(store) == (0, 0), f"something was stored after key {key}, before the submit"
            chosen = panel.locator('[data-testid="stButtonGroup"] button[aria-checked="true"], '
                                   '[data-testid="stButtonGroup"] [kind$="Active"]').count()
            assert chosen >= 3, f"{chosen} verdicts shown as chosen"
            page.keyboard.press("S")
            time.sleep(0.5)
            wait_ready(page)
            page.wait_for_function("n => location.search.includes('product=' + n)", arg=expected_next,
                                   timeout=60_000)
            assert page.locator(".st-key-review-panel").count() == 1
            assert page.get_by_text(f"Saved the review of {pid}. Next in the queue: {expected_next}.").count() == 1
            assert not errors, errors
            assert not console, f"console errors: {console[:8]}"
        finally:
            browser.close()
    reviews = store.latest_reviews()
    assert list(reviews) == [pid]
    r = reviews[pid]
    assert r.by == "Asha"
    assert [v.verdict for v in sorted(r.verdicts, key=lambda v: v.rank or 99)][:3] == \
        [Verdict.CONFIRM, Verdict.REJECT, Verdict.UNSURE]
    assert len(store.judgement_history()) == 1
    store.close()
