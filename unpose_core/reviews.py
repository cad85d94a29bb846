"""Reviews per pose group: a reviewer's word on each suggested group of a listing, submitted at once.

A review (``records.Review``) holds one :class:`~unpose_core.records.GroupVerdict` per pose
group the reviewer judged: *confirm* (the listing lacks it), *reject*, *not sure*, *I already have
this* (pointing at the listing photo that shows it) and *added* (missing but not suggested).
Each verdict keeps the group's member classes under the run it was judged on, so a retrain maps
it onto its own groups through the lineage's carry-over (:func:`carry_classes`, the same
``descriptions.plan_carry`` the labels travel by). Nothing is stored until :func:`submit_review`;
a submission also writes the per-class judgement the Evaluate page scores
(``evaluation.judgements``), with "not sure" groups left out of it, and for each "I already have
this" a view label on that photo (source ``reviewer``: ``reading.label_views``, the view-label
table the evaluation's answer keys and the learned view reader read): the view the group stands
for (the most common view of its reference images, ``coverage.class_views``, or its image kind).

What the reviews are for: ``operating.py`` tunes each cohort's settings on them.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from .identity import Action, Actor, acting, performing
from .reading import label_views
from .records import GroupVerdict, Judgement, Review, Verdict
from .runs import Run
from .store import Store

QUEUE_ORDERS = ("worst", "best", "catalogue")


def submit_review(store: Store, run: Run, product_id: str, verdicts: Sequence[GroupVerdict], by: str,
                  actor: Actor | str | None = None) -> Review:
    """Store one product's review (all verdicts in one transaction) and its per-class judgement.
    ``by``: the reviewer (required, first thing the panel asks). ``actor``: who acts
    (:func:`identity.performing`, a reviewer at least; checked before anything is stored and
    audited); a signed-in actor is the reviewer, whatever name was typed. Raises ValueError for a
    verdict on a class the run does not have, a group judged twice, or a 'have' photo that is not
    one of the listing's."""
    who = acting(store.data_dir, actor, Action.JUDGE)
    by = who.name if who.signed_in else (by or "").strip()
    if not by:
        raise ValueError("say who is reviewing first (a name): a review is stored with its reviewer")
    with performing(store, who, Action.JUDGE, f"review of {product_id}", {"reviewer": by, "groups": len(verdicts)}):
        return _submit(store, run, product_id, verdicts, by, who)


def _submit(store: Store, run: Run, product_id: str, verdicts: Sequence[GroupVerdict], by: str,
            who: Actor) -> Review:
    products = store.products()
    if str(product_id) not in set(products["product_id"].astype(str)):
        raise ValueError(f"no product {product_id!r} in the catalogue")
    n = len(run.centroids)
    seen: set[int] = set()
    images = store.images()
    own = set(images.loc[images["product_id"].astype(str) == str(product_id), "content_hash"])
    for v in verdicts:
        bad = [c for c in v.members if not 0 <= c < n]
        if bad:
            raise ValueError(f"pose classes {bad} are not classes of run {run.run_id} (0..{n - 1})")
        if seen & set(v.members):
            raise ValueError(f"pose group {v.label or list(v.members)} is judged twice")
        seen |= set(v.members)
        if v.verdict is Verdict.HAVE and v.photo not in own:
            raise ValueError(f"the photo given for 'I already have this' ({v.label}) is not one of the listing's")
        if (v.verdict is Verdict.ADDED) != (v.rank is None):
            raise ValueError("a suggested group has its rank; an added group has none")
    review = store.add_review(Review(run.run_id, str(product_id), tuple(verdicts), by))
    for v in verdicts:
        view = view_of_group(run, v.members) if v.verdict is Verdict.HAVE else None
        if view:
            label_views(store, [v.photo], **view, source="reviewer", user=by,
                        note=f"review {review.id}: shows {v.label or list(v.members)}",
                        by=who if who.signed_in else who.via)
    suggested = sorted((v for v in verdicts if v.rank is not None and v.verdict is not Verdict.UNSURE),
                       key=lambda v: v.rank)
    store.add_judgement(Judgement(run.run_id, str(product_id), [v.members[0] for v in suggested],
                                  [v.members[0] for v in suggested if v.verdict is Verdict.CONFIRM],
                                  [v.members[0] for v in verdicts if v.verdict is Verdict.ADDED], {}, by,
                                  f"review {review.id}"))
    return review


def view_of_group(run: Run, members) -> dict | None:
    """The view a pose group stands for, as view-label fields: {facing, framing} of the most common
    view among its first member's reference images, {kind} for a class without a person; None when
    the run stored no views."""
    from .coverage import class_views
    from .views import Facing, Framing

    views = class_views(run)
    for c in members:
        if not run.is_pose(c):
            kind = run.kind_of_class(c)
            return {"kind": str(kind)} if kind else None
        if c in views:
            text = views[c][0]
            return next(({"facing": str(f), "framing": str(fr)} for f in Facing for fr in Framing
                         if f"{f.text}, {fr.text}" == text), None)
    return None


def latest_review(store: Store, product_id: str) -> Review | None:
    return store.latest_reviews([str(product_id)]).get(str(product_id))


def review_queue(table: pd.DataFrame, reviewed: Iterable[str] = (), order: str = "worst") -> list[str]:
    """The products to review in turn: those not reviewed yet first, each part in ``order``
    ('worst': lowest completeness first, nothing expected last; 'best'; 'catalogue': as listed).
    ``table``: one row per product with product_id and completeness (``outputs.completeness``)."""
    if order not in QUEUE_ORDERS:
        raise ValueError(f"order must be one of {', '.join(QUEUE_ORDERS)}, got {order!r}")
    t = table[["product_id", "completeness"]].copy()
    t["product_id"] = t["product_id"].astype(str)
    t["pos"] = range(len(t))
    t["done"] = t["product_id"].isin({str(p) for p in reviewed})
    cols = ["done"] + (["completeness", "product_id"] if order != "catalogue" else ["pos"])
    asc = [True] + ([order == "worst", True] if order != "catalogue" else [True])
    return t.sort_values(cols, ascending=asc, na_position="last", kind="stable")["product_id"].tolist()


def next_to_review(table: pd.DataFrame, current: str | None, reviewed: Iterable[str] = (),
                   order: str = "worst") -> str | None:
    """What "Submit and next" opens: the first product after ``current`` in ``order`` (wrapping
    round) that is not reviewed yet; None when every other product is."""
    q = review_queue(table, (), order)
    done = {str(p) for p in reviewed} | {str(current)}
    at = q.index(str(current)) + 1 if current is not None and str(current) in q else 0
    return next((p for p in q[at:] + q[:at] if p not in done), None)


# -- reviews under another run -----------------------------------------------------------------

def carry_classes(old: Run, new: Run, classes: Iterable[int]) -> dict[int, int]:
    """Old run's classes -> the new run's, through the lineage's carry-over (one-to-one matching
    of the centroids' profiles; a class of a kind without a person goes to the same kind's class).
    Classes with no place in the new run are left out."""
    from .descriptions import CarryItem, plan_carry
    from .records import MarkKind

    classes = sorted({int(c) for c in classes if 0 <= int(c) < len(old.centroids)})
    if old.run_id == new.run_id:
        return {c: c for c in classes}
    items = [CarryItem(str(MarkKind.DESIRABLE), str(c), [c]) for c in classes]
    plan = plan_carry(old, items, new)
    return {int(m.note): int(m.centroid) for m in plan.marks}


@dataclass(frozen=True)
class JudgedProduct:
    """A product's review in the classes of one run: what the tuning scores against."""

    product_id: str
    missing: tuple[frozenset[int], ...]      # one class set per group judged missing
    not_missing: frozenset[int]              # classes of groups judged not missing
    unsure: frozenset[int]                   # classes of groups the reviewer could not tell
    by: str
    run_id: str


def judged_products(store: Store, run: Run, product_ids: Iterable[str] | None = None) -> list[JudgedProduct]:
    """Every product's newest review in ``run``'s classes (reviews made under another run are
    carried over; a group none of whose classes carries is dropped)."""
    from .runs import load_registered

    reviews = store.latest_reviews(None if product_ids is None else list(product_ids))
    maps: dict[str, Run | None] = {}
    out = []
    for pid, r in sorted(reviews.items()):
        if r.run_id != run.run_id:
            if r.run_id not in maps:
                try:
                    maps[r.run_id] = load_registered(store, r.run_id)
                except (LookupError, ValueError, OSError):
                    maps[r.run_id] = None
            old = maps[r.run_id]
            if old is None:
                continue
            cmap = carry_classes(old, run, {c for v in r.verdicts for c in v.members})
        else:
            cmap = None
        missing, no, unsure = [], set(), set()
        for v in r.verdicts:
            cs = frozenset(v.members if cmap is None else (cmap[c] for c in v.members if c in cmap))
            if not cs:
                continue
            if v.verdict.missing is True:
                missing.append(cs)
            elif v.verdict.missing is False:
                no |= cs
            else:
                unsure |= cs
        out.append(JudgedProduct(pid, tuple(missing), frozenset(no), frozenset(unsure), r.by, r.run_id))
    return out
