"""Each user's journey through the app in Chromium (issue 25), one Streamlit server for the three
on a copy of the trained demo, in a laptop-sized window (what is below the fold must be scrolled to):

1. the analyst: on the Clusters page a click on a map dot selects it, a lasso (from the chart's
   toolbar: the map opens in pan mode, where Streamlit lets a click select) selects many and the
   selection's count and grid come into view; a tile opens large with its skeleton, product and
   labels; a centroid is described (Enter saves); two centroids are merged into a named pose group;
   the merge is undone.
2. the reviewer: the Product page's search ("tee") picks a tee listing and the dropdown agrees;
   previous / next walk the worst-first queue; an uploaded photo is judged against the cohort picked.
3. the stakeholder: Home -> Dashboard -> a click on a chart's bar opens that product -> Back returns.

Every step asserts what the page then shows (text, images), and each journey fails on any browser
console error or uncaught page error except Streamlit's page-path health-probe 404s (upstream,
streamlit issue 7074: test_browser.watch_console). Screenshots: test-artifacts/journeys/.
The harness (server, Chromium, waits) is tests/test_browser.py's and tests/browser_steps.py's.
"""
from __future__ import annotations

import io
import re

import numpy as np
import pytest
from apphelpers import ROOT, copy_data_dir
from browser_steps import click_centre, click_first_dot, draw_lasso
from test_browser import CHROMIUM, CHROMIUM_ARGS, NAV_LINKS, app_server, chromium, shoot, wait_ready, watch_console

from unpose_core import groups as grp
from unpose_core.config import SuggestConfig
from unpose_core.outputs import catalogue
from unpose_core.rank import cohort_name
from unpose_core.records import MarkKind
from unpose_core.runs import active_run
from unpose_core.store import Store

pytestmark = [pytest.mark.browser, pytest.mark.slow]
__all__ = ["chromium"]   # the suite's fixture, used by name: skips (or fails in CI) without a browser

SHOTS = ROOT / "test-artifacts" / "journeys"
VIEWPORT = {"width": 1400, "height": 900}
MAIN = '[data-testid="stMainBlockContainer"]'
COUNT = re.compile(r"^Selected: (\d+) images?$")


@pytest.fixture(scope="module")
def served(chromium, demo_data_dir, tmp_path_factory):
    """One server for the module's journeys, on a copy of the trained demo (its map computed first)."""
    data = copy_data_dir(demo_data_dir, tmp_path_factory.mktemp("journeys") / "data")
    with app_server(data, "streamlit-journeys.log") as base:
        store = Store(data)
        yield base, store, active_run(store)
        store.close()


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def visit(browser):
    """A fresh tab and the list of what went wrong in it: console errors and uncaught page errors."""
    page = browser.new_page(viewport=VIEWPORT)
    problems = watch_console(page)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    yield page, problems
    page.close()


def settled(page) -> None:
    """After the step's own result is on the page: until its script run is over."""
    wait_ready(page, calm=0.3)


def in_view(locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"]


def toast(page, text: str):
    t = page.locator('[data-testid="stToast"]', has_text=text)
    t.first.wait_for(timeout=30_000)
    return t.first.inner_text()


def heading(page) -> str:
    """The page's first subheader (h3 in the main area: the product's title on the Product page)."""
    return page.locator(f"{MAIN} h3").first.inner_text().strip()


def selected(page, more_than: int = 0) -> tuple[int, object]:
    """The map selection's count once it is above ``more_than``, and its line on the page."""
    strong = page.locator(f"{MAIN} strong", has_text=COUNT)
    page.wait_for_function("""([re, n]) => [...document.querySelectorAll('[data-testid="stMainBlockContainer"] strong')]
        .some(s => { const m = s.innerText.match(new RegExp(re)); return m && Number(m[1]) > n; })""",
                           arg=[COUNT.pattern, more_than], timeout=60_000)
    settled(page)
    return int(COUNT.match(strong.first.inner_text()).group(1)), strong.first


def skeleton_pixels(png: bytes) -> tuple[int, int]:
    """Pixels of the app's bone green and joint orange (ui.grid.LINE / JOINT) in an image."""
    from PIL import Image

    from ui.grid import JOINT, LINE

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.int16)
    return tuple(int((np.abs(rgb - c).sum(axis=2) < 60).sum()) for c in (LINE, JOINT))


def quiet(problems: list[str]) -> None:
    assert not problems, f"browser console errors / page errors: {problems[:8]} ({len(problems)} in all)"


def test_analyst_selects_on_the_map_opens_a_tile_describes_merges_and_undoes(served, visit):
    from playwright.sync_api import expect

    from ui.grid import LARGE

    base, store, run = served
    rid = run.run_id
    page, problems = visit
    page.goto(f"{base}/Clusters")
    wait_ready(page)
    page.locator(".js-plotly-plot .nsewdrag").first.wait_for(timeout=30_000)
    assert page.get_by_text("Nothing selected yet.").is_visible()

    # a click on a dot selects it, in the mode the map opens in; its count comes into view
    click_first_dot(page)
    n, line = selected(page)
    assert n == 1 and line.inner_text() == "Selected: 1 image"
    assert in_view(line), f"the selection's count is not scrolled into view: {line.bounding_box()}"

    # a lasso round the map: many images, counted, paged, scrolled into view
    page.locator(".js-plotly-plot").first.evaluate("e => e.scrollIntoView({block: 'center'})")
    draw_lasso(page, page.locator(".js-plotly-plot .nsewdrag").first.bounding_box())
    page.mouse.up()
    n, line = selected(page, more_than=1)
    assert n > 48, f"the lasso round the whole map selected {n} images"
    assert in_view(line), f"the lasso's selection is not scrolled into view: {line.bounding_box()}"
    assert page.get_by_text(re.compile(rf"Page 1 of \d+ · images 1–48 of {n}$")).is_visible()
    assert page.get_by_text(re.compile(r"^Centroid \d+$")).first.is_visible()   # grouped by centroid
    shoot(page, 1, "analyst_1_lasso_selection", SHOTS)

    # open a tile: the image large, its skeleton drawn, its product, centroid and view labels beside it
    first_caption = page.locator(f"{MAIN} [data-testid='stImageCaption']").first.inner_text().strip()
    pid, centroid, *labels = first_caption.split(" · ")
    assert re.fullmatch(r"c\d+", centroid) and labels, first_caption
    page.get_by_role("button", name="Enlarge").first.click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for(timeout=30_000)
    page.wait_for_function("""() => { const i = document.querySelector('[role=dialog] img');
        return i && i.complete && i.naturalWidth > 0; }""", timeout=30_000)
    img = dialog.locator("img").first
    assert img.evaluate("i => i.naturalWidth") == LARGE and in_view(img)
    bones, joints = skeleton_pixels(page.request.get(img.get_attribute("src")).body())
    assert bones > 200 and joints > 200, f"no skeleton on the enlarged image ({bones} bone, {joints} joint pixels)"
    assert dialog.get_by_text(first_caption).is_visible()
    assert dialog.get_by_role("button", name=f"Open {pid} on the Product page").is_visible()
    shoot(page, 1, "analyst_2_tile", SHOTS)
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached", timeout=30_000)

    # describe the centroid on show (Enter saves); a mate the words name too is said
    c = int(page.locator(f".st-key-centroid-{rid} input").input_value().split(" · ")[0])   # a pose: a number
    text = "Side on, hands by the sides"
    mates = grp.also_named(store, run, c, text)
    field = page.get_by_role("textbox", name="Human description (saved with Enter or Save)")
    field.fill(text)
    field.press("Enter")
    said = toast(page, f"Saved: centroid {c} = “{text}”")
    page.get_by_text(re.compile(r"^Written by .+ \(app\) · ")).wait_for(timeout=30_000)
    settled(page)
    assert store.descriptions(rid)[c].text == text
    picker = page.locator(f".st-key-centroid-{rid} input")
    assert picker.input_value().startswith(f"{c} · {text} ("), picker.input_value()   # the dropdown says it too
    # on to the next centroid and back (the dropdown kept its old words and Next failed before)
    for button, shown in (("next", f"{(c + 1) % run.n_classes} · "), ("prev", f"{c} · {text} (")):
        page.locator(f".st-key-centroid-{button}-{rid} button:visible").click()
        page.wait_for_function("([k, s]) => document.querySelector(`.st-key-${k} input`).value.startsWith(s)",
                               arg=[f"centroid-{rid}", shown], timeout=30_000)
        settled(page)
    assert page.get_by_role("textbox", name="Human description (saved with Enter or Save)").input_value() == text
    if mates:   # (the demo's centroid 0 has a mirror partner without words: named too)
        assert f"it names centroid(s) {', '.join(map(str, mates))} too" in said, said
        assert page.get_by_text(f"“{text}” names centroid(s)").is_visible()
    shoot(page, 1, "analyst_3_described", SHOTS)

    # merge two other centroids into a named pose group
    busy = {c, *mates}
    a, b = [k for k in range(run.n_classes) if run.is_pose(k) and k not in busy][:2]
    several = page.get_by_text(re.compile(r"^Groups of several centroids \(\d+\)"))
    before = int(re.search(r"\((\d+)\)", several.inner_text()).group(1)) if several.count() else 0
    picker = page.locator(f".st-key-groups-merge-{rid}")
    for k in (a, b):
        picker.locator("input").click()
        page.get_by_role("option", name=re.compile(rf"^{k} · ")).click()
        picker.locator('[data-baseweb="tag"]', has_text=re.compile(rf"^{k} · ")).wait_for(timeout=30_000)
        settled(page)
    page.keyboard.press("Escape")
    name = "Front, any framing"
    field = page.get_by_role("textbox", name="Name of the merged pose")
    field.fill(name)
    field.press("Enter")
    merge = page.locator(f".st-key-groups-merge-btn-{rid} button:visible")
    expect(merge).to_be_enabled(timeout=30_000)
    merge.click()
    toast(page, f"Merged 2 centroids into “{name}”")
    last = page.get_by_text(re.compile(r"^Last change: Merged “"))
    last.wait_for(timeout=30_000)
    settled(page)
    assert f"— as “{name}” —" in last.inner_text()
    assert page.get_by_text(f"Groups of several centroids ({before + 1})").is_visible()
    assert picker.locator('[data-baseweb="tag"]').count() == 0 and field.input_value() == "", \
        "the merge form still shows what was merged"
    assert (MarkKind.MERGE, (a, b), name) in {(m.kind, m.centroids, m.note) for m in store.group_marks(rid)}
    shoot(page, 1, "analyst_4_merged", SHOTS)

    # undo the last change: the merge is gone
    page.locator(f".st-key-groups-undo-btn-{rid} button:visible").click()
    toast(page, "Undone: Merged “")
    page.get_by_text(re.compile(r"^Last change: Cleared: Merged “")).wait_for(timeout=30_000)
    settled(page)
    assert (page.get_by_text(f"Groups of several centroids ({before})").is_visible() if before else
            page.get_by_text("Groups of several centroids").count() == 0)
    assert not [m for m in store.group_marks(rid) if m.kind is MarkKind.MERGE]
    shoot(page, 1, "analyst_5_undone", SHOTS)
    quiet(problems)


def test_reviewer_searches_walks_the_queue_and_uploads_a_photo(served, visit):
    base, store, run = served
    page, problems = visit
    products = store.products().set_index("product_id")
    queue = catalogue(store, run).worst_first()["product_id"].tolist()
    page.goto(f"{base}/Product")
    wait_ready(page)
    first = heading(page)

    # typing "tee" picks a tee listing; the dropdown, the title and the link agree, every match is a tee
    search = page.get_by_role("textbox", name="Search by id or title")
    search.fill("tee")
    search.press("Enter")
    page.wait_for_function("t => { const h = document.querySelector('[data-testid=\"stMainBlockContainer\"] h3');"
                           " return h && h.innerText.trim() !== t; }", arg=first, timeout=30_000)
    settled(page)
    pick = page.locator(".st-key-product-pick")
    pid = pick.locator("input").input_value().split(" — ")[0]
    assert pid.startswith("tee-"), pid
    assert heading(page) == products.at[pid, "title"]
    assert f"product={pid}" in page.url
    pick.locator("input").click()
    options = page.get_by_role("option").all_inner_texts()
    assert options and all(o.startswith("tee-") for o in options), options
    page.keyboard.press("Escape")
    shoot(page, 2, "reviewer_1_search", SHOTS)

    # next / previous through the worst-first queue
    at = queue.index(pid)
    where = page.get_by_text(re.compile(r"^\d+ of \d+ in the worst-first queue"))
    assert where.inner_text().startswith(f"{at + 1} of {len(queue)} ")
    page.locator(".st-key-product-next button:visible").click()
    page.wait_for_function("u => location.search.includes('product=' + u)", arg=queue[at + 1], timeout=30_000)
    page.get_by_text(f"{at + 2} of {len(queue)} in the worst-first queue", exact=False).wait_for(timeout=30_000)
    settled(page)
    assert heading(page) == products.at[queue[at + 1], "title"]
    assert pick.locator("input").input_value().startswith(f"{queue[at + 1]} — ")
    page.locator(".st-key-product-prev button:visible").click()
    page.wait_for_function("u => location.search.includes('product=' + u)", arg=pid, timeout=30_000)
    page.get_by_text(f"{at + 1} of {len(queue)} in the worst-first queue", exact=False).wait_for(timeout=30_000)
    settled(page)
    assert heading(page) == products.at[pid, "title"]
    shoot(page, 2, "reviewer_2_queue", SHOTS)

    # upload a photo of a tee, judged against the T-shirts cohort picked
    tables = run.ranker.tables_
    cohort = next(k for k, t in tables.items() if t["level"] == "subcategory" and "T-shirt" in k
                  and t["n_products"] >= SuggestConfig().min_cohort_products)
    images = store.images()
    photo = images.loc[images["product_id"] == pid, "path"].iloc[0]
    page.get_by_text("Upload photos", exact=True).click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(photo)
    filename = photo.rsplit("/", 1)[-1]
    page.locator(".st-key-product-upload", has_text=filename).wait_for(timeout=30_000)
    settled(page)
    picker = page.locator(".st-key-up-cohort")
    picker.click()
    page.get_by_role("option", name=f"{cohort_name(cohort)} (subcategory, ").click()
    page.wait_for_function("k => document.querySelector('.st-key-up-cohort input').value.startsWith(k + ' (')",
                           arg=cohort_name(cohort), timeout=30_000)
    settled(page)
    page.get_by_role("button", name="Find missing poses").click()
    judged = page.get_by_text(f"Judged against {cohort_name(cohort)}.", exact=True)
    judged.wait_for(timeout=60_000)
    settled(page)
    assert page.get_by_text("has too few best sellers").count() == 0
    captions = page.locator(f"{MAIN} [data-testid='stImageCaption']").all_inner_texts()
    assert any(c.startswith(f"{filename} · ") for c in captions), captions
    judged.scroll_into_view_if_needed()
    shoot(page, 2, "reviewer_3_upload", SHOTS)
    quiet(problems)


def test_stakeholder_opens_a_product_from_the_dashboard_and_comes_back(served, visit):
    base, store, run = served
    page, problems = visit
    page.goto(base)
    wait_ready(page)
    assert page.get_by_text("What to do next").is_visible()
    shoot(page, 3, "stakeholder_1_home", SHOTS)

    page.locator(NAV_LINKS, has_text="Dashboard").click()
    gains = page.get_by_role("heading", name="Products that would gain most")
    gains.wait_for(timeout=60_000)
    page.locator(".st-key-dash-gains .js-plotly-plot .barlayer .point").first.wait_for(timeout=30_000)
    settled(page)
    assert page.url.rstrip("/").endswith("/Dashboard")
    shoot(page, 3, "stakeholder_2_dashboard", SHOTS)

    # the top bar of "would gain most" (drawn last) opens its product
    pid = page.evaluate("""() => { const d = document.querySelector('.st-key-dash-gains .js-plotly-plot')._fullData[0];
        return String(d.customdata[d.customdata.length - 1][0]); }""")
    click_centre(page, page.locator(".st-key-dash-gains .js-plotly-plot .barlayer .point").last)
    page.wait_for_function("u => location.pathname.endsWith('/Product') && location.search.includes('product=' + u)",
                           arg=pid, timeout=60_000)
    back = page.get_by_role("link", name="Back to Dashboard")
    back.wait_for(timeout=30_000)
    settled(page)
    assert heading(page) == store.products().set_index("product_id").at[pid, "title"]
    assert page.get_by_text("Missing poses, most important first").count() == 1
    shoot(page, 3, "stakeholder_3_product", SHOTS)

    back.click()
    page.wait_for_function("() => location.pathname.endsWith('/Dashboard')", timeout=30_000)
    gains.wait_for(timeout=60_000)
    settled(page)
    assert page.url.rstrip("/").endswith("/Dashboard"), f"Back did not stay on the Dashboard: {page.url}"
    shoot(page, 3, "stakeholder_4_back", SHOTS)
    quiet(problems)
