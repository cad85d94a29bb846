"""Import-time stand-ins that let ``mmpose.apis`` import on our CPU-only install.

We install mmpose 1.3.2 with ``mmcv-lite`` (no compiled ops), without ``mmdet`` and
without ``torchvision`` (PyPI's torchvision wheels are CUDA builds that replace or do
not load with the CPU torch). Three mmpose modules import those unconditionally at
import time, although the top-down HRNet path we use never calls into them:

=========================================================  ==============================================
mmpose module                                              missing import -> stand-in
=========================================================  ==============================================
models/heads/transformer_heads/edpose_head.py (+ layers)   ``mmcv.ops.MultiScaleDeformableAttention``
                                                           -> a class that raises ImportError when built
models/heads/hybrid_heads/rtmo_head.py                     ``mmdet.utils.ConfigType, reduce_mean``
                                                           -> a typing alias and the single-process mean
visualization/simcc_vis.py                                 ``torchvision.transforms.ToPILImage``
                                                           -> a small numpy/PIL version
=========================================================  ==============================================

The stand-ins are *scoped*: :func:`import_mmpose_apis` puts them into ``sys.modules``
only while it imports mmpose (and the modules mmpose's registries import lazily), then
takes them out again, so no other library ever sees a fake ``torchvision`` or ``mmdet``.
A real, working package always wins over a stand-in. Calling it again (e.g. on every
Streamlit rerun) just returns the already imported functions.

``DeformConv2d`` is deliberately *not* provided: dekr_head / posewarper_neck guard that
import with try/except and fall back to ``has_mmcv_full = False``.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.machinery
import importlib.util
import sys
import threading
import types
import warnings
from collections.abc import Iterator
from typing import Union

# Modules mmpose's registries import lazily when a model is first built; importing them
# inside the stubbed scope means nothing needs the stand-ins after we remove them.
_MMPOSE_MODULES = (
    "mmpose.apis",
    "mmpose.models",
    "mmpose.codecs",
    "mmpose.datasets",
    "mmpose.datasets.transforms",
    "mmpose.structures",
    "mmpose.visualization",
    "mmpose.evaluation",
    "mmpose.engine",
)

_LOCK = threading.Lock()
_STUB_MARK = "__unposed_stub__"


def _new_module(name: str, package: bool = False) -> types.ModuleType:
    mod = types.ModuleType(name)
    # A real spec keeps importlib.util.find_spec() from raising ValueError on the stub.
    mod.__spec__ = importlib.machinery.ModuleSpec(name, loader=None, is_package=package)
    if package:
        mod.__path__ = []  # a package with no submodules: "from mmdet.apis import X" -> ImportError
    setattr(mod, _STUB_MARK, True)
    return mod


def _importable(name: str) -> bool:
    """True when ``import name`` really works (a broken CUDA torchvision does not)."""
    try:
        importlib.import_module(name)
        return True
    except Exception:  # ImportError, or RuntimeError/OSError from a mismatched binary
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
        return False


def _torchvision_stubs() -> dict[str, types.ModuleType]:
    if _importable("torchvision"):
        return {}
    tv = _new_module("torchvision", package=True)
    tv.__version__ = "0.0.0+unposed.stub"
    transforms = _new_module("torchvision.transforms")

    class ToPILImage:
        """CHW/HWC tensor or array -> PIL image (only SimCC visualisation uses it)."""

        def __call__(self, pic):
            import numpy as np
            from PIL import Image

            arr = pic.detach().cpu().numpy() if hasattr(pic, "detach") else np.asarray(pic)
            if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
                arr = arr.transpose(1, 2, 0)
            if arr.dtype != np.uint8:
                arr = (np.clip(arr, 0.0, 1.0) * 255).astype(np.uint8)
            return Image.fromarray(arr.squeeze())

    transforms.ToPILImage = ToPILImage
    tv.transforms = transforms
    return {"torchvision": tv, "torchvision.transforms": transforms}


def _mmdet_stubs() -> dict[str, types.ModuleType]:
    if importlib.util.find_spec("mmdet") is not None:
        return {}
    import torch.distributed as dist
    from mmengine.config import ConfigDict

    def reduce_mean(tensor):
        """mmdet.utils.reduce_mean: mean over processes (identity in one process)."""
        if not (dist.is_available() and dist.is_initialized()):
            return tensor
        tensor = tensor.clone()
        dist.all_reduce(tensor.div_(dist.get_world_size()), op=dist.ReduceOp.SUM)
        return tensor

    mmdet = _new_module("mmdet", package=True)
    utils = _new_module("mmdet.utils")
    # typing.Union objects, as mmdet itself defines them (not types.UnionType)
    utils.ConfigType = Union[ConfigDict, dict]  # noqa: UP007
    utils.OptConfigType = Union[ConfigDict, dict, None]  # noqa: UP007
    utils.reduce_mean = reduce_mean
    mmdet.utils = utils
    return {"mmdet": mmdet, "mmdet.utils": utils}


def _mmcv_ops_stubs() -> dict[str, types.ModuleType]:
    if _importable("mmcv.ops"):  # full mmcv with compiled ops
        return {}
    ops = _new_module("mmcv.ops")

    class MultiScaleDeformableAttention:
        def __init__(self, *args, **kwargs):
            raise ImportError(
                "MultiScaleDeformableAttention needs compiled mmcv ops, which mmcv-lite "
                "does not have; only the HRNet top-down path is supported here"
            )

    ops.MultiScaleDeformableAttention = MultiScaleDeformableAttention
    return {"mmcv.ops": ops}


@contextlib.contextmanager
def stubbed_imports() -> Iterator[list[str]]:
    """Context in which the missing modules above resolve to stand-ins.

    Yields the names that were stubbed (empty when everything is really installed).
    On exit the stand-ins are removed from ``sys.modules`` (and ``mmcv.ops`` from the
    ``mmcv`` package); modules imported meanwhile keep their references to them.
    """
    stubs: dict[str, types.ModuleType] = {}
    stubs.update(_torchvision_stubs())
    stubs.update(_mmcv_ops_stubs())
    stubs.update(_mmdet_stubs())
    added = [name for name in stubs if name not in sys.modules]
    for name in added:
        sys.modules[name] = stubs[name]
    if "mmcv.ops" in added:
        import mmcv  # the real package: "from mmcv import ops" reads the attribute

        mmcv.ops = stubs["mmcv.ops"]
    try:
        yield added
    finally:
        for name in added:
            if getattr(sys.modules.get(name), _STUB_MARK, False):
                del sys.modules[name]
        if "mmcv.ops" in added:
            real = sys.modules.get("mmcv")
            if real is not None and getattr(getattr(real, "ops", None), _STUB_MARK, False):
                del real.ops


def import_mmpose_apis():
    """Import mmpose's inference API with the stand-ins in place; idempotent.

    Returns the ``mmpose.apis`` module (``init_model``, ``inference_topdown``...).
    Raises ImportError naming the install script when mmpose is not installed.
    """
    with _LOCK:
        apis = sys.modules.get("mmpose.apis")
        if apis is not None:
            return apis
        if importlib.util.find_spec("mmpose") is None:
            raise ImportError(
                "mmpose is not installed in this environment; run "
                "`bash scripts/install_mmpose.sh <path/to/venv/bin/python>` (part of `make install`)"
            )
        with stubbed_imports(), warnings.catch_warnings():
            # known, harmless import-time notices: mmcv-lite has no deformable attention;
            # mmengine imports pkg_resources (why setuptools stays < 81)
            warnings.filterwarnings("ignore", message=r".*MultiScaleDeformableAttention", category=UserWarning)
            warnings.filterwarnings("ignore", message=r"pkg_resources is deprecated", category=UserWarning)
            for name in _MMPOSE_MODULES:
                importlib.import_module(name)
        return sys.modules["mmpose.apis"]


__all__ = ["import_mmpose_apis", "stubbed_imports"]
