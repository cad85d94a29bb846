"""Helpers shared by the app tests (AppTest and the Chromium end-to-end test)."""
from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"

from ui.common import HOME, PAGES  # noqa: F401  (the app's own page list, re-exported to the tests)


def copy_data_dir(src: Path, dst: Path) -> Path:
    """A writable copy of a data dir: a plain copy, since the store keeps run paths relative to
    the data dir, so the app's writes (UMAP files, new runs) never touch the shared fixture."""
    shutil.copytree(src, dst)
    return Path(dst)


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
