"""Import a catalogue (manifest + image folder), validate it, pick reference/subject sets.

A manifest is CSV or Parquet, either long (one row per image, ``image_path`` column)
or wide (one row per product, ``images`` column with paths separated by ``|``).
Validation never raises on bad rows: it keeps the good ones and lists every bad one
with its reason in an :class:`ImportReport`. Only an unreadable manifest or a missing
required column stops the import, and then the report says why.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..images import ImageError, content_hash, probe_image
from ..progress import ProgressFn, ProgressTracker

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

MISSING_COLUMN = "missing_column"
UNKNOWN_COLUMN = "unknown_column"
DUPLICATE_ID = "duplicate_id"
BAD_RATING = "bad_rating"
MISSING_ID = "missing_product_id"
EMPTY_PATH = "empty_path"
PATH_ESCAPE = "path_escapes_root"
MISSING_FILE = "missing_file"
UNREADABLE_FILE = "unreadable_file"
NO_IMAGES = "product_without_images"


class ManifestError(ValueError):
    """The manifest as a whole cannot be used (unreadable, or a required column is missing)."""


@dataclass
class ImportReport:
    source: str
    n_rows: int = 0
    n_products: int = 0
    n_images: int = 0
    columns: dict = field(default_factory=dict)     # manifest column -> our column
    problems: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["row", "product_id", "kind", "detail"]))
    fatal: str | None = None
    applied: bool = False   # set by import_into_store: this report's rows became the catalogue

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
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {"source": self.source, "n_rows": self.n_rows, "n_products": self.n_products,
                "n_images": self.n_images, "columns": self.columns, "fatal": self.fatal,
                "applied": self.applied,
                "problems": self.problems.to_dict(orient="records")}


def read_manifest(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv", ".tsv", ".txt"):
        raise ManifestError(f"manifest must be .csv, .tsv or .parquet, got {path.name}")
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""],
                             sep="\t" if suffix == ".tsv" else ",", encoding="utf-8-sig")
    except Exception as exc:  # pandas raises many types for malformed files
        raise ManifestError(f"cannot read manifest {path.name}: {type(exc).__name__}: {exc}") from None
    # every cell as text or None: validation decides what is a number
    return pd.DataFrame({c: pd.Series([None if pd.isna(v) else str(v) for v in df[c]], dtype=object)
                         for c in df.columns})


def _normalise_columns(df: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    mapping = {}
    for col in df.columns:
        key = str(col).strip().lower().replace(" ", "_").replace("-", "_")
        key = ALIASES.get(key, key)
        if key in mapping.values():  # two columns mean the same thing: keep the first
            continue
        mapping[col] = key
    return df[list(mapping)].rename(columns=mapping), {str(k): v for k, v in mapping.items()}


def _explode_wide(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["_paths"] = df["images"].fillna("").map(
        lambda s: [p.strip() for p in str(s).replace(";", "|").split("|") if p.strip()] or [""])
    out = df.explode("_paths").drop(columns=["images"]).rename(columns={"_paths": "image_path"})
    out["position"] = out.groupby(level=0).cumcount() + 1
    return out


def _as_number(value, integer: bool) -> float | None:
    """Parsed value, or None when absent; raises ValueError when present but not a valid number."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
        return None
    try:
        x = float(str(value).strip().replace(",", ""))
    except ValueError:
        raise ValueError(value) from None
    if not np.isfinite(x) or x < 0 or (integer and x != int(x)):
        raise ValueError(value)
    return x


def import_catalogue(manifest: str | Path, image_root: str | Path | None = None,
                     progress: ProgressFn | None = None) -> tuple[pd.DataFrame, pd.DataFrame, ImportReport]:
    """Validate a manifest against its image folder.

    Returns (products, images, report). ``image_root`` defaults to the manifest's folder.
    """
    manifest = Path(manifest)
    report = ImportReport(source=str(manifest))
    try:
        raw = read_manifest(manifest)
    except ManifestError as exc:
        report.fatal = str(exc)
        return pd.DataFrame(), pd.DataFrame(), report
    root = Path(image_root or manifest.parent).expanduser().resolve()
    if not root.is_dir():
        report.fatal = f"image folder not found: {root}"
        return pd.DataFrame(), pd.DataFrame(), report
    df, report.columns = _normalise_columns(raw)
    report.n_rows = len(df)
    problems: list[tuple] = []

    missing = [c for c in ("product_id",) if c not in df.columns]
    if "image_path" not in df.columns and "images" not in df.columns:
        missing.append("image_path (or images)")
    if missing:
        report.fatal = (f"manifest lacks required column(s): {', '.join(missing)}; "
                        f"found: {', '.join(map(str, raw.columns))}")
        report.problems = pd.DataFrame([(None, None, MISSING_COLUMN, report.fatal)],
                                       columns=["row", "product_id", "kind", "detail"])
        return pd.DataFrame(), pd.DataFrame(), report
    for col in PRODUCT_COLUMNS[1:]:
        if col not in df.columns:
            problems.append((None, None, MISSING_COLUMN, f"optional column {col!r} absent; left empty"))
            df[col] = None
    df["_row"] = np.arange(len(df)) + 2  # spreadsheet row numbers (header is row 1)
    if "images" in df.columns and "image_path" not in df.columns:
        df = _explode_wide(df)
    if "position" not in df.columns:
        df["position"] = None
    if "pose_label" not in df.columns:
        df["pose_label"] = None
    extra = [c for c in df.columns if c not in PRODUCT_COLUMNS + IMAGE_COLUMNS + ("_row",)]
    for col in extra:
        problems.append((None, None, UNKNOWN_COLUMN, f"column {col!r} is not one we know; kept as an attribute"))

    tracker = ProgressTracker("import", len(df), progress)
    keep_rows, seen_paths, product_first = [], set(), {}
    for rec in df.to_dict(orient="records"):
        tracker.update()
        row, pid = rec["_row"], (rec.get("product_id") or "").strip()
        if not pid:
            problems.append((row, None, MISSING_ID, "row has no product_id"))
            continue
        try:
            rec["avg_rating"] = _as_number(rec.get("avg_rating"), integer=False)
            rec["n_ratings"] = _as_number(rec.get("n_ratings"), integer=True)
        except ValueError as exc:
            problems.append((row, pid, BAD_RATING,
                             f"rating fields must be non-negative numbers (n_ratings a whole number); got {exc.args[0]!r}"))
            continue
        rel = (rec.get("image_path") or "").strip()
        if not rel:
            problems.append((row, pid, EMPTY_PATH, "row has no image path"))
            continue
        full = (root / rel).resolve() if not os.path.isabs(rel) else Path(rel).resolve()
        if not full.is_relative_to(root):
            problems.append((row, pid, PATH_ESCAPE, f"{rel} resolves outside the image folder {root}"))
            continue
        if (pid, str(full)) in seen_paths:
            problems.append((row, pid, DUPLICATE_ID, f"image {rel} is listed twice for product {pid}"))
            continue
        try:
            width, height = probe_image(full)
        except ImageError as exc:
            kind = MISSING_FILE if "not found" in str(exc) else UNREADABLE_FILE
            problems.append((row, pid, kind, str(exc)))
            continue
        prod = tuple(rec.get(c) for c in PRODUCT_COLUMNS[1:])
        first = product_first.setdefault(pid, (row, prod))
        if first[1] != prod:
            diff = [c for c, a, b in zip(PRODUCT_COLUMNS[1:], first[1], prod)
                    if a != b and not (a is None and b is None)]
            problems.append((row, pid, DUPLICATE_ID,
                             f"product {pid} repeats with different {', '.join(diff)} than row {first[0]};"
                             " the first is kept"))
        seen_paths.add((pid, str(full)))
        rec.update(path=str(full), rel_path=str(full.relative_to(root)), width=width, height=height,
                   content_hash=content_hash(full))
        keep_rows.append(rec)
    tracker.finish()

    products, images = _frames(keep_rows, product_first, extra)
    report.n_products, report.n_images = len(products), len(images)
    report.problems = pd.DataFrame(problems, columns=["row", "product_id", "kind", "detail"])
    return products, images, report


def import_into_store(store, manifest: str | Path, image_root: str | Path | None = None,
                      progress: ProgressFn | None = None, source: str | None = None) -> ImportReport:
    """Validate a manifest and, when it yields usable images, make it the store's catalogue
    (pose cache and labels stay). The report is kept as import_report.json either way."""
    products, images, report = import_catalogue(manifest, image_root, progress)
    report.applied = report.ok and report.n_images > 0
    if report.applied:
        store.replace_catalogue(products, images, report.problems, source or str(Path(manifest).resolve()))
    (store.data_dir / "import_report.json").write_text(json.dumps(report.to_dict(), indent=1, default=str))
    return report


def _frames(rows: list[dict], product_first: dict, extra: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    if not rows:
        return (pd.DataFrame(columns=list(PRODUCT_COLUMNS) + ["attrs"]),
                pd.DataFrame(columns=["product_id", "position", "path", "rel_path", "content_hash",
                                      "width", "height", "pose_label", "attrs"]))
    df = pd.DataFrame(rows)
    prod_rows = []
    for pid, (row, _) in product_first.items():
        sub = df[df["product_id"].str.strip() == pid]
        if sub.empty:
            continue
        first = sub.iloc[0]
        # product-level extra attributes: those constant within the product
        attrs = {c: first[c] for c in extra if sub[c].nunique(dropna=False) <= 1 and first[c] is not None}
        prod_rows.append({"product_id": pid, **{c: first[c] for c in PRODUCT_COLUMNS[1:]},
                          "attrs": json.dumps(attrs, default=str)})
    products = pd.DataFrame(prod_rows)
    for col in ("title", "category", "subcategory", "product_type"):
        products[col] = products[col].where(products[col].notna(), None)
    df["product_id"] = df["product_id"].str.strip()
    pos = pd.to_numeric(df["position"], errors="coerce")
    df["_order"] = pos.fillna(np.inf)
    df = df.sort_values(["product_id", "_order", "_row"], kind="stable")
    df["position"] = df.groupby("product_id").cumcount() + 1
    image_extra = [c for c in extra if c not in json.loads(products.iloc[0]["attrs"] or "{}")]
    df["attrs"] = [json.dumps({c: r[c] for c in image_extra if r[c] is not None}, default=str)
                   for r in df.to_dict(orient="records")]
    images = df[["product_id", "position", "path", "rel_path", "content_hash", "width", "height",
                 "pose_label", "attrs"]].reset_index(drop=True)
    return products.sort_values("product_id").reset_index(drop=True), images


# -- reference and subject sets (paper §3.1, §4.1) ---------------------------------------
