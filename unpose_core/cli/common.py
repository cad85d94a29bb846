"""What every command shares: the store, errors and exit codes, signals as interrupts, JSON and
progress output, and the option sets several commands take (each default read from its config)."""
from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading

import unpose_core.api as api

from ..config import DATA_DIR_ENV, ENGINES, PoseOptions
from ..progress import tqdm_progress

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130      # Ctrl-C; a signal N stops with 128 + N (SIGTERM: 143, SIGHUP: 129)
INTERRUPTED = "interrupted; finished work is saved and a re-run continues from there"
SOURCE = "cli"              # who made a change, in the store's histories

BACKEND_HELP = ("blazepose (77 dims), blazepose-heavy (77 dims), movenet-thunder / movenet-lightning "
                "(61 dims; these three need `make models` once), blazepose-coco17 (61 dims, BlazePose-derived), "
                "mmpose-hrnet / rtmpose-onnx (61 dims, need `unposed models add-...`)")


class CliError(Exception):
    pass


class Terminated(KeyboardInterrupt):
    """SIGTERM (or SIGHUP) turned into an interrupt, so it stops a command exactly as Ctrl-C does:
    work already finished is saved, worker processes are shut down, nothing is left running."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum, frame) -> None:
    signal.signal(signum, signal.SIG_DFL)   # a second one ends the process at once
    raise Terminated(signum)


@contextlib.contextmanager
def signals_as_interrupts():
    """SIGTERM and SIGHUP raise :class:`Terminated` while a command runs (not where they are
    ignored, e.g. SIGHUP under nohup). Only ``main`` installs it -- importing this module
    changes no handler -- and only in the main thread; the old handlers come back after."""
    old = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:
                old[sig] = signal.getsignal(sig)
                signal.signal(sig, _raise_terminated)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C / SIGTERM behind an error, if any: Python wraps an exception raised while a class
    is created (``__set_name__``) in a RuntimeError, and an error raised while cleaning up after an
    interrupt has it as its context. Either way the user asked to stop."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, KeyboardInterrupt):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def run_command(args) -> int:
    """Run the parsed command; bad input of any kind: one ``error:`` line, exit 2 (no traceback
    unless --debug). An interrupt behind an error stops as the interrupt it is."""
    try:
        return args.func(args)
    except Exception as exc:
        stop = interrupt_behind(exc)
        if stop is not None:   # a stop, not bad input: the same clean stop as a bare interrupt
            if exc.__cause__ is not stop:   # an error while stopping: say it, then stop
                print(f"error: {exc}", file=sys.stderr)
            raise stop from None
        from ..config import resolve_data_dir
        from ..diskspace import disk_full
        full = disk_full(exc, resolve_data_dir(getattr(args, "data_dir", None)))
        if full is not None:   # the disk, not the input: say where and what to do (finished work is kept)
            if args.debug:
                raise
            print(f"error: {full}", file=sys.stderr)
            return EXIT_USAGE
        if args.debug:
            raise
        from ..catalog.manifest import ManifestError
        from ..images import ImageError
        from ..runs import RunError
        known = (CliError, ValueError, LookupError, RunError, ManifestError, ImageError,
                 FileNotFoundError, PermissionError, RuntimeError, InterruptedError)
        msg = str(exc) if isinstance(exc, known) else f"{type(exc).__name__}: {exc} (re-run with --debug)"
        if isinstance(exc, KeyError):
            msg = str(exc.args[0]) if exc.args else msg
        print(f"error: {msg}", file=sys.stderr)
        return EXIT_USAGE


OPENED: list = []   # the stores this command opened: :func:`close_stores` closes them when it ends


def open_store(args):
    """The data dir's store (--data-dir, else $UNPOSED_DATA_DIR, else ~/.unposed), opened once per
    command and handed to the API functions, which leave it open; closed when the command ends."""
    store = api.open_store(args.data_dir)
    OPENED.append(store)
    return store


def close_stores() -> None:
    """Close the stores the command opened (``main`` is also called in-process: a store left
    open there keeps its connection until it is collected)."""
    while OPENED:
        OPENED.pop().close()


def print_json(obj) -> None:
    print(json.dumps(obj, indent=2, default=str))


def print_first(lines: list[str], total: int, rest: str) -> None:
    """The first lines of a long list (``lines``: those shown of ``total``), then how many more."""
    for line in lines:
        print(line)
    if total > len(lines):
        print(f"  ... {total - len(lines)} {rest}")


def progress(args):
    return None if getattr(args, "quiet", False) else tqdm_progress()


def write_table(df, out, fmt: str | None = None) -> str:
    """A DataFrame to ``out`` as JSON records or formula-safe CSV (titles come from sellers); the format."""
    from pathlib import Path

    from ..exports import to_csv

    out = Path(out)
    fmt = fmt or ("json" if out.suffix.lower() == ".json" else "csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        out.write_text(df.to_json(orient="records", indent=1))
    else:
        to_csv(df, out)
    return fmt


def common_parser() -> argparse.ArgumentParser:
    """--data-dir and --quiet: every command takes them."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=None,
                        help=f"where the database and runs live (default ${DATA_DIR_ENV} or ~/.unposed)")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return common


def add_backend_opts(sp, default: str = PoseOptions.backend) -> None:
    """--backend, --model, --backend-param: which pose model, with which weights and settings."""
    sp.add_argument("--backend", default=default, help=f"{BACKEND_HELP} (default %(default)s)")
    sp.add_argument("--model", default=None, help="imported weights to use (`unposed models list`)")
    sp.add_argument("--backend-param", action="append", metavar="KEY=VALUE",
                    help="backend setting, e.g. flip_test=false or keypoint_threshold=0.2")


def backend_params(args) -> dict:
    """--model NAME and --backend-param KEY=VALUE (VALUE read as JSON when it parses)."""
    params = {}
    for item in args.backend_param or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"--backend-param takes KEY=VALUE, got {item!r}")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    if args.model:
        params["model"] = args.model
    return params


def add_engine_opts(sp, what: str) -> None:
    """--engine, --workers, --address, --actors: which engine runs the pose model over ``what``.
    Which belongs to which is checked once, by :func:`unpose_core.pose.engines.check_engine`,
    when the API function runs (its messages name these options as they are spelt here)."""
    sp.add_argument("--engine", choices=ENGINES, default=ENGINES[0],
                    help=f"what runs the pose model over {what}: local: this machine's processes (default); "
                         "ray: Ray Data actors, locally or on a cluster (needs the ray extra: "
                         "pip install \"unpose-core[ray]\")")
    sp.add_argument("--workers", type=int, default=None,
                    help="with the local engine: pose processes (default: one per core for big jobs)")
    sp.add_argument("--address", default=None,
                    help="with --engine ray: a running Ray cluster, e.g. HOST:6379 (default: start a local Ray)")
    sp.add_argument("--actors", type=int, default=None,
                    help="with --engine ray: model actors (default: one per core, or the cluster's CPUs)")


def numbers(text: str | None, kind, flag: str) -> list | None:
    """'6,8,10' -> [6, 8, 10] (None when not given)."""
    if text is None:
        return None
    try:
        out = [kind(v) for v in str(text).replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise CliError(f"{flag} takes a number or a comma-separated list, got {text!r}") from None
    if not out:
        raise CliError(f"{flag} takes a number or a comma-separated list, got {text!r}")
    return out


def switches(text: str | None, flag: str) -> list[bool] | None:
    """'on,off' -> [True, False] (None when not given)."""
    if text is None:
        return None
    words = {"on": True, "1": True, "yes": True, "true": True, "off": False, "0": False, "no": False, "false": False}
    out = [words.get(v.strip().lower()) for v in str(text).split(",") if v.strip()]
    if not out or None in out:
        raise CliError(f"{flag} takes on, off or both (on,off), got {text!r}")
    return out


def unplaced_line(u: dict) -> str:
    """One unplaced description or mark (:func:`unpose_core.api.centroid_descriptions`'s rows)."""
    where = ", ".join(a["origin"] for a in u["anchors"] if a["origin"] and a["centroid"] is None)
    was = "; ".join(f"written on a centroid called “{a['label']}”" for a in u["anchors"]
                    if u["is_description"] and a["label"] and a["centroid"] is None)
    return f"  #{u['id']:<5} {u['what']}  (from {u['source'] or where or '?'}" + (f"; {was}" if was else "") + ")"
