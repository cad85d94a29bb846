"""The non-person kinds on cropped product shots and coarse-pattern fabrics (``views.kinds``).

Generated cases with known answers: a garment silhouette on a plain backdrop cut by one edge of
the frame is a flat lay, the same silhouette cut by two opposite edges or filling the frame is
not; large checks and big polka dots filling the frame are fabric; a landscape, smooth noise and
gradients are "other". Plus the labelled renders of ``assets/views`` cropped the way the demo
catalogue crops them (``catalog.demo.render_shot``), and people photos that must not turn into a
flat lay or a fabric when the pose model misses the person."""
from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import PHOTOS
from PIL import Image, ImageDraw, ImageFilter

from unpose_core.images import load_rgb
from unpose_core.views.kinds import KindDecision, classify_nonhuman
from unpose_core.views.measure import measure_image
from unpose_core.views.vocab import ImageKind

# a T-shirt on a hanger (fractions of its box): shoulders, short sleeves, body down to the hem
TEE = [(0.30, 0.10), (0.42, 0.08), (0.50, 0.14), (0.58, 0.08), (0.70, 0.10), (0.86, 0.22), (0.80, 0.34),
       (0.72, 0.30), (0.72, 1.00), (0.28, 1.00), (0.28, 0.30), (0.20, 0.34), (0.14, 0.22)]
# a shirt with long sleeves hanging close to the body
SHIRT = [(0.36, 0.10), (0.44, 0.08), (0.50, 0.13), (0.56, 0.08), (0.64, 0.10), (0.80, 0.16), (0.86, 0.30),
         (0.88, 0.95), (0.78, 0.95), (0.76, 0.40), (0.75, 1.00), (0.25, 1.00), (0.24, 0.40), (0.22, 0.95),
         (0.12, 0.95), (0.14, 0.30), (0.20, 0.16)]


def kind_of(img: np.ndarray) -> KindDecision:
    return classify_nonhuman(measure_image(np.ascontiguousarray(img)))


def garment(shape, box, w: int = 512, h: int = 512, colour=(90, 130, 200), bg=(215, 222, 230), seed: int = 0,
            shade: bool = True) -> np.ndarray:
    """``shape`` drawn into ``box`` (x0, y0, x1, y1 as fractions of the frame; parts past 0..1 are cut
    off by the frame) on a plain, slightly shaded backdrop, with fabric and sensor noise."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = box
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).polygon([((x0 + px * (x1 - x0)) * w, (y0 + py * (y1 - y0)) * h) for px, py in shape], fill=255)
    m = (np.asarray(mask.filter(ImageFilter.GaussianBlur(1.0))) / 255.0)[..., None]
    base = np.ones((h, w, 3)) * np.array(bg, float)
    if shade:
        yy, xx = np.mgrid[0:h, 0:w]
        base *= (1.0 - 0.08 * (xx + yy) / max(h, w))[..., None]
    gar = np.ones((h, w, 3)) * np.array(colour, float) + rng.normal(0, 4, (h, w, 3))
    return np.clip(base * (1 - m) + gar * m + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8)


def figure(box, w: int = 384, h: int = 512, colour=(60, 90, 60), bg=(220, 222, 225)) -> np.ndarray:
    """A standing person's head, shoulders and arms (arms apart from the torso), cut at the waist by
    the bottom edge: the shape of a missed upper-body photo."""
    x0, y0, x1, y1 = box
    im = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(im)

    def p(px, py):
        return ((x0 + px * (x1 - x0)) * w, (y0 + py * (y1 - y0)) * h)

    d.ellipse([*p(0.40, 0.00), *p(0.60, 0.20)], fill=(200, 160, 130))                 # head
    d.polygon([p(0.30, 0.25), p(0.70, 0.25), p(0.66, 1.0), p(0.34, 1.0)], fill=colour)  # torso
    d.polygon([p(0.22, 0.26), p(0.29, 0.26), p(0.26, 0.90), p(0.18, 0.90)], fill=colour)  # arms
    d.polygon([p(0.71, 0.26), p(0.78, 0.26), p(0.82, 0.90), p(0.74, 0.90)], fill=colour)
    rng = np.random.default_rng(0)
    return np.clip(np.asarray(im, float) + rng.normal(0, 2, (h, w, 3)), 0, 255).astype(np.uint8)


def checks(w: int, h: int, period: float, c0, c1, angle: float = 0.0, seed: int = 0) -> np.ndarray:
    """A large check (squares of ``period / 2`` px) filling the frame."""
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    u, v = xx * np.cos(angle) + yy * np.sin(angle), -xx * np.sin(angle) + yy * np.cos(angle)
    a = ((u // (period / 2)) % 2 == 0) ^ ((v // (period / 2)) % 2 == 0)
    img = np.where(a[..., None], np.array(c0, float), np.array(c1, float))
    img += np.random.default_rng(seed).normal(0, 5, img.shape)
    return np.asarray(Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8)))


def dots(w: int, h: int, spacing: float, radius: float, dot, ground, seed: int = 0) -> np.ndarray:
    """Big polka dots in staggered rows filling the frame."""
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    xs = xx + ((yy // spacing) % 2) * spacing / 2
    d = (xs % spacing - spacing / 2) ** 2 + (yy % spacing - spacing / 2) ** 2 < radius ** 2
    img = np.where(d[..., None], np.array(dot, float), np.array(ground, float))
    img += np.random.default_rng(seed).normal(0, 5, img.shape)
    return np.asarray(Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8)))


def landscape(w: int = 640, h: int = 480, seed: int = 0) -> np.ndarray:
    """A graded sky over a hill and a noisy meadow, the horizons running across the frame."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    img = np.stack([120 + 80 * yy / h, 170 + 50 * yy / h, 235 + 0 * yy], -1)
    hill = 0.55 * h + 0.08 * h * np.sin(xx[0] / w * 5 + 1) + 0.04 * h * np.sin(xx[0] / w * 13)
    meadow = 0.75 * h + 0.05 * h * np.sin(xx[0] / w * 3)
    img = np.where((yy > hill[None, :])[..., None], np.array([90, 120, 90]) + rng.normal(0, 10, (h, w, 3)), img)
    img = np.where((yy > meadow[None, :])[..., None], np.array([70, 110, 40]) + rng.normal(0, 20, (h, w, 3)), img)
    return np.clip(img, 0, 255).astype(np.uint8)


def clouds(w: int, h: int, scale: int, seed: int = 0) -> np.ndarray:
    """Smooth colour noise (features ``scale`` px across): no pixel-scale detail."""
    g = np.random.default_rng(seed).normal(0, 1, (h // scale + 2, w // scale + 2, 3))
    im = Image.fromarray(np.clip(128 + 70 * g, 0, 255).astype(np.uint8)).resize((w, h), Image.BICUBIC)
    return np.asarray(im.filter(ImageFilter.GaussianBlur(scale / 4)))


def gradient(w: int, h: int, c0, c1, diagonal: bool = False) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    t = (xx + yy) / 2 if diagonal else yy
    return (np.array(c0, float) * (1 - t[..., None]) + np.array(c1, float) * t[..., None]).astype(np.uint8)


# ---------------------------------------------------------------- flat lay cut by one edge
CUT_BOTTOM = [
    ("tee-blue", lambda: garment(TEE, (0.12, 0.12, 0.88, 1.06))),
    ("tee-blue-low", lambda: garment(TEE, (0.10, 0.15, 0.90, 1.10), seed=1)),
    ("tee-red", lambda: garment(TEE, (0.12, 0.12, 0.88, 1.06), colour=(200, 120, 120), bg=(240, 232, 228))),
    ("tee-red-low", lambda: garment(TEE, (0.10, 0.15, 0.90, 1.10), colour=(200, 120, 120), bg=(240, 232, 228))),
    ("shirt-red", lambda: garment(SHIRT, (0.10, 0.15, 0.90, 1.10), colour=(200, 120, 120), bg=(240, 232, 228))),
]


@pytest.mark.parametrize("make", [m for _, m in CUT_BOTTOM], ids=[n for n, _ in CUT_BOTTOM])
def test_garment_cut_by_the_bottom_edge_is_a_flat_lay(make):
    img = make()
    d = kind_of(img)
    assert d.kind is ImageKind.FLAT_LAY, d.evidence
    assert d.evidence["variant"] == "cut", d.evidence
    assert d.evidence["features"]["fg_sides"] == 1
    # the same garment with the frame turned a quarter: cut by a side edge instead
    assert kind_of(np.rot90(img)).kind is ImageKind.FLAT_LAY


@pytest.mark.parametrize("box, turn", [((0.12, -0.25, 0.88, 1.25), 0), ((0.12, -0.25, 0.88, 1.25), 1),
                                       ((-0.3, -0.2, 1.3, 1.4), 0), ((-0.2, -0.1, 1.2, 1.3), 0)],
                         ids=["top-and-bottom", "left-and-right", "fills-frame", "fills-frame-2"])
@pytest.mark.parametrize("colours", [((90, 130, 200), (215, 222, 230)), ((200, 120, 120), (240, 232, 228))],
                         ids=["blue", "red"])
def test_garment_cut_by_opposite_edges_or_filling_the_frame_is_not_a_flat_lay(box, turn, colours):
    d = kind_of(np.rot90(garment(TEE, box, colour=colours[0], bg=colours[1]), turn))
    assert d.kind is not ImageKind.FLAT_LAY, d.evidence


@pytest.mark.parametrize("box", [(0.15, 0.08, 0.85, 1.15), (0.2, 0.05, 0.8, 1.3), (0.1, 0.1, 0.9, 1.1)])
def test_upper_body_figure_cut_at_the_waist_is_not_a_flat_lay(box):
    """A missed upper-body photo: head on top, arms apart from the torso (not a compact outline)."""
    d = kind_of(figure(box))
    assert d.kind is not ImageKind.FLAT_LAY, d.evidence


def test_a_box_cut_by_the_edge_is_not_a_flat_lay():
    img = np.full((512, 512, 3), 240, np.uint8)
    img[200:, 120:400] = (170, 120, 70)        # a cardboard box running out at the bottom
    assert kind_of(img).kind is not ImageKind.FLAT_LAY


# ---------------------------------------------------------------- coarse-pattern fabric
@pytest.mark.parametrize("make", [
    lambda: checks(512, 512, 120, (180, 30, 40), (20, 20, 20)),
    lambda: checks(600, 800, 160, (240, 240, 235), (40, 60, 120), seed=1),
    lambda: checks(512, 512, 100, (230, 200, 60), (60, 110, 60), angle=0.4, seed=2),
    lambda: dots(512, 512, 100, 28, (245, 245, 245), (30, 50, 110)),
    lambda: dots(640, 480, 140, 40, (20, 20, 20), (220, 60, 70), seed=1),
    lambda: dots(512, 640, 128, 36, (250, 230, 200), (120, 30, 60), seed=2),
    lambda: dots(512, 512, 120, 34, (245, 245, 245), (30, 50, 110), seed=3),
    lambda: dots(600, 600, 150, 45, (250, 250, 250), (200, 40, 60), seed=4),
], ids=["check-120", "check-160-tall", "check-100-diagonal", "dots-100", "dots-140", "dots-128-tall", "dots-120",
        "dots-150"])
def test_large_checks_and_polka_dots_are_fabric(make):
    d = kind_of(make())
    assert d.kind is ImageKind.FABRIC, d.evidence


# ---------------------------------------------------------------- other
@pytest.mark.parametrize("make", [
    lambda: landscape(),
    lambda: landscape(800, 500, seed=1),
    lambda: clouds(640, 480, 32),
    lambda: clouds(512, 512, 64, seed=1),
    lambda: gradient(640, 480, (20, 40, 200), (250, 200, 150)),
    lambda: gradient(640, 480, (0, 0, 0), (255, 255, 255)),
    lambda: gradient(480, 640, (0, 0, 0), (255, 255, 255), diagonal=True),
], ids=["landscape", "landscape-wide", "smooth-noise", "smooth-noise-coarse", "gradient-colour", "gradient-grey",
        "gradient-diagonal"])
def test_scenes_noise_and_gradients_are_other(make):
    d = kind_of(make())
    assert d.kind is ImageKind.OTHER, d.evidence


@pytest.mark.parametrize("name", ["skimage_astronaut.png", "skimage_camera.png", "matplotlib_grace_hopper.jpg"])
def test_people_photos_and_their_crops_are_neither_flat_lay_nor_fabric(name):
    """Photos whose person the pose model might miss: whole and cut to windows (corners, bottom,
    top) they read neither as a garment nor as a fabric."""
    a = load_rgb(PHOTOS / name)
    h, w = a.shape[:2]
    for x0, y0, x1, y1 in [(0, 0, 1, 1), (0, 0, .6, .6), (.4, .4, 1, 1), (0, .3, 1, 1), (.2, 0, .8, .7), (0, 0, 1, .6)]:
        d = kind_of(a[int(y0 * h):int(y1 * h), int(x0 * w):int(x1 * w)])
        assert d.kind not in (ImageKind.FLAT_LAY, ImageKind.FABRIC), (name, (x0, y0, x1, y1), d.evidence)


# ---------------------------------------------------------------- the labelled renders, cropped like the demo
def _view_rows(kind: str) -> list[str]:
    from unpose_core.catalog.demo import ASSETS_DIR

    with open(ASSETS_DIR / "views" / "labels.csv", newline="", encoding="utf-8") as f:
        return [r["file"] for r in csv.DictReader(f) if r["kind"] == kind]


@pytest.mark.parametrize("kind, min_share", [("flat_lay", 0.55), ("fabric", 0.85)])
def test_demo_crops_of_the_view_renders(kind, min_share):
    """Every flat-lay (fabric) render of assets/views, cut to a 90-100 % window and tinted by the demo's
    generator (three draws each, fixed seed), reads as its kind in at least ``min_share`` of the shots.
    The rest: pale garments on pale backdrops that the background model does not separate, garments
    filling the frame or cut by three sides (flat lays); faint weaves and dots read as text (fabric)."""
    from unpose_core.catalog.demo import Shot, render_shot

    files = _view_rows(kind)
    assert len(files) >= 20
    rng = np.random.default_rng(0)
    got = []
    for file in files:
        shot = Shot(kind, f"views/{file}", "none", "product" if kind == "flat_lay" else "flat", "crop")
        for _ in range(3):
            got.append(kind_of(np.asarray(render_shot(shot, rng))).kind)
    share = sum(k is ImageKind(kind) for k in got) / len(got)
    assert share >= min_share, (kind, share)
    if kind == "flat_lay":   # a crop of a product shot is never read as a fabric close-up
        assert ImageKind.FABRIC not in got


# ---------------------------------------------------------------- evidence
def test_evidence_names_rule_and_variant():
    d = kind_of(dots(640, 480, 140, 40, (20, 20, 20), (220, 60, 70), seed=1))
    assert set(d.evidence["rules"]) == {"table", "text", "fabric", "flat_lay"}
    assert set(d.evidence["variants"]) == {"table/table", "text/text", "fabric/fine", "fabric/coarse",
                                           "flat_lay/whole", "flat_lay/cut"}
    assert d.evidence["rule"] == "fabric" and d.evidence["variant"] in ("fine", "coarse")
    assert d.evidence["rules"]["fabric"] == max(d.evidence["variants"]["fabric/fine"],
                                                d.evidence["variants"]["fabric/coarse"])
    assert 0.5 <= d.confidence <= 1
    o = kind_of(gradient(640, 480, (0, 0, 0), (255, 255, 255)))
    assert o.evidence["rule"] == "none" and o.evidence["variant"] == "none"
