"""How good are the suggestions? Missing-pose accuracy against labelled views (paper §5, Table 1).

Protocol "hide and complete" (view labels per image)
    A labelled product with at least ``keep_min + 1`` images (all of them labelled) plays a
    sparse listing: we keep a random ``keep_min``..``keep_max`` of its images (2..4 by default,
    the paper's p - 1), never all of them: the kept range adapts to each product's size (a
    3-image listing keeps 2, a 4-image one 2 or 3), so catalogues of small listings are
    evaluated too. We ask the system which poses are missing and compare with the truth: the
    views of the dropped images that no kept image shows. Each configuration sees exactly the
    same kept subsets (paired comparison), ``draws`` different subsets per product and seed.

    Answer keys. The dropped images are the right answer only when the full listing is not
    itself a sparse listing: hiding one image of a 3-image listing makes every other view the
    system asks for count as wrong, although that listing lacks them too. So only products
    with at least ``answer_min`` images are evaluated, by default the selection's p
    (``SelectionConfig.subject_max_images``): the products the system does not advise. When no
    labelled product has that many images (a catalogue of small listings), the sparse ones are
    the answer keys after all and a note says that precision is then a lower bound; set
    ``answer_min`` to ``keep_min + 1`` to always include them.

    Sweep. One run is trained per seed, configuration and K (``ks``); each run's suggestions
    are scored under every suggestion setting (``SuggestConfig``: expectation ``expect``,
    soft-coverage percentile, confidence cut-off), with the baselines under the same setting.
    ``EvalResult.sweep`` has one row per (configuration, K, setting); the Table-1 tables show
    the first K and the first setting.

    No leakage. The labelled products with many images are the reference products the
    system learns from, so for every seed a share ``holdout`` (default 25 %) of the labelled
    reference products of each subcategory is taken out of the catalogue, the run is trained
    on the rest, and only the held-out products (plus labelled products that are not
    reference products at all, e.g. the demo's 5-9-image listings) are evaluated. A fresh
    split, fresh K-Means / autoencoder seeds and fresh draws per seed; numbers are pooled over
    seeds. Runs are trained in a scratch data directory (catalogue copy + the pose cache
    rows, so no pose model runs twice) that is deleted afterwards: the user's runs and active
    run are untouched.

    Groups -> views. The system asks for pose groups (``groups``: centroids that count as one
    pose). A group stands for the majority view label of the training reference images in it,
    counted within the product's subcategory (what the reference photos a seller is shown look
    like), falling back to all subcategories. A flagged class
    whose view is one the product kept, or that the full listing never had, is a false
    positive: precision here is strict (a flag for a view the full listing lacked may still
    be good advice -- the key framings of the demo are exactly that -- so read it as a
    lower bound; ``redundant`` counts only flags of views the seller already shows).

Baselines and ceiling, on the same trials and setting: a random pose per person image;
    flagging every expected pose (no image looked at); and the ceiling, every expected view the
    kept images do not show, read from their labels -- what a perfect reader of the photos would
    reach with the same ranking and expectation. Its precision is lost only to views the full
    listing never had, so the gap between the system and the ceiling is what reading the photos
    better can still win.

Protocol "reviewed" (labels file ``missing`` column, or reviewer judgements from the app)
    The product keeps all its images; truth is the reviewer's set of missing views.

Metrics, per subcategory, micro-averaged over all trials (sums of counts, then ratios):
    accuracy (the paper's: true missing views found / true missing views, i.e. recall),
    precision (flagged views that are truly missing / flagged views; NaN when nothing was
    flagged), F1 = 2 tp / (2 tp + fp + fn), and purity: the share of the evaluated images
    whose pose class stands for their own view (the class -> view map above, learnt on the
    training reference images, so this is purity measured on unseen images; pooled over seeds).
    The run's own purity on its reference images (standard cluster purity) is in the trials.
"""
from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from itertools import product as _grid
from pathlib import Path

import numpy as np
import pandas as pd

from ..catalog.selection import select_sets
from ..cluster import purity
from ..config import EvalOptions, SuggestConfig, TrainConfig  # EvalOptions: re-exported here
from ..groups import pose_groups
from ..listing import read_listing
from ..progress import Progress, ProgressFn
from ..store import Store
from ..suggestions import missing_groups
from .judgements import load_labels
from .labels import LabelSet
from .metrics import ALL, METRICS, NO_SUBCATEGORY, UNLABELLED, order_counts, ratios, set_counts
from .results import EvalResult

BACKEND_TITLES = {"blazepose": "BlazePose", "blazepose-coco17": "BlazePose-COCO17",
                  "mmpose-hrnet": "MMPose", "rtmpose-onnx": "RTMPose", "blazepose-heavy": "BlazePose heavy",
                  "movenet-thunder": "MoveNet Thunder", "movenet-lightning": "MoveNet Lightning"}


# -- configurations --------------------------------------------------------------------------

@dataclass(frozen=True)
class Configuration:
    backend: str = "blazepose"
    autoencoder: bool = False

    @property
    def name(self) -> str:
        return BACKEND_TITLES.get(self.backend, self.backend) + (" + AE" if self.autoencoder else "")

    @property
    def key(self) -> str:
        return self.backend + ("+ae" if self.autoencoder else "")

    @classmethod
    def parse(cls, text: str) -> Configuration:
        """'blazepose', 'blazepose+ae', 'mmpose-hrnet+ae' (case and spaces ignored)."""
        from ..pose import available_backends

        t = str(text).strip().lower().replace(" ", "")
        ae = t.endswith("+ae") or t.endswith("+autoencoder")
        backend = t.rsplit("+", 1)[0] if ae else t
        if backend not in available_backends():
            raise ValueError(f"unknown configuration {text!r}: backend {backend!r} is not one of "
                             f"{', '.join(available_backends())} (add +ae for the autoencoder)")
        return cls(backend, ae)


def default_configurations(store: Store) -> tuple[list[Configuration], list[str]]:
    """BlazePose with and without the autoencoder, plus '<backend> + AE' for every other
    registered backend whose poses are already cached for the whole catalogue."""
    from ..pose import available_backends, backend_identity

    configs = [Configuration("blazepose", False), Configuration("blazepose", True)]
    notes = []
    for b in available_backends():
        if b == "blazepose":
            continue
        try:
            bid, version = backend_identity(b, store.data_dir)
        except Exception as exc:  # a backend that cannot start here (no weights, no package)
            notes.append(f"{b}: skipped, it cannot start here ({type(exc).__name__}: {exc})")
            continue
        pending = len(store.missing_poses(bid, version))
        if pending:
            notes.append(f"{b}: skipped, {pending} catalogue images have no {b} pose yet; "
                         f"ask for it with --config {b}+ae (runs the pose model first)")
        else:
            configs.append(Configuration(b, True))
    return configs, notes


# -- options and results ---------------------------------------------------------------------

def class_labels(reference: pd.DataFrame) -> tuple[dict, dict]:
    """Majority view label per pose class: ({(subcategory, class): label}, {class: label}).
    ``reference`` has pose_class, label and subcategory columns; ties go to the label first
    in alphabetical order so the mapping is deterministic."""
    ref = reference[(reference["pose_class"] >= 0) & reference["label"].notna()]

    def majority(df, keys):
        counts = df.groupby([*keys, "label"]).size().rename("n").reset_index()
        counts = counts.sort_values([*keys, "n", "label"], ascending=[True] * len(keys) + [False, True])
        top = counts.drop_duplicates(keys)
        return {(tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]): r["label"]
                for r in top.to_dict(orient="records")}

    return majority(ref, ["subcategory", "pose_class"]), majority(ref, ["pose_class"])


def run_view_maps(store: Store, run, labels: LabelSet | None = None) -> tuple[dict, dict]:
    """Majority view label per pose class of a run registered in ``store`` (its reference
    image ids are this store's), per subcategory and overall; empty when nothing is labelled."""
    labels = labels if labels is not None else load_labels(store, with_judgements=False)
    if labels.image_labels.empty:
        return {}, {}
    sub_of = store.products().set_index("product_id")["subcategory"].fillna(NO_SUBCATEGORY)
    ref = run.reference[["image_id", "product_id", "pose_class"]].copy()
    ref["label"] = labels.label_of(ref["image_id"])
    ref["subcategory"] = ref["product_id"].map(sub_of)
    return class_labels(ref)


def group_view_maps(reference: pd.DataFrame, groups) -> tuple[dict, dict]:
    """:func:`class_labels` with each class replaced by its pose group: the view a group stands for."""
    ref = reference.copy()
    ref["pose_class"] = [(groups.group_of(c) if c >= 0 else None) for c in ref["pose_class"]]
    ref = ref[ref["pose_class"].notna()]
    ref["pose_class"] = ref["pose_class"].astype(int)
    return class_labels(ref)


def view_of_class(maps: tuple[dict, dict], subcategory, c: int) -> str | None:
    """The view a pose class stands for in a subcategory, or None when unknown."""
    view = _label_for(maps, subcategory if subcategory else NO_SUBCATEGORY, c)
    return None if view == UNLABELLED else view


def _label_for(maps: tuple[dict, dict], subcategory, c: int) -> str:
    by_sub, glob = maps
    return by_sub.get((subcategory, c)) or glob.get(c) or UNLABELLED


def _ordered_labels(maps, subcategory, classes) -> list[str]:
    out = []
    for c in classes:
        view = _label_for(maps, subcategory, c)
        if view not in out:
            out.append(view)
    return out


# -- the protocol ----------------------------------------------------------------------------

def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def kept_subset(n_images: int, seed: int, draw: int, product_id: str, keep_min: int, keep_max: int) -> np.ndarray:
    """Indices of the images a trial keeps: the same for every configuration."""
    rng = np.random.default_rng([seed, draw, _stable_int(product_id)])
    hi = min(keep_max, n_images - 1)
    lo = min(keep_min, hi)
    n_keep = int(rng.integers(lo, hi + 1))
    return np.sort(rng.choice(n_images, size=n_keep, replace=False))


def answer_keys(product_ids, fully: pd.Series, n_img: pd.Series, options: EvalOptions, base: TrainConfig,
                notes: list[str]) -> tuple[list[str], int]:
    """The products whose full listing is the hide-and-complete truth, and the image count they
    need (see "Answer keys" above); appends a note on the labelled products left out."""
    floor = options.keep_min + 1
    labelled = [p for p in product_ids if fully.get(p, False) and n_img.get(p, 0) >= floor]
    need = max(floor, options.answer_min if options.answer_min is not None
               else base.selection.subject_max_images)
    keys = [p for p in labelled if n_img.get(p, 0) >= need]
    if labelled and not keys and options.answer_min is None:
        notes.append(f"no labelled product has {need} images or more: the sparse listings are the answer keys, "
                     "so a flag for a view the small listing never had counts as wrong (precision is a lower bound)")
        return labelled, floor
    if len(keys) < len(labelled):
        notes.append(f"{len(labelled) - len(keys)} labelled products with {floor}-{need - 1} images are not answer "
                     f"keys: their full listing is itself sparse (answer_min {need}; --answer-min {floor} "
                     "scores them too)")
    return keys, need


def split_holdout(reference_ids: list[str], products: pd.DataFrame, share: float, seed: int) -> list[str]:
    """A share of the given reference products per subcategory (at least one where a
    subcategory has two or more, never all of them)."""
    if share <= 0 or not reference_ids:
        return []
    rng = np.random.default_rng([seed, 7919])
    sub = products.set_index("product_id")["subcategory"].fillna(NO_SUBCATEGORY)
    held = []
    for s in sorted(sub.loc[reference_ids].unique()):
        ids = sorted(p for p in reference_ids if sub.loc[p] == s)
        if len(ids) < 2:
            continue
        n = min(len(ids) - 1, max(1, round(share * len(ids))))
        held += [ids[i] for i in sorted(rng.choice(len(ids), size=n, replace=False))]
    return sorted(held)


def _scratch_store(store: Store, folder: Path, products: pd.DataFrame, images: pd.DataFrame,
                   backends: list[tuple[str, str]]) -> tuple[Store, dict[int, int]]:
    """A throw-away data dir with the given catalogue and the pose cache rows it needs.
    Returns it and a map scratch image_id -> the user's image_id."""
    scratch = Store(folder)
    for entry in store.data_dir.iterdir():   # e.g. model weights a backend looks for in data_dir
        if entry.is_dir() and entry.name not in ("runs",) and not (folder / entry.name).exists():
            with contextlib.suppress(OSError):
                (folder / entry.name).symlink_to(entry, target_is_directory=True)
    empty = pd.DataFrame(columns=["row", "product_id", "kind", "detail"])
    scratch.replace_catalogue(products, images, empty, "evaluation scratch copy")
    hashes = set(images["content_hash"])
    for bid, version in backends:
        scratch.put_poses(bid, version, store.poses(bid, version, hashes).values())
    new = scratch.images()[["image_id", "product_id", "position", "content_hash"]]
    old = images[["image_id", "product_id", "position", "content_hash"]]
    m = new.merge(old, on=["product_id", "position", "content_hash"], suffixes=("", "_orig"))
    return scratch, dict(zip(m["image_id"].astype(int), m["image_id_orig"].astype(int)))


def base_config(store: Store, options: EvalOptions) -> TrainConfig:
    """The training settings every evaluated configuration shares: ``options.base``, else the
    active run's (selection, min share, K ...), else the defaults; ``options.k`` wins."""
    if options.base is not None:
        base = options.base
    else:
        base = TrainConfig()
        rid = store.active_run_id()
        if rid is not None:
            try:   # a missing run or unreadable settings: the defaults
                base = TrainConfig.from_dict(store.run(rid).config)
            except (TypeError, ValueError, LookupError):
                base = TrainConfig()
    if options.k is not None:
        base = replace(base, k=options.k)
    return base


def _report(progress: ProgressFn | None, done: int, total: int, msg: str) -> None:
    if progress:
        progress(Progress("evaluate", done, total, msg))


def evaluate(store: Store, labels: LabelSet | None = None, configurations: list[Configuration] | None = None,
             options: EvalOptions | None = None, progress: ProgressFn | None = None,
             workers: int | None = None, reader=None) -> EvalResult:
    """Train each configuration on labelled reference products (minus a held-out share) and
    score its missing-pose suggestions; see the module docstring for the protocol. ``reader``:
    a learned view reader that reads every photo (None: the view rules; the data dir's own
    reader learned from labels the evaluation holds out, so it is never used implicitly)."""
    from ..pose import PoseOptions, backend_identity
    from ..pose.extract import extract_poses
    from ..runs import load_run
    from ..training import train

    t0 = time.perf_counter()
    options = options or EvalOptions()
    options.validate()
    products, images = store.products(), store.images()
    if products.empty:
        raise ValueError("the catalogue is empty: run `unposed demo` or `unposed import` first")
    labels = labels if labels is not None else load_labels(store)
    if labels.empty:
        raise ValueError("no view labels: the catalogue has no pose_label column and no labels file was "
                         "given (--labels FILE: image_path,label rows and/or product_id,missing rows)")
    notes = list(labels.problems[:5])
    base = base_config(store, options)
    base.validate()
    auto_notes: list[str] = []
    if configurations is None:
        configurations, auto_notes = default_configurations(store)
    if not configurations:
        raise ValueError("no configuration to evaluate")
    if len({c.key for c in configurations}) != len(configurations):
        raise ValueError("a configuration is listed twice")
    notes += auto_notes

    images = images.copy()
    images["label"] = labels.label_of(images["image_id"])
    sub_of = products.set_index("product_id")["subcategory"].fillna(NO_SUBCATEGORY)
    n_img = images.groupby("product_id").size()
    fully = images.groupby("product_id")["label"].apply(lambda s: s.notna().all())
    sel = select_sets(products, images, base.selection)
    reference = set(sel.reference_ids)
    eligible, answer_min = answer_keys(products["product_id"], fully, n_img, options, base, notes)
    ref_eligible = [p for p in sel.reference_ids if p in set(eligible)]
    outside = [p for p in eligible if p not in reference]
    reviewed = sorted(p for p in labels.product_missing if p in sub_of.index and n_img.get(p, 0) > 0)
    if not ref_eligible and not outside and not reviewed:
        raise ValueError(
            f"nothing to evaluate: no product has all its images labelled and at least "
            f"{answer_min} of them, and no product has reviewed missing views "
            f"({labels.summary()})")
    if options.holdout == 0 and not outside and not reviewed:
        raise ValueError("holdout is 0 and no labelled product lies outside the reference set: "
                         "every evaluated product would be one the system learned from")
    if options.holdout == 0:
        ref_eligible = []
        notes.append("holdout 0: only products outside the reference set are evaluated")

    # every configuration's pose cache must cover the catalogue (then no model runs again)
    idents: dict[str, tuple[str, str]] = {}
    for cfg in configurations:
        if cfg.backend in idents:
            continue
        idents[cfg.backend] = backend_identity(cfg.backend, store.data_dir)
        if len(store.missing_poses(*idents[cfg.backend])):
            extract_poses(store, PoseOptions(backend=cfg.backend), workers=workers, progress=progress)

    seeds = list(range(options.first_seed, options.first_seed + options.seeds))
    ks = [int(k) for k in dict.fromkeys(options.ks)] if options.ks else [base.k]
    settings = options.settings()
    total = len(seeds) * len(configurations) * len(ks)
    trials: list[dict] = []
    purity_rows: list[dict] = []
    step = 0
    for seed in seeds:
        held = split_holdout(ref_eligible, products, options.holdout, seed)
        eval_ids = sorted(set(held) | set(outside))
        keep_products = products[~products["product_id"].isin(held)]
        keep_images = images[~images["product_id"].isin(held)]
        with tempfile.TemporaryDirectory(prefix="unposed-eval-") as tmp:
            scratch, id_map = _scratch_store(store, Path(tmp), keep_products, keep_images.drop(columns=["label"]),
                                             list(idents.values()))
            try:
                for cfg, k in _grid(configurations, ks):
                    _report(progress, step, total, f"seed {seed}: training {cfg.name}, K={k}")
                    tcfg = replace(base, backend=cfg.backend, autoencoder=cfg.autoencoder, seed=seed, k=k)
                    res = train(scratch, tcfg, workers=workers, run_id=f"eval-s{seed}-{cfg.key}-k{k}",
                                reader=reader)
                    run = load_run(res.path)
                    run.reader = reader
                    trials += _score_run(run, store, id_map, cfg, seed, products, images, eval_ids,
                                         reviewed, labels, options, purity_rows,
                                         baselines=cfg == configurations[0], groups=pose_groups(scratch, run),
                                         settings=settings)
                    step += 1
                    _report(progress, step, total, f"seed {seed}: {cfg.name}, K={k} scored")
            finally:
                scratch.close()
                shutil.rmtree(tmp, ignore_errors=True)

    trials_df = pd.DataFrame(trials)
    names = [c.name for c in configurations]
    sweep = _sweep_table(trials_df, names) if len(trials_df) else None
    # the Table-1 tables: the first K and the first suggestion setting
    primary = trials_df
    if len(trials_df):
        primary = trials_df[(trials_df["k"] == ks[0]) & (trials_df["setting"] == settings[0].label())]
    pur = pd.DataFrame(purity_rows)
    if len(pur):
        pur = pur[pur["k"] == ks[0]]
    hc = primary[primary["protocol"] == "hide"] if len(primary) else primary
    rv = primary[primary["protocol"] == "reviewed"] if len(primary) else primary
    table, counts = _tables(hc, pur, names)
    reviewed_table = _tables(rv, None, names)[0] if len(rv) else None
    bl = primary[primary["protocol"] == "baseline"] if len(primary) else primary
    strict = _strict_table(pd.concat([hc, bl]), names + [BASELINE_RANDOM, BASELINE_ALL, CEILING]) if len(hc) else None
    if strict is not None and not strict.empty and len(bl):
        notes.append(f"baselines use the {names[0]} runs: the same ranking and class -> view map, with "
                     "a random pose per person image, or with no image looked at")
    n_hidden = hc["product_id"].nunique() if len(hc) else 0
    opts = {"k": ks[0], "ks": ks, "settings": [s.to_dict() | {"label": s.label()} for s in settings],
            "seeds": options.seeds, "first_seed": options.first_seed, "holdout": options.holdout,
            "keep_min": options.keep_min, "keep_max": options.keep_max, "draws": options.draws,
            "answer_min": answer_min,
            "min_cohort_share": base.min_cohort_share, "n_products": int(n_hidden),
            "n_reference_heldout_candidates": len(ref_eligible), "n_outside_reference": len(outside),
            "n_reviewed": len(reviewed), "labels": labels.summary(),
            "configurations": [asdict(c) | {"name": c.name} for c in configurations]}
    order = _order_table(hc, names) if len(hc) else None
    return EvalResult(names, table, counts, trials_df, reviewed_table, notes, opts, time.perf_counter() - t0,
                      strict, sweep, order)


BASELINE_RANDOM = "baseline: random pose per image"
BASELINE_ALL = "baseline: flag every expected pose"
# An upper reference, not a system: what a perfect reader of the kept images would reach with
# this ranking and expectation -- every expected view the kept images do not show, read from
# the labels. Its precision is what is left once nothing the seller shows is asked for again.
CEILING = "ceiling: every expected view not shown (labels)"


def _trial(base_row: dict, draw: int, kept_idx, lab: list, pred: list[str], missing, truth: set,
           protocol: str, main: list[str] | None = None) -> dict:
    """One trial's row. ``pred``: the views asked for, in the order asked (the main list, then
    "also worth trying"); ``main``: those of the main list alone (None: all of ``pred``). tp/fp/fn
    count ``pred``, tp_main/... the main list; hit1/n1 and hit3/n3 the first one and first three
    (precision@1, @3) of each."""
    kept_labels = {lab[i] for i in kept_idx if lab[i]}
    main = pred if main is None else main
    tp, fp, fn = set_counts(truth, pred)
    tpm, fpm, fnm = set_counts(truth, main)
    return {**base_row, "protocol": protocol, "draw": draw, "n_kept": len(kept_idx),
            "kept_labels": "|".join(lab[i] for i in kept_idx if lab[i]), "truth": "|".join(sorted(truth)),
            "predicted": "|".join(pred), "predicted_main": "|".join(main),
            "missing_classes": " ".join(map(str, missing.classes)),
            "missing_groups": " ".join(map(str, missing.groups)),
            "also_groups": " ".join(str(r["group"]) for r in missing.also), "status": missing.status,
            "tp": tp, "fp": fp, "fn": fn, "tp_main": tpm, "fp_main": fpm, "fn_main": fnm,
            **order_counts(truth, pred), **order_counts(truth, main, "_main"),
            # flags for views the seller already shows, and kept views not flagged again
            "redundant": sum(1 for p in pred if p in kept_labels),
            "kept_views": len(kept_labels), "kept_recognised": len(kept_labels - set(pred))}


def _score_run(run, store, id_map, cfg, seed, products, images, eval_ids, reviewed, labels,
               options, purity_rows, baselines: bool = False, groups=None,
               settings: list[SuggestConfig] | None = None) -> list[dict]:
    """Trials of one trained run: every evaluated product x draw x suggestion setting (and the
    baselines under each setting when ``baselines``). ``groups``: the run's pose groups (default:
    as the Suggester reads them from ``store``)."""
    sub_of = products.set_index("product_id")["subcategory"].fillna(NO_SUBCATEGORY)
    prod = products.set_index("product_id", drop=False)
    groups = groups if groups is not None else pose_groups(store, run)
    settings = settings or options.settings()
    # groups -> views, from this run's training reference images
    ref = run.reference.copy()
    ref["orig_id"] = ref["image_id"].map(id_map)
    ref["label"] = labels.label_of(ref["orig_id"])
    ref["subcategory"] = ref["product_id"].map(sub_of)
    maps = group_view_maps(ref, groups)
    wanted = sorted(set(eval_ids) | set(reviewed))
    imgs = images[images["product_id"].isin(wanted)]
    # the system's answer comes from the Suggester's own reading and rule: listing.read_listing
    # over the pose cache (views, Run.classify: no person -> K, no usable pose -> -1, the distances
    # to every centroid), each trial's kept images as a listing of their own (copies found among
    # them), then suggestions.missing_groups
    poses = store.poses(*run.info.identity, imgs["content_hash"])
    read = read_listing(run, [poses.get(h) for h in imgs["content_hash"]], find_copies=False)
    imgs = imgs.assign(pose_class=read.classes)
    imgs["group"] = [groups.group_of(c) if c >= 0 else -1 for c in imgs["pose_class"]]
    # purity of the evaluated (hidden-protocol) images: the share whose group's view (the
    # majority label of the run's reference images, as for the suggestions) is their own view
    hid = imgs[imgs["product_id"].isin(eval_ids) & (imgs["group"] >= 0)]
    if len(hid):
        subs = hid["product_id"].map(sub_of)
        agree = np.array([_label_for(maps, sc, int(c)) == view
                          for sc, c, view in zip(subs, hid["group"], hid["label"])])
        for sc in sorted(subs.unique()):
            m = (subs == sc).to_numpy()
            purity_rows.append({"configuration": cfg.name, "seed": seed, "k": run.k, "subcategory": sc,
                                "hits": int(agree[m].sum()), "n_images": int(m.sum())})
        purity_rows.append({"configuration": cfg.name, "seed": seed, "k": run.k, "subcategory": ALL,
                            "hits": int(agree.sum()), "n_images": len(agree)})
    ref_ok = ref[(ref["pose_class"] >= 0) & ref["label"].notna()]
    ref_purity = purity(ref_ok["pose_class"], ref_ok["label"]) if len(ref_ok) else float("nan")
    rng = np.random.default_rng([seed, 104729])
    n_pose = run.k   # classes 0..K-1 are poses
    position = {i: j for j, i in enumerate(imgs.index)}
    rows: list[dict] = []
    for pid, g in imgs.groupby("product_id", sort=True):
        product = prod.loc[pid].to_dict()
        s = sub_of.loc[pid]
        cls = g["pose_class"].to_numpy()
        listing = read.subset([position[i] for i in g.index])
        lab = g["label"].tolist()
        base_row = {"configuration": cfg.name, "seed": seed, "k": run.k, "product_id": pid, "subcategory": s,
                    "n_images": len(g), "reference_purity": ref_purity}

        def answer(kept, setting, present=None, listing=listing, product=product, s=s):
            """The rule's answer for the ``kept`` images read as the listing (or a baseline's
            ``present`` classes, no distances, no views), and the views its groups stand for."""
            if present is None:
                present, d, vw, _ = listing.subset(kept).rule_input()
            else:
                d = vw = None
            m = missing_groups(run, product, present, d, groups, setting, vw)
            return m, _ordered_labels(maps, s, [r["group"] for r in m.requests]), \
                _ordered_labels(maps, s, m.groups)

        if pid in eval_ids:
            # the random baseline: person images get a random pose class (no-person stays)
            rand_cls = np.where((cls >= 0) & (cls < n_pose), rng.integers(0, max(n_pose, 1), len(cls)), cls)
            for draw in range(options.draws):
                kept = kept_subset(len(g), seed, draw, pid, options.keep_min, options.keep_max)
                truth = set(lab) - {lab[i] for i in kept}
                for setting in settings:
                    srow = {**base_row, "setting": setting.label(), "expect": setting.expect,
                            "coverage": setting.coverage_percentile, "min_confidence": setting.min_confidence}
                    m, pred, main = answer(kept, setting)
                    rows.append(_trial(srow, draw, kept, lab, pred, m, truth, "hide", main))
                    if baselines:
                        for name, present in ((BASELINE_RANDOM, {int(c) for c in rand_cls[kept] if c >= 0}),
                                              (BASELINE_ALL, set())):
                            m, pred, main = answer(kept, setting, present)
                            rows.append(_trial({**srow, "configuration": name}, draw, kept, lab, pred, m, truth,
                                               "baseline", main))
                        shown = {lab[i] for i in kept}
                        rows.append(_trial({**srow, "configuration": CEILING}, draw, kept, lab,
                                           [v for v in pred if v not in shown], m, truth, "baseline"))
        if pid in reviewed:
            every = np.arange(len(g))
            for setting in settings:
                srow = {**base_row, "setting": setting.label(), "expect": setting.expect,
                        "coverage": setting.coverage_percentile, "min_confidence": setting.min_confidence}
                m, pred, main = answer(every, setting)
                rows.append(_trial(srow, 0, list(every), lab, pred, m, set(labels.product_missing[pid]),
                                   "reviewed", main))
    return rows


def _sweep_table(trials: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """One row per (configuration, K, setting), all subcategories pooled: the system's accuracy,
    precision and F1 on the hidden views, its flags per trial and share of empty answers, and the
    flag-everything and random baselines on the same trials under the same setting."""
    hide = trials[trials["protocol"] == "hide"]
    base = trials[trials["protocol"] == "baseline"]
    out = []
    for (name, k, setting), g in hide.groupby(["configuration", "k", "setting"], sort=False):
        r = ratios(int(g["tp"].sum()), int(g["fp"].sum()), int(g["fn"].sum()))
        b = base[(base["k"] == k) & (base["setting"] == setting)]
        ba = b[b["configuration"] == BASELINE_ALL]
        br = b[b["configuration"] == BASELINE_RANDOM]
        bc = b[b["configuration"] == CEILING]
        ra = ratios(int(ba["tp"].sum()), int(ba["fp"].sum()), int(ba["fn"].sum())) if len(ba) else {}
        rr = ratios(int(br["tp"].sum()), int(br["fp"].sum()), int(br["fn"].sum())) if len(br) else {}
        rc = ratios(int(bc["tp"].sum()), int(bc["fp"].sum()), int(bc["fn"].sum())) if len(bc) else {}
        out.append({"configuration": name, "k": int(k), "setting": setting, "expect": g["expect"].iloc[0],
                    "coverage": g["coverage"].iloc[0], "min_confidence": g["min_confidence"].iloc[0], **r,
                    **_order_ratios(g), **{f"{m}_main": v for m, v in _order_ratios(g, "_main").items()},
                    **{f"{m}_main": v for m, v in ratios(*(int(g[f"{c}_main"].sum()) for c in ("tp", "fp", "fn")))
                       .items()},
                    "flags_per_trial": float((g["tp"].sum() + g["fp"].sum()) / len(g)),
                    "empty_answers": float((g["status"] != "missing").mean()),
                    "all_accuracy": ra.get("accuracy", float("nan")),
                    "all_precision": ra.get("precision", float("nan")),
                    "random_accuracy": rr.get("accuracy", float("nan")),
                    "random_precision": rr.get("precision", float("nan")),
                    "ceiling_accuracy": rc.get("accuracy", float("nan")),
                    "ceiling_precision": rc.get("precision", float("nan")),
                    "precision_gain": r["precision"] - ra.get("precision", float("nan")), "trials": len(g)})
    df = pd.DataFrame(out)
    if df.empty:
        return df
    df["configuration"] = pd.Categorical(df["configuration"], categories=names, ordered=True)
    df = df.sort_values(["configuration", "k", "expect", "coverage", "min_confidence"], kind="stable")
    df["configuration"] = df["configuration"].astype(str)
    return df.reset_index(drop=True)


def _order_ratios(g: pd.DataFrame, suffix: str = "") -> dict[str, float]:
    """precision@1 and precision@3 of pooled trials (NaN when no trial asked for anything)."""
    def at(k):
        n = g[f"n{k}{suffix}"].sum()
        return float(g[f"hit{k}{suffix}"].sum() / n) if n else float("nan")
    return {"p_at_1": at(1), "p_at_3": at(3)}


ORDER_LISTS = (("main list", "_main"), ("main + also worth trying", ""))


def _order_table(trials: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """All subcategories pooled, per configuration: the main list and main + "also worth trying",
    each with accuracy, precision, F1 and the precision of its first request (precision@1) and
    of its first three (precision@3): whether the order puts the right request first."""
    rows = []
    for name in names:
        g = trials[trials["configuration"] == name]
        if g.empty:
            continue
        for title, sfx in ORDER_LISTS:
            tp, fp, fn = (int(g[f"{c}{sfx}"].sum()) for c in ("tp", "fp", "fn"))
            rows.append({"configuration": name, "list": title, **ratios(tp, fp, fn), **_order_ratios(g, sfx),
                         "flags_per_trial": (tp + fp) / len(g), "trials": len(g)})
    return pd.DataFrame(rows)


def _strict_table(trials: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """All subcategories pooled: the Table-1 metrics next to what looking at the images buys."""
    rows = []
    for name in names:
        g = trials[trials["configuration"] == name]
        if g.empty:
            continue
        tp, fp, fn = int(g["tp"].sum()), int(g["fp"].sum()), int(g["fn"].sum())
        kv = int(g["kept_views"].sum())
        rows.append({"configuration": name, **ratios(tp, fp, fn),
                     "specificity": g["kept_recognised"].sum() / kv if kv else float("nan"),
                     "redundant_per_trial": g["redundant"].sum() / len(g),
                     "flags_per_trial": (g["tp"].sum() + g["fp"].sum()) / len(g), "trials": len(g)})
    return pd.DataFrame(rows).set_index("configuration") if rows else pd.DataFrame()


def _tables(trials: pd.DataFrame, purity_rows: pd.DataFrame | None, names: list[str]):
    """(metrics table, counts table): rows subcategory + All, columns (configuration, metric)."""
    if trials is None or trials.empty:
        return pd.DataFrame(), pd.DataFrame()
    subs = sorted(trials["subcategory"].unique())
    index = subs + [ALL]
    cols = pd.MultiIndex.from_product([names, list(METRICS)])
    ccols = pd.MultiIndex.from_product([names, ["tp", "fp", "fn", "redundant", "kept_views", "kept_recognised",
                                                "trials", "products"]])
    table = pd.DataFrame(np.nan, index=index, columns=cols)
    counts = pd.DataFrame(0, index=index, columns=ccols)
    for name in names:
        t = trials[trials["configuration"] == name]
        for r in index:
            g = t if r == ALL else t[t["subcategory"] == r]
            if g.empty:
                continue
            tp, fp, fn = int(g["tp"].sum()), int(g["fp"].sum()), int(g["fn"].sum())
            for m, v in ratios(tp, fp, fn).items():
                table.loc[r, (name, m)] = v
            counts.loc[r, (name, "tp")], counts.loc[r, (name, "fp")], counts.loc[r, (name, "fn")] = tp, fp, fn
            for col in ("redundant", "kept_views", "kept_recognised"):
                counts.loc[r, (name, col)] = int(g[col].sum())
            counts.loc[r, (name, "trials")] = len(g)
            counts.loc[r, (name, "products")] = g["product_id"].nunique()
        if purity_rows is not None and len(purity_rows):
            pr = purity_rows[purity_rows["configuration"] == name]
            for r in index:
                g = pr[pr["subcategory"] == r]
                if g["n_images"].sum():
                    table.loc[r, (name, "purity")] = float(g["hits"].sum() / g["n_images"].sum())
    table.index.name = counts.index.name = "subcategory"
    return table, counts


