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
