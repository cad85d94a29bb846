"""Files people upload through the app: size-capped, validated, extracted safely.

A catalogue upload is a manifest (CSV/Parquet) plus a zip of images. The zip goes to
``data_dir/uploads/<name>/`` (a fresh folder each time, so the current catalogue's
files are never overwritten) with these rules:

* members that would land outside the folder (absolute paths, ``..``, drive letters),
  symlinks and encrypted members are *not* extracted and are listed with the reason;
* more than ``max_members`` entries, or more than ``max_total_bytes`` uncompressed
  (counted while writing, so a lying header cannot get past it), rejects the archive;
* macOS resource forks (``__MACOSX/``, ``._*``, ``.DS_Store``) are skipped.

Images uploaded for a single product are checked with :func:`images.probe_image`: a
file that is not an image gets a clear message and is not kept.
"""
from __future__ import annotations

import io
import re
import shutil
import stat
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..images import ImageError, probe_image

MB = 1024 * 1024
MAX_MANIFEST_BYTES = 50 * MB
MAX_ZIP_BYTES = 1024 * MB              # the compressed upload (server.maxUploadSize matches)
MAX_UNZIPPED_BYTES = 4 * 1024 * MB     # total after extraction
MAX_ZIP_MEMBERS = 100_000
MAX_IMAGE_BYTES = 25 * MB
MAX_PRODUCT_IMAGES = 20
MANIFEST_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")
_SKIP = re.compile(r"(^|/)(__MACOSX/|\._[^/]*$|\.DS_Store$|Thumbs\.db$)")


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

    def summary(self) -> str:
        s = f"{self.n_files} files ({self.total_bytes / MB:.1f} MB) extracted to {self.folder}"
        return s + (f"; {len(self.skipped)} entries skipped" if self.skipped else "")


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in PurePosixPath(name).parts:
        return "path escapes the folder (..)"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if info.flag_bits & 0x1:
        return "encrypted"
    return None


def extract_zip(source, dest_parent: str | Path, name: str, max_total_bytes: int = MAX_UNZIPPED_BYTES,
                max_members: int = MAX_ZIP_MEMBERS) -> ZipReport:
    """Extract a zip (path, bytes or file object) into a new ``dest_parent/<name>/`` folder."""
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UploadError(f"not a zip archive: {exc}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > max_members:
            raise UploadError(f"the zip holds {len(infos)} entries; at most {max_members} are accepted")
        declared = sum(i.file_size for i in infos if not i.is_dir())
        if declared > max_total_bytes:
            raise UploadError(f"the zip unpacks to {declared / MB:.0f} MB; at most "
                              f"{max_total_bytes / MB:.0f} MB are accepted")
        final = unique_dir(Path(dest_parent), name)
        tmp = final.with_name(final.name + ".partial")
        tmp.mkdir(parents=True)
        root = tmp.resolve()
        report = ZipReport(final)
        try:
            for info in infos:
                member = info.filename
                if info.is_dir() or _SKIP.search(member.replace("\\", "/")):
                    continue
                problem = _member_problem(info)
                target = (root / member.replace("\\", "/")).resolve()
                if problem is None and not target.is_relative_to(root):
                    problem = "path escapes the folder"
                if problem:
                    report.skipped.append((member, problem))
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                written = 0
                with zf.open(info) as src, open(target, "wb") as dst:
                    while block := src.read(1 << 20):
                        written += len(block)
                        report.total_bytes += len(block)
                        if written > info.file_size or report.total_bytes > max_total_bytes:
                            raise UploadError(f"{member} unpacks to more than its header says, or the zip "
                                              f"exceeds {max_total_bytes / MB:.0f} MB: rejected")
                        dst.write(block)
                report.n_files += 1
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, OSError) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise UploadError(f"cannot extract the zip: {exc}") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    tmp.rename(final)
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
    except Exception:
        return folder
    scores = [sum((c / p).is_file() for p in paths) for c in candidates]
    return candidates[max(range(len(candidates)), key=lambda i: scores[i])]


def save_catalogue_upload(data_dir: str | Path, manifest_name: str, manifest_data: bytes,
                          zip_name: str | None = None, zip_data=None, zip_size: int | None = None
                          ) -> tuple[Path, Path, ZipReport | None]:
    """Store an uploaded manifest (+ image zip) under data_dir/uploads/; returns
    (manifest path, image root, zip report)."""
    uploads = Path(data_dir) / "uploads"
    name = Path(zip_name or manifest_name).stem
    report = None
    if zip_data is not None:
        check_size(zip_name or "zip", zip_size if zip_size is not None else len(zip_data), MAX_ZIP_BYTES, "zip")
        report = extract_zip(zip_data, uploads, name)
        folder = report.folder
    else:
        folder = unique_dir(uploads, name)
        folder.mkdir(parents=True)
    manifest = save_manifest(manifest_name, manifest_data, folder)
    return manifest, guess_image_root(manifest, folder), report


@dataclass
class SavedImages:
    folder: Path
    paths: list[Path]
    rejected: list[tuple[str, str]]   # (file name, reason)


def save_product_images(data_dir: str | Path, files: list[tuple[str, bytes]],
                        max_bytes: int = MAX_IMAGE_BYTES, max_files: int = MAX_PRODUCT_IMAGES) -> SavedImages:
    """Keep the uploaded files that are real images (probe_image); say why the others are not."""
    if len(files) > max_files:
        raise UploadError(f"{len(files)} files uploaded; at most {max_files} images per product")
    folder = Path(data_dir) / "uploads" / f"product-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
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
        except ImageError as exc:
            path.unlink(missing_ok=True)
            reason = str(exc).replace(path.name, name)
            rejected.append((name, f"not a usable image: {reason}"))
            continue
        paths.append(path)
    return SavedImages(folder, paths, rejected)
