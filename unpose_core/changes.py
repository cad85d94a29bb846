"""Who changed what, when, and taking it back: the history of a description, of a run's pose-group
marks and of a seller hint (read from the store's append-only history tables), revert of a
description to an earlier text, undo of a pose-group edit, and the audit log as a table.

An *edit* of the marks is the history rows one action wrote in one transaction (same run, author
and time): a merge sets merge marks and clears rejections; its undo clears those merges and sets
the rejections again. Undo and revert are edits themselves: checked for the actor's role, written
through :mod:`.lineage` (bound to the run), kept in the history and the audit log.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import pandas as pd

from .identity import Action, Actor, performing
from .lineage import set_marks, write_edit
from .records import Description, DescriptionStatus, GroupMark, LabelEdit, MarkKind
from .runs import Run
from .store import Store


def author(source: str | None) -> str:
    """The person in a recorded ``source`` ('ana@x.com (app)', 'proposal:ana (app)', 'run-1:3')."""
    s = source or ""
    if s.startswith("reviewed:"):   # 'reviewed:WHO:what it was carried from'
        return s[len("reviewed:"):].split(":", 1)[0] or "unknown"
    for prefix in ("placed:", "proposal:", "split:"):
        if s.startswith(prefix):
            s = s[len(prefix):]
    return s or "unknown"


@dataclass(frozen=True)
class Change:
    """One row of a history: ``id`` (its history row; for marks the first row of the edit), when,
    by whom, what."""

    id: int
    at: float
    by: str
    what: str
    text: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def description_history(store: Store, run_id: str, centroid: int) -> list[Change]:
    """Every text the description of ``centroid`` of ``run_id`` had, oldest first ('' = removed)."""
    df = store.description_history(run_id)
    df = df[df["centroid"] == int(centroid)]
    return [Change(int(r.id), float(r.created_at or 0), author(r.source),
                   "removed" if not r.text else f"set ({r.status})", r.text or "")
            for r in df.itertuples()]


def _mark_text(kind: str, c: int, other) -> str:
    return f"{kind} {c}" + ("" if other is None or pd.isna(other) or int(other) < 0 else f"+{int(other)}")


def _edits(store: Store, run_id: str) -> dict[int, pd.DataFrame]:
    df = store.group_mark_history(run_id)
    if df.empty:
        return {}
    keys = df["created_at"].astype(str) + "|" + df["source"].fillna("")
    return {int(g["id"].min()): g for _, g in df.groupby(keys, sort=False)}


def mark_history(store: Store, run_id: str) -> list[Change]:
    """The run's pose-group edits, oldest first: one :class:`Change` per action (its first row's id)."""
    out = []
    for eid, g in sorted(_edits(store, run_id).items()):
        what = "; ".join(f"{a} {_mark_text(k, c, o)}" for a, k, c, o in
                         zip(g["action"], g["kind"], g["centroid"], g["other"]))
        out.append(Change(eid, float(g["created_at"].iloc[0] or 0), author(g["source"].iloc[0]), what))
    return out


def hint_history(store: Store, text: str | None = None) -> list[Change]:
    from .descriptions import hint_key

    df = store.hint_history(hint_key(text) if text else None)
    return [Change(int(r.id), float(r.created_at or 0), author(r.source), f"{r.action} hint for {r.text!r}",
                   r.hint) for r in df.itertuples()]


def revert_description(store: Store, run: Run, centroid: int, history_id: int, by: Actor | str | None = None) -> str:
    """Make the description of ``centroid`` the text it had at history row ``history_id`` (a removal
    row: remove it). Needs the right to describe. Returns the text now in force ('' = automatic)."""
    c = int(centroid)
    row = next((h for h in description_history(store, run.run_id, c) if h.id == int(history_id)), None)
    if row is None:
        raise ValueError(f"history row {history_id} is not a description of centroid {c} of run {run.run_id}")
    with performing(store, by, Action.DESCRIBE, f"description {run.run_id}:{c}",
                    {"to_history": int(history_id), "text": row.text}, label="revert") as actor:
        if row.text:
            write_edit(store, LabelEdit(run.run_id, (Description(c, row.text, DescriptionStatus.OK, actor.source),),
                                        source=actor.source))
        elif store.clear_description(run.run_id, c, actor.source) is None:
            raise ValueError(f"centroid {c} has no description: it already reads the automatic one")
    return row.text


def undo_mark_edit(store: Store, run: Run, edit_id: int, by: Actor | str | None = None) -> Change:
    """Take back the pose-group edit ``edit_id`` (:func:`mark_history`): marks it set are cleared,
    marks it cleared are set again. Needs the right to edit groups. Returns the undo as a Change."""
    g = _edits(store, run.run_id).get(int(edit_id))
    if g is None:
        raise ValueError(f"{edit_id} is not a pose-group edit of run {run.run_id} (see `unposed history groups`)")
    add, clear = [], []
    for r in g.itertuples():
        other = None if r.other is None or pd.isna(r.other) or int(r.other) < 0 else int(r.other)
        m = GroupMark(MarkKind(r.kind), int(r.centroid), other, r.note, DescriptionStatus(r.status or "ok"))
        (clear if r.action == "set" else add).append(m)
    with performing(store, by, Action.GROUPS, f"groups {run.run_id}", {"undo": int(edit_id)}, label="undo") as actor:
        add = [GroupMark(m.kind, m.centroid, m.other, m.note, m.status, actor.source) for m in add]
        set_marks(store, run.run_id, add, clear, actor.source)
    return mark_history(store, run.run_id)[-1]


def undo_last(store: Store, run: Run, by: Actor | str | None = None) -> Change:
    """Take back the run's latest pose-group edit (:func:`undo_mark_edit`); undoing twice redoes."""
    edits = mark_history(store, run.run_id)
    if not edits:
        raise ValueError(f"run {run.run_id} has no pose-group change to undo")
    return undo_mark_edit(store, run, edits[-1].id, by)


def audit_table(store: Store, since: float | None = None) -> pd.DataFrame:
    """The audit log, oldest first, with a readable time column (UTC ISO) and details as JSON text."""
    df = store.audit_log(since)
    df.insert(1, "time", pd.to_datetime(df["at"], unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    df["details"] = df["details"].map(lambda d: json.dumps(json.loads(d), sort_keys=True) if d else "")
    return df
