"""Missing poses for a product (paper §3.3-3.4, Algorithm 2), with reference images.

Each image goes to its nearest centroid (or the reserved no-person class); the
classes the cohort's popular products show but this product lacks are its missing
poses, best-ranked first, each with photos from the cohort's top products that show
it and a hint a seller can act on.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .catalog.selection import popularity_sort
from .descriptions import describe_centroid, seller_hint
from .images import content_hash
from .pose import PoseBackend, create_backend, require_version
from .pose.extract import estimate_file
from .progress import ProgressFn, ProgressTracker
from .rank import cohort_keys
from .records import PoseRow, Reference, Status
from .runs import Run
from .store import Store


@dataclass
class ImageAssignment:
    image: str
    status: Status
    pose_class: int | None
    description: str = ""
    distance: float | None = None
    error: str | None = None
    image_id: int | None = None


@dataclass
class MissingPose:
    pose_class: int
    rank: int
    score: float
    support: float
    description: str
    hint: str
    references: list[Reference] = field(default_factory=list)


@dataclass
class Suggestion:
    run_id: str
    product_id: str | None
    title: str | None
    cohort: str
    cohort_level: str
    images: list[ImageAssignment]
    present: list[int]
    missing: list[MissingPose]

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([{"rank": m.rank, "pose_class": m.pose_class, "description": m.description,
                              "support": round(m.support, 3), "score": round(m.score, 4),
                              "hint": m.hint, "references": " ".join(r.path for r in m.references)}
                             for m in self.missing])


@dataclass(frozen=True)
class MissingClasses:
    """The missing pose classes of a product: its cohort and the ranker's rows of the classes
    expected there that it does not cover, best first."""

    cohort: str                  # the ranker's table key, e.g. 'Clothing|T-shirts' or '*'
    cohort_level: str            # product_type / subcategory / category / global
    n_products: int              # top products behind the cohort's table
    ranked: list[dict]           # ``CentroidRanker.rank`` rows: pose_class, rank, score, support ...

    @property
    def classes(self) -> list[int]:
        return [r["pose_class"] for r in self.ranked]


def missing_classes(run: Run, product: dict | pd.Series, present) -> MissingClasses:
    """THE missing-pose rule (paper Algorithm 2) for a product showing classes ``present``:
    the classes expected in its cohort (``rank.ranked_classes``) that it does not cover (the
    present ones and, when the run treats mirrored poses as the same, their mirror partners:
    ``Run.covered``), in rank order. Suggestions, reports and the evaluation all call it."""
    ranking = run.ranker.rank(product, run.config.min_cohort_share)
    cohort, level = ranking[0]["cohort"], ranking[0]["cohort_level"]
    covered = run.covered(present)
    return MissingClasses(cohort, level, int(run.ranker.tables_[cohort]["n_products"]),
                          [r for r in ranking if r["expected"] and r["pose_class"] not in covered])


class Suggester:
    """Holds a run plus the lookups suggestions need; build once, ask many times."""

    def __init__(self, store: Store, run: Run, n_references: int = 4, backend: PoseBackend | None = None):
        self.store, self.run, self.n_references = store, run, n_references
        self._backend = backend
        self.products = store.products().set_index("product_id", drop=False)
        self.images = store.images()
        self.descriptions = store.descriptions(run.run_id)
        order = popularity_sort(self.products.reset_index(drop=True), run.config.selection.popularity_order)
        self._popularity = {p: i for i, p in enumerate(order["product_id"])}
        ref = run.reference.copy()
        ref = ref[ref["pose_class"] >= 0]
        paths = self.images.drop_duplicates("content_hash").set_index("content_hash")["path"]
        ref["path"] = ref["content_hash"].map(paths)
        ref = ref[ref["path"].notna() & ref["product_id"].isin(self.products.index)]
        ref["pop"] = ref["product_id"].map(self._popularity)
        ref["keys"] = ref["product_id"].map(lambda p: set(cohort_keys(self.products.loc[p])))
        self.reference = ref.sort_values(["pose_class", "pop", "distance"], kind="stable")

    # -- helpers --------------------------------------------------------------
    def describe(self, c: int) -> str:
        return describe_centroid(self.run, self.descriptions, c)

    def backend(self) -> PoseBackend:
        if self._backend is None:
            self._backend = require_version(create_backend(self.run.config.pose_options(), self.store.data_dir),
                                            self.run.info.backend_version, f"run {self.run.run_id}")
        return self._backend

    def references(self, c: int, cohort_key: str, exclude: str | None = None) -> list[Reference]:
        rows = self.reference[(self.reference["pose_class"] == c)
                              & self.reference["keys"].map(lambda ks: cohort_key in ks)]
        if exclude is not None:
            rows = rows[rows["product_id"] != exclude]
        rows = rows.drop_duplicates("product_id").head(self.n_references)
        return [Reference(r.product_id, self.products.at[r.product_id, "title"], r.path, r.content_hash)
                for r in rows.itertuples()]

    def _poses_for(self, hashes: list[str], paths: list[str]) -> dict[str, PoseRow]:
        ident = self.run.info.identity
        cached = self.store.poses(*ident, hashes)
        todo = [(h, p) for h, p in zip(hashes, paths) if h not in cached]
        if todo:
            rows = [estimate_file(self.backend(), h, p) for h, p in dict(todo).items()]
            self.store.put_poses(*ident, rows)
            cached.update(self.store.poses(*ident, [h for h, _ in todo]))
        return cached

    # -- the algorithm --------------------------------------------------------
    def _suggest(self, product: dict, hashes: list[str], paths: list[str], image_ids: list) -> Suggestion:
        poses = self._poses_for(hashes, paths)
        results = [poses.get(h) for h in hashes]
        classes, dists = self.run.classify(results)
        assignments = []
        for i, p in enumerate(paths):
            pr = results[i] or PoseRow(hashes[i], Status.ERROR, error="no pose result")
            c = int(classes[i]) if classes[i] >= 0 else None
            assignments.append(ImageAssignment(
                image=p, status=pr.status, pose_class=c, error=pr.error, image_id=image_ids[i],
                description=self.describe(c) if c is not None else "",
                distance=None if np.isnan(dists[i]) else float(dists[i])))
        present = sorted({a.pose_class for a in assignments if a.pose_class is not None})
        m = missing_classes(self.run, product, present)
        missing = []
        for i, r in enumerate(m.ranked, 1):
            c = r["pose_class"]
            desc = self.describe(c)
            missing.append(MissingPose(c, i, r["score"], r["support"], desc,
                                       seller_hint(desc, r["support"], m.cohort, m.n_products),
                                       self.references(c, m.cohort, exclude=product.get("product_id"))))
        return Suggestion(self.run.run_id, product.get("product_id"), product.get("title"), m.cohort,
                          m.cohort_level, assignments, present, missing)

    def for_product(self, product_id: str) -> Suggestion:
        if product_id not in self.products.index:
            raise KeyError(f"no product {product_id!r} in the catalogue")
        imgs = self.images[self.images["product_id"] == product_id]
        return self._suggest(self.products.loc[product_id].to_dict(), imgs["content_hash"].tolist(),
                             imgs["path"].tolist(), imgs["image_id"].tolist())

    def for_images(self, paths: list[str | Path], category: str | None = None,
                   subcategory: str | None = None, product_type: str | None = None) -> Suggestion:
        """Ad-hoc images (e.g. a seller's upload) for a cohort given by name."""
        hashes, good = [], []
        bad = []
        for p in map(str, paths):
            try:
                hashes.append(content_hash(p))
                good.append(p)
            except OSError as exc:
                bad.append(ImageAssignment(p, Status.ERROR, None, error=f"cannot read: {exc.strerror or exc}"))
        product = {"product_id": None, "title": None, "category": category, "subcategory": subcategory,
                   "product_type": product_type}
        s = self._suggest(product, hashes, good, [None] * len(good))
        s.images.extend(bad)
        return s

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


def suggest_for_product(store: Store, run: Run, product_id: str, n_references: int = 4) -> Suggestion:
    s = Suggester(store, run, n_references)
    try:
        return s.for_product(product_id)
    finally:
        s.close()


def report(store: Store, run: Run, product_ids: list[str] | None = None,
           progress: ProgressFn | None = None) -> pd.DataFrame:
    """Every subject product (or the given ones) with its ranked missing poses."""
    from .catalog.selection import select_sets

    s = Suggester(store, run, n_references=1)
    if product_ids is None:
        product_ids = select_sets(s.products.reset_index(drop=True), s.images,
                                  run.config.selection).subject_ids
    tracker = ProgressTracker("report", len(product_ids), progress)
    rows = []
    try:
        for pid in product_ids:
            sug = s.for_product(pid)
            tracker.update()
            rows.append({
                "product_id": pid, "title": sug.title,
                "category": s.products.at[pid, "category"], "subcategory": s.products.at[pid, "subcategory"],
                "product_type": s.products.at[pid, "product_type"], "cohort": sug.cohort,
                "cohort_level": sug.cohort_level, "n_images": len(sug.images),
                "n_failed_images": sum(a.status == Status.ERROR for a in sug.images),
                "present_poses": " ".join(map(str, sug.present)), "n_missing": len(sug.missing),
                "top_missing": sug.missing[0].description if sug.missing else "",
                "missing_poses": "; ".join(f"{m.pose_class}: {m.description}" for m in sug.missing),
                "missing_classes": " ".join(str(m.pose_class) for m in sug.missing),
            })
    finally:
        s.close()
    tracker.finish()
    return pd.DataFrame(rows)
