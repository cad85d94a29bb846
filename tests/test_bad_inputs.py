"""A bad-input corpus, generated here (no binary fixtures): every bad file or manifest row gets
its own reason, every good one is imported, and nothing stops the import or the upload.

The good items are the licensed images in assets/photos and assets/renders. No pose model
runs: the whole file takes seconds.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import struct
import tomllib
import unicodedata
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import PHOTOS, RENDERS, ROOT
from PIL import Image

from unpose_core import cli, exports
from unpose_core.catalog import manifest as m
from unpose_core.catalog import uploads
from unpose_core.catalog.manifest import import_catalogue, import_into_store
from unpose_core.images import ImageError, load_rgb, probe_image
from unpose_core.store import Store

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
GOOD_PRODUCT = {"title": "Tee", "category": "Clothing", "subcategory": "T-shirts", "product_type": "Tee",
                "avg_rating": "4.5", "n_ratings": "10"}


# -- generators ------------------------------------------------------------------------------------
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (a decompression bomb's calling card)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + _png_chunk(b"IEND", b""))


def corrupt_sof(jpeg: bytes) -> bytes:
    """A JPEG whose frame header claims 7 colour components: complete, but no decoder takes it."""
    out = bytearray(jpeg)
    out[jpeg.find(b"\xff\xc0") + 9] = 7
    return bytes(out)


def encoded(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def halves(w: int = 64, h: int = 32) -> Image.Image:
    """Left half red, right half blue: its orientation can be read back from the pixels."""
    a = np.zeros((h, w, 3), np.uint8)
    a[:, : w // 2] = (255, 0, 0)
    a[:, w // 2:] = (0, 0, 255)
    return Image.fromarray(a)


@dataclass
class Case:
    name: str                  # what is bad (or good) about it
    path: str                  # the manifest's image_path cell
    kind: str | None           # the expected reason; None = imported
    product: dict | None = None   # overrides of the product columns
    pid: str | None = None     # product_id; default derived from name
    also_kept: bool = False    # a note, not a refusal: the image is still imported

    @property
    def product_id(self) -> str:
        return self.pid if self.pid is not None else f"p-{self.name}"


def build_corpus(tmp_path: Path) -> tuple[Path, list[Case], list[str]]:
    """The image folder, its cases, and raw manifest lines that cannot be parsed (bad_row)."""
    root = tmp_path / "imgs"
    root.mkdir()
    outside = tmp_path / "outside.png"
    outside.write_bytes((PHOTOS / "skimage_grass.png").read_bytes())
    cases: list[Case] = []

    # good: the licensed images, as they are
    for src in [*sorted(PHOTOS.iterdir())[:6], *sorted(RENDERS.glob("*.jpg"))[:6]]:
        (root / src.name).write_bytes(src.read_bytes())
        cases.append(Case(f"good-{src.stem}", src.name, None))
    base = Image.open(RENDERS / "front_full_1.jpg").convert("RGB").resize((96, 128))
    jpeg = encoded(base, "JPEG", quality=90)
    png = encoded(base, "PNG")

    def put(name: str, data: bytes | str) -> str:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        return name

    # good, though unusual: modes, containers and names that must work
    cases += [
        Case("cmyk-jpeg", put("cmyk.jpg", encoded(base.convert("CMYK"), "JPEG")), None),
        Case("16bit-png", put("grey16.png", encoded(base.convert("L").convert("I;16"), "PNG")), None),
        Case("palette-png", put("palette.png", encoded(base.convert("P"), "PNG", transparency=0)), None),
        Case("animated-gif", put("anim.gif", encoded(base.convert("P"), "GIF", save_all=True, duration=100,
                                                     append_images=[base.rotate(20).convert("P")] * 2)), None),
        Case("exif-rotated", put("rotated.jpg", encoded(halves(), "JPEG", exif=_orientation(6))), None),
        Case("webp", put("photo.webp", encoded(base, "WEBP")), None),
        Case("progressive-jpeg", put("progressive.jpg", encoded(base, "JPEG", progressive=True)), None),
        Case("malformed-exif", put("badexif.jpg", encoded(base, "JPEG", exif=b"Exif\0\0II*\0\x08\0\0\0\xff\xff"
                                                                       + b"\x01" * 20)), None),
        Case("jpeg-with-trailing-data", put("motion.jpg", jpeg + b"\0ftypmp42" + os.urandom(2000)), None),
        Case("unicode-name", put("café 日本語 👗.jpg", jpeg), None),
        Case("nfd-on-disk", put(unicodedata.normalize("NFD", "crème.jpg"), jpeg), None),
        Case("nfc-listed-for-nfd-file", unicodedata.normalize("NFC", "crème.jpg"), None),
        Case("quotes-and-commas", put('he said "hi", twice.jpg', jpeg), None),
        Case("windows-backslashes", "sub\\deep\\" + put("sub/deep/win.jpg", jpeg).split("/")[-1], None),
        Case("absolute-inside-root", str(root / put("abs.jpg", jpeg)), None),
        Case("subfolder-dotdot-inside", "sub/../" + put("dotdot-inside.jpg", jpeg), None),
        Case("formula-title", put("formula.jpg", jpeg), None, {"title": '=HYPERLINK("http://x","y")'}),
        Case("decimal-comma-rating", put("comma.jpg", jpeg), None, {"avg_rating": "4,5"}),
        Case("thousands-count", put("thousands.jpg", jpeg), None, {"n_ratings": "1,234"}),
        Case("no-rating", put("norating.jpg", jpeg), None, {"avg_rating": "n/a", "n_ratings": ""}),
    ]

    # bad files
    (root / "loop-a.jpg").symlink_to(root / "loop-b.jpg")
    (root / "loop-b.jpg").symlink_to(root / "loop-a.jpg")
    (root / "self.jpg").symlink_to(root / "self.jpg")
    (root / "to-outside.png").symlink_to(outside)
    (root / "dangling.jpg").symlink_to(root / "nowhere.jpg")
    (root / "a-folder.jpg").mkdir()
    os.mkfifo(root / "pipe.jpg")
    with open(os.fsencode(root) + b"/caf\xe9-latin1.jpg", "wb") as fh:     # a name no manifest can spell
        fh.write(jpeg)
    os.symlink(os.fsencode(root) + b"/caf\xe9-latin1.jpg", root / "to-latin1.jpg")
    locked = put("locked.jpg", jpeg)
    os.chmod(root / locked, 0)
    cases += [
        Case("symlink-loop", "loop-a.jpg", m.BAD_PATH),
        Case("self-symlink", "self.jpg", m.BAD_PATH),
        Case("symlink-outside-root", "to-outside.png", m.PATH_ESCAPE),
        Case("dangling-symlink", "dangling.jpg", m.MISSING_FILE),
        Case("name-too-long", "n" * 300 + ".jpg", m.BAD_PATH),
        Case("path-too-long", "/".join(["d" * 200] * 25) + "/x.jpg", m.BAD_PATH),
        Case("nul-byte", "bad\x00name.jpg", m.BAD_PATH),
        Case("newline-in-path", "bad\nname.jpg", m.MISSING_FILE),
        Case("missing-file", "not-there.jpg", m.MISSING_FILE),
        Case("directory", "a-folder.jpg", m.NOT_A_FILE),
        Case("fifo", "pipe.jpg", m.NOT_A_FILE),
        Case("symlink-to-non-utf8-name", "to-latin1.jpg", m.BAD_PATH),
        Case("corrupt-jpeg-header", put("corrupt.jpg", corrupt_sof(jpeg)), m.NOT_AN_IMAGE),
        Case("garbage-after-jpeg-start", put("garbage.jpg", b"\xff\xd8\xff" + np.random.default_rng(1).bytes(4000)),
             m.TRUNCATED_IMAGE),
        Case("truncated-jpeg", put("trunc.jpg", jpeg[: len(jpeg) // 2]), m.TRUNCATED_IMAGE),
        Case("truncated-png", put("trunc.png", png[: len(png) - 30]), m.TRUNCATED_IMAGE),
        Case("truncated-webp", put("trunc.webp", encoded(base, "WEBP")[:-40]), m.TRUNCATED_IMAGE),
        Case("zero-bytes", put("empty.jpg", b""), m.NOT_AN_IMAGE),
        Case("random-bytes", put("noise.png", np.random.default_rng(2).bytes(5000)), m.NOT_AN_IMAGE),
        Case("png-bad-checksum", put("badcrc.png", png[:29] + b"\0\0\0\0" + png[33:]), m.NOT_AN_IMAGE),
        Case("decompression-bomb", put("bomb.png", png_declaring(100_000, 100_000)), m.IMAGE_TOO_LARGE),
        Case("over-pixel-budget", put("huge.png", png_declaring(9000, 9000)), m.IMAGE_TOO_LARGE),
        Case("tiny-image", put("tiny.png", encoded(Image.new("RGB", (4, 4)), "PNG")), m.IMAGE_TOO_SMALL),
        Case("html-named-jpg", put("page.jpg", "<!DOCTYPE html><html><body>404 Not Found</body></html>"),
             m.NOT_AN_IMAGE),
        Case("svg-named-png", put("vector.png", '<svg xmlns="http://www.w3.org/2000/svg" width="10" '
                                                'height="10"><rect width="10" height="10"/></svg>'), m.NOT_AN_IMAGE),
        Case("text-named-gif", put("notes.gif", "just some notes"), m.NOT_AN_IMAGE),
        Case("path-traversal", "../outside.png", m.PATH_ESCAPE),
        Case("deep-traversal", "sub/../../../../../../etc/passwd", m.PATH_ESCAPE),
        Case("absolute-outside-root", str(outside), m.PATH_ESCAPE),
        Case("absolute-system-file", "/etc/hostname", m.PATH_ESCAPE),
        Case("url-https", "https://example.com/shirt.jpg", m.BAD_PATH),
        Case("url-data", "data:image/png;base64,iVBORw0KGgo=", m.BAD_PATH),
        Case("windows-absolute", "C:\\Users\\shop\\shirt.jpg", m.BAD_PATH),
        Case("empty-path", "", m.EMPTY_PATH),
        Case("whitespace-path", "   ", m.EMPTY_PATH),
        # manifest rows
        Case("rating-word", put("r1.jpg", jpeg), m.BAD_RATING, {"avg_rating": "abc"}),
        Case("rating-negative", put("r2.jpg", jpeg), m.BAD_RATING, {"avg_rating": "-1"}),
        Case("rating-1e9", put("r3.jpg", jpeg), m.BAD_RATING, {"avg_rating": "1e9"}),
        Case("rating-nan", put("r4.jpg", jpeg), m.BAD_RATING, {"avg_rating": "nan"}),
        Case("rating-inf", put("r5.jpg", jpeg), m.BAD_RATING, {"avg_rating": "inf"}),
        Case("rating-above-scale", put("r6.jpg", jpeg), m.BAD_RATING, {"avg_rating": "45"}),
        Case("count-decimal-comma", put("r7.jpg", jpeg), m.BAD_RATING, {"n_ratings": "4,5"}),
        Case("count-fraction", put("r8.jpg", jpeg), m.BAD_RATING, {"n_ratings": "2.5"}),
        Case("count-ambiguous-dot", put("r9.jpg", jpeg), m.BAD_RATING, {"n_ratings": "1.234"}),
        Case("missing-product-id", put("noid.jpg", jpeg), m.MISSING_ID, pid=""),
        Case("control-char-id", put("ctrl.jpg", jpeg), m.BAD_PRODUCT_ID, pid="p-ctrl\x07id"),
        Case("overlong-id", put("longid.jpg", jpeg), m.BAD_PRODUCT_ID, pid="p-" + "x" * 400),
    ]
    if not IS_ROOT:   # root reads anything: the case cannot be made
        cases.append(Case("unreadable-permissions", locked, m.UNREADABLE_FILE))
    # duplicates: the same image twice, and one product id with two different titles
    cases += [
        Case("dup-first", put("dup.jpg", jpeg), None, pid="p-dup"),
        Case("dup-image-again", "dup.jpg", m.DUPLICATE_ID, pid="p-dup"),
        Case("dup-id-other-title", put("dup2.jpg", jpeg), m.DUPLICATE_ID, {"title": "Another"}, pid="p-dup",
             also_kept=True),
    ]
    bad_lines = ["p-too-many-fields,a.jpg,x,y,z,1,2,3,4,5,6,7,8,9"]
    return root, cases, bad_lines


def _orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


COLUMNS = ["product_id", "image_path", *GOOD_PRODUCT]


def write_manifest(path: Path, cases: list[Case], bad_lines: list[str] = (), encoding: str = "utf-8") -> Path:
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    for c in cases:
        prod = {**GOOD_PRODUCT, **(c.product or {})}
        w.writerow([c.product_id, c.path, *prod.values()])
    text = buf.getvalue() + "".join(line + "\r\n" for line in bad_lines)
    path.write_bytes(text.encode(encoding, "surrogateescape"))
    return path


def pid_key(pid: str) -> str:
    """How a report names a product id: control characters escaped, long ids shortened."""
    return m._short(pid, 80)[:40]


def problems_by_product(report) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in report.problems.itertuples():
        if r.kind in m.NOTE_KINDS:       # about the manifest's columns, not a row
            continue
        out.setdefault(pid_key(r.product_id) if r.product_id is not None else "", []).append(r.kind)
    return out


@pytest.fixture
def corpus(tmp_path):
    root, cases, bad_lines = build_corpus(tmp_path)
    yield root, cases, bad_lines
    for p in root.iterdir():        # let tmp_path's cleanup remove it
        if not p.is_symlink() and p.exists():
            os.chmod(p, 0o755)


# -- the import ------------------------------------------------------------------------------------
def test_corpus_is_at_least_thirty_kinds(corpus):
    _, cases, bad_lines = corpus
    bad = {c.name for c in cases if c.kind} | {"bad-row"}
    unusual_good = {c.name for c in cases if c.kind is None and not c.name.startswith("good-")}
    assert len(bad) >= 40 and len(bad | unusual_good) >= 60


def test_every_bad_row_has_its_reason_and_every_good_row_is_imported(tmp_path, corpus):
    root, cases, bad_lines = corpus
    products, images, report = import_catalogue(write_manifest(tmp_path / "m.csv", cases, bad_lines), root)
    assert report.ok, report.fatal
    assert report.n_rows == len(cases) + len(bad_lines)
    got = problems_by_product(report)
    wrong = {}
    for c in cases:
        kinds = got.get(pid_key(c.product_id), [])
        if c.kind is None and c.product_id != "p-dup":
            if kinds:
                wrong[c.name] = kinds
        elif c.kind and c.kind not in kinds:
            wrong[c.name] = (c.kind, kinds)
    assert not wrong, wrong
    assert got[""].count(m.MISSING_ID) == 1 and got[""].count(m.BAD_ROW) == 1
    # every good row imported, with the file the manifest named
    imported = set(zip(images["product_id"], images["rel_path"]))
    for c in cases:
        if c.kind is None or c.also_kept:
            assert any(pid == c.product_id for pid, _ in imported), c.name
    assert len(images) == sum(1 for c in cases if c.kind is None or c.also_kept)
    # one reason per refused row, each a short kind and a one-line detail
    refused = report.problems[report.problems["row"].notna()]
    assert refused["detail"].map(lambda d: "\n" not in d and 0 < len(d) <= 400).all()
    assert set(refused["kind"]) <= {v for k, v in vars(m).items() if k.isupper() and isinstance(v, str)}


def test_unusual_but_good_images_import_with_the_right_values(tmp_path, corpus):
    root, cases, _ = corpus
    products, images, report = import_catalogue(write_manifest(tmp_path / "m.csv", cases), root)
    img = images.set_index("product_id")
    prod = products.set_index("product_id")
    assert (img.at["p-exif-rotated", "width"], img.at["p-exif-rotated", "height"]) == (32, 64)
    rotated = load_rgb(img.at["p-exif-rotated", "path"])
    assert rotated.shape == (64, 32, 3)                       # loads upright: red on top, blue below
    assert rotated[5, 16, 0] > 200 and rotated[5, 16, 2] < 60 and rotated[60, 16, 2] > 200
    for pid in ("p-cmyk-jpeg", "p-16bit-png", "p-palette-png", "p-animated-gif", "p-webp",
                "p-unicode-name", "p-nfc-listed-for-nfd-file", "p-windows-backslashes"):
        arr = load_rgb(img.at[pid, "path"])
        assert arr.dtype == np.uint8 and arr.shape[2] == 3 and arr.std() > 0, pid
    assert img.at["p-windows-backslashes", "rel_path"] == "sub/deep/win.jpg"
    assert prod.at["p-decimal-comma-rating", "avg_rating"] == 4.5           # never 45
    assert prod.at["p-thousands-count", "n_ratings"] == 1234
    assert pd.isna(prod.at["p-no-rating", "avg_rating"])
    assert prod.at["p-dup", "title"] == "Tee"                                # the first is kept
    assert prod.at["p-formula-title", "title"].startswith("=")              # stored as given, escaped on export


def test_import_into_store_always_writes_its_report(tmp_path, corpus):
    root, cases, bad_lines = corpus
    store = Store(tmp_path / "data")
    try:
        report = import_into_store(store, write_manifest(tmp_path / "m.csv", cases, bad_lines), root)
        assert report.applied
        saved = json.loads((tmp_path / "data" / "import_report.json").read_text())
        assert saved["applied"] and saved["n_images"] == len(store.images()) == report.n_images
        assert all(isinstance(p["row"], int) or p["row"] is None for p in saved["problems"])
        assert {p["kind"] for p in saved["problems"]} >= {m.BAD_PATH, m.TRUNCATED_IMAGE, m.NOT_AN_IMAGE}
        # nothing usable: still a report, the catalogue untouched
        bad_only = [c for c in cases if c.kind and c.kind != m.DUPLICATE_ID]
        again = import_into_store(store, write_manifest(tmp_path / "bad.csv", bad_only), root)
        assert again.ok and not again.applied and again.n_images == 0
        assert json.loads((tmp_path / "data" / "import_report.json").read_text())["n_images"] == 0
        assert len(store.images()) == report.n_images
    finally:
        store.close()


def test_a_cancelled_import_still_leaves_a_report_and_the_old_catalogue(tmp_path, corpus):
    root, cases, _ = corpus
    manifest = write_manifest(tmp_path / "m.csv", cases)

    def cancel(p):
        if p.done > 5:
            raise InterruptedError("stopped by request")

    store = Store(tmp_path / "data")
    try:
        with pytest.raises(InterruptedError):
            import_into_store(store, manifest, root, progress=cancel)
        assert store.images().empty
    finally:
        store.close()
    assert "cancelled" in json.loads((tmp_path / "data" / "import_report.json").read_text())["fatal"]


def test_cli_import_finishes_on_the_corpus(tmp_path, corpus, capsys):
    root, cases, bad_lines = corpus
    manifest = write_manifest(tmp_path / "m.csv", cases, bad_lines)
    code = cli.main(["import", str(manifest), "--images", str(root), "-q", "--data-dir", str(tmp_path / "d")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "bad_path" in out and "truncated_image" in out
    assert json.loads((tmp_path / "d" / "import_report.json").read_text())["applied"]


def test_a_failure_nobody_foresaw_is_one_rows_reason(tmp_path, monkeypatch):
    """Build for the general case: any exception while handling one row stays in that row."""
    root = tmp_path / "imgs"
    root.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        (root / name).write_bytes((PHOTOS / "skimage_brick.png").read_bytes())
    real = m.content_hash

    def flaky(path, *a, **kw):
        if Path(path).name == "b.png":
            raise MemoryError("simulated")
        return real(path, *a, **kw)

    monkeypatch.setattr(m, "content_hash", flaky)
    rows = [Case("a", "a.png", None), Case("b", "b.png", m.ROW_ERROR), Case("c", "c.png", None)]
    products, images, report = import_catalogue(write_manifest(tmp_path / "m.csv", rows), root)
    assert report.ok and sorted(images["product_id"]) == ["p-a", "p-c"]
    assert problems_by_product(report) == {"p-b": [m.ROW_ERROR]}
    assert "MemoryError" in report.problems.iloc[0]["detail"]


# -- manifests -------------------------------------------------------------------------------------
@pytest.fixture
def shop(tmp_path):
    root = tmp_path / "imgs"
    root.mkdir()
    for src in sorted(RENDERS.glob("*.jpg"))[:3]:
        (root / src.name).write_bytes(src.read_bytes())
    return root, sorted(p.name for p in root.iterdir())


def test_latin1_manifest_is_read_with_a_note(tmp_path, shop):
    root, names = shop
    text = "product_id,title,image_path,avg_rating\n" + "".join(
        f"P{i},Blouse à carreaux été {i},{n},\"4,{i}\"\n" for i, n in enumerate(names))
    path = tmp_path / "latin.csv"
    path.write_bytes(text.encode("latin-1"))
    products, images, report = import_catalogue(path, root)
    assert report.ok and report.n_images == 3
    assert report.encoding == "cp1252" and any("not UTF-8" in n for n in report.notes)
    assert "read as cp1252" in report.summary()
    assert products["title"].iloc[0] == "Blouse à carreaux été 0"
    assert products["avg_rating"].tolist() == [4.0, 4.1, 4.2]


def test_cp1252_punctuation_and_utf8_bom_and_utf16(tmp_path, shop):
    root, names = shop
    rows = "".join(f"P{i},“Smart” shirt – {i},{n}\n" for i, n in enumerate(names))
    for enc, data in (("cp1252", ("product_id,title,image_path\n" + rows).encode("cp1252")),
                      ("utf-8-sig", ("product_id,title,image_path\n" + rows).encode("utf-8-sig")),
                      ("utf-16", ("product_id\ttitle\timage_path\n" + rows.replace(",", "\t")).encode("utf-16"))):
        path = tmp_path / f"m-{enc}.csv"
        path.write_bytes(data)
        products, images, report = import_catalogue(path, root)
        assert report.ok and report.n_images == 3, (enc, report.summary())
        assert report.encoding == enc
        assert products["title"].iloc[0] == "“Smart” shirt – 0", enc
        assert "product_id" in report.columns.values()


def test_utf8_manifest_with_one_pasted_cp1252_line_keeps_its_utf8_paths(tmp_path, shop):
    root, names = shop
    (root / names[0]).rename(root / "été-1.jpg")
    lines = [b"product_id,title,image_path", "A,Robe,été-1.jpg".encode(),
             f"B,Robe d'été,{names[1]}".encode("cp1252"), f"C,Jupe,{names[2]}".encode()]
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"\n".join(lines))
    products, images, report = import_catalogue(path, root)
    assert report.n_images == 3 and sorted(images["product_id"]) == ["A", "B", "C"]
    assert report.encoding == "utf-8+cp1252" and "1 line: 3" in report.notes[0]
    assert products.set_index("product_id").at["B", "title"] == "Robe d'été"


def test_a_binary_file_named_csv_is_fatal_with_a_short_reason(tmp_path, shop):
    root, _ = shop
    path = tmp_path / "photo.csv"
    path.write_bytes((RENDERS / "front_full_1.jpg").read_bytes())
    _, _, report = import_catalogue(path, root)
    assert not report.ok and "product_id" in report.fatal and len(report.fatal) < 600


def test_semicolon_manifest_with_decimal_commas(tmp_path, shop):
    root, names = shop
    text = "product_id;image_path;avg_rating;n_ratings\n" + "".join(
        f"P{i};{n};4,{i};1.234.567\n" for i, n in enumerate(names))
    path = tmp_path / "eu.csv"
    path.write_text(text)
    products, _, report = import_catalogue(path, root)
    assert report.ok and report.delimiter == ";" and report.n_images == 3
    assert products["avg_rating"].tolist() == [4.0, 4.1, 4.2]
    assert products["n_ratings"].tolist() == [1234567] * 3


def test_rating_scale_is_a_setting(tmp_path, shop):
    root, names = shop
    path = tmp_path / "ten.csv"
    path.write_text("product_id,image_path,avg_rating\n"
                    f"A,{names[0]},8.5\nB,{names[1]},\"9,5\"\nC,{names[2]},10.5\n")
    _, _, five = import_catalogue(path, root)
    assert problems_by_product(five) == {"A": [m.BAD_RATING], "B": [m.BAD_RATING], "C": [m.BAD_RATING]}
    products, _, ten = import_catalogue(path, root, rating_scale=10)
    assert products["avg_rating"].tolist() == [8.5, 9.5] and ten.rating_scale == 10
    assert problems_by_product(ten) == {"C": [m.BAD_RATING]}
    for bad in (0, -5, float("nan"), float("inf")):
        assert "rating scale" in import_catalogue(path, root, rating_scale=bad)[2].fatal


@pytest.mark.parametrize("content, fatal", [
    (b"", "empty"),
    (b"\n\n  \n", "empty"),
    (b"product_id,image_path\n", "header but no rows"),
    (b"\xef\xbb\xbfproduct_id,image_path\r\n", "header but no rows"),
    (b"sku_code,picture\nA,x.jpg\n", "product_id"),
    (b"product_id,colour\nA,red\n", "image_path"),
])
def test_unusable_manifests_are_fatal_with_a_reason_and_a_report(tmp_path, shop, content, fatal):
    root, _ = shop
    path = tmp_path / "m.csv"
    path.write_bytes(content)
    store = Store(tmp_path / "data")
    try:
        report = import_into_store(store, path, root)
    finally:
        store.close()
    assert not report.ok and fatal in report.fatal
    saved = json.loads((tmp_path / "data" / "import_report.json").read_text())
    assert saved["fatal"] == report.fatal and not saved["applied"]


@pytest.mark.parametrize("make", ["directory", "loop", "too-long", "nul", "bad-parquet", "xlsx"])
def test_unusable_manifest_paths_are_fatal_not_crashes(tmp_path, shop, make):
    root, _ = shop
    if make == "directory":
        path = tmp_path / "folder.csv"
        path.mkdir()
    elif make == "loop":
        path = tmp_path / "loop.csv"
        path.symlink_to(path)
    elif make == "too-long":
        path = tmp_path / ("m" * 400 + ".csv")
    elif make == "nul":
        path = str(tmp_path / "m\x00.csv")
    elif make == "bad-parquet":
        path = tmp_path / "m.parquet"
        path.write_bytes(b"PAR1 not really parquet PAR1")
    else:
        path = tmp_path / "m.xlsx"
        path.write_bytes(b"PK\x03\x04")
    store = Store(tmp_path / "data")
    try:
        report = import_into_store(store, path, root)
    finally:
        store.close()
    assert not report.ok and report.fatal
    assert (tmp_path / "data" / "import_report.json").is_file()


def test_unparseable_lines_and_ragged_rows(tmp_path, shop):
    root, names = shop
    text = (f"product_id,image_path,title\nA,{names[0]},ok\n"
            f"B,{names[1]},\"unterminated\nC,{names[2]}\n"            # B's quote would swallow the rest
            f"D,{names[0]},t,extra,fields\n"                          # too many fields: its own reason
            f"E,{names[1]},t,,\n"                                     # trailing empty fields: fine
            f"F,{names[2]}\n")                                        # too few: the rest is empty
    path = tmp_path / "m.csv"
    path.write_text(text)
    _, images, report = import_catalogue(path, root)
    assert report.ok
    assert sorted(images["product_id"]) == ["A", "C", "E", "F"]   # C is read again after B's broken quote
    kinds = report.problems.dropna(subset=["row"]).set_index("row")["kind"].to_dict()
    assert kinds == {3: m.BAD_ROW, 5: m.BAD_ROW}


def test_wide_manifest_with_bad_paths_keeps_the_good_ones(tmp_path, shop):
    root, names = shop
    path = tmp_path / "wide.csv"
    pd.DataFrame([{"sku": "W1", "images": f"{names[0]}|../escape.jpg|https://x/y.jpg|{names[1]}"}]).to_csv(
        path, index=False)
    _, images, report = import_catalogue(path, root)
    assert images["rel_path"].tolist() == names[:2]
    assert sorted(report.problems.dropna(subset=["row"])["kind"]) == [m.BAD_PATH, m.PATH_ESCAPE]


def test_parquet_with_odd_cell_types(tmp_path, shop):
    root, names = shop
    df = pd.DataFrame({"product_id": ["A", "B", "C"], "image_path": names,
                       "avg_rating": [4.5, float("nan"), float("inf")], "n_ratings": [3, 4, 5]})
    df.to_parquet(tmp_path / "m.parquet")
    products, _, report = import_catalogue(tmp_path / "m.parquet", root)
    assert sorted(products["product_id"]) == ["A", "B"]          # NaN in Parquet is an absent rating
    assert {k: v for k, v in problems_by_product(report).items() if k} == {"C": [m.BAD_RATING]}


@pytest.mark.parametrize("value, expected", [
    ("4,5", 4.5), ("4.5", 4.5), (" 4,50 ", 4.5), ("+3", 3.0), ("0", 0.0), ("5", 5.0), ("", None), ("N/A", None),
    ("abc", ValueError), ("-1", ValueError), ("1e9", ValueError), ("nan", ValueError), ("inf", ValueError),
    ("5.01", ValueError), ("4.5 stars", ValueError), ("1,234.5", ValueError), ("1.234,5", ValueError),
])
def test_parse_rating(value, expected):
    if expected is ValueError:
        with pytest.raises(ValueError):
            m.parse_rating(value)
    else:
        assert m.parse_rating(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("12", 12), ("1,234", 1234), ("1 234", 1234), ("1.234.567", 1234567), ("10.0", 10), ("1e9", 10 ** 9),
    ("", None), ("4,5", ValueError), ("1.234", ValueError), ("2.5", ValueError), ("-1", ValueError),
    ("nan", ValueError), ("1e30", ValueError), ("many", ValueError),
])
def test_parse_count(value, expected):
    if expected is ValueError:
        with pytest.raises(ValueError):
            m.parse_count(value)
    else:
        assert m.parse_count(value) == expected


# -- images on their own ---------------------------------------------------------------------------
def test_probe_never_raises_anything_but_image_error(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    for p in [tmp_path / "pipe.png", tmp_path / "loop.png", tmp_path / ("x" * 300 + ".png"),
              Path(str(tmp_path / "a\x00b.png")), tmp_path, tmp_path / "missing.png"]:
        with pytest.raises(ImageError) as err:
            probe_image(p)
        assert err.value.kind in {"not_a_file", "bad_path", "missing_file"}, (p, err.value)


# -- uploads ---------------------------------------------------------------------------------------
def _zip(entries: list[tuple[str, bytes]], method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # zipfile warns about duplicate names: that is the point
        with zipfile.ZipFile(buf, "w", method) as zf:
            for name, data in entries:
                zf.writestr(name, data)
    return buf.getvalue()


def test_zip_bomb_is_refused_before_anything_is_written(tmp_path):
    bomb = _zip([("shirt.jpg", (RENDERS / "front_full_1.jpg").read_bytes()), ("bomb.bin", b"\0" * (64 * uploads.MB))])
    assert len(bomb) < uploads.MB
    with pytest.raises(uploads.UploadError, match="zip bomb"):
        uploads.extract_zip(bomb, tmp_path / "uploads", "bomb")
    # many members each below the per-member floor: the archive's overall ratio catches them
    spread = _zip([(f"part{i}.bin", b"\0" * uploads.MB) for i in range(40)])
    with pytest.raises(uploads.UploadError, match="the zip unpacks"):
        uploads.extract_zip(spread, tmp_path / "uploads", "spread")
    assert not (tmp_path / "uploads").exists() or not any((tmp_path / "uploads").iterdir())


def _patch_sizes(data: bytes, declared: int) -> bytes:
    """Rewrite every uncompressed-size field (local and central headers) to ``declared``."""
    out = bytearray(data)
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        for hit in re.finditer(re.escape(sig), data):
            out[hit.start() + offset: hit.start() + offset + 4] = struct.pack("<I", declared)
    return bytes(out)


def test_zip_headers_that_lie_cannot_get_past_the_limits(tmp_path):
    payload = np.random.default_rng(3).bytes(3 * uploads.MB)          # incompressible
    # says 1 GiB in 3 MB: refused from the headers alone, nothing written
    with pytest.raises(uploads.UploadError, match="zip bomb"):
        uploads.extract_zip(_patch_sizes(_zip([("a.bin", payload)], zipfile.ZIP_STORED), 1 << 30),
                            tmp_path / "u1", "liar")
    assert not (tmp_path / "u1").exists() or not any((tmp_path / "u1").iterdir())
    # says 1000 bytes for 3 MB: never more than 1000 bytes are written, and the member is reported
    rep = uploads.extract_zip(_patch_sizes(_zip([("a.bin", payload), ("ok.txt", b"fine")]), 1000),
                              tmp_path / "u2", "liar")
    assert not (rep.folder / "a.bin").exists()
    assert "a.bin" in dict(rep.skipped)
    assert sum(p.stat().st_size for p in rep.folder.rglob("*") if p.is_file()) <= 2000


def test_duplicate_and_conflicting_member_names_are_reported(tmp_path):
    data = _zip([("a.jpg", b"first"), ("a.jpg", b"second"), ("./b.jpg", b"b1"), ("b.jpg", b"b2"),
                 ("c", b"a file"), ("c/d.jpg", b"under a file"), ("ok/e.jpg", b"e")])
    rep = uploads.extract_zip(data, tmp_path / "uploads", "dups")
    reasons = [r for _, r in rep.skipped]
    assert sum("duplicate name" in r for r in reasons) == 2
    assert (rep.folder / "a.jpg").read_bytes() == b"first" and (rep.folder / "b.jpg").read_bytes() == b"b1"
    assert "c/d.jpg" in dict(rep.skipped)                     # a file stands where its folder must go
    assert (rep.folder / "ok" / "e.jpg").read_bytes() == b"e"
    assert rep.n_files == 4


def test_corrupt_member_is_skipped_not_the_archive(tmp_path):
    good = (RENDERS / "front_full_1.jpg").read_bytes()
    data = bytearray(_zip([("good.jpg", good), ("bad.jpg", good)], zipfile.ZIP_STORED))
    second = data.find(b"PK\x03\x04", 10)
    data[second + 30 + len("bad.jpg") + 500] ^= 0xFF                # flip a byte: CRC mismatch
    rep = uploads.extract_zip(bytes(data), tmp_path / "uploads", "crc")
    assert (rep.folder / "good.jpg").read_bytes() == good
    assert "bad.jpg" in dict(rep.skipped) and not (rep.folder / "bad.jpg").exists()


def test_old_uploads_are_cleaned_but_never_the_one_in_use(tmp_path):
    data_dir = tmp_path / "data"
    up = data_dir / "uploads"
    in_use = up / "shop-in-use"
    in_use.mkdir(parents=True)
    for src in sorted(RENDERS.glob("*.jpg"))[:2]:
        (in_use / src.name).write_bytes(src.read_bytes())
    manifest = in_use / "manifest.uploaded.csv"
    pd.DataFrame({"product_id": ["A", "A"], "image_path": sorted(p.name for p in in_use.glob("*.jpg"))}).to_csv(
        manifest, index=False)
    store = Store(data_dir)
    assert import_into_store(store, manifest, in_use).applied
    store.close()
    day = 86400
    now = os.path.getmtime(in_use)
    ages = {"recent-1": 1, "recent-2": 2, "recent-3": 3, "recent-4": 4, "old": 40, "broken.partial": 3,
            "fresh.partial": 0.01, "product-20240101-000000-abcdef": 10, "product-20240102-000000-abcdef": 1}
    for name, days in ages.items():
        (up / name).mkdir()
        (up / name / "x.jpg").write_bytes(b"x")
        os.utime(up / name, (now - days * day, now - days * day))
    os.utime(in_use, (now - 100 * day, now - 100 * day))       # the oldest of all, yet in use
    manifest_bytes = pd.DataFrame({"product_id": ["B"], "image_path": ["e.jpg"]}).to_csv(index=False).encode()
    zip_bytes = _zip([("e.jpg", (RENDERS / "back_full_1.jpg").read_bytes())])
    _, root, rep = uploads.save_catalogue_upload(data_dir, "new.csv", manifest_bytes, "new.zip", zip_bytes)
    left = sorted(p.name for p in up.iterdir())
    assert "shop-in-use" in left and root.name == "new" and "new" in left
    assert "old" not in left and "broken.partial" not in left and "fresh.partial" in left
    assert [n for n in left if n.startswith("recent")] == ["recent-1", "recent-2"]   # newest 3 with "new"
    assert "product-20240101-000000-abcdef" not in left and "product-20240102-000000-abcdef" in left
    assert set(rep.removed) == {"old", "broken.partial", "recent-3", "recent-4", "product-20240101-000000-abcdef"}
    assert "old uploads removed" in rep.summary()


class _Stream:
    """A file object that only reads (a pipe, a socket): no size, no len, no seek."""

    def __init__(self, data: bytes):
        self._buf, self.n_read = io.BytesIO(data), 0

    def read(self, n: int = -1) -> bytes:
        block = self._buf.read(n)
        self.n_read += len(block)
        return block

    def seekable(self) -> bool:
        return False


def test_a_zip_as_a_file_object_without_a_size_is_an_upload_like_any_other(tmp_path, monkeypatch):
    """A zip given as a file object that has no size and no len (a BytesIO, a stream) is measured
    (by seeking, else by reading up to the cap) and checked like bytes; a stream over the cap is
    refused once the cap is read, not after reading all of it."""
    manifest = pd.DataFrame({"product_id": ["A"], "image_path": ["e.jpg"]}).to_csv(index=False).encode()
    zip_bytes = _zip([("e.jpg", (RENDERS / "back_full_1.jpg").read_bytes())])
    for i, source in enumerate((io.BytesIO(zip_bytes), _Stream(zip_bytes))):
        path, root, rep = uploads.save_catalogue_upload(tmp_path / f"d{i}", "m.csv", manifest, "shop.zip", source)
        assert rep.n_files == 1 and (root / "e.jpg").read_bytes() == (RENDERS / "back_full_1.jpg").read_bytes()
    with pytest.raises(uploads.UploadError, match="is empty"):
        uploads.save_catalogue_upload(tmp_path / "d2", "m.csv", manifest, "shop.zip", _Stream(b""))
    monkeypatch.setattr(uploads, "MAX_ZIP_BYTES", 1000)
    big = _Stream(zip_bytes + b"\0" * 100_000)
    with pytest.raises(uploads.UploadError, match="more than"):
        uploads.save_catalogue_upload(tmp_path / "d3", "m.csv", manifest, "shop.zip", big)
    assert big.n_read == 1001 and not (tmp_path / "d3" / "uploads").exists()


def test_streamlit_upload_limit_matches_the_zip_cap():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * uploads.MB == uploads.MAX_ZIP_BYTES


def test_product_upload_refuses_truncated_and_disguised_files(tmp_path):
    jpeg = (RENDERS / "front_full_1.jpg").read_bytes()
    saved = uploads.save_product_images(tmp_path, [("ok.jpg", jpeg), ("cut.jpg", jpeg[:3000]),
                                                   ("page.jpg", b"<html></html>")])
    assert [p.name for p in saved.paths] == ["01_ok.jpg"]
    reasons = dict(saved.rejected)
    assert "truncated" in reasons["cut.jpg"] and "not a usable image" in reasons["page.jpg"]


# -- CSV exports -----------------------------------------------------------------------------------
def test_csv_exports_escape_formulas_but_not_numbers():
    df = pd.DataFrame({"product_id": ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "plain", None],
                       "title": ['=HYPERLINK("http://evil","x")', "ok", "ok", "ok", "ok", "a=b", "ok"],
                       "score": [-0.5, 1.0, -2.0, 0.0, 3.0, 4.0, np.nan], "n": [-1, 0, 1, 2, 3, 4, 5]})
    text = exports.to_csv(df)
    back = pd.read_csv(io.StringIO(text), keep_default_na=False)
    assert back["product_id"].tolist() == ["'=1+1", "'+SUM(A1)", "'-2", "'@cmd", "'\tx", "plain", ""]
    assert back["title"].iloc[0].startswith("'=") and back["title"].iloc[5] == "a=b"
    assert text.splitlines()[1].endswith(",-0.5,-1")                        # numbers stay numbers
    assert df["product_id"].iloc[0] == "=1+1"                               # the input is not changed


def test_every_csv_writer_for_people_goes_through_exports():
    files = [*sorted((ROOT / "unpose_core" / "cli").glob("*.py")), ROOT / "unpose_core" / "evaluation" / "results.py",
             *sorted((ROOT / "pages").glob("*.py")),
             *sorted((ROOT / "ui").glob("*.py"))]
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in files
            for i, line in enumerate(p.read_text().splitlines(), 1) if ".to_csv(" in line.split("#")[0]]
    assert hits == [], "use unpose_core.exports.to_csv for CSV files people open"
