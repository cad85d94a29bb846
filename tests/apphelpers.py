"""Helpers shared by the app tests (AppTest and the Chromium end-to-end test)."""
from __future__ import annotations

import shutil
import sys
import sqlite3
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from ui.common import PAGES  # noqa: E402  (the app's own page list)


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
