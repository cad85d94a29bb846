"""The lineage of labels: which run is active, and everything a person wrote following it.

:func:`activate_run` makes a run the active one and carries the labels of the run active before
(descriptions, pose-group marks, unplaced labels) in ONE store transaction with the switch
(README: lineage rules; the matching is :func:`descriptions.plan_carry`). Training calls it after
saving a run; `unposed runs --activate` and the Train page call it to switch runs.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from .descriptions import MAX_DISTANCE, CarryItem, RunLabels, items_of, plan_carry
from .identity import Action, Actor, performing
from .records import UNPLACED_DESCRIPTION, Anchor, Description, DescriptionStatus, GroupMark, LabelEdit
from .runs import Run, get_run
from .store import ActiveRunChanged, LabelsChanged, Store


class LineageError(ValueError):
    """A run cannot be made active without losing what a person wrote: nothing was changed."""


@dataclass
class Activation:
    """How a run became active: the run active before (``parent``), the run whose labels were
    carried (``carried_from``: the parent, an earlier readable run of its lineage, or None),
    the carry-over's counts, and what a person should know (``notes``)."""

    run_id: str
    parent: str | None
    carried_from: str | None
    summary: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    switched_only: bool = False      # it had been active before: its own labels are its current ones

    def to_dict(self) -> dict:
        return asdict(self)


def _why(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) < 200 else text[:197] + "..."


def _ancestors(store: Store, run_id: str, exclude: set[str]) -> list[str]:
    """Runs of ``run_id``'s lineage, nearest first: its recorded parents, then (for runs made
    active before lineage was recorded) older runs that were active once or hold labels."""
    seen, chain, cur = {run_id, *exclude}, [], run_id
    while (rec := store.lineage(cur)) is not None and rec.parent and rec.parent not in seen:
        chain.append(rec.parent)
        seen.add(rec.parent)
        cur = rec.parent
    records = store.run_records()   # newest first
    created = {r.run_id: r.created_at for r in records}
    limit = created.get(cur, float("inf"))
    for r in records:
        if r.run_id in seen or r.created_at >= limit:
            continue
        if store.lineage(r.run_id) is not None or store.labels_version(r.run_id):
            chain.append(r.run_id)
            seen.add(r.run_id)
    return chain


def _before_lineage(store: Store, run_id: str) -> bool:
    """The run was made before this data dir recorded lineage (an upgraded v2 data dir)."""
    since = store.get_meta("lineage_since")
    try:
        return since is not None and store.run(run_id).created_at < float(since)
    except (LookupError, ValueError):
        return False


def _not_from(run_id: str, labels: RunLabels, ancestor: str, ancestor_labels: RunLabels) -> RunLabels:
    """The labels of ``run_id`` that did not come from ``ancestor`` unchanged (those are carried
    from the ancestor itself): what a person wrote on ``run_id`` or on runs in between."""
    def from_ancestor(source: str | None) -> bool:
        return (source or "").startswith(f"{ancestor}:")

    texts = {d.text for d in ancestor_labels.descriptions.values()} | \
        {u.text for u in ancestor_labels.unplaced if u.is_description}
    waiting = {(u.kind, u.text, u.source) for u in ancestor_labels.unplaced}
    return RunLabels(
        {c: d for c, d in labels.descriptions.items() if not from_ancestor(d.source) and d.text not in texts},
        [m for m in labels.marks if not from_ancestor(m.source)],
        [u for u in labels.unplaced if not from_ancestor(u.source) and (u.kind, u.text, u.source) not in waiting])


def _carry_source(store: Store, previous: str, new_id: str, keep_unmatched: bool):
    """(run carried from or None, carry items, label versions they were read at, carried_from, notes)."""
    version = store.labels_version(previous)   # before the labels: a write in between is then noticed
    labels = RunLabels.read(store, previous)
    if not labels:   # nothing to carry: no need to read the run
        return None, [], {previous: version}, previous, []
    try:
        old = get_run(store, previous)
    except Exception as exc:   # any failure to read it: the run cannot be trusted to match centroids
        reason = _why(exc)
    else:
        return old, items_of(previous, labels, old), {previous: version}, previous, []
    try:
        k_prev = store.run(previous).k
    except LookupError:
        k_prev = None
    for anc in _ancestors(store, previous, {new_id}):
        try:
            anc_run = get_run(store, anc)
        except Exception:
            continue
        anc_version = store.labels_version(anc)
        anc_labels = RunLabels.read(store, anc)
        own = _not_from(previous, labels, anc, anc_labels)
        n_own = len(own.descriptions) + len(own.marks) + len(own.unplaced)
        note = (f"the active run {previous} cannot be read ({reason}): labels carried from {anc}, the last "
                f"readable run of its lineage" + (f"; {n_own} descriptions and marks written on {previous} are "
                                                  f"listed as unplaced for you to place (`unposed describe`, "
                                                  f"`unposed groups`)" if n_own else ""))
        items = items_of(anc, anc_labels, anc_run) + items_of(previous, own, None, k_prev)
        return anc_run, items, {previous: version, anc: anc_version}, anc, [note]
    n = len(labels.descriptions) + len(labels.marks) + len(labels.unplaced)
    if keep_unmatched:
        return None, items_of(previous, labels, None, k_prev), {previous: version}, previous, [
            f"the active run {previous} cannot be read ({reason}): its {n} descriptions and marks are listed as "
            f"unplaced for you to place (`unposed describe`, `unposed groups`)"]
    raise LineageError(
        f"run {new_id} is saved but NOT made active: the active run {previous} cannot be read ({reason}) and no "
        f"earlier run of its lineage can, so its {n} descriptions and marks cannot be matched to {new_id}'s "
        f"centroids. Restore {previous}'s folder and run `unposed runs --activate {new_id}`, or run `unposed runs "
        f"--activate {new_id} --keep-unmatched` to make it active with those labels listed as unplaced, for "
        f"you to place")


def activate_run(store: Store, run_id: str, keep_unmatched: bool = False, max_distance: float = MAX_DISTANCE,
                 run: Run | None = None, by: Actor | str | None = None,
                 needs: Action = Action.ACTIVATE) -> Activation:
    """Make a complete, readable run the active one, carrying the labels of the run active
    before (README: lineage rules) in ONE store transaction with the switch.

    - A run that was active before (or, made before lineage was recorded, holds labels of its
      own) is switched to as it is: its labels are its current ones.
    - Otherwise every description, mark and unplaced label of the previous run goes to the new
      run: on a matching centroid, or listed as unplaced. Labels a person already wrote on the
      new run stay; a carried description that would replace one is listed unplaced.
    - When the previous run cannot be read, labels are carried from the last readable run of
      its lineage, and what was written on the unreadable run is listed as unplaced; with no
      readable run left, :class:`LineageError` and nothing changes, unless ``keep_unmatched``
      (then everything is listed as unplaced).
    - A person writing a label meanwhile makes the carry-over plan again (never lost).

    ``by`` must be an admin (``needs``: training activating the run it made needs only the right to train).
    """
    with performing(store, by, needs, f"run {run_id}", {"activated": True}):
        return _activate(store, run_id, keep_unmatched, max_distance, run)


def _activate(store: Store, run_id: str, keep_unmatched: bool, max_distance: float, run: Run | None) -> Activation:
    new = run or get_run(store, run_id)   # never activate a run that cannot be read itself (``run``: as saved)
    for _ in range(5):
        previous = store.active_run_id()
        if previous == run_id:
            return Activation(run_id, previous, None, switched_only=True)
        if store.lineage(run_id) is not None:
            store.set_active_run(run_id)
            return Activation(run_id, previous, None, switched_only=True)
        own_version = store.labels_version(run_id)
        own = RunLabels.read(store, run_id)
        if previous is None or (own and _before_lineage(store, run_id)):
            # the first run, or one made active (with its labels) before lineage was recorded
            store.activate_run_with_labels(run_id, previous, None, summary={})
            return Activation(run_id, previous, None, switched_only=previous is not None)
        old, items, versions, carried_from, notes = _carry_source(store, previous, run_id, keep_unmatched)
        versions[run_id] = own_version
        plan = plan_carry(old, items, new, max_distance, existing=own)
        try:
            store.activate_run_with_labels(run_id, previous, carried_from, plan.descriptions, plan.marks,
                                           plan.unplaced, plan.summary, expect_versions=versions)
        except LabelsChanged:
            continue
        n_unplaced = len(plan.unplaced)
        if n_unplaced:
            notes.append(f"{n_unplaced} descriptions or marks found no matching centroid in {run_id}: listed as "
                         f"unplaced (`unposed describe`, `unposed groups`, the Clusters page)")
        return Activation(run_id, previous, carried_from, plan.summary, notes)
    raise RuntimeError(f"labels kept changing while run {run_id} was being activated; try again")


# -- edits bound to the run they were made against ---------------------------------------------------
#
# A person reads the active run, thinks, and writes (the CLI about a second later, a page after a
# click): a retrain may activate a new run in between. Activation re-plans when a label of the run it
# carries from changes before it commits (``expect_versions``); an edit that arrives after that commit
# is carried here, in the transaction that writes it: onto the active run through the same matching
# (``plan_carry``), or listed there as unplaced. It is never left only on a run no one looks at.

@dataclass
class EditResult:
    """Where an edit went: ``written_for`` the run it was made against; ``current_in`` the run where
    it now counts (the active one when it was carried); ``unplaced`` how many of its labels wait
    there for a person; ``notes`` what to tell them."""

    written_for: str
    current_in: str
    carried: bool = False
    unplaced: int = 0
    notes: list[str] = field(default_factory=list)


def _descends_from(store: Store, run_id: str, ancestor: str, limit: int = 10_000) -> bool:
    """``ancestor`` is in ``run_id``'s recorded lineage (a run it replaced, directly or not)."""
    cur, seen = run_id, {run_id}
    for _ in range(limit):
        rec = store.lineage(cur)
        if rec is None or not rec.parent or rec.parent in seen:
            return False
        if rec.parent == ancestor:
            return True
        seen.add(rec.parent)
        cur = rec.parent
    return False


def _edit_items(edit: LabelEdit, descriptions: bool = True) -> list[CarryItem]:
    """The edit's descriptions and marks set (``descriptions``) or its marks cleared, as carry items."""
    run_id = edit.run_id
    if not descriptions:
        return [CarryItem(str(m.kind), "", list(m.centroids), m.status) for m in edit.clear_marks]
    items = [CarryItem(UNPLACED_DESCRIPTION, d.text, [int(d.centroid)], d.status, f"{run_id}:{d.centroid}")
             for d in edit.descriptions]
    items += [CarryItem(str(m.kind), m.note or "", list(m.centroids), m.status,
                        f"{run_id}:{m.kind}:{'+'.join(map(str, m.centroids))}") for m in edit.add_marks]
    items += [CarryItem(u.kind, u.text, list(u.anchors), u.status, u.source, unplaced=True) for u in edit.unplaced]
    return items


def write_edit(store: Store, edit: LabelEdit, max_distance: float = MAX_DISTANCE, attempts: int = 20) -> EditResult:
    """Write what a person did on run ``edit.run_id`` (the run they saw active), bound to it.

    - Still active (or not in the active run's lineage: a run picked on purpose): written there, in
      a transaction that checks the active run did not change.
    - Replaced meanwhile by a run descended from it: written there (its history keeps it) AND, in
      the same transaction, carried into the active run: descriptions and marks onto the matching
      centroids (a text this edit replaced, carried forward before, is replaced there too), cleared
      marks cleared on their matches; what finds no match is listed unplaced for an analyst."""
    if not edit:
        return EditResult(edit.run_id, edit.run_id)
    for _ in range(attempts):
        active = store.active_run_id()
        if active is None or active == edit.run_id or not _descends_from(store, active, edit.run_id):
            try:
                store.write_label_edits([edit], expect_active=active)
            except ActiveRunChanged:
                continue
            return EditResult(edit.run_id, edit.run_id)
        version = store.labels_version(active)
        new = get_run(store, active)
        try:
            old = get_run(store, edit.run_id)
        except Exception:   # unreadable: its sides cannot be matched, only placed by a person
            old = None
        items = _edit_items(edit)
        if old is None:
            k = store.run(edit.run_id).k
            items = [replace(it, sides=[Anchor(None, f"{edit.run_id}:{s}", None, None, "", s >= k)
                                        if isinstance(s, int) else s for s in it.sides]) for it in items]
        existing = RunLabels.read(store, active)
        before = store.descriptions(edit.run_id)   # the texts this edit replaces, carried forward earlier
        stale = {before[d.centroid].text for d in edit.descriptions if d.centroid in before} \
            - {d.text for d in edit.descriptions}
        existing.descriptions = {c: d for c, d in existing.descriptions.items() if d.text not in stale}
        plan = plan_carry(old, items, new, max_distance, existing=existing)
        clears = plan_carry(old, _edit_items(edit, descriptions=False), new, max_distance).marks \
            if edit.clear_marks and old is not None else []
        carried = LabelEdit(active, tuple(plan.descriptions), tuple(plan.marks),
                            tuple(GroupMark(m.kind, m.centroid, m.other) for m in clears), tuple(plan.unplaced),
                            edit.source)
        try:
            store.write_label_edits([edit, carried], expect_active=active, expect_versions={active: version})
        except LabelsChanged:
            continue
        notes = [f"run {edit.run_id} was replaced by {active} while this was written: carried into {active}"]
        if plan.unplaced:
            notes.append(f"{len(plan.unplaced)} found no matching centroid in {active}: listed as unplaced "
                         f"(`unposed describe`, `unposed groups`, the Clusters page)")
        return EditResult(edit.run_id, active, True, len(plan.unplaced), notes)
    raise RuntimeError(f"the active run kept changing while writing to run {edit.run_id}; try again")


def describe(store: Store, run_id: str, centroid: int, text: str,
             status: DescriptionStatus | str = DescriptionStatus.OK, source: Actor | str | None = None) -> EditResult:
    """A person's description of ``centroid`` of ``run_id`` (the run they saw), bound to it (:func:`write_edit`).
    ``source``: the :class:`~.identity.Actor` (checked: describing needs an analyst), or how a local call came."""
    with performing(store, source, Action.DESCRIBE, f"description {run_id}:{int(centroid)}", {"text": text}) as actor:
        return write_edit(store, LabelEdit(run_id, (Description(int(centroid), text, DescriptionStatus(status),
                                                                actor.source),), source=actor.source))


def set_marks(store: Store, run_id: str, add=(), clear=(), source: str | None = None) -> EditResult:
    """Pose-group marks set and cleared on ``run_id`` (the run they were made on), bound to it."""
    return write_edit(store, LabelEdit(run_id, add_marks=tuple(add), clear_marks=tuple(clear), source=source))
