"""`unposed ...`: a thin command line over the public API (:mod:`unpose_core.api`), one module
per command group. Every default is read from the config classes; bad input -> one line, exit 2;
Ctrl-C -> 130, SIGTERM/SIGHUP -> 128 + the signal, finished work saved."""
from __future__ import annotations

import argparse
import os
import sys

from . import data, labels, models, suggest, team, train, views
from .common import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    INTERRUPTED,
    CliError,
    Terminated,
    close_stores,
    common_parser,
    interrupt_behind,
    run_command,
    signals_as_interrupts,
)

GROUPS = (data, train, suggest, labels, team, views, models)   # the order `unposed --help` lists them in

__all__ = ["EXIT_INTERRUPTED", "EXIT_USAGE", "INTERRUPTED", "CliError", "Terminated", "build_parser",
           "interrupt_behind", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="unposed", description="Find the photos a fashion listing is missing.")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)
    common = common_parser()
    for group in GROUPS:
        group.add_parsers(sub, common)
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GLOG_minloglevel", "2")       # quiet mediapipe's C++ logging
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "describe" and args.centroid is not None and not args.text:
        parser.error("describe CENTROID needs the TEXT to set")
    try:
        with signals_as_interrupts():
            code = run_command(args)
    except KeyboardInterrupt as exc:   # Ctrl-C, SIGTERM, SIGHUP: the same clean stop
        print(INTERRUPTED, file=sys.stderr)
        code = 128 + exc.signum if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    finally:
        close_stores()
    ray_engine = sys.modules.get("unpose_core.pose.ray_engine")
    if ray_engine is not None and ray_engine.abandoned():   # a Ray cluster lost its head under us:
        ray_engine.end_process(code)                       # Ray's teardown would crash the exit
    return code


if __name__ == "__main__":
    sys.exit(main())
