"""Shared fixtures: the demo catalogue built, extracted and trained once per test session.

Everything runs the real components (BlazePose, faiss, LightGBM) in a throw-away data
directory; tests that change state make their own copies or their own directories. The
demo is built once (``demo_build``) and its BlazePose poses are computed once (by
``demo_data_dir``'s training): tests that need another demo data dir copy this one, or
seed their pose cache from it, instead of running the model again.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"
PHOTOS = ASSETS / "photos"
RENDERS = ASSETS / "renders"
ARTIFACTS = ROOT / "test-artifacts"
DEMO_K = 10

os.environ.setdefault("GLOG_minloglevel", "2")


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory):
    """The demo catalogue (seed 0) built once per session, as ``<demo data dir>/demo``:
    images + manifest.csv. Read-only for tests (tests/test_demo.py checks it, the data dir
    below imports it); the same seed gives byte-identical files, so the content hashes of a
    demo a test builds itself (e.g. through `unposed demo`) match this build's."""
    from unpose_core.catalog.demo import DemoBuild, build_demo

    def build(data_dir: Path) -> dict:
        b = build_demo(data_dir / "demo", seed=0)
        return {"manifest_path": str(b.manifest_path), "image_root": str(b.image_root),
                "n_products": b.n_products, "n_images": b.n_images, "seed": b.seed}

    made = once_per_run(tmp_path_factory, "unposed-demo", "demo", build)
    return DemoBuild(**{**made, "manifest_path": Path(made["manifest_path"]),
                        "image_root": Path(made["image_root"])})


@pytest.fixture(scope="session")
def demo_data_dir(demo_build, tmp_path_factory) -> Path:
    """A data dir holding the demo catalogue, its BlazePose cache and one trained run."""
    from unpose_core.catalog.manifest import import_catalogue
    from unpose_core.config import TrainConfig
    from unpose_core.store import Store
    from unpose_core.training import train

    def trained(data_dir: Path) -> dict:
        products, images, report = import_catalogue(demo_build.manifest_path, demo_build.image_root)
        assert report.ok, report.summary()
        store = Store(data_dir)
        store.replace_catalogue(products, images, report.problems, "demo")
        train(store, TrainConfig(k=DEMO_K, seed=0))
        store.close()
        return {}

    once_per_run(tmp_path_factory, "unposed-demo", "trained", trained)
    return demo_build.manifest_path.parent.parent


def once_per_run(tmp_path_factory, folder: str, step: str, make) -> dict:
    """``make(<folder>)`` once per test run, its (JSON) result returned. In a plain run the folder
    is this session's; under pytest-xdist (TEST_WORKERS=2) it is shared by the workers
    and the first to get here makes it while the others wait on a lock, so the demo is built,
    BlazePose'd and trained once per run, not once per worker. Steps (``step``) on one folder
    run in the order the fixtures ask for them; each is done at most once."""
    import fcntl
    import json

    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        path = _SESSION_DIRS.get(folder) or _SESSION_DIRS.setdefault(folder, tmp_path_factory.mktemp(folder))
        return make(path)
    path = tmp_path_factory.getbasetemp().parent / folder   # the run's temp dir, above each worker's
    path.mkdir(exist_ok=True)
    done = path / f".{step}.json"
    with open(path.parent / f"{folder}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # released when the file closes, also if make() fails
        if not done.is_file():
            done.with_suffix(".tmp").write_text(json.dumps(make(path)))
            done.with_suffix(".tmp").rename(done)
        return json.loads(done.read_text())


_SESSION_DIRS: dict[str, Path] = {}


def copy_data_dir(src: Path, dst: Path, skip: tuple[str, ...] = ()) -> Path:
    """A writable copy of a data dir another connection in this process may have open: the
    files by copy (minus ``skip`` folders), the database by SQLite's backup (Store.backup) -- a
    file copy of the live database would break this process's SQLite locks on it."""
    import shutil

    from unpose_core.store import Store

    src, dst = Path(src), Path(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("unposed.sqlite*", *skip))
    store = Store(src)
    try:
        store.backup(dst)
    finally:
        store.close()
    return dst


@pytest.fixture(scope="session")
def demo_store(demo_data_dir):
    from unpose_core.store import Store

    store = Store(demo_data_dir)
    yield store
    store.close()


@pytest.fixture(scope="session")
def demo_run(demo_store):
    from unpose_core.runs import active_run

    return active_run(demo_store)



def views_catalogue(root: Path, extra: int = 0) -> tuple[Path, Path]:
    """A manifest of 48 one-person views from assets/views: 4 reference products of 10 (more than
    9: reference products under the default selection) and 4 subject products of 2, in two
    product types; ``extra`` products of 4 more views each after them. Returns (manifest, image
    folder)."""
    import shutil

    import pandas as pd

    imgs = root / "imgs"
    imgs.mkdir(parents=True)
    labels = pd.read_csv(ASSETS / "views" / "labels.csv")
    singles = labels[(labels["kind"] == "person") & (labels["n_people"] == 1) & (labels["blazepose_detected"] == 1)]
    files = sorted(singles["file"])
    products = [(f"ref-{i}", files[i:40:4], 3.5 + 0.3 * i, 20 + i) for i in range(4)] + \
        [(f"sub-{j}", files[41 + j::9][:2], 4.0, 2) for j in range(4)]
    used = {f for _, names, _, _ in products for f in names}
    unused = [f for f in files if f not in used]
    products += [(f"more-{k}", unused[4 * k:4 * k + 4], 4.0, 1) for k in range(extra)]
    rows = []
    for i, (pid, names, rating, n) in enumerate(products):
        for f in names:
            shutil.copy(ASSETS / "views" / f, imgs / f)
            rows.append({"product_id": pid, "category": "Clothing", "subcategory": "Shirts",
                         "product_type": ("Polo", "Oxford shirt")[i % 2], "avg_rating": rating, "n_ratings": n,
                         "image_path": f})
    pd.DataFrame(rows).to_csv(root / "m.csv", index=False)
    return root / "m.csv", imgs


def require_ray():
    """The ``ray`` module with ``ray.data`` (what the Ray engine needs), else skip the calling test
    module; under CI=true, whose install has the "ray" extra, a missing ray fails instead."""
    try:
        import ray
        import ray.data  # the engine needs ray[data], not only ray
    except ImportError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f'ray[data] is not importable under CI=true, but the test install has the "ray" extra: '
                        f'{exc}', pytrace=False)
        pytest.skip(f'ray[data] is not installed (pip install "unpose-core[ray]"): {exc}', allow_module_level=True)
    return ray


# -- markers, grouping, --fast ---------------------------------------------------------------------
# `make test` runs every test; `make test-fast` (pytest --fast, the inner loop) deselects the tests
# with a HEAVY marker. Markers (registered in pyproject.toml): `slow` (decorated: seconds of its
# own), `browser` (Chromium), `cluster` (starts Ray), and `demo`, set here on every test that uses
# the session's trained demo (demo_data_dir: built, BlazePose'd and trained once per run).
HEAVY = ("slow", "browser", "cluster", "demo")
DEMO_FIXTURES = {"demo_build", "demo_data_dir"}   # demo_build: three demo builds in test_demo.py alone


def pytest_addoption(parser):
    parser.addoption("--fast", action="store_true",
                     help=f"the inner loop: deselect the tests marked {' / '.join(HEAVY)} (`make test-fast`)")


def pytest_collection_modifyitems(config, items):
    """Mark the trained-demo tests `demo`; under pytest-xdist put the modules with a slow, browser
    or cluster test first, so the long ones start first and the run does not end on one worker's
    lone long module. With --fast, deselect the HEAVY tests (pytest counts them as deselected)."""
    for item in items:
        if DEMO_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.demo)
    if os.environ.get("PYTEST_XDIST_WORKER") is not None:
        modules: dict[str, list] = {}
        for item in items:
            modules.setdefault(item.nodeid.split("::")[0], []).append(item)
        order = sorted(modules.values(), key=lambda m: (not any(i.get_closest_marker(k) for i in m
                                                              for k in ("slow", "browser", "cluster")), -len(m)))
        items[:] = [item for m in order for item in m]
    if config.getoption("--fast"):
        keep, heavy = [], []
        for item in items:
            (heavy if any(item.get_closest_marker(m) for m in HEAVY) else keep).append(item)
        if heavy:
            config.hook.pytest_deselected(items=heavy)
            items[:] = keep


@pytest.fixture
def data_copy(demo_data_dir, tmp_path):
    """A writable copy of the demo data dir (run folders and database; images stay shared)."""
    d = tmp_path / "data"
    copy_data_dir(demo_data_dir, d, skip=("demo", "evaluations", "uploads"))
    return d


@pytest.fixture
def store(data_copy):
    """A store on :func:`data_copy`, closed after the test."""
    from unpose_core.store import Store

    s = Store(data_copy)
    yield s
    s.close()


# Work units of pytest-xdist (TEST_WORKERS=2 bash scripts/run_tests.sh): a whole module, so its
# module-scoped fixtures are made once, and all Chromium files or all Ray files one unit, so two
# browsers+servers or two Ray clusters never run at once. (xdist's own `--dist loadgroup` marks
# do not group under pytest 9.2: xdist renames the test's `_nodeid`, which pytest 9.2 no longer reads.)
SHARED_UNITS = {"browser": ("test_browser*.py", "test_journeys.py"), "cluster": ("test_ray*.py",)}


try:
    from xdist.scheduler import LoadScopeScheduling
except ImportError:   # pytest-xdist missing (the test extra installs it): the suite runs in one process
    LoadScopeScheduling = None

if LoadScopeScheduling is not None:
    class _ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            from fnmatch import fnmatch

            path = nodeid.split("::", 1)[0]
            return next((unit for unit, patterns in SHARED_UNITS.items()
                         if any(fnmatch(Path(path).name, p) for p in patterns)), path)

    def pytest_xdist_make_scheduler(config, log):
        config.option.loadscopereorder = False   # keep the order the workers collected (long modules first)
        return _ByModule(config, log)
