"""A listing read once: its pose rows -> views -> classes -> distances, its copies and flags.

:func:`read_listing` is the one way from a listing's cached pose rows to what the missing-pose
rule needs; the ``Suggester`` (one listing) and the evaluation (every listing at once, then one
kept subset per trial: :meth:`Listing.subset`) both call it.

Which images take part in coverage (:attr:`Listing.usable`): every image with a pose result
that is not a copy of an earlier photo of the listing (:func:`listing_duplicates`): a copy shows
nothing new. A photo the view rules flag (several people, low resolution, blurred) still covers
its pose: the seller is told about the flag (:func:`listing_notes`), and its pose is not asked for
again (asking again cost the demo evaluation 0.07 precision: README, "Choices"). What a usable
image covers is ``coverage``'s rule.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import SuggestConfig
from .coverage import centroid_distances, covered_classes, image_covers
from .records import PoseRow
from .runs import Run
from .views.duplicates import duplicate_groups, duplicate_hash


def listing_duplicates(poses: list[PoseRow | None]) -> list[list[int]]:
    """Groups of a listing's images that are the same photo, in listing order: the same file
    twice (same content hash), or near-identical perceptual hashes
    (:func:`views.duplicates.duplicate_groups`: re-encoded, resized, slightly cropped or
    colour-shifted copies). Only the first image of a group covers poses."""
    hashes = [None if p is None else duplicate_hash((p.signals or {}).get("image") or {}) for p in poses]
    sets = [set(g) for g in duplicate_groups(hashes)]
    by_content: dict[str, set[int]] = {}
    for i, p in enumerate(poses):
        if p is not None:
            by_content.setdefault(p.content_hash, set()).add(i)
    sets += [g for g in by_content.values() if len(g) > 1]
    out: list[set[int]] = []
    for g in sets:   # join groups that share an image
        for o in [o for o in out if o & g]:
            g = g | o
            out.remove(o)
        out.append(g)
    return sorted((sorted(g) for g in out), key=lambda g: g[0])


def listing_notes(images, duplicates: list[list[int]]) -> list[str]:
    """What a seller should know about the photos they have: copies, and flagged images
    (``images``: objects with ``flag_text``, e.g. ``ImageAssignment``)."""
    notes = []
    n_same = sum(len(g) for g in duplicates)
    if duplicates:
        notes.append(f"{n_same} of your {len(images)} images are "
                     + ("the same photo" if len(duplicates) == 1 else f"{len(duplicates)} repeated photos")
                     + ": a copy shows nothing new.")
    for i, a in enumerate(images, 1):
        for text in a.flag_text:
            notes.append(f"Image {i}: {text}.")
    return notes


@dataclass
class Listing:
    """A listing's images as the rule sees them, one entry per image in listing order."""

    poses: list[PoseRow | None]   # cached pose rows (None: no result)
    views: list                   # views.ImageView | None per image
    classes: np.ndarray           # Run.classify: nearest centroid, the class of its kind, or -1
    nearest: np.ndarray           # squared distance to its own centroid (NaN without a person)
    distances: np.ndarray         # (n, K) squared distances to every centroid (NaN rows without a person)
    duplicates: list[list[int]]   # listing_duplicates: groups of copies, first one kept

    def __len__(self) -> int:
        return len(self.poses)

    @property
    def first_of(self) -> dict[int, int]:
        """Image -> the earlier image it is a copy of."""
        return {i: g[0] for g in self.duplicates for i in g[1:]}

    @property
    def usable(self) -> np.ndarray:
        """Per image: does it take part in coverage (a pose result, not a copy)?"""
        copies = self.first_of
        return np.array([p is not None and i not in copies for i, p in enumerate(self.poses)], dtype=bool)

    @property
    def person(self) -> np.ndarray:
        """Per image: does it show a person (a row of distances)?"""
        return np.isfinite(self.distances).all(axis=1) if len(self) else np.zeros(0, bool)

    def subset(self, idx) -> Listing:
        """The listing of the images ``idx`` only (a trial's kept photos): copies found again
        among them."""
        idx = [int(i) for i in idx]
        poses = [self.poses[i] for i in idx]
        return Listing(poses, [self.views[i] for i in idx], self.classes[idx], self.nearest[idx],
                       self.distances[idx], listing_duplicates(poses))

    def rule_input(self) -> tuple[set[int], np.ndarray, list, list[int]]:
        """What the missing-pose rule reads of the usable images: (their classes, the distance rows
        of those showing a person, their views, those person images' indices in the listing)."""
        ok = self.usable
        rows = np.flatnonzero(ok & self.person).tolist()
        present = {int(c) for c in self.classes[ok] if c >= 0}
        return present, self.distances[rows], [v for v, u in zip(self.views, ok) if u], rows

    def covered(self, run: Run, config: SuggestConfig) -> set[int]:
        """The classes the listing covers: :func:`coverage.covered_classes` of its usable images."""
        present, d, views, _ = self.rule_input()
        return covered_classes(run, present, d, config, views)

    def covers(self, run: Run, config: SuggestConfig) -> list[set[int]]:
        """Per image, the classes it covers (:func:`coverage.image_covers`; nothing for an image
        that is not usable). Their union is :meth:`covered`."""
        ok = self.usable
        return [image_covers(run, int(c) if c >= 0 else None,
                             self.distances[i] if np.isfinite(self.distances[i]).all() else None,
                             self.views[i], config) if ok[i] else set()
                for i, c in enumerate(self.classes)]


def read_listing(run: Run, poses: list[PoseRow | None], views: list | None = None,
                 find_copies: bool = True) -> Listing:
    """A listing's pose rows -> views (``Run.describe``) -> classes (``Run.classify``) ->
    distances to every centroid (:func:`coverage.centroid_distances`), the embedding computed
    once for both, and its copies. ``views``: the rows' views when the caller has them;
    ``find_copies=False`` for the rows of many listings at once (the evaluation), whose copies
    are found per listing by :meth:`Listing.subset`."""
    views = run.describe(poses) if views is None else views
    space = run.person_space(poses, views)
    classes, nearest = run.classify(poses, views, space)
    distances = centroid_distances(run, poses, views, space)
    return Listing(list(poses), list(views), np.asarray(classes), np.asarray(nearest), distances,
                   listing_duplicates(poses) if find_copies else [])
