"""The catalogue's view reader: its view labels (the store's one label table) plus the labelled
render set (``assets/views/labels.csv``) -> a :class:`views.reader.ViewReader`, saved under
``<data dir>/view_readers/<id>/``, registered and made the one that reads.

Also where labels enter the table from a catalogue's own words (:func:`labels_from_catalogue`:
its ``pose_label`` / ``view`` / ``shot`` columns, and file-name words where it opts in), from
people (:func:`label_views`), and what :func:`reader_status` reports.
"""
from __future__ import annotations

import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .catalog.demo import ASSETS_DIR
from .config import PoseOptions
from .identity import Action, Actor, performing
from .images import content_hash
from .pose import backend_identity, create_backend
from .pose.extract import estimate_file, extract_poses
from .progress import ProgressFn, ProgressTracker
from .records import PoseRow
from .runs import view_reader_of
from .store import Store
from .views import Facing, ImageKind, facing_from_yaw
from .views.labels import LabelSource, ViewLabel
from .views.reader import ReaderOptions, ReaderResult, fit_reader

RENDER_LABELS = ASSETS_DIR / "views" / "labels.csv"
READERS_DIR = "view_readers"


@dataclass
class RenderSet:
    """The labelled render set's single-person images with their cached pose rows."""

    frame: pd.DataFrame                       # labels.csv rows (+ path, content_hash)
    rows: list[PoseRow | None] = field(default_factory=list)
    labels: list[ViewLabel] = field(default_factory=list)


def render_set(store: Store, backend: str = "blazepose", progress: ProgressFn | None = None,
               labels_csv: str | Path = RENDER_LABELS) -> RenderSet:
    """The render set's single-person photos, their labels and pose rows; rows missing from the
    data dir's pose cache are computed once and cached there (by content hash, like any image)."""
    labels_csv = Path(labels_csv)
    df = pd.read_csv(labels_csv, dtype={"file": str})
    df = df[(df["kind"].fillna("person") == str(ImageKind.PERSON))
            & (pd.to_numeric(df.get("n_people", 1), errors="coerce").fillna(1) == 1)].reset_index(drop=True)
    df["path"] = [str((labels_csv.parent / f).resolve()) for f in df["file"]]
    df["content_hash"] = [content_hash(p) for p in df["path"]]
    if "facing" not in df.columns:
        df["facing"] = [str(facing_from_yaw(y)) for y in df["yaw_deg"]]
    bid, version = backend_identity(backend, store.data_dir)
    cached = store.poses(bid, version, df["content_hash"])
    todo = [(h, p) for h, p in zip(df["content_hash"], df["path"], strict=True) if h not in cached]
    if todo:
        b = create_backend(PoseOptions(backend=backend), store.data_dir)
        tracker = ProgressTracker("render set", len(todo), progress)
        try:
            new = []
            for h, p in todo:
                new.append(estimate_file(b, h, p))
                tracker.update()
            cached.update({r.content_hash: r for r in store.put_poses(bid, version, new, returning=True)})
        finally:
            b.close()
            tracker.finish()
    labels = [ViewLabel(h, str(Facing(f)) if isinstance(f, str) and f else None,
                        fr if isinstance(fr, str) and fr else None, str(ImageKind.PERSON), source=LabelSource.ANALYST,
                        user="render set")
              for h, f, fr in zip(df["content_hash"], df["facing"], df["framing"], strict=True)]
    return RenderSet(df, [cached.get(h) for h in df["content_hash"]], labels)


def acting_user(user: str | None = None) -> str | None:
    """Who labels: the given name, else the OS user (None where there is no login name)."""
    if user is not None:
        return user
    import getpass

    try:
        return getpass.getuser()
    except Exception:   # no login name (some containers): the label keeps no user
        return None


def label_views(store: Store, hashes: Iterable[str], facing: str | None = None, framing: str | None = None,
                kind: str | None = None, no_pose: bool = False, source: LabelSource | str = LabelSource.ANALYST,
                user: str | None = None, note: str | None = None,
                by: Actor | str | None = None) -> list[ViewLabel]:
    """Append a person's label for each image (by content hash): the parts not given are kept
    from the image's label in force (a facing correction keeps the framing). ``by`` (an
    :class:`~.identity.Actor`, a reviewer at least) is checked first and is the label's user."""
    hashes = list(dict.fromkeys(str(h) for h in hashes))
    if not hashes:
        raise ValueError("no images to label")
    with performing(store, by, Action.LABEL_VIEWS, f"view labels of {len(hashes)} image(s)",
                    {"facing": facing, "framing": framing, "kind": kind, "no_pose": no_pose}) as actor:
        return _label_views(store, hashes, facing, framing, kind, no_pose, source,
                            actor.name if isinstance(by, Actor) else user, note)


def _label_views(store: Store, hashes: list[str], facing, framing, kind, no_pose, source, user,
                 note) -> list[ViewLabel]:
    current = store.view_labels(hashes)
    out = []
    for h in hashes:
        lab = ViewLabel(h, facing, framing, kind, no_pose, LabelSource(source), user, note=note)
        if lab.empty:
            raise ValueError("a label needs facing, framing, kind or no_pose")
        out.append(lab.merged_over(current.get(h)))
    return store.add_view_labels(out)


def catalogue_label_frame(store: Store) -> pd.DataFrame:
    """The catalogue's images with the label in force on each (NaN where none)."""
    images = store.images()
    cur = store.view_labels(images["content_hash"])
    for col in ("facing", "framing", "kind", "no_pose", "source", "user", "created_at"):
        images[f"label_{col}"] = [getattr(cur[h], col) if h in cur else None for h in images["content_hash"]]
    return images


def train_view_reader(store: Store, options: ReaderOptions | None = None, backend: str = "blazepose",
                      hashes: Iterable[str] | None = None, activate: bool = True, save: bool = True,
                      progress: ProgressFn | None = None) -> ReaderResult:
    """Train the catalogue's view reader from the labels in force (only those of ``hashes``
    when given) plus the render set, cross-validated against the rules on the catalogue's
    labels (see :func:`views.reader.fit_reader`); saved, registered and made active. Without a
    label on an image with a pose nothing is saved and the rules keep reading."""
    bid, version = backend_identity(backend, store.data_dir)
    if len(store.missing_poses(bid, version)):
        extract_poses(store, PoseOptions(backend=backend), progress=progress)
    rs = render_set(store, backend, progress)
    render_hashes = set(rs.frame["content_hash"])
    cur = store.view_labels(hashes)
    if hashes is not None:
        wanted = set(hashes)
        cur = {h: lab for h, lab in cur.items() if h in wanted}
    cur = {h: lab for h, lab in cur.items() if h not in render_hashes}
    rows = store.poses(bid, version, list(cur))
    cat_rows = [rows.get(h) for h in cur]
    names = _landmark_names(backend, store)
    options = options or ReaderOptions(landmark_names=names)
    if not options.landmark_names:
        options.landmark_names = names
    t0 = time.perf_counter()
    result = fit_reader(list(rs.rows), rs.labels, cat_rows, list(cur.values()), options)
    result.held_out["seconds"] = round(time.perf_counter() - t0, 1)
    if result.reader is not None and save:
        folder = Path(store.data_dir) / READERS_DIR / result.reader.id_
        if folder.exists():
            shutil.rmtree(folder)
        result.reader.save(folder)
        store.add_view_reader(result.reader.id_, folder, result.to_dict() | {"backend": bid}, activate=activate)
    return result


def _landmark_names(backend: str, store: Store) -> tuple[str, ...]:
    b = create_backend(PoseOptions(backend=backend), store.data_dir)
    try:
        return tuple(b.landmark_names)
    finally:
        b.close()


def reader_status(store: Store) -> dict:
    """Which reader reads (or the rules), how many labels it learned from, its held-out
    accuracy per facing and framing against the rules', and the label table's size."""
    rec = store.active_view_reader()
    from collections import Counter

    by_source = Counter(str(lab.source) for lab in store.view_labels().values())
    out = {"reader": None, "reading": "rules", "n_labelled_images": store.n_view_labels(),
           "by_source": dict(sorted(by_source.items())),
           "readers": [r.reader_id for r in store.view_readers()]}
    if rec is None:
        return out
    reader = view_reader_of(store)
    s = rec.summary
    out.update(reader=rec.reader_id, created_at=rec.created_at,
               n_render_labels=s.get("n_render_labels"), n_catalogue_labels=s.get("n_catalogue_labels"),
               held_out=s.get("held_out"), used=s.get("used"), reason=s.get("reason"),
               reading=("reader for " + " and ".join(h for h in ("facing", "framing")
                                                     if getattr(reader, f"use_{h}_", False))
                        if reader is not None and (reader.use_facing_ or reader.use_framing_)
                        else "rules (the reader reads only the images it learned from)"))
    return out
