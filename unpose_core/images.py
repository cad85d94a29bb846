"""Safe image loading: every backend sees upright RGB uint8 arrays, never a surprise.

EXIF orientation is applied (phones store portraits sideways), any mode (P, LA, CMYK,
16-bit grey) becomes RGB, and images beyond a pixel budget are refused instead of
exhausting memory (decompression bombs).
"""
from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import re
import stat
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

MAX_PIXELS = 60_000_000      # ~ 8k x 7.5k; larger files are refused
MAX_SIDE_FOR_MODEL = 1280    # pose models downscale anyway; shrinking first saves decode time
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")


class ImageError(ValueError):
    """An image that cannot be used, with a reason fit for a validation report.

    ``kind`` is the short reason a catalogue import files the row under (missing_file,
    not_a_file, unreadable_file, not_an_image, truncated_image, image_too_large, image_too_small)."""

    def __init__(self, message: str, kind: str = "not_an_image"):
        super().__init__(message)
        self.kind = kind


def content_hash(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 (hex) of a file's bytes: the key of every cached pose result, and the checksum of
    run files, stored projections and imported pose weights. The one file hash of the engine."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def probe_image(path: str | Path) -> tuple[int, int]:
    """(width, height) from the header only; raises ImageError for anything unusable."""
    path = Path(path)
    _check_regular_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)   # Pillow's "Corrupt EXIF data": the pixels are fine
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    raise ImageError(f"image too large: {w}x{h} pixels exceeds {MAX_PIXELS}", "image_too_large")
                orientation = _orientation(im)
    except ImageError:
        raise
    except PermissionError as exc:
        raise ImageError(f"cannot read {path.name}: {exc.strerror or exc}", "unreadable_file") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageError(f"image too large: {path.name} ({exc})", "image_too_large") from None
    except Exception as exc:  # Pillow's plugins raise many types on malformed headers
        raise ImageError(f"not a readable image: {path.name} ({type(exc).__name__}: {exc})") from None
    if w < 8 or h < 8:
        raise ImageError(f"image too small: {w}x{h}", "image_too_small")
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation tag, read from the header: a PNG's getexif() decodes the whole image
    to look for an eXIf chunk after the pixels, too slow for a probe (and a bomb could hide there)."""
    try:
        if im.format == "PNG":
            raw = im.info.get("exif")
            if not raw:
                return 1
            exif = Image.Exif()
            exif.load(raw)
            return exif.get(0x0112, 1)
        return im.getexif().get(0x0112, 1)
    except Exception:   # a malformed EXIF block costs the rotation, not the photo
        return 1


def _check_regular_file(path: Path) -> None:
    """Raise ImageError unless ``path`` is an existing regular file we may open.

    One stat, every failure a reason: a FIFO or device would block or never end when read, and
    a symlink loop, an over-long name or a NUL byte must not escape as a bare OSError/ValueError."""
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise ImageError(f"file not found: {path}", "missing_file") from None
    except PermissionError as exc:
        raise ImageError(f"cannot read {path.name}: {exc.strerror or exc}", "unreadable_file") from None
    except (OSError, ValueError, RuntimeError) as exc:   # ELOOP, ENAMETOOLONG, embedded NUL
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ImageError(f"unusable path: {reason}", "bad_path") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(f"a folder, not a file: {path}", "not_a_file")
    if not stat.S_ISREG(st.st_mode):
        raise ImageError(f"not a regular file (device, pipe or socket): {path}", "not_a_file")
    if st.st_size == 0:
        raise ImageError(f"empty file (0 bytes): {path.name}", "not_an_image")


_JPEG_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def check_complete(path: str | Path) -> None:
    """Raise ImageError (kind ``truncated_image``) when a JPEG, PNG or WebP file ends early.

    probe_image reads the header only, so a download cut short passes it; a full decode would
    catch it but costs tens of ms per photo. This walks the file's structure instead (JPEG
    markers up to EOI, PNG chunks up to IEND, the RIFF length), a few ms even for large files.
    Data after the end (e.g. a phone's "motion photo" video) is allowed."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            size = os.fstat(fh.fileno()).st_size
            if head[:2] == b"\xff\xd8" and size > 4:
                with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
                    complete = _jpeg_complete(data)
            elif head[:8] == b"\x89PNG\r\n\x1a\n":
                complete = _png_complete(fh, size)
            elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
                complete = size >= int.from_bytes(head[4:8], "little") + 8
            else:
                return
    except OSError as exc:
        raise ImageError(f"cannot read {path.name}: {exc.strerror or exc}", "unreadable_file") from None
    if not complete:
        raise ImageError(f"truncated image: {path.name} ends before its last block", "truncated_image")


def _jpeg_complete(data) -> bool:
    """Walk the markers from SOI; True once EOI is reached (entropy-coded data is skipped by search)."""
    i, n = 2, len(data)
    while i < n:
        if data[i] != 0xFF:            # stray bytes between segments: decoders skip them, so do we
            m = _JPEG_NEXT_MARKER.search(data, i)
            if m is None:
                return False
            i = m.start()
        while i < n and data[i] == 0xFF:   # fill bytes
            i += 1
        if i >= n:
            return False
        marker = data[i]
        i += 1
        if marker == 0xD9:
            return True
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue
        if i + 2 > n:
            return False
        i += int.from_bytes(data[i:i + 2], "big")
        if marker == 0xDA:             # start of scan: compressed data until the next real marker
            m = _JPEG_NEXT_MARKER.search(data, min(i, n))
            if m is None:
                return False
            i = m.start()
    return False


def _png_complete(fh, size: int) -> bool:
    """Hop from chunk header to chunk header; True when IEND is reached inside the file."""
    pos = 8
    for _ in range(1_000_000):        # a file of a million tiny chunks is odd, not truncated: stop looking
        if pos + 8 > size:
            return False
        fh.seek(pos)
        head = fh.read(8)
        length, kind = int.from_bytes(head[:4], "big"), head[4:8]
        pos += 12 + length
        if pos > size:
            return False
        if kind == b"IEND":
            return True
    return True


def load_rgb(path: str | Path, max_side: int | None = MAX_SIDE_FOR_MODEL) -> np.ndarray:
    """Decode to an upright RGB uint8 array (H, W, 3), optionally capped at ``max_side``."""
    return decode_image(path, max_side)[0]


def decode_image(path: str | Path, max_side: int | None = MAX_SIDE_FOR_MODEL) -> tuple[np.ndarray, tuple[int, int]]:
    """:func:`load_rgb`'s array and the file's upright (width, height) (:func:`probe_image`, read
    on the way): one header read for a caller that needs both (the measurement pass records the
    file's size, the model sees the capped copy)."""
    size = probe_image(path)
    try:
        with Image.open(path) as im:
            if max_side and max(im.size) > 2 * max_side and im.format == "JPEG":
                im.draft("RGB", (max_side, max_side))  # cheap DCT-domain downscale
            with contextlib.suppress(Exception):   # malformed EXIF: keep the photo as stored, as probe_image does
                im = ImageOps.exif_transpose(im)
            return to_rgb_array(im, max_side), size
    except Exception as exc:  # truncated or corrupt data: Pillow raises OSError, ValueError, struct.error...
        raise ImageError(f"cannot decode {Path(path).name}: {exc}", "truncated_image"
                         if "truncated" in str(exc).lower() else "not_an_image") from None


def to_rgb_array(im: Image.Image, max_side: int | None = MAX_SIDE_FOR_MODEL) -> np.ndarray:
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        # composite on white: product shots are usually on white, black would look like a silhouette
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    if im.mode == "I;16" or im.mode == "I":
        arr = np.asarray(im, dtype=np.float64)
        top = arr.max() or 1.0
        im = Image.fromarray((arr / top * 255).astype(np.uint8))
    im = im.convert("RGB")
    if max_side and max(im.size) > max_side:
        scale = max_side / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.BILINEAR)
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES
