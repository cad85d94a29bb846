"""PoseAutoencoder: shapes, determinism, training progress, safe save/load, clear errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from unpose_core.embed.autoencoder import CONFIG_FILE, WEIGHTS_FILE, PoseAutoencoder

FAST = {"max_epochs": 25, "patience": 25}


def _poses(n=240, d=77, seed=0):
    """Three well separated 'pose' blobs with feature scales as different as the real ones."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, size=(3, d))
    labels = rng.integers(0, 3, size=n)
    X = centres[labels] + rng.normal(0, 0.5, size=(n, d))
    X[:, :66] = X[:, :66] * 0.05 + 0.5        # coordinates live in [0, 1]
    return X.astype(np.float32), labels


@pytest.fixture(scope="module")
def fitted():
    X, y = _poses()
    return PoseAutoencoder(seed=3, **FAST).fit(X), X, y


def test_output_dims_and_dtype(fitted):
    ae, X, _ = fitted
    Z = ae.transform(X)
    assert Z.shape == (len(X), 8) and Z.dtype == np.float32
    assert np.isfinite(Z).all()
    assert ae.transform(X[:0]).shape == (0, 8)
    assert ae.reconstruct(X[:5]).shape == (5, 77)
    assert ae.n_features_in_ == 77 and ae.mean_.shape == (77,) and ae.std_.shape == (77,)
    assert ae.n_val_ == round(0.15 * len(X)) and ae.n_train_ + ae.n_val_ == len(X)


def test_other_sizes_follow_parameters():
    X, _ = _poses(n=60, d=61)   # the coco17 embedding
    ae = PoseAutoencoder(bottleneck=4, hidden=(32, 16, 8), max_epochs=3, seed=0).fit(X)
    assert ae.transform(X).shape == (60, 4)


def test_same_seed_same_weights_different_seed_differs(fitted):
    ae, X, _ = fitted
    again = PoseAutoencoder(seed=3, **FAST).fit(X)
    assert np.array_equal(ae.transform(X), again.transform(X))
    assert ae.history_ == again.history_
    other = PoseAutoencoder(seed=4, **FAST).fit(X)
    assert not np.allclose(ae.transform(X), other.transform(X))


def test_fit_restores_torch_global_settings():
    import torch

    X, _ = _poses(n=40)
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    PoseAutoencoder(max_epochs=2, seed=0).fit(X)
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == det


@pytest.mark.slow
def test_adamw_matches_torch_optim_bit_for_bit():
    """The written-out AdamW + warm-up / cosine schedule gives the very weights torch.optim.AdamW
    with LambdaLR gives (what fit used before; torch.optim costs a torch._dynamo import)."""
    import torch

    from unpose_core.embed.autoencoder import _AdamW, _build_network, info_nce

    def run(use_torch: bool):
        torch.manual_seed(0)
        enc, dec = _build_network(12, (10, 8, 6), 4)
        params = [*enc.parameters(), *dec.parameters()]
        factor = [0.2, 0.6, 1.0, 0.8, 0.3, 0.05]
        if use_torch:
            opt = torch.optim.AdamW(params, lr=0.1, weight_decay=0.001)
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: factor[min(s, len(factor) - 1)])
        else:
            opt = _AdamW(params, weight_decay=0.001)
        gen = torch.Generator().manual_seed(1)
        for step in range(len(factor)):
            x = torch.randn(32, 12, generator=gen)
            za, zb = enc(x + 0.1 * torch.randn(32, 12, generator=gen)), enc(x)
            loss = info_nce(za, zb, 0.5) + torch.nn.functional.mse_loss(dec(enc(x)), x)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            if use_torch:
                opt.step()
                sched.step()
            else:
                opt.step(0.1 * factor[step])
        return [p.detach().clone() for p in params]

    for a, b in zip(run(True), run(False)):
        assert torch.equal(a, b)


def test_info_nce_temperature_on_the_codes_is_the_matrix_scaled():
    """The temperature divides the codes before the product: for 0.5 (a power of two) exactly
    the old (n, n) division, for any other value the same up to rounding."""
    import torch
    import torch.nn.functional as F

    from unpose_core.embed.autoencoder import info_nce

    gen = torch.Generator().manual_seed(0)
    za, zb = torch.randn(64, 8, generator=gen), torch.randn(64, 8, generator=gen)

    def reference(t):
        a, b = F.normalize(za, dim=1), F.normalize(zb, dim=1)
        logits = a @ b.T / t
        target = torch.arange(len(a))
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))

    assert torch.equal(info_nce(za, zb, 0.5), reference(0.5))
    assert torch.allclose(info_nce(za, zb, 0.3), reference(0.3), rtol=1e-6)


@pytest.mark.slow
def test_fit_does_not_import_torch_dynamo():
    """torch.optim's first optimiser imports torch._dynamo (2-3.5 s on the 2-core VM); fit must not."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, numpy as np, torch\n"
            "from unpose_core.embed.autoencoder import PoseAutoencoder\n"
            "X = np.random.default_rng(0).normal(size=(64, 6)).astype(np.float32)\n"
            "PoseAutoencoder(max_steps=2, batch_size=16, seed=0).fit(X)\n"
            "print('torch._dynamo' in sys.modules)\n")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_loss_decreases_and_codes_keep_the_blobs_apart(fitted):
    ae, X, y = fitted
    h = ae.history_
    assert len(h["train"]) == ae.n_epochs_ and len(h["val"]) == ae.n_epochs_
    assert min(h["train"][-5:]) < 0.8 * h["train"][0]
    assert min(h["val"]) < h["val"][0]
    assert min(h["reconstruction"]) < h["reconstruction"][0]
    # nearest-centroid in code space recovers the three blobs
    from unpose_core.cluster import PoseKMeans, purity
    assert purity(PoseKMeans(3, seed=0).fit(ae.transform(X)).labels_, y) > 0.95


def test_early_stopping_keeps_the_best_epoch():
    X, _ = _poses(n=120)
    ae = PoseAutoencoder(max_epochs=60, patience=3, seed=1).fit(X)
    assert ae.n_epochs_ <= 60
    best = int(np.argmin(ae.history_["val"])) + 1
    assert ae.best_epoch_ == best
    if ae.n_epochs_ < 60:   # stopped early: exactly `patience` epochs without a better val loss
        assert ae.n_epochs_ - ae.best_epoch_ == 3


def test_save_load_round_trip(fitted, tmp_path):
    ae, X, _ = fitted
    files = ae.save(tmp_path)
    assert files == [WEIGHTS_FILE, CONFIG_FILE]
    assert all((tmp_path / f).is_file() for f in files)
    meta = json.loads((tmp_path / CONFIG_FILE).read_text())
    assert meta["params"]["bottleneck"] == 8 and meta["n_features_in"] == 77
    assert meta["shapes"]["encoder.0.weight"] == [64, 77]
    back = PoseAutoencoder.load(tmp_path)
    assert np.array_equal(back.transform(X), ae.transform(X))
    assert back.get_params() == ae.get_params()
    assert back.best_epoch_ == ae.best_epoch_
    # no pickle anywhere: the weights file is safetensors (8-byte header length + JSON header)
    raw = (tmp_path / WEIGHTS_FILE).read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    assert json.loads(raw[8:8 + header_len])["__metadata__"]["format"] == "unposed-pose-autoencoder"


def _saved(fitted, tmp_path):
    fitted[0].save(tmp_path)
    return tmp_path


def test_corrupt_weights_file_is_a_clear_error(fitted, tmp_path):
    folder = _saved(fitted, tmp_path)
    (folder / WEIGHTS_FILE).write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        PoseAutoencoder.load(folder)


def test_truncated_weights_file_is_a_clear_error(fitted, tmp_path):
    folder = _saved(fitted, tmp_path)
    raw = (folder / WEIGHTS_FILE).read_bytes()
    (folder / WEIGHTS_FILE).write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="safetensors"):
        PoseAutoencoder.load(folder)


def test_shape_mismatch_is_a_clear_error(fitted, tmp_path):
    folder = _saved(fitted, tmp_path)
    meta = json.loads((folder / CONFIG_FILE).read_text())
    meta["params"]["bottleneck"] = 6          # config no longer matches the stored weights
    (folder / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="shape"):
        PoseAutoencoder.load(folder)


def test_wrong_input_size_in_config_is_caught(fitted, tmp_path):
    folder = _saved(fitted, tmp_path)
    meta = json.loads((folder / CONFIG_FILE).read_text())
    meta["n_features_in"] = 61
    (folder / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="expected"):
        PoseAutoencoder.load(folder)


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"format": "something-else"}', "not an unposed autoencoder"),
    ('{"format": "unposed-pose-autoencoder", "format_version": 99}', "format version 99"),
])
def test_bad_config_file_is_a_clear_error(fitted, tmp_path, content, message):
    folder = _saved(fitted, tmp_path)
    (folder / CONFIG_FILE).write_text(content)
    with pytest.raises(ValueError, match=message):
        PoseAutoencoder.load(folder)


def test_missing_file_is_a_clear_error(fitted, tmp_path):
    folder = _saved(fitted, tmp_path)
    (folder / WEIGHTS_FILE).unlink()
    with pytest.raises(ValueError, match="missing"):
        PoseAutoencoder.load(folder)


@pytest.mark.parametrize("params, message", [
    ({"bottleneck": 0}, "bottleneck"),
    ({"hidden": (64, 32)}, "three positive layer widths"),
    ({"lr": 0.0}, "lr"),
    ({"lr": float("nan")}, "lr"),
    ({"batch_size": 1}, "batch_size"),
    ({"val_fraction": 0.9}, "val_fraction"),
    ({"temperature": -1}, "temperature"),
    ({"max_epochs": 2.5}, "max_epochs"),
])
def test_bad_parameters_are_clear_errors(params, message):
    X, _ = _poses(n=30)
    with pytest.raises(ValueError, match=message):
        PoseAutoencoder(**params).fit(X)


def test_bad_inputs_are_clear_errors(fitted):
    ae, X, _ = fitted
    with pytest.raises(ValueError, match="at least 8"):
        PoseAutoencoder().fit(X[:5])
    with pytest.raises(ValueError, match="NaN"):
        bad = X.copy()
        bad[0, 0] = np.nan
        PoseAutoencoder().fit(bad)
    with pytest.raises(ValueError, match="2-D"):
        ae.transform(X[0])
    with pytest.raises(ValueError, match="fit on 77"):
        ae.transform(X[:, :60])
    with pytest.raises(RuntimeError, match="not fitted"):
        PoseAutoencoder().transform(X)


def test_trained_run_with_autoencoder_round_trips(demo_store, tmp_path):
    """pipeline.train(autoencoder=True) -> save_run -> load_run: the loaded run assigns the
    reference images to the same classes it was trained with."""
    from unpose_core.config import TrainConfig

    # a private copy of the demo catalogue + pose cache, so the shared store stays as it is
    from unpose_core.evaluation.protocol import _scratch_store
    from unpose_core.pose import PoseOptions, backend_identity
    from unpose_core.runs import load_run
    from unpose_core.training import train

    ident = backend_identity(PoseOptions("blazepose"))
    scratch, _ = _scratch_store(demo_store, tmp_path / "d", demo_store.products(), demo_store.images(), [ident])
    try:
        res = train(scratch, TrainConfig(k=10, seed=0, autoencoder=True, autoencoder_params={"max_epochs": 15}))
        run = load_run(res.path)
        assert run.info.autoencoder and run.info.space_dim == 8
        assert isinstance(run.autoencoder, PoseAutoencoder)
        assert {WEIGHTS_FILE, CONFIG_FILE} <= set(run.metadata["files"])
        ref = run.reference
        person = ref[ref["status"] == "person"]
        poses = scratch.poses(*run.info.identity, person["content_hash"])
        classes, _ = run.classify([poses.get(h) for h in person["content_hash"]])
        assert (classes == person["pose_class"].to_numpy()).mean() > 0.99
    finally:
        scratch.close()
