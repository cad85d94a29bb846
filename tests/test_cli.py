"""The `unposed` command end to end on the demo, in throw-away data directories."""
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import PHOTOS, ROOT, copy_data_dir

from unpose_core.records import Status
from unpose_core.store import Store

UNPOSED = [sys.executable, "-m", "unpose_core.cli"]


def run(*args, data_dir=None, env_dir=None, check=True):
    env = {**os.environ, "GLOG_minloglevel": "2"}
    env.pop("UNPOSED_DATA_DIR", None)
    if env_dir:
        env["UNPOSED_DATA_DIR"] = str(env_dir)
    cmd = UNPOSED + list(args) + (["--data-dir", str(data_dir)] if data_dir else [])
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def run_parallel(*calls, data_dir=None) -> list[subprocess.CompletedProcess]:
    """Independent `unposed` commands (argument tuples) run at the same time, each in its own
    process as ``run`` runs it; their results in the order given."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda args: run(*args, data_dir=data_dir), calls))


# demo images the end-to-end test's `extract` runs BlazePose on (at least POOL_THRESHOLD = 48,
# so through its default worker pool); the rest of the pose cache is the session's, copied
N_FRESH = 64


@pytest.mark.slow
def test_demo_extract_train_suggest_report(tmp_path, demo_store, demo_run):
    d = tmp_path / "data"
    out = run("demo", "-q", data_dir=d).stdout
    assert "105 products" in out
    # The demo is deterministic, so the session's BlazePose cache (tests/conftest.py) has every
    # image of this one: seed this data dir's cache with all but N_FRESH of them, and `extract`
    # runs the model on just those (the whole catalogue goes through it in the session fixture).
    identity = demo_run.info.identity
    store = Store(d)
    hashes = sorted(set(store.images()["content_hash"]))
    cached = demo_store.poses(*identity, hashes)
    assert set(cached) == set(hashes), "the demo build is not deterministic"
    assert not [h for h, p in cached.items() if p.status is Status.ERROR]
    fresh = hashes[:N_FRESH]
    store.put_poses(*identity, [cached[h] for h in hashes[N_FRESH:]])
    store.close()
    out = run("extract", "-q", "--json", data_dir=d).stdout
    ext = json.loads(out)
    assert (ext["backend"], ext["backend_version"]) == identity
    assert ext["n_unique_images"] == len(hashes) > 800 and ext["n_errors"] == 0
    assert ext["n_processed"] == N_FRESH and ext["n_cached"] == len(hashes) - N_FRESH
    assert ext["workers"] == 2 or (os.cpu_count() or 1) < 2
    # what the CLI extracted equals what the session's run extracted from the same bytes
    store = Store(d)
    mine = store.poses(*identity, fresh)
    store.close()
    for h in fresh:
        assert mine[h].status == cached[h].status, h
        if cached[h].landmarks is not None:
            np.testing.assert_allclose(mine[h].landmarks, cached[h].landmarks, atol=1e-5)
    again = json.loads(run("extract", "-q", "--json", data_dir=d).stdout)
    assert again["n_processed"] == 0 and again["n_cached"] == ext["n_unique_images"]
    out = run("train", "--k", "10", "-q", "--json", data_dir=d).stdout
    res = json.loads(out)
    assert res["selection"]["reference"] > 50 and res["selection"]["subject"] > 30
    subject = pd.read_csv(d / "demo" / "manifest.csv").groupby("product_id").size()
    pid = subject[subject < 5].index[0]
    # read-only commands on the trained run: at once, as several users of one data dir would
    sug, text, adhoc, _, _ = run_parallel(
        ("suggest", pid, "--json", "-q"),
        ("suggest", pid, "-q"),
        ("suggest", "--images", str(PHOTOS / "skimage_astronaut.png"), "--subcategory", "T-shirts",
         "--category", "Clothing", "--json", "-q"),
        ("report", "--out", str(tmp_path / "r.csv"), "-q"),
        ("report", "--out", str(tmp_path / "r.json"), "-q"),
        data_dir=d)
    sug = json.loads(sug.stdout)
    assert sug["product_id"] == pid and sug["missing"]
    assert sug["missing"][0]["rank"] == 1 and sug["missing"][0]["references"]
    assert Path(sug["missing"][0]["references"][0]["path"]).is_file()
    assert "missing poses, most important first" in text.stdout and "1. pose" in text.stdout
    adhoc = json.loads(adhoc.stdout)
    assert adhoc["images"][0]["status"] == "person" and adhoc["missing"]
    rep = pd.read_csv(tmp_path / "r.csv")
    assert len(rep) == res["selection"]["subject"] and {"n_missing", "top_missing"} <= set(rep.columns)
    assert len(json.loads((tmp_path / "r.json").read_text())) == len(rep)
    # describe persists; the env variable selects the data dir too
    run("describe", "0", "Upper body, arms down", env_dir=d)
    assert "Upper body, arms down" in run("describe", env_dir=d).stdout
    assert res["run_id"] in run("runs", env_dir=d).stdout


@pytest.mark.parametrize("args,message", [
    (["suggest", "no-such-product"], "no product 'no-such-product'"),
    (["suggest"], "give a PRODUCT_ID"),
    (["suggest", "--images", "/nope.jpg"], "image not found"),
    (["import", "/nope/manifest.csv"], "manifest not found"),
    (["train"], "catalogue is empty"),
    (["runs", "--activate", "run-x"], "no run 'run-x'"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, demo_data_dir, args, message):
    d = tmp_path / "d"
    if args[0] == "suggest":
        copy_data_dir(demo_data_dir, d)
    p = run(*args, data_dir=d, check=False)
    assert p.returncode == 2, p.stderr
    err = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and message in err[0], p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.slow
def test_import_reports_bad_rows(tmp_path):
    root = tmp_path / "imgs"
    root.mkdir()
    (root / "a.png").write_bytes((PHOTOS / "skimage_astronaut.png").read_bytes())
    pd.DataFrame([{"product_id": "A", "image_path": "a.png", "avg_rating": "4"},
                  {"product_id": "B", "image_path": "gone.png", "avg_rating": "x"}]).to_csv(tmp_path / "m.csv")
    p = run("import", str(tmp_path / "m.csv"), "--images", str(root), "-q", data_dir=tmp_path / "d")
    assert "1 products, 1 images kept" in p.stdout and "bad_rating" in p.stdout
    rep = json.loads((tmp_path / "d" / "import_report.json").read_text())
    assert rep["n_images"] == 1 and any(r["kind"] == "bad_rating" for r in rep["problems"])


def test_report_engine_options_belong_to_their_engine(tmp_path, capsys):
    """`unposed report --engine/--workers/--address/--actors` (and `up.report`'s keywords) are
    checked before anything is read: no catalogue, run or Ray needed for the message."""
    import unpose_core as up
    from unpose_core.cli import main

    out, data = str(tmp_path / "r.csv"), str(tmp_path / "d")
    # one check (pose.engines.check_engine), one message set: the keywords are the options' names
    for flags, message in ((["--actors", "2"], "actors and address need engine ray"),
                           (["--address", "auto"], "actors and address need engine ray"),
                           (["--engine", "ray", "--workers", "2"], "workers are for the local engine: give actors"),
                           (["--workers", "0"], "workers must be at least 1"),
                           (["--engine", "ray", "--actors", "0"], "actors must be at least 1")):
        assert main(["report", "--out", out, "--data-dir", data, "-q", *flags]) == 2, flags
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (flags, err)
    with pytest.raises(SystemExit):   # argparse's choices
        main(["report", "--engine", "dask", "--out", out, "--data-dir", data])
    capsys.readouterr()
    for bad, message in (({"engine": "dask"}, "engine must be one of local, ray"),
                         ({"engine": "ray", "workers": 2}, "workers are for the local engine"),
                         ({"actors": 2}, "need engine ray"), ({"address": "auto"}, "need engine ray")):
        with pytest.raises(ValueError, match=message):
            up.report(tmp_path / "d", **bad)
    assert not (tmp_path / "r.csv").exists()


def test_an_interrupt_wrapped_in_another_error_still_stops_cleanly(capsys, monkeypatch):
    """SIGTERM landing while a library creates a class (Python wraps the interrupt raised in
    ``__set_name__`` in a RuntimeError), or an error raised while cleaning up after it: the command
    still stops as interrupted (128 + 15), never as bad input (2)."""
    import signal
    from types import SimpleNamespace

    from unpose_core import cli

    class Field:
        def __set_name__(self, owner, name):
            raise cli.Terminated(signal.SIGTERM)

    def while_importing(args):
        type("Capability", (), {"warnings": Field()})   # what a library does at import time

    def while_cleaning_up(args):
        try:
            raise cli.Terminated(signal.SIGTERM)
        finally:
            raise OSError("temp folder gone")

    def bad_input(args):
        raise ValueError("no such product")

    parser = SimpleNamespace(parse_args=lambda argv: SimpleNamespace(command="x", func=argv[0], debug=False))
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    capsys.readouterr()
    assert cli.main([while_importing]) == 128 + signal.SIGTERM
    err = capsys.readouterr().err
    assert cli.INTERRUPTED in err and "__set_name__" not in err
    assert cli.main([while_cleaning_up]) == 128 + signal.SIGTERM
    err = capsys.readouterr().err
    assert "error: temp folder gone" in err and cli.INTERRUPTED in err
    assert cli.main([bad_input]) == cli.EXIT_USAGE
    assert "error: no such product" in capsys.readouterr().err


def test_suggest_for_a_listing_with_no_readable_image_says_so(tmp_path, demo_data_dir):
    """Every image unreadable: the listing has nothing to score, so no completeness figure, but a
    line saying no image could be read, with each image's reason."""
    d = copy_data_dir(demo_data_dir, tmp_path / "d")
    (tmp_path / "page.jpg").write_text("<html>not a photo</html>")
    (tmp_path / "cut.jpg").write_bytes((PHOTOS / "matplotlib_grace_hopper.jpg").read_bytes()[:2000])
    p = run("suggest", "--images", str(tmp_path / "page.jpg"), str(tmp_path / "cut.jpg"), "--subcategory",
            "T-shirts", "-q", data_dir=d)
    lines = [line for line in p.stdout.splitlines() if line.startswith("no image of the listing could be read")]
    assert len(lines) == 1 and "page.jpg: " in lines[0] and "cut.jpg: " in lines[0], p.stdout
    assert "completeness" not in p.stdout.replace(lines[0], ""), p.stdout
    one = run("suggest", "--images", str(tmp_path / "page.jpg"), str(PHOTOS / "skimage_astronaut.png"),
              "--subcategory", "T-shirts", "-q", data_dir=d)   # one readable image: scored as before
    assert "completeness: " in one.stdout and "no image of the listing could be read" not in one.stdout
