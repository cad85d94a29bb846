"""Pose weights the user supplies and the scale of their scores: `models add-mmpose`, `models add-rtmpose`,
`models calibrate`, `models list`."""
from __future__ import annotations

import unpose_core.api as api

from .common import print_json, progress


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


def cmd_models_calibrate(args) -> int:
    rep = api.calibrate_visibility(args.data_dir, args.labels, args.backend, args.images, save=not args.dry_run,
                                   progress=progress(args), by="cli")
    if args.json:
        print_json(rep.to_dict())
        return 0
    cal = rep.calibration
    print(f"{rep.backend}: score -> BlazePose visibility, fitted on {rep.n_images} of {rep.n_labels} images "
          f"(both models found a person), version {cal.version}")
    print("  score      " + " ".join(f"{k:5.2f}" for k in cal.knots))
    print("  visibility " + " ".join(f"{v:5.3f}" for v in cal.values))
    print("held out (fitted on one half of the products, read on the other; single-person photos):")
    for h in rep.held_out:
        if "error" in h:
            print(f"  {h['split']}: {h['error']}")
            continue
        r, c = h["raw"], h["calibrated"]
        if not r.get("n"):
            print(f"  {h['split']}: no labelled single-person photo with a facing to read")
            continue
        print(f"  {h['split']} ({r['n']} photos): pose read {r['pose_read']:.3f} -> {c['pose_read']:.3f}, "
              f"facing {r['facing']:.3f} -> {c['facing']:.3f}, framing {r['framing']:.3f} -> {c['framing']:.3f}")
    if rep.path:
        print(f"saved to {rep.path}: {rep.backend} reads its scores through it from now on (its poses are "
              f"extracted again; runs trained before ask for a retrain)")
    else:
        print("not saved (--dry-run)")
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
    mp_ = msub.add_parser("calibrate", parents=[common],
                          help="map a COCO-17 backend's joint scores to BlazePose's visibility scale (the view "
                               "rules') on your labelled photos, check it on held-out ones, save it in the data dir")
    mp_.add_argument("backend", help="movenet-thunder, movenet-lightning, mmpose-hrnet or rtmpose-onnx")
    mp_.add_argument("labels", help="labels CSV as for `unposed views evaluate` (file, kind, facing, framing, "
                                    "n_people, product), e.g. assets/views/labels.csv")
    mp_.add_argument("--images", default=None, help="folder the CSV's files are in (default: the CSV's folder)")
    mp_.add_argument("--dry-run", action="store_true", help="fit and check, but do not save")
    mp_.add_argument("--json", action="store_true")
    mp_.set_defaults(func=cmd_models_calibrate)
    mp_ = msub.add_parser("list", parents=[common], help="imported models")
    mp_.add_argument("--json", action="store_true")
    mp_.set_defaults(func=cmd_models_list)
