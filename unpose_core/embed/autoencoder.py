"""Autoencoder pose embeddings (paper §4.3.1): 77 (or 61) dims -> an 8-dim code for K-Means.

Architecture (as the paper gives it)
    encoder: 4 fully connected layers, input -> hidden[0] -> hidden[1] -> hidden[2] -> bottleneck
    (default 77 -> 64 -> 32 -> 16 -> 8), GELU between layers; decoder: 2 fully connected
    layers, bottleneck -> hidden[0] -> input. AdamW, lr 0.1, weight decay 0.001; the paper's batch
    is 2048, ours 512 by default (see "Bounded training").
    Inputs are standardised inside the model (per-dimension mean / std of the fit data, kept
    with the weights), so callers pass raw embeddings.

Which contrastive loss (the paper only says "batch-wise contrastive loss")
    Symmetric InfoNCE over two augmented views of every embedding in the batch (the SimCLR /
    CLIP family): the codes of the two views are L2-normalised, every view-a code is scored
    against every view-b code of the batch by cosine similarity / ``temperature``, and cross
    entropy asks each code to pick its own image's other view among the batch's n (both
    directions, averaged). It is *batch-wise* in the plain sense -- every other image of the
    batch is a negative, which is why a large batch such as 2048 matters -- it needs no labels
    (there are none at training time) and no pair mining, and the augmentations say exactly
    which differences must not change the pose class. We score view a against view b only (an
    n x n matrix) rather than SimCLR's NT-Xent over all 2n x 2n pairs: same objective family,
    a quarter of the work, and on 2 CPU cores that matters more than the extra negatives.

    Augmentations, in standardised units (``fit`` standardises every dimension first):
    * jitter: Gaussian noise of ``noise`` (0.5) standard deviations per dimension -- a pose
      estimator's wobble and the spread between two photos of the same pose;
    * gain / offset: each view is multiplied by 1 + N(0, ``scale_noise``) and shifted by
      N(0, ``scale_noise``) -- a person slightly nearer or off-centre;
    * feature dropout: each dimension is set to 0 (its mean) with probability ``dropout`` --
      a landmark the estimator missed.
    Left-right flips are NOT used: mirroring turns a left-facing side view into a right-facing
    one and swaps the left/right shoulder ratio that tells front from back, so it would teach
    the encoder to merge classes a seller must see as different.

    Instance discrimination alone spreads the codes evenly over the sphere and throws away the
    density K-Means needs, so a reconstruction term (MSE of the decoder's output against the
    standardised input, weight ``recon_weight``) keeps the code faithful to the input. K-Means
    gets the encoder's raw (not normalised) code.

    Measured on the demo (630 reference embeddings, K=10, purity of K-Means clusters against
    the recorded framings, mean of 3 autoencoder seeds x 3 K-Means seeds): raw 77-dim 0.753;
    noise 0.1 -> 0.655, 0.3 -> 0.72, 0.5 -> 0.728 (the default), 1.0 -> 0.70; temperature 0.1 or
    0.2 is worse (0.56-0.58, one seed); reconstruction only (contrastive term negligible) 0.742;
    positives drawn from a batch neighbour instead of an augmentation 0.65-0.72. On this clean,
    synthetic catalogue no variant beat the raw embedding; `unposed evaluate` measures it on
    yours.

lr 0.1 with AdamW (measured on the same data, seeds 0 and 1)
    We keep 0.1 as the configured (peak) rate, as the paper says, and guard it: linear warm-up
    over the first ``warmup`` steps, cosine decay to 1 % of the peak, gradient-norm clipping at
    ``clip_norm``. Without warm-up the loss spikes from 7.3 to 12.7-30.9 within the first 4
    epochs, ends at 5.9-6.3, the codes partly collapse (only 395-445 distinct codes for
    630 inputs) and purity falls to 0.60 +- 0.07. With warm-up the loss falls from 7.3 to 4.8,
    every input keeps a distinct code and purity is 0.73 +- 0.03. Clipping alone does not
    prevent the spikes (Adam rescales the clipped gradient anyway); warm-up is the guard that
    matters, clipping stays as a cheap backstop against a single bad batch.

Bounded training (the work no longer grows with the catalogue)
    InfoNCE scores a batch x batch matrix, so one step costs ~batch^2: measured single-threaded
    here, 0.11 s per step at batch 2048, 0.026 s at 1024, 0.009 s at 512. The old fit ran
    ``max_epochs`` (100) epochs over every row: 900 steps of 2048 and ~180 s for 20k embeddings,
    ten times that for 200k, plus a validation InfoNCE over 15 % of the rows (a 30k x 30k matrix,
    3.6 GB, at 200k). Now:
    * ``fit_sample`` (20 000): at most this many rows, a seeded random sample, are used to train
      (standardisation still uses every row: O(n d)); every row is transformed;
    * ``max_steps`` (300): at most this many optimiser steps in all; the warm-up + cosine schedule
      spans the steps actually run, and an epoch cut short by the bound counts as one;
    * validation scores at most ``VAL_MAX`` (1024) held-out rows. It only picks the best epoch
      (the weights kept); 2048 rows cost 41 ms of CPU per epoch, 1024 rows 10 ms, and on the
      benchmark's 20k (seeds 0 and 1) and 200k sets both picked the last of the 9 epochs: the
      same weights and codes bit for bit, 0.35-0.7 s less CPU per fit (2026-11-30).

    ``None`` for either bound restores the unbounded fit. The defaults were chosen on 20k
    synthetic embeddings of 14 known clusters (benchmarks/bench_training.py, K-Means purity of
    the codes, 2-core VM at load ~4): unbounded (2048 x 900 steps) 0.859 in 177 s; 2048 x 12
    steps 0.236 (the warm-up takes most of them); 1024 x 50 0.457; 1024 x 150 0.913 (7.8 s);
    512 x 150 0.801; 512 x 200 0.789; 512 x 300 0.852 (6.4 s; 0.854 with a 10k sample);
    256 x 300 0.677. 512 x 300 matches the unbounded fit for a fixed ~3 s of single-threaded
    work (6 s under that load) at any size.

Where the time goes (bounded fit, 20k, 2026-11-30; CPU seconds, which a busy machine inflates less)
    One step of 512 (two augmented views, three encoder passes, the decoder, InfoNCE forward
    and backward) 7.5 ms, so 300 steps ~2.3 s; the 9 validations 0.1 s; the transform of every
    row 0.1 s. The optimiser is written out (``_AdamW``: ``torch.optim``'s first use imports
    ``torch._dynamo``, 2-3.5 s per process) and the fit runs single-threaded: with 2 intra-op
    threads the same fit took 84-93 s instead of 3.3-8.9 s on the shared 2-core VM (load ~7),
    the threads waiting on each other.

Determinism
    ``fit`` seeds torch, draws every random number (split, shuffles, augmentations,
    initial weights) from generators seeded with ``seed``, runs single-threaded under
    ``torch.use_deterministic_algorithms(True)`` and restores the caller's settings after.
    The same data and seed give bit-identical weights on the same machine.

Saved as ``autoencoder.safetensors`` (weights + standardisation) and ``autoencoder.json``
(parameters, shapes, training history): no pickle. ``load`` checks every tensor's shape.
"""
from __future__ import annotations

import json
import math
from contextlib import contextmanager
from pathlib import Path

import numpy as np

WEIGHTS_FILE = "autoencoder.safetensors"
CONFIG_FILE = "autoencoder.json"
FORMAT = "unposed-pose-autoencoder"
FORMAT_VERSION = 1
MIN_SAMPLES = 8
# the bound on training work (see "Bounded training" above): measured, benchmarks/bench_training.py
MAX_STEPS = 300
FIT_SAMPLE = 20_000
BATCH_SIZE = 512   # the paper says 2048; InfoNCE costs batch^2 per step (0.11 s at 2048, 0.009 s at 512)
VAL_MAX = 1024     # validation rows scored per epoch (one InfoNCE matrix of at most VAL_MAX^2)


def _set_deterministic(mode: bool, warn_only: bool) -> None:
    """torch.use_deterministic_algorithms without its import of torch._inductor (~4 s on the
    first call, only there to set an inductor flag we never use)."""
    import torch

    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        setter(mode, warn_only=warn_only)


@contextmanager
def _deterministic_torch(seed: int):
    """Seed torch, force deterministic single-threaded kernels; restore the caller's settings."""
    import torch

    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_threads = torch.get_num_threads()
    torch.manual_seed(seed)
    _set_deterministic(True, prev_warn)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        _set_deterministic(prev_det, prev_warn)
        torch.set_num_threads(prev_threads)


def _build_network(n_features: int, hidden: tuple[int, ...], bottleneck: int):
    import torch.nn as nn

    sizes = [n_features, *hidden, bottleneck]
    enc: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        enc.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            enc.append(nn.GELU())
    decoder = nn.Sequential(nn.Linear(bottleneck, hidden[0]), nn.GELU(), nn.Linear(hidden[0], n_features))
    return nn.Sequential(*enc), decoder


class _AdamW:
    """AdamW as ``torch.optim.AdamW`` computes it for CPU tensors (its single-tensor path, betas
    (0.9, 0.999), eps 1e-8, no amsgrad), the same operations in the same order, so the weights are
    the same bit for bit (tests/test_autoencoder.py compares them with torch.optim's). Written out
    because constructing any ``torch.optim`` optimiser imports ``torch._dynamo`` (and sympy, the
    distributed package ...) on first use: 2.0 s idle, 3.5 s under load on the 2-core VM, once
    per training process -- half of the bounded fit at 20k. The learning rate is passed to every
    :meth:`step` (the warm-up + cosine schedule), as ``LambdaLR`` set it before."""

    def __init__(self, params, weight_decay: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        import torch

        self.params = list(params)
        self.weight_decay, self.betas, self.eps = weight_decay, betas, eps
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.n_steps = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self, lr: float) -> None:
        import torch

        beta1, beta2 = self.betas
        self.n_steps += 1
        step = float(self.n_steps)   # torch keeps the step count as a float32 tensor and reads .item()
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2 ** 0.5
        with torch.no_grad():
            for p, exp_avg, exp_avg_sq in zip(self.params, self.exp_avg, self.exp_avg_sq):
                grad = p.grad
                if grad is None:
                    continue
                if self.weight_decay != 0:
                    p.mul_(1 - lr * self.weight_decay)
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)
                p.addcdiv_(exp_avg, denom, value=-step_size)


def info_nce(za, zb, temperature: float):
    """Symmetric InfoNCE: row i of ``za`` and row i of ``zb`` (two views of image i) are the
    positive pair; the other view's rows j != i in the batch are the negatives. Cross entropy
    of the (n, n) cosine-similarity / temperature matrix, both directions, averaged. The
    temperature divides the (n, d) normalised codes before the product rather than the (n, n)
    matrix after it: n / d times fewer divisions forward and backward, and for a power of two
    such as the default 0.5 the very same numbers (scaling by 2 is exact in floating point)."""
    import torch
    import torch.nn.functional as F

    a, b = F.normalize(za, dim=1), F.normalize(zb, dim=1)
    logits = (a / temperature) @ b.T
    target = torch.arange(len(a))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


class PoseAutoencoder:
    """scikit-learn style: parameters in __init__, learned state in trailing-underscore attributes."""

    def __init__(self, bottleneck: int = 8, hidden: tuple[int, ...] = (64, 32, 16), batch_size: int = BATCH_SIZE,
                 lr: float = 0.1, weight_decay: float = 0.001, max_epochs: int = 100, patience: int = 20,
                 val_fraction: float = 0.15, temperature: float = 0.5, recon_weight: float = 1.0,
                 noise: float = 0.5, scale_noise: float = 0.05, dropout: float = 0.1,
                 warmup: int = 20, clip_norm: float = 1.0, max_steps: int | None = MAX_STEPS,
                 fit_sample: int | None = FIT_SAMPLE, seed: int = 0):
        self.bottleneck = bottleneck
        self.hidden = hidden
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.temperature = temperature
        self.recon_weight = recon_weight
        self.noise = noise
        self.scale_noise = scale_noise
        self.dropout = dropout
        self.warmup = warmup
        self.clip_norm = clip_norm
        self.max_steps = max_steps
        self.fit_sample = fit_sample
        self.seed = seed

    # -- parameters -------------------------------------------------------------
    _PARAMS = ("bottleneck", "hidden", "batch_size", "lr", "weight_decay", "max_epochs", "patience",
               "val_fraction", "temperature", "recon_weight", "noise", "scale_noise", "dropout",
               "warmup", "clip_norm", "max_steps", "fit_sample", "seed")

    def get_params(self) -> dict:
        p = {name: getattr(self, name) for name in self._PARAMS}
        p["hidden"] = [int(h) for h in p["hidden"]]
        return p

    def _validate_params(self) -> None:
        def whole(name, lo):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ValueError(f"autoencoder {name} must be a whole number >= {lo}, got {v!r}")

        def real(name, lo, hi=math.inf, lo_open=False):
            v = getattr(self, name)
            ok = isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool) \
                and math.isfinite(v) and (v > lo if lo_open else v >= lo) and v <= hi
            if not ok:
                bound = f"{'>' if lo_open else '>='} {lo}" + (f" and <= {hi}" if hi != math.inf else "")
                raise ValueError(f"autoencoder {name} must be a number {bound}, got {v!r}")

        for name in ("bottleneck", "batch_size", "max_epochs", "patience"):
            whole(name, 1)
        whole("warmup", 0)
        whole("seed", 0)
        if self.max_steps is not None:
            whole("max_steps", 1)
        if self.fit_sample is not None:
            whole("fit_sample", MIN_SAMPLES)
        if self.batch_size < 2:
            raise ValueError("autoencoder batch_size must be at least 2 (contrastive pairs need negatives)")
        hidden = tuple(self.hidden) if isinstance(self.hidden, (list, tuple)) else None
        if not hidden or len(hidden) != 3 or not all(isinstance(h, (int, np.integer)) and not isinstance(h, bool)
                                                     and h >= 1 for h in hidden):
            raise ValueError("autoencoder hidden must be three positive layer widths (4 encoder layers), "
                             f"got {self.hidden!r}")
        real("lr", 0, lo_open=True)
        real("weight_decay", 0)
        real("val_fraction", 0, 0.5)
        real("temperature", 0, lo_open=True)
        real("recon_weight", 0)
        real("noise", 0)
        real("scale_noise", 0)
        real("dropout", 0, 0.9)
        real("clip_norm", 0, lo_open=True)

    @staticmethod
    def _check_X(X, n_features: int | None = None) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise ValueError(f"embeddings must be 2-D (n, d), got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("embeddings contain NaN or infinity")
        if n_features is not None and X.shape[1] != n_features:
            raise ValueError(f"embeddings have {X.shape[1]} dims, the autoencoder was fit on {n_features}")
        return X

    # -- training ---------------------------------------------------------------
    def _augment(self, x, gen):
        import torch

        n, d = x.shape
        scale = 1.0 + self.scale_noise * torch.randn(n, 1, generator=gen)
        shift = self.scale_noise * torch.randn(n, 1, generator=gen)
        out = x * scale + shift + self.noise * torch.randn(n, d, generator=gen)
        if self.dropout > 0:
            keep = torch.rand(n, d, generator=gen) >= self.dropout
            out = out * keep
        return out

    def _loss(self, x, gen):
        """(total, contrastive, reconstruction) for one batch of standardised inputs."""
        import torch.nn.functional as F

        za, zb = self._encoder(self._augment(x, gen)), self._encoder(self._augment(x, gen))
        con = info_nce(za, zb, self.temperature)
        rec = F.mse_loss(self._decoder(self._encoder(x)), x) if self.recon_weight > 0 else con * 0
        return con + self.recon_weight * rec, con, rec

    def fit(self, X) -> PoseAutoencoder:
        import torch

        self._validate_params()
        X = self._check_X(X)
        n, d = X.shape
        if n < MIN_SAMPLES:
            raise ValueError(f"the autoencoder needs at least {MIN_SAMPLES} embeddings to fit, got {n}")
        n_val = int(round(n * self.val_fraction)) if self.val_fraction > 0 else 0
        if n_val:
            n_val = max(2, n_val)
        if n - n_val < 2:
            raise ValueError(f"{n} embeddings leave fewer than 2 for training after the "
                             f"{self.val_fraction:.0%} validation split")
        mean = X.mean(axis=0, dtype=np.float64).astype(np.float32)   # all rows: O(n d), cheap
        std = X.std(axis=0, dtype=np.float64).astype(np.float32)
        std[std < 1e-6] = 1.0
        n_all = n
        if self.fit_sample is not None and n > self.fit_sample:   # train on a seeded sample of rows
            rows = np.sort(np.random.default_rng(self.seed).choice(n, size=self.fit_sample, replace=False))
            X, n = X[rows], int(self.fit_sample)
            n_val = int(round(n * self.val_fraction)) if self.val_fraction > 0 else 0
            if n_val:
                n_val = max(2, n_val)
        Z = (X - mean) / std

        with _deterministic_torch(self.seed):
            gen = torch.Generator().manual_seed(self.seed)
            perm = torch.randperm(n, generator=gen)
            val_idx, train_idx = perm[:n_val], perm[n_val:]
            Zt = torch.from_numpy(np.ascontiguousarray(Z))
            x_train, x_val = Zt[train_idx], Zt[val_idx[:VAL_MAX]]
            self._encoder, self._decoder = _build_network(d, tuple(int(h) for h in self.hidden), self.bottleneck)
            params = [*self._encoder.parameters(), *self._decoder.parameters()]
            opt = _AdamW(params, weight_decay=self.weight_decay)
            steps_per_epoch = math.ceil(len(x_train) / self.batch_size)
            total = max(1, self.max_epochs * steps_per_epoch)
            if self.max_steps is not None:
                total = min(total, self.max_steps)
            warm = min(self.warmup, total - 1) if total > 1 else 0

            def lr_factor(step: int) -> float:   # linear warm-up, then cosine down to 1 %
                if step < warm:
                    return (step + 1) / (warm + 1)
                t = (step - warm) / max(1, total - warm)
                return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

            history = {"train": [], "contrastive": [], "reconstruction": [], "val": []}
            best = (math.inf, -1, None)
            n_steps = 0
            for epoch in range(self.max_epochs):
                if n_steps >= total:
                    break
                self._encoder.train(), self._decoder.train()
                order = torch.randperm(len(x_train), generator=gen)
                sums = np.zeros(3)
                done = 0
                for s in range(steps_per_epoch):
                    if n_steps >= total:    # the step bound can end an epoch early
                        break
                    batch = x_train[order[s * self.batch_size:(s + 1) * self.batch_size]]
                    if len(batch) < 2:
                        continue
                    loss, con, rec = self._loss(batch, gen)
                    opt.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(params, self.clip_norm)
                    opt.step(self.lr * lr_factor(n_steps))   # what LambdaLR set: base lr x factor(step)
                    n_steps += 1
                    done += 1
                    sums += [loss.item(), con.item(), rec.item()]
                if done == 0:
                    break
                # divided by steps_per_epoch as before for full epochs (bit-identical histories)
                per = steps_per_epoch if done == steps_per_epoch else done
                history["train"].append(sums[0] / per)
                history["contrastive"].append(sums[1] / per)
                history["reconstruction"].append(sums[2] / per)
                monitor = history["train"][-1]
                if n_val:
                    self._encoder.eval(), self._decoder.eval()
                    with torch.no_grad():   # fixed augmentations so epochs compare like with like
                        vloss = float(self._loss(x_val, torch.Generator().manual_seed(self.seed + 1))[0])
                    history["val"].append(vloss)
                    monitor = vloss
                if not math.isfinite(monitor):
                    raise ValueError(f"autoencoder training diverged at epoch {epoch + 1} (loss {monitor}); "
                                     "lower lr or clip_norm")
                if monitor < best[0] - 1e-5:
                    best = (monitor, epoch, self._state_dict())
                elif epoch - best[1] >= self.patience:
                    break
            self._load_state_dict(best[2])
            self._encoder.eval(), self._decoder.eval()

        self.mean_, self.std_ = mean, std
        self.n_features_in_ = d
        self.history_ = {k: [round(float(v), 6) for v in vals] for k, vals in history.items()}
        self.best_epoch_ = int(best[1]) + 1
        self.n_epochs_ = len(history["train"])
        self.n_train_, self.n_val_ = int(len(train_idx)), int(n_val)
        self.n_steps_ = int(n_steps)
        self.n_fit_, self.n_seen_ = int(n), int(n_all)
        return self

    # -- use --------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "n_features_in_"):
            raise RuntimeError("this PoseAutoencoder is not fitted yet: call fit(X) first")

    def transform(self, X) -> np.ndarray:
        """Raw embeddings (n, d) -> codes (n, bottleneck) float32."""
        import torch

        self._check_fitted()
        X = self._check_X(X, self.n_features_in_)
        if len(X) == 0:
            return np.zeros((0, self.bottleneck), np.float32)
        Z = torch.from_numpy(np.ascontiguousarray((X - self.mean_) / self.std_, dtype=np.float32))
        with torch.no_grad():
            return self._encoder(Z).numpy().astype(np.float32)

    def fit_transform(self, X) -> np.ndarray:
        return self.fit(X).transform(X)

    def reconstruct(self, X) -> np.ndarray:
        """Embeddings -> decoder output in the original (unstandardised) units."""
        import torch

        self._check_fitted()
        X = self._check_X(X, self.n_features_in_)
        Z = torch.from_numpy(np.ascontiguousarray((X - self.mean_) / self.std_, dtype=np.float32))
        with torch.no_grad():
            out = self._decoder(self._encoder(Z)).numpy()
        return (out * self.std_ + self.mean_).astype(np.float32)

    # -- state ------------------------------------------------------------------
    def _state_dict(self) -> dict:
        out = {f"encoder.{k}": v.detach().clone() for k, v in self._encoder.state_dict().items()}
        out.update({f"decoder.{k}": v.detach().clone() for k, v in self._decoder.state_dict().items()})
        return out

    def _load_state_dict(self, state: dict) -> None:
        self._encoder.load_state_dict({k[8:]: v for k, v in state.items() if k.startswith("encoder.")})
        self._decoder.load_state_dict({k[8:]: v for k, v in state.items() if k.startswith("decoder.")})

    def _expected_shapes(self) -> dict[str, tuple[int, ...]]:
        enc, dec = _build_network(self.n_features_in_, tuple(int(h) for h in self.hidden), self.bottleneck)
        shapes = {f"encoder.{k}": tuple(v.shape) for k, v in enc.state_dict().items()}
        shapes.update({f"decoder.{k}": tuple(v.shape) for k, v in dec.state_dict().items()})
        shapes["mean"] = shapes["std"] = (self.n_features_in_,)
        return shapes

    def save(self, folder) -> list[str]:
        """Write the two files into ``folder``; returns their names (for the run's checksums)."""
        import torch
        from safetensors.torch import save_file

        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.contiguous() for k, v in self._state_dict().items()}
        tensors["mean"] = torch.from_numpy(self.mean_.copy())
        tensors["std"] = torch.from_numpy(self.std_.copy())
        save_file(tensors, str(folder / WEIGHTS_FILE), metadata={"format": FORMAT})
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "params": self.get_params(),
                "n_features_in": int(self.n_features_in_),
                "shapes": {k: list(v.shape) for k, v in tensors.items()},
                "training": {"best_epoch": self.best_epoch_, "n_epochs": self.n_epochs_,
                             "n_train": self.n_train_, "n_val": self.n_val_, "n_steps": self.n_steps_,
                             "n_fit": self.n_fit_, "n_seen": self.n_seen_, "history": self.history_}}
        (folder / CONFIG_FILE).write_text(json.dumps(meta, indent=1))
        return [WEIGHTS_FILE, CONFIG_FILE]

    @classmethod
    def load(cls, folder) -> PoseAutoencoder:
        """Read what :meth:`save` wrote; any missing, corrupt or mis-shaped file -> ValueError."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        folder = Path(folder)
        cfg_path, w_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
        for p in (cfg_path, w_path):
            if not p.is_file():
                raise ValueError(f"autoencoder file missing: {p}")
        try:
            meta = json.loads(cfg_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{cfg_path} is not valid JSON: {exc}") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"{cfg_path} is not an unposed autoencoder config")
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{cfg_path} has format version {meta.get('format_version')}, "
                             f"this unposed reads {FORMAT_VERSION}")
        params = dict(meta.get("params") or {})
        unknown = set(params) - set(cls._PARAMS)
        if unknown:
            raise ValueError(f"{cfg_path} has unknown autoencoder parameters: {', '.join(sorted(unknown))}")
        if "hidden" in params and isinstance(params["hidden"], list):
            params["hidden"] = tuple(params["hidden"])
        ae = cls(**params)
        ae._validate_params()
        n_in = meta.get("n_features_in")
        if not isinstance(n_in, int) or n_in < 1:
            raise ValueError(f"{cfg_path} has no valid n_features_in")
        ae.n_features_in_ = n_in
        try:
            tensors = load_file(str(w_path))
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise ValueError(f"{w_path} is not a readable safetensors file: {exc}") from None
        expected = ae._expected_shapes()
        missing = sorted(set(expected) - set(tensors))
        extra = sorted(set(tensors) - set(expected))
        if missing or extra:
            raise ValueError(f"{w_path} does not match its config: missing {missing or 'none'}, "
                             f"unexpected {extra or 'none'}")
        for name, shape in expected.items():
            if tuple(tensors[name].shape) != shape:
                raise ValueError(f"{w_path}: tensor {name} has shape {tuple(tensors[name].shape)}, "
                                 f"expected {shape}")
            if not bool(tensors[name].isfinite().all()):
                raise ValueError(f"{w_path}: tensor {name} contains NaN or infinity")
        ae._encoder, ae._decoder = _build_network(n_in, tuple(int(h) for h in ae.hidden), ae.bottleneck)
        ae._load_state_dict({k: v.float() for k, v in tensors.items() if k not in ("mean", "std")})
        ae._encoder.eval(), ae._decoder.eval()
        ae.mean_ = tensors["mean"].numpy().astype(np.float32)
        ae.std_ = tensors["std"].numpy().astype(np.float32)
        training = meta.get("training") or {}
        ae.history_ = training.get("history", {})
        ae.best_epoch_ = training.get("best_epoch")
        ae.n_epochs_ = training.get("n_epochs")
        ae.n_train_, ae.n_val_ = training.get("n_train"), training.get("n_val")
        # absent in models saved before the step / sample bound (read as unknown)
        ae.n_steps_ = training.get("n_steps")
        ae.n_fit_, ae.n_seen_ = training.get("n_fit"), training.get("n_seen")
        return ae

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.get_params().items()
                   if v != PoseAutoencoder().get_params()[k]}
        return f"PoseAutoencoder({', '.join(f'{k}={v!r}' for k, v in changed.items())})"
