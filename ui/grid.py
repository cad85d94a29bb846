"""Image grids with the pose skeleton drawn over each image.

Thumbnails are made once (st.cache_data, keyed by path, content hash and landmarks) as
JPEG bytes; st.image serves them through Streamlit's media endpoint.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image, ImageDraw, ImageOps

from unpose_core import app_tables as views
from unpose_core.runs import Run
from unpose_core.store import Store

THUMB = 320
LARGE = 900          # an enlarged tile (the dialog)
VISIBLE = 0.35        # landmarks below this confidence are not drawn
LINE = (0, 230, 118)  # green bones
JOINT = (255, 61, 0)  # orange joints


@dataclass
class Tile:
    path: str | None
    content_hash: str | None
    caption: str = ""
    product_id: str | None = None     # shown (and linked) when the tile is opened


def skeleton_for(backend: str | None, run: Run | None = None) -> tuple[tuple[int, int], ...]:
    if run is not None and run.info.skeleton:
        return tuple(tuple(p) for p in run.info.skeleton)
    if backend == "blazepose":
        from unpose_core.pose.blazepose import SKELETON
        return SKELETON
    return ()


def _placeholder(text: str, size: int = THUMB) -> bytes:
    im = Image.new("RGB", (size, size), (236, 236, 240))
    d = ImageDraw.Draw(im)
    d.rectangle([4, 4, size - 5, size - 5], outline=(200, 200, 210), width=2)
    d.text((16, size // 2 - 6), text[:40], fill=(110, 110, 120))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=80)
    return buf.getvalue()


@st.cache_data(show_spinner=False, max_entries=6000)
def thumbnail(path: str | None, content_hash: str | None, landmarks: bytes | None, n_landmarks: int,
              skeleton: tuple[tuple[int, int], ...], size: int = THUMB) -> bytes:
    """JPEG bytes of the image fitted in size x size, skeleton drawn when landmarks are given."""
    if not path or not Path(path).is_file():
        return _placeholder("image not found", size)
    try:
        with Image.open(path) as im:
            im.draft("RGB", (size * 2, size * 2))
            im = ImageOps.exif_transpose(im)
            if im.mode not in ("RGB", "L"):
                rgba = im.convert("RGBA")
                bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                im = Image.alpha_composite(bg, rgba)
            im = im.convert("RGB")
            im.thumbnail((size, size), Image.LANCZOS)
    except Exception:
        return _placeholder("unreadable image", size)
    if landmarks is not None and n_landmarks:
        lm = np.frombuffer(landmarks, np.float32).reshape(n_landmarks, 4)
        w, h = im.size
        xy = np.nan_to_num(lm[:, :2]) * (w, h)
        vis = lm[:, 3] >= VISIBLE
        inside = (xy[:, 0] >= -2) & (xy[:, 0] <= w + 2) & (xy[:, 1] >= -2) & (xy[:, 1] <= h + 2)
        ok = vis & inside
        d = ImageDraw.Draw(im)
        lw = max(2, size // 110)
        for a, b in skeleton:
            if a < n_landmarks and b < n_landmarks and ok[a] and ok[b]:
                d.line([tuple(xy[a]), tuple(xy[b])], fill=LINE, width=lw)
        r = max(2, size // 90)
        for (x, y), good in zip(xy, ok):
            if good:
                d.ellipse([x - r, y - r, x + r, y + r], fill=JOINT, outline=(255, 255, 255))
    if im.size != (size, size):   # letterbox to a square so grid rows line up
        canvas = Image.new("RGB", (size, size), (242, 242, 245))
        canvas.paste(im, ((size - im.width) // 2, (size - im.height) // 2))
        im = canvas
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


@st.dialog("Image", width="large")
def _enlarged(data: bytes, caption: str, product_id: str | None) -> None:
    """The image large with its skeleton and, beside it (in view without scrolling the dialog), what
    the tile says (product, centroid, view labels) and a way to its product."""
    left, right = st.columns([3, 2])
    left.image(data, width="stretch")
    right.caption(caption)
    if product_id and right.button(f"Open {product_id} on the Product page", icon=":material/checkroom:",
                                key="enlarged-open"):
        from ui.common import open_product

        open_product(product_id, came_from="clusters")


def image_grid(store: Store, tiles: list[Tile], backend: tuple[str, str] | None, run: Run | None = None,
               columns: int = 6, limit: int = 48, skeleton: bool = True, empty: str = "No images.",
               open_key: str | None = None) -> None:
    """Lay out ``tiles`` in rows of ``columns`` with skeletons; at most ``limit`` are drawn. With
    ``open_key`` every tile has an Enlarge button: the image large, its skeleton, its product."""
    if not tiles:
        st.caption(empty)
        return
    shown = tiles[:limit]
    lms = {}
    bones = ()
    if skeleton and backend is not None:
        lms = views.poses_for_hashes(store, backend[0], backend[1], [t.content_hash for t in shown])
        bones = skeleton_for(backend[0], run)
    for start in range(0, len(shown), columns):
        cols = st.columns(columns)
        for col, t in zip(cols, shown[start:start + columns]):
            lm = lms.get(t.content_hash)
            data = thumbnail(t.path, t.content_hash, None if lm is None else lm.tobytes(),
                             0 if lm is None else int(lm.shape[0]), bones)
            with col:
                st.image(data, caption=t.caption or None, width="stretch")
                if open_key is not None and st.button("Enlarge", key=f"{open_key}-{start}-{t.content_hash}",
                                                      icon=":material/zoom_in:", type="tertiary"):
                    big = thumbnail(t.path, t.content_hash, None if lm is None else lm.tobytes(),
                                    0 if lm is None else int(lm.shape[0]), bones, size=LARGE)
                    _enlarged(big, t.caption, t.product_id)
    if len(tiles) > limit:
        st.caption(f"Showing {limit} of {len(tiles)} images.")
