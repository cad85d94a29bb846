"""Steps a person takes in the browser, shared by the Chromium tests and the browser benchmark
(no pytest imports: ``benchmarks/bench_clusters_browser.py`` loads it too)."""
from __future__ import annotations


def draw_lasso(page, box: dict) -> None:
    """Pick the map's lasso in its toolbar and draw round nearly all of the plot area ``box`` (the
    drag layer's bounding box), the mouse still held: the caller releases it (``page.mouse.up()``),
    so a benchmark can time from the release."""
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x0 + w / 2, y0 + h / 2)
    page.locator('.js-plotly-plot .modebar-btn[data-val="lasso"]').first.click()
    page.mouse.move(x0 + 0.02 * w, y0 + 0.02 * h)
    page.mouse.down()
    for fx, fy in ((0.98, 0.02), (0.98, 0.98), (0.02, 0.98), (0.02, 0.03)):
        page.mouse.move(x0 + fx * w, y0 + fy * h, steps=8)


def click_first_dot(page) -> None:
    """Point at the first dot of the map's first trace (where plotly draws it, through its axes)
    and, once its hover label shows (as a person sees it before clicking: plotly's click acts on
    the hovered point), click it, in whatever mode the map opens in."""
    box = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
    x, y = page.evaluate("""() => {
        const gd = document.querySelector('.js-plotly-plot'), L = gd._fullLayout, tr = gd._fullData[0];
        return [L.xaxis.l2p(Number(tr.x[0])), L.yaxis.l2p(Number(tr.y[0]))]; }""")
    page.mouse.move(box["x"] + x - 6, box["y"] + y - 6)
    page.mouse.move(box["x"] + x, box["y"] + y, steps=3)
    page.locator(".js-plotly-plot .hoverlayer .hovertext").first.wait_for(timeout=30_000)
    page.mouse.click(box["x"] + x, box["y"] + y)


def click_centre(page, locator) -> None:
    """A mouse click in the middle of ``locator`` (a plotly bar or dot: plotly's drag layer lies
    over them, so an element click would land on it and never reach the chart's own handler)."""
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
