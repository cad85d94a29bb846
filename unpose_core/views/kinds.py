"""The kind of an image without a person: size chart, fabric close-up, flat lay or other.

Called only when the pose model found no person; reads the measurements of
:func:`unpose_core.views.measure.measure_image` (no pixels). Hand-written rules rather than a
trained classifier, because there is no labelled set of real non-human catalogue images to
train on (only generated examples and a few skimage photos), and because each rule reads as
one sentence a seller-support person can check against the image. A rule may have a few
variants (alternative sentences); it holds when one of them does:

* **size chart** - a table (>= 2 long thin horizontal and >= 2 vertical lines, >= 10
  glyph-size marks, a mostly flat background) or plain text (>= 25 glyph-size marks making up
  most of the ink, sparse high-contrast ink on a mostly flat background of few colours, with a
  plain margin: a polka-dot fabric's dots are glyph-size marks too, but they run off every edge). Text
  smaller than ~1/50 of the image's long side (under 3 px at the 256 px work size) is not seen;
* **fabric** - texture fills the frame and has fine detail (the Laplacian variance is >= 1 % of
  the grey variance: a smooth gradient or a blurred photo has none), and no object of >= 15 % of
  the image stands clear of a plain border (that is a patterned garment laid on a textured
  backdrop, a flat lay):

  - *fine weave*: most cells (>= 70 %) of an 8x8 grid are textured and the cells are alike
    (low coefficient of variation of their gradient energy), so there is no outline and no plain
    area;
  - *coarse pattern* (large checks, big polka dots, wide stripes): at most 3 dominant colours in
    large flat patches (>= 85 % near-uniform pixels), the pattern runs off the edges (at most
    65 % of the border fits one smooth background), repeats (periodicity >= 0.3) and its edges are in
    at least half the grid cells, fairly evenly (cv <= 0.75). A photo or a scene has more
    colours or fewer flat areas; a landscape has a plain sky along its border;
* **flat lay** - one garment-sized object on a plain background, not a crisp rectangle (a box, a
  card, packaging):

  - *whole*: the border fits a smooth (possibly shaded) background surface (>= 90 %), the largest
    foreground component covers 8-95 % of the image, barely touches the frame (<= 10 % of its
    outer ring) and is most of the foreground;
  - *cut by one edge* (a hanger or flat-lay shot whose hem or legs run out of the frame): the
    garment's box reaches at most one side of the frame, it covers <= 25 % of the frame's outer
    ring and 8-85 % of the image, >= 75 % of the border is the smooth background (the other
    sides are clean), it is nearly all the foreground (>= 90 %), its outline is compact (>= 90 %
    of its convex hull: no arms held apart, no poles, no gap between two figures) and its box is
    at least 0.7 times as wide as tall (a shirt or tee; a standing figure cut at the knees is
    narrower, and so are trousers or a dress, which are not caught cut);
* **other** - everything else (landscapes, logos, boxes, busy scenes).

The rules are tried in that order: a table on white would otherwise pass as a flat lay, and a
page of large text fills the frame like a fabric; a woven check has glyph-size squares, so text
needs a flat background, and a dim brick-like fabric has flat areas, so text needs contrast
(Canny edges). Checked on generated cases (tests/test_views_image.py, tests/test_kinds_cropped.py)
and on the demo catalogue (``unpose_core.catalog.demo``). Limits: a pale garment on a pale
backdrop that the background model does not separate (no foreground at all) stays "other"; a
person photo the pose model missed, on a studio backdrop, reads as a flat lay (the measurements
cannot tell a body from a garment), and a compact upper-body one cut by the bottom edge (two
people side by side) can read as a garment cut by one edge; a high-contrast garment whose cut
covers much of one side bends the fitted background surface so that the whole frame reads as
foreground (not a flat lay); small regular dots read as text (the text rule comes first).

Each condition has a margin ``(value - threshold) / scale`` clipped to [-1, 1]; a variant's
strength is its smallest margin, a rule's strength the largest of its variants', and the rule
holds when that is >= 0. The confidence of the chosen kind is ``0.5 + 0.5 * strength``; for
OTHER it is ``0.5 + 0.5 * min(-strength)`` over all rules (how clearly each one failed).
``evidence`` holds every rule's strength (``rules``), every variant's (``variants``, keyed
``rule/variant``), the variant that decided (``variant``) and the features used.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .vocab import ImageKind

# size chart: table
TABLE_MIN_LINES = 2             # long straight lines in each direction
TABLE_MIN_GLYPHS = 10           # glyph-size marks (numbers, letters) in the cells
TEXT_MIN_FLAT = 0.45            # fraction of near-uniform pixels (the paper) for a table or text
# size chart: text without lines
TEXT_MIN_GLYPHS = 25
TEXT_MIN_GLYPH_FRACTION = 0.40  # glyph-size marks hold most of the ink
TEXT_MAX_INK = 0.30             # ink is sparse
TEXT_MAX_COLOURS = 3            # background and ink (and one highlight)
TEXT_MIN_EDGES = 0.02           # Canny edge pixels: ink on paper is high-contrast (a dim fabric is not)
TEXT_MIN_BORDER = 0.75          # a page has a plain margin: the border fits the background (a dotted fabric
                                # runs off every edge: 0.2-0.5 on the demo's polka dots, 1.0 on its charts)
# fabric
FABRIC_MIN_DETAIL = 0.01        # Laplacian variance / grey variance: a gradient has ~0.001, the faintest weave ~0.05
FABRIC_MAX_CLEAR_OBJECT = 0.15  # no object this large (share of the image) stands clear of a plain border
CLEAR_MAX_TOUCH = 0.02          # "clear": the object covers at most 2 % of the frame's outer ring ...
CLEAR_MIN_BORDER = 0.90         # ... and the border fits the smooth background
FABRIC_MIN_COVERAGE = 0.70      # fine weave: textured grid cells (a faint weave misses a few cells' 1-level floor)
FABRIC_MAX_TEXTURE_CV = 0.35    # ... and the cells are alike
COARSE_MIN_COVERAGE = 0.50      # coarse pattern: its edges reach at least half the cells ...
COARSE_MAX_TEXTURE_CV = 0.75    # ... fairly evenly
COARSE_MAX_COLOURS = 3          # two or three dyes
COARSE_MIN_FLAT = 0.85          # in large flat patches
COARSE_MAX_BORDER = 0.65        # the pattern runs off the edges: no plain background around it
COARSE_MIN_PERIODICITY = 0.30   # the pattern repeats
# flat lay
FLAT_MIN_BORDER = 0.90          # border pixels on the fitted background
FLAT_MIN_AREA = 0.08            # largest foreground component, fraction of the image
FLAT_MAX_AREA = 0.95
FLAT_MAX_TOUCH = 0.10           # fraction of the frame's outer ring covered by foreground
FLAT_MIN_DOMINANCE = 0.60       # largest component / all foreground
BOX_MIN_FILL = 0.95             # a crisp rectangle: component fills its box ...
BOX_MIN_SOLIDITY = 0.97         # ... and its hull
# flat lay cut by one edge
CUT_MIN_BORDER = 0.75           # the three untouched sides are background
CUT_MAX_TOUCH = 0.25            # about one side of the outer ring
CUT_MAX_AREA = 0.85
CUT_MAX_SIDES = 1.5             # frame sides the garment's box reaches (0..4): at most one
CUT_MIN_DOMINANCE = 0.90
CUT_MIN_BOX_ASPECT = 0.70       # box width / height in pixels: a garment laid out, not a standing figure
CUT_MIN_SOLIDITY = 0.90         # a compact outline: no limbs, poles or gaps between figures
SIDE_EPS = 0.01                 # a box edge within 1 % of the frame's side reaches it


@dataclass(frozen=True)
class KindDecision:
    """The kind of an image without a person, how sure the rules are (0.5..1) and why."""

    kind: ImageKind
    confidence: float
    evidence: dict = field(default_factory=dict)


# (feature, ">=" or "<=", threshold, scale): the margin is (value - threshold) / scale, sign-flipped for "<="
_Condition = tuple[str, str, float, float]
# (variant name, its conditions): the rule holds when one variant's conditions all hold
_Variant = tuple[str, tuple[_Condition, ...]]

RULES: dict[str, tuple[ImageKind, tuple[_Variant, ...]]] = {
    "table": (ImageKind.SIZE_CHART, (("table", (
        ("line_h", ">=", TABLE_MIN_LINES, 2.0),
        ("line_v", ">=", TABLE_MIN_LINES, 2.0),
        ("glyph_count", ">=", TABLE_MIN_GLYPHS, 10.0),
        ("flat_fraction", ">=", TEXT_MIN_FLAT, 0.2),
    )),)),
    "text": (ImageKind.SIZE_CHART, (("text", (
        ("glyph_count", ">=", TEXT_MIN_GLYPHS, 25.0),
        ("glyph_fraction", ">=", TEXT_MIN_GLYPH_FRACTION, 0.2),
        ("ink_fraction", "<=", TEXT_MAX_INK, 0.1),
        ("flat_fraction", ">=", TEXT_MIN_FLAT, 0.2),
        ("dominant_colours", "<=", TEXT_MAX_COLOURS, 2.0),
        ("edge_density", ">=", TEXT_MIN_EDGES, 0.02),
        ("border_uniformity", ">=", TEXT_MIN_BORDER, 0.2),
    )),)),
    "fabric": (ImageKind.FABRIC, (
        ("fine", (
            ("texture_coverage", ">=", FABRIC_MIN_COVERAGE, 0.1),
            ("texture_cv", "<=", FABRIC_MAX_TEXTURE_CV, 0.2),
            ("detail", ">=", FABRIC_MIN_DETAIL, 0.01),
            ("fg_clear_area", "<=", FABRIC_MAX_CLEAR_OBJECT, 0.05),
        )),
        ("coarse", (
            ("texture_coverage", ">=", COARSE_MIN_COVERAGE, 0.1),
            ("texture_cv", "<=", COARSE_MAX_TEXTURE_CV, 0.2),
            ("dominant_colours", "<=", COARSE_MAX_COLOURS, 2.0),
            ("flat_fraction", ">=", COARSE_MIN_FLAT, 0.05),
            ("border_uniformity", "<=", COARSE_MAX_BORDER, 0.2),
            ("periodicity", ">=", COARSE_MIN_PERIODICITY, 0.2),
            ("detail", ">=", FABRIC_MIN_DETAIL, 0.01),
            ("fg_clear_area", "<=", FABRIC_MAX_CLEAR_OBJECT, 0.05),
        )),
    )),
    "flat_lay": (ImageKind.FLAT_LAY, (
        ("whole", (
            ("border_uniformity", ">=", FLAT_MIN_BORDER, 0.1),
            ("fg_area", ">=", FLAT_MIN_AREA, 0.1),
            ("fg_area", "<=", FLAT_MAX_AREA, 0.05),
            ("fg_border_touch", "<=", FLAT_MAX_TOUCH, 0.1),
            ("fg_dominance", ">=", FLAT_MIN_DOMINANCE, 0.2),
            ("fg_boxiness", "<=", 0.0, 0.03),
        )),
        ("cut", (
            ("border_uniformity", ">=", CUT_MIN_BORDER, 0.1),
            ("fg_area", ">=", FLAT_MIN_AREA, 0.1),
            ("fg_area", "<=", CUT_MAX_AREA, 0.05),
            ("fg_border_touch", "<=", CUT_MAX_TOUCH, 0.1),
            ("fg_sides", "<=", CUT_MAX_SIDES, 0.5),
            ("fg_dominance", ">=", CUT_MIN_DOMINANCE, 0.1),
            ("fg_box_aspect", ">=", CUT_MIN_BOX_ASPECT, 0.2),
            ("fg_solidity", ">=", CUT_MIN_SOLIDITY, 0.05),
            ("fg_boxiness", "<=", 0.0, 0.03),
        )),
    )),
}


def _num(signals: Mapping, key: str) -> float:
    return float(signals.get(key, 0.0) or 0.0)


def _derived(signals: Mapping) -> dict[str, float]:
    """The features the rules read: measured ones, plus foreground dominance, boxiness, sides
    reached, box aspect, clear object and fine detail."""
    f = {k: _num(signals, k) for _, variants in RULES.values() for _, cond in variants for k, *_ in cond}
    total = _num(signals, "fg_total")
    area = _num(signals, "fg_area")
    f["fg_dominance"] = area / total if total > 0 else 0.0
    # > 0 when the largest component is a crisp rectangle (box, card): fill and solidity above their limits
    f["fg_boxiness"] = min(_num(signals, "fg_fill") - BOX_MIN_FILL, _num(signals, "fg_solidity") - BOX_MIN_SOLIDITY)
    x0, y0, x1, y1 = (_num(signals, k) for k in ("fg_x0", "fg_y0", "fg_x1", "fg_y1"))
    if area > 0:
        # frame sides the largest component's box reaches (0..4); no foreground reaches none
        f["fg_sides"] = float((x0 <= SIDE_EPS) + (y0 <= SIDE_EPS) + (x1 >= 1 - SIDE_EPS) + (y1 >= 1 - SIDE_EPS))
    else:
        f["fg_sides"] = 0.0
    # the box's width / height in pixels (the box is in fractions of width and height)
    aspect = _num(signals, "aspect") or 1.0
    f["fg_box_aspect"] = (x1 - x0) * aspect / (y1 - y0) if y1 > y0 else 0.0
    # the largest component when it stands clear of a plain border (a garment on a textured backdrop), else 0
    clear = (_num(signals, "fg_border_touch") <= CLEAR_MAX_TOUCH
             and _num(signals, "border_uniformity") >= CLEAR_MIN_BORDER)
    f["fg_clear_area"] = area if clear else 0.0
    # Laplacian variance (``blur``) / grey variance: how much of the tonal variation is pixel-scale detail
    grey_var = (255.0 * _num(signals, "contrast")) ** 2
    f["detail"] = _num(signals, "blur") / grey_var if grey_var > 1e-6 else 0.0
    return f


def _margin(f: Mapping[str, float], condition: _Condition) -> float:
    key, op, threshold, scale = condition
    m = (f[key] - threshold) / scale
    return max(-1.0, min(1.0, m if op == ">=" else -m))


def _variants(f: Mapping[str, float]) -> dict[str, float]:
    return {f"{name}/{vname}": round(min(_margin(f, c) for c in cond), 4)
            for name, (_, variants) in RULES.items() for vname, cond in variants}


def _rules(variants: Mapping[str, float]) -> dict[str, float]:
    return {name: max(variants[f"{name}/{vname}"] for vname, _ in vs) for name, (_, vs) in RULES.items()}


def variant_strengths(signals: Mapping) -> dict[str, float]:
    """Every variant's strength in [-1, 1] (>= 0: it holds), keyed ``rule/variant``."""
    return _variants(_derived(signals))


def rule_strengths(signals: Mapping) -> dict[str, float]:
    """Every rule's strength in [-1, 1] (>= 0: the rule holds): the best of its variants."""
    return _rules(variant_strengths(signals))


def classify_nonhuman(signals: Mapping) -> KindDecision:
    """The kind of an image in which no person was found, from ``measure_image``'s dict (never PERSON)."""
    f = _derived(signals)          # the features once; every variant and rule reads them
    variants = _variants(f)
    strengths = _rules(variants)
    evidence = {"rules": strengths, "variants": variants,
                "features": {k: round(v, 4) for k, v in sorted(f.items())}}
    for name, (kind, rule_variants) in RULES.items():
        if strengths[name] >= 0:
            s = strengths[name]
            if kind is ImageKind.SIZE_CHART:   # table or text: the stronger of the two
                s = max(v for n, v in strengths.items() if RULES[n][0] is kind)
            evidence["rule"] = name
            evidence["variant"] = max((vname for vname, _ in rule_variants), key=lambda v: variants[f"{name}/{v}"])
            return KindDecision(kind, round(0.5 + 0.5 * s, 4), evidence)
    evidence["rule"] = "none"
    evidence["variant"] = "none"
    return KindDecision(ImageKind.OTHER, round(0.5 + 0.5 * min(-s for s in strengths.values()), 4), evidence)
