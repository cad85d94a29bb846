"""The Suggester: a listing's missing poses (paper §3.3-3.4, Algorithm 2), with example images.

Each image is read once (``listing.read_listing``: its view, class and distances to every
centroid) and covers what ``coverage`` says (its own class, soft and view coverage, the mirror;
a copy or a flagged image nothing). What a seller is asked for is a pose *group*
(``groups.PoseGroups``: centroids that count as one pose, a mirror pair among them): the groups
expected in the product's cohort that the listing does not cover (:func:`.rule.missing_groups`),
each with a confidence, example photos from the cohort's top products closest to the pose's
centre and a hint a seller can act on. An empty answer always says why.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ..catalog.selection import popularity_sort
from ..config import SuggestConfig
from ..coverage import CONFIDENCE_PERCENTILE, completeness_score, typical_radii
from ..descriptions import describe_centroid, hint_key, seller_hint
from ..groups import PoseGroups, pose_groups
from ..images import content_hash
from ..listing import listing_notes, read_listing
from ..operating import current_settings, settings_for, source_text
from ..pose import PoseBackend, create_backend, require_version
from ..pose.extract import estimate_files
from ..rank import cohort_keys
from ..records import PoseRow, Reference, Status
from ..runs import Run
from ..store import Store
from ..views import ImageKind
from ..views.describe import caption
from .records import ImageAssignment, MissingPose, Suggestion
from .rule import group_label, missing_groups

REPORT_BATCH = 2000                    # products whose cached poses a report reads in one go


# -- the Suggester ---------------------------------------------------------------------------

class Suggester:
    """Holds a run plus the lookups suggestions need; build once, ask many times."""

    def __init__(self, store: Store, run: Run, n_references: int = 4, backend: PoseBackend | None = None,
                 config: SuggestConfig | None = None):
        self.store, self.run, self.n_references = store, run, n_references
        # no settings given: each product's cohort's operating point (operating.settings_for),
        # read per call, so a tuning or reset counts from the next suggestion
        self.explicit = config is not None
        self.config = config or SuggestConfig()
        self.config.validate()
        self._backend = backend
        self.products = store.products().set_index("product_id", drop=False)
        self.images = store.images()
        self.descriptions = store.descriptions(run.run_id)
        order = popularity_sort(self.products.reset_index(drop=True), run.config.selection.popularity_order)
        self._popularity = {p: i for i, p in enumerate(order["product_id"])}
        ref = run.reference.copy()
        ref = ref[ref["pose_class"] >= 0]
        if "pose_missed" in ref.columns:   # examples of a class without a person show no person
            ref = ref[~((ref["pose_class"] >= run.k) & ref["pose_missed"].fillna(False).astype(bool))]
        paths = self.images.drop_duplicates("content_hash").set_index("content_hash")["path"]
        ref["path"] = ref["content_hash"].map(paths)
        ref = ref[ref["path"].notna() & ref["product_id"].isin(self.products.index)]
        ref["pop"] = ref["product_id"].map(self._popularity)
        # cohort keys once per product (not a .loc lookup per reference image)
        keys = {p: set(cohort_keys(r)) for p, r in
                self.products.loc[ref["product_id"].unique()].to_dict("index").items()}
        ref["keys"] = [keys[p] for p in ref["product_id"]]
        self._titles = self.products["title"].to_dict()
        # closeness to the pose's centre in units of the cluster's typical radius (comparable
        # across a group's members); the no-person class has no centre: popularity decides
        pct = self.config.coverage_percentile if self.config.coverage_percentile > 0 else CONFIDENCE_PERCENTILE
        r2 = np.maximum(typical_radii(run, pct), 1e-9)
        cls = ref["pose_class"].to_numpy()
        ref["closeness"] = np.where(cls < run.k, ref["distance"].to_numpy(float) / r2[np.minimum(cls, run.k - 1)],
                                    0.0)
        self.reference = ref.sort_values(["pose_class", "closeness", "pop"], kind="stable")
        self._by_cohort: dict[str, list[tuple]] = {}

    # -- helpers --------------------------------------------------------------
    def describe(self, c: int) -> str:
        return describe_centroid(self.run, self.descriptions, c)

    def groups(self) -> PoseGroups:
        """Read each time: an analyst's merge, split or mark counts from the next suggestion."""
        return pose_groups(self.store, self.run)

    def backend(self) -> PoseBackend:
        if self._backend is None:
            self._backend = require_version(create_backend(self.run.config.pose_options(), self.store.data_dir),
                                            self.run.info.backend_version, f"run {self.run.run_id}")
        return self._backend

    def references(self, members, cohort_key: str, exclude: str | None = None) -> list[Reference]:
        """Example photos of a pose group: images of the cohort's top products assigned to one of
        its members (never to another group), closest to the pose's centre first, one per product."""
        members = {int(members)} if isinstance(members, (int, np.integer)) else {int(c) for c in members}
        out: list[Reference] = []
        seen: set[str] = set()
        for c, pid, path, h in self._cohort_rows(cohort_key):
            if c in members and pid != exclude and pid not in seen:
                seen.add(pid)
                out.append(Reference(pid, self._titles[pid], path, h))
                if len(out) >= self.n_references:
                    break
        return out

    def _cohort_rows(self, cohort_key: str) -> list[tuple]:
        """The cohort's reference images as (class, product, path, hash), closest to their pose's
        centre first, then most popular: computed once per cohort (a listing asks for several)."""
        rows = self._by_cohort.get(cohort_key)
        if rows is None:
            ref = self.reference[self.reference["keys"].map(lambda ks: cohort_key in ks)]
            ref = ref.sort_values(["closeness", "pop"], kind="stable")
            rows = list(zip(ref["pose_class"].astype(int).tolist(), ref["product_id"].tolist(), ref["path"].tolist(),
                            ref["content_hash"].tolist(), strict=True))
            self._by_cohort[cohort_key] = rows
        return rows

    def _poses_for(self, hashes: list[str], paths: list[str],
                   known: dict[str, PoseRow] | None = None) -> dict[str, PoseRow]:
        """Cached pose rows of the images (``known``: rows already read, e.g. by :func:`report`
        for all its products at once); images not in the cache yet are run through the backend."""
        ident = self.run.info.identity
        cached = self.store.poses(*ident, hashes) if known is None else {h: known[h] for h in hashes if h in known}
        todo = [(h, p) for h, p in zip(hashes, paths) if h not in cached]
        if todo:
            # decoded once, measured alongside the model (estimate_files); the rows as stored come
            # back from the write, no second query
            rows = estimate_files(self.backend(), list(dict(todo).items()))
            fresh = {r.content_hash: r for r in self.store.put_poses(*ident, rows, returning=True)}
            cached.update(fresh)
            if known is not None:   # another listing of the batch may show the same file
                known.update(fresh)
        return cached

    # -- the algorithm --------------------------------------------------------
    def _suggest(self, product: dict, hashes: list[str], paths: list[str], image_ids: list,
                 config: SuggestConfig | None = None, known: dict[str, PoseRow] | None = None,
                 groups: PoseGroups | None = None, hints: dict[str, str] | None = None,
                 tuned: dict | None = None) -> Suggestion:
        """``known``, ``groups``, ``hints``, ``tuned``: read once by :func:`report` for all its products
        (else read here: the store's pose rows, :meth:`groups`, ``Store.hints``, the cohorts'
        operating points)."""
        source = None
        if config is not None or self.explicit:
            cfg = config or self.config
        else:
            cfg, source = settings_for(product, current_settings(self.store) if tuned is None else tuned,
                                       self.config)
        cfg.validate()
        poses = self._poses_for(hashes, paths, known)
        lst = read_listing(self.run, [poses.get(h) for h in hashes])
        first_of = lst.first_of
        groups = self.groups() if groups is None else groups
        covers = lst.covers(self.run, cfg)
        assignments = []
        for i, p in enumerate(paths):
            pr = lst.poses[i] or PoseRow(hashes[i], Status.ERROR, error="no pose result")
            c = int(lst.classes[i]) if lst.classes[i] >= 0 else None
            v = lst.views[i]
            desc = self.describe(c) if c is not None else ""
            cap, differs = caption(v, desc)
            assignments.append(ImageAssignment(
                image=p, status=pr.status, pose_class=c, error=pr.error, image_id=image_ids[i],
                description=desc, caption=cap, disagreement=differs,
                distance=None if np.isnan(lst.nearest[i]) else float(lst.nearest[i]),
                group=groups.group_of(c) if c is not None else None,
                covers=sorted(groups.of_classes(covers[i])),
                view=None if v is None else v.to_dict(), flags=[] if v is None else list(v.flags),
                flag_text=[] if v is None else list(v.flag_text),
                duplicate_of=paths[first_of[i]] if i in first_of else None))
        present = sorted({a.pose_class for a in assignments if a.pose_class is not None})
        usable, distances, views, rows = lst.rule_input()
        m = missing_groups(self.run, product, usable, distances, groups, cfg, views)
        edited = self.store.hints() if hints is None else hints   # an analyst's, per group description

        def request(r: dict) -> MissingPose:
            label = group_label(groups, r["group"])
            own = edited.get(hint_key(label))
            return MissingPose(
                r["pose_class"], r["rank"], r["score"], r["support"], label,
                own or seller_hint(label, r["support"], m.cohort, m.n_products,
                                   kind=None if self.run.is_pose(r["pose_class"]) else
                                   (self.run.kind_of_class(r["pose_class"]) or ImageKind.OTHER),
                                   described=any(c in self.descriptions for c in r["members"])),
                self.references(r["members"], m.cohort, exclude=product.get("product_id")),
                group=r["group"], members=list(r["members"]), support_low=r["support_low"],
                support_high=r["support_high"], relative=r["relative"], closest=r["closest"],
                closest_image=paths[rows[r["closest_row"]]] if r["closest_row"] is not None else None,
                confidence=r["confidence"], importance=r["importance"], value=r["value"], why=r["why"],
                hint_edited=bool(own))

        missing, also = [request(r) for r in m.ranked], [request(r) for r in m.also]
        settings = cfg.to_dict() | {"min_share": cfg.min_share if cfg.min_share is not None
                                    else float(self.run.config.min_cohort_share),
                                    "source": "given" if config is not None or self.explicit else
                                    source_text(source)}
        return Suggestion(self.run.run_id, product.get("product_id"), product.get("title"), m.cohort,
                          m.cohort_level, assignments, present, missing, m.status, m.reason,
                          list(m.present), list(m.covered), list(m.expected), settings,
                          duplicates=[[paths[i] for i in g] for g in lst.duplicates],
                          notes=listing_notes(assignments, lst.duplicates),
                          completeness=completeness_score(m.expected, m.covered),
                          run_notes=[n for n in [self.run.view_rules_note] if n], also=also)

    def for_product(self, product_id: str, config: SuggestConfig | None = None) -> Suggestion:
        """A catalogue product's missing poses (``config`` overrides the Suggester's settings)."""
        if product_id not in self.products.index:
            raise KeyError(f"no product {product_id!r} in the catalogue")
        imgs = self.images[self.images["product_id"] == product_id]
        return self._suggest(self.products.loc[product_id].to_dict(), imgs["content_hash"].tolist(),
                             imgs["path"].tolist(), imgs["image_id"].tolist(), config)

    def for_products(self, product_ids: Sequence[str], config: SuggestConfig | None = None,
                     batch: int = REPORT_BATCH) -> Iterator[Suggestion]:
        """:meth:`for_product` of each product in turn, the same suggestions, but what that reads
        per product is read once: the products' images, the pose groups and the edited hints
        (a snapshot: a mark set meanwhile counts from the next call), and the cached poses once
        per ``batch`` products (so memory stays bounded). What :func:`report` runs."""
        product_ids = list(product_ids)
        unknown = [p for p in product_ids if p not in self.products.index]
        if unknown:
            raise KeyError(f"no product {unknown[0]!r} in the catalogue")
        wanted = list(dict.fromkeys(product_ids))
        imgs = self.images[self.images["product_id"].isin(set(wanted))]
        by_product = imgs.groupby("product_id", sort=False).indices
        hashes, paths, ids = (imgs[c].tolist() for c in ("content_hash", "path", "image_id"))
        products = self.products.loc[wanted].to_dict("index")
        groups, hints, tuned = self.groups(), self.store.hints(), current_settings(self.store)
        known: dict[str, PoseRow] = {}
        for n, pid in enumerate(product_ids):
            if n % batch == 0:
                rows = [i for p in product_ids[n:n + batch] for i in by_product.get(p, ())]
                known = self.store.poses(*self.run.info.identity, [hashes[i] for i in rows])
            at = by_product.get(pid, ())
            yield self._suggest(products[pid], [hashes[i] for i in at], [paths[i] for i in at],
                                [ids[i] for i in at], config, known=known, groups=groups, hints=hints,
                                tuned=tuned)

    def for_images(self, paths: list[str | Path], category: str | None = None,
                   subcategory: str | None = None, product_type: str | None = None,
                   config: SuggestConfig | None = None) -> Suggestion:
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
        s = self._suggest(product, hashes, good, [None] * len(good), config)
        s.images.extend(bad)
        return s

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


def suggest_for_product(store: Store, run: Run, product_id: str, n_references: int = 4,
                        config: SuggestConfig | None = None) -> Suggestion:
    s = Suggester(store, run, n_references, config=config)
    try:
        return s.for_product(product_id)
    finally:
        s.close()
