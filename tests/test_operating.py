"""Reviewers set the operating point (issue 23 item 3) on the real demo.

The reviews come from the demo's answer keys: twelve labelled T-shirt listings are cut down to a
sparse listing (the evaluation's kept subset), and a simulated reviewer judges each suggested pose
group by the view it stands for against the views the listing lost (confirm), still shows (I
already have this, with that photo), never had (reject) or cannot be told (not sure), and adds
the lost views no suggestion asked for. The T-shirts cohort is then tuned; Polo shirts keeps the
defaults; a reset puts them back; the tuned settings survive retraining K=10 -> 4 -> 10.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import copy_data_dir

import unpose_core as up
from unpose_core.config import SuggestConfig, TrainConfig
from unpose_core.evaluation.protocol import group_view_maps, kept_subset, view_of_class
from unpose_core.evaluation.tuning import score_grid, tune
from unpose_core.groups import pose_groups
from unpose_core.operating import OperatingOptions, current_settings, settings_of
from unpose_core.records import GroupVerdict, SettingsSource, Verdict
from unpose_core.reviews import judged_products, next_to_review, review_queue, submit_review
from unpose_core.runs import active_run
from unpose_core.store import Store
from unpose_core.training import train

pytestmark = [pytest.mark.demo, pytest.mark.slow]

COHORT = "Clothing|T-shirts"
N_CUT = 12


def _view_maps(store: Store, run):
    labels = store.images().set_index("image_id")["pose_label"]
    ref = run.reference[["image_id", "product_id", "pose_class"]].copy()
    ref["label"] = ref["image_id"].map(labels)
    ref["subcategory"] = ref["product_id"].map(store.products().set_index("product_id")["subcategory"])
    return group_view_maps(ref, pose_groups(store, run))


def simulated_review(store: Store, run, pid: str, truth: set[str]) -> list[GroupVerdict]:
    """The verdicts a reviewer who knows the listing's lost views gives (see the module docstring)."""
    sug = up.suggest(store, pid, run_id=run)
    maps = _view_maps(store, run)
    imgs = store.images()
    imgs = imgs[imgs["product_id"] == pid]
    shown = dict(zip(imgs["pose_label"], imgs["content_hash"]))
    groups = pose_groups(store, run)
    out, judged_views = [], set()
    for m in sug.missing:
        view = view_of_class(maps, "T-shirts", m.group)
        if view is None:
            v = GroupVerdict(Verdict.UNSURE, m.members, m.description, m.rank)
        elif view in truth:
            v = GroupVerdict(Verdict.CONFIRM, m.members, m.description, m.rank)
            judged_views.add(view)
        elif view in shown:
            v = GroupVerdict(Verdict.HAVE, m.members, m.description, m.rank, photo=shown[view])
        else:
            v = GroupVerdict(Verdict.REJECT, m.members, m.description, m.rank)
        out.append(v)
    taken = {c for v in out for c in v.members}
    for view in sorted(truth - judged_views):
        cands = [g for g in groups.groups
                 if view_of_class(maps, "T-shirts", g.id) == view and not taken & set(g.members)]
        if cands:
            out.append(GroupVerdict(Verdict.ADDED, cands[0].members, cands[0].label))
            taken |= set(cands[0].members)
    return out


@pytest.fixture(scope="module")
def reviewed(demo_data_dir, demo_build, tmp_path_factory):
    """A demo data dir whose twelve cut T-shirt listings are reviewed under a fresh K=10 run."""
    data = copy_data_dir(demo_data_dir, tmp_path_factory.mktemp("operating") / "data")
    manifest = pd.read_csv(demo_build.manifest_path)
    n = manifest.groupby("product_id").size()
    tees = sorted(p for p in manifest.loc[manifest["subcategory"] == "T-shirts", "product_id"].unique() if n[p] >= 5)
    cut = tees[::2][:N_CUT]
    assert len(cut) == N_CUT
    keep, truth = [], {}
    for pid, rows in manifest.groupby("product_id", sort=False):
        if pid not in cut:
            keep.append(rows)
            continue
        rows = rows.sort_values("position")
        k = kept_subset(len(rows), 0, 0, pid, 2, 3)
        kept = rows.iloc[k]
        truth[pid] = set(rows["pose_label"]) - set(kept["pose_label"])
        keep.append(kept)
    cut_manifest = data / "cut.csv"
    pd.concat(keep).to_csv(cut_manifest, index=False)
    store = Store(data)
    rep = up.import_catalogue(store, cut_manifest, demo_build.image_root)
    assert rep.ok, rep.summary()
    train(store, TrainConfig(k=10, seed=0))
    run = active_run(store)
    for pid in cut:
        submit_review(store, run, pid, simulated_review(store, run, pid, truth[pid]), by="sim-reviewer")
    yield store, run, cut, truth
    store.close()


def _f1_through_suggester(store, run, pids, cfg: SuggestConfig) -> tuple[float, float, float]:
    """The F1 of a setting on the reviews, counted on the Suggester's own answers (not the tuner's)."""
    judged = {j.product_id: j for j in judged_products(store, run, pids)}
    tp = fp = fn = 0
    for pid in pids:
        j = judged[pid]
        sug = up.suggest(store, pid, run_id=run, config=cfg)
        hit = set()
        for m in sug.missing:
            found = [i for i, cs in enumerate(j.missing) if cs & set(m.members)]
            if found:
                tp += 1
                hit.update(found)
            elif not set(m.members) & j.unsure:
                fp += 1
        fn += len(j.missing) - len(hit)
    return tp / max(tp + fp, 1), tp / max(tp + fn, 1), 2 * tp / max(2 * tp + fp + fn, 1)


def test_reviews_tune_one_cohort_and_leave_the_others(reviewed):
    store, run, cut, truth = reviewed
    assert set(store.latest_reviews()) == set(cut)
    verdicts = [v.verdict for r in store.latest_reviews().values() for v in r.verdicts]
    assert {Verdict.CONFIRM, Verdict.REJECT, Verdict.HAVE} <= set(verdicts)
    # "I already have this" labelled its photo with the group's view, as the reviewer's word
    have = [v for r in store.latest_reviews().values() for v in r.of(Verdict.HAVE)]
    labels = store.view_labels([v.photo for v in have])
    for v in have:
        lab = labels[v.photo]
        assert lab.source == "reviewer" and lab.user == "sim-reviewer" and (lab.facing or lab.kind)

    res = tune(store, run, OperatingOptions(), by="analyst")
    assert [t.cohort for t in res.tuned] == [COHORT]
    t = res.tuned[0]
    assert t.n_reviews == N_CUT and t.stored is not None
    for k in ("precision", "recall", "f1"):
        assert 0 <= t.estimate[k] <= 1
    assert t.estimate["folds"] == 5
    # the chosen point is the grid's F1-best, and its in-sample F1 is at least the defaults'
    opts = OperatingOptions()
    grid = opts.grid(SuggestConfig())
    judged = judged_products(store, run, cut)
    counts = score_grid(store, run, judged, grid).sum(axis=1)
    f1 = 2 * counts[:, 0] / np.maximum(2 * counts[:, 0] + counts[:, 1] + counts[:, 2], 1)
    best = SuggestConfig.from_dict(t.settings)
    assert f1[grid.index(best)] == pytest.approx(f1.max())
    assert t.in_sample["f1"] >= t.default["f1"]
    # the tuner's fast path agrees with the Suggester's own answers, for the chosen and the defaults
    p, r, f = _f1_through_suggester(store, run, cut, best)
    assert f == pytest.approx(t.in_sample["f1"]) and p == pytest.approx(t.in_sample["precision"])
    _, _, fd = _f1_through_suggester(store, run, cut, SuggestConfig())
    assert fd == pytest.approx(t.default["f1"])
    print(f"\n{COHORT}: {N_CUT} reviews; defaults P {t.default['precision']:.3f} R {t.default['recall']:.3f} "
          f"F1 {t.default['f1']:.3f}; tuned {t.settings} in sample P {t.in_sample['precision']:.3f} "
          f"R {t.in_sample['recall']:.3f} F1 {t.in_sample['f1']:.3f}; held out ({t.estimate['folds']} folds) "
          f"P {t.estimate['precision']:.3f} R {t.estimate['recall']:.3f} F1 {t.estimate['f1']:.3f}")

    # a T-shirt uses the cohort's settings, a polo the defaults; an explicit setting wins
    tee = next(p for p in store.products().query("subcategory == 'T-shirts'")["product_id"] if p not in cut)
    polo = store.products().query("subcategory == 'Polo shirts'")["product_id"].iloc[0]
    s_tee, s_polo = up.suggest(store, tee), up.suggest(store, polo)
    assert {k: s_tee.settings[k] for k in t.settings} == t.settings
    assert "tuned from 12 reviews" in s_tee.settings["source"]
    assert {k: s_polo.settings[k] for k in t.settings} == settings_of(SuggestConfig())
    assert s_polo.settings["source"] == "the defaults"
    assert up.suggest(store, tee, config=SuggestConfig()).settings["source"] == "given"

    table = up.cohorts(store)["cohorts"].set_index("key")
    assert table.loc[COHORT, "source"] == "tuned" and table.loc["Clothing|Polo shirts", "source"] == "defaults"
    assert table.loc[COHORT, "estimate"].startswith("tuned from 12 reviews: precision about ")
    assert table.loc["Clothing", "source"] == "defaults"   # the products went to their subcategory


def test_too_few_reviews_keep_the_defaults(reviewed):
    store, run, _, _ = reviewed
    res = tune(store, run, OperatingOptions(min_reviews=13), save=False)
    assert res.tuned == [] and res.untuned[COHORT] == N_CUT


def test_reset_and_retrain_keep_the_settings(reviewed):
    store, run, cut, _ = reviewed
    tune(store, run, OperatingOptions(), by="analyst")
    tuned = current_settings(store)[COHORT]
    out = up.cohorts(store, reset="Clothing / T-shirts", by="analyst")
    assert out["reset"] == COHORT and COHORT not in current_settings(store)
    assert out["cohorts"].set_index("key").loc[COHORT, "source"] == "reset"
    history = store.cohort_settings_history(COHORT)
    assert [h.source for h in history][-2:] == [SettingsSource.TUNED, SettingsSource.RESET]

    up.cohorts(store, tune=True, by="analyst")
    assert current_settings(store)[COHORT].settings == tuned.settings
    for k in (4, 10):
        train(store, TrainConfig(k=k, seed=1))
        new = active_run(store)
        assert new.k == k
        assert current_settings(store)[COHORT].settings == tuned.settings     # data, not bound to a run
        tee = next(p for p in store.products().query("subcategory == 'T-shirts'")["product_id"] if p not in cut)
        assert {k2: up.suggest(store, tee).settings[k2] for k2 in tuned.settings} == tuned.settings
    # the reviews made under the first run carry onto the last one's groups: it can be tuned again
    judged = judged_products(store, new, cut)
    assert len(judged) == N_CUT and all(j.run_id == run.run_id for j in judged)
    assert sum(len(j.missing) for j in judged) > 0
    again = tune(store, new, OperatingOptions(), by="analyst")
    assert [t.cohort for t in again.tuned] == [COHORT] and again.tuned[0].n_reviews == N_CUT


def test_a_review_is_checked_before_anything_is_stored(reviewed):
    store, run, cut, _ = reviewed
    pid = cut[0]
    before = (store.reviews_version(), len(store.judgement_history()))
    sug = up.suggest(store, pid, run_id=run)
    m = sug.missing[0]
    with pytest.raises(ValueError, match="who is reviewing"):
        submit_review(store, run, pid, [GroupVerdict(Verdict.CONFIRM, m.members, m.description, m.rank)], by=" ")
    with pytest.raises(ValueError, match="needs the listing photo"):
        GroupVerdict(Verdict.HAVE, m.members, m.description, m.rank)
    other = store.images().query("product_id != @pid")["content_hash"].iloc[0]
    with pytest.raises(ValueError, match="not one of the listing's"):
        submit_review(store, run, pid, [GroupVerdict(Verdict.HAVE, m.members, m.description, m.rank, other)], by="a")
    with pytest.raises(ValueError, match="judged twice"):
        submit_review(store, run, pid, [GroupVerdict(Verdict.CONFIRM, m.members, m.description, m.rank),
                                        GroupVerdict(Verdict.ADDED, m.members, m.description)], by="a")
    with pytest.raises(ValueError, match="not classes of run"):
        submit_review(store, run, pid, [GroupVerdict(Verdict.ADDED, (999,), "x")], by="a")
    assert (store.reviews_version(), len(store.judgement_history())) == before


def test_the_review_queue_walks_worst_first_and_skips_the_reviewed():
    table = pd.DataFrame({"product_id": ["a", "b", "c", "d", "e"], "completeness": [50.0, 10.0, None, 30.0, 90.0]})
    assert review_queue(table) == ["b", "d", "a", "e", "c"]            # nothing expected: last
    assert review_queue(table, ["d"]) == ["b", "a", "e", "c", "d"]     # reviewed ones after the rest
    assert review_queue(table, order="catalogue") == ["a", "b", "c", "d", "e"]
    assert next_to_review(table, "b") == "d"
    assert next_to_review(table, "b", ["d", "a"]) == "e"
    assert next_to_review(table, "c", ["d"]) == "b"                     # round to the start
    assert next_to_review(table, "b", ["a", "c", "d", "e"]) is None
    with pytest.raises(ValueError, match="order must be one of"):
        review_queue(table, order="random")


def test_cli_cohorts_tunes_lists_and_resets(reviewed, capsys):
    from unpose_core.cli import main

    store, _, _, _ = reviewed
    assert main(["cohorts", "--data-dir", str(store.data_dir), "--tune"]) == 0
    out = capsys.readouterr().out
    assert "tuned Clothing / T-shirts from 12 reviews: held-out precision " in out
    assert "Clothing / Polo shirts" in out and "[defaults]" in out
    assert "[tuned from 12 reviews: precision about " in out
    assert main(["cohorts", "--data-dir", str(store.data_dir), "--reset", "Clothing / T-shirts"]) == 0
    out = capsys.readouterr().out
    assert "Clothing / T-shirts: back on the defaults" in out and "[tuned" not in out
    assert main(["cohorts", "--data-dir", str(store.data_dir), "--reset", "Nope"]) == 2
    assert "error: no cohort 'Nope'" in capsys.readouterr().err
