"""End to end in a real browser: `streamlit run app.py` on a copy of the trained demo, driven
by Playwright with Debian's chromium (/usr/bin/chromium; Playwright never downloads one).

Every page is opened, by URL, through Streamlit's sidebar page list and through the home
page's links; every page must show that page list and the app's own sidebar (data dir, active
run, job panel). The UMAP chart, the image grids and the other widgets must be in the DOM, no
page may show a Streamlit exception box, and image URLs must really answer 200 (starlette >=
1.8 breaks st.image in a browser while AppTest stays green). A screenshot of each page goes to
test-artifacts/screenshots/.

Without /usr/bin/chromium the test is skipped, or fails when CI=true.
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
import time
from pathlib import Path

import pytest
from apphelpers import ROOT, copy_data_dir, streamlit_server
from browser_steps import click_first_dot, draw_lasso

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
SHOTS = ROOT / "test-artifacts" / "screenshots"
VIEWPORT = {"width": 1400, "height": 2200}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _require(ok: bool, msg: str) -> None:
    if ok:
        return
    if _in_ci():
        pytest.fail(f"{msg} (CI=true: the browser test must run)")
    pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")   # session: set up before the (session) demo fixture
def chromium() -> str:
    """Checked before anything is built, so a machine without a browser skips at once."""
    _require(Path(CHROMIUM).is_file(),
             f"{CHROMIUM} is missing: install Debian's chromium (`make chromium`, i.e. apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _require(False, "the playwright Python package is not installed (pip install -e '.[test]')")
    return CHROMIUM


@pytest.fixture(scope="module")
def server(chromium, demo_data_dir, tmp_path_factory):
    data = copy_data_dir(demo_data_dir, tmp_path_factory.mktemp("browser") / "data")
    with app_server(data) as base:
        yield base


@contextlib.contextmanager
def app_server(data: Path, log_name: str = "streamlit-server.log"):
    """`streamlit run app.py` on the data dir ``data`` (its map computed first) on a free port:
    yields the base URL; the server and only what it started are stopped afterwards."""
    # the map is computed once per run and stored; do it here so page timings are the app's
    from unpose_core import projection
    from unpose_core.runs import active_run
    from unpose_core.store import Store
    store = Store(data)
    projection.ensure_projection(store, active_run(store))
    store.close()

    log_path = SHOTS.parent / log_name
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with streamlit_server(data, _free_port(), log_path) as base:
        yield base


def wait_ready(page, timeout: float = 120.0, calm: float = 1.0) -> None:
    """Until the script run is over: no running indicator, no skeletons, a title, for ``calm`` s
    (shorter once the run's own result is already on the page)."""
    t0, quiet = time.monotonic(), None
    while time.monotonic() - t0 < timeout:
        busy = page.evaluate("""() => !!document.querySelector('[data-testid="stStatusWidget"]')
            || document.querySelectorAll('[data-testid="stSkeleton"]').length > 0
            || !document.querySelector('[data-testid="stMainBlockContainer"] h1')""")
        if busy:
            quiet = None
        elif quiet is None:
            quiet = time.monotonic()
        elif time.monotonic() - quiet > calm:
            return
        time.sleep(0.2)
    raise AssertionError(f"page {page.url} still running after {timeout:.0f}s")


def grid_images(page) -> list[str]:
    """src of every loaded st.image picture in the main area (real URLs, decoded by the browser)."""
    return page.evaluate("""() => Array.from(document.querySelectorAll(
            '[data-testid="stMainBlockContainer"] [data-testid="stImage"] img'))
        .filter(i => i.getAttribute('src') && i.complete && i.naturalWidth > 0)
        .map(i => i.src)""")


# the app's page list in the sidebar (ui/frame.py NAV, st.page_link), in menu order
NAV = ["Home", "Catalogue", "Train", "Clusters", "Tune K", "Product", "Report", "Evaluate", "Dashboard",
       "Label views"]
NAV_LINKS = '.st-key-unposed_nav a'   # the container keyed "unposed_nav" in ui/frame.py


def check_sidebar(page, name: str) -> None:
    """The app's page list, then the frame's sidebar: the data dir, the active run, the job panel."""
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0, f"{name}: Streamlit's own page list shows"
    nav = [t.split("\n")[-1] for t in page.locator(NAV_LINKS).all_inner_texts()]
    assert [t.strip() for t in nav] == NAV, f"{name}: sidebar pages {nav}"
    side = page.locator('[data-testid="stSidebar"]').inner_text()
    assert "Unposed" in side and "Data:" in side and "Active run:" in side, f"{name}: sidebar {side[:300]}"
    busy = page.locator('[data-testid="stSidebar"] [data-testid="stProgress"]').count()
    assert busy or "No background job running." in side, f"{name}: no job panel in the sidebar"


def check_page(page, name: str, base: str, min_images: int = 0, plotly: bool = False) -> list[str]:
    wait_ready(page)
    assert page.locator('[data-testid="stException"]').count() == 0, \
        f"{name}: exception box: {page.locator('[data-testid=stException]').first.inner_text()[:500]}"
    check_sidebar(page, name)
    if plotly:
        page.wait_for_selector(".js-plotly-plot", timeout=30_000)
    imgs = []
    if min_images:
        page.wait_for_function(
            """n => Array.from(document.querySelectorAll('[data-testid="stMainBlockContainer"] '
                 + '[data-testid="stImage"] img')).filter(i => i.complete && i.naturalWidth > 0).length >= n""",
            arg=min_images, timeout=30_000)
        imgs = grid_images(page)
        assert len(imgs) >= min_images, f"{name}: {len(imgs)} images"
        # the media endpoint must really serve them (starlette >= 1.8 breaks this)
        resp = page.request.get(imgs[0])
        assert resp.status == 200, f"{name}: {imgs[0]} -> HTTP {resp.status}"
        assert resp.headers.get("content-type", "").startswith("image/")
    return imgs


# Streamlit probes /<page>/_stcore/health and /<page>/_stcore/host-config when a page is opened by
# its URL and logs the 404s as console errors (upstream, streamlit issue 7074): the only console
# errors tolerated
UPSTREAM_PROBE = re.compile(r"/[^/]+/_stcore/(health|host-config)")


def watch_console(page) -> list[str]:
    """Console errors, and warnings about the theme (issue 25: 729 of them buried real errors),
    as they happen; the tests assert the list stays empty."""
    bad: list[str] = []

    def on_console(msg) -> None:
        url = (msg.location or {}).get("url", "") if isinstance(msg.location, dict) else ""
        text = msg.text
        if msg.type == "error" and not UPSTREAM_PROBE.search(url + " " + text):
            bad.append(f"error: {text} ({url})")
        elif msg.type == "warning" and "theme" in text:
            bad.append(f"warning: {text}")

    page.on("console", on_console)
    return bad


def shoot(page, n: int, name: str, folder: Path = SHOTS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{n}_{name}.png"
    page.screenshot(path=str(path))
    return path


def test_every_page_in_chromium(server):
    from playwright.sync_api import sync_playwright

    base = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            errors: list[str] = []
            bad_media: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            console = watch_console(page)
            page.on("response", lambda r: "/media/" in r.url and r.status >= 400
                    and bad_media.append(f"{r.status} {r.url}"))

            # 1. a deep link as the very first request of a fresh server
            page.goto(f"{base}/Clusters")
            check_page(page, "clusters", base, min_images=6, plotly=True)
            assert page.locator(".js-plotly-plot .scatterlayer, .js-plotly-plot canvas").count() > 0
            assert page.get_by_text("Nothing selected yet.").count() == 1
            box = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
            assert box, "plot drag layer not found"
            # a plain click on a dot, in the mode the map opens in, selects it (issue 25)
            click_first_dot(page)
            page.wait_for_selector("text=/Selected: \\d+ images?/", timeout=30_000)
            wait_ready(page)
            assert len(grid_images(page)) >= 1, "a clicked dot did not show its image"
            # lasso a region of the map from the chart's toolbar: the selected images appear below it
            draw_lasso(page, box)
            page.mouse.up()
            page.wait_for_function("""() => document.querySelectorAll(
                '[data-testid="stMainBlockContainer"] [data-testid="stImage"] img').length > 24""", timeout=30_000)
            wait_ready(page)
            assert len(grid_images(page)) > 12, "lasso selection did not show its images"
            shoot(page, 3, "clusters")

            # 2. the rest, in menu order; Catalogue through the sidebar (client-side page switch)
            page.locator(NAV_LINKS, has_text="Catalogue").click()
            check_page(page, "catalogue", base, min_images=6)
            assert page.get_by_text("Browse products").count() == 1
            shoot(page, 1, "catalogue")

            # the home page: counts, the active run, links to every page (st.page_link)
            page.goto(base)
            check_page(page, "home", base)
            assert page.locator("h1").first.inner_text().strip() == "Unposed"
            assert page.locator('[data-testid="stMetric"]').count() >= 5
            assert page.get_by_text("What to do next").count() == 1
            shoot(page, 0, "home")
            page.locator('[data-testid="stMainBlockContainer"] [data-testid="stPageLink"] a:visible',
                         has_text="Product").first.click()
            check_page(page, "product (from home)", base, min_images=3)
            assert page.url.rstrip("/").split("?")[0].endswith("/Product"), page.url

            page.goto(f"{base}/Train")
            check_page(page, "train", base)
            assert page.get_by_role("button", name="Extract poses and train").count() == 1
            assert page.locator('[data-testid="stDataFrame"]').count() >= 1      # runs table
            shoot(page, 2, "train")

            page.goto(f"{base}/Tune_K")
            check_page(page, "tune_k", base)
            page.get_by_role("button", name="Run the sweep").click()
            # the job panel in the sidebar follows the running sweep
            page.wait_for_selector('[data-testid="stSidebar"] [data-testid="stProgress"]', timeout=30_000)
            shoot(page, 4, "tune_k_running")
            page.wait_for_selector(".js-plotly-plot", timeout=120_000)
            wait_ready(page)
            assert page.locator('[data-testid="stException"]').count() == 0
            shoot(page, 4, "tune_k")

            page.goto(f"{base}/Product")
            check_page(page, "product", base, min_images=3)
            assert page.get_by_text("Missing poses, most important first").count() == 1
            assert page.get_by_role("button", name="Download JSON").count() == 1
            # what each image shows: facing / framing (or the kind) under every listing image
            grid = '[data-testid="stMainBlockContainer"] [data-testid="stImage"]'
            captions = (page.locator('[data-testid="stImageCaption"]').all_inner_texts()
                        + page.locator(grid).all_inner_texts())
            words = ("front", "back", "profile", "three-quarter", "close-up", "upper body", "full length",
                     "size chart", "fabric", "flat lay", "without a person")
            assert any(any(w in c for w in words) for c in captions), captions[:6]
            page.get_by_text("What each image shows").first.click()
            page.wait_for_selector('[data-testid="stExpander"] [data-testid="stDataFrame"]', timeout=30_000)
            shoot(page, 5, "product")

            page.goto(f"{base}/Report")
            check_page(page, "report", base)
            assert page.locator('[data-testid="stDataFrame"]').count() == 1
            assert page.get_by_role("button", name="Download CSV").count() == 1
            shoot(page, 6, "report")

            if (ROOT / "pages" / "7_Evaluate.py").is_file():
                page.goto(f"{base}/Evaluate")
                check_page(page, "evaluate", base)
                shoot(page, 7, "evaluate")

            assert not errors, f"JavaScript errors: {errors}"
            assert not console, f"console errors / theme warnings: {console[:8]} ({len(console)} in all)"
            assert not bad_media, f"image requests failed: {bad_media[:5]}"
        finally:
            browser.close()
