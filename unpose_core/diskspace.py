"""A full disk, told apart from other failures and said in one clear sentence.

Every long command writes to the data dir as it goes (the pose cache in batches, a run folder,
the catalogue in one transaction), so when that filesystem fills up what was committed before
stays and a re-run continues. What the person needs is to know that the disk is full, where,
and what to do: :func:`disk_full` turns the exception (whichever layer raised it) into a
:class:`DiskFullError` with that message, or None when the failure is something else. The
command line and the app's jobs both print it.

A full disk shows up as ``OSError`` ENOSPC / EDQUOT (files, numpy, pyarrow), as SQLite's
``SQLITE_FULL`` ("database or disk is full"), or, when SQLite cannot grow its shared-memory
file, as a bare ``disk I/O error`` (``SQLITE_IOERR_SHMSIZE`` and kin). The first two say so;
the last is taken for a full disk only when the data dir's filesystem has almost nothing free
(under :data:`NEARLY_FULL` bytes).
"""
from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
SQLITE_FULL = 13           # SQLite's primary result codes (the low byte of an extended code)
SQLITE_IOERR = 10
NEARLY_FULL = 1 << 20      # an I/O error on a filesystem with less than this free is a full disk
_FULL_TEXT = ("no space left on device", "database or disk is full", "disk quota exceeded")


class DiskFullError(OSError):
    """The filesystem holding ``path`` is full; the message says where, how much is free and
    what to do. ``free``: bytes free there when it was noticed (None if unknown)."""

    def __init__(self, path: str | Path, free: int | None):
        self.path, self.free = Path(path), free
        super().__init__(errno.ENOSPC, full_message(self.path, free))

    def __str__(self) -> str:
        return self.strerror


def free_bytes(path: str | Path) -> int | None:
    """Bytes free to this user on the filesystem of ``path`` (its nearest existing parent)."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return None


def _size(n: int | None) -> str:
    if n is None:
        return "unknown"
    return f"{n / (1 << 20):.1f} MB" if n >= 1 << 20 else f"{n // 1024} KB"


def full_message(path: str | Path, free: int | None) -> str:
    """The one sentence for a full disk at ``path``."""
    return (f"disk full: no space left on the filesystem of {path} ({_size(free)} free); what was saved "
            "before is kept: free some space there (or use a data dir on another disk, --data-dir) and "
            "re-run, it continues from there")


def _says_full(exc: BaseException) -> bool:
    if isinstance(exc, DiskFullError):
        return True
    if isinstance(exc, OSError) and exc.errno in FULL_ERRNOS:
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF == SQLITE_FULL:
        return True
    text = str(exc).lower()
    return any(t in text for t in _FULL_TEXT) or "[errno 28]" in text


def _io_error(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return (isinstance(code, int) and code & 0xFF == SQLITE_IOERR) or "disk i/o error" in str(exc).lower() or \
        (isinstance(exc, OSError) and exc.errno in (None, errno.EIO))


def disk_full(exc: BaseException, path: str | Path) -> DiskFullError | None:
    """A :class:`DiskFullError` for ``path`` (the data dir) when ``exc`` (or an exception it was
    raised from or while handling) is a full disk, else None. A file the error names is
    reported in place of ``path`` when it exists or its folder does."""
    seen: set[int] = set()
    chain: list[BaseException] = []
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    free = free_bytes(path)
    for e in chain:
        if _says_full(e) or (_io_error(e) and free is not None and free < NEARLY_FULL):
            if isinstance(e, DiskFullError):
                return e
            where = Path(path)
            name = getattr(e, "filename", None)
            if isinstance(name, (str, os.PathLike)) and Path(name).parent.exists():
                where = Path(name)
            return DiskFullError(where, free_bytes(where))
    return None
