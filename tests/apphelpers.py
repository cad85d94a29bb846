"""Helpers shared by the app tests (AppTest and the Chromium end-to-end test)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"

# a writable copy of a data dir (run paths are relative to it, so the app's writes -- UMAP
# files, new runs -- never touch the shared fixture)
from conftest import copy_data_dir

from ui.common import HOME, PAGES  # noqa: F401  (the app's own page list, re-exported to the tests)


def mapped_copy(src: Path, dst: Path) -> Path:
    """A writable copy of a data dir whose active run already has its UMAP map (computed once
    here, so the pages under test never start computing it)."""
    from unpose_core import projection
    from unpose_core.runs import active_run
    from unpose_core.store import Store

    path = copy_data_dir(src, dst)
    store = Store(path)
    try:
        assert len(projection.ensure_projection(store, active_run(store))) > 0
    finally:
        store.close()
    return path


def wait_until(predicate, timeout: float = 10.0, poll: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy (returned) or ``timeout`` seconds pass
    (AssertionError): wait on a background thread's effect instead of sleeping a fixed time."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:.0f}s")
        time.sleep(poll)


def streamlit_server(data_dir: Path, port: int, log_path: Path, extra: tuple[str, ...] = (), env: dict | None = None):
    """`streamlit run app.py` on ``data_dir`` at 127.0.0.1:``port`` (its output in ``log_path``),
    yielded as its base URL once healthy; stopped (it and only what it started) after."""
    import contextlib
    import os
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    import pytest

    @contextlib.contextmanager
    def run():
        full_env = {**os.environ, **(env or {}), "UNPOSED_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
                 "--server.port", str(port), "--server.address", "127.0.0.1",
                 "--browser.gatherUsageStats", "false", *extra],
                cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"streamlit exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
                try:
                    with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                        if r.status == 200 and r.read().strip() == b"ok":
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"streamlit did not become healthy:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.3)
            yield base
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)     # the server and only what it started
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)

    return run()
