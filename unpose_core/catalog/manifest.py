"""Import a catalogue (manifest + image folder), validate it, pick reference/subject sets.

A manifest is CSV or Parquet, either long (one row per image, ``image_path`` column)
or wide (one row per product, ``images`` column with paths separated by ``|``).

Nothing one row holds can stop the import: every failure while handling a row (a bad
rating, a path with a NUL byte, a symlink loop, a name longer than the file system
allows, a file that is not an image, a truncated download, a permission error, or
anything unforeseen) becomes that row's entry in the :class:`ImportReport`, under a
short ``kind`` and a one-line reason, and the good rows are kept. Only a manifest that
cannot be read as a whole, or lacks a required column, stops the import, and then the
report says why. :func:`import_into_store` always writes the report to
``import_report.json``.

Text manifests are read as UTF-8 (with or without a BOM), UTF-16 with a BOM, or, when
they are not valid UTF-8, as cp1252 (Windows Western European, a superset of latin-1 for
printable text); the report names the encoding and notes a fallback. The delimiter is
``,`` unless the header line is clearly split by ``;`` or tabs (European spreadsheet
exports use ``;`` because ``,`` is their decimal mark).

Ratings
    ``avg_rating`` is a number within ``0..rating_scale`` (default 5; pass another scale
    for 10-point or percentage catalogues). A decimal comma is read as a decimal mark:
    ``"4,5"`` is 4.5, never 45. ``n_ratings`` is a non-negative whole number; there a
    comma can only group thousands (``"1,234"`` is 1234), so ``"4,5"`` is refused, and a
    single dot group (``"1.234"``) is refused as ambiguous. ``nan`` and ``inf`` are
    refused; empty cells and ``n/a``, ``na``, ``null``, ``none``, ``-`` mean "no rating".
    A refused rating is that row's reason (``bad_rating``).
"""
from __future__ import annotations

import codecs
import contextlib
import csv
import errno
import json
import math
import os
import re
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import RATING_SCALE  # avg_rating is within 0..RATING_SCALE unless the caller says otherwise
from ..diskspace import disk_full
from ..images import ImageError, check_complete, content_hash, probe_image
from ..progress import ProgressFn, ProgressTracker
from ..views.labels import LabelSource, ViewLabel, filename_words, label_from_words, merge_vocabulary

PRODUCT_COLUMNS = ("product_id", "title", "category", "subcategory", "product_type",
                   "avg_rating", "n_ratings")
IMAGE_COLUMNS = ("image_path", "position", "pose_label")
ALIASES = {
    "id": "product_id", "asin": "product_id", "sku": "product_id", "item_id": "product_id",
    "name": "title", "rating": "avg_rating", "average_rating": "avg_rating",
    "num_ratings": "n_ratings", "rating_count": "n_ratings", "ratings_count": "n_ratings",
    "n_reviews": "n_ratings", "image": "image_path", "path": "image_path", "file": "image_path",
    "filename": "image_path", "label": "pose_label", "view_label": "pose_label",
}
PROBLEM_COLUMNS = ["row", "product_id", "kind", "detail"]
# columns whose words say what a photo shows, read into view labels (views.labels) on import:
# pose_label (and its aliases) is kept on the image, the others among its attributes
WORD_COLUMNS = ("pose_label", "view", "shot", "view_type", "shot_type", "angle", "framing")

# notes about the manifest as a whole (row is empty)
MISSING_COLUMN = "missing_column"
UNKNOWN_COLUMN = "unknown_column"
# reasons a row is kept out of the catalogue
DUPLICATE_ID = "duplicate_id"
BAD_RATING = "bad_rating"
MISSING_ID = "missing_product_id"
BAD_PRODUCT_ID = "bad_product_id"          # control characters, or longer than MAX_ID_CHARS
BAD_ROW = "bad_row"                        # a CSV line that cannot be parsed into fields
EMPTY_PATH = "empty_path"
SHORT_ROW = "short_row"                    # fewer fields than the header, the image path (or id) among the lost
BAD_PATH = "bad_path"                      # NUL byte, URL, name/path too long, symlink loop, bad encoding
PATH_ESCAPE = "path_escapes_root"
MISSING_FILE = "missing_file"
NOT_A_FILE = "not_a_file"                  # a folder, pipe or device
UNREADABLE_FILE = "unreadable_file"        # permission denied, I/O error
NOT_AN_IMAGE = "not_an_image"              # HTML/SVG/text named .jpg, corrupt header, empty file
TRUNCATED_IMAGE = "truncated_image"
IMAGE_TOO_LARGE = "image_too_large"        # beyond images.MAX_PIXELS (decompression bombs)
IMAGE_TOO_SMALL = "image_too_small"
ROW_ERROR = "row_error"                    # anything unforeseen while handling one row
NO_IMAGES = "product_without_images"
NOTE_KINDS = (MISSING_COLUMN, UNKNOWN_COLUMN)

MAX_COUNT = 10 ** 12           # n_ratings beyond this is a typo or an overflow, not a count
MAX_ID_CHARS = 256
_ABSENT = {"", "n/a", "na", "null", "none", "-", "\u2014", "\u2013"}
_GROUP_SPACES = " \u00a0\u202f\u2009'"     # thousands separators people type besides , and .
_URL = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://|data:[\w.+-]+/[\w.+-]+[;,])", re.I)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WINDOWS_ABS = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")


class ManifestError(ValueError):
    """The manifest as a whole cannot be used (unreadable, or a required column is missing)."""


class RowProblem(Exception):
    """One row's reason to stay out of the catalogue: a kind and a one-line detail."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind, self.detail = kind, detail


@dataclass
class ImportReport:
    source: str
    n_rows: int = 0
    n_products: int = 0
    n_images: int = 0
    columns: dict = field(default_factory=dict)     # manifest column -> our column
    problems: pd.DataFrame = field(default_factory=lambda: _problem_frame([]))
    fatal: str | None = None
    applied: bool = False   # set by import_into_store: this report's rows became the catalogue
    encoding: str | None = None         # how a text manifest was decoded
    delimiter: str | None = None        # the CSV delimiter used
    rating_scale: float = RATING_SCALE
    notes: list[str] = field(default_factory=list)   # about the manifest as a whole (e.g. an encoding fallback)
    n_view_labels: int = 0   # view labels the import added from the catalogue's words (WORD_COLUMNS)

    @property
    def ok(self) -> bool:
        return self.fatal is None

    def counts(self) -> dict[str, int]:
        return self.problems["kind"].value_counts().to_dict() if len(self.problems) else {}

    def summary(self) -> str:
        if self.fatal:
            return f"import failed: {self.fatal}"
        parts = [f"{self.n_products} products, {self.n_images} images kept from {self.n_rows} rows"]
        for kind, n in sorted(self.counts().items()):
            parts.append(f"{n} x {kind}")
        return "; ".join(parts + self.notes)

    def to_dict(self) -> dict:
        problems = [{"row": None if _missing(r["row"]) else int(r["row"]),
                     "product_id": None if _missing(r["product_id"]) else str(r["product_id"]),
                     "kind": r["kind"], "detail": r["detail"]}
                    for r in self.problems.to_dict(orient="records")]
        return {"source": self.source, "n_rows": self.n_rows, "n_products": self.n_products,
                "n_images": self.n_images, "columns": self.columns, "fatal": self.fatal,
                "applied": self.applied, "encoding": self.encoding, "delimiter": self.delimiter,
                "rating_scale": self.rating_scale, "notes": list(self.notes), "n_view_labels": self.n_view_labels,
                "problems": problems}


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _problem_frame(rows: list[tuple]) -> pd.DataFrame:
    # object dtype: row numbers stay ints and absent ones None (a float column would turn them into NaN)
    return pd.DataFrame(rows, columns=PROBLEM_COLUMNS, dtype=object)


# -- reading the manifest ----------------------------------------------------------------------
@dataclass
class ManifestText:
    """A manifest read into text cells, with what it took to read it."""
    frame: pd.DataFrame                 # every cell a str or None
    rows: list[int]                     # the spreadsheet row of each frame row (header is row 1)
    encoding: str | None = None
    delimiter: str | None = None
    bad_lines: list[tuple[int, str]] = field(default_factory=list)   # (row, reason) not parsed
    notes: list[str] = field(default_factory=list)
    short_rows: dict[int, tuple[int, int]] = field(default_factory=dict)   # row -> (its fields, the header's)


def read_manifest(path: str | Path) -> pd.DataFrame:
    """The manifest's cells as text (or None); raises ManifestError when it cannot be read at all."""
    return load_manifest(path).frame


def load_manifest(path: str | Path) -> ManifestText:
    path = Path(path)
    try:
        if not path.is_file():
            raise ManifestError(f"manifest not found (or not a file): {path}")
    except (OSError, ValueError) as exc:   # over-long name, symlink loop, NUL byte
        raise ManifestError(f"cannot open the manifest {str(path)[:200]!r}: {exc}") from None
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv", ".tsv", ".txt"):
        raise ManifestError(f"manifest must be .csv, .tsv or .parquet, got {path.name}")
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
            frame = pd.DataFrame({str(c): pd.Series([_cell(v) for v in df[c]], dtype=object)
                                  for c in df.columns})
            return ManifestText(frame, list(range(2, len(frame) + 2)))
        data = path.read_bytes()
    except Exception as exc:  # pyarrow and the OS raise many types for unreadable files
        raise ManifestError(f"cannot read manifest {path.name}: {type(exc).__name__}: {exc}") from None
    return _parse_text(data, "\t" if suffix == ".tsv" else None)


def _cell(v) -> str | None:
    """Every cell as text or None: validation decides what is a number."""
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):   # lists, arrays: not a scalar
        pass
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def decode_manifest(data: bytes) -> tuple[str, str, str | None]:
    """(text, encoding, note): UTF-8 with or without BOM, UTF-16 with a BOM (or plainly
    UTF-16, seen by its zero bytes), else cp1252, else latin-1 (which decodes anything)."""
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8):].decode("utf-8"), "utf-8-sig", None
        except UnicodeDecodeError:
            data = data[len(codecs.BOM_UTF8):]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16", None
        except UnicodeDecodeError:
            pass
    sample = data[:400]
    if len(sample) >= 8:
        for enc, zeros in (("utf-16-le", sample[1::2]), ("utf-16-be", sample[0::2])):
            if zeros.count(0) >= 0.9 * len(zeros):
                try:
                    return data.decode(enc), enc, None
                except UnicodeDecodeError:
                    break
    try:
        return data.decode("utf-8"), "utf-8", None
    except UnicodeDecodeError:
        pass
    # line by line: a UTF-8 file with a few lines pasted from elsewhere keeps its UTF-8 lines
    # (their paths must still match the files); the others are cp1252, or latin-1 for the
    # five bytes cp1252 leaves undefined
    parts, fallback, n_utf8 = [], [], 0
    for i, line in enumerate(data.split(b"\n"), 1):
        try:
            parts.append(line.decode("utf-8"))
            n_utf8 += not line.isascii()
            continue
        except UnicodeDecodeError:
            pass
        try:
            parts.append(line.decode("cp1252"))
            fallback.append((i, "cp1252"))
        except UnicodeDecodeError:
            parts.append(line.decode("latin-1"))
            fallback.append((i, "latin-1"))
    used = sorted({enc for _, enc in fallback}, reverse=True)       # cp1252 before latin-1
    encoding = "+".join((["utf-8"] if n_utf8 else []) + used)
    where = ", ".join(str(i) for i, _ in fallback[:5]) + (" ..." if len(fallback) > 5 else "")
    what = " and ".join("cp1252 (Windows Western European)" if e == "cp1252" else e for e in used)
    note = (f"manifest is not UTF-8 ({len(fallback)} line{'s' if len(fallback) > 1 else ''}: {where}); read as "
            f"{what}{' where UTF-8 fails' if n_utf8 else ''}: check accented characters, or save it as UTF-8")
    return "\n".join(parts), encoding, note


def _sniff_delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","


def _parse_text(data: bytes, delimiter: str | None) -> ManifestText:
    text, encoding, note = decode_manifest(data)
    notes = [note] if note else []
    if not text.strip():
        raise ManifestError("the manifest is empty")
    delimiter = delimiter or _sniff_delimiter(text)
    if delimiter != ",":
        notes.append(f"columns split by {'tab' if delimiter == chr(9) else repr(delimiter)}")
    # one line per item, so a record's lines are known and parsing can resume after a broken one
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line + "\n" for line in text.split("\n")]
    header: list[str] | None = None
    records, rows, bad, short = [], [], [], {}
    pos = 0                                   # index of the first line the current reader sees
    while pos < len(lines):
        reader = csv.reader(lines[pos:], delimiter=delimiter)
        base, last, restart = pos, 0, None
        while True:
            start = base + last + 1           # 1-based line number of the record about to be read
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                last = reader.line_num
                if header is None:
                    raise ManifestError(f"cannot read the manifest's header: {exc}") from None
                bad.append((start, f"line cannot be parsed: {exc}"))
                continue
            end = base + reader.line_num
            if header is not None and end > start and _broken_quote(lines[start - 1:end], delimiter, fields, header):
                # a quote opened here and never closed swallows the lines after it: skip this
                # line alone and read on from the next one, so the rows below are not lost
                bad.append((start, "a quoted value opened on this line is not closed where the row ends; "
                                   "the line is skipped"))
                restart = start
                break
            last = reader.line_num
            if header is None:
                if any(f.strip() for f in fields):
                    header = _unique_names(fields)
                continue                      # blank lines before the header
            if not any(f.strip() for f in fields):
                continue                      # a blank line is no row
            if len(fields) > len(header):
                if any(f.strip() for f in fields[len(header):]):
                    bad.append((start, f"row has {len(fields)} fields but the header has {len(header)} "
                                       "(an unquoted delimiter in a value?)"))
                    continue
                fields = fields[:len(header)]
            elif len(fields) < len(header):
                short[start] = (len(fields), len(header))
            records.append([f if f != "" else None for f in fields] + [None] * (len(header) - len(fields)))
            rows.append(start)
        pos = restart if restart is not None else len(lines)
    if header is None:
        raise ManifestError("the manifest is empty")
    frame = pd.DataFrame(records, columns=header, dtype=object) if records else \
        pd.DataFrame({h: pd.Series([], dtype=object) for h in header})
    # a trailing delimiter in the header makes a nameless, empty column: not worth a note
    frame = frame[[c for c in frame.columns if not (c.startswith("unnamed_") and frame[c].isna().all())]]
    return ManifestText(frame, rows, encoding, delimiter, bad, notes, short)


def _broken_quote(record_lines: list[str], delimiter: str, fields: list[str], header: list[str]) -> bool:
    """Is a record that spans several lines a quote left open, rather than a value with line breaks?
    Yes when its field count is wrong, or when read strictly it runs into the end of the file."""
    if len(fields) != len(header):
        return True
    try:
        list(csv.reader(record_lines, delimiter=delimiter, strict=True))
    except csv.Error:
        return True
    return False


def _unique_names(fields: list[str]) -> list[str]:
    out: list[str] = []
    for i, f in enumerate(fields):
        name = f.strip() or f"unnamed_{i + 1}"
        base, k = name, 1
        while name in out:
            name = f"{base}.{k}"
            k += 1
        out.append(name)
    return out


def _normalise_columns(df: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    mapping, dropped = {}, []
    for col in df.columns:
        key = str(col).strip().lower().replace(" ", "_").replace("-", "_")
        key = ALIASES.get(key, key)
        if key in mapping.values():  # two columns mean the same thing: keep the first
            dropped.append((str(col), key))
            continue
        mapping[col] = key
    out = df[list(mapping)].rename(columns=mapping)
    out.attrs["dropped_columns"] = dropped
    return out, {str(k): v for k, v in mapping.items()}


def _explode_wide(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["_paths"] = df["images"].fillna("").map(
        lambda s: [p.strip() for p in str(s).replace(";", "|").split("|") if p.strip()] or [""])
    out = df.explode("_paths").drop(columns=["images"]).rename(columns={"_paths": "image_path"})
    out["position"] = out.groupby(level=0).cumcount() + 1
    return out


# -- ratings -------------------------------------------------------------------------------------
_PLAIN = re.compile(r"\d+")
_SCI = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)[eE][+-]?\d+")   # one way to match: linear, not quadratic
MAX_NUMBER_CHARS = 64   # a rating or count cell longer than this is no number (and is not scanned)
_POINT = re.compile(r"\d*\.\d+|\d+\.")
_COMMA = re.compile(r"\d*,\d+")
_GROUPED_COMMA = re.compile(r"\d{1,3}(?:,\d{3})+")               # 1,234 / 1,234,567
_GROUPED_DOTS = re.compile(r"\d{1,3}(?:\.\d{3}){2,}")           # 1.234.567 (one group is ambiguous)
_EN = re.compile(r"\d{1,3}(?:,\d{3})+\.\d+")                     # 1,234.5
_EU = re.compile(r"\d{1,3}(?:\.\d{3})+,\d+")                     # 1.234,5


def _number_text(value) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    s = unicodedata.normalize("NFKC", str(value)).strip()
    return None if s.lower() in _ABSENT else s


def _parse_number(s: str, count: bool) -> float:
    """The number a person meant, or ValueError with why not. ``count`` decides what a lone
    comma means: in a count it can only group thousands, in a rating only mark decimals."""
    if len(s) > MAX_NUMBER_CHARS:
        raise ValueError(f"{s[:24]!r}... ({len(s)} characters) is not a number")
    body = s[1:] if s[:1] in "+-" else s
    if s.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        raise ValueError(f"{s!r} is not a finite number")
    grouped = body
    for sp in _GROUP_SPACES:
        grouped = grouped.replace(sp, ",")
    spaced = grouped != body      # "1 234": a space can only group thousands
    if spaced and not (_GROUPED_COMMA.fullmatch(grouped) or _EN.fullmatch(grouped)):
        raise ValueError(f"{s!r} is not a number")
    body = grouped
    if _PLAIN.fullmatch(body) or _SCI.fullmatch(body) or _POINT.fullmatch(body):
        x = float(body)
    elif _GROUPED_COMMA.fullmatch(body) and (count or spaced or body.count(",") > 1):
        x = float(body.replace(",", ""))
    elif _COMMA.fullmatch(body):
        if count:
            raise ValueError(f"{s!r} is not a whole number (a comma in a count can only group thousands)")
        x = float(body.replace(",", "."))
    elif _GROUPED_DOTS.fullmatch(body):
        x = float(body.replace(".", ""))
    elif _EN.fullmatch(body):
        x = float(body.replace(",", ""))
    elif _EU.fullmatch(body):
        x = float(body.replace(".", "").replace(",", "."))
    else:
        raise ValueError(f"{s!r} is not a number")
    if s.startswith("-") and x != 0:
        raise ValueError(f"{s!r} is negative")
    if not math.isfinite(x):
        raise ValueError(f"{s!r} is not a finite number")
    return x


def parse_rating(value, scale: float = RATING_SCALE) -> float | None:
    """avg_rating as a float within 0..scale, None when absent; ValueError with a reason otherwise."""
    s = _number_text(value)
    if s is None:
        return None
    x = _parse_number(s, count=False)
    if not 0 <= x <= scale:
        raise ValueError(f"{s!r} is outside 0..{scale:g} (the rating scale)")
    return x


def parse_count(value) -> int | None:
    """n_ratings as a non-negative int, None when absent; ValueError with a reason otherwise."""
    s = _number_text(value)
    if s is None:
        return None
    if re.fullmatch(r"\d{1,3}\.\d{3}", s):
        raise ValueError(f"{s!r} is ambiguous: {s.replace('.', '')} with a thousands dot, or a decimal? "
                         "write the count without separators")
    x = _parse_number(s, count=True)
    if x != int(x):
        raise ValueError(f"{s!r} is not a whole number")
    if x > MAX_COUNT:
        raise ValueError(f"{s!r} is implausibly large for a count")
    return int(x)


# -- paths ----------------------------------------------------------------------------------------
def _short(text: str, n: int = 120) -> str:
    """One line of at most ~n characters, control characters (NUL, newline) shown escaped."""
    text = _CONTROL.sub(lambda c: "\\0" if c.group() == "\x00" else repr(c.group())[1:-1], text)
    return text if len(text) <= n else f"{text[:n // 2]}...{text[-n // 2:]} ({len(text)} characters)"


def _limits(root: Path) -> tuple[int, int]:
    """(longest path, longest single name) in bytes on the image folder's file system."""
    def conf(name: str, default: int) -> int:
        try:
            return int(os.pathconf(root, name)) or default
        except (OSError, ValueError, AttributeError):
            return default
    return conf("PC_PATH_MAX", 4096), conf("PC_NAME_MAX", 255)


def _check_path_text(rel: str, limits: tuple[int, int]) -> None:
    """Refuse what can never name a file here, before the file system is asked."""
    if "\x00" in rel:
        raise RowProblem(BAD_PATH, f"{_short(rel)}: the path contains a NUL byte")
    if _URL.match(rel):
        raise RowProblem(BAD_PATH, f"{_short(rel)}: a URL, not a file; download the images and list "
                                   "their paths relative to the image folder")
    if os.name != "nt" and _WINDOWS_ABS.match(rel):
        raise RowProblem(BAD_PATH, f"{_short(rel)}: a Windows path; list paths relative to the image folder")
    try:
        raw = os.fsencode(rel)
    except UnicodeError as exc:
        raise RowProblem(BAD_PATH, f"{_short(rel)}: cannot be encoded as a file name ({exc})") from None
    path_max, name_max = limits
    if len(raw) >= path_max:
        raise RowProblem(BAD_PATH, f"{_short(rel)}: the path is {len(raw)} bytes; this system allows "
                                   f"{path_max - 1}")
    longest = max((len(part) for part in raw.split(b"/")), default=0)
    if longest > name_max:
        raise RowProblem(BAD_PATH, f"{_short(rel)}: a file or folder name is {longest} bytes; "
                                   f"this file system allows {name_max}")


def _candidates(rel: str) -> list[str]:
    """The path as written, then spellings other systems produce for the same file: Windows
    backslashes, and the other Unicode normal form (macOS writes é as e + combining accent)."""
    out = [rel]
    if "\\" in rel:
        out.append(rel.replace("\\", "/"))
    for form in ("NFC", "NFD"):
        for r in list(out):
            alt = unicodedata.normalize(form, r)
            if alt not in out:
                out.append(alt)
    return out


def _resolve(root: Path, rel: str) -> Path:
    """The real path of ``rel`` (relative to ``root`` or absolute), inside ``root``, or RowProblem."""
    chosen = None
    for cand in _candidates(rel):
        full = Path(os.path.realpath(cand if os.path.isabs(cand) else root / cand))
        if chosen is None:
            chosen = full
        if os.path.lexists(full):
            chosen = full
            break
    if not chosen.is_relative_to(root):
        raise RowProblem(PATH_ESCAPE, f"{_short(rel)} resolves outside the image folder {root}")
    return chosen


def _kind_of(exc: BaseException) -> str:
    """The short reason for an exception raised while handling one row."""
    if isinstance(exc, ImageError):
        return exc.kind
    if isinstance(exc, PermissionError):
        return UNREADABLE_FILE
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return MISSING_FILE
    if isinstance(exc, IsADirectoryError):
        return NOT_A_FILE
    if isinstance(exc, OSError):
        return BAD_PATH if exc.errno in (errno.ELOOP, errno.ENAMETOOLONG, errno.EINVAL) else UNREADABLE_FILE
    if isinstance(exc, UnicodeError) or (isinstance(exc, ValueError) and "null" in str(exc)):
        return BAD_PATH
    return ROW_ERROR


# -- the import -----------------------------------------------------------------------------------
def import_catalogue(manifest: str | Path, image_root: str | Path | None = None,
                     progress: ProgressFn | None = None, rating_scale: float = RATING_SCALE
                     ) -> tuple[pd.DataFrame, pd.DataFrame, ImportReport]:
    """Validate a manifest against its image folder.

    Returns (products, images, report). ``image_root`` defaults to the manifest's folder.
    Never raises for bad input: what cannot be used is in the report (``fatal`` when nothing can).
    """
    report = ImportReport(source=str(manifest), rating_scale=float(rating_scale))
    if not (math.isfinite(report.rating_scale) and report.rating_scale > 0):
        report.fatal = f"the rating scale must be a positive number, got {rating_scale!r}"
        return *_frames([], {}, []), report
    try:
        return _import(Path(manifest), image_root, progress, report)
    except InterruptedError:        # a cancelled job: not a bad manifest
        raise
    except Exception as exc:        # a bug must cost a clear message, not a traceback and no report
        report.fatal = f"the import stopped on an unexpected error: {type(exc).__name__}: {exc}"
        products, images = _frames([], {}, [])
        return products, images, report


def _import(manifest: Path, image_root, progress, report: ImportReport
            ) -> tuple[pd.DataFrame, pd.DataFrame, ImportReport]:
    empty = _frames([], {}, [])
    try:
        text = load_manifest(manifest)
    except ManifestError as exc:
        report.fatal = str(exc)
        return *empty, report
    report.encoding, report.delimiter, report.notes = text.encoding, text.delimiter, list(text.notes)
    raw = text.frame
    try:
        root = Path(os.path.realpath(Path(image_root or manifest.parent).expanduser()))
        root_ok = root.is_dir()
    except (OSError, ValueError):
        root_ok = False
    if not root_ok:
        report.fatal = f"image folder not found: {_short(str(image_root or manifest.parent))}"
        return *empty, report
    df, report.columns = _normalise_columns(raw)
    report.n_rows = len(df) + len(text.bad_lines)
    problems: list[tuple] = [(row, None, BAD_ROW, reason) for row, reason in text.bad_lines]

    missing = [c for c in ("product_id",) if c not in df.columns]
    if "image_path" not in df.columns and "images" not in df.columns:
        missing.append("image_path (or images)")
    if missing:
        report.fatal = (f"manifest lacks required column(s): {', '.join(missing)}; "
                        f"found: {_short(', '.join(map(str, raw.columns)), 300) or 'no columns'}")
        report.problems = _problem_frame([(None, None, MISSING_COLUMN, report.fatal)])
        return *empty, report
    if report.n_rows == 0:
        report.fatal = "the manifest has a header but no rows"
        return *empty, report
    for col, key in df.attrs.get("dropped_columns", []):
        problems.append((None, None, UNKNOWN_COLUMN, f"column {col!r} means the same as an earlier {key!r}; "
                                                     "ignored"))
    for col in PRODUCT_COLUMNS[1:]:
        if col not in df.columns:
            problems.append((None, None, MISSING_COLUMN, f"optional column {col!r} absent; left empty"))
            df[col] = None
    df["_row"] = text.rows  # spreadsheet row numbers (header is row 1)
    if "images" in df.columns and "image_path" not in df.columns:
        df = _explode_wide(df)
    if "position" not in df.columns:
        df["position"] = None
    if "pose_label" not in df.columns:
        df["pose_label"] = None
    extra = [c for c in df.columns if c not in PRODUCT_COLUMNS + IMAGE_COLUMNS + ("_row", "images")]
    for col in extra:
        problems.append((None, None, UNKNOWN_COLUMN, f"column {col!r} is not one we know; kept as an attribute"))

    tracker = ProgressTracker("import", len(df), progress)
    limits = _limits(root)
    keep_rows, seen_paths, product_first = [], set(), {}
    for rec in df.to_dict(orient="records"):
        tracker.update()            # outside the per-row guard: a cancel request must stop the import
        row = rec["_row"]
        pid = None
        try:
            pid = _check_product_id(rec.get("product_id"))
            rec["product_id"] = pid
            rec["avg_rating"], rec["n_ratings"] = _ratings(rec, report.rating_scale)
            rec.update(_check_image(rec, root, limits, seen_paths))
        except RowProblem as p:
            if pid is None and p.kind == BAD_PRODUCT_ID:   # name the offending id, shortened
                pid = _short(str(rec.get("product_id")).strip(), 80)
            if p.kind in (EMPTY_PATH, MISSING_ID) and row in text.short_rows:   # cut short, not left empty
                n, n_header = text.short_rows[row]
                p = RowProblem(SHORT_ROW, f"row has {n} field(s) but the header has {n_header}: "
                                          f"{p.detail.removeprefix('row has ')}")
            problems.append((row, pid, p.kind, p.detail))
            continue
        except InterruptedError:
            raise
        except Exception as exc:    # whatever else one row can raise is that row's reason only
            where = _short(str(rec.get("image_path") or ""))
            problems.append((row, pid, _kind_of(exc), _short(f"{where}: {type(exc).__name__}: {exc}", 400)))
            continue
        prod = tuple(rec.get(c) for c in PRODUCT_COLUMNS[1:])
        first = product_first.setdefault(pid, (row, prod))
        if first[1] != prod:
            diff = [c for c, a, b in zip(PRODUCT_COLUMNS[1:], first[1], prod)
                    if a != b and not (a is None and b is None)]
            problems.append((row, pid, DUPLICATE_ID,
                             f"product {pid} repeats with different {', '.join(diff)} than row {first[0]};"
                             " the first is kept"))
        seen_paths.add((pid, rec["path"]))
        keep_rows.append(rec)
    tracker.finish()

    products, images = _frames(keep_rows, product_first, extra)
    report.n_products, report.n_images = len(products), len(images)
    report.problems = _problem_frame(problems)
    return products, images, report


def _check_product_id(value) -> str:
    pid = "" if value is None else str(value).strip()
    if not pid:
        raise RowProblem(MISSING_ID, "row has no product_id")
    if any(unicodedata.category(ch) == "Cc" for ch in pid):
        raise RowProblem(BAD_PRODUCT_ID, f"product_id {_short(pid, 60)!r} holds control characters")
    if len(pid) > MAX_ID_CHARS:
        raise RowProblem(BAD_PRODUCT_ID, f"product_id is {len(pid)} characters; at most {MAX_ID_CHARS}")
    return pid


def _ratings(rec: dict, scale: float) -> tuple[float | None, int | None]:
    out = []
    for col, parse in (("avg_rating", lambda v: parse_rating(v, scale)), ("n_ratings", parse_count)):
        try:
            out.append(parse(rec.get(col)))
        except ValueError as exc:
            raise RowProblem(BAD_RATING, f"{col} {exc}") from None
    return out[0], out[1]


def _check_image(rec: dict, root: Path, limits: tuple[int, int], seen: set) -> dict:
    """Resolve, check and hash one row's image; the columns it adds, or RowProblem."""
    rel = (rec.get("image_path") or "").strip()
    if not rel:
        raise RowProblem(EMPTY_PATH, "row has no image path")
    _check_path_text(rel, limits)
    full = _resolve(root, rel)
    try:
        str(full).encode("utf-8")
    except UnicodeEncodeError:   # a symlink to a name in another encoding: the store keeps UTF-8 text
        raise RowProblem(BAD_PATH, f"{_short(rel)} resolves to a file name that is not valid UTF-8") from None
    if (rec["product_id"], str(full)) in seen:
        raise RowProblem(DUPLICATE_ID, f"image {_short(rel)} is listed twice for product {rec['product_id']}")
    try:
        try:
            width, height = probe_image(full)
        except ImageError as exc:
            if exc.kind == NOT_AN_IMAGE:
                check_complete(full)   # a header cut short is a truncated download: say so
            raise
        check_complete(full)
    except ImageError as exc:
        detail = f"{_short(rel)}: file not found in {root}" if exc.kind == MISSING_FILE else f"{_short(rel)}: {exc}"
        raise RowProblem(exc.kind, detail) from None
    return {"path": str(full), "rel_path": str(full.relative_to(root)), "width": width, "height": height,
            "content_hash": content_hash(full)}


def import_into_store(store, manifest: str | Path, image_root: str | Path | None = None,
                      progress: ProgressFn | None = None, source: str | None = None,
                      rating_scale: float = RATING_SCALE) -> ImportReport:
    """Validate a manifest and, when it yields usable images, make it the store's catalogue
    (pose cache and labels stay). The report is kept as import_report.json either way, also
    when the catalogue cannot be saved."""
    report_path = Path(store.data_dir) / "import_report.json"
    try:
        products, images, report = import_catalogue(manifest, image_root, progress, rating_scale)
    except InterruptedError as exc:   # cancelled: the report says so, the catalogue is untouched
        write_report(ImportReport(source=str(manifest), fatal=f"cancelled: {exc}"), report_path)
        raise
    report.applied = report.ok and report.n_images > 0
    if report.applied:
        try:
            src = source or str(Path(os.path.realpath(manifest)))
            store.replace_catalogue(products, images, report.problems, src)
            report.n_view_labels = len(labels_from_catalogue(store))
        except InterruptedError:
            raise
        except Exception as exc:   # e.g. the database is locked or the disk is full
            report.applied = False
            report.fatal = f"the catalogue could not be saved: {type(exc).__name__}: {exc}"
            full = disk_full(exc, store.data_dir)
            if full is not None:   # the disk, not the manifest: the caller says so (the old catalogue stays)
                with contextlib.suppress(OSError):
                    write_report(report, report_path)
                raise full from exc
    write_report(report, report_path)
    return report


def vocabulary(store) -> dict:
    """The built-in vocabulary with this data dir's edits."""
    return merge_vocabulary(store.view_word_edits())


def _attrs(text) -> dict:
    try:
        d = json.loads(text) if isinstance(text, str) and text else {}
    except ValueError:
        return {}
    return d if isinstance(d, dict) else {}


def _first_fills(labels: list) -> ViewLabel | None:
    """One label from several columns' labels: the first column's, its open parts filled by the
    later columns' where they agree on whether a person is shown."""
    out = None
    for lab in labels:
        if lab is None:
            continue
        if out is None:
            out = lab
        elif out.is_person is not False and lab.is_person is not False:
            out = replace(out, facing=out.facing or lab.facing, framing=out.framing or lab.framing,
                          words=f"{out.words} | {lab.words}")
    return out


def labels_from_catalogue(store, filename_words_too: bool = False, user: str | None = None) -> list[ViewLabel]:
    """Read the catalogue's own words (its :data:`WORD_COLUMNS`, and file names when
    ``filename_words_too``) into view labels and append those that say something new for
    their image (a re-import adds nothing twice; people's labels stay in force)."""
    images = store.images()
    products = store.products()
    product_attrs = {pid: _attrs(a) for pid, a in zip(products["product_id"], products["attrs"], strict=True)}
    vocab = vocabulary(store)
    history = store.view_label_history()
    last_by_source: dict[tuple[str, str], ViewLabel] = {(lab.content_hash, str(lab.source)): lab for lab in history}
    new: list[ViewLabel] = []
    for r in images.itertuples(index=False):
        attrs = {**product_attrs.get(r.product_id, {}), **_attrs(r.attrs)}   # a column constant per product
        cells = {"pose_label": r.pose_label, **{c: attrs.get(c) for c in WORD_COLUMNS[1:]}}
        column_labels = [label_from_words(r.content_hash, v, LabelSource.MANIFEST, vocab, user)
                         for c in WORD_COLUMNS if (v := cells.get(c)) is not None and str(v).strip()]
        candidates = [(LabelSource.MANIFEST, _first_fills(column_labels))]
        if filename_words_too:
            candidates.append((LabelSource.FILENAME, label_from_words(
                r.content_hash, filename_words(r.rel_path or r.path), LabelSource.FILENAME, vocab, user)))
        for source, lab in candidates:
            if lab is None:
                continue
            before = last_by_source.get((r.content_hash, str(source)))
            if lab.same_view(before):
                continue
            new.append(lab)
            last_by_source[(r.content_hash, str(source))] = lab
    return store.add_view_labels(new) if new else []


def write_report(report: ImportReport, path: Path) -> None:
    """Write atomically (temp file + rename): a killed import never leaves half a JSON file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(report.to_dict(), indent=1, default=str))
    os.replace(tmp, path)


def _frames(rows: list[dict], product_first: dict, extra: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    if not rows:
        return (pd.DataFrame(columns=list(PRODUCT_COLUMNS) + ["attrs"]),
                pd.DataFrame(columns=["product_id", "position", "path", "rel_path", "content_hash",
                                      "width", "height", "pose_label", "attrs"]))
    df = pd.DataFrame(rows)
    groups = df.groupby("product_id", sort=False)
    first = groups.head(1).set_index("product_id")
    # product-level extra attributes: those constant within the product
    constant = {c: groups[c].nunique(dropna=False) <= 1 for c in extra}
    prod_rows = []
    for pid in product_first:
        if pid not in first.index:
            continue
        row = first.loc[pid]
        attrs = {c: row[c] for c in extra if constant[c][pid] and not _missing(row[c]) and row[c] is not None}
        prod_rows.append({"product_id": pid, **{c: row[c] for c in PRODUCT_COLUMNS[1:]},
                          "attrs": json.dumps(attrs, default=str)})
    products = pd.DataFrame(prod_rows)
    for col in ("title", "category", "subcategory", "product_type"):
        products[col] = products[col].where(products[col].notna(), None)
    pos = pd.to_numeric(df["position"], errors="coerce")
    df["_order"] = pos.fillna(np.inf)
    df = df.sort_values(["product_id", "_order", "_row"], kind="stable")
    df["position"] = df.groupby("product_id").cumcount() + 1
    image_extra = [c for c in extra if c not in json.loads(products.iloc[0]["attrs"] or "{}")]
    df["attrs"] = [json.dumps({c: r[c] for c in image_extra if r[c] is not None and not _missing(r[c])},
                              default=str)
                   for r in df.to_dict(orient="records")]
    images = df[["product_id", "position", "path", "rel_path", "content_hash", "width", "height",
                 "pose_label", "attrs"]].reset_index(drop=True)
    return products.sort_values("product_id").reset_index(drop=True), images
