"""How well the view rules read a labelled image set: facing and framing accuracy with confusion
matrices, image-kind accuracy, several-people precision / recall, and K-Means purity by facing
and by framing for the paper's embedding versus the one with view dimensions.

Labels are a CSV with a ``file`` column (relative to the CSV's folder, or ``--images``) and any
of: ``kind`` (views.ImageKind values; default person), ``facing`` (views.Facing values) or
``yaw_deg`` (converted with :func:`views.facing_from_yaw`), ``framing`` (views.Framing values,
or the short forms closeup / upper / full), ``n_people``. The labelled renders in
``assets/views/labels.csv`` are one such set; a folder of real photos with known views is
another (``unposed views evaluate LABELS.csv``).
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..cluster import PoseKMeans, purity
from ..config import PoseOptions
from ..embed import embed
from ..embed.views import kmeans_weights
from ..pose import create_backend
from ..pose.extract import estimate_file
from ..progress import ProgressFn, ProgressTracker
from ..records import PoseRow
from ..views import Facing, Framing, ImageKind, facing_from_yaw
from ..views.describe import SEVERAL_PEOPLE, ImageView, describe_image

FRAMING_ALIASES = {"closeup": "close_up", "close-up": "close_up", "upper": "upper_body", "full": "full_length",
                   "threequarter": "three_quarter", "three-quarter": "three_quarter"}
PURITY_KS: tuple[int, ...] = tuple(range(6, 17))


def read_labels(path: str | Path, images: str | Path | None = None) -> pd.DataFrame:
    """The labels CSV as a frame with absolute ``path`` and normalised kind / facing / framing."""
    path = Path(path)
    df = pd.read_csv(path, dtype={"file": str})
    if "file" not in df.columns:
        raise ValueError(f"{path}: a labels CSV needs a 'file' column")
    root = Path(images) if images is not None else path.parent
    df["path"] = [str((root / f).resolve()) for f in df["file"]]
    missing = [p for p in df["path"] if not Path(p).is_file()]
    if missing:
        raise ValueError(f"{path}: {len(missing)} labelled files are missing, e.g. {missing[0]}")
    kind = df["kind"].fillna(str(ImageKind.PERSON)).astype(str) if "kind" in df.columns \
        else pd.Series(str(ImageKind.PERSON), index=df.index)
    bad = sorted(set(kind) - {str(k) for k in ImageKind})
    if bad:
        raise ValueError(f"{path}: unknown kind(s) {bad}; use {[str(k) for k in ImageKind]}")
    df["kind"] = kind
    if "facing" not in df.columns and "yaw_deg" in df.columns:
        df["facing"] = [str(facing_from_yaw(y)) if pd.notna(y) else None for y in df["yaw_deg"]]
    if "facing" in df.columns:
        df["facing"] = [None if pd.isna(f) or f == "" else str(Facing(f)) for f in df["facing"]]
    if "framing" in df.columns:
        df["framing"] = [None if pd.isna(f) or f == "" else str(Framing(FRAMING_ALIASES.get(f, f)))
                         for f in df["framing"]]
    df["n_people"] = pd.to_numeric(df["n_people"], errors="coerce").fillna(1).astype(int) \
        if "n_people" in df.columns else np.where(df["kind"] == str(ImageKind.PERSON), 1, 0)
    return df


@dataclass
class ViewsReport:
    """Every figure of one evaluation; ``tables`` hold the per-class and confusion tables."""

    n_images: int
    seconds_per_image: float
    accuracy: dict = field(default_factory=dict)        # facing / framing / kind / person -> share right
    several_people: dict = field(default_factory=dict)  # precision, recall, n_true, n_flagged
    purity: list[dict] = field(default_factory=list)    # k, embedding, by facing, by framing
    tables: dict = field(default_factory=dict)           # name -> DataFrame (not in to_dict's JSON)
    per_image: pd.DataFrame | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tables"] = {k: v.reset_index().to_dict(orient="records") for k, v in self.tables.items()}
        d["per_image"] = None if self.per_image is None else self.per_image.to_dict(orient="records")
        return d


def _confusion(truth: Sequence, pred: Sequence, classes: Sequence[str]) -> pd.DataFrame:
    """Rows: true class; columns: predicted (plus "none" when nothing was predicted)."""
    cols = [*classes, "none"]
    m = pd.DataFrame(0, index=list(classes), columns=cols)
    for t, p in zip(truth, pred, strict=True):
        if t in m.index:
            m.loc[t, p if p in cols else "none"] += 1
    m.index.name = "true \\ predicted"
    return m


def _per_class(conf: pd.DataFrame) -> pd.DataFrame:
    n = conf.sum(axis=1)
    hit = pd.Series([conf.loc[c, c] for c in conf.index], index=conf.index)
    return pd.DataFrame({"n": n, "correct": hit, "accuracy": (hit / n.replace(0, np.nan)).round(3)})


def measure_views(paths: Sequence[str], options: PoseOptions | None = None, progress: ProgressFn | None = None,
                  data_dir=None) -> tuple[list[PoseRow], list[ImageView | None], tuple, float]:
    """Pose rows and views of image files, with the pose backend of ``options`` (the default
    BlazePose; ``data_dir`` holds imported weights); also its landmark names and the seconds
    per image of the whole extraction."""
    backend = create_backend(options or PoseOptions(), data_dir)
    tracker = ProgressTracker("views", len(paths), progress)
    try:
        names = tuple(backend.landmark_names)
        t0 = time.perf_counter()
        rows = []
        for p in paths:
            rows.append(estimate_file(backend, p, p))
            tracker.update()
        seconds = (time.perf_counter() - t0) / max(len(paths), 1)
    finally:
        backend.close()
    tracker.finish()
    return rows, [describe_image(r, names) for r in rows], names, seconds


def evaluate_views(labels: pd.DataFrame, options: PoseOptions | None = None, ks: Sequence[int] = PURITY_KS,
                   seed: int = 0, progress: ProgressFn | None = None, family: str | None = None,
                   data_dir=None) -> ViewsReport:
    """Run the pose backend and the view rules over the labelled images and score them."""
    rows, views, names, seconds = measure_views(labels["path"].tolist(), options, progress, data_dir)
    pred = pd.DataFrame({
        "file": labels["file"].to_numpy(),
        "kind": [None if v is None else str(v.kind) for v in views],
        "facing": [None if v is None or v.facing is None else str(v.facing) for v in views],
        "framing": [None if v is None or v.framing is None else str(v.framing) for v in views],
        "several_people": [v is not None and SEVERAL_PEOPLE in v.flags for v in views],
        "facing_confidence": [None if v is None else round(v.facing_confidence, 3) for v in views],
        "status": [str(r.status) for r in rows],
    })
    rep = ViewsReport(len(labels), seconds, per_image=pred)
    truth_person = (labels["kind"] == str(ImageKind.PERSON)).to_numpy()
    pred_person = (pred["kind"] == str(ImageKind.PERSON)).to_numpy()
    rep.accuracy["person_vs_not"] = round(float((truth_person == pred_person).mean()), 3) if len(labels) else None

    kinds = [str(k) for k in ImageKind]
    conf = _confusion(labels["kind"], pred["kind"], kinds)
    rep.tables["kind_confusion"] = conf
    non_human = ~truth_person
    if non_human.any():
        rep.accuracy["kind_without_person"] = round(float(
            (labels.loc[non_human, "kind"].to_numpy() == pred.loc[non_human, "kind"].to_numpy()).mean()), 3)
        rep.tables["kind_per_class"] = _per_class(conf.drop(index=str(ImageKind.PERSON)))
    for what, vocab in (("facing", [str(f) for f in Facing]), ("framing", [str(f) for f in Framing])):
        if what not in labels.columns:
            continue
        m = truth_person & labels[what].notna().to_numpy() & (labels["n_people"] <= 1).to_numpy()
        if not m.any():
            continue
        conf = _confusion(labels.loc[m, what], pred.loc[m, what], vocab)
        rep.tables[f"{what}_confusion"] = conf
        rep.tables[f"{what}_per_class"] = _per_class(conf)
        rep.accuracy[what] = round(float((labels.loc[m, what].to_numpy() == pred.loc[m, what].to_numpy()).mean()), 3)
        found = m & pred[what].notna().to_numpy()   # the pose model found the person
        rep.accuracy["pose_found"] = round(float(found.sum() / m.sum()), 3)
        if found.any():
            rep.accuracy[f"{what}_where_found"] = round(float(
                (labels.loc[found, what].to_numpy() == pred.loc[found, what].to_numpy()).mean()), 3)
        if what == "facing":   # front / side / back, the three a seller talks about
            coarse = {"front": "front", "back": "back"}
            t = [coarse.get(f, "side") for f in labels.loc[m, what]]
            p = [None if f is None else coarse.get(f, "side") for f in pred.loc[m, what]]
            rep.accuracy["facing_front_side_back"] = round(float(np.mean([a == b for a, b in zip(t, p)])), 3)

    several_true = (labels["n_people"] > 1).to_numpy()
    flagged = pred["several_people"].to_numpy(bool)
    tp = int((several_true & flagged).sum())
    rep.several_people = {"n_true": int(several_true.sum()), "n_flagged": int(flagged.sum()), "true_positives": tp,
                          "precision": round(tp / flagged.sum(), 3) if flagged.sum() else None,
                          "recall": round(tp / several_true.sum(), 3) if several_true.sum() else None}

    # K-Means purity over the single-person images the backend found, both embeddings
    use = [i for i, (r, v) in enumerate(zip(rows, views, strict=True))
           if r.is_person and v is not None and v.is_person and truth_person[i] and labels["n_people"].iloc[i] <= 1]
    if len(use) >= max(ks, default=0) and ("facing" in labels.columns or "framing" in labels.columns):
        base = family or ("coco17" if len(names) == 17 else "blazepose33")
        lms = np.stack([rows[i].landmarks for i in use])
        spaces = {"paper": embed(lms, base), "with views": embed(lms, base + "+view", [views[i] for i in use])}
        for k in ks:
            for name, X in spaces.items():
                w = kmeans_weights(base + "+view", X.shape[1]) if name == "with views" else None
                labels_k = PoseKMeans(k, seed=seed, feature_weights=w).fit(X).labels_
                row = {"k": k, "embedding": name, "dims": int(X.shape[1])}
                for what in ("facing", "framing"):
                    if what in labels.columns:
                        row[f"purity_{what}"] = round(purity(labels_k, labels[what].iloc[use].to_numpy()), 3)
                rep.purity.append(row)
    return rep
