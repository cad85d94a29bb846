"""A deterministic demo catalogue, generated from the licensed images in ``assets/``.

The demo needs popular *reference* products with rich image sets and *subject* products
with few images (the paper's p = 5 threshold), in cohorts whose photo habits differ, and a
popularity signal that really depends on which poses a listing shows -- so that the
clustering + ranking pipeline has something true to find. Nothing here needs mediapipe:
the images and ``manifest.csv`` are made with PIL and numpy only.

Catalogue
    Category "Clothing", subcategories :data:`DEMO_SUBCATEGORIES`, each with two product
    types that reference and subject products share, plus :data:`UNSEEN_PRODUCT_TYPE`, which
    only subject products have (it exercises the ranker's fallback for an unseen cohort).
    Per subcategory: 18-22 reference products with 10-12 images, 3 middle products with 5-9
    images and 10-12 subject products with 2-4 images (always at least one person photo).
    Images are drawn from the subcategory's :data:`TYPICAL_FRAMINGS`; a reference product
    always has the typical non-key framings and each key framing with probability 0.5.

Popularity rule (:func:`popularity`)
    avg_rating = clip(3.0 + 0.8 * k + e, 1, 5), rounded to 2 decimals, where k is the number
    of the subcategory's :data:`KEY_FRAMINGS` present in the product's images and
    e ~ Normal(0, 0.15); n_ratings = max(1, round(20 * exp(avg_rating - 3) * exp(u))),
    u ~ Normal(0, 0.3). Subject products follow the same rule.

Pose labels (:data:`POSE_LABELS`)
    ``<view>_full`` / ``<view>_upper`` are renders (or real photos) framed whole, except that
    side upper renders are cut at mid-chest (BlazePose misses ~1 in 4 framed lower);
    ``far`` is a full-body figure at ~35-45 % of the frame height; ``closeup`` is a
    head-and-chest crop that still shows the face (BlazePose finds no person without it);
    ``fabric`` (macros of the listing's cloth), ``flat_lay`` (the listing's garment alone) and
    ``size_chart`` (a table drawn for the listing: its garment type's measurements, its own layout)
    show no person. A listing keeps to one rendered outfit of ``assets/views`` (its title names
    that outfit's top: colour, pattern) and to renders of its garment (T-shirt or long-sleeved). Every image
    gets its own small crop / scale / tint jitter so no two files are identical, while
    whole-figure framings keep the figure inside the frame.

Layout: ``out_dir/images/<product_id>/<NN>_<pose_label>.jpg`` and ``out_dir/manifest.csv``,
one row per image. The same seed gives byte-identical files.
"""
from __future__ import annotations

import csv
import math
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..progress import Progress, ProgressFn

ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets"

CATEGORY = "Clothing"
DEMO_SUBCATEGORIES: tuple[str, ...] = ("Polo shirts", "T-shirts", "Men casual shirts")

POSE_LABELS: tuple[str, ...] = (
    "front_full", "back_full", "side_full", "threequarter_full",
    "front_upper", "back_upper", "side_upper",
    "far", "closeup", "fabric", "size_chart", "flat_lay",
)
PERSON_LABELS: tuple[str, ...] = tuple(x for x in POSE_LABELS if x not in ("fabric", "size_chart", "flat_lay"))

# The order is also the order of the images in a listing (a front shot leads).
TYPICAL_FRAMINGS: dict[str, tuple[str, ...]] = {
    "Polo shirts": ("front_upper", "front_full", "back_upper", "side_upper", "closeup", "fabric"),
    "T-shirts": ("front_full", "front_upper", "back_full", "side_full", "threequarter_full", "size_chart", "flat_lay"),
    "Men casual shirts": ("front_full", "threequarter_full", "side_upper", "far", "closeup", "fabric", "flat_lay"),
}
KEY_FRAMINGS: dict[str, tuple[str, ...]] = {
    "Polo shirts": ("back_upper", "closeup"),
    "T-shirts": ("back_full", "side_full"),
    "Men casual shirts": ("threequarter_full", "far"),
}
PRODUCT_TYPES: dict[str, tuple[str, str]] = {
    "Polo shirts": ("Short sleeve polo", "Long sleeve polo"),
    "T-shirts": ("Crew neck T-shirt", "V-neck T-shirt"),
    "Men casual shirts": ("Oxford shirt", "Linen shirt"),
}
UNSEEN_SUBCATEGORY = "T-shirts"
UNSEEN_PRODUCT_TYPE = "Henley T-shirt"
_TITLE_NOUN = {
    "Short sleeve polo": "short sleeve polo", "Long sleeve polo": "long sleeve polo",
    "Crew neck T-shirt": "crew neck T-shirt", "V-neck T-shirt": "V-neck T-shirt",
    "Oxford shirt": "Oxford shirt", "Linen shirt": "linen shirt", "Henley T-shirt": "Henley T-shirt",
}
_N_UNSEEN = 3
_ID_PREFIX = {"Polo shirts": "polo", "T-shirts": "tee", "Men casual shirts": "shirt"}
_COLOURS = ("Navy", "White", "Black", "Red", "Olive", "Sky blue", "Mustard", "Grey", "Burgundy", "Teal")
_FABRIC_RGB = (
    (40, 55, 110), (235, 235, 228), (45, 45, 48), (190, 40, 45), (105, 110, 60),
    (120, 170, 220), (215, 170, 50), (140, 140, 140), (120, 30, 50), (30, 120, 120),
)

MANIFEST_COLUMNS: tuple[str, ...] = (
    "product_id", "title", "category", "subcategory", "product_type", "avg_rating",
    "n_ratings", "image_path", "position", "pose_label", "view", "framing", "source",
)
MAX_SIDE = 512
JPEG_QUALITY = 90
OTHER_SHOOT_SHARE = 0.2   # share of a listing's images drawn from any source, as real listings mix shoots


@dataclass
class DemoBuild:
    manifest_path: Path
    image_root: Path
    n_products: int
    n_images: int
    seed: int


@dataclass(frozen=True)
class Shot:
    """One recipe for an image of ``label``: which asset, how to frame it, whether mirrored.

    ``box`` is the region of the asset (fractions x0, y0, x1, y1) the image is cut from.
    """

    label: str
    source: str  # path relative to ASSETS_DIR
    view: str
    framing: str
    kind: str  # "pad" | "crop" | "far" | "fabric" | "chart"
    mirror: bool = False
    box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    group: str = ""   # the rendered outfit (assets/views "product"): one listing keeps to one where it can
    colour: str = ""   # its top's colour in a title's words ("" for a size chart)
    garment: str = "tshirt"   # what it shows (assets/views "garments"; the assets/renders figure wears a T-shirt)


def popularity(n_key_framings: int, rating_noise: float = 0.0, count_noise: float = 0.0) -> tuple[float, int]:
    """The demo's ground truth: (avg_rating, n_ratings) from the number of key framings."""
    rating = round(float(np.clip(3.0 + 0.8 * n_key_framings + rating_noise, 1.0, 5.0)), 2)
    n_ratings = max(1, round(20 * math.exp(rating - 3.0) * math.exp(count_noise)))
    return rating, n_ratings


def count_key_framings(subcategory: str, labels: Iterable[str]) -> int:
    """How many of the subcategory's key framings appear among ``labels``."""
    present = set(labels)
    return sum(1 for label in KEY_FRAMINGS[subcategory] if label in present)


# The figure's height as a share of a full-body render's frame.
_RENDER_FIGURE_SHARE = 0.94
# Head-and-chest crops: the face must stay in, BlazePose's detector keys on it.
_RENDER_CLOSEUP_BOX = (0.1, 0.08, 0.9, 0.5)
# Side upper renders cut at mid-chest: framed down to the thighs BlazePose misses ~1 in 4 of
# them once downscaled to 512 px (side_upper_2 even at full size, see renders/labels.csv).
_SIDE_UPPER_BOX = (0.0, 0.0, 1.0, 0.7)


@lru_cache(maxsize=1)
def shot_pools() -> dict[str, tuple[Shot, ...]]:
    """Every recipe per pose label; mirrored variants count as distinct sources. Only garment
    photos: the renders of dressed figures and of garments (no test photo of an astronaut or a
    cameraman, no brick texture standing in for cloth)."""
    pools: dict[str, list[Shot]] = {label: [] for label in POSE_LABELS}

    render_colour = _render_colours()

    def both(label, source, view, framing, kind, box=(0.0, 0.0, 1.0, 1.0)):
        for mirror in (False, True):
            pools[label].append(Shot(label, source, view, framing, kind, mirror, box,
                                     colour=render_colour.get(source.split("/")[-1], "")))

    views = ("front", "back", "side", "threequarter")
    for view in views:
        for n in range(1, 5):
            both(f"{view}_full", f"renders/{view}_full_{n}.jpg", view, "full", "pad")
            both("far", f"renders/{view}_full_{n}.jpg", view, "far", "far")
            if view in ("front", "back"):
                both(f"{view}_upper", f"renders/{view}_upper_{n}.jpg", view, "upper", "crop")
            if view == "side":
                both("side_upper", f"renders/side_upper_{n}.jpg", view, "upper", "crop", _SIDE_UPPER_BOX)
            if view in ("front", "threequarter"):
                both("closeup", f"renders/{view}_upper_{n}.jpg", view, "closeup", "crop", _RENDER_CLOSEUP_BOX)
    _view_shots(pools)
    # size charts are drawn per listing (:func:`size_chart`): its garment's measurements, its own layout
    pools["size_chart"].append(Shot("size_chart", SIZE_CHART_SOURCE, "none", "chart", "table", garment=""))
    return {label: tuple(shots) for label, shots in pools.items()}


# assets/views (the labelled render set, tools/renders): (facing group, framing) -> demo label
_VIEW_LABEL = {("front", "full_length"): "front_full", ("back", "full_length"): "back_full",
               ("profile", "full_length"): "side_full", ("three_quarter", "full_length"): "threequarter_full",
               ("front", "upper_body"): "front_upper", ("back", "upper_body"): "back_upper",
               ("profile", "upper_body"): "side_upper", ("front", "close_up"): "closeup",
               ("three_quarter", "close_up"): "closeup"}


# the top a product type's listings show, as the render set names it (it has no polo collar: a
# short sleeve polo is shown by a T-shirt render, a long sleeve one by a long-sleeved top)
PRODUCT_GARMENT = {"Short sleeve polo": "tshirt", "Long sleeve polo": "longsleeve", "Crew neck T-shirt": "tshirt",
                   "V-neck T-shirt": "tshirt", "Henley T-shirt": "tshirt", "Oxford shirt": "longsleeve",
                   "Linen shirt": "longsleeve"}
_COVERED = ("jacket", "coat")   # an outfit whose top is under one of these shows that, not the top


@dataclass(frozen=True)
class Outfit:
    """One rendered outfit of assets/views: its top garment and that garment's cloth."""

    group: str
    garment: str
    cloth: str

    def colour(self) -> str:
        """The cloth in a title's words: 'red/black checks' -> 'Red and black check'."""
        words = self.cloth.replace("vstripes", "stripes").split()
        patterns = {"stripes": "striped", "checks": "check", "dots": "polka dot"}
        pattern = patterns.get(words[-1]) if len(words) > 1 else None
        colours = (words[0] if pattern else " ".join(words)).split("/")
        text = " and ".join(colours) + (f" {pattern}" if pattern else "")
        return text[:1].upper() + text[1:]


@lru_cache(maxsize=1)
def view_outfits() -> dict[str, Outfit]:
    """The render set's single-person outfits whose top a demo listing can sell (a T-shirt or a
    long-sleeved shirt, not covered by a jacket or coat), by group."""
    labels = ASSETS_DIR / "views" / "labels.csv"
    if not labels.is_file():
        return {}
    with open(labels, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "person" and str(r.get("n_people") or "1") == "1"]
    out = {}
    for r in rows:
        garments, cloths = r["garments"].split("+"), [c.strip() for c in r["cloth"].split(";")]
        if garments[0] in PRODUCT_GARMENT.values() and not set(garments) & set(_COVERED):
            out[r["product"]] = Outfit(r["product"], garments[0], cloths[0])
    return out


SIZE_CHART_SOURCE = "generated:size_chart"
# A garment type's chart: (measurement, S value in cm, step per size in cm)
_CHART_ROWS = {
    "polo": (("Chest", 96, 6), ("Length", 70, 2), ("Shoulder", 43, 1.5), ("Sleeve", 21, 1)),
    "tee": (("Chest", 92, 6), ("Length", 68, 2), ("Shoulder", 42, 1.5), ("Sleeve", 19, 1)),
    "shirt": (("Chest", 100, 6), ("Length", 74, 2), ("Shoulder", 45, 1.5), ("Sleeve", 62, 1.5), ("Collar", 38, 1)),
}
_CHART_SIZES = ("XS", "S", "M", "L", "XL", "XXL")
_CHART_INK = ((30, 30, 30), (20, 40, 90), (60, 20, 20), (20, 70, 50))


def size_chart(product_type: str, subcategory: str, rng: np.random.Generator) -> Image.Image:
    """A size chart drawn for one listing: its garment type's measurements (cm or inches),
    sizes as columns or rows, its own sizes, header colour and line spacing."""
    from PIL import ImageDraw, ImageFont

    rows = _CHART_ROWS[_ID_PREFIX[subcategory]]
    if "Long sleeve" in product_type:
        rows = tuple((m, v + 40, st) if m == "Sleeve" else (m, v, st) for m, v, st in rows)
    inches = rng.random() < 0.3
    first = int(rng.integers(0, 2))
    sizes = _CHART_SIZES[first:first + int(rng.integers(4, 6))]
    table = [[f"{(v + st * (i + first - 1)) / (2.54 if inches else 1):.0f}" for i in range(len(sizes))]
             for _, v, st in rows]
    header = ["Size", *sizes]
    body = [[m, *vals] for (m, _, _), vals in zip(rows, table)]
    if rng.random() < 0.5:   # sizes down the side instead
        header = ["Size", *[m for m, _, _ in rows]]
        body = [[size, *[table[r][c] for r in range(len(rows))]] for c, size in enumerate(sizes)]
    font = ImageFont.load_default(size=int(rng.integers(18, 25)))
    cell_w, cell_h = int(rng.integers(80, 100)), int(rng.integers(34, 46))
    first_w = cell_w + 40   # the measurement names
    w, top = first_w + cell_w * (len(header) - 1) + 40, 70
    im = Image.new("RGB", (w, top + cell_h * (len(body) + 1) + 30), (255, 255, 255))
    draw = ImageDraw.Draw(im)
    ink = _CHART_INK[int(rng.integers(len(_CHART_INK)))]
    draw.text((20, 20), f"{product_type} size chart ({'inches' if inches else 'cm'})", fill=ink, font=font)
    for r, line in enumerate([header, *body]):
        y = top + r * cell_h
        if r == 0:
            draw.rectangle((20, y, w - 20, y + cell_h), fill=tuple(min(255, c + 190) for c in ink))
        for c, cell in enumerate(line):
            draw.text((28 + (c > 0) * first_w + max(c - 1, 0) * cell_w, y + cell_h // 4), cell, fill=ink, font=font)
        draw.line((20, y + cell_h, w - 20, y + cell_h), fill=ink, width=1)
    return _fit(im)


def _render_colours() -> dict[str, str]:
    """assets/renders: file -> its T-shirt's colour ("navy/denim/white" outfit -> "Navy")."""
    with open(ASSETS_DIR / "renders" / "labels.csv", newline="", encoding="utf-8") as f:
        return {r["file"]: r["outfit"].split("/")[0].capitalize() for r in csv.DictReader(f)}


def _view_shots(pools: dict[str, list[Shot]]) -> None:
    """Add the labelled render set's single-person views, product-only shots and fabric close-ups,
    each tagged with its rendered outfit so one listing can show one garment throughout."""
    labels = ASSETS_DIR / "views" / "labels.csv"
    if not labels.is_file():
        return
    with open(labels, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    outfits = view_outfits()
    for r in rows:
        src, group = f"views/{r['file']}", r.get("product") or ""
        outfit = outfits.get(group)
        if outfit is None:   # a two-person scene, a dress, a top under a jacket: no listing of ours shows it
            continue
        if r["kind"] == "flat_lay":
            pools["flat_lay"].append(Shot("flat_lay", src, "none", "product", "crop", group=group,
                                          garment=r["garments"], colour=outfits[group].colour()))
        elif r["kind"] == "fabric":
            if r["cloth"] == outfit.cloth:   # the top's own cloth
                pools["fabric"].append(Shot("fabric", src, "none", "flat", "crop", group=group, garment=outfit.garment,
                                            colour=outfit.colour()))
        elif r["kind"] == "person" and str(r.get("n_people") or "1") == "1" and r.get("facing") \
                and str(r.get("blazepose_detected", "1")) == "1":   # the demo's truth needs a readable pose
            facing = r["facing"].replace("_left", "").replace("_right", "")
            label = _VIEW_LABEL.get((facing, r["framing"]))
            if label is None:
                continue
            kind = "pad" if r["framing"] == "full_length" else "crop"
            view = "side" if facing == "profile" else facing.replace("three_quarter", "threequarter")
            pools[label].append(Shot(label, src, view, label.split("_")[-1], kind, group=group,
                                     garment=outfit.garment, colour=outfit.colour()))
            if r["framing"] == "full_length":
                pools["far"].append(Shot("far", src, view, "far", "far", group=group, garment=outfit.garment,
                                         colour=outfit.colour()))


@cache
def _load(source: str) -> Image.Image:
    with Image.open(ASSETS_DIR / source) as im:
        im.load()
        return im.convert("L") if im.mode == "L" else im.convert("RGB")


def _fit(im: Image.Image, max_side: int = MAX_SIDE) -> Image.Image:
    """Downscale so the long side is at most ``max_side`` (never upscale)."""
    scale = max_side / max(im.size)
    if scale >= 1:
        return im
    return im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)


def _cut(im: Image.Image, box) -> Image.Image:
    w, h = im.size
    return im.crop((round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h)))


def _pad_into(im: Image.Image, size: tuple[int, int], left: int, top: int) -> Image.Image:
    """Place ``im`` in a larger frame, continuing its border pixels (studio backdrop look)."""
    a = np.asarray(im)
    pad = [(top, size[1] - im.height - top), (left, size[0] - im.width - left)]
    if a.ndim == 3:
        pad.append((0, 0))
    return Image.fromarray(np.pad(a, pad, mode="edge"))


def _zoom_out(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Shrink to 90-100 % and re-centre with a small offset: the whole figure stays in."""
    s = rng.uniform(0.9, 1.0)
    small = im.resize((round(im.width * s), round(im.height * s)), Image.BILINEAR)
    free_x, free_y = im.width - small.width, im.height - small.height
    return _pad_into(small, im.size, int(rng.integers(0, free_x + 1)), int(rng.integers(0, free_y + 1)))


def _zoom_in(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Crop a 90-100 % window; the top moves least so heads are not cut off."""
    s = rng.uniform(0.9, 1.0)
    w, h = round(im.width * s), round(im.height * s)
    x0 = int(rng.integers(0, im.width - w + 1))
    y0 = int(rng.integers(0, (im.height - h) // 3 + 1))
    return im.crop((x0, y0, x0 + w, y0 + h))


def _far(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Full-body render's figure at 35-45 % of a 384x512 frame, studio backdrop extended around it.

    Only renders: their plain backdrop extends cleanly, a photo's edges would smear.
    """
    canvas = (384, 512)
    h = round(canvas[1] * rng.uniform(0.35, 0.45) / _RENDER_FIGURE_SHARE)
    w = round(im.width * h / im.height)
    small = im.resize((w, h), Image.LANCZOS)
    left = int(rng.integers(0, canvas[0] - w + 1))
    top = int(rng.integers(round(0.25 * canvas[1]), canvas[1] - h + 1))
    return _pad_into(small, canvas, left, top)


def _fabric(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A square texture crop dyed a garment colour."""
    side = int(rng.integers(256, 385))
    x0 = int(rng.integers(0, im.width - side + 1))
    y0 = int(rng.integers(0, im.height - side + 1))
    grey = np.asarray(im.crop((x0, y0, x0 + side, y0 + side)), dtype=np.float32) / 255.0
    dye = np.asarray(_FABRIC_RGB[int(rng.integers(len(_FABRIC_RGB)))], dtype=np.float32)
    rgb = (0.35 + 0.9 * grey[..., None]) * dye[None, None, :]
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def _chart(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """An 85-100 % window of the text image, enlarged to the full width."""
    s = rng.uniform(0.85, 1.0)
    w, h = round(im.width * s), round(im.height * s)
    x0 = int(rng.integers(0, im.width - w + 1))
    y0 = int(rng.integers(0, im.height - h + 1))
    crop = im.crop((x0, y0, x0 + w, y0 + h))
    return crop.resize((MAX_SIDE, round(MAX_SIDE * h / w)), Image.LANCZOS)


def _tint(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Brightness and (for colour sources) a slight colour cast, as between photo shoots."""
    gains = rng.uniform(0.95, 1.05) * (1.0 + rng.normal(0.0, 0.02, size=len(im.getbands())))
    lut = np.clip(np.rint(np.arange(256)[None, :] * gains[:, None]), 0, 255).astype(int)
    return im.point(lut.ravel().tolist())


@cache
def _base(shot: Shot) -> Image.Image:
    """The shot's region of its asset, mirrored if asked, at most 512 px: shared by all jitters."""
    im = _fit(_cut(_load(shot.source), shot.box))
    return ImageOps.mirror(im) if shot.mirror else im


def render_shot(shot: Shot, rng: np.random.Generator) -> Image.Image:
    """One jittered RGB image for ``shot``, long side <= 512 px."""
    if shot.kind == "table":
        raise ValueError("a size chart is drawn for its listing: size_chart(product_type, subcategory, rng)")
    im = _base(shot)
    if shot.kind == "pad":
        im = _zoom_out(im, rng)
    elif shot.kind == "crop":
        im = _zoom_in(im, rng)
    elif shot.kind == "far":
        im = _far(im, rng)
    elif shot.kind == "fabric":
        im = _fabric(im, rng)
    elif shot.kind == "chart":
        im = _chart(im, rng)
    else:
        raise ValueError(f"unknown shot kind {shot.kind!r}")
    return _tint(im, rng).convert("RGB")


@dataclass
class _Product:
    product_id: str
    title: str
    subcategory: str
    product_type: str
    labels: list[str]
    avg_rating: float
    n_ratings: int
    group: str = ""   # its rendered outfit (assets/views), whose top it sells
    name: str = ""    # the title without its colour: "V-neck T-shirt 07"


def _order(subcategory: str, labels: list[str]) -> list[str]:
    """Sort labels into the subcategory's listing order (repeats stay together)."""
    rank = {label: i for i, label in enumerate(TYPICAL_FRAMINGS[subcategory])}
    return sorted(labels, key=lambda label: rank[label])


def _rich_labels(subcategory: str, n_images: int, rng: np.random.Generator) -> list[str]:
    """Typical non-key framings, each key framing with p = 0.5, then repeated person shots."""
    keys = KEY_FRAMINGS[subcategory]
    labels = [x for x in TYPICAL_FRAMINGS[subcategory] if x not in keys or rng.random() < 0.5]
    if len(labels) > n_images:
        labels = [labels[i] for i in sorted(rng.choice(len(labels), n_images, replace=False))]
    people = [x for x in labels if x in PERSON_LABELS]
    cycle = [people[i] for i in rng.permutation(len(people))]
    labels += [cycle[i % len(cycle)] for i in range(n_images - len(labels))]
    return _order(subcategory, labels)


def _sparse_labels(subcategory: str, n_images: int, rng: np.random.Generator) -> list[str]:
    """``n_images`` distinct typical framings, at least one of them with a person in it."""
    typical = TYPICAL_FRAMINGS[subcategory]
    people = [x for x in typical if x in PERSON_LABELS]
    first = people[int(rng.integers(len(people)))]
    rest = [x for x in typical if x != first]
    picked = [rest[i] for i in rng.choice(len(rest), n_images - 1, replace=False)]
    return _order(subcategory, [first, *picked])


def _plan(seed: int) -> list[_Product]:
    """The catalogue's products and the pose label of each of their images."""
    rng = np.random.default_rng(seed)
    products: list[_Product] = []
    for subcategory in DEMO_SUBCATEGORIES:
        roles = (["reference"] * int(rng.integers(18, 23)) + ["middle"] * 3
                 + ["subject"] * int(rng.integers(10, 13)))
        roles = [roles[i] for i in rng.permutation(len(roles))]
        seen_types = PRODUCT_TYPES[subcategory]
        n_unseen = 0
        for k, role in enumerate(roles, start=1):
            if role == "reference":
                labels = _rich_labels(subcategory, int(rng.integers(10, 13)), rng)
            elif role == "middle":
                labels = _rich_labels(subcategory, int(rng.integers(5, 10)), rng)
            else:
                labels = _sparse_labels(subcategory, int(rng.integers(2, 5)), rng)
            if role == "subject" and subcategory == UNSEEN_SUBCATEGORY and n_unseen < _N_UNSEEN:
                product_type, n_unseen = UNSEEN_PRODUCT_TYPE, n_unseen + 1
            else:
                product_type = seen_types[k % 2]
            colour = _COLOURS[int(rng.integers(len(_COLOURS)))]
            outfits = [o for _, o in sorted(view_outfits().items()) if o.garment == PRODUCT_GARMENT[product_type]]
            pick = np.random.default_rng([seed, len(products)])   # its own draw: the rest of the plan stays
            outfit = outfits[int(pick.integers(len(outfits)))] if outfits else None
            if outfit is not None:   # the title names what the photos show
                colour = outfit.colour()
            rating, n_ratings = popularity(
                count_key_framings(subcategory, labels), rng.normal(0.0, 0.15), rng.normal(0.0, 0.3)
            )
            products.append(_Product(
                product_id=f"{_ID_PREFIX[subcategory]}-{k:02d}",
                title=f"{colour} {_TITLE_NOUN[product_type]} {k:02d}",
                subcategory=subcategory,
                product_type=product_type,
                labels=labels,
                avg_rating=rating,
                n_ratings=n_ratings,
                group=outfit.group if outfit is not None else "",
                name=f"{_TITLE_NOUN[product_type]} {k:02d}",
            ))
    return products


def _pick_shots(labels: list[str], rng: np.random.Generator, group: str = "", garment: str = "") -> list[Shot]:
    """A recipe per image; a repeated label uses a different source while any is left, and every
    image comes from the listing's one rendered outfit where that outfit has the shot, else from
    another shoot of the same garment (a flat lay or fabric only ever of the listing's own garment)."""
    used: set[Shot] = set()
    shots = []
    for label in labels:
        pool = shot_pools()[label]
        same = [s for s in pool if s.garment in (garment, "")]
        if same or label in ("flat_lay", "fabric"):
            pool = same or [s for s in pool if s.group == group]
        own = [s for s in pool if s.group == group]
        if own and rng.random() >= OTHER_SHOOT_SHARE:   # now and then a photo from another shoot
            pool = own
        fresh = [s for s in pool if s not in used] or list(pool)
        shot = fresh[int(rng.integers(len(fresh)))]
        used.add(shot)
        shots.append(shot)
    return shots


def build_demo(
    out_dir: Path | str,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> DemoBuild:
    """Write the demo images and ``manifest.csv`` under ``out_dir``, replacing an earlier build."""
    out_dir = Path(out_dir)
    image_root = out_dir / "images"
    manifest_path = out_dir / "manifest.csv"
    manifest_path.unlink(missing_ok=True)
    if image_root.exists():
        shutil.rmtree(image_root)
    image_root.mkdir(parents=True)

    products = _plan(seed)
    try:
        rows = _write_images(products, image_root, seed, progress)
    finally:
        # Decoded assets are only worth keeping for one build, not for the app's lifetime.
        _base.cache_clear()
        _load.cache_clear()

    with open(manifest_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(MANIFEST_COLUMNS)
        writer.writerows(rows)
    return DemoBuild(manifest_path, image_root, len(products), len(rows), seed)


def _write_images(products: list[_Product], image_root: Path, seed: int, progress) -> list[tuple]:
    """Render and save every product's images; return their manifest rows."""
    rows = []
    for index, product in enumerate(products):
        garment = view_outfits()[product.group].garment if product.group else ""
        shots = _pick_shots(product.labels, np.random.default_rng([seed, index]), product.group, garment)
        colours = [s.colour for s in shots if s.colour]
        if colours:   # the title names the top most of its photos show (its outfit's, unless that lacks the shots)
            own = view_outfits()[product.group].colour() if product.group else ""
            shown = max(sorted(set(colours)), key=lambda c: (colours.count(c), c == own))
            product.title = f"{shown} {product.name}"
        product_dir = image_root / product.product_id
        product_dir.mkdir()
        for position, shot in enumerate(shots, start=1):
            rng = np.random.default_rng([seed, index, position])
            image = (size_chart(product.product_type, product.subcategory, rng) if shot.kind == "table"
                     else render_shot(shot, rng))
            rel = f"{product.product_id}/{position:02d}_{shot.label}.jpg"
            image.save(image_root / rel, format="JPEG", quality=JPEG_QUALITY)
            rows.append((
                product.product_id, product.title, CATEGORY, product.subcategory, product.product_type,
                f"{product.avg_rating:.2f}", product.n_ratings, rel, position, shot.label,
                shot.view, shot.framing, shot.source,
            ))
        if progress is not None:
            progress(Progress("demo", index + 1, len(products), f"{product.product_id}: {len(shots)} images"))
    return rows


def install_demo(store, seed: int = 0, progress: ProgressFn | None = None):
    """Build the demo into ``<data dir>/demo`` and make it the store's catalogue: what
    `unposed demo` and the app's demo button both run. Returns the import report."""
    from .manifest import import_into_store

    build = build_demo(Path(store.data_dir) / "demo", seed=seed, progress=progress)
    report = import_into_store(store, build.manifest_path, build.image_root, progress, f"demo (seed {seed})")
    if not report.applied:
        raise ValueError(f"the demo catalogue did not import: {report.summary()}")
    store.set_meta("demo_manifest", str(build.manifest_path))
    return report
