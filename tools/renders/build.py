"""Build the labelled render set ``assets/views/`` (test data, not a run-time dependency).

Renders every group of ``tools/renders/figure.py`` with headless Blender (one Blender process per
group, so a crash loses at most one group; finished images are skipped, so the build resumes),
converts the PNGs to JPEGs and writes ``labels.csv``. Blender 3.4 is needed only here
(``apt-get install -y blender``); run it through ``make renders``.

    python tools/renders/build.py [--work build/views_png] [--out assets/views] [--groups v01,p1] [--no-render]
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from unpose_core.views.vocab import facing_from_yaw  # noqa: E402

SCRIPT = Path(__file__).with_name("figure.py")
COLUMNS = ("file", "kind", "product", "scene", "n_people", "yaw_deg", "facing", "framing", "yaw2_deg", "facing2",
           "product2", "front_side", "pose", "body", "skin", "hair", "garments", "cloth", "background", "light",
           "camera_lens_mm", "camera_height_m", "camera_distance_m", "width", "height", "render_s")


@dataclass
class BuildConfig:
    """Where to render and write, and what."""

    work: Path = ROOT / "build" / "views_png"
    out: Path = ROOT / "assets" / "views"
    blender: str = "blender"
    groups: tuple[str, ...] = ()
    render: bool = True
    long_side: int = 512
    quality: int = 85


@dataclass
class BuildResult:
    """What a build produced."""

    n_images: int
    counts: dict[str, int]
    render_seconds: float
    labels_csv: Path


def list_groups(cfg: BuildConfig) -> list[str]:
    """The render groups the generator defines, in order."""
    out = subprocess.run([cfg.blender, "-b", "-P", str(SCRIPT), "--", "--list"], capture_output=True, text=True,
                         check=True).stdout
    return [line.split()[1] for line in out.splitlines() if line.startswith("GROUP ")]


def render_group(cfg: BuildConfig, group: str) -> None:
    """Render one group into ``cfg.work`` (images already there are skipped)."""
    cmd = [cfg.blender, "-b", "-P", str(SCRIPT), "--", "--group", group, "--out", str(cfg.work),
           "--long-side", str(cfg.long_side)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("RENDERED") or "Error" in line and "EGL" not in line:
            print(f"[{group}] {line.rstrip()}", flush=True)
    if proc.wait() != 0:
        raise RuntimeError(f"blender failed on group {group} (exit {proc.returncode})")


def label_row(meta: dict) -> dict[str, str]:
    """One labels.csv row from a render's JSON sidecar; facing follows ``facing_from_yaw``."""
    row = dict.fromkeys(COLUMNS, "")
    for k, v in meta.items():
        if k in row:
            row[k] = str(v)
    if meta.get("kind") == "person":
        row["facing"] = facing_from_yaw(meta["yaw_deg"]).value
        if "yaw2_deg" in meta:
            row["facing2"] = facing_from_yaw(meta["yaw2_deg"]).value
    return row


def convert(cfg: BuildConfig) -> list[dict[str, str]]:
    """PNG + JSON in ``cfg.work`` -> JPEG in ``cfg.out``; returns the label rows (sorted by file)."""
    cfg.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for js in sorted(cfg.work.glob("*.json")):
        meta = json.loads(js.read_text())
        png = js.with_suffix(".png")
        jpg = cfg.out / meta["file"]
        if not jpg.exists() or jpg.stat().st_mtime < png.stat().st_mtime:
            im = Image.open(png).convert("RGB")
            if max(im.size) != cfg.long_side:
                s = cfg.long_side / max(im.size)
                im = im.resize((round(im.width * s), round(im.height * s)), Image.LANCZOS)
            im.save(jpg, "JPEG", quality=cfg.quality, optimize=True)
        with Image.open(jpg) as im:
            meta["width"], meta["height"] = im.size
        rows.append(label_row(meta))
    return rows


def build(cfg: BuildConfig) -> BuildResult:
    """Render (unless ``cfg.render`` is false), convert and write ``labels.csv``."""
    cfg.work.mkdir(parents=True, exist_ok=True)
    if cfg.render:
        for g in cfg.groups or tuple(list_groups(cfg)):
            t0 = time.time()
            render_group(cfg, g)
            print(f"group {g} done in {time.time() - t0:.0f} s", flush=True)
    rows = convert(cfg)
    path = cfg.out / "labels.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["kind"]] = counts.get(r["kind"], 0) + 1
    total = sum(float(r["render_s"] or 0) for r in rows)
    return BuildResult(n_images=len(rows), counts=counts, render_seconds=total, labels_csv=path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=BuildConfig.work)
    ap.add_argument("--out", type=Path, default=BuildConfig.out)
    ap.add_argument("--blender", default="blender")
    ap.add_argument("--groups", default="", help="comma-separated group names (default: all)")
    ap.add_argument("--no-render", action="store_true", help="only convert what is rendered and write labels")
    a = ap.parse_args(argv)
    cfg = BuildConfig(work=a.work, out=a.out, blender=a.blender, groups=tuple(g for g in a.groups.split(",") if g),
                      render=not a.no_render)
    res = build(cfg)
    print(f"{res.n_images} images {res.counts}, render time {res.render_seconds:.0f} s, labels {res.labels_csv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
