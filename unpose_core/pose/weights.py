"""User-supplied pose model weights: imported once, then loaded without any pickle.

No pretrained COCO-17 weights can be downloaded by this project, so users bring their own:

* an MMPose checkpoint (``.pth``, a *pickle*): ``unposed models add-mmpose CKPT --trust``.
  Unpickling can run arbitrary code, so :func:`import_mmpose_checkpoint` refuses unless
  ``trust=True`` (the user's explicit consent). It then loads the file once, checks that
  its state dict fits the chosen bundled MMPose config (17 COCO keypoints) and writes the
  tensors as **safetensors**. The ``mmpose-hrnet`` backend only ever reads that file.
* an RTMPose model exported to **ONNX** (a protobuf, not a pickle):
  :func:`import_rtmpose_onnx` checks that onnxruntime can open it and that it has
  RTMPose's SimCC outputs, then copies it. Used by the ``rtmpose-onnx`` backend.

Layout, under ``<data_dir>/models/``::

    <name>.safetensors | <name>.onnx   the weights
    <name>.json                        the record: name, kind, backend, sha256 of the
                                       weights file, source file + sha256, config, ...

``name`` is ``<source file stem>-<first 8 hex of the source sha256>``, so importing the
same file again replaces its record (idempotent). Backends pick a model by name
(``PoseOptions.params["model"]``) or else the newest import of their kind, and verify
the weights' sha256 before loading them; the sha256 prefix is part of their ``version``.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from ..config import resolve_data_dir
from ..images import content_hash

MMPOSE = "mmpose"
RTMPOSE_ONNX = "rtmpose-onnx"
KIND_BACKEND = {MMPOSE: "mmpose-hrnet", RTMPOSE_ONNX: "rtmpose-onnx"}
ADD_COMMAND = {MMPOSE: "unposed models add-mmpose CKPT --trust",
               RTMPOSE_ONNX: "unposed models add-rtmpose MODEL.onnx"}
DEFAULT_MMPOSE_CONFIG = "td-hm_hrnet-w32_8xb64-210e_coco-256x192"
RECORD_VERSION = 1


class ModelImportError(ValueError):
    """The file cannot be imported: unreadable, not a checkpoint, wrong architecture."""


class UntrustedCheckpointError(ModelImportError):
    """An MMPose checkpoint was offered without the user's consent to unpickle it."""


class ModelNotFoundError(LookupError):
    """No imported model of the wanted kind (or name) in the data directory."""


# --------------------------------------------------------------------------- helpers
def models_dir(data_dir=None) -> Path:
    path = resolve_data_dir(data_dir) / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _model_name(source: Path, sha: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", source.stem).strip("-.")[:60] or "model"
    return f"{stem}-{sha[:8]}"


def _atomic_write_bytes_from(writer, dest: Path) -> None:
    """Run ``writer(tmp_path)`` then move the result into place in one rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    os.close(fd)
    try:
        writer(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_record(record: dict, folder: Path) -> dict:
    stored = {k: v for k, v in record.items() if k != "path"}
    _atomic_write_bytes_from(
        lambda p: p.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n"),
        folder / f"{record['name']}.json")
    return {**stored, "path": str(folder / record["file"])}


def _check_source(path) -> Path:
    src = Path(path).expanduser()
    if not src.is_file():
        raise ModelImportError(f"{src} does not exist or is not a file")
    if src.stat().st_size == 0:
        raise ModelImportError(f"{src} is empty")
    return src


# --------------------------------------------------------------------------- MMPose
def _configs_root() -> Path:
    spec = importlib.util.find_spec("mmpose")
    if spec is None or not spec.submodule_search_locations:
        raise ModelImportError("mmpose is not installed; run scripts/install_mmpose.sh (part of `make install`)")
    return Path(list(spec.submodule_search_locations)[0]) / ".mim" / "configs"


def mmpose_config_path(config_name: str = DEFAULT_MMPOSE_CONFIG) -> Path:
    """Path of a config bundled with the installed mmpose (``.mim/configs/body_2d_keypoint``).

    Only bundled configs are accepted: an mmengine config file is Python code that gets
    executed, so a user-supplied one would be as unsafe as an untrusted pickle.
    """
    if not re.fullmatch(r"[A-Za-z0-9._-]+", config_name or "") or config_name.endswith(".py"):
        raise ModelImportError(
            f"config {config_name!r} must be the name (without .py) of a config bundled with "
            f"mmpose, e.g. {DEFAULT_MMPOSE_CONFIG!r}; config files are Python code, so paths "
            "to other files are not accepted")
    root = _configs_root() / "body_2d_keypoint"
    hits = sorted(root.rglob(f"{config_name}.py"))
    if not hits:
        raise ModelImportError(f"no bundled mmpose config named {config_name!r} under {root}")
    if len(hits) > 1:
        raise ModelImportError(f"config name {config_name!r} is ambiguous: {[str(h) for h in hits]}")
    return hits[0]


def build_mmpose_model(config_name: str = DEFAULT_MMPOSE_CONFIG):
    """A randomly initialised model from a bundled config, on CPU, in eval mode.

    Nothing is downloaded or unpickled (``init_model(cfg, None)``; the backbone's
    ImageNet ``init_cfg`` is not applied by init_model). Raises ModelImportError if the
    model does not predict the 17 COCO keypoints.
    """
    import warnings

    from .mmpose_stubs import import_mmpose_apis

    apis = import_mmpose_apis()
    with warnings.catch_warnings():
        # "metainfo config file ... does not exist. A matched config file ... will be used"
        warnings.filterwarnings("ignore", message=r"The metainfo config file", category=UserWarning)
        model = apis.init_model(str(mmpose_config_path(config_name)), None, device="cpu")
    n_kpt = int((model.dataset_meta or {}).get("num_keypoints", 0))
    if n_kpt != 17:
        raise ModelImportError(f"config {config_name!r} predicts {n_kpt} keypoints, not the 17 COCO ones")
    return model.eval()


def _load_trusted_checkpoint(src: Path):
    """The one place a pickle is read, and only after the user said --trust."""
    import torch

    try:  # a plain tensor checkpoint needs no arbitrary unpickling
        return torch.load(src, map_location="cpu", weights_only=True)
    except Exception:
        pass
    try:  # mmpose checkpoints carry numpy objects in their meta: full (trusted) unpickle
        return torch.load(src, map_location="cpu", weights_only=False)
    except Exception as exc:  # UnpicklingError, EOFError, RuntimeError (bad zip), ...
        raise ModelImportError(
            f"{src} is not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from exc


def _state_dict_of(obj, src: Path) -> dict:
    import torch

    if isinstance(obj, dict) and "state_dict" in obj:
        sd = obj["state_dict"]
    elif isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        sd = obj  # a bare state dict
    else:
        what = f"a dict with keys {sorted(map(str, obj))[:8]}" if isinstance(obj, dict) else type(obj).__name__
        raise ModelImportError(f"{src} is not an MMPose checkpoint: expected a dict with a "
                               f"'state_dict' of tensors, found {what}")
    if not isinstance(sd, dict) or not sd:
        raise ModelImportError(f"{src}: 'state_dict' is empty or not a dict")
    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ModelImportError(f"{src}: state_dict entries that are not tensors: {bad[:5]}")
    # DataParallel / DDP checkpoints prefix every key with "module."
    return {re.sub(r"^module\.", "", str(k)): v.detach().to("cpu").contiguous().clone()
            for k, v in sd.items()}


def _check_fits(state_dict: dict, config_name: str, src: Path) -> None:
    model = build_mmpose_model(config_name)
    try:
        missing, unexpected = model.load_state_dict(state_dict, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise ModelImportError(f"{src} does not fit config {config_name!r}: {exc}") from exc
    if missing or unexpected:
        raise ModelImportError(
            f"{src} does not fit config {config_name!r}: {len(missing)} missing keys "
            f"(e.g. {missing[:3]}), {len(unexpected)} unexpected keys (e.g. {unexpected[:3]}); "
            "pass the config the checkpoint was trained with")


def import_mmpose_checkpoint(ckpt_path, data_dir=None, config_name: str = DEFAULT_MMPOSE_CONFIG,
                             trust: bool = False, validate: bool = True) -> dict:
    """Convert a user's MMPose ``.pth`` to safetensors under ``<data_dir>/models``.

    ``trust`` must be True: reading the checkpoint unpickles it, which can execute code.
    Returns the record: name, kind, backend, sha256 (of the safetensors file), path,
    config, source, source_sha256, n_tensors, imported_at.
    """
    config_name = config_name or DEFAULT_MMPOSE_CONFIG
    src = _check_source(ckpt_path)
    if not trust:
        raise UntrustedCheckpointError(
            f"refusing to load {src}: an MMPose .pth checkpoint is a Python pickle and loading "
            "it can run arbitrary code. Only import checkpoints from a source you trust, and "
            "say so explicitly: `unposed models add-mmpose CKPT --trust` (trust=True). It is "
            "converted once to safetensors; the pose backend never unpickles anything.")
    config_path = mmpose_config_path(config_name)  # fail early on a bad config name
    source_sha = content_hash(src)
    state_dict = _state_dict_of(_load_trusted_checkpoint(src), src)
    if validate:
        _check_fits(state_dict, config_name, src)

    from safetensors.torch import save_file

    folder = models_dir(data_dir)
    name = _model_name(src, source_sha)
    dest = folder / f"{name}.safetensors"
    # one metadata key: safetensors writes its metadata map in arbitrary order, and the
    # file's sha256 (part of the backend version) must not depend on it
    meta = {"unposed": json.dumps({"kind": MMPOSE, "config": config_name, "source_sha256": source_sha},
                                  sort_keys=True)}
    _atomic_write_bytes_from(lambda p: save_file(state_dict, str(p), metadata=meta), dest)
    record = {
        "record_version": RECORD_VERSION, "name": name, "kind": MMPOSE, "backend": KIND_BACKEND[MMPOSE],
        "file": dest.name, "sha256": content_hash(dest), "format": "safetensors",
        "config": config_name, "config_file": str(config_path.relative_to(_configs_root())),
        "n_tensors": len(state_dict), "n_keypoints": 17,
        "source": src.name, "source_sha256": source_sha, "imported_at": time.time(),
    }
    return _write_record(record, folder)


def load_mmpose_state_dict(record: dict) -> dict:
    """The imported tensors, after checking the file still has the recorded sha256."""
    from safetensors.torch import load_file

    path = Path(record["path"])
    verify_model_file(record)
    return load_file(str(path), device="cpu")


# --------------------------------------------------------------------------- RTMPose ONNX
def inspect_rtmpose_onnx(path) -> dict:
    """Open an ONNX file with onnxruntime and check RTMPose's shape contract.

    Input (1, 3, H, W) image; outputs simcc_x (1, 17, W * r) and simcc_y (1, 17, H * r),
    r the SimCC split ratio (2.0 for the released RTMPose models). Returns
    ``{"input_size": [W, H], "simcc_split_ratio": r, "input_name": ...}``.
    """
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ModelImportError("onnxruntime is not installed; run scripts/install_mmpose.sh") from exc
    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
        raise ModelImportError(f"{path} is not a loadable ONNX model ({type(exc).__name__}: {exc})") from exc
    inputs, outputs = sess.get_inputs(), sess.get_outputs()
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        raise ModelImportError(f"{path}: expected one image input (1, 3, H, W), found "
                               f"{[(i.name, i.shape) for i in inputs]}")
    _, c, h, w = inputs[0].shape
    if not all(isinstance(v, int) for v in (c, h, w)) or c != 3:
        raise ModelImportError(f"{path}: input shape {inputs[0].shape} must be static (1, 3, H, W)")
    if len(outputs) != 2 or any(len(o.shape) != 3 for o in outputs):
        raise ModelImportError(f"{path}: expected RTMPose's two SimCC outputs (1, 17, W*r) and "
                               f"(1, 17, H*r), found {[(o.name, o.shape) for o in outputs]}")
    (_, kx, lx), (_, ky, ly) = outputs[0].shape, outputs[1].shape
    if kx != 17 or ky != 17:
        raise ModelImportError(f"{path}: the model predicts {kx} keypoints, not the 17 COCO ones")
    if not (isinstance(lx, int) and isinstance(ly, int)) or lx * h != ly * w:
        raise ModelImportError(f"{path}: SimCC lengths {lx}, {ly} do not match input {w}x{h}")
    return {"input_size": [int(w), int(h)], "simcc_split_ratio": lx / w, "input_name": inputs[0].name}


def import_rtmpose_onnx(onnx_path, data_dir=None) -> dict:
    """Copy an RTMPose ONNX model into ``<data_dir>/models`` after checking it opens."""
    src = _check_source(onnx_path)
    info = inspect_rtmpose_onnx(src)
    source_sha = content_hash(src)
    folder = models_dir(data_dir)
    name = _model_name(src, source_sha)
    dest = folder / f"{name}.onnx"
    _atomic_write_bytes_from(lambda p: shutil.copyfile(src, p), dest)
    record = {
        "record_version": RECORD_VERSION, "name": name, "kind": RTMPOSE_ONNX,
        "backend": KIND_BACKEND[RTMPOSE_ONNX], "file": dest.name, "sha256": content_hash(dest),
        "format": "onnx", **info, "n_keypoints": 17,
        "source": src.name, "source_sha256": source_sha, "imported_at": time.time(),
    }
    if record["sha256"] != source_sha:
        dest.unlink(missing_ok=True)
        raise ModelImportError(f"copying {src} changed its content (sha256 mismatch); disk problem?")
    return _write_record(record, folder)


# --------------------------------------------------------------------------- lookup
def list_models(data_dir=None, kind: str | None = None) -> list[dict]:
    """Imported models (oldest first), each record with an absolute ``path``."""
    folder = models_dir(data_dir)
    out = []
    for rec_path in folder.glob("*.json"):
        try:
            rec = json.loads(rec_path.read_text())
        except (OSError, ValueError):
            continue  # a half-written or foreign file is not a model
        if not isinstance(rec, dict) or "name" not in rec or "file" not in rec:
            continue
        if kind is not None and rec.get("kind") != kind:
            continue
        rec["path"] = str(folder / rec["file"])
        out.append(rec)
    return sorted(out, key=lambda r: (r.get("imported_at", 0.0), r["name"]))


def find_model(data_dir, kind: str, name: str | None = None) -> dict:
    """The record named ``name``, else the newest import of ``kind``; a clear error if none."""
    found = list_models(data_dir, kind)
    if name:
        for rec in found:
            if rec["name"] == name:
                return rec
        have = ", ".join(r["name"] for r in found) or "none"
        raise ModelNotFoundError(f"no {kind} model named {name!r} in {models_dir(data_dir)} "
                                 f"(imported: {have}); add one with `{ADD_COMMAND[kind]}`")
    if not found:
        raise ModelNotFoundError(
            f"no {kind} model imported in {models_dir(data_dir)}. This project cannot download "
            f"weights; bring your own file and import it with `{ADD_COMMAND[kind]}`")
    return found[-1]


def verify_model_file(record: dict) -> None:
    path = Path(record["path"])
    if not path.is_file():
        raise ModelNotFoundError(f"model file {path} of {record['name']!r} is missing; import it again")
    if content_hash(path) != record["sha256"]:
        raise ModelImportError(f"model file {path} does not match its recorded sha256 "
                               f"(changed after import?); import it again")


__all__ = [
    "DEFAULT_MMPOSE_CONFIG", "MMPOSE", "RTMPOSE_ONNX", "ModelImportError", "ModelNotFoundError",
    "UntrustedCheckpointError", "build_mmpose_model", "find_model", "import_mmpose_checkpoint",
    "import_rtmpose_onnx", "inspect_rtmpose_onnx", "list_models", "load_mmpose_state_dict",
    "mmpose_config_path", "verify_model_file",
]
