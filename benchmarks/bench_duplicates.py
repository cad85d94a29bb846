"""Which perceptual hash, and which Hamming distance, finds near-duplicate images in a listing.

Positives: every base image against an edited copy of itself - JPEG re-encoded (q40, q55, q70),
resized (0.5x, 0.75x), cropped (3 %, 5 %, 8 % of width and height, split at random between the
sides), colour-shifted (brightness x0.9 / x1.1, saturation x0.85 / x1.15, hue +-4 degrees).
Negatives: every pair of different base images, by category: the same rendered figure and
outfit in another view (front_upper_1 vs side_upper_1), in another framing (front_upper_1 vs
front_full_1), the same view and framing in another pose and outfit (front_full_1 vs
front_full_2), other render pairs, and pairs with a photo (different products / people); for
assets/views, by its labels: same product and another yaw, same yaw and another framing, same
product other shot (flat lay vs fabric...), other product.
Base images: assets/renders, assets/photos and (if present) up to ``--max-views`` images of
assets/views. Hashes are those ``measure_image`` stores (pHash, dHash, and both concatenated:
the distance is then the sum).

Prints, per hash and threshold, precision and recall over all pairs, the false positives per
negative category and the recall per edit; then the smallest distance of each negative
category, and the best threshold per hash (highest F1, ties to the smaller distance).

    .venv/bin/python benchmarks/bench_duplicates.py [--max-views 60] [--seed 0]
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import itertools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageEnhance  # noqa: E402

from unpose_core.images import load_rgb  # noqa: E402
from unpose_core.views.duplicates import (  # noqa: E402
    DUPLICATE_HASH_KEYS,
    DUPLICATE_MAX_DISTANCE,
    duplicate_groups,
    duplicate_hash,
    hash_distance,
)
from unpose_core.views.measure import measure_image  # noqa: E402

ASSETS = ROOT / "assets"
HASHES = {"phash": lambda m: m["phash"], "dhash": lambda m: m["dhash"], "phash+dhash": duplicate_hash}


# the same transformations the unit tests check duplicates with (tests/test_views_image.py)
sys.path.insert(0, str(ROOT / "tests"))
from test_views_image import jpeg  # noqa: E402
from test_views_image import resized as resize  # noqa: E402


def crop(img: np.ndarray, frac: float, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    dy, dx = round(h * frac), round(w * frac)
    top, left = int(rng.integers(0, dy + 1)), int(rng.integers(0, dx + 1))
    return img[top: h - (dy - top), left: w - (dx - left)]


def enhance(img: np.ndarray, kind: str, f: float) -> np.ndarray:
    im = Image.fromarray(img)
    return np.asarray((ImageEnhance.Brightness if kind == "bright" else ImageEnhance.Color)(im).enhance(f))


def hue(img: np.ndarray, deg: float) -> np.ndarray:
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV_FULL)
    hsv[:, :, 0] = (hsv[:, :, 0].astype(int) + round(deg * 256 / 360)) % 256
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)


def edits(img: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "jpg40": jpeg(img, 40), "jpg55": jpeg(img, 55), "jpg70": jpeg(img, 70),
        "x0.5": resize(img, 0.5), "x0.75": resize(img, 0.75),
        "crop3": crop(img, 0.03, rng), "crop5": crop(img, 0.05, rng), "crop8": crop(img, 0.08, rng),
        "bright-": enhance(img, "bright", 0.9), "bright+": enhance(img, "bright", 1.1),
        "sat-": enhance(img, "sat", 0.85), "sat+": enhance(img, "sat", 1.15),
        "hue-": hue(img, -4), "hue+": hue(img, 4),
    }


def base_images(max_views: int) -> dict[str, np.ndarray]:
    files = sorted((ASSETS / "renders").glob("*.jpg")) + sorted((ASSETS / "photos").glob("*.*g"))
    views = sorted((ASSETS / "views").glob("*.*g")) if (ASSETS / "views").is_dir() else []
    files += views[:: max(1, len(views) // max_views)][:max_views] if views and max_views else []
    return {f"{p.parent.name}/{p.stem}": load_rgb(p) for p in files}


def view_labels() -> dict[str, dict]:
    """assets/views/labels.csv by image stem ("views/<stem>"), if present."""
    path = ASSETS / "views" / "labels.csv"
    if not path.is_file():
        return {}
    with open(path, newline="") as fh:
        return {f"views/{Path(r['file']).stem}": r for r in csv.DictReader(fh)}


def category(a: str, b: str, labels: dict[str, dict]) -> str:
    """The negative category of a pair of base-image names."""
    if a.startswith("views/") and b.startswith("views/") and a in labels and b in labels:
        la, lb = labels[a], labels[b]
        if la.get("product") != lb.get("product"):
            return "views, other product"
        if la.get("kind") == lb.get("kind") == "person" and la.get("yaw_deg") != lb.get("yaw_deg"):
            return "same figure, other view"
        if la.get("kind") == lb.get("kind") == "person":
            return "same figure, other framing"
        return "views, same product, other shot"
    if not (a.startswith("renders/") and b.startswith("renders/")):
        return "with a photo" if "photos/" in a + b else "renders vs views"
    (va, fa, ka), (vb, fb, kb) = a[8:].split("_"), b[8:].split("_")
    if ka == kb and fa == fb:
        return "same figure, other view"
    if ka == kb and va == vb:
        return "same figure, other framing"
    if va == vb and fa == fb:
        return "same view, other pose"
    return "other renders"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-views", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    bases = base_images(args.max_views)
    measured = {n: measure_image(img) for n, img in bases.items()}
    pos: list[tuple[str, dict, dict]] = []        # (edit, base signals, edited signals)
    for n, img in bases.items():
        for e, out in edits(img, rng).items():
            pos.append((e, measured[n], measure_image(out)))
    labels = view_labels()
    neg = [(category(a, b, labels), measured[a], measured[b]) for a, b in itertools.combinations(bases, 2)]
    edit_names = list(dict.fromkeys(e for e, _, _ in pos))
    cats = list(dict.fromkeys(c for c, _, _ in neg))
    print(f"{dt.date.today()}: {len(bases)} base images, {len(pos)} positive pairs, {len(neg)} negative pairs")
    print("negative categories: " + ", ".join(f"{c} ({sum(x == c for x, _, _ in neg)})" for c in cats))
    best = {}
    for hname, get in HASHES.items():
        dp = np.array([hash_distance(get(a), get(b)) for _, a, b in pos])
        dn = np.array([hash_distance(get(a), get(b)) for _, a, b in neg])
        ep = np.array([e for e, _, _ in pos])
        cn = np.array([c for c, _, _ in neg])
        top = 24 if hname != "phash+dhash" else 40
        print(f"\n### {hname}\n")
        print("| t | precision | recall | F1 | FP | " + " | ".join(f"FP {c}" for c in cats) + " | "
              + " | ".join(edit_names) + " |")
        print("|" + "---|" * (5 + len(cats) + len(edit_names)))
        scores = []
        for t in range(0, top + 1, 2 if hname == "phash+dhash" else 1):
            tp, fp = int((dp <= t).sum()), int((dn <= t).sum())
            p = tp / (tp + fp) if tp + fp else 1.0
            r = tp / len(dp)
            f1 = 2 * p * r / (p + r) if p + r else 0.0
            scores.append((f1, -t))
            print(f"| {t} | {p:.3f} | {r:.3f} | {f1:.3f} | {fp} | "
                  + " | ".join(str(int((dn[cn == c] <= t).sum())) for c in cats) + " | "
                  + " | ".join(f"{(dp[ep == e] <= t).mean():.2f}" for e in edit_names) + " |")
        f1, t = max(scores)
        best[hname] = (-t, f1)
        print("\nsmallest distance per negative category: "
              + ", ".join(f"{c} {int(dn[cn == c].min())}" for c in cats)
              + "; largest distance per edit: " + ", ".join(f"{e} {int(dp[ep == e].max())}" for e in edit_names))
    print("\nbest threshold (max F1): " + "; ".join(f"{h} t={t} F1={f:.3f}" for h, (t, f) in best.items()))
    print(f"in use: DUPLICATE_HASH_KEYS={DUPLICATE_HASH_KEYS}, DUPLICATE_MAX_DISTANCE={DUPLICATE_MAX_DISTANCE}")
    n_groups = len(duplicate_groups([duplicate_hash(m) for m in measured.values()]))
    print(f"duplicate_groups over the {len(measured)} distinct base images: {n_groups} groups (0 is right)")


if __name__ == "__main__":
    main()
