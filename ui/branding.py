"""The app's favicon, drawn locally (a material icon would be fetched from Google's CDN)."""
from __future__ import annotations

from functools import lru_cache

from PIL import Image, ImageDraw

ACCENT = (228, 87, 46)


@lru_cache(maxsize=1)
def favicon() -> Image.Image:
    """A stick figure in a rounded frame: a pose in a photo."""
    s = 64
    im = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    d.rounded_rectangle([2, 2, s - 3, s - 3], radius=12, fill=ACCENT)
    w = (255, 255, 255, 255)
    d.ellipse([26, 9, 38, 21], fill=w)                                    # head
    d.line([(32, 21), (32, 40)], fill=w, width=5)                         # torso
    d.line([(17, 26), (32, 27), (47, 26)], fill=w, width=4, joint="curve")  # arms
    d.line([(32, 39), (23, 55)], fill=w, width=5)                         # legs
    d.line([(32, 39), (41, 55)], fill=w, width=5)
    return im
