"""Clusters page at scale in Chromium: time to the map's first paint and to a lasso answered.

Builds (or, with ``--keep DIR``, reuses) the synthetic data dir of ``bench_clusters.py`` for each
size N (default 1,000,000 reference images: a real run folder and its stored 2-D map), times the
page server-side as that script does (AppTest: first visit, after a page switch), then starts the
app (``streamlit run app.py`` on a free port) and opens the Clusters page in Debian's Chromium
(Playwright, /usr/bin/chromium, --no-sandbox; never a downloaded browser) twice, in two tabs: the
first visit of the fresh server (its imports and the run's loading included) and a second visit
(what every later visitor waits). Each visit measures

* first paint: from the page request until the map's plot holds its points (plotly's graph div
  has its traces drawn), and the bytes the WebSocket brought until then;
* the lasso gesture: picking the chart toolbar's lasso and drawing it over the whole map
  (tests/browser_steps.draw_lasso); plotly re-selects and redraws on every mouse move, which in
  this headless Chromium (WebGL in software, no GPU) costs ~0.2 s a move whatever the number of
  dots: reported on its own, not in the goal;
* lasso answered: from releasing the mouse until the page says "Selected: N images" and the
  selection grid shows its images, and the bytes the browser sent (the selection); a lasso with
  no answer within ``--wait`` seconds is reported with the server log's last line.

    .venv/bin/python benchmarks/bench_clusters_browser.py [--sizes 1000000] [--k 20] [--keep DIR] [--wait 300]

The figures are printed side by side at the end with the load average before and after each
size (the machine may be shared). Goal: first paint + lasso answered under 5 s (the second
visit). Not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_clusters as bc  # noqa: E402  (the data dir, its map and the server-side timing)

sys.path.insert(0, str(ROOT / "tests"))
from browser_steps import draw_lasso  # noqa: E402  (the lasso the Chromium test draws)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
GOAL_S = 5.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server(folder: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "UNPOSED_DATA_DIR": str(folder), "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": str(ROOT)}
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, base
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.terminate()
            raise RuntimeError(f"streamlit did not become healthy: {log.read_text()[-2000:]}")
        time.sleep(0.2)


def _visit(browser, base: str, log: Path, wait_s: float) -> dict:
    """One visit in a new tab: first paint, the lasso gesture, the answer (None when there was none
    within ``wait_s``, with the server's last log line saying why); the WebSocket bytes each way."""
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    frames = {"in": 0, "out": 0}

    def count(way: str):
        def add(e: dict) -> None:   # a binary frame (opcode 2: Streamlit's protobuf) comes base64-encoded
            data = e["response"]["payloadData"]
            frames[way] += len(data) * 3 // 4 - data[-2:].count("=") if e["response"]["opcode"] == 2 else len(data)
        return add

    cdp.on("Network.webSocketFrameReceived", count("in"))
    cdp.on("Network.webSocketFrameSent", count("out"))
    try:
        t0 = time.perf_counter()
        page.goto(f"{base}/Clusters")
        page.wait_for_function("""() => { const gd = document.querySelector('.js-plotly-plot');
            return gd && gd._fullData && gd._fullData.length > 0
                && gd.querySelector('.scatterlayer .trace, canvas') !== null; }""", timeout=600_000)
        paint = time.perf_counter() - t0
        page_in = frames["in"]
        points = page.evaluate("""() => document.querySelector('.js-plotly-plot')._fullData
            .reduce((n, t) => n + (t.x ? t.x.length : 0), 0)""")
        tg = time.perf_counter()
        draw_lasso(page, page.locator(".js-plotly-plot .nsewdrag").first.bounding_box())
        t1 = time.perf_counter()
        sent = frames["out"]
        page.mouse.up()
        out = {"paint_s": paint, "gesture_s": t1 - tg, "points": points, "page_mb": page_in / 1e6}
        try:
            page.wait_for_selector("text=/Selected: [\\d,]+ images?/", timeout=wait_s * 1000)
            page.wait_for_function("""() => document.querySelectorAll(
                '[data-testid="stMainBlockContainer"] [data-testid="stImage"] img').length > 0""",
                                   timeout=wait_s * 1000)
        except PlaywrightTimeout:
            lines = [ln for ln in log.read_text().splitlines() if ln.strip()]
            return {**out, "lasso_s": None, "to_lasso_s": None, "selection_mb": (frames["out"] - sent) / 1e6,
                    "selected": f"no answer in {wait_s:.0f} s; server: {lines[-1][:160] if lines else '-'}"}
        t2 = time.perf_counter()
        said = page.get_by_text(re.compile(r"Selected: [\d,]+ images?")).first.inner_text()
        return {**out, "lasso_s": t2 - t1, "to_lasso_s": t2 - t0, "selected": said.strip()[:80],
                "selection_mb": (frames["out"] - sent) / 1e6}
    finally:
        page.close()


def browser_times(base: str, log: Path, wait_s: float) -> tuple[dict, dict]:
    """(the first visit of a fresh server, a second visit in a new tab of the same server)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            return _visit(browser, base, log, wait_s), _visit(browser, base, log, wait_s)
        finally:
            browser.close()


def server_stages(folder: Path) -> dict:
    """Seconds of each server-side stage of the page's map in this process (bare functions, no
    Streamlit runtime: its caches hold per process): the run, the map as drawn (stored map read,
    the sample drawn), the figure, its JSON as st.plotly_chart makes it (and its size), and for a
    lasso round the whole map: the points inside it (selection over every point), their reference
    rows and their distinct images (the label form)."""
    import plotly.io
    import plotly.tools

    from ui import clusters as cl
    from ui.common import get_run, store_at

    out, t = {}, time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        out[name] = time.perf_counter() - t
        t = time.perf_counter()

    store = store_at(str(folder))
    run = get_run(store)
    lap("run")
    view = cl.map_view(store, run)
    lap("map")
    fig = cl.map_figure(store, run, {})
    lap("figure")
    spec = plotly.io.to_json(plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True),
                             validate=False)
    lap("json")
    out["json_mb"] = len(spec) / 1e6
    hi = float(view.grid[:, 1].max())
    lasso = {"x": [0, 65_535, 65_535, 0], "y": [0, 0, hi, hi]}
    event = {"selection": {"points": [{"curve_number": i, "point_index": j} for i, (_, m) in enumerate(view.traces)
                                      for j in range(len(m))], "box": [], "lasso": [lasso]}}
    t = time.perf_counter()
    rows = cl.selected(event, view)
    lap("selected")
    cl.selection_frame(run, view.pts, rows)
    lap("frame")
    out["distinct"] = len(cl.selection_hashes(store, run, rows))
    lap("hashes_first")       # the map's hashes factorized (once per map)
    cl.selection_hashes(store, run, rows)
    lap("hashes")
    out["n_selected"] = len(rows)
    return out


def _load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--wait", type=float, default=300.0, metavar="S",
                    help="seconds to wait for the lasso's answer before saying there was none (default 300)")
    ap.add_argument("--keep", metavar="DIR", type=Path, default=None,
                    help="build the data dirs under DIR and keep them (bench_clusters.py --keep DIR makes the same)")
    args = ap.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: install Debian's chromium (make chromium)", file=sys.stderr)
        return 2
    bc.preload()
    base_dir = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="unposed-bench-browser-"))
    base_dir.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for n in args.sizes:
            folder = base_dir / f"n{n}-k{args.k}"
            if bc.reused(folder) is None:
                shutil.rmtree(folder, ignore_errors=True)
                t0 = time.perf_counter()
                X, run_id = bc.make_data_dir(folder, n, args.k)
                u = bc.first_umap(folder, X, run_id)
                del X
                (folder / bc.DONE_FILE).write_text(json.dumps(u))
                print(f"[{n}] data dir, run and map built in {time.perf_counter() - t0:.1f}s: {folder}", flush=True)
            bc.stored_map(folder)
            stages = server_stages(folder)
            print(f"[{n}] server stages: run {stages['run']:.2f}s, map {stages['map']:.2f}s, figure "
                  f"{stages['figure']:.2f}s, its JSON {stages['json']:.2f}s ({stages['json_mb']:.2f} MB); a lasso "
                  f"round the map: {stages['n_selected']:,} points inside {stages['selected']:.2f}s, their rows "
                  f"{stages['frame']:.2f}s, {stages['distinct']:,} distinct images {stages['hashes']:.2f}s (the first "
                  f"lasso of a map {stages['hashes_first']:.2f}s)", flush=True)
            server_side = bc.render_times(folder, n, warm_repeats=1)
            print(f"[{n}] server side (AppTest): first visit {server_side['cold_s']:.2f}s, "
                  f"after a page switch {server_side['warm_s']:.2f}s", flush=True)
            log = base_dir / f"streamlit-{n}.log"
            proc, base = _server(folder, log)
            load0 = _load()
            try:
                first, again = browser_times(base, log, args.wait)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            for what, b in (("fresh server", first), ("second visit", again)):
                answered = ("no answer" if b["lasso_s"] is None else
                            f"answered {b['lasso_s']:.2f}s after release, {b['to_lasso_s']:.2f}s from the request")
                print(f"[{n}] Chromium, {what}: first paint {b['paint_s']:.2f}s ({b['points']:,} points drawn, "
                      f"{b['page_mb']:.2f} MB to the browser), lasso gesture {b['gesture_s']:.2f}s, {answered} "
                      f"({b['selection_mb']:.2f} MB sent; {b['selected']})", flush=True)
            print(f"[{n}] {load0} before, {_load()} after", flush=True)
            results.append({"n": n, **server_side, **{f"first_{k}": v for k, v in first.items()}, **again})
    finally:
        if not args.keep:
            shutil.rmtree(base_dir, ignore_errors=True)
    print()
    print(f"{'N':>10} | {'drawn':>9} | server first visit (s) | server after switch (s) | "
          f"fresh server: first paint (s) | second visit: first paint (s) | lasso gesture (s) | "
          f"lasso after release (s) | paint + lasso (s) | goal {GOAL_S:.0f} s")
    for r in results:
        lasso = r["lasso_s"] if r["lasso_s"] is not None else r["first_lasso_s"]
        total = None if lasso is None else r["paint_s"] + lasso
        ok = ("no answer" if total is None else "met" if total < GOAL_S else f"missed by {total - GOAL_S:.1f} s")
        print(f"{r['n']:>10,} | {r['points']:>9,} | {r['cold_s']:>22.2f} | {r['warm_s']:>23.2f} | "
              f"{r['first_paint_s']:>29.2f} | {r['paint_s']:>29.2f} | {r['gesture_s']:>17.2f} | "
              f"{'-' if lasso is None else f'{lasso:.2f}':>22} | {'-' if total is None else f'{total:.2f}':>17} | {ok}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
