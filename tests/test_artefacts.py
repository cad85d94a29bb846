"""Run artefacts are checked by content as well as by checksum (issue 13, item 4), and the
half-written runs of killed trainings are cleared (item 6).

Every tampered run below has its checksum in metadata.json updated, as a deliberate edit
would: the content checks must catch it. The loads run in a subprocess, so a segmentation
fault (LightGBM reading a broken model) fails the test instead of killing pytest.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from unpose_core.cluster import PoseKMeans
from unpose_core.config import TrainConfig
from unpose_core.images import content_hash
from unpose_core.rank import CentroidRanker
from unpose_core.ranker_file import check_lightgbm_model
from unpose_core.records import CentroidInfo, CentroidKind, RunInfo
from unpose_core.runs import (
    OWNER_FILE,
    RunError,
    get_run,
    load_run,
    remove_stale_partials,
    run_digest,
    save_run,
)
from unpose_core.store import Store

ROOT = Path(__file__).resolve().parents[1]
K, DIM, N_LANDMARKS = 4, 77, 33


def build_run(folder: Path) -> Path:
    """A small but complete run, made by the real components from synthetic poses (no pose model)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, DIM)).astype(np.float32)
    km = PoseKMeans(K, seed=0).fit(X)
    _, d = km.nearest(X)
    n_none = 10
    classes = np.r_[km.labels_, np.full(n_none, K)]
    dists = np.r_[d, np.full(n_none, np.nan)].astype(np.float32)
    n = len(classes)
    pid = np.array([f"p{i % 8}" for i in range(n)])
    rows = pd.DataFrame({"product_id": pid, "category": "Clothing",
                         "subcategory": np.where(np.arange(n) % 8 < 4, "Shirts", "Polos"),
                         "product_type": np.where(np.arange(n) % 2, "Long sleeve", "Short sleeve"),
                         "avg_rating": 3 + (np.arange(n) % 8) / 4, "n_ratings": 5 + np.arange(n) % 8})
    ranker = CentroidRanker(K + 1, n_estimators=40, seed=0).fit(classes, rows)
    reference = pd.DataFrame({"image_id": np.arange(n), "product_id": pid,
                              "content_hash": [f"{i:064x}" for i in range(n)],
                              "status": ["person"] * len(X) + ["no_person"] * n_none,
                              "pose_class": classes, "distance": dists})
    centroids = [CentroidInfo(c, CentroidKind.POSE, int((classes == c).sum()), int(len(set(pid[classes == c]))),
                              f"pose {c}", mean_landmarks=rng.random((N_LANDMARKS, 4)).round(4).tolist(),
                              profile=X[km.labels_ == c].mean(axis=0).round(5).tolist()) for c in range(K)]
    centroids.append(CentroidInfo(K, CentroidKind.NO_PERSON, n_none, int(len(set(pid[classes == K]))), "no person"))
    info = RunInfo("blazepose", "test", "blazepose33", [f"lm{i}" for i in range(N_LANDMARKS)], [[0, 1], [1, 2]],
                   K, DIM, DIM, False, K,
                   extra={"radii": {"percentiles": [0, 50, 100], "squared": [[0.1, 0.5, 1.0]] * K}})
    return save_run(folder, folder.name, TrainConfig(k=K), info, km, ranker, reference, centroids)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return build_run(tmp_path_factory.mktemp("artefacts") / "run-pristine")


@pytest.fixture
def run_copy(pristine, tmp_path) -> Path:
    dst = tmp_path / "runs" / "run-copy"
    shutil.copytree(pristine, dst)
    return dst


# -- tampering helpers: each edit also rewrites the checksum, as a deliberate edit would ----------

def _meta(run: Path) -> dict:
    return json.loads((run / "metadata.json").read_text())


def _set_meta(run: Path, meta: dict) -> None:
    (run / "metadata.json").write_text(json.dumps(meta, indent=1))


def rewrite(run: Path, name: str, data: bytes | str) -> None:
    """Replace a run file and update its checksum in metadata.json."""
    (run / name).write_bytes(data.encode() if isinstance(data, str) else data)
    meta = _meta(run)
    meta["files"][name] = content_hash(run / name)
    _set_meta(run, meta)


def rewrite_json(run: Path, name: str, edit) -> None:
    obj = json.loads((run / name).read_text())
    out = edit(obj)   # edits change obj in place, or return a new one of its type
    obj = out if type(out) is type(obj) else obj
    rewrite(run, name, json.dumps(obj))


def rewrite_npy(run: Path, name: str, arr: np.ndarray) -> None:
    np.save(run / name, arr, allow_pickle=False)
    rewrite(run, name, (run / name).read_bytes())


def rewrite_reference(run: Path, edit) -> None:
    ref = pd.read_parquet(run / "reference.parquet")
    ref = edit(ref)
    ref.to_parquet(run / "reference.parquet", index=False)
    rewrite(run, "reference.parquet", (run / "reference.parquet").read_bytes())


def edit_tree(text: str, tree: int, key: str, edit) -> str:
    """Change one line of one tree of a LightGBM model and redo ``tree_sizes``, so the model is
    consistent as a file and only the tree's content is wrong."""
    start = text.index("\nTree=") + 1
    header = text[:start]
    sizes = [int(s) for s in re.search(r"^tree_sizes=(.*)$", header, re.M).group(1).split(" ")]
    blocks, pos = [], start
    for s in sizes:
        blocks.append(text[pos:pos + s])
        pos += s
    lines = blocks[tree].split("\n")
    i = next(j for j, line in enumerate(lines) if line.startswith(key + "="))
    lines[i] = f"{key}={edit(lines[i][len(key) + 1:])}"
    blocks[tree] = "\n".join(lines)
    new_sizes = " ".join(str(len(b)) for b in blocks)
    header = re.sub(r"^tree_sizes=.*$", f"tree_sizes={new_sizes}", header, flags=re.M)
    return header + "".join(blocks) + text[pos:]


def _first_split_tree(text: str) -> int:
    """A tree with at least three leaves (so node indices can be bent)."""
    for m in re.finditer(r"^Tree=(\d+)\nnum_leaves=(\d+)$", text, re.M):
        if int(m.group(2)) >= 3:
            return int(m.group(1))
    raise AssertionError("the test ranker has no tree with three leaves")


# -- the cases ------------------------------------------------------------------------------------

def _outside_file(run: Path, data: bytes) -> Path:
    p = run.parent.parent / f"outside-{run.name}.bin"
    p.write_bytes(data)
    return p


def _symlink_escape(run: Path) -> None:
    # same bytes, so the checksum matches: only the link's target gives it away
    target = _outside_file(run, (run / "centroids.json").read_bytes())
    (run / "centroids.json").unlink()
    (run / "centroids.json").symlink_to(target)


def _dotdot(run: Path) -> None:
    target = _outside_file(run, b"not part of the run")
    meta = _meta(run)
    meta["files"][f"../../{target.name}"] = content_hash(target)
    _set_meta(run, meta)


def _plain_meta_entry(name: str):
    def edit(run: Path) -> None:
        meta = _meta(run)
        meta["files"][name] = "0" * 64
        _set_meta(run, meta)
    return edit


def _subfolder(run: Path) -> None:
    (run / "sub").mkdir()
    shutil.copy(run / "scale.npy", run / "sub" / "scale.npy")
    meta = _meta(run)
    meta["files"]["sub/scale.npy"] = meta["files"]["scale.npy"]
    _set_meta(run, meta)


def _ranker_text(run: Path) -> str:
    return (run / "ranker.txt").read_text()


def _tree_edit(key: str, edit, tree: int | None = None):
    def apply(run: Path) -> None:
        text = _ranker_text(run)
        rewrite(run, "ranker.txt", edit_tree(text, _first_split_tree(text) if tree is None else tree, key, edit))
    return apply


def _replace_first(value: str, new: str) -> str:
    parts = value.split(" ")
    parts[0] = new
    return " ".join(parts)


TAMPER = {   # case -> (how, message the RunError must carry)
    "all-NaN centroids": (lambda r: rewrite_npy(r, "centroids.npy", np.full((K, DIM), np.nan, np.float32)),
                          "centroids.npy holds NaN or infinite"),
    "infinite scale": (lambda r: rewrite_npy(r, "scale.npy", np.r_[np.inf, np.ones(DIM - 1)].astype(np.float32)),
                       "scale.npy holds NaN or infinite"),
    "zero scale": (lambda r: rewrite_npy(r, "scale.npy", np.zeros(DIM, np.float32)), "scale.npy has values <= 0"),
    "centroids K+1 rows": (lambda r: rewrite_npy(r, "centroids.npy", np.zeros((K + 1, DIM), np.float32)),
                           "centroid arrays do not match K=4"),
    "centroids wrong dim": (lambda r: rewrite_npy(r, "centroids_scaled.npy", np.zeros((K, DIM - 1), np.float32)),
                            "centroid arrays do not match K=4, dim=77"),
    "mean 2-D": (lambda r: rewrite_npy(r, "mean.npy", np.zeros((DIM, 1), np.float32)), "do not match K=4"),
    "integer centroids": (lambda r: rewrite_npy(r, "centroids.npy", np.zeros((K, DIM), np.int64)),
                          "expected float32 or float64"),
    "npy header lies": (lambda r: rewrite(r, "centroids.npy", (r / "centroids.npy").read_bytes()[:-40]),
                        "centroids.npy declares shape"),
    "npy garbage": (lambda r: rewrite(r, "mean.npy", os.urandom(300)), "mean.npy is not a valid .npy"),
    "centroids disagree with scaled": (
        lambda r: rewrite_npy(r, "centroids.npy", np.load(r / "centroids.npy") + 5),
        "does not match centroids_scaled.npy"),
    "K changed in config": (lambda r: rewrite_json(r, "config.json", lambda c: (
        c["info"].__setitem__("k", K + 1), c["train"].__setitem__("k", K + 1))), "do not match K=5"),
    "config k differs from train k": (
        lambda r: rewrite_json(r, "config.json", lambda c: c["train"].__setitem__("k", 9)), "differs from the run's K"),
    "config not JSON": (lambda r: rewrite(r, "config.json", "{not json"), "config.json is not valid JSON"),
    "radii NaN": (lambda r: rewrite_json(r, "config.json", lambda c: c["info"]["radii"]["squared"][0].__setitem__(
        1, float("nan"))), "radii must hold K=4 lists"),
    "config k text": (lambda r: rewrite_json(r, "config.json", lambda c: c["info"].__setitem__("k", "4")),
                      "is not a whole number"),
    "centroids.json short": (lambda r: rewrite_json(r, "centroids.json", lambda c: c[:-1]),
                             "centroids.json has 4 entries, K=4 needs 5"),
    "centroids.json NaN profile": (lambda r: rewrite_json(r, "centroids.json", lambda c: c[0].__setitem__(
        "profile", [float("nan")] * DIM)), "profile holds NaN or infinite"),
    "centroids.json landmarks shape": (lambda r: rewrite_json(r, "centroids.json", lambda c: c[1].__setitem__(
        "mean_landmarks", [[0.0, 0.0, 0.0, 1.0]] * 5)), "mean_landmarks has 5 rows"),
    "centroids.json mirror out of range": (lambda r: rewrite_json(r, "centroids.json", lambda c: c[0].__setitem__(
        "mirror", 99)), "mirror 99"),
    "centroids.json wrong kind": (lambda r: rewrite_json(r, "centroids.json", lambda c: c[K].__setitem__(
        "kind", "pose")), "entry 4 is id 4, kind pose"),
    "reference lacks pose_class": (lambda r: rewrite_reference(r, lambda d: d.drop(columns=["pose_class"])),
                                   "lacks column"),
    "reference class out of range": (lambda r: rewrite_reference(r, lambda d: d.assign(
        pose_class=d["pose_class"].where(d.index != 0, 99))), "outside -1..4"),
    "reference sizes disagree": (lambda r: rewrite_reference(r, lambda d: d.assign(
        pose_class=d["pose_class"].where(d.index != 0, (d["pose_class"].iloc[0] + 1) % K))), "class sizes"),
    "reference NaN distance": (lambda r: rewrite_reference(r, lambda d: d.assign(
        distance=d["distance"].where(d.index != 0, np.nan))), "without a finite distance"),
    "reference not parquet": (lambda r: rewrite(r, "reference.parquet", b"PAR1" + os.urandom(200) + b"PAR1"),
                              "reference.parquet cannot be read"),
    "ranker classes": (lambda r: rewrite_json(r, "ranker_tables.json", lambda t: t.__setitem__("n_classes", K + 2)),
                       "ranker has 6 classes, expected 5"),
    "ranker support out of range": (lambda r: rewrite_json(r, "ranker_tables.json", lambda t: t["tables"]["*"][
        "support"].__setitem__(0, 7.0)), "cohort table '\\*'"),
    "ranker no global table": (lambda r: rewrite_json(r, "ranker_tables.json", lambda t: t["tables"].pop("*") and None),
                               "no global"),
    "'..' file entry": (_dotdot, "not a plain file name"),
    "absolute file entry": (_plain_meta_entry("/etc/hostname"), "not a plain file name"),
    "subfolder file entry": (_subfolder, "not a plain file name"),
    "symlink escape": (_symlink_escape, "symlink pointing outside the run folder"),
    "checksum dropped from metadata": (lambda r: _set_meta(r, {**_meta(r), "files": {
        k: v for k, v in _meta(r)["files"].items() if k != "ranker.txt"}}), "no checksum for ranker.txt"),
    "bad digest": (lambda r: _set_meta(r, {**_meta(r), "files": {**_meta(r)["files"], "mean.npy": "abc"}}),
                   "no valid sha256 for mean.npy"),
    "metadata not an object": (lambda r: (r / "metadata.json").write_text("[1, 2]"),
                               "metadata.json holds a list, expected a dict"),
    "metadata not JSON": (lambda r: (r / "metadata.json").write_text("{"), "is not valid JSON"),
    "edited file, old checksum": (lambda r: (r / "centroids.json").write_text("[]"), "checksum mismatch"),
    # the model file: garbage, cut short, inconsistent -- LightGBM would crash on most of these
    "ranker.txt garbage": (lambda r: rewrite(r, "ranker.txt", bytes(random.Random(1).randrange(256)
                                                                    for _ in range(5000))),
                           "ranker.txt is not a valid LightGBM model"),
    "ranker.txt empty": (lambda r: rewrite(r, "ranker.txt", b""), "ranker.txt is not a valid LightGBM model"),
    "ranker.txt text garbage": (lambda r: rewrite(r, "ranker.txt", "tree\n" + "x" * 3000),
                                "ranker.txt is not a valid LightGBM model"),
    "ranker.txt no tree per iteration": (lambda r: rewrite(r, "ranker.txt", _ranker_text(r).replace(
        "num_tree_per_iteration=1", "num_tree_per_iteration=0")), "out of range"),
    "ranker.txt tree count off": (lambda r: rewrite(r, "ranker.txt", re.sub(
        r"^tree_sizes=(\d+) ", "tree_sizes=", _ranker_text(r), count=1, flags=re.M)), "tree_sizes"),
    "ranker.txt child cycle": (_tree_edit("left_child", lambda v: _replace_first(v, "0")), "reached twice"),
    "ranker.txt child out of range": (_tree_edit("right_child", lambda v: _replace_first(v, "9999")),
                                      "out of range"),
    "ranker.txt leaf out of range": (_tree_edit("right_child", lambda v: _replace_first(v, "-9999")),
                                     "out of range"),
    "ranker.txt feature out of range": (_tree_edit("split_feature", lambda v: _replace_first(v, "7")),
                                        "feature 7 outside 0..3"),
    "ranker.txt leaf values short": (_tree_edit("leaf_value", lambda v: v.rsplit(" ", 1)[0]), "leaf_value has"),
    "ranker.txt num_leaves off": (_tree_edit("num_leaves", lambda v: str(int(v) + 1)), "needs"),
    "ranker.txt NaN leaf": (_tree_edit("leaf_value", lambda v: _replace_first(v, "nan")), "is not a number"),
    "ranker.txt line without '='": (_tree_edit("shrinkage", lambda v: v + "\nshrinkage"), "not key=value"),
    "ranker.txt bad parameter line": (lambda r: rewrite(r, "ranker.txt", _ranker_text(r).replace(
        "[boosting: gbdt]", "[boosting]")), "parameter line"),
    "ranker.txt pandas_categorical garbage": (lambda r: rewrite(r, "ranker.txt", re.sub(
        r"pandas_categorical:.*", "pandas_categorical:[[", _ranker_text(r))), "pandas_categorical"),
}


def _fuzz_cases(text: bytes, seed: int = 13, n_cut: int = 25, n_garble: int = 25) -> dict:
    """Seeded truncations of ranker.txt at random offsets, and random in-place byte garbling."""
    rng = random.Random(seed)
    cases = {}
    for off in sorted(rng.sample(range(1, len(text) - 1), n_cut)):
        cases[f"ranker.txt cut at {off}"] = text[:off]
    for i in range(n_garble):
        b = bytearray(text)
        for _ in range(rng.choice([1, 3, 20])):
            b[rng.randrange(len(b))] = rng.choice(b"0123456789 =-.\nTtreabc\x00\xff")
        cases[f"ranker.txt garbled #{i}"] = bytes(b)
    return cases


LOADER = """
import json, sys
from unpose_core.runs import RunError, load_run
for case, path in json.loads(sys.stdin.read()):
    print(json.dumps({"start": case}), flush=True)
    try:
        load_run(path)
        print(json.dumps({"case": case, "loaded": True}), flush=True)
    except RunError as exc:
        print(json.dumps({"case": case, "error": str(exc)}), flush=True)
    except BaseException as exc:
        print(json.dumps({"case": case, "other": f"{type(exc).__name__}: {exc}"}), flush=True)
"""


def load_in_subprocess(cases: list[tuple[str, Path]]) -> dict[str, dict]:
    """Load each run folder in one child interpreter: a crash there shows as a signal exit code."""
    proc = subprocess.run([sys.executable, "-c", LOADER], input=json.dumps([(c, str(p)) for c, p in cases]),
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    last = next((x["start"] for x in reversed(lines) if "start" in x), None)
    assert proc.returncode == 0, f"the loader died (exit {proc.returncode}) on case {last!r}: {proc.stderr[-2000:]}"
    return {x["case"]: x for x in lines if "case" in x}


def test_pristine_run_loads_and_round_trips(pristine):
    run = load_run(pristine)
    assert run.k == K and run.info.embedding_dim == DIM and len(run.centroids) == K + 1
    assert run.ranker.n_classes == K + 1 and run.ranker.booster_.num_trees() > 0
    assert check_lightgbm_model((pristine / "ranker.txt").read_text(), n_features=4) == run.ranker.booster_.num_trees()
    assert not (pristine / OWNER_FILE).exists() and not list(pristine.parent.glob("*.partial"))


@pytest.mark.slow
def test_tampered_runs_give_a_clear_run_error_and_never_crash(pristine, tmp_path):
    """Each tampering (its checksum updated) -> RunError naming the problem; random cuts and
    garbling of the model file -> RunError or, where the damage left a valid model, a clean load;
    never a crash of the interpreter that loads them."""
    runs = tmp_path / "runs"
    runs.mkdir()
    cases, expect = [], {}
    for i, (case, (tamper, message)) in enumerate(TAMPER.items()):
        run = runs / f"run-{i:03d}"
        shutil.copytree(pristine, run)
        tamper(run)
        cases.append((case, run))
        expect[case] = message
    fuzz = _fuzz_cases((pristine / "ranker.txt").read_bytes())
    for i, (case, data) in enumerate(fuzz.items()):
        run = runs / f"fuzz-{i:03d}"
        shutil.copytree(pristine, run)
        rewrite(run, "ranker.txt", data)
        cases.append((case, run))
    results = load_in_subprocess(cases)
    assert set(results) == {c for c, _ in cases}
    wrong = {c: r for c, r in results.items() if c in expect and not re.search(expect[c], r.get("error", ""))}
    assert not wrong, json.dumps(wrong, indent=1)
    other = {c: r for c, r in results.items() if "other" in r}
    assert not other, json.dumps(other, indent=1)   # only RunError, never another exception
    cut = {c: r for c, r in results.items() if "cut at" in c}
    assert all("error" in r for r in cut.values()), json.dumps(cut, indent=1)   # a cut model never loads
    refused = sum("error" in r for r in results.values())
    print(f"{len(results)} tampered runs: {refused} refused with a RunError, "
          f"{len(results) - refused} garbled but still valid models loaded, 0 crashes")


def test_store_digest_catches_an_edit_that_redid_every_checksum(run_copy, tmp_path):
    """The one edit content checks cannot see -- a plausible change with its checksum redone --
    is caught when the store knows the run: it recorded metadata.json's digest at registration."""
    store = Store(tmp_path / "data")
    try:
        store.add_run("run-copy", run_copy, "blazepose", K, TrainConfig(k=K).to_dict(),
                      {"metadata_sha256": run_digest(run_copy)})
        assert get_run(store, "run-copy").k == K
        rewrite_json(run_copy, "centroids.json", lambda c: c[0].__setitem__("auto_description", "edited"))
        assert load_run(run_copy).centroids[0].auto_description == "edited"   # valid content, valid checksums
        with pytest.raises(RunError, match="differs from the one recorded when the run was registered"):
            get_run(store, "run-copy")
        store.add_run("run-old", run_copy, "blazepose", K, {}, {})   # registered before digests: content checks only
        assert get_run(store, "run-old").k == K
    finally:
        store.close()


def test_a_save_cut_short_leaves_no_partial_folder(pristine, tmp_path, monkeypatch):
    run = load_run(pristine)

    def interrupted(self, folder):
        raise KeyboardInterrupt

    monkeypatch.setattr(CentroidRanker, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_run(tmp_path / "run-x", "run-x", run.config, run.info, run.kmeans, run.ranker, run.reference,
                 run.centroids)
    assert list(tmp_path.iterdir()) == []


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _partial(runs: Path, name: str, owner: dict | None = None, age: float = 0.0) -> Path:
    d = runs / f"{name}.partial"
    d.mkdir(parents=True)
    (d / "centroids.npy").write_bytes(b"half")
    if owner is not None:
        (d / OWNER_FILE).write_text(json.dumps(owner))
    if age:
        t = time.time() - age
        for p in [*d.iterdir(), d]:
            os.utime(p, (t, t))
    return d


def test_stale_partial_folders_are_removed_live_ones_kept(tmp_path):
    import socket

    from unpose_core.runs import _proc_start

    runs = tmp_path / "runs"
    host, me = socket.gethostname(), os.getpid()
    dead = _partial(runs, "run-dead", {"pid": _dead_pid(), "host": host})
    reused = _partial(runs, "run-reused", {"pid": me, "host": host, "started": "1"})   # same pid, other process
    old = _partial(runs, "run-old", None, age=3600)
    live = _partial(runs, "run-live", {"pid": me, "host": host, "started": _proc_start(me)})
    fresh = _partial(runs, "run-fresh")   # no owner yet, just created: a save that is starting
    other_host = _partial(runs, "run-elsewhere", {"pid": 1, "host": host + "-other"})
    (runs / "run-complete").mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (runs / "run-link.partial").symlink_to(outside, target_is_directory=True)
    removed = remove_stale_partials(runs)
    assert sorted(removed) == sorted([dead, reused, old])
    assert live.exists() and fresh.exists() and other_host.exists() and (runs / "run-complete").exists()
    assert outside.exists() and (runs / "run-link.partial").is_symlink()


@pytest.mark.slow
def test_the_model_check_accepts_what_lightgbm_writes(tmp_path):
    """Single-leaf trees (a constant target), numerical and categorical splits all pass the check
    and load."""
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": pd.Categorical(rng.integers(0, 5, 200)),
                      "c": rng.normal(size=200), "d": rng.integers(0, 3, 200)})
    for y in (X["a"] * 2 + X["b"].cat.codes, np.ones(200)):
        booster = lgb.train({"objective": "regression", "verbose": -1, "num_leaves": 7, "min_data_in_leaf": 5},
                            lgb.Dataset(X, label=y, categorical_feature=["b"]), num_boost_round=15)
        path = tmp_path / "m.txt"
        booster.save_model(str(path))
        assert check_lightgbm_model(path.read_text(), n_features=4) == booster.num_trees()
    with pytest.raises(ValueError, match="max_feature_idx=3, the ranker has 5 features"):
        check_lightgbm_model(path.read_text(), n_features=5)
