"""Image quality flags from the stored measurements (no pixels): too small, or blurred.

Thresholds were set with ``benchmarks/bench_views_cost.py`` on 151 sharp images (the 48 renders
and 8 photos in ``assets/`` and 95 renders of ``assets/views``, 172..768 px on the short side)
against the same images blurred with a Gaussian of sigma 2, 3 and 4 pixels and downscaled to
160 px on the long side:

* ``edge_sharpness`` (10th percentile over edges of the Laplacian / gradient ratio, ~1 / edge
  width, measured at a fixed 256 px work size so it does not depend on the resolution) is
  >= 0.445 on every sharp image and >= 0.400 on their 0.75x copies (resampled twice);
  ``MIN_EDGE_SHARPNESS`` = 0.38 keeps a margin below both and flags 135 / 151 sigma-2, 149 / 151
  sigma-3 and all sigma-4 copies (0.40 would flag 143 / 151 sigma-2 copies, at no margin). A
  sigma of 2 px on a 512 px image is only 1 px at work size, which fine textures and stripes
  survive (their ratio depends on their period, not on the blur), hence the misses; the median
  ratio (instead of the 10th percentile) caught only 120 / 151 sigma-2 copies.
* the Laplacian variance (``blur``) depends on content (sharp: 12 for a plain render .. 6000
  for grass) so it only decides when there are too few edges to measure their width: the 56
  sharp asset images (and their 0.75x copies) have >= 219 edge pixels at 256 px, a sigma-4 copy
  of brick or handwriting has none; an image with fewer than ``MIN_EDGE_PIXELS`` edge pixels and
  ``blur`` < ``MIN_BLUR`` is featureless or very soft (a plain, evenly lit swatch can be
  flagged too: it shows no detail either).
* ``MIN_SIDE`` = 320 px on the short side: a listing page shows images at ~300..600 px; the
  160 px copies are flagged, all originals pass but the 448x172 skimage text.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MIN_SIDE = 320                # pixels, short side
MIN_EDGE_SHARPNESS = 0.38     # edge_sharpness below this: blurred
MIN_EDGE_PIXELS = 50          # fewer edge pixels: edge_sharpness is not measured reliably ...
MIN_BLUR = 15.0               # ... and the Laplacian variance decides


@dataclass(frozen=True)
class QualityFlag:
    """One quality problem: a stable code (``low_resolution``, ``blurred``) and a sentence for the seller."""

    code: str
    text: str


def quality_flags(signals: Mapping, min_side: int = MIN_SIDE, min_blur: float = MIN_BLUR,
                  min_edge_sharpness: float = MIN_EDGE_SHARPNESS) -> list[QualityFlag]:
    """The quality problems of one image, from ``measure_image``'s dict (empty list: no problem).

    Missing keys (older records) raise no flag for the measurement they would need."""
    flags: list[QualityFlag] = []
    w, h = signals.get("width"), signals.get("height")
    if w is not None and h is not None and min(int(w), int(h)) < min_side:
        flags.append(QualityFlag("low_resolution", f"the image is small ({int(w)}x{int(h)} pixels); "
                                                   f"use at least {min_side} pixels on the short side"))
    edges, sharp, blur = signals.get("edge_pixels"), signals.get("edge_sharpness"), signals.get("blur")
    if edges is not None and sharp is not None and int(edges) >= MIN_EDGE_PIXELS:
        if float(sharp) < min_edge_sharpness:
            flags.append(QualityFlag("blurred", f"the image looks blurred or out of focus (edge sharpness "
                                                f"{float(sharp):.2f} < {min_edge_sharpness:.2f})"))
    elif blur is not None and float(blur) < min_blur:
        flags.append(QualityFlag("blurred", f"the image has almost no sharp detail (Laplacian variance "
                                            f"{float(blur):.1f} < {min_blur:.1f})"))
    return flags
