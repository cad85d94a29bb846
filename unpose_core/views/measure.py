"""Cheap image-only measurements, taken once per image at extraction time and stored with the
landmarks. Raw numbers only: every decision (image kind, quality, duplicates) is a pure rule
over this dict elsewhere in :mod:`unpose_core.views`, so a changed rule never re-reads pixels.

All measurements except ``width``/``height`` are taken on a *work copy*: the image resized
(see :func:`work_copy`) so that its long side is ``WORK_SIDE`` = 256 pixels, keeping the
aspect ratio; colour, border and foreground on a half-size copy of it (128 px). Measuring at
a fixed size is what makes ``blur`` and ``edge_sharpness`` independent of the input
resolution: the same picture at 1024 and 512 px gives the same numbers (exact 2x halvings);
a 0.75x copy, resampled twice, reads softer (edge_sharpness differs by 15 %, blur by 57 %,
medians over the 151 bench images). An image smaller than 256 px is upscaled, so a tiny image reads as
soft, which is what it looks like on a listing page. Cost: 3.5..4.5 ms CPU per 512x768 image
on one core of this 2-core VM, depending on its load (``benchmarks/bench_views_cost.py``).

Background model: the outer ``BORDER_FRACTION`` (4 %) of the work copy is taken as the
border; a quadratic surface in (x, y) is fitted to its CIELAB colour (so a shaded or
vignetted backdrop is still "plain"), and every pixel farther than ``FG_DISTANCE`` Lab units
from that surface is foreground. The foreground keys only mean something when the border is
uniform (``border_uniformity`` near 1).

| key | meaning | range |
|---|---|---|
| ``width``, ``height`` | size in pixels (of the file if ``original_size`` is given) | int >= 1 |
| ``aspect`` | width / height | float > 0 |
| ``blur`` | variance of the 3x3 Laplacian of the grey work copy (grey 0..255); low = blurred or flat | float >= 0 |
| ``phash``, ``dhash`` | imagehash pHash / dHash (64 bit) of a 64x64 grey copy: pHash within 2 bits of | 16 hex chars |
| | imagehash on the full image, dHash within 9 (on the assets); compare only hashes from here | |
| ``brightness`` | mean grey level / 255 | 0..1 |
| ``contrast`` | standard deviation of grey / 255 | 0..0.5 |
| ``edge_density`` | fraction of Canny (50/150) edge pixels | 0..1 |
| ``edge_pixels`` | number of those edge pixels (``edge_sharpness`` is unreliable below ~50) | int >= 0 |
| ``edge_sharpness`` | 10th percentile over edge pixels of (3x3 max abs Laplacian) / gradient: ~1 / edge | float >= 0 |
| | width, contrast-independent; sharp images >= 0.44, sigma-1 blur at work size < 0.4; 0 if no edges | |
| ``line_h``, ``line_v`` | long (>= 1/6 of the side) thin (<= ~3 px) dark horizontal / vertical lines | int >= 0 |
| ``line_fraction`` | fraction of dark ("ink") pixels that lie on such lines | 0..1 |
| ``ink_fraction`` | pixels darker than their 15x15 neighbourhood by > 10 levels (lighter on a dark page) | 0..1 |
| ``glyph_count`` | ink components of glyph size (off lines, 4 px .. 1 % of the image, height <= 1/4) | int >= 0 |
| ``glyph_fraction`` | fraction of ink pixels in glyph-size components | 0..1 |
| ``otsu_separability`` | between-class / total grey variance at Otsu's threshold (1 = two-tone) | 0..1 |
| ``mean_saturation`` | mean HSV saturation | 0..1 |
| ``colourfulness`` | Hasler-Suesstrunk colourfulness / 100 | 0..~1.5 |
| ``near_white_fraction`` | pixels with value >= 220 and saturation <= 30 (of 255) | 0..1 |
| ``flat_fraction`` | near-uniform pixels: gradient < 10 % of the image's 99th-percentile gradient (>= 1 level) | 0..1 |
| ``dominant_colours`` | colour bins (4 levels per RGB channel) holding >= 5 % of the pixels | int 0..20 |
| ``border_uniformity`` | fraction of border pixels within ``FG_DISTANCE`` of the fitted background | 0..1 |
| ``border_residual`` | RMS Lab distance of border pixels to the fitted background | float >= 0 |
| ``border_lightness`` | mean border L* / 100 | 0..1 |
| ``fg_area`` | largest foreground component / image area | 0..1 |
| ``fg_total`` | all foreground / image area | 0..1 |
| ``fg_components`` | foreground components larger than 0.5 % of the image | int >= 0 |
| ``fg_x0``, ``fg_y0``, ``fg_x1``, ``fg_y1`` | box of the largest component, fractions of width / height | 0..1 |
| ``fg_fill`` | largest component area / its bounding-box area | 0..1 |
| ``fg_solidity`` | largest component area / its convex-hull area | 0..1 |
| ``fg_border_touch`` | fraction of the outermost pixel ring that is foreground | 0..1 |
| ``texture_coverage`` | 8x8 grid cells whose mean gradient >= 30 % of the 75th-percentile cell's (>= 1 level) | 0..1 |
| ``texture_cv`` | coefficient of variation of the cells' mean gradient (low = homogeneous texture) | float >= 0 |
| ``periodicity`` | repeat strength of the centre 64 px patch of the half copy (``_periodicity``): ~1 stripes | 0..1 |
"""
from __future__ import annotations

import functools
import math

import cv2
import imagehash
import numpy as np
from PIL import Image

MEASURE_VERSION = 1          # bump when a key's meaning or computation changes (re-extracts the pose cache)
WORK_SIDE = 256              # long side of the work copy every measurement is taken on
BORDER_FRACTION = 0.04       # border strip width, fraction of the short side
HALF_MIN_SIDE = 16           # colour and foreground are measured at half the work size if that keeps >= 16 px
FG_DISTANCE = 12.0           # Lab distance (L 0..100 scale) from the background surface that counts as foreground
DARK_PAGE = 96               # mean grey below this: a dark page whose ink is light (grey is inverted)
INK_BLOCK = 15               # neighbourhood of the adaptive "ink" threshold
INK_OFFSET = 10              # grey levels darker than the neighbourhood mean to count as ink
RIDGE_OFFSET = 2             # a thin line is darker than the pixels this far on both sides ...
RIDGE_CONTRAST = 20          # ... by this many grey levels
LINE_MIN_FRACTION = 1 / 6    # a straight line spans at least this fraction of the side
FLAT_RELATIVE = 0.10         # a pixel is near-uniform below this fraction of the 99th-percentile gradient ...
FLAT_MIN_GRADIENT = 1.0      # ... or below 1 grey level per pixel (contrast-relative: a dark, low-contrast
                             # fabric is no plain paper, a sharp text's paper is)
TEXTURE_GRID = 8             # cells per side of the texture grid
TEXTURE_RELATIVE = 0.30      # a cell is textured at this fraction of the 75th-percentile cell's gradient ...
TEXTURE_MIN_GRADIENT = 1.0   # ... and at least 1 grey level per pixel
HASH_INPUT = 64              # side of the grey copy handed to imagehash
EDGE_SAMPLE = 1000           # edge pixels sampled (evenly) for edge_sharpness
EDGE_QUANTILE = 10           # percentile of the edges' sharpness: the softest tenth of the edges; a median is
                             # fooled by stripes and dots, whose Laplacian/gradient ratio a blur does not change
PERIOD_PATCH = 64            # on the half-size copy: the centre half of the image
PERIOD_MIN_LAG = 2           # lags (px) never counted as a repeat
PERIOD_HIGHPASS = 1.5        # sigma of the blur subtracted before the autocorrelation
DOMINANT_SHARE = 0.05        # a dominant colour bin holds at least this share of the pixels

KEYS: tuple[str, ...] = (
    "width", "height", "aspect", "blur", "phash", "dhash", "brightness", "contrast",
    "edge_density", "edge_pixels", "edge_sharpness",
    "line_h", "line_v", "line_fraction", "ink_fraction", "glyph_count", "glyph_fraction", "otsu_separability",
    "mean_saturation", "colourfulness", "near_white_fraction", "flat_fraction", "dominant_colours",
    "border_uniformity", "border_residual", "border_lightness", "fg_area", "fg_total", "fg_components",
    "fg_x0", "fg_y0", "fg_x1", "fg_y1", "fg_fill", "fg_solidity", "fg_border_touch", "texture_coverage",
    "texture_cv", "periodicity",
)
# what every image gets (measure_image(kinds=False)); the rest only serves the kinds without a person
BASIC_KEYS: tuple[str, ...] = ("width", "height", "aspect", "blur", "phash", "dhash", "brightness", "contrast",
                               "edge_density", "edge_pixels", "edge_sharpness")


def _r(x: float) -> float:
    """A JSON-safe float rounded to 4 digits (NaN/inf become 0)."""
    x = float(x)
    return round(x, 4) if math.isfinite(x) else 0.0


def _as_rgb(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"expected an (H, W, 3) image, got shape {a.shape}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] >= 4:
        a = a[:, :, :3]
    elif a.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {a.shape}")
    if a.dtype != np.uint8:
        a = np.clip(np.nan_to_num(a.astype(np.float64)), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a)


def work_copy(image: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    """The image resized so that its long side is ``side``, aspect kept.

    Down: exact 2x area halvings (OpenCV's fast path) while the long side is >= 2 ``side``, then a
    Gaussian anti-alias blur matched to the remaining factor r < 2 (sigma = 0.5 sqrt(r^2 - 1)) and a
    bilinear resize; a non-integer area resize would cost ~10x more. Up (small images): bilinear."""
    a = _as_rgb(image)
    while max(a.shape[:2]) >= 2 * side:
        h, w = a.shape[:2]
        h, w = (h - h % 2 if h > 1 else 1), (w - w % 2 if w > 1 else 1)   # a 1-pixel side stays 1
        a = cv2.resize(a[:h, :w], (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
    h, w = a.shape[:2]
    r = max(h, w) / side
    size = (max(1, round(w / r)), max(1, round(h / r)))
    if size == (w, h):
        return np.ascontiguousarray(a)
    if r > 1:
        a = cv2.GaussianBlur(a, (3, 3), 0.5 * math.sqrt(r * r - 1))   # sigma < 0.9: 3 taps suffice
    return cv2.resize(a, size, interpolation=cv2.INTER_LINEAR)


@functools.lru_cache(maxsize=16)
def _frame(h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a work copy of h x w: the border mask, the quadratic design matrix of every pixel (h*w, 6)
    and the pseudo-inverse of the border pixels' design (the least-squares fit as one product).
    Cached: most catalogue images share a few aspect ratios."""
    b = max(1, round(BORDER_FRACTION * min(h, w)))
    border = np.zeros((h, w), bool)
    border[:b], border[-b:], border[:, :b], border[:, -b:] = True, True, True, True
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y = x / max(w - 1, 1) - 0.5, y / max(h - 1, 1) - 0.5
    design = np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=-1).reshape(h * w, 6)
    for a in (border, design):
        a.setflags(write=False)
    solve = np.linalg.pinv(design[border.ravel()].astype(np.float64)).astype(np.float32)   # (6, n_border)
    solve.setflags(write=False)
    return border, design, solve


def _background(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quadratic surface in (x, y) fitted to the border's Lab colour; returns (Lab distance of every
    pixel to it, the border mask, the border pixels' distances)."""
    h, w = lab.shape[:2]
    border, design, solve = _frame(h, w)
    flat = lab.reshape(h * w, 3)
    coef = solve @ flat[border.ravel()]          # (6, 3) least-squares fit
    diff = flat - design @ coef
    dist = np.sqrt(np.einsum("ij,ij->i", diff, diff)).reshape(h, w)
    return dist, border, dist[border]


@functools.lru_cache(maxsize=4)
def _lag_rings(p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For a p x p circular autocorrelation: the flat indices of the usable lags (radius <= p/2), their
    ring radius, the ring sizes, and their overlap fraction."""
    lag = np.fft.fftfreq(p) * p
    ly, lx = np.meshgrid(lag, lag, indexing="ij")
    r = np.rint(np.hypot(ly, lx)).astype(np.int32).ravel()
    idx = np.flatnonzero(r <= p // 2)
    counts = np.maximum(np.bincount(r[idx], minlength=p // 2 + 1), 1)
    overlap = ((p - np.abs(ly)) * (p - np.abs(lx)) / (p * p)).astype(np.float32).ravel()[idx]
    return idx, r[idx], counts, overlap


def _periodicity(grey: np.ndarray) -> float:
    """How strongly the fine structure repeats: the centre 64 x 64 patch minus its Gaussian (sigma 1.5)
    blur, circularly autocorrelated; past the first ring of lags whose mean autocorrelation drops to
    0 (the pattern has decorrelated), the highest correlation (normalised by overlap). ~1 for
    stripes and checks, low for grass, gravel and smooth images."""
    h, w = grey.shape
    p = min(PERIOD_PATCH, h, w)
    if p < 2 * PERIOD_MIN_LAG + 2:
        return 0.0
    y0, x0 = (h - p) // 2, (w - p) // 2
    patch = grey[y0:y0 + p, x0:x0 + p].astype(np.float32)
    patch = patch - cv2.GaussianBlur(patch, (0, 0), PERIOD_HIGHPASS)   # only the fine structure repeats
    patch = patch - patch.mean()
    energy = float((patch * patch).sum())
    if energy < 1e-6 * p * p:
        return 0.0
    f = cv2.dft(patch)                   # packed real spectrum (CCS): cheaper than a complex one
    ac = cv2.dft(cv2.mulSpectrums(f, f, 0, conjB=True), flags=cv2.DFT_INVERSE | cv2.DFT_REAL_OUTPUT)
    ac = ac / ac[0, 0]
    idx, r, counts, overlap = _lag_rings(p)
    ac = ac.ravel()[idx]
    # the autocorrelation averaged over each ring of lags; a pattern has decorrelated at the first ring
    # whose mean drops to 0. Smooth images never get there (periodicity 0); a repeating pattern comes
    # back to a high correlation at its period.
    ring = np.bincount(r, weights=ac, minlength=p // 2 + 1) / counts
    below = np.flatnonzero(ring[PERIOD_MIN_LAG:] <= 0.0)
    if below.size == 0:
        return 0.0
    far = r >= int(below[0]) + PERIOD_MIN_LAG
    norm = ac[far] / overlap[far]
    return max(0.0, min(1.0, float(norm.max()))) if norm.size else 0.0


def _otsu_separability(grey: np.ndarray, var: float) -> float:
    """Between-class / total variance of the grey histogram at Otsu's threshold (1 = two-tone)."""
    if var <= 1e-6:
        return 0.0
    p = cv2.calcHist([grey], [0], None, [256], [0, 256]).ravel().astype(np.float64)
    p /= p.sum()
    levels = np.arange(256, dtype=np.float64)
    w0 = np.cumsum(p)
    m = np.cumsum(p * levels)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (m[-1] * w0 - m) ** 2 / (w0 * (1 - w0))
    return float(np.nanmax(np.where(np.isfinite(between), between, 0.0)) / var)


def _thin_dark_lines(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels on a thin dark horizontal / vertical line (up to ~3 px wide): darker by more than
    ``RIDGE_CONTRAST`` than both pixels ``RIDGE_OFFSET`` above and below (left and right). A step
    edge (a garment's outline) is no line: only one of its sides is lighter."""
    d = RIDGE_OFFSET
    g = grey.astype(np.int16)
    h_map, v_map = np.zeros(grey.shape, np.uint8), np.zeros(grey.shape, np.uint8)
    if g.shape[0] > 2 * d:
        h_map[d:-d] = (np.minimum(g[: -2 * d], g[2 * d:]) - g[d:-d] > RIDGE_CONTRAST) * np.uint8(255)
    if g.shape[1] > 2 * d:
        v_map[:, d:-d] = (np.minimum(g[:, : -2 * d], g[:, 2 * d:]) - g[:, d:-d] > RIDGE_CONTRAST) * np.uint8(255)
    return h_map, v_map


def measure_image(image: np.ndarray, original_size: tuple[int, int] | None = None, kinds: bool = True) -> dict:
    """The raw measurements of one RGB uint8 image (H, W, 3); see the module docstring for every key.
    JSON-safe (floats rounded to 4 digits, ints, hex strings).

    ``original_size`` = (width, height) of the file when ``image`` was decoded smaller (e.g.
    ``load_rgb``'s 1280 px cap; ``images.probe_image`` reads it from the header): it becomes
    ``width``/``height``. Every other key is measured at the fixed work size, so the cap changes
    nothing else.

    ``kinds=False`` stops after the keys every image needs (:data:`BASIC_KEYS`: size, sharpness,
    hashes, brightness, contrast, edges): extraction skips the rest for a pose the person check
    accepts, whose kind without a person is never asked for. Same as
    ``MeasurePass(image, original_size).result(kinds)``."""
    return MeasurePass(image, original_size).result(kinds)


class MeasurePass:
    """:func:`measure_image` in two stages, for a caller that learns only after the pose model
    whether the kind statistics are needed: constructing it takes the :data:`BASIC_KEYS` (and
    keeps the work copy, its grey and gradient images); :meth:`result` adds the kind statistics
    when asked (once, on the kept images) and returns the dict :func:`measure_image` returns.
    Extraction runs the first stage while the model looks at the same image."""

    def __init__(self, image: np.ndarray, original_size: tuple[int, int] | None = None):
        rgb_full = _as_rgb(image)
        height, width = rgb_full.shape[:2]
        if original_size is not None:
            width, height = max(1, int(original_size[0])), max(1, int(original_size[1]))
        self._rgb = rgb = work_copy(rgb_full)
        h, w = rgb.shape[:2]
        n = h * w
        self._grey = grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        self._g32 = g32 = grey.astype(np.float32)
        out: dict = {"width": int(width), "height": int(height), "aspect": _r(width / height)}

        # sharpness
        lap = cv2.Laplacian(g32, cv2.CV_32F, ksize=1)
        blur = float(lap.var())
        self._var = var = float(g32.var())
        out["blur"] = _r(blur)

        # imagehash hashes a grey 32x32 (phash) / 9x8 (dhash) resize; starting it from 64x64 is cheaper
        pil = Image.fromarray(cv2.resize(grey, (HASH_INPUT, HASH_INPUT), interpolation=cv2.INTER_AREA))
        out["phash"] = _hex(imagehash.phash(pil).hash)
        out["dhash"] = _hex(imagehash.dhash(pil).hash)
        out["brightness"] = _r(g32.mean() / 255)
        out["contrast"] = _r(math.sqrt(var) / 255)
        edges = cv2.Canny(grey, 50, 150)
        n_edges = cv2.countNonZero(edges)
        out["edge_density"] = _r(n_edges / n)
        gx = cv2.Sobel(g32, cv2.CV_32F, 1, 0, ksize=3) / 4   # /4: grey levels per pixel
        gy = cv2.Sobel(g32, cv2.CV_32F, 0, 1, ksize=3) / 4
        self._mag = mag = _magnitude(gx, gy)
        out["edge_pixels"] = n_edges
        if n_edges:
            pts = cv2.findNonZero(edges).reshape(-1, 2)[:: max(1, n_edges // EDGE_SAMPLE)]   # (x, y), evenly sampled
            xs, ys = pts[:, 0], pts[:, 1]
            peak = cv2.dilate(np.abs(lap), None)[ys, xs]                         # 3x3 max of |Laplacian|
            out["edge_sharpness"] = _r(np.percentile(peak / np.maximum(mag[ys, xs], 1e-3), EDGE_QUANTILE))
        else:
            out["edge_sharpness"] = 0.0
        self._out = out
        self._kinds_done = False

    @property
    def basic(self) -> dict:
        """The :data:`BASIC_KEYS` (a new dict)."""
        return {key: self._out[key] for key in BASIC_KEYS}

    def result(self, kinds: bool = True) -> dict:
        """Every key of :data:`KEYS` (``kinds=True``) or only the :data:`BASIC_KEYS` (a new dict)."""
        if not kinds:
            return self.basic
        if not self._kinds_done:
            self._kinds_grey()
            self._kinds_colour()
            self._kinds_done = True
        return {key: self._out[key] for key in KEYS}

    def _kinds_grey(self) -> None:
        """Part 0 of the kind statistics: text, table, flatness and texture, on the grey work copy."""
        out, grey, g32, mag, var = self._out, self._grey, self._g32, self._mag, self._var
        h, w = grey.shape
        n = h * w

        # text / table structure; "ink" is the minority tone: on a mostly dark image (light text on a
        # dark page) the grey copy is inverted first
        paper = 255 - grey if float(g32.mean()) < DARK_PAGE else grey
        block = min(INK_BLOCK, (min(h, w) // 2) * 2 + 1) if min(h, w) >= 3 else 3
        if min(h, w) >= 3:
            ink = cv2.adaptiveThreshold(paper, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block,
                                        INK_OFFSET)
        else:
            ink = np.zeros_like(grey)
        n_ink = cv2.countNonZero(ink)
        kh = cv2.getStructuringElement(cv2.MORPH_RECT, (max(2, int(w * LINE_MIN_FRACTION)), 1))
        kv = cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(2, int(h * LINE_MIN_FRACTION))))
        ridge_h, ridge_v = _thin_dark_lines(paper)
        hl = cv2.morphologyEx(ridge_h, cv2.MORPH_OPEN, kh)
        vl = cv2.morphologyEx(ridge_v, cv2.MORPH_OPEN, kv)
        out["line_h"] = int(cv2.connectedComponents(hl)[0] - 1)
        out["line_v"] = int(cv2.connectedComponents(vl)[0] - 1)
        lines = cv2.bitwise_or(hl, vl)
        out["line_fraction"] = _r(np.count_nonzero(lines) / n_ink if n_ink else 0.0)
        out["ink_fraction"] = _r(n_ink / n)
        rest = cv2.bitwise_and(ink, cv2.bitwise_not(cv2.dilate(lines, np.ones((3, 3), np.uint8))))
        k, _, stats, _ = cv2.connectedComponentsWithStats(rest, connectivity=8)
        area, bh = stats[1:, cv2.CC_STAT_AREA], stats[1:, cv2.CC_STAT_HEIGHT]
        glyph = (area >= 4) & (area <= max(4, 0.01 * n)) & (bh >= 3) & (bh <= max(3, h / 4))
        out["glyph_count"] = int(glyph.sum())
        out["glyph_fraction"] = _r(area[glyph].sum() / n_ink if n_ink else 0.0)
        out["otsu_separability"] = _r(_otsu_separability(grey, var))

        hist = cv2.calcHist([mag], [0], None, [256], [0, 256]).ravel().cumsum()
        p99 = float(np.searchsorted(hist, 0.99 * hist[-1]))                # 99th-percentile gradient, 1-level bins
        flat = mag < max(FLAT_MIN_GRADIENT, FLAT_RELATIVE * p99)
        out["flat_fraction"] = _r(cv2.countNonZero(flat.view(np.uint8)) / n)

        # texture
        h, w = grey.shape
        ch, cw = max(1, h // TEXTURE_GRID), max(1, w // TEXTURE_GRID)
        gh, gw = min(TEXTURE_GRID, h), min(TEXTURE_GRID, w)
        cells = cv2.resize(np.ascontiguousarray(mag[: gh * ch, : gw * cw]), (gw, gh), interpolation=cv2.INTER_AREA)
        textured = cells >= max(TEXTURE_MIN_GRADIENT, TEXTURE_RELATIVE * float(np.percentile(cells, 75)))
        out["texture_coverage"] = _r(np.count_nonzero(textured) / cells.size)
        cm = float(cells.mean())
        out["texture_cv"] = _r(float(cells.std()) / cm if cm > 1e-6 else 0.0)

    def _kinds_colour(self) -> None:
        """Part 1 of the kind statistics: colour, border, foreground and periodicity, on a half-size
        copy of the work copy."""
        out, rgb = self._out, self._rgb
        h, w = rgb.shape[:2]
        # colour, border and foreground on a half-size copy (exact 2x area: cheap); fractions need no 256 px
        if min(h, w) >= 2 * HALF_MIN_SIDE:
            half = cv2.resize(rgb[: h - h % 2, : w - w % 2], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        else:
            half = rgb
        h, w = half.shape[:2]
        n = h * w
        hsv = cv2.cvtColor(half, cv2.COLOR_RGB2HSV)
        s, v = hsv[:, :, 1], hsv[:, :, 2]
        out["mean_saturation"] = _r(s.mean() / 255)
        f = half.astype(np.float32)
        rg, yb = f[:, :, 0] - f[:, :, 1], 0.5 * (f[:, :, 0] + f[:, :, 1]) - f[:, :, 2]
        col = math.hypot(float(rg.std()), float(yb.std())) + 0.3 * math.hypot(float(rg.mean()), float(yb.mean()))
        out["colourfulness"] = _r(col / 100)
        out["near_white_fraction"] = _r(np.count_nonzero((v >= 220) & (s <= 30)) / n)
        bins = cv2.calcHist([half], [0, 1, 2], None, [4, 4, 4], [0, 256, 0, 256, 0, 256])
        out["dominant_colours"] = int(np.count_nonzero(bins >= DOMINANT_SHARE * n))

        # border and foreground
        lab = cv2.cvtColor(half, cv2.COLOR_RGB2LAB).astype(np.float32)
        lab[:, :, 0] *= 100 / 255          # L to 0..100; a, b stay in 0..255 offset 128 (1 unit ~ 1 Lab unit)
        dist, border, bdist = _background(lab)
        out["border_uniformity"] = _r(np.count_nonzero(bdist < FG_DISTANCE) / bdist.size)
        out["border_residual"] = _r(math.sqrt(float((bdist ** 2).mean())))
        out["border_lightness"] = _r(lab[:, :, 0][border].mean() / 100)
        fg = (dist >= FG_DISTANCE).astype(np.uint8)
        if min(h, w) >= 5:
            fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
            fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        k, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
        areas = stats[1:, cv2.CC_STAT_AREA]
        out["fg_total"] = _r(areas.sum() / n)
        out["fg_components"] = int(np.count_nonzero(areas >= 0.005 * n))
        ring = np.concatenate([fg[0], fg[-1], fg[1:-1, 0], fg[1:-1, -1]]) if min(h, w) >= 2 else fg.ravel()
        out["fg_border_touch"] = _r(ring.mean())
        if areas.size:
            i = int(np.argmax(areas)) + 1
            x, y, bw, bh1, a = (int(v) for v in stats[i])
            out["fg_area"] = _r(a / n)
            out.update(fg_x0=_r(x / w), fg_y0=_r(y / h), fg_x1=_r((x + bw) / w), fg_y1=_r((y + bh1) / h))
            out["fg_fill"] = _r(a / (bw * bh1))
            contours, _ = cv2.findContours((labels == i).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            hull = cv2.contourArea(cv2.convexHull(np.concatenate(contours))) if contours else 0.0
            out["fg_solidity"] = _r(min(1.0, a / hull) if hull > 0 else 1.0)
        else:
            out.update(fg_area=0.0, fg_x0=0.0, fg_y0=0.0, fg_x1=0.0, fg_y1=0.0, fg_fill=0.0, fg_solidity=0.0)

        out["periodicity"] = _r(_periodicity(cv2.cvtColor(half, cv2.COLOR_RGB2GRAY)))


def _magnitude(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """``cv2.magnitude(gx, gy)`` into a 64-byte aligned float32 array. OpenCV's square root is
    approximate (1 ulp off on a few % of the pixels) and which pixels depends on where the output
    starts (its SIMD loop against its scalar ends): numpy's 16-byte aligned allocations made it
    vary from call to call, and ``edge_sharpness`` with it in its 4th digit. Aligned, it is the
    result those calls gave whenever the output happened to start on a 32-byte boundary."""
    n = gx.size * 4
    buf = np.empty(n + 64, np.uint8)
    start = (-buf.ctypes.data) % 64
    return cv2.magnitude(gx, gy, buf[start:start + n].view(np.float32).reshape(gx.shape))


def _hex(bits: np.ndarray) -> str:
    """imagehash's hex string of a boolean hash (``str(ImageHash)``: the bits row by row, most
    significant first, zero-padded), without its per-bit Python loop."""
    flat = np.asarray(bits, dtype=bool).ravel()
    pad = (-flat.size) % 8
    raw = np.packbits(np.concatenate([np.zeros(pad, bool), flat]) if pad else flat).tobytes().hex()
    return raw[len(raw) - (flat.size + 3) // 4:] if flat.size % 8 else raw

