"""The ranker-file check runs in linear time (issue 21, item 3).

The fuzz corpus that hung the old check: a real saved ranker (LightGBM, ~30 numbers on an
``internal_weight=`` line) with one byte changed. The old pattern over a whole line backtracked
exponentially (16 numbers 40 s, 30 never ends); each file here must be refused in under a second.
The checks run in a subprocess with a timeout, so a regression fails instead of hanging pytest.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from unpose_core.rank import CentroidRanker
from unpose_core.ranker_file import check_lightgbm_model

ROOT = Path(__file__).resolve().parents[1]
K = 12


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> str:
    """A real ranker, as training saves it (default num_leaves=31: lines of 30 numbers)."""
    rng = np.random.default_rng(0)
    n = 3000
    classes = rng.integers(0, K + 1, n)
    rows = pd.DataFrame({"product_id": [f"p{i % 300}" for i in range(n)], "category": "Clothing",
                         "subcategory": np.where(rng.random(n) < .5, "Shirts", "Polos"),
                         "product_type": np.where(rng.random(n) < .5, "Long sleeve", "Short sleeve"),
                         "avg_rating": 1 + 4 * rng.random(n), "n_ratings": rng.integers(1, 500, n)})
    folder = tmp_path_factory.mktemp("ranker")
    CentroidRanker(K + 1, n_estimators=10, seed=0).fit(classes, rows).save(folder)
    return (folder / "ranker.txt").read_text()


def _one_byte(text: str, key: str, nth: int, edit) -> str:
    """``text`` with the ``nth`` ``key=`` line changed by ``edit`` (value -> value, one byte)."""
    lines = text.split("\n")
    hits = [i for i, line in enumerate(lines) if line.startswith(key + "=")]
    i = hits[nth]
    value = lines[i][len(key) + 1:]
    new = edit(value)
    assert len(new) == len(value) and sum(a != b for a, b in zip(new, value)) == 1
    lines[i] = f"{key}={new}"
    return "\n".join(lines)


def hanging_files(text: str) -> dict[str, str]:
    """Three one-byte edits of a real model that hung the old check."""
    return {
        # the last digit of an internal_weight line becomes a letter
        "internal_weight, last byte": _one_byte(text, "internal_weight", 0, lambda v: v[:-1] + "x"),
        # a space between two weights becomes a comma (fails in the middle of the line)
        "internal_weight, comma": _one_byte(text, "internal_weight", 3,
                                            lambda v: v[:v.rfind(" ", 0, len(v) * 3 // 4)] + ","
                                            + v[v.rfind(" ", 0, len(v) * 3 // 4) + 1:]),
        # the last byte of a leaf_weight line (whole numbers too) becomes a minus sign
        "leaf_weight, last byte": _one_byte(text, "leaf_weight", 2, lambda v: v[:-1] + "-"),
    }


def test_the_real_model_passes(saved_model):
    lines = [line for line in saved_model.split("\n") if line.startswith("internal_weight=")]
    assert max(line.count(" ") + 1 for line in lines) >= 28   # lines as long as real runs hold
    assert check_lightgbm_model(saved_model, n_features=4) == 10


_CHILD = """
import json, sys, time
from unpose_core.ranker_file import check_lightgbm_model
text = sys.stdin.read()
t = time.perf_counter()
try:
    check_lightgbm_model(text, n_features=4)
    error = None
except ValueError as exc:
    error = str(exc)
print(json.dumps({"seconds": time.perf_counter() - t, "error": error}))
"""


@pytest.mark.parametrize("case", ["internal_weight, last byte", "internal_weight, comma", "leaf_weight, last byte"])
def test_a_hanging_ranker_file_is_refused_in_under_a_second(saved_model, case):
    bad = hanging_files(saved_model)[case]
    try:
        out = subprocess.run([sys.executable, "-c", _CHILD], input=bad, capture_output=True, text=True,
                             timeout=30, cwd=ROOT, check=True)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{case}: the check ran for more than 30 s (exponential backtracking)")
    result = json.loads(out.stdout)
    assert result["error"] and "is not a number" in result["error"], result
    assert result["seconds"] < 1.0, result


def test_the_check_gives_up_after_its_time_limit(saved_model):
    with pytest.raises(ValueError, match="took more than"):
        check_lightgbm_model(saved_model, n_features=4, time_limit=-1.0)


# -- the other parser of untrusted text with number patterns: the manifest's rating and count cells --

@pytest.mark.parametrize("cell", ["1" * 20_000 + "x", "1" * 20_000 + "." + "1" * 20_000 + "x"])
def test_a_long_manifest_number_cell_is_refused_at_once(cell):
    """The scientific-notation pattern split a run of digits two ways: quadratic, 8 s for a
    20,000-digit cell (a 100,000-digit one minutes)."""
    import time

    from unpose_core.catalog.manifest import parse_count, parse_rating

    for parse in (parse_count, parse_rating):
        t = time.perf_counter()
        with pytest.raises(ValueError, match="is not a number"):
            parse(cell)
        assert time.perf_counter() - t < 0.5
