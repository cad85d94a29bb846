"""The ranker's file format: a structural check of a LightGBM text model before LightGBM reads it.

LightGBM's text-model loader trusts its input: a truncated file makes it read past the end
of the buffer (it jumps by the declared tree_sizes), a tree line without '=' makes it scan
on through memory, num_tree_per_iteration=0 divides by zero, child indices out of range
are followed at prediction -- each a segmentation fault that takes down the whole process
(in the app, the server). Two ways out: load it first in a subprocess where a crash is
contained, or check its structure before LightGBM sees it. We check the structure: it
costs milliseconds instead of a second of interpreter and LightGBM start-up on every load,
it names what is wrong, and it covers every field the loader and the predictor index with
-- header keys and counts, each tree block at its declared offset and size, array lengths
against num_leaves / num_cat, feature and category indices in range, a tree whose nodes
are each reached once from the root (no cycle, no dangling child), and the sections after
the trees in the form the loader splits them. tests/test_artefacts.py feeds truncated and
garbled models to a subprocess to show none gets through to a crash.

The file is untrusted input, so the check runs in time linear in its size: lines are split on
single characters and every number is matched on its own against a pattern with one way to match
(a pattern over a whole line, ``number( number)*`` with a number that could split its digits
two ways, backtracked exponentially on one bad byte: 16 numbers took 40 s, tests/test_ranker_file.py).
On top, :func:`check_lightgbm_model` gives up after ``time_limit`` seconds.
"""
from __future__ import annotations

import json
import math
import re
import time

MAX_TREE_LINES = 22         # LightGBM's tree parser reads at most this many key=value lines
MAX_LEAVES = 131_072        # LightGBM's own limit on num_leaves
MAX_NUMBER_CHARS = 40      # LightGBM writes at most ~25 characters per number (%.17g)
TIME_LIMIT = 5.0            # seconds: the check gives up on a file that takes longer (never seen)
# one token each, each with a single way to match (digits, then an optional fraction, then an
# optional exponent): no pattern over a whole line, no two quantifiers that could share digits
_INT = re.compile(r"-?\d{1,10}")
_FLOAT = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d{1,3})?")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FEATURE_INFO = re.compile(r"none|\[[^\s:\]]+:[^\s:\]]+\]|-?\d+(?::-?\d+)*")
_MULTICLASS = re.compile(r"multiclass num_class:\d{1,4}")
_OBJECTIVE = re.compile(r"(regression|regression_l1|huber|fair|poisson|quantile|mape|gamma|tweedie)"
                        r"( [a-z_]+:[-+0-9.eE]+)*")
_PARAM_LINE = re.compile(r"\[[A-Za-z0-9_]+: [^\n]*\]")
_TREE_ARRAYS = {   # key -> (length: "leaves" or "splits" (= num_leaves - 1), number kind)
    "split_feature": ("splits", int), "split_gain": ("splits", float), "threshold": ("splits", float),
    "decision_type": ("splits", int), "left_child": ("splits", int), "right_child": ("splits", int),
    "leaf_value": ("leaves", float), "leaf_weight": ("leaves", float), "leaf_count": ("leaves", int),
    "internal_value": ("splits", float), "internal_weight": ("splits", float), "internal_count": ("splits", int),
}
_TREE_KEYS = {*_TREE_ARRAYS, "num_leaves", "num_cat", "cat_boundaries", "cat_threshold", "is_linear", "shrinkage"}
_HEADER_REQUIRED = ("version", "num_class", "num_tree_per_iteration", "label_index", "max_feature_idx",
                    "feature_names", "feature_infos", "tree_sizes")


def _numbers(value: str, kind: type, what: str) -> list:
    """Space-separated numbers as LightGBM writes them, each token matched on its own (linear time)."""
    if value == "":
        return []
    pattern = _INT if kind is int else _FLOAT
    tokens = value.split(" ")
    for tok in tokens:
        if len(tok) > MAX_NUMBER_CHARS or not pattern.fullmatch(tok):
            raise ValueError(f"{what}: {tok[:24]!r} is not a {'whole number' if kind is int else 'number'}")
    out = [kind(tok) for tok in tokens]
    if kind is float and not all(map(math.isfinite, out)):
        raise ValueError(f"{what}: a value is not finite")
    if kind is int and not all(-(1 << 31) <= v < (1 << 32) for v in out):
        raise ValueError(f"{what}: a value is out of range")
    return out


def _check_tree(lines: list[str], t: int, n_features: int) -> None:
    kv: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep or not _KEY.fullmatch(key):
            raise ValueError(f"tree {t}: line {line[:40]!r} is not key=value")
        if key in kv or key not in _TREE_KEYS:
            raise ValueError(f"tree {t}: {'repeated' if key in kv else 'unknown'} key {key!r}")
        kv[key] = value
    for key in ("num_leaves", "num_cat", "leaf_value"):
        if key not in kv:
            raise ValueError(f"tree {t} has no {key}")
    n = _numbers(kv["num_leaves"], int, f"tree {t} num_leaves")
    cat = _numbers(kv["num_cat"], int, f"tree {t} num_cat")
    if len(n) != 1 or not 1 <= n[0] <= MAX_LEAVES:
        raise ValueError(f"tree {t}: num_leaves must be one number within 1..{MAX_LEAVES}")
    n = n[0]
    if len(cat) != 1 or not 0 <= cat[0] <= n - 1:
        raise ValueError(f"tree {t}: num_cat must be one number within 0..num_leaves-1")
    num_cat = cat[0]
    if kv.get("is_linear", "0") != "0":
        raise ValueError(f"tree {t} is a linear tree, which the ranker never writes")
    if "shrinkage" in kv and len(_numbers(kv["shrinkage"], float, f"tree {t} shrinkage")) != 1:
        raise ValueError(f"tree {t}: shrinkage must be one number")
    arrays = {}
    for key, (which, kind) in _TREE_ARRAYS.items():
        if key not in kv:
            if n > 1 and key in ("split_feature", "threshold", "left_child", "right_child"):
                raise ValueError(f"tree {t} has no {key}")
            continue
        need = n if which == "leaves" else n - 1
        arrays[key] = _numbers(kv[key], kind, f"tree {t} {key}")
        if n == 1 and key != "leaf_value":
            continue   # a single-leaf tree: LightGBM reads its leaf_value only (and writes the rest loosely)
        if len(arrays[key]) != need:
            raise ValueError(f"tree {t}: {key} has {len(arrays[key])} values, num_leaves={n} needs {need}")
    if num_cat > 0:
        if "cat_boundaries" not in kv or "cat_threshold" not in kv:
            raise ValueError(f"tree {t}: num_cat={num_cat} but no cat_boundaries / cat_threshold")
        bounds = _numbers(kv["cat_boundaries"], int, f"tree {t} cat_boundaries")
        words = _numbers(kv["cat_threshold"], int, f"tree {t} cat_threshold")
        if len(bounds) != num_cat + 1 or bounds[0] != 0 or any(b > a for b, a in zip(bounds, bounds[1:])) \
                or bounds[-1] != len(words) or any(w < 0 for w in words):
            raise ValueError(f"tree {t}: cat_boundaries must rise from 0 to the {len(words)} cat_threshold "
                             f"values in {num_cat + 1} steps")
    elif "cat_boundaries" in kv or "cat_threshold" in kv:
        raise ValueError(f"tree {t}: category tables without num_cat")
    if n == 1:
        return
    decision = arrays.get("decision_type", [0] * (n - 1))
    for node in range(n - 1):
        f, d, thr = arrays["split_feature"][node], decision[node], arrays["threshold"][node]
        if not 0 <= f < n_features:
            raise ValueError(f"tree {t} node {node}: feature {f} outside 0..{n_features - 1}")
        if not 0 <= d <= 15 or (d >> 2) & 3 == 3:
            raise ValueError(f"tree {t} node {node}: decision_type {d} is not a LightGBM split type")
        if d & 1 and not (thr == int(thr) and 0 <= thr < num_cat):
            raise ValueError(f"tree {t} node {node}: category split {thr} outside the tree's {num_cat} tables")
    left, right = arrays["left_child"], arrays["right_child"]
    seen_nodes, seen_leaves, stack = {0}, set(), [0]
    while stack:
        node = stack.pop()
        for child in (left[node], right[node]):
            if child >= 0:
                if child >= n - 1 or child in seen_nodes:
                    raise ValueError(f"tree {t} node {node}: child {child} is out of range or reached twice")
                seen_nodes.add(child)
                stack.append(child)
            else:
                leaf = ~child
                if leaf >= n or leaf in seen_leaves:
                    raise ValueError(f"tree {t} node {node}: leaf {leaf} is out of range or reached twice")
                seen_leaves.add(leaf)
    if len(seen_nodes) != n - 1 or len(seen_leaves) != n:
        raise ValueError(f"tree {t}: not every node and leaf is reached from the root")


def check_lightgbm_model(text: str, n_features: int | None = None, time_limit: float = TIME_LIMIT,
                         classifier: bool = False) -> int:
    """Check a LightGBM text model's structure the way LightGBM's loader will read it (see the
    module doc); returns its number of trees, raises ValueError naming the first problem, and
    gives up with ValueError after ``time_limit`` seconds (the check is linear: a bound, not a
    speed). ``classifier``: a multiclass model (the view reader's) instead of a regression."""
    deadline = time.monotonic() + time_limit
    if "\x00" in text or "\r" in text:
        raise ValueError("it holds NUL or carriage-return characters")
    start = text.find("\nTree=") + 1
    if start == 0:
        raise ValueError("no trees (file empty or cut short)")
    header = text[:start].split("\n")
    if header[0] != "tree":
        raise ValueError("it does not start with the line 'tree'")
    kv: dict[str, str] = {}
    for line in header[1:]:
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not _KEY.fullmatch(key) or key in kv or (not sep and key != "average_output") \
                or ("=" in value and key not in ("feature_names", "monotone_constraints")):
            raise ValueError(f"header line {line[:60]!r} is not a single key=value")
        kv[key] = value
    missing = [k for k in _HEADER_REQUIRED if k not in kv]
    if missing:
        raise ValueError(f"header lacks {', '.join(missing)}")
    if kv["version"] not in ("v2", "v3", "v4"):
        raise ValueError(f"unknown model version {kv['version'][:20]!r}")
    ints = {k: _numbers(kv[k], int, k) for k in ("num_class", "num_tree_per_iteration", "label_index",
                                                  "max_feature_idx")}
    if any(len(v) != 1 for v in ints.values()):
        raise ValueError("num_class, num_tree_per_iteration, label_index and max_feature_idx must be one number each")
    num_class, per_iter, label, max_idx = (ints[k][0] for k in ints)
    if not (1 <= num_class <= 10_000 and 1 <= per_iter <= 10_000 and label >= 0 and 0 <= max_idx < 1_000_000):
        raise ValueError("num_class, num_tree_per_iteration, label_index or max_feature_idx out of range")
    if n_features is not None and max_idx != n_features - 1:
        raise ValueError(f"max_feature_idx={max_idx}, the ranker has {n_features} features")
    names, infos = kv["feature_names"].split(" "), kv["feature_infos"].split(" ")
    if len(names) != max_idx + 1 or not all(names) or len(infos) != max_idx + 1 \
            or not all(_FEATURE_INFO.fullmatch(i) for i in infos):
        raise ValueError(f"feature_names and feature_infos must list {max_idx + 1} features")
    objective = _MULTICLASS if classifier else _OBJECTIVE
    if "objective" in kv and not objective.fullmatch(kv["objective"]):
        raise ValueError(f"objective {kv['objective'][:40]!r} is not a "
                         f"{'multiclass' if classifier else 'regression'} objective")
    sizes = _numbers(kv["tree_sizes"], int, "tree_sizes")
    if not sizes or any(s < 1 for s in sizes) or len(sizes) % per_iter:
        raise ValueError(f"tree_sizes must list a positive size per tree, a multiple of {per_iter} trees")
    pos = start
    for t, size in enumerate(sizes):
        if time.monotonic() > deadline:
            raise ValueError(f"checking it took more than {time_limit:g} s (at tree {t} of {len(sizes)})")
        block = text[pos:pos + size]
        if len(block) != size:
            raise ValueError(f"tree {t} is cut short: tree_sizes declares {size} characters at offset {pos}, "
                             f"the file ends after {len(block)} (truncated?)")
        first = f"Tree={t}\n"
        if not block.startswith(first):
            raise ValueError(f"no 'Tree={t}' where tree_sizes puts it (offset {pos})")
        body = block[len(first):]
        end = body.find("\n\n")
        if end < 0 or body[end:].strip("\n"):
            raise ValueError(f"tree {t} does not end in a blank line where tree_sizes says")
        lines = body[:end].split("\n")
        if len(lines) > MAX_TREE_LINES:
            raise ValueError(f"tree {t} has {len(lines)} lines, LightGBM reads {MAX_TREE_LINES}")
        _check_tree(lines, t, max_idx + 1)
        pos += size
    rest = text[pos:]
    if not rest.startswith("end of trees\n"):
        raise ValueError("no 'end of trees' after the declared trees (tree_sizes do not add up)")
    lines = rest.split("\n")[1:]
    i = 0
    while i < len(lines):
        line = lines[i]
        if line == "feature_importances:":
            i += 1
            while i < len(lines) and lines[i]:
                key, sep, value = lines[i].partition("=")
                if not sep or not key or len(value) > MAX_NUMBER_CHARS or not _FLOAT.fullmatch(value):
                    raise ValueError(f"feature importance line {lines[i][:40]!r} is not name=number")
                i += 1
        elif line == "parameters:":
            i += 1
            while i < len(lines) and lines[i] != "end of parameters":
                if lines[i] and not _PARAM_LINE.fullmatch(lines[i]):   # (LightGBM skips empty lines)
                    raise ValueError(f"parameter line {lines[i][:40]!r} is not '[name: value]'")
                i += 1
            if i == len(lines):
                raise ValueError("the parameters section has no 'end of parameters'")
        elif line.startswith("pandas_categorical:"):
            if any(rest_line.strip() for rest_line in lines[i + 1:]):
                raise ValueError("pandas_categorical is not the last line")
            try:
                cats = json.loads(line[len("pandas_categorical:"):])
            except (json.JSONDecodeError, RecursionError):
                raise ValueError("pandas_categorical is not valid JSON") from None
            if cats is not None and not (isinstance(cats, list) and all(isinstance(c, list) for c in cats)):
                raise ValueError("pandas_categorical must be a list of category lists")
        elif line:
            raise ValueError(f"unexpected line {line[:40]!r} after the trees")
        i += 1
    return len(sizes)
