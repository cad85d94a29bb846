"""Safe image loading: every backend sees upright RGB uint8 arrays, never a surprise.

EXIF orientation is applied (phones store portraits sideways), any mode (P, LA, CMYK,
16-bit grey) becomes RGB, and images beyond a pixel budget are refused instead of
exhausting memory (decompression bombs).
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 60_000_000      # ~ 8k x 7.5k; larger files are refused
MAX_SIDE_FOR_MODEL = 1280    # pose models downscale anyway; shrinking first saves decode time
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")


class ImageError(ValueError):
    """An image that cannot be used, with a reason fit for a validation report."""


def content_hash(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of the file bytes: the key of every cached pose result."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def probe_image(path: str | Path) -> tuple[int, int]:
    """(width, height) from the header only; raises ImageError for anything unusable."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"file not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                orientation = im.getexif().get(0x0112, 1)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as exc:
        raise ImageError(f"not a readable image: {path.name} ({type(exc).__name__}: {exc})") from None
    if w * h > MAX_PIXELS:
        raise ImageError(f"image too large: {w}x{h} pixels exceeds {MAX_PIXELS}")
    if w < 8 or h < 8:
        raise ImageError(f"image too small: {w}x{h}")
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def load_rgb(path: str | Path, max_side: int | None = MAX_SIDE_FOR_MODEL) -> np.ndarray:
    """Decode to an upright RGB uint8 array (H, W, 3), optionally capped at ``max_side``."""
    probe_image(path)
    try:
        with Image.open(path) as im:
            if max_side and max(im.size) > 2 * max_side and im.format == "JPEG":
                im.draft("RGB", (max_side, max_side))  # cheap DCT-domain downscale
            im = ImageOps.exif_transpose(im)
            return to_rgb_array(im, max_side)
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"cannot decode {Path(path).name}: {exc}") from None


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
