"""DeepFashion In-shop Clothes Retrieval, from the user's own copy (research licence: the
data set is never shipped or downloaded here).

Layout: ``img/<GENDER>/<Category>/id_XXXXXXXX/NN_V_view.jpg``, e.g.
``img/WOMEN/Blouses_Shirts/id_00000001/02_1_front.jpg``: ``NN`` numbers the photo set
(colour / shoot) within the item, ``V`` the view, and ``view`` is one of
:data:`DEEPFASHION_VIEWS` (front, side, back, full, additional, flat).

Mapping to the catalogue
    product_id  the item folder (``id_00000001``); an id found under two folders gets the
                gender and category appended so products never merge by accident
    category    the gender folder, title-cased (``Women``)
    subcategory the category folder, underscores as spaces (``Blouses Shirts``)
    title       "<Gender> <subcategory> <id>"
    pose_label  the view word of the file name: the evaluation's view labels
    position    photo sets in order, then views in order (NN, V)

DeepFashion has no ratings, so every product is equally popular: reference products are
simply the ones with the most images, and the ranking falls back to how many of a cohort's
products show each pose. In-shop items have few photos (most 2-8): train with e.g.
``--min-images 4`` and evaluate with ``--keep 3`` so there are reference products and hidden
views to find.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ...images import is_image_file

DEEPFASHION_VIEWS = ("front", "side", "back", "full", "additional", "flat")
FILE_RE = re.compile(r"^(?P<set>\d+)_(?P<view_no>\d+)_(?P<view>[A-Za-z]+)$")
ID_RE = re.compile(r"^id_\d+$")
MANIFEST_NAME = "deepfashion_manifest.csv"


@dataclass
class DeepFashionScan:
    root: Path                      # the folder image paths are relative to (holds img/)
    manifest: pd.DataFrame          # one row per image, catalogue manifest columns
    skipped: list[str] = field(default_factory=list)   # "path: reason"

    @property
    def n_products(self) -> int:
        return int(self.manifest["product_id"].nunique()) if len(self.manifest) else 0

    def summary(self) -> str:
        if self.manifest.empty:
            return f"no DeepFashion images found under {self.root}"
        n = self.manifest.groupby("product_id").size()
        views = self.manifest["pose_label"].value_counts().to_dict()
        return (f"{len(self.manifest)} images of {self.n_products} products "
                f"({self.manifest['subcategory'].nunique()} categories; images per product "
                f"min {n.min()}, median {int(n.median())}, max {n.max()}); views "
                + ", ".join(f"{v} {views.get(v, 0)}" for v in DEEPFASHION_VIEWS)
                + (f"; {len(self.skipped)} files skipped" if self.skipped else ""))


def _image_dir(root: Path) -> tuple[Path, Path]:
    """(folder the manifest paths are relative to, the img folder)."""
    if (root / "img").is_dir():
        return root, root / "img"
    if root.name == "img":
        return root.parent, root
    # a bare copy of img/'s contents: GENDER/Category/id_* below root
    if any(ID_RE.match(p.name) for p in root.glob("*/*/*") if p.is_dir()):
        return root, root
    raise ValueError(f"{root} does not look like DeepFashion In-shop: expected img/<GENDER>/<Category>/"
                     "id_XXXXXXXX/NN_V_view.jpg below it")


def _is_dir(p: Path) -> bool:
    try:
        return p.is_dir()
    except OSError:
        return False


def _utf8(text: str) -> bool:
    """File names with bytes that are not UTF-8 (surrogates here) cannot go into the manifest."""
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def scan_deepfashion(root: str | Path) -> DeepFashionScan:
    """Walk the layout; never raises for single bad files (they are listed in ``skipped``)."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise ValueError(f"DeepFashion folder not found: {root}")
    base, img = _image_dir(root)
    rows, skipped = [], []
    folders: dict[str, list[tuple[str, str]]] = {}
    for item in sorted(p for p in img.glob("*/*/*") if _is_dir(p)):
        gender, category = item.parent.parent.name, item.parent.name
        if not ID_RE.match(item.name):
            skipped.append(f"{item.relative_to(base)}: not an id_XXXXXXXX item folder")
            continue
        try:
            files = sorted(f for f in item.iterdir() if f.is_file())
        except OSError as exc:     # one unreadable folder costs its own images, not the scan
            skipped.append(f"{item.relative_to(base)}: cannot read the folder ({exc.strerror or exc})")
            continue
        folders.setdefault(item.name, []).append((gender, category))
        found = 0
        for f in files:
            m = FILE_RE.match(f.stem)
            rel = f.relative_to(base).as_posix()
            if not _utf8(rel):
                skipped.append(f"{rel.encode('utf-8', 'replace').decode()}: file name is not valid UTF-8")
                continue
            if not is_image_file(f):
                skipped.append(f"{rel}: not an image file")
                continue
            if m is None:
                skipped.append(f"{rel}: name is not NN_V_view")
                continue
            view = m["view"].lower()
            if view not in DEEPFASHION_VIEWS:
                skipped.append(f"{rel}: unknown view {view!r}")
                continue
            found += 1
            sub = category.replace("_", " ").strip()
            rows.append({"product_id": item.name, "title": f"{gender.title()} {sub} {item.name}",
                         "category": gender.title(), "subcategory": sub, "product_type": None,
                         "image_path": rel, "_order": (int(m["set"]), int(m["view_no"]), f.name),
                         "pose_label": view, "_folder": (gender, category)})
        if not found:
            skipped.append(f"{item.relative_to(base)}: no NN_V_view images")
    df = pd.DataFrame(rows, columns=["product_id", "title", "category", "subcategory", "product_type",
                                     "image_path", "_order", "pose_label", "_folder"])
    if len(df):
        dup = {pid for pid, where in folders.items() if len(set(where)) > 1}
        if dup:   # the same id under two folders: keep them apart
            mask = df["product_id"].isin(dup)
            df.loc[mask, "product_id"] = [f"{pid}-{g.lower()}-{c.lower()}"
                                          for pid, (g, c) in zip(df.loc[mask, "product_id"], df.loc[mask, "_folder"])]
            df.loc[mask, "title"] = [f"{t} ({g.title()} {c})" for t, (g, c)
                                     in zip(df.loc[mask, "title"], df.loc[mask, "_folder"])]
        df = df.sort_values(["product_id", "_order"], kind="stable").reset_index(drop=True)
        df["position"] = df.groupby("product_id").cumcount() + 1
    else:
        df["position"] = []
    manifest = df[["product_id", "title", "category", "subcategory", "product_type", "image_path",
                   "position", "pose_label"]].copy()
    manifest["avg_rating"] = None
    manifest["n_ratings"] = None
    return DeepFashionScan(base, manifest, skipped)


def import_deepfashion(store, root: str | Path, progress=None):
    """Scan, write the manifest into the data dir and import it as the catalogue.

    Returns (scan, import report). Raises ValueError when nothing usable is found."""
    from ..manifest import import_into_store

    scan = scan_deepfashion(root)
    if scan.manifest.empty:
        raise ValueError(scan.summary() + (f" ({scan.skipped[0]})" if scan.skipped else ""))
    out = Path(store.data_dir) / MANIFEST_NAME
    scan.manifest.to_csv(out, index=False)
    report = import_into_store(store, out, scan.root, progress, f"DeepFashion In-shop ({scan.root})")
    if not report.ok:
        raise ValueError(report.summary())
    if not report.applied:
        raise ValueError(f"no usable DeepFashion images: {report.summary()}")
    store.set_meta("deepfashion_manifest", str(out))
    return scan, report
