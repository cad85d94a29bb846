"""Files people upload through the app: size-capped, validated, extracted safely, cleaned up.

A catalogue upload is a manifest (CSV/Parquet) plus a zip of images. The zip goes to
``data_dir/uploads/<name>/`` (a fresh folder each time, so the current catalogue's
files are never overwritten) with these rules:

* members that would land outside the folder (absolute paths, ``..``, drive letters),
  symlinks, encrypted members, members in an unsupported compression, members whose data
  is corrupt, and a second member with the same name are *not* extracted and are listed
  with the reason; the rest of the archive is;
* the archive is refused whole, before anything is written, when its headers declare more
  than ``max_total_bytes`` unpacked, more than ``max_members`` entries, a member that
  unpacks to more than ``max_member_ratio`` times its compressed size, or an archive that
  unpacks to more than ``max_zip_ratio`` times its own size (a 1 MB zip that unpacks to
  1 GiB is a zip bomb, not a photo shoot: JPEG and PNG barely compress). Ratios count only
  beyond ``RATIO_FLOOR`` bytes, so a few tiny, very compressible files are no problem;
* headers can lie, so the same limits are counted again on the bytes actually written,
  and the archive is refused (its half-written folder removed) the moment one is crossed;
* macOS resource forks (``__MACOSX/``, ``._*``, ``.DS_Store``) are skipped.

Images uploaded for a single product are checked with :func:`images.probe_image`: a
file that is not an image gets a clear message and is not kept.

Every upload gets its own folder, so old ones are removed when a new one is saved: those
older than ``UPLOAD_MAX_AGE_DAYS`` or beyond the newest ``UPLOAD_KEEP_NEWEST`` (product
photo uploads: ``PRODUCT_UPLOAD_*``), never the folder the current catalogue's images or
manifest live in, and never the one just saved. Stale ``.partial`` folders of an
interrupted extraction go after a day.
"""
from __future__ import annotations

import errno
import io
import os
import re
import shutil
import stat
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..identity import Action, Actor, acting, read_roles
from ..images import ImageError, check_complete, probe_image

MB = 1024 * 1024
MAX_MANIFEST_BYTES = 50 * MB
MAX_ZIP_BYTES = 1024 * MB              # the compressed upload (.streamlit/config.toml server.maxUploadSize matches)
MAX_UNZIPPED_BYTES = 4 * 1024 * MB     # total after extraction
MAX_ZIP_MEMBERS = 100_000
MAX_MEMBER_RATIO = 100                 # unpacked / compressed size of one member
MAX_ZIP_RATIO = 20                     # unpacked total / archive size
RATIO_FLOOR = 1 * MB                   # ratios are checked only beyond this many unpacked bytes
MAX_IMAGE_BYTES = 25 * MB
MAX_PRODUCT_IMAGES = 20
UPLOAD_KEEP_NEWEST = 3                 # catalogue uploads kept besides the one in use
UPLOAD_MAX_AGE_DAYS = 30
PRODUCT_UPLOAD_KEEP_NEWEST = 20
PRODUCT_UPLOAD_MAX_AGE_DAYS = 7
PARTIAL_MAX_AGE_S = 24 * 3600
MANIFEST_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")
_SKIP = re.compile(r"(^|/)(__MACOSX/|\._[^/]*$|\.DS_Store$|Thumbs\.db$)")
_PRODUCT_FOLDER = re.compile(r"^product-\d{8}-\d{6}-[0-9a-f]{6}$")


class UploadError(ValueError):
    """An upload that cannot be used, with a message for the person who sent it."""


def safe_name(name: str, default: str = "upload") -> str:
    """A folder/file name made of [A-Za-z0-9._-] only, no leading dot, at most 60 chars."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(str(name)).name).strip(".-_")[:60]
    return stem or default


def unique_dir(parent: Path, name: str) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    base = safe_name(name)
    path, n = parent / base, 1
    while path.exists() or path.with_name(path.name + ".partial").exists():
        n += 1
        path = parent / f"{base}-{n}"
    return path


def _reserve_dir(parent: Path, name: str) -> tuple[Path, Path]:
    """(final folder, its ``.partial`` twin, created): mkdir is the lock, so two uploads of the
    same name at the same moment get two folders instead of one failing."""
    for _ in range(1000):
        final = unique_dir(parent, name)
        tmp = final.with_name(final.name + ".partial")
        try:
            tmp.mkdir()
            return final, tmp
        except FileExistsError:
            continue
    raise UploadError(f"cannot find a free folder name for {name!r} in {parent}")


def check_size(name: str, size: int, limit: int, what: str = "file") -> None:
    if size > limit:
        raise UploadError(f"{name} is {size / MB:.1f} MB; the limit for a {what} is {limit / MB:.0f} MB")
    if size == 0:
        raise UploadError(f"{name} is empty")


@dataclass
class ZipReport:
    folder: Path
    n_files: int = 0
    total_bytes: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (member, reason)
    removed: list[str] = field(default_factory=list)               # old upload folders cleaned up

    def summary(self) -> str:
        s = f"{self.n_files} files ({self.total_bytes / MB:.1f} MB) extracted to {self.folder}"
        if self.skipped:
            s += f"; {len(self.skipped)} entries skipped"
        if self.removed:
            s += f"; {len(self.removed)} old upload{'s' if len(self.removed) > 1 else ''} removed"
        return s


def _member_key(name: str) -> str:
    """Where a member lands: 'a//b.jpg', './a/b.jpg' and 'a\\b.jpg' are one file."""
    return str(PurePosixPath(name.replace("\\", "/")))


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in PurePosixPath(name).parts:
        return "path escapes the folder (..)"
    if "\x00" in name:
        return "NUL byte in the name"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if info.flag_bits & 0x1:
        return "encrypted"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
        return f"unsupported compression method {info.compress_type}"
    return None


def _archive_size(source) -> int | None:
    """Bytes of the archive itself (path, bytes or seekable file object), None when unknown."""
    try:
        if isinstance(source, (str, os.PathLike)):
            return os.stat(source).st_size
        if isinstance(source, (bytes, bytearray)):
            return len(source)
        pos = source.tell()
        end = source.seek(0, io.SEEK_END)
        source.seek(pos)
        return end
    except (OSError, AttributeError, ValueError):
        return None


def _ratio_problem(unpacked: int, packed: int, limit: float, what: str) -> str | None:
    if unpacked > RATIO_FLOOR and unpacked > limit * max(packed, 1):
        return (f"{what} unpacks to {unpacked / MB:.0f} MB from {packed / MB:.2f} MB, more than {limit:g} times "
                "its compressed size (a zip bomb?): rejected")
    return None


def extract_zip(source, dest_parent: str | Path, name: str, max_total_bytes: int = MAX_UNZIPPED_BYTES,
                max_members: int = MAX_ZIP_MEMBERS, max_member_ratio: float = MAX_MEMBER_RATIO,
                max_zip_ratio: float = MAX_ZIP_RATIO) -> ZipReport:
    """Extract a zip (path, bytes or file object) into a new ``dest_parent/<name>/`` folder."""
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    archive = _archive_size(source)
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise UploadError(f"not a zip archive: {exc}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > max_members:
            raise UploadError(f"the zip holds {len(infos)} entries; at most {max_members} are accepted")
        files = [i for i in infos if not i.is_dir()]
        declared = sum(i.file_size for i in files)
        if declared > max_total_bytes:
            raise UploadError(f"the zip unpacks to {declared / MB:.0f} MB; at most "
                              f"{max_total_bytes / MB:.0f} MB are accepted")
        packed_total = archive if archive else sum(i.compress_size for i in files)
        problem = _ratio_problem(declared, packed_total, max_zip_ratio, "the zip")
        for info in files:
            problem = problem or _ratio_problem(info.file_size, info.compress_size, max_member_ratio,
                                                info.filename[:200])
        if problem:
            raise UploadError(problem)
        final, tmp = _reserve_dir(Path(dest_parent), name)
        try:
            report = _extract_members(zf, files, tmp.resolve(), final, max_total_bytes, max_member_ratio,
                                      max_zip_ratio, packed_total)
        except (zipfile.LargeZipFile, RuntimeError, OSError) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise UploadError(f"cannot extract the zip: {exc}") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    tmp.rename(final)
    return report


# a member whose own path cannot be created is skipped; anything else (disk full) stops the upload
_MEMBER_PATH_ERRORS = (FileExistsError, NotADirectoryError, IsADirectoryError)


def _extract_members(zf: zipfile.ZipFile, files: list[zipfile.ZipInfo], root: Path, final: Path,
                     max_total_bytes: int, max_member_ratio: float, max_zip_ratio: float,
                     packed_total: int) -> ZipReport:
    report = ZipReport(final)
    seen: dict[str, str] = {}
    for info in files:
        member = info.filename
        if _SKIP.search(member.replace("\\", "/")):
            continue
        problem = _member_problem(info)
        target = None
        if problem is None:
            try:
                target = (root / member.replace("\\", "/")).resolve()
            except (OSError, RuntimeError, ValueError) as exc:
                problem = f"unusable name: {exc}"
        if problem is None and not target.is_relative_to(root):
            problem = "path escapes the folder"
        key = _member_key(member)
        if problem is None and key in seen:
            problem = f"duplicate name: {seen[key]!r} is already extracted under it; only the first is kept"
        if problem:
            report.skipped.append((member, problem))
            continue
        seen[key] = member
        written = 0
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                while block := src.read(1 << 20):
                    written += len(block)
                    report.total_bytes += len(block)
                    if written > info.file_size or report.total_bytes > max_total_bytes:
                        raise UploadError(f"{member} unpacks to more than its header says, or the zip "
                                          f"exceeds {max_total_bytes / MB:.0f} MB: rejected")
                    problem = (_ratio_problem(written, info.compress_size, max_member_ratio, member)
                               or _ratio_problem(report.total_bytes, packed_total, max_zip_ratio, "the zip"))
                    if problem:
                        raise UploadError(problem)
                    dst.write(block)
        except (zipfile.BadZipFile, NotImplementedError, EOFError, *_MEMBER_PATH_ERRORS) as exc:
            # corrupt data (CRC mismatch), a method zipfile cannot read, a file where a folder must go
            report.total_bytes -= written
            if target.is_file():
                target.unlink(missing_ok=True)
            report.skipped.append((member, f"not extracted: {type(exc).__name__}: {exc}"))
            continue
        except OSError as exc:
            if exc.errno in (errno.ENAMETOOLONG, errno.EILSEQ, errno.EINVAL):   # this member's name only
                report.skipped.append((member, f"not extracted: {exc.strerror or exc}"))
                continue
            raise
        report.n_files += 1
    return report


def save_manifest(name: str, data: bytes, folder: Path) -> Path:
    """Write an uploaded manifest into ``folder``; only CSV/TSV/Parquet, size-capped."""
    suffix = Path(name).suffix.lower()
    if suffix not in MANIFEST_SUFFIXES:
        raise UploadError(f"{name}: a manifest must be .csv, .tsv or .parquet")
    check_size(name, len(data), MAX_MANIFEST_BYTES, "manifest")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"manifest.uploaded{suffix}"
    path.write_bytes(bytes(data))
    return path


def guess_image_root(manifest: Path, folder: Path) -> Path:
    """The folder the manifest's image paths are relative to: ``folder`` or its only subfolder.

    Zips made by "compress folder" put everything under one top-level folder while the
    manifest lists paths inside it; try both and keep the one where more paths exist.
    """
    from .manifest import _explode_wide, _normalise_columns, read_manifest

    candidates = [folder]
    subdirs = [p for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith("manifest.uploaded")] \
        if folder.is_dir() else []
    if len(subdirs) == 1 and not files:
        candidates.append(subdirs[0])
    if len(candidates) == 1:
        return folder
    try:
        df, _ = _normalise_columns(read_manifest(manifest))
        if "image_path" not in df.columns and "images" in df.columns:
            df = _explode_wide(df)
        paths = [str(p).strip() for p in df.get("image_path", []) if p and str(p).strip()][:50]
        scores = [sum(_is_file(c, p) for p in paths) for c in candidates]
    except Exception:   # the import itself reports what is wrong with the manifest
        return folder
    return candidates[max(range(len(candidates)), key=lambda i: scores[i])]


def _is_file(folder: Path, rel: str) -> bool:
    try:
        return (folder / rel).is_file()
    except (OSError, ValueError):
        return False


def _measured(source, size: int | None, limit: int, name: str):
    """(source, its size in bytes) for a zip given as a path, bytes or a file object. A file object
    that tells its size neither through ``size`` nor by seeking (a pipe, a stream) is read into a
    spooled temporary file, at most ``limit`` + 1 bytes: a bigger one is refused at the bound."""
    if size is not None:
        return source, size
    if isinstance(source, (bytes, bytearray, memoryview)):
        return source, len(source)
    if isinstance(getattr(source, "size", None), int):   # e.g. Streamlit's UploadedFile
        return source, source.size
    seekable = getattr(source, "seekable", None)
    try:
        known = _archive_size(source) if isinstance(source, (str, os.PathLike)) or (seekable and seekable()) \
            else None
    except (OSError, ValueError):
        known = None
    if known is not None:
        return source, known
    if not hasattr(source, "read"):
        raise UploadError(f"{name}: expected a path, bytes or a file object, got {type(source).__name__}")
    copy = tempfile.SpooledTemporaryFile(max_size=16 * MB)   # noqa: SIM115 (returned open, closed by the caller)
    n = 0
    try:
        while n <= limit:
            block = source.read(min(MB, limit + 1 - n))
            if not block:
                break
            copy.write(block)
            n += len(block)
    except BaseException:
        copy.close()
        raise
    if n > limit:
        copy.close()
        raise UploadError(f"{name} is more than {limit / MB:.0f} MB, the limit for a zip")
    copy.seek(0)
    return copy, n


def save_catalogue_upload(data_dir: str | Path, manifest_name: str, manifest_data: bytes,
                          zip_name: str | None = None, zip_data=None, zip_size: int | None = None,
                          by: Actor | str | None = None) -> tuple[Path, Path, ZipReport | None]:
    """Store an uploaded manifest (+ image zip) under data_dir/uploads/; returns
    (manifest path, image root, zip report). Old uploads are cleaned up afterwards. ``by`` must
    be an admin (checked before a byte is written); the upload counts against their quota."""
    actor = acting(data_dir, by, Action.IMPORT)
    uploads = Path(data_dir) / "uploads"
    name = Path(zip_name or manifest_name).stem
    report = None
    if zip_data is not None:
        source, size = _measured(zip_data, zip_size, MAX_ZIP_BYTES, zip_name or "zip")
        try:
            check_size(zip_name or "zip", size, MAX_ZIP_BYTES, "zip")
            make_room(data_dir, actor, size + len(manifest_data))
            report = extract_zip(source, uploads, name)
        finally:
            if source is not zip_data:   # the copy of a stream made here
                source.close()
        folder = report.folder
    else:
        make_room(data_dir, actor, len(manifest_data))
        folder, tmp = _reserve_dir(uploads, name)
        tmp.rename(folder)
    try:
        _own(folder, actor)
        manifest = save_manifest(manifest_name, manifest_data, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    removed = clean_uploads(data_dir, keep=[folder])
    if report is not None:
        report.removed = [p.name for p in removed]
    return manifest, guess_image_root(manifest, folder), report


OWNER_SUFFIX = ".owner"   # uploads/<folder>.owner beside each upload folder: who uploaded it (Actor.name);
                         # beside, not inside, so the folder holds exactly what was uploaded


def _owner_file(folder: Path) -> Path:
    return folder.with_name(folder.name + OWNER_SUFFIX)


def _own(folder: Path, actor: Actor) -> None:
    _owner_file(folder).write_text(actor.name, encoding="utf-8")


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


def uploads_of(data_dir: str | Path, owner: str) -> list[tuple[float, Path, int]]:
    """(mtime, folder, bytes) of every upload folder ``owner`` made, oldest first."""
    root = Path(data_dir) / "uploads"
    out = []
    if root.is_dir():
        for f in root.glob(f"*{OWNER_SUFFIX}"):
            p = f.with_name(f.name[:-len(OWNER_SUFFIX)])
            if not p.is_dir():   # cleaned up meanwhile (clean_uploads): forget it
                f.unlink(missing_ok=True)
            elif f.read_text(encoding="utf-8") == owner:
                out.append((p.stat().st_mtime, p, _size(p)))
    return sorted(out)


def make_room(data_dir: str | Path, actor: Actor, new_bytes: int) -> list[Path]:
    """Bound each person's uploads (``[uploads] max_count`` / ``max_bytes`` in the roles file): their
    oldest upload folders are removed (never one the catalogue uses) until ``new_bytes`` more fit;
    :class:`UploadError` when they cannot. Returns the folders removed."""
    roles = read_roles(data_dir)
    if new_bytes > roles.upload_max_bytes:
        raise UploadError(f"this upload is {new_bytes / MB:.1f} MB; each person may keep at most "
                          f"{roles.upload_max_bytes / MB:.1f} MB of uploads")
    mine = uploads_of(data_dir, actor.name)
    in_use = folders_in_use(data_dir)
    removed = []
    while mine and (len(mine) + 1 > roles.upload_max_count or
                    sum(b for _, _, b in mine) + new_bytes > roles.upload_max_bytes):
        _, folder, _ = next(((t, p, b) for t, p, b in mine if p.resolve() not in in_use), (None, None, None))
        if folder is None:
            break
        shutil.rmtree(folder, ignore_errors=True)
        _owner_file(folder).unlink(missing_ok=True)
        removed.append(folder)
        mine = [m for m in mine if m[1] != folder]
    if len(mine) + 1 > roles.upload_max_count or sum(b for _, _, b in mine) + new_bytes > roles.upload_max_bytes:
        raise UploadError(f"{actor.name}'s uploads are at their limit ({roles.upload_max_count} uploads, "
                          f"{roles.upload_max_bytes / MB:.1f} MB) and the oldest are in use by the catalogue")
    return removed


def folders_in_use(data_dir: str | Path) -> set[Path]:
    """Upload folders holding the current catalogue's manifest or images (from the store)."""
    from ..store import Store

    uploads = (Path(data_dir) / "uploads").resolve()
    if not (Path(data_dir) / "unposed.sqlite").exists():
        return set()             # no store, no catalogue (and cleaning must not create one)
    store = Store(data_dir)
    try:
        paths = [store.get_meta("catalogue_source") or "", *store.images()["path"].tolist()]
    finally:
        store.close()
    used = set()
    for p in paths:
        try:
            rel = Path(os.path.realpath(p)).relative_to(uploads)
        except (ValueError, OSError):
            continue
        if rel.parts:
            used.add(uploads / rel.parts[0])
    return used


def clean_uploads(data_dir: str | Path, keep: Iterable[Path] = (), now: float | None = None,
                  keep_newest: int = UPLOAD_KEEP_NEWEST, max_age_days: float = UPLOAD_MAX_AGE_DAYS,
                  product_keep_newest: int = PRODUCT_UPLOAD_KEEP_NEWEST,
                  product_max_age_days: float = PRODUCT_UPLOAD_MAX_AGE_DAYS) -> list[Path]:
    """Remove old upload folders; returns those removed. Never removes ``keep`` or the folders
    the current catalogue uses; when the store cannot say which those are, removes nothing
    (a lost catalogue is worse than a full disk). Never raises."""
    uploads = Path(data_dir) / "uploads"
    if not uploads.is_dir():
        return []
    now = time.time() if now is None else now
    try:
        protected = {p.resolve() for p in keep} | folders_in_use(data_dir)
        entries = []
        for p in uploads.iterdir():
            st = p.lstat()
            if stat.S_ISDIR(st.st_mode):
                entries.append((st.st_mtime, p))
    except Exception:
        return []
    removed = []
    catalogue = sorted((e for e in entries if not e[1].name.endswith(".partial")
                        and not _PRODUCT_FOLDER.match(e[1].name)), reverse=True)
    product = sorted((e for e in entries if _PRODUCT_FOLDER.match(e[1].name)), reverse=True)
    partial = [e for e in entries if e[1].name.endswith(".partial")]
    doomed = [p for group, newest, days in ((catalogue, keep_newest, max_age_days),
                                            (product, product_keep_newest, product_max_age_days))
              for i, (mtime, p) in enumerate(group) if i >= newest or now - mtime > days * 86400]
    doomed += [p for mtime, p in partial if now - mtime > PARTIAL_MAX_AGE_S]
    for p in doomed:
        if p.resolve() in protected:
            continue
        shutil.rmtree(p, ignore_errors=True)
        if not p.exists():
            removed.append(p)
    return removed


@dataclass
class SavedImages:
    folder: Path
    paths: list[Path]
    rejected: list[tuple[str, str]]   # (file name, reason)


def save_product_images(data_dir: str | Path, files: list[tuple[str, bytes]],
                        max_bytes: int = MAX_IMAGE_BYTES, max_files: int = MAX_PRODUCT_IMAGES,
                        by: Actor | str | None = None) -> SavedImages:
    """Keep the uploaded files that are real images (probe_image); say why the others are not.
    ``by`` needs the upload right (a reviewer); their older uploads make room (:func:`make_room`)."""
    actor = acting(data_dir, by, Action.UPLOAD)
    if len(files) > max_files:
        raise UploadError(f"{len(files)} files uploaded; at most {max_files} images per product")
    make_room(data_dir, actor, sum(min(len(d), max_bytes) for _, d in files))
    folder = Path(data_dir) / "uploads" / f"product-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    _own(folder, actor)
    paths, rejected = [], []
    for i, (name, data) in enumerate(files):
        try:
            check_size(name, len(data), max_bytes, "product image")
        except UploadError as exc:
            rejected.append((name, str(exc)))
            continue
        path = folder / f"{i + 1:02d}_{safe_name(name, 'image')}"
        path.write_bytes(bytes(data))
        try:
            probe_image(path)
            check_complete(path)
        except ImageError as exc:
            path.unlink(missing_ok=True)
            reason = str(exc).replace(path.name, name)
            rejected.append((name, f"not a usable image: {reason}"))
            continue
        paths.append(path)
    clean_uploads(data_dir, keep=[folder])
    return SavedImages(folder, paths, rejected)
