"""Shared fixtures: the demo catalogue built, extracted and trained once per test session.

Everything runs the real components (BlazePose, faiss, LightGBM) in a throw-away data
directory; tests that change state make their own copies or their own directories.
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
def demo_data_dir(tmp_path_factory) -> Path:
    """A data dir holding the demo catalogue, its BlazePose cache and one trained run."""
    from unpose_core.catalog.manifest import import_catalogue
    from unpose_core.config import TrainConfig
    from unpose_core.catalog.demo import build_demo
    from unpose_core.training import train
    from unpose_core.store import Store

    data_dir = tmp_path_factory.mktemp("unposed-demo")
    build = build_demo(data_dir / "demo", seed=0)
    products, images, report = import_catalogue(build.manifest_path, build.image_root)
    assert report.ok, report.summary()
    store = Store(data_dir)
    store.replace_catalogue(products, images, report.problems, "demo")
    train(store, TrainConfig(k=DEMO_K, seed=0))
    store.close()
    return data_dir


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
