"""Issue 22 end to end in Chromium: an analyst labels ten images with the keys in the labelling
queue, a reviewer corrects one listing image on the Product page; both show in
`unposed views status`."""
from __future__ import annotations

import json
import re

import pytest
import test_browser
from apphelpers import copy_data_dir
from test_browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, app_server, wait_ready, watch_console

from unpose_core import api
from unpose_core.cli import main as cli_main

pytestmark = [pytest.mark.browser, pytest.mark.slow]
chromium = test_browser.chromium   # the suite's fixture: skips (or fails in CI) without a browser


@pytest.fixture
def served(chromium, demo_data_dir, tmp_path):
    data = copy_data_dir(demo_data_dir, tmp_path / "data")
    with app_server(data, "streamlit-labels.log") as base:
        yield base, data

SHOWN = re.compile(r"image `?([0-9a-f]{12})")   # the page writes it as code


def _shown(page) -> str:
    text = page.locator('[data-testid="stMainBlockContainer"]').inner_text()
    m = SHOWN.search(text)
    assert m, text[:500]
    return m.group(1)


def test_queue_keys_and_reviewer_correction_show_in_views_status(served, capsys):
    from playwright.sync_api import sync_playwright

    base, data = served
    keys = [("f", "4"), ("b", "2"), ("q", "3"), ("e", "1"), ("a", "4"), ("d", "2"), ("f", "3"), ("b", "4"),
            ("f", "1"), ("e", "4")]
    facing = {"f": "front", "b": "back", "q": "three_quarter_left", "e": "three_quarter_right",
              "a": "profile_left", "d": "profile_right"}
    framing = {"1": "close_up", "2": "upper_body", "3": "three_quarter", "4": "full_length"}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            console = watch_console(page)
            page.goto(f"{base}/Label_views")
            wait_ready(page)
            assert page.locator('[data-testid="stException"]').count() == 0
            assert page.get_by_text("Keys: a facing key and a framing key").count() == 1
            done = {}
            for f, fr in keys:
                h = _shown(page)
                page.locator("h1").first.click()          # focus the page, not a widget
                page.keyboard.press(f)
                wait_ready(page)
                page.keyboard.press(fr)
                page.wait_for_function("h => !document.querySelector('[data-testid=\"stMainBlockContainer\"]')"
                                       ".innerText.includes(h)", arg=h, timeout=30_000)
                wait_ready(page)
                done[h] = (facing[f], framing[fr])
            assert len(done) == 10
            page.screenshot(path=str(_shot("label_views")))

            # a reviewer on the Product page: "this photo actually shows ..." on a listing image
            page.goto(f"{base}/Product")
            wait_ready(page)
            page.get_by_text("This photo actually shows …").first.click()
            exp = page.locator('[data-testid="stExpander"]', has_text="Save correction").first
            exp.get_by_role("button", name="Save correction").wait_for(timeout=30_000)
            for attempt in range(3):   # the page may rerun while the list opens: open it again
                exp.locator('[data-testid="stSelectbox"]').nth(2).click()     # kind
                try:
                    page.get_by_role("option", name="size chart or text").click(timeout=15_000)
                    break
                except Exception:
                    if attempt == 2:
                        raise
                    page.keyboard.press("Escape")
                    wait_ready(page)
            exp.get_by_role("button", name="Save correction").click()
            page.wait_for_selector("text=/Saved: this photo shows/", timeout=30_000)
            wait_ready(page)
            page.screenshot(path=str(_shot("product_reviewer")))
            assert not errors, f"JavaScript errors: {errors}"
            assert not console, f"console errors: {console[:8]}"
        finally:
            browser.close()

    labels = api.view_labels(data).set_index("content_hash")
    analyst = labels[labels["source"] == "analyst"]
    assert {h[:12]: (r.facing, r.framing) for h, r in analyst.iterrows()} == done
    assert analyst["user"].notna().all()
    reviewer = labels[labels["source"] == "reviewer"]
    assert len(reviewer) == 1 and reviewer["kind"].iloc[0] == "size_chart"
    capsys.readouterr()
    assert cli_main(["views", "status", "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert "labelled images: 11 (analyst 10, reviewer 1)" in out, out
    assert cli_main(["views", "status", "--json", "--data-dir", str(data)]) == 0
    assert json.loads(capsys.readouterr().out)["by_source"] == {"analyst": 10, "reviewer": 1}


def _shot(name: str):
    from test_browser import SHOTS

    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / f"issue22_{name}.png"
