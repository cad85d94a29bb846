"""The seller sheet: one self-contained, printable HTML page per product -- the listing's
images, its completeness score, then each missing pose with its hint, confidence and example
photos from the cohort's top listings. Images are embedded (JPEG thumbnails as data URIs), so a
sheet is one file that opens anywhere, offline, and prints on A4 (print CSS: one request per
block, never split over two pages; "Save as PDF" in any browser makes the PDF -- no PDF library
is used, none of the maintained offline ones renders HTML+CSS this simply). A batch (a cohort,
or every subject product) is a zip of sheets with an index page, worst completeness first.
"""
from __future__ import annotations

import base64
import html
import io
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..catalog.selection import select_sets
from ..config import N_REFERENCES, SuggestConfig
from ..images import load_rgb
from ..progress import ProgressFn, ProgressTracker
from ..rank import cohort_keys, cohort_name
from ..runs import Run
from ..store import Store
from ..suggestions import Suggester, Suggestion
from .completeness import explain

THUMB_PX = 320          # longest side of an embedded photo
N_EXAMPLES = N_REFERENCES   # example photos per missing pose
JPEG_QUALITY = 80

_CSS = """
*{box-sizing:border-box} body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1d2129;
margin:24px auto;max-width:960px;padding:0 16px} h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:22px 0 8px}
.meta{color:#5b6270;margin:0 0 12px} .score{display:flex;align-items:center;gap:14px;margin:10px 0 16px}
.score b{font-size:30px} .bar{flex:1;height:12px;background:#e8eaee;border-radius:6px;overflow:hidden}
.bar i{display:block;height:100%;background:#2f7d4f} .bar.c i{background:#3566c4}
.imgs{display:flex;flex-wrap:wrap;gap:10px} figure{margin:0;width:150px} figure img{width:150px;height:190px;
object-fit:contain;background:#f3f4f6;border:1px solid #dde0e5;border-radius:4px} figcaption{font-size:11px;
color:#5b6270;word-break:break-word} .ask{border:1px solid #d5d9e0;border-radius:8px;padding:12px 14px;
margin:12px 0;page-break-inside:avoid;break-inside:avoid} .ask h3{margin:0 0 6px;font-size:15px}
.hint{background:#eef4ff;border-left:4px solid #3566c4;padding:8px 10px;margin:8px 0} .conf{display:flex;
align-items:center;gap:10px;font-size:12px;color:#5b6270} .conf .bar{max-width:220px;height:8px}
.note{background:#fff6e0;border-left:4px solid #d99a00;padding:6px 10px;margin:6px 0;font-size:13px}
.missing-img{display:flex;align-items:center;justify-content:center;width:150px;height:190px;background:#f3f4f6;
color:#8a909c;font-size:11px;border:1px dashed #c9ced6;border-radius:4px}
footer{margin-top:24px;color:#8a909c;font-size:11px} table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #e3e6ea;padding:5px 8px;text-align:left;font-size:13px}
@media print{body{margin:0;max-width:none} a{color:inherit;text-decoration:none} @page{size:A4;margin:14mm}}
"""


def _e(text) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def thumbnail_uri(path: str | Path, max_px: int = THUMB_PX) -> str | None:
    """A JPEG data URI of the image at ``path``, longest side ``max_px`` (None if unreadable)."""
    try:
        rgb = load_rgb(path, max_side=max_px)
    except (OSError, ValueError):
        return None
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(path: str, caption: str, max_px: int) -> str:
    uri = thumbnail_uri(path, max_px)
    img = (f'<img src="{uri}" alt="{_e(caption)}">' if uri
           else '<div class="missing-img">image unavailable</div>')
    return f"<figure>{img}<figcaption>{_e(caption)}</figcaption></figure>"


def _bar(value: float, cls: str = "") -> str:
    pct = max(0.0, min(100.0, value))
    return f'<div class="bar {cls}"><i style="width:{pct:.0f}%"></i></div>'


def render_sheet(sug: Suggestion, n_examples: int = N_EXAMPLES, max_px: int = THUMB_PX) -> str:
    """The seller sheet of one suggestion as a complete HTML document (images embedded)."""
    c = explain(sug)
    title = sug.title or sug.product_id or "Your listing"
    cohort = cohort_name(sug.cohort)
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(title)} · photos to add</title>"
             f"<meta name=viewport content='width=device-width,initial-scale=1'><style>{_CSS}</style></head><body>",
             f"<h1>{_e(title)}</h1>",
             f'<p class="meta">Product <code>{_e(sug.product_id or "upload")}</code> · compared with the top '
             f"listings of <b>{_e(cohort)}</b> · {len(sug.images)} image(s)</p>"]
    if c.score is None:
        parts.append(f'<p class="note">No completeness score: {_e(sug.reason)}</p>')
    else:
        parts.append(f'<div class="score" data-score="{c.score:g}"><b>{c.score:.0f}</b><span>/ 100 complete</span>'
                     f"{_bar(c.score)}</div>"
                     f'<p class="meta">Your usable photos show {sum(e.covered for e in c.expected)} of the '
                     f"{len(c.expected)} poses top listings of this cohort show (the first ones count most). "
                     + (f"Adding the photos below brings it to {c.score + c.gain_requested:.0f}." if sug.missing
                        else "") + "</p>")
    parts.append("<h2>Your photos</h2><div class=imgs>")
    for i, a in enumerate(sug.images, 1):
        bits = [a.view.get("label") if a.view else (a.description or a.status)]
        if a.flags:
            bits.append("⚠ " + ", ".join(f.replace("_", " ") for f in a.flags))
        if a.duplicate_of:
            bits.append("same photo as an earlier one")
        parts.append(_figure(a.image, f"{i}. " + " · ".join(b for b in bits if b), max_px))
    parts.append("</div>")
    parts += [f'<p class="note">{_e(n)}</p>' for n in sug.notes]
    if sug.missing:
        parts.append("<h2>Photos to add, most important first</h2>")
    else:
        parts.append(f"<h2>Nothing to add</h2><p>{_e(sug.reason)}</p>")
    for m in sug.missing:
        parts.append(f'<section class="ask" data-rank="{m.rank}"><h3>{m.rank}. {_e(m.description)}</h3>'
                     f'<div class="hint">{_e(m.hint)}</div>'
                     f'<div class="conf">confidence {m.confidence:.2f}{_bar(100 * m.confidence, "c")}'
                     f"<span>in {m.support:.0%} of the cohort's top listings</span></div>")
        refs = m.references[:n_examples]
        if refs:
            parts.append("<p class=meta>Like these top listings:</p><div class=imgs>")
            parts += [_figure(r.path, f"{r.product_id} · {r.title or ''}", max_px) for r in refs]
            parts.append("</div>")
        parts.append("</section>")
    parts.append(f"<footer>Unposed · run {_e(sug.run_id)} · {_e(sug.reason)}</footer></body></html>")
    return "\n".join(parts)


def sheet_filename(product_id: str | None) -> str:
    """A file name for a product's sheet: letters, digits, ``-``, ``_`` and ``.`` only."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", str(product_id or "upload")).strip("._") or "product"
    return f"{stem[:100]}.html"


def product_sheet(store: Store, run: Run, product_id: str, config: SuggestConfig | None = None,
                  n_examples: int = N_EXAMPLES) -> str:
    """The seller sheet of a catalogue product."""
    s = Suggester(store, run, n_references=n_examples, config=config)
    try:
        return render_sheet(s.for_product(product_id), n_examples)
    finally:
        s.close()


def subject_ids(store: Store, run: Run, cohort: str | None = None) -> list[str]:
    """The subject products (of ``cohort``: a cohort key such as 'Clothing|T-shirts' or
    'Clothing / T-shirts' at any level, matched on the product's own fields)."""
    products, images = store.products(), store.images()
    ids = select_sets(products, images, run.config.selection).subject_ids
    if cohort is None:
        return list(ids)
    key = "|".join(p.strip() for p in re.split(r"\s*[|/]\s*", cohort.strip()))
    by_id = products.set_index("product_id")
    out = [p for p in ids if key in cohort_keys(by_id.loc[p])]
    if not out:
        known = sorted({k for p in ids for k in cohort_keys(by_id.loc[p]) if k != "*"})
        raise LookupError(f"no subject product in cohort {cohort!r}; cohorts: {', '.join(known[:12])}")
    return out


@dataclass(frozen=True)
class SheetBatch:
    """What :func:`sheets_zip` wrote."""

    n_products: int
    files: list[str]
    data: bytes


def sheets_zip(store: Store, run: Run, product_ids: Iterable[str], config: SuggestConfig | None = None,
               n_examples: int = N_EXAMPLES, progress: ProgressFn | None = None) -> SheetBatch:
    """A zip of seller sheets (one HTML file per product) plus ``index.html`` listing them, worst
    completeness first."""
    ids = list(dict.fromkeys(product_ids))
    s = Suggester(store, run, n_references=n_examples, config=config)
    tracker = ProgressTracker("sheets", len(ids), progress)
    buf = io.BytesIO()
    rows, names = [], []
    try:
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for pid in ids:
                sug = s.for_product(pid)
                name = sheet_filename(pid)
                while name in names:   # two ids that sanitise alike
                    name = name.removesuffix(".html") + "_.html"
                z.writestr(name, render_sheet(sug, n_examples))
                names.append(name)
                rows.append((sug.completeness, pid, sug.title, len(sug.missing), name))
                tracker.update()
            rows.sort(key=lambda r: (r[0] is None, r[0] if r[0] is not None else 0.0, r[1]))
            body = "".join(f"<tr><td><a href='{_e(n)}'>{_e(p)}</a></td><td>{_e(t)}</td>"
                           f"<td>{'—' if c is None else f'{c:.0f}'}</td><td>{k}</td></tr>" for c, p, t, k, n in rows)
            z.writestr("index.html", f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Seller sheets"
                                     f"</title><style>{_CSS}</style></head><body><h1>Seller sheets</h1>"
                                     f"<p class=meta>{len(rows)} products, least complete first · run "
                                     f"{_e(run.run_id)}</p><table><tr><th>product</th><th>title</th>"
                                     f"<th>completeness</th><th>photos to add</th></tr>{body}</table></body></html>")
    finally:
        s.close()
        tracker.finish()
    return SheetBatch(len(ids), ["index.html", *names], buf.getvalue())
