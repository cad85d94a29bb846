"""The Dashboard page: through AppTest (numbers, charts, the pose filter, opening a product) and
in Chromium (the three plotly charts drawn; a click on a bar opens that product on the Product
page). The Chromium test reuses tests/test_browser.py's server fixture (a streamlit server on a
copy of the demo) and is skipped like it without /usr/bin/chromium (a failure when CI=true)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from apphelpers import APP, mapped_copy
from test_browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, chromium, server, wait_ready  # noqa: F401 (fixtures)

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from unpose_core.outputs import catalogue, subject_ids
from unpose_core.store import Store

DASHBOARD = "pages/8_Dashboard.py"
TIMEOUT = 90


@pytest.fixture(scope="module")
def dash_dir(demo_data_dir, tmp_path_factory) -> Path:
    """A copy of the demo data dir with its map computed (the frame would start computing it)."""
    return mapped_copy(demo_data_dir, tmp_path_factory.mktemp("dashboard") / "data")


@pytest.fixture(scope="module")
def expected(dash_dir):
    from unpose_core.runs import active_run

    store = Store(dash_dir)
    try:
        run = active_run(store)
        return catalogue(store, run), subject_ids(store, run)
    finally:
        store.close()


def open_dashboard(data_dir: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("UNPOSED_DATA_DIR", str(data_dir))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.switch_page(DASHBOARD)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def chart_products(chart) -> set[str]:
    """The product ids a plotly chart carries as customdata."""
    spec = json.loads(chart.proto.spec)
    return {str(c[0]) for trace in spec["data"] for c in trace.get("customdata") or []}


def test_dashboard_numbers_charts_filter_and_click_through(dash_dir, expected, monkeypatch):
    cat, ids = expected
    at = open_dashboard(dash_dir, monkeypatch)
    assert at.title[0].value == "Dashboard"
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Subject products"]) == len(ids) == len(cat.products)
    assert int(metrics["Photos asked for"]) == int(cat.products["n_missing"].sum()) == len(cat.missing)
    assert float(metrics["Mean completeness"]) == pytest.approx(cat.products["completeness"].mean(), abs=0.5)
    assert [s.value for s in at.subheader] == ["Completeness by cohort", "Most-missing poses",
                                               "Products that would gain most"]
    charts = at.get("plotly_chart")
    assert len(charts) == 3
    scored = set(cat.products.loc[cat.products["completeness"].notna(), "product_id"])
    assert chart_products(charts[0]) == scored                         # every scored product, clickable
    assert chart_products(charts[2]) == set(cat.gains(top=15)["product_id"])
    poses_spec = json.loads(charts[1].proto.spec)
    assert set(poses_spec["data"][0]["y"]) == set(cat.most_missing()["pose"])
    # every chart has a title and hovers in words, never a raw field name (issue 25)
    for chart in charts:
        spec = json.loads(chart.proto.spec)
        assert spec["layout"]["title"]["text"]
        hovers = " ".join(tr.get("hovertemplate", "") for tr in spec["data"])
        for raw in ("mean_confidence", "n_first", "n_missing", "gain_requested", "gain_next", "top_missing",
                    "n_products", "product_id"):
            assert f"{raw}=" not in hovers, (raw, hovers)
    captions = " ".join(c.value for c in at.caption)
    assert "100 = nothing missing" in captions and "subcategory" in captions
    assert "Click a bar to list the products asked for that pose" in captions
    # the numbers behind each chart download (CSV + JSON each), plus everything as JSON and the sheets zip
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels.count("CSV") == 4 and labels.count("JSON") == 4
    assert "All numbers (JSON)" in labels and any("Seller sheets" in b for b in labels)

    # a pose picked (as a click on its bar does): only products asked for it
    pose = cat.most_missing()["pose"].iloc[-1]
    at.selectbox(key="dash-pose").set_value(pose).run()
    assert not at.exception
    asked = set(cat.missing.loc[cat.missing["pose"] == pose, "product_id"])
    shown = chart_products(at.get("plotly_chart")[2])
    assert shown and shown <= asked

    # the worst product opens on the Product page
    worst = cat.worst_first()["product_id"].iloc[0]
    at.selectbox(key="dash-open-pick").set_value(worst)
    at.button(key="dash-open").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Product"
    assert at.selectbox(key="product-pick").value == worst
    back = [link for link in at.main.get("page_link") if link.proto.label == "Back to Dashboard"]
    assert back and back[0].proto.page == "Dashboard"
    bars = [p for p in at.get("progress") if "Completeness" in (p.proto.text or "")]
    score = cat.products.set_index("product_id").at[worst, "completeness"]
    assert bars and f"**{score:.0f}/100**" in bars[0].proto.text


@pytest.mark.browser
@pytest.mark.slow
def test_dashboard_in_chromium_click_opens_the_product(server, expected):  # noqa: F811
    from playwright.sync_api import sync_playwright

    cat, _ = expected
    top = set(cat.gains(top=15)["product_id"])
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server}/Dashboard")
            wait_ready(page)
            assert page.locator('[data-testid="stException"]').count() == 0
            page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 3", timeout=30_000)
            plots = page.locator(".js-plotly-plot")
            n_points = len(cat.products["completeness"].dropna()) + len(cat.by_cohort())   # products + cohort means
            assert plots.nth(0).locator(".point").count() == n_points
            bars = plots.nth(2).locator(".barlayer .point path")
            assert bars.count() == len(top)
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "8_dashboard.png"), full_page=True)
            box = bars.last.bounding_box()          # the top bar: the product that would gain most
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.wait_for_url("**/Product**", timeout=60_000)
            wait_ready(page)
            page.wait_for_url("**product=**", timeout=30_000)   # the Product page names its product in the URL
            pid = page.url.split("product=")[-1].split("&")[0]
            assert pid == cat.gains(top=1)["product_id"].iloc[0], page.url
            assert page.get_by_text("Missing poses, most important first").count() == 1
            assert not errors, errors
        finally:
            browser.close()
