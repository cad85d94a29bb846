"""Read-only tables the app shows: catalogue counts, image status, centroids, cohort ranks.

Plain pandas over the store and a run, no Streamlit, so pages only lay them out.
"""
from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from .catalog.selection import select_sets
from .config import SelectionConfig, SuggestConfig
from .descriptions import describe_centroid
from .rank import cohort_name
from .records import Status
from .runs import Run
from .store import Store

PENDING = Status.PENDING   # the old name, for callers that import it from here


def catalogue_version(store: Store) -> str:
    """Changes whenever the catalogue is replaced (cache key for tables)."""
    return f"{store.get_meta('catalogue_imported_at', '0')}|{store.get_meta('catalogue_source', '')}"


def pose_cache_version(store: Store) -> str:
    return store.pose_cache_version()


def descriptions_version(store: Store, run_id: str) -> int:
    """Grows whenever a label of the run changes (descriptions, pose-group marks, unplaced ones):
    suggestions name and group poses by them, so caches of suggesters key on it."""
    return store.labels_version(run_id)


def pose_backend_of(store: Store, run: Run | None = None) -> tuple[str, str] | None:
    """(backend, version) whose poses to show: the run's, else the most used in the cache."""
    if run is not None:
        return run.info.identity
    return store.most_used_backend()


def image_status(store: Store, backend: str | None, version: str | None) -> pd.DataFrame:
    """One row per catalogue image with its pose status (person / no_person / error / pending)."""
    return store.image_status(backend, version)


_KEPT: dict[tuple, object] = {}   # the last results of the counts below, by what they depend on
_KEPT_MAX = 16
_KEPT_LOCK = threading.Lock()


def _kept(store: Store, what: str, args: tuple, compute):
    """``compute()`` once per (data dir, catalogue version, pose cache version, what, args): the
    Home and Catalogue pages ask on every run of the script, and at 1M images counting takes
    seconds while the two versions are cheap reads."""
    key = (str(store.path), catalogue_version(store), pose_cache_version(store), what, args)
    with _KEPT_LOCK:
        if key in _KEPT:
            return _KEPT[key]
    value = compute()
    with _KEPT_LOCK:
        while len(_KEPT) >= _KEPT_MAX:
            _KEPT.pop(next(iter(_KEPT)))
        _KEPT[key] = value
    return value


def catalogue_summary(store: Store, selection: SelectionConfig | None = None,
                      backend: str | None = None, version: str | None = None) -> dict:
    """Counts of the catalogue (products, images, reference and subject products, images per pose
    status under one backend). Counted in SQL (no per-image table is read) and kept until the
    catalogue or the pose cache changes (:func:`_kept`)."""
    selection = selection or SelectionConfig()
    out = _kept(store, "summary", (repr(selection), backend, version),
                lambda: _count_catalogue(store, selection, backend, version))
    return out | {"reference_ids": list(out["reference_ids"]), "subject_ids": list(out["subject_ids"])}


def _count_catalogue(store: Store, selection: SelectionConfig, backend: str | None, version: str | None) -> dict:
    products = store.products()
    per_product = store.image_counts()
    n_images = sum(per_product.values())
    # select_sets counts images per product: one product_id row per image is all it reads
    images = pd.DataFrame({"product_id": np.repeat(np.array(list(per_product), dtype=object),
                                                   np.fromiter(per_product.values(), int, len(per_product)))})
    counts = store.pose_counts(backend or "", version or "")
    counts[Status.PENDING] = n_images - sum(counts.values())
    sel = select_sets(products, images, selection) if len(products) else None
    problems = store.import_problems()
    return {
        "products": len(products), "images": n_images,
        "reference": len(sel.reference_ids) if sel else 0, "subject": len(sel.subject_ids) if sel else 0,
        "person": int(counts.get(Status.PERSON, 0)), "no_person": int(counts.get(Status.NO_PERSON, 0)),
        "failed": int(counts.get(Status.ERROR, 0)), "pending": int(counts.get(Status.PENDING, 0)),
        "import_problems": len(problems),
        "source": store.get_meta("catalogue_source"),
        "reference_ids": sel.reference_ids if sel else [], "subject_ids": sel.subject_ids if sel else [],
    }


def failed_images(store: Store, backend: str | None, version: str | None) -> pd.DataFrame:
    """The images the pose model could not read (product_id, rel_path, error), selected in SQL and
    kept until the catalogue or the pose cache changes (:func:`_kept`)."""
    def compute() -> pd.DataFrame:
        st = store.image_status(backend, version, status=Status.ERROR)
        return st[["product_id", "rel_path", "error"]].reset_index(drop=True)

    return _kept(store, "failed", (backend, version), compute).copy()


def failure_reasons(failed: pd.DataFrame, problems: pd.DataFrame) -> pd.DataFrame:
    """Counts per reason: pose extraction errors and rows the import rejected."""
    rows = []
    if len(failed):
        reason = failed["error"].fillna("unknown").str.replace(r"^(.{0,80}).*$", r"\1", regex=True)
        for r, n in reason.value_counts().items():
            rows.append({"where": "pose extraction", "reason": r, "images": int(n)})
    if len(problems):
        bad = problems[~problems["kind"].isin(["unknown_column", "missing_column"])]
        for r, n in bad["kind"].value_counts().items():
            rows.append({"where": "import", "reason": r, "images": int(n)})
    return pd.DataFrame(rows, columns=["where", "reason", "images"])


def poses_for_hashes(store: Store, backend: str, version: str, hashes) -> dict[str, np.ndarray]:
    """content_hash -> (n, 4) landmarks for the given hashes only (person rows)."""
    poses = store.poses(backend, version, [h for h in hashes if h])
    return {h: p.landmarks for h, p in poses.items() if p.is_person}


def paths_for_hashes(store: Store, hashes) -> dict[str, str]:
    """content_hash -> a catalogue path holding that content (absent when no longer in the catalogue)."""
    return store.image_paths(hashes)


def cohort_ranks(run: Run, store: Store | None = None, config: SuggestConfig | None = None) -> pd.DataFrame:
    """Every (cohort, pose class): the rank of its pose group in that cohort, the group's score and
    support, whether the group is expected and why, exactly as suggestions rank and expect them
    (``suggestions.rank_cohort``: pose groups, the analyst's marks read from ``store``, the
    ``config``'s expectation and score rule; without a store, the automatic groups and no marks).
    The members of one group share its row values; an excluded group is never expected."""
    from .groups import pose_groups
    from .suggestions import default_groups, rank_cohort

    config = config or SuggestConfig()
    groups = pose_groups(store, run) if store is not None else default_groups(run)
    rows = []
    for key, t in run.ranker.tables_.items():
        for r in rank_cohort(run, key, groups, config):
            for c in r["members"]:
                rows.append({"cohort": cohort_name(key), "cohort_key": key,
                             "level": t["level"], "n_products": t["n_products"], "pose_class": c,
                             "group": r["group"], "rank": r["rank"], "score": r["score"], "support": r["support"],
                             "expected": r["expected"], "excluded": r["excluded"], "desirable": r["desirable"],
                             "why": r["why"]})
    df = pd.DataFrame(rows)
    level_order = {"global": 0, "category": 1, "subcategory": 2, "product_type": 3}
    return df.sort_values(["level", "cohort", "rank"], key=lambda s: s.map(level_order) if s.name == "level"
                          else s, kind="stable").reset_index(drop=True)


def centroid_table(store: Store, run: Run) -> pd.DataFrame:
    """One row per class (poses 0..K-1, then no-person): size, products, descriptions, status.

    ``description`` is the human one ("" when none), ``shown`` what the class is called
    (``describe_centroid``: the human description, else the automatic one in brackets)."""
    desc = store.descriptions(run.run_id)
    rows = []
    for c in run.centroids:
        d = desc.get(c.id)
        rows.append({"centroid": c.id, "kind": str(c.kind), "images": c.size, "products": c.n_products,
                     "auto_description": c.auto_description,
                     "description": d.text if d else "",
                     "shown": describe_centroid(run, desc, c.id, mark_auto=True),
                     "status": (str(d.status) if d else "auto"), "source": (d.source if d else None) or ""})
    return pd.DataFrame(rows)


def rank_matrix(run: Run, level: str = "subcategory", store: Store | None = None) -> pd.DataFrame:
    """Centroid x cohort table of its pose group's ranks at one cohort level (falls back to coarser
    levels), as :func:`cohort_ranks` ranks them."""
    ranks = cohort_ranks(run, store)
    for lvl in (level, "category", "global"):
        sub = ranks[ranks["level"] == lvl]
        if len(sub):
            break
    m = sub.pivot(index="pose_class", columns="cohort", values="rank")
    m.index.name = "centroid"
    return m


def unplaced_descriptions(store: Store, run_id: str) -> pd.DataFrame:
    """Human descriptions from an earlier run that found no centroid here, with where they came from.

    ``state`` is 'open' until a person places ('placed', on centroid ``placed_on``) or dismisses
    ('dismissed') it; open ones are carried to every later run.
    """
    return store.unplaced_descriptions(run_id)


def centroid_views(run: Run, c: int, top: int = 3) -> str:
    """What a pose class's reference images show, most common first: "back, full length 80% ·
    profile right, full length 15%" (from the views stored with the run; "" for older runs)."""
    from .coverage import class_view_shares

    return " · ".join(f"{v} {s:.0%}" for v, s in class_view_shares(run).get(int(c), [])[:top])


def most_typical(run: Run, c: int, n: int = 12) -> pd.DataFrame:
    """The ``n`` reference rows of class ``c`` most typical of it: nearest the centroid first, one
    image per product first (then the next nearest of products already shown, when the class has
    fewer than ``n`` products). Rows of ``run.reference`` (product_id, content_hash, distance, ...)."""
    ref = run.reference
    members = ref[ref["pose_class"] == c].sort_values("distance", na_position="last", kind="stable")
    sample = members.drop_duplicates("product_id").head(n)
    if len(sample) < n:
        sample = pd.concat([sample, members[~members.index.isin(sample.index)].head(n - len(sample))])
    return sample


def image_views_table(sug) -> pd.DataFrame:
    """One row per listing image of a Suggestion: what it shows (kind, facing, framing), how sure,
    its flags, and the photo it repeats."""
    from pathlib import Path

    rows = []
    for i, a in enumerate(sug.images, 1):
        v = a.view or {}
        person = v.get("kind") == "person"
        conf = min(v.get("facing_confidence", 0.0), v.get("framing_confidence", 0.0)) if person \
            else v.get("kind_confidence")
        rows.append({"#": i, "image": Path(a.image).name, "shows": v.get("label", a.status),
                     "kind": v.get("kind"), "facing": v.get("facing"), "framing": v.get("framing"),
                     "confidence": None if conf is None else round(float(conf), 2),
                     "flags": ", ".join(a.flags), "same photo as": Path(a.duplicate_of).name if a.duplicate_of else ""})
    return pd.DataFrame(rows, columns=["#", "image", "shows", "kind", "facing", "framing", "confidence", "flags",
                                       "same photo as"])


def _readings(store: Store, run: Run, reader) -> pd.DataFrame:
    from .views.describe import describe_images

    images = store.images().drop_duplicates("content_hash")
    hashes = images["content_hash"].tolist()
    bid, version = run.info.identity
    poses = store.poses(bid, version, hashes)
    seen = describe_images([poses.get(h) for h in hashes], tuple(run.info.landmark_names), reader)
    rows = [{"content_hash": h, "product_id": pid, "facing": str(v.facing), "facing_confidence": v.facing_confidence,
             "framing": str(v.framing), "framing_confidence": v.framing_confidence,
             "sureness": min(v.facing_confidence, v.framing_confidence)}
            for h, pid, v in zip(hashes, images["product_id"], seen, strict=True)
            if v is not None and v.is_person and v.facing is not None and v.framing is not None]
    return pd.DataFrame(rows, columns=["content_hash", "product_id", "facing", "facing_confidence", "framing",
                                       "framing_confidence", "sureness"])


def label_queue(store: Store, run: Run) -> pd.DataFrame:
    """The labelling queue: the catalogue's images with a person, the least sure first (the lower
    of the facing and framing confidence of their reading, by the data dir's view reader when
    one reads, else the rules); the images with a label in force go last. One row per image:
    content_hash, product_id, facing, facing_confidence, framing, framing_confidence, sureness,
    label (the label in force, in words, or None), labelled. The readings are computed once per
    run, reader, catalogue and pose cache; the labels are read afresh."""
    from .runs import view_reader_of

    reader = view_reader_of(store)
    df = _kept(store, "label_queue", (run.run_id, None if reader is None else reader.id_),
               lambda: _readings(store, run, reader)).copy()
    labels = store.view_labels(df["content_hash"].tolist())
    df["label"] = [labels[h].text if h in labels else None for h in df["content_hash"]]
    df["labelled"] = df["label"].notna()
    return df.sort_values(["labelled", "sureness", "content_hash"], kind="stable").reset_index(drop=True)
