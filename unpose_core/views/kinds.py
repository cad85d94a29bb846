"""The kind of an image without a person: size chart, fabric close-up, flat lay or other.

Called only when the pose model found no person; reads the measurements of
:func:`unpose_core.views.measure.measure_image` (no pixels). Hand-written rules rather than a
trained classifier, because there is no labelled set of real non-human catalogue images to
train on (only generated examples and a few skimage photos), and because each rule reads as
one sentence a seller-support person can check against the image:

* **size chart** - a table (>= 2 long thin horizontal and >= 2 vertical lines, >= 10
  glyph-size marks, a mostly flat background) or plain text (>= 25 glyph-size marks making up
  most of the ink, sparse high-contrast ink on a mostly flat background of few colours). Text
  smaller than ~1/50 of the image's long side (under 3 px at the 256 px work size) is not seen;
* **fabric** - texture fills the frame: nearly every cell of an 8x8 grid is textured and the
  cells are alike (low coefficient of variation of their gradient energy), so there is no
  outline and no plain area;
* **flat lay** - one garment-sized object on a plain background: the border fits a smooth
  (possibly shaded) background surface, the largest foreground component covers 8-95 % of the
  image, barely touches the frame and is most of the foreground; a crisp rectangle (a box, a
  card, packaging) is not a flat lay;
* **other** - everything else (landscapes, logos, boxes, busy scenes).

The rules are tried in that order: a table on white would otherwise pass as a flat lay, and a
page of large text fills the frame like a fabric; a woven check has glyph-size squares, so text
needs a flat background, and a dim brick-like fabric has flat areas, so text needs contrast
(Canny edges). Checked on generated cases (tests/test_views_image.py) and on the demo
catalogue's fabric crops and size charts (``unpose_core.catalog.demo``). Each condition has a
margin ``(value - threshold) / scale`` clipped to [-1, 1]; a rule holds when every margin is
>= 0 and its strength is the smallest margin. The confidence of the chosen kind is
``0.5 + 0.5 * strength``; for OTHER it is ``0.5 + 0.5 * min(-strength)`` over all rules (how
clearly each one failed). ``evidence`` holds every rule's strength and the features used.
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
# fabric
FABRIC_MIN_COVERAGE = 0.90      # textured grid cells
FABRIC_MAX_TEXTURE_CV = 0.35    # the cells are alike
# flat lay
FLAT_MIN_BORDER = 0.90          # border pixels on the fitted background
FLAT_MIN_AREA = 0.08            # largest foreground component, fraction of the image
FLAT_MAX_AREA = 0.95
FLAT_MAX_TOUCH = 0.10           # fraction of the frame's outer ring covered by foreground
FLAT_MIN_DOMINANCE = 0.60       # largest component / all foreground
BOX_MIN_FILL = 0.95             # a crisp rectangle: component fills its box ...
BOX_MIN_SOLIDITY = 0.97         # ... and its hull


@dataclass(frozen=True)
class KindDecision:
    """The kind of an image without a person, how sure the rules are (0.5..1) and why."""

    kind: ImageKind
    confidence: float
    evidence: dict = field(default_factory=dict)


# (feature, ">=" or "<=", threshold, scale): the margin is (value - threshold) / scale, sign-flipped for "<="
_Condition = tuple[str, str, float, float]

RULES: dict[str, tuple[ImageKind, tuple[_Condition, ...]]] = {
    "table": (ImageKind.SIZE_CHART, (
        ("line_h", ">=", TABLE_MIN_LINES, 2.0),
        ("line_v", ">=", TABLE_MIN_LINES, 2.0),
        ("glyph_count", ">=", TABLE_MIN_GLYPHS, 10.0),
        ("flat_fraction", ">=", TEXT_MIN_FLAT, 0.2),
    )),
    "text": (ImageKind.SIZE_CHART, (
        ("glyph_count", ">=", TEXT_MIN_GLYPHS, 25.0),
        ("glyph_fraction", ">=", TEXT_MIN_GLYPH_FRACTION, 0.2),
        ("ink_fraction", "<=", TEXT_MAX_INK, 0.1),
        ("flat_fraction", ">=", TEXT_MIN_FLAT, 0.2),
        ("dominant_colours", "<=", TEXT_MAX_COLOURS, 2.0),
        ("edge_density", ">=", TEXT_MIN_EDGES, 0.02),
    )),
    "fabric": (ImageKind.FABRIC, (
        ("texture_coverage", ">=", FABRIC_MIN_COVERAGE, 0.1),
        ("texture_cv", "<=", FABRIC_MAX_TEXTURE_CV, 0.2),
    )),
    "flat_lay": (ImageKind.FLAT_LAY, (
        ("border_uniformity", ">=", FLAT_MIN_BORDER, 0.1),
        ("fg_area", ">=", FLAT_MIN_AREA, 0.1),
        ("fg_area", "<=", FLAT_MAX_AREA, 0.05),
        ("fg_border_touch", "<=", FLAT_MAX_TOUCH, 0.1),
        ("fg_dominance", ">=", FLAT_MIN_DOMINANCE, 0.2),
        ("fg_boxiness", "<=", 0.0, 0.03),
    )),
}


def _derived(signals: Mapping) -> dict[str, float]:
    """The features the rules read: measured ones, plus foreground dominance and boxiness."""
    f = {k: float(signals.get(k, 0.0) or 0.0) for cond in RULES.values() for k, *_ in cond[1]}
    total = float(signals.get("fg_total", 0.0) or 0.0)
    f["fg_dominance"] = float(signals.get("fg_area", 0.0) or 0.0) / total if total > 0 else 0.0
    # > 0 when the largest component is a crisp rectangle (box, card): fill and solidity above their limits
    f["fg_boxiness"] = min(float(signals.get("fg_fill", 0.0) or 0.0) - BOX_MIN_FILL,
                           float(signals.get("fg_solidity", 0.0) or 0.0) - BOX_MIN_SOLIDITY)
    return f


def rule_strengths(signals: Mapping) -> dict[str, float]:
    """Every rule's strength in [-1, 1] (>= 0: the rule holds) for one image's measurements."""
    f = _derived(signals)
    out = {}
    for name, (_, conditions) in RULES.items():
        margins = []
        for key, op, threshold, scale in conditions:
            m = (f[key] - threshold) / scale
            margins.append(max(-1.0, min(1.0, m if op == ">=" else -m)))
        out[name] = round(min(margins), 4)
    return out


def classify_nonhuman(signals: Mapping) -> KindDecision:
    """The kind of an image in which no person was found, from ``measure_image``'s dict (never PERSON)."""
    strengths = rule_strengths(signals)
    f = _derived(signals)
    evidence = {"rules": strengths, "features": {k: round(v, 4) for k, v in sorted(f.items())}}
    for name, (kind, _) in RULES.items():
        if strengths[name] >= 0:
            s = strengths[name]
            if kind is ImageKind.SIZE_CHART:   # table or text: the stronger of the two
                s = max(v for n, v in strengths.items() if RULES[n][0] is kind)
            evidence["rule"] = name
            return KindDecision(kind, round(0.5 + 0.5 * s, 4), evidence)
    evidence["rule"] = "none"
    return KindDecision(ImageKind.OTHER, round(0.5 + 0.5 * min(-s for s in strengths.values()), 4), evidence)
