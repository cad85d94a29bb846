"""Human truth for the evaluation: view labels per image, and reviewers' judgements.

View labels
    Where they come from, later ones winning: the catalogue's own ``pose_label`` column
    (the demo's recorded framings, DeepFashion's view names), then a labels file.
    A labels file is CSV (or TSV / Parquet) with one row per image and/or per product:

    * image rows name the image by ``image_id``, ``content_hash`` or its path
      (``image_path`` / ``rel_path`` / ``path`` / ``file``: as in the manifest, relative to the
      image folder, or absolute; ``product_id`` may be given to disambiguate) and give its
      ``label`` (aliases ``pose_label``, ``view``, ``view_label``, ``pose``); with ``product_id``
      given, a path may also be relative to the product's own folder (``01_front.jpg``);
    * product rows give ``product_id`` and ``missing``: the view labels a reviewer judged
      missing from that product, separated by ``|`` or ``;`` (an empty value means "nothing
      is missing"). Such products are evaluated with all their images kept.

    Labels are normalised (trimmed, lower case, spaces and dashes -> ``_``) so "Close-up"
    and "close_up" are the same view. Rows that match no image are reported, not fatal.
    A file uploaded on the app's Evaluate page is kept as ``<data dir>/labels.csv`` and used
    whenever no other file is given (``unposed evaluate --labels FILE`` wins over it).

Judgements (the app's Product page)
    For a product and a run, the reviewer ticks which suggested poses are truly missing and
    adds poses the system missed. Each save appends a full snapshot row to ``judgements``
    (nothing a person entered is ever deleted); the latest row per (run, product) is the
    current judgement. A snapshot also records each involved pose class's view label under
    that run when one is known, which lets judgements score *other* configurations too.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..store import Store

LABEL_COLUMNS = ("label", "pose_label", "view", "view_label", "pose")
PATH_COLUMNS = ("image_path", "rel_path", "path", "file", "image", "filename")
MISSING_COLUMNS = ("missing", "missing_poses", "missing_views", "missing_labels")
_SPLIT = re.compile(r"[|;]")

def normalise_label(value) -> str | None:
    """'Close-up ' -> 'close_up'; empty / NaN -> None."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    s = re.sub(r"[\s\-]+", "_", str(value).strip().lower()).strip("_")
    return s or None


def split_labels(value) -> frozenset[str]:
    if value is None or (isinstance(value, float) and value != value):
        return frozenset()
    return frozenset(v for v in (normalise_label(p) for p in _SPLIT.split(str(value))) if v)


@dataclass
class LabelSet:
    """Truth for one evaluation: image_id -> view label, product_id -> views judged missing."""

    image_labels: pd.Series                      # index image_id (int) -> label (str)
    product_missing: dict[str, frozenset[str]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.image_labels.empty and not self.product_missing

    def label_of(self, image_ids) -> list[str | None]:
        get = self.image_labels.get
        return [get(int(i)) if i == i and i is not None else None for i in image_ids]

    def summary(self) -> str:
        n_views = self.image_labels.nunique()
        parts = [f"{len(self.image_labels)} labelled images ({n_views} views)"]
        if self.product_missing:
            parts.append(f"{len(self.product_missing)} products with reviewed missing views")
        if self.sources:
            parts.append("from " + " + ".join(self.sources))
        return ", ".join(parts)


def view_label_text(label) -> str | None:
    """A view label (:class:`views.labels.ViewLabel`) as one evaluation label: facing and
    framing joined ("back_full_length"), the kind without a person, or "no_pose"."""
    if label is None:
        return None
    if label.no_pose:
        return "no_pose"
    if label.kind and label.kind != "person":
        return label.kind
    parts = [p for p in (label.facing, label.framing) if p]
    return "_".join(parts) or None


def catalogue_labels(store: Store) -> LabelSet:
    """The catalogue's own pose_label column (e.g. the demo's recorded framings); an image
    without one takes its label in force from the view label table (analysts, reviewers, a
    view / shot column), so labels given through ``up.label_views`` count too."""
    images = store.images()
    labels = images.set_index("image_id")["pose_label"].map(normalise_label)
    sources = ["catalogue pose_label"] if labels.notna().any() else []
    unlabelled = images[labels.isna().to_numpy()]
    if len(unlabelled):
        table = store.view_labels(unlabelled["content_hash"])
        filled = {int(i): view_label_text(table.get(h)) for i, h in
                  zip(unlabelled["image_id"], unlabelled["content_hash"], strict=True)}
        filled = {i: t for i, t in filled.items() if t}
        if filled:
            labels.loc[list(filled)] = list(filled.values())
            sources.append("view label table")
    labels = labels.dropna()
    return LabelSet(labels.astype(str), {}, sources)


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ValueError(f"labels file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
            return df.astype(object).where(df.notna(), None)
        if suffix in (".csv", ".tsv", ".txt"):
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""],
                               sep="\t" if suffix == ".tsv" else ",", encoding="utf-8-sig")
    except Exception as exc:  # pandas raises many kinds for malformed files
        raise ValueError(f"cannot read labels file {path.name}: {type(exc).__name__}: {exc}") from None
    raise ValueError(f"labels file must be .csv, .tsv or .parquet, got {path.name}")


def _given(value) -> bool:
    return value is not None and not (isinstance(value, float) and value != value) and str(value).strip() != ""


def _first(cols: dict, names) -> str | None:
    return next((cols[n] for n in names if n in cols), None)


def read_labels_file(path: str | Path, images: pd.DataFrame) -> LabelSet:
    """Parse a labels file against the catalogue's images (``store.images()``)."""
    path = Path(path)
    df = _read_table(path)
    cols = {str(c).strip().lower().replace(" ", "_").replace("-", "_"): c for c in df.columns}
    label_col = _first(cols, LABEL_COLUMNS)
    missing_col = _first(cols, MISSING_COLUMNS)
    path_col = _first(cols, PATH_COLUMNS)
    id_col, hash_col, pid_col = cols.get("image_id"), cols.get("content_hash"), cols.get("product_id")
    if label_col is None and missing_col is None:
        raise ValueError(f"labels file {path.name} needs a 'label' column (per image) and/or a 'missing' "
                         f"column (per product); found: {', '.join(map(str, df.columns))}")
    if label_col is not None and not (id_col or hash_col or path_col):
        raise ValueError(f"labels file {path.name} has labels but no image column: give image_id, "
                         "content_hash or image_path")

    by_id = set(images["image_id"].astype(int))
    by_hash = images.groupby("content_hash")["image_id"].apply(list).to_dict()
    by_path: dict[str, list[int]] = {}
    by_pid_path: dict[tuple[str, str], int] = {}
    for r in images.itertuples(index=False):
        for key in {str(r.path), str(r.rel_path), Path(str(r.path)).as_posix()}:
            by_path.setdefault(key, []).append(int(r.image_id))
            by_pid_path[(str(r.product_id), key)] = int(r.image_id)
    products = set(images["product_id"].astype(str))

    labels: dict[int, str] = {}
    missing: dict[str, frozenset[str]] = {}
    problems: list[str] = []
    n_unmatched = 0
    for i, row in enumerate(df.to_dict(orient="records"), start=2):
        pid = str(row[pid_col]).strip() if pid_col and _given(row.get(pid_col)) else None
        has_image_key = any(c and _given(row.get(c)) for c in (id_col, hash_col, path_col))
        if label_col and has_image_key:
            label = normalise_label(row.get(label_col))
            if label is None:
                problems.append(f"row {i}: empty label")
                continue
            ids: list[int] = []
            if id_col and _given(row.get(id_col)):
                try:
                    iid = int(float(row[id_col]))
                except ValueError:
                    iid = -1
                ids = [iid] if iid in by_id else []
            elif hash_col and _given(row.get(hash_col)):
                ids = by_hash.get(str(row[hash_col]).strip(), [])
            else:
                raw = str(row[path_col]).strip()
                keys = {raw, Path(raw).as_posix()}
                if Path(raw).is_absolute():
                    keys.add(str(Path(raw).resolve()))
                if pid is not None:
                    ids = [by_pid_path[(pid, k)] for k in keys if (pid, k) in by_pid_path][:1]
                    if not ids:   # a name relative to the product's folder, e.g. "01_front.jpg"
                        tail = "/" + Path(raw).as_posix().lstrip("/")
                        ids = sorted({j for (p_, k), j in by_pid_path.items() if p_ == pid and k.endswith(tail)})
                        ids = ids if len(ids) == 1 else []
                else:
                    ids = sorted({j for k in keys for j in by_path.get(k, [])})
            if not ids:
                n_unmatched += 1
                if n_unmatched <= 5:
                    problems.append(f"row {i}: no catalogue image matches it")
                continue
            for j in ids:
                labels[j] = label
        elif missing_col and pid is not None:
            if pid not in products:
                problems.append(f"row {i}: product {pid!r} is not in the catalogue")
                continue
            missing[pid] = split_labels(row.get(missing_col))
        else:
            problems.append(f"row {i}: neither an image with a label nor a product with missing views")
    if n_unmatched > 5:
        problems.append(f"... {n_unmatched} rows in all match no catalogue image")
    if not labels and not missing:
        raise ValueError(f"labels file {path.name}: no row matches the catalogue"
                         + (f" ({problems[0]})" if problems else ""))
    series = pd.Series(labels, dtype=object).sort_index()
    series.index = series.index.astype(int)
    return LabelSet(series, missing, [path.name], problems)


SAVED_LABELS = "labels.csv"   # a labels file kept in the data dir (the app's Evaluate page)


def saved_labels_path(store: Store) -> Path | None:
    p = Path(store.data_dir) / SAVED_LABELS
    return p if p.is_file() else None


def save_labels_file(store: Store, content: bytes, name: str = SAVED_LABELS) -> LabelSet:
    """Check a labels file against the catalogue, then keep it as the data dir's labels file
    (used by the Evaluate page and by `unposed evaluate` without --labels)."""
    import tempfile

    suffix = Path(name).suffix.lower() or ".csv"
    if suffix not in (".csv", ".tsv", ".txt"):
        raise ValueError(f"labels file must be .csv or .tsv, got {name}")
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / f"labels{suffix}"
        probe.write_bytes(content)
        parsed = read_labels_file(probe, store.images())
        if suffix == ".tsv":   # keep one format on disk
            read = _read_table(probe)
            read.to_csv(probe.with_suffix(".csv"), index=False)
            probe = probe.with_suffix(".csv")
        dest = Path(store.data_dir) / SAVED_LABELS
        tmp_dest = dest.with_suffix(".csv.partial")
        tmp_dest.write_bytes(probe.read_bytes())
        tmp_dest.replace(dest)
    return parsed


def remove_saved_labels(store: Store) -> bool:
    p = saved_labels_path(store)
    if p is None:
        return False
    p.unlink()
    return True
