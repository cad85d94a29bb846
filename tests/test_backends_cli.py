"""The 61-dim COCO-17 backends through the CLI, end to end (issue 6's 'done when')."""
import csv
import json

import numpy as np
import pandas as pd
import pytest
from conftest import PHOTOS, RENDERS, copy_data_dir
from test_cli import run


def _small_demo(manifest_csv, out, n_reference=4, n_subject=1, subcategory="T-shirts"):
    """A few of the demo's rich (reference) and sparse (subject) products of one cohort, as a
    manifest: a catalogue small enough for a backend to run over it in a second or two."""
    m = pd.read_csv(manifest_csv, keep_default_na=False)
    m = m[m["subcategory"] == subcategory]
    sizes = m.groupby("product_id").size()
    subjects = list(sizes[sizes < 5].index[:n_subject])
    keep = list(sizes[sizes > 9].index[:n_reference]) + subjects
    m[m["product_id"].isin(keep)].to_csv(out, index=False)
    return out, subjects


def test_blazepose_coco17_trains_and_suggests_out_of_the_box(demo_data_dir, tmp_path):
    from unpose_core.catalog.manifest import import_into_store
    from unpose_core.store import Store

    d = tmp_path / "d"
    copy_data_dir(demo_data_dir, d)   # keeps the demo's BlazePose-33 run
    manifest, (pid,) = _small_demo(d / "demo" / "manifest.csv", tmp_path / "small.csv")
    store = Store(d)
    assert import_into_store(store, manifest, d / "demo" / "images").applied
    n_images = store.n_unique_images()
    store.close()
    res = json.loads(run("train", "--backend", "blazepose-coco17", "--k", "10", "-q", "--json",
                         data_dir=d).stdout)
    cfg = json.loads((d / "runs" / res["run_id"] / "config.json").read_text())["info"]
    assert cfg["backend"] == "blazepose-coco17" and cfg["family"] == "coco17+view"
    assert cfg["embedding_dim"] == 61 + 3 and len(cfg["landmark_names"]) == 17
    # its own pose cache: nothing of the BlazePose-33 cache is reused
    assert res["extract"]["n_processed"] == res["extract"]["n_unique_images"] == n_images
    runs = json.loads(run("runs", "--json", data_dir=d).stdout)
    assert {r["backend"] for r in runs} == {"blazepose", "blazepose-coco17"}
    sug = json.loads(run("suggest", pid, "--json", "-q", data_dir=d).stdout)
    assert sug["run_id"] == res["run_id"] and sug["missing"]


RENDER_FIGURES, RENDERS_PER_FIGURE = 4, 3


def _render_catalogue(tmp_path):
    """4 reference products (3 of the 12 views/framings of each render figure: back closeup,
    front full, side upper) + 1 sparse product; `train` needs --min-images 2 for it."""
    rows = []
    for n in range(1, RENDER_FIGURES + 1):
        for f in sorted(RENDERS.glob(f"*_{n}.jpg"))[::12 // RENDERS_PER_FIGURE]:
            rows.append({"product_id": f"R{n}", "category": "Clothing", "subcategory": "T-shirts",
                         "product_type": "Tee", "avg_rating": 3 + n / 4, "n_ratings": 10 * n,
                         "image_path": str(f)})
    rows.append({"product_id": "S1", "category": "Clothing", "subcategory": "T-shirts",
                 "product_type": "Tee", "avg_rating": 4, "n_ratings": 3,
                 "image_path": str(PHOTOS / "skimage_astronaut.png")})
    path = tmp_path / "m.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.mark.slow
def test_mmpose_hrnet_train_after_import(tmp_path):
    pytest.importorskip("mmpose")
    import torch

    from unpose_core.pose import weights as models

    torch.manual_seed(0)
    ckpt = tmp_path / "hrnet_random.pth"
    torch.save({"state_dict": models.build_mmpose_model().state_dict(),
                "meta": {"epoch": np.int64(1)}}, ckpt)
    d = tmp_path / "d"
    refused = run("models", "add-mmpose", str(ckpt), data_dir=d, check=False)
    assert refused.returncode == 2 and "--trust" in refused.stderr and "Traceback" not in refused.stderr
    no_model = run("train", "--backend", "mmpose-hrnet", data_dir=d, check=False)
    assert no_model.returncode == 2
    out = run("models", "add-mmpose", str(ckpt), "--trust", data_dir=d).stdout
    assert "imported hrnet_random-" in out
    listed = [m for m in json.loads(run("models", "list", "--json", data_dir=d).stdout) if m["kind"] != "bundled"]
    assert len(listed) == 1 and listed[0]["path"].endswith(".safetensors")
    run("import", str(_render_catalogue(tmp_path)), "--images", "/", "-q", data_dir=d)
    # random weights score every joint low: with the default no-person rule nobody is found,
    # so the test lowers the keypoint threshold (and skips flip test for speed). Their skeletons
    # are random too: the view rules' person check turns some down (views.people), so K is small
    res = json.loads(run("train", "--backend", "mmpose-hrnet", "--k", "2", "--min-images", "2", "-q", "--json",
                         "--backend-param", "keypoint_threshold=0", "--backend-param", "flip_test=false",
                         data_dir=d).stdout)
    n_reference = RENDER_FIGURES * RENDERS_PER_FIGURE
    assert res["summary"]["n_reference_images"] == n_reference
    assert res["summary"]["n_person"] >= 2 and res["summary"]["n_person"] + res["summary"]["n_no_person"] == n_reference
    assert res["extract"]["n_processed"] == n_reference + 1 and res["extract"]["n_errors"] == 0
    info = json.loads((d / "runs" / res["run_id"] / "config.json").read_text())["info"]
    assert info["backend"] == "mmpose-hrnet" and info["embedding_dim"] == 61 + 3
    assert listed[0]["sha256"][:12] in info["backend_version"]   # the weights that made the run
    sug = json.loads(run("suggest", "S1", "--json", "-q", data_dir=d).stdout)
    assert sug["run_id"] == res["run_id"] and len(sug["images"]) == 1
