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
