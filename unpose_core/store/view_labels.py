"""The view-label table family: labels (append-only, by content hash), the catalogue's edited
vocabulary (append-only, newest per word) and the registry of learned view readers. One table family of
:class:`store.db.Store` (its plumbing from :class:`store.base.StoreBase`)."""
from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..views.labels import LabelSource, ViewLabel, WordMeaning, current_labels
from .base import StoreBase

_LABEL_COLUMNS = ("id", "content_hash", "facing", "framing", "kind", "no_pose", "source", "user", "words", "note",
                  "created_at")


@dataclass(frozen=True)
class ReaderRecord:
    """A learned view reader the store knows: ``path`` absolute (kept relative to the data dir)."""

    reader_id: str
    path: Path
    summary: dict
    created_at: float
    active: bool = False


def _label(row: tuple) -> ViewLabel:
    d = dict(zip(_LABEL_COLUMNS, row, strict=True))
    return ViewLabel(d["content_hash"], d["facing"], d["framing"], d["kind"], bool(d["no_pose"]),
                     LabelSource(d["source"]), d["user"], d["created_at"], d["words"], d["note"], d["id"])


class ViewLabelTables(StoreBase):
    """View labels, vocabulary and readers (mixed into ``Store``)."""

    # -- labels ------------------------------------------------------------------------------------
    def add_view_labels(self, labels: Iterable[ViewLabel]) -> list[ViewLabel]:
        """Append labels (never overwrites), in one transaction; returns them with id and time.
        Empty labels are refused."""
        now = time.time()
        out = []
        with self._write() as c:
            for lab in labels:
                if lab.empty:
                    raise ValueError(f"an empty view label for {lab.content_hash}: give facing, framing, kind "
                                     "or no_pose")
                at = lab.created_at or now
                cur = c.execute("INSERT INTO view_labels(content_hash, facing, framing, kind, no_pose, source, user,"
                                " words, note, created_at) VALUES(?,?,?,?,?,?,?,?,?,?)",
                                (lab.content_hash, lab.facing, lab.framing, lab.kind, int(lab.no_pose),
                                 str(lab.source), lab.user, lab.words, lab.note, at))
                out.append(ViewLabel(lab.content_hash, lab.facing, lab.framing, lab.kind, lab.no_pose, lab.source,
                                     lab.user, at, lab.words, lab.note, int(cur.lastrowid)))
        return out

    def view_label_history(self, hashes: Iterable[str] | None = None) -> list[ViewLabel]:
        """Every label row (of some images), oldest first."""
        sql = f"SELECT {', '.join(_LABEL_COLUMNS)} FROM view_labels"
        if hashes is None:
            return [_label(r) for r in self._rows(sql + " ORDER BY id")]
        hashes = list(dict.fromkeys(hashes))
        out: list[ViewLabel] = []
        for i in range(0, len(hashes), 500):
            chunk = hashes[i:i + 500]
            out += [_label(r) for r in self._rows(
                sql + f" WHERE content_hash IN ({','.join('?' * len(chunk))}) ORDER BY id", chunk)]
        return sorted(out, key=lambda lab: lab.id)

    def view_labels(self, hashes: Iterable[str] | None = None) -> dict[str, ViewLabel]:
        """content hash -> the label in force (:func:`views.labels.current_labels`)."""
        return current_labels(self.view_label_history(hashes))

    def n_view_labels(self) -> int:
        return int(self._one("SELECT COUNT(DISTINCT content_hash) FROM view_labels")[0])

    # -- vocabulary -------------------------------------------------------------------------------------
    def set_view_words(self, words: dict[str, WordMeaning | None], user: str | None = None) -> None:
        """Edit the vocabulary: word -> meaning (None removes the word, also a built-in one)."""
        now = time.time()
        with self._write() as c:
            for word, meaning in words.items():
                c.execute("INSERT INTO view_vocabulary(word, meaning, user, created_at) VALUES(?,?,?,?)",
                          (str(word).strip().lower(), None if meaning is None else json.dumps(meaning.to_dict()),
                           user, now))

    def view_word_edits(self) -> dict[str, WordMeaning | None]:
        """word -> its newest edit (None: removed)."""
        out: dict[str, WordMeaning | None] = {}
        for word, meaning in self._rows("SELECT word, meaning FROM view_vocabulary ORDER BY id"):
            out[word] = None if meaning is None else WordMeaning(**json.loads(meaning))
        return out

    # -- learned readers ----------------------------------------------------------------------------------
    def add_view_reader(self, reader_id: str, path: str | Path, summary: dict, activate: bool = True) -> None:
        p = Path(path)
        try:
            rel = str(p.resolve().relative_to(self.data_dir.resolve()))
        except ValueError:
            rel = str(p)
        with self._write() as c:
            c.execute("INSERT OR REPLACE INTO view_readers(reader_id, path, summary, created_at) VALUES(?,?,?,?)",
                      (reader_id, rel, json.dumps(summary, default=str), time.time()))
            if activate:
                c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('view_reader', ?)", (reader_id,))

    def set_active_view_reader(self, reader_id: str | None) -> None:
        """Make a registered reader the one that reads (None: the rules alone)."""
        if reader_id is None:
            self._exec("DELETE FROM meta WHERE key='view_reader'")
            return
        if self._one("SELECT 1 FROM view_readers WHERE reader_id=?", (reader_id,)) is None:
            raise LookupError(f"no view reader {reader_id}")
        self._exec("INSERT OR REPLACE INTO meta(key, value) VALUES('view_reader', ?)", (reader_id,))

    def _active_reader_id(self) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key='view_reader'")
        return None if row is None else row[0]

    def view_readers(self) -> list[ReaderRecord]:
        active = self._active_reader_id()
        return [ReaderRecord(rid, self.data_dir / path, json.loads(summary or "{}"), created, rid == active)
                for rid, path, summary, created in
                self._rows("SELECT reader_id, path, summary, created_at FROM view_readers ORDER BY created_at")]

    def active_view_reader(self) -> ReaderRecord | None:
        rid = self._active_reader_id()
        return next((r for r in self.view_readers() if r.reader_id == rid), None) if rid else None
