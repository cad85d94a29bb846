"""Seller hints an analyst edited, per pose-group description key (not per run)."""
from __future__ import annotations

import time

import pandas as pd

from .base import StoreBase


class HintTables(StoreBase):
    """Edited hints and their history, keyed by ``descriptions.hint_key`` of the group's description."""

    def hints(self) -> dict[str, str]:
        """descriptions.hint_key(description) -> the hint an analyst wrote for that pose group (others absent)."""
        return dict(self._rows("SELECT text_key, hint FROM hints ORDER BY text_key"))

    def hints_table(self) -> pd.DataFrame:
        """The current edited hints: text_key, text (the description as typed), hint, source, updated_at."""
        return self._df("SELECT text_key, text, hint, source, updated_at FROM hints ORDER BY text_key")

    def set_hint(self, key: str, text: str, hint: str, source: str | None = None) -> str:
        """Set the hint of the pose group whose description keys as ``key`` (the caller normalises:
        ``descriptions.hint_key``; ``text``: the description as typed); an empty ``hint`` clears it
        (back to the generated one). Every change goes to ``hint_history``. Returns ``key``."""
        if not key:
            raise ValueError("a hint needs the description of its pose group")
        hint = (hint or "").strip()
        text = str(text).strip()
        now = time.time()
        with self._write() as c:
            if hint:
                c.execute("INSERT OR REPLACE INTO hints(text_key, text, hint, source, updated_at) VALUES(?,?,?,?,?)",
                          (key, text, hint, source, now))
                c.execute("INSERT INTO hint_history(text_key, text, hint, action, source, created_at)"
                          " VALUES(?,?,?,?,?,?)", (key, text, hint, "set", source, now))
            elif c.execute("DELETE FROM hints WHERE text_key=?", (key,)).rowcount:
                c.execute("INSERT INTO hint_history(text_key, text, hint, action, source, created_at)"
                          " VALUES(?,?,?,?,?,?)", (key, text, None, "clear", source, now))
        return key

    def hint_history(self, key: str | None = None) -> pd.DataFrame:
        """Every hint set or cleared, oldest first (of one description key, or all)."""
        if key is None:
            return self._df("SELECT * FROM hint_history ORDER BY id")
        return self._df("SELECT * FROM hint_history WHERE text_key=? ORDER BY id", (key,))

    def hints_version(self) -> int:
        """Grows whenever a hint is set or cleared (cache key)."""
        return int(self._one("SELECT COALESCE(MAX(id), 0) FROM hint_history")[0])
