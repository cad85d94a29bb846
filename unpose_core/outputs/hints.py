"""Seller hints an analyst can edit, one per pose group.

A pose group is known by its description ("Back, full length"), human or automatic, and that
text survives retraining (descriptions are carried to the matching centroids of the next run).
So an edited hint is stored under the description, normalised (``descriptions.hint_key``), not
under a run: it follows its group from run to run, and every change is kept in the store's
append-only ``hint_history``. Suggestions use it instead of the generated hint
(``descriptions.seller_hint``) whenever the group of a request has that description.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..descriptions import hint_key, seller_hint
from ..groups import pose_groups
from ..identity import Action, Actor, performing
from ..runs import Run
from ..store import Store
from ..views import ImageKind


@dataclass(frozen=True)
class GroupHint:
    """A pose group of the run and the hint a seller sees for it."""

    group: int
    members: tuple[int, ...]
    label: str                 # the group's description: what keys its hint
    key: str                   # hint_key(label)
    generated: str             # the default (as for the whole catalogue; a request names its own cohort)
    edited: str | None         # the analyst's hint, when one is stored
    excluded: bool = False

    @property
    def hint(self) -> str:
        return self.edited or self.generated

    def to_dict(self) -> dict:
        return asdict(self) | {"hint": self.hint}


def group_hints(store: Store, run: Run) -> list[GroupHint]:
    """Every pose group of ``run`` with its generated and its edited hint."""
    groups = pose_groups(store, run)
    edited = store.hints()
    described = store.descriptions(run.run_id)
    table = run.ranker.tables_.get("*", {})
    n = int(table.get("n_products") or 0)
    support = run.ranker.group_support("*", [g.members for g in groups.groups]) if table else None
    out = []
    for i, g in enumerate(groups.groups):
        if support is not None:
            share = float(support[i])
        else:
            share = max((float(table["support"][c]) for c in g.members if c < len(table.get("support", []))),
                        default=0.0)
        rep = g.members[0]
        kind = None if run.is_pose(rep) else (run.kind_of_class(rep) or ImageKind.OTHER)
        gen = seller_hint(g.label, share, "*", n, kind=kind, described=any(c in described for c in g.members))
        out.append(GroupHint(g.id, tuple(g.members), g.label, hint_key(g.label), gen, edited.get(hint_key(g.label)),
                             g.excluded))
    return out


def orphan_hints(store: Store, run: Run) -> list[dict]:
    """Edited hints whose description no group of ``run`` has (kept: a later run or a description
    change may bring their group back)."""
    keys = {h.key for h in group_hints(store, run)}
    t = store.hints_table()
    return [r for r in t.to_dict("records") if r["text_key"] not in keys]


def set_group_hint(store: Store, description: str, hint: str, source: Actor | str = "person") -> str:
    """Store ``hint`` for the pose group described by ``description`` (empty: back to the generated
    one). Returns the key it is stored under. Needs an analyst (:mod:`~unpose_core.identity`)."""
    with performing(store, source, Action.HINTS, f"hint {hint_key(description)}", {"hint": hint}) as actor:
        return store.set_hint(hint_key(description), description, hint, actor.source)
