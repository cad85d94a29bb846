"""Helpers shared by the app tests (AppTest and the Chromium end-to-end test)."""
from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"

from ui.common import PAGES  # noqa: F401  (the app's own page list, re-exported to the tests)


def copy_data_dir(src: Path, dst: Path) -> Path:
    """A writable copy of a data dir. Runs are registered by absolute path: point them at the
    copy, so the app writes (UMAP files, new runs) never touch the shared fixture."""
    src, dst = Path(src), Path(dst)
    shutil.copytree(src, dst)
    con = sqlite3.connect(dst / "unposed.sqlite")
    try:
        con.execute("UPDATE runs SET path = ? || substr(path, ?) WHERE path LIKE ? || '%'",
                    (str(dst), len(str(src)) + 1, str(src)))
        con.commit()
    finally:
        con.close()
    return dst
