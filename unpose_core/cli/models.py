"""Pose weights the user supplies: `models add-mmpose`, `models add-rtmpose`, `models list`."""
from __future__ import annotations

import unpose_core.api as api

from .common import print_json


def cmd_models_add_mmpose(args) -> int:
    rec = api.import_model(args.data_dir, args.checkpoint, "mmpose", config_name=args.config, trust=args.trust)
    print(f"imported {rec['name']} ({rec['config']}) -> {rec['path']}; "
          f"use it with `unposed train --backend mmpose-hrnet --model {rec['name']}`")
    return 0


def cmd_models_add_rtmpose(args) -> int:
    rec = api.import_model(args.data_dir, args.onnx, "rtmpose")
    print(f"imported {rec['name']} -> {rec['path']}; "
          f"use it with `unposed train --backend rtmpose-onnx --model {rec['name']}`")
    return 0


def cmd_models_list(args) -> int:
    everything = api.list_models(args.data_dir)
    if args.json:
        print_json(everything)
        return 0
    models = [m for m in everything if m.get("kind") != "bundled"]
    if not models:
        print("no models imported: `unposed models add-mmpose CKPT --trust` or `add-rtmpose MODEL.onnx`")
    for m in models:
        print(f"{m['name']}  kind={m.get('kind')}  sha256={m.get('sha256', '')[:12]}  {m.get('path')}")
    print("pretrained, fetched at set-up (`make models`):")
    for b in (m for m in everything if m.get("kind") == "bundled"):
        state = f"sha256={b['sha256'][:12]}  {b['file']}" if b["installed"] else "NOT INSTALLED: run `make models`"
        print(f"  {b['name']:<18} {state}\n  {'':<18} {b['source']}; {b['licence']}")
    return 0


def add_parsers(sub, common) -> None:
    sp = sub.add_parser("models", parents=[common], help="import or list user-supplied pose weights")
    msub = sp.add_subparsers(dest="models_command", required=True)
    mp_ = msub.add_parser("add-mmpose", parents=[common],
                          help="convert an MMPose HRNet .pth checkpoint to safetensors (unpickles it once)")
    mp_.add_argument("checkpoint")
    mp_.add_argument("--config", default=None,
                     help="mmpose config name bundled with mmpose (default: pose.weights.DEFAULT_MMPOSE_CONFIG)")
    mp_.add_argument("--trust", action="store_true",
                     help="you trust this file: a .pth is a pickle and loading it can run code")
    mp_.set_defaults(func=cmd_models_add_mmpose)
    mp_ = msub.add_parser("add-rtmpose", parents=[common], help="import an RTMPose ONNX model")
    mp_.add_argument("onnx")
    mp_.set_defaults(func=cmd_models_add_rtmpose)
    mp_ = msub.add_parser("list", parents=[common], help="imported models")
    mp_.add_argument("--json", action="store_true")
    mp_.set_defaults(func=cmd_models_list)
