"""Who did what: `unposed history` (a description's, the pose-group edits', the seller hints';
revert and undo from there) and `unposed audit` (the audit log as CSV or
JSON, admins only).
Every change the CLI makes is recorded as the OS user (``identity.os_actor``)."""
from __future__ import annotations

import datetime as dt
import sys

import unpose_core.api as api

from ..exports import csv_safe, to_csv
from .common import SOURCE, CliError, open_store, print_json


def _when(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if at else "?"


def cmd_history(args) -> int:
    store = open_store(args)
    if args.revert is not None:
        if args.object != "description":
            raise CliError("--revert ID goes with `history description CENTROID`")
        text = api.revert_description(store, int(args.key), args.revert, args.run, by=SOURCE)
        print(f"centroid {args.key}: " + (f"reverted to {text!r}" if text else "back to the automatic description"))
        return 0
    if args.undo is not None:
        if args.object != "groups":
            raise CliError("--undo ID goes with `history groups`")
        ch = api.undo_groups_edit(store, args.undo, args.run, by=SOURCE)
        print(f"undone: #{args.undo} ({ch['what']})")
        return 0
    if args.object == "description" and args.key is None:
        raise CliError("history description needs the CENTROID")
    rows = api.history(store, args.object, args.key, args.run)
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        text = "" if r["text"] is None else f"  {r['text']!r}"
        print(f"  #{r['id']}  {_when(r['at'])}  by {r['by']}: {r['what']}{text}")
    print(f"{len(rows)} change(s)" + ("; revert: --revert ID" if args.object == "description" else
                                      "; undo one: --undo ID" if args.object == "groups" else ""))
    return 0


def _since(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"--since takes a date (2026-12-01, 2026-12-01T10:00) or epoch seconds, got {text!r}") from None
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).timestamp()


def cmd_audit(args) -> int:
    store = open_store(args)
    df = api.audit(store, _since(args.since), by=SOURCE)
    if args.format == "json":
        text = csv_safe(df).to_json(orient="records", indent=2)   # escaped too: it is opened in sheets
    else:
        text = to_csv(df)   # formula-escaped, as every export
    if args.out:
        with open(args.out, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        print(f"{len(df)} audit row(s) -> {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def add_parsers(sub, common) -> None:
    sp = sub.add_parser("history", parents=[common],
                        help="who changed a description, the pose groups or a hint, and when; revert or undo")
    sp.add_argument("object", choices=["description", "groups", "hint"])
    sp.add_argument("key", nargs="?", default=None, help="description: the CENTROID; hint: the group's description")
    sp.add_argument("--run", default=None, help="run id (default: the active run)")
    sp.add_argument("--revert", type=int, metavar="ID", help="description: back to its text at history row ID")
    sp.add_argument("--undo", type=int, metavar="ID", help="groups: take back pose-group edit ID")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_history)

    sp = sub.add_parser("audit", parents=[common], help="the audit log (who, when, action, object), admins only")
    sp.add_argument("--since", default=None, help="from this date/time (ISO, UTC) or epoch seconds")
    sp.add_argument("--format", choices=["csv", "json"], default="csv")
    sp.add_argument("--out", default=None, help="write to this file (default: standard output)")
    sp.set_defaults(func=cmd_audit)

