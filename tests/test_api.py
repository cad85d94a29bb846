"""The public Python API: the README's example runs as written, and each verb does its stage's work."""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from conftest import copy_data_dir

import unpose_core as up

ROOT = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Python API"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_public_verbs_are_documented():
    for name in up.__all__:
        if name == "__version__":
            continue
        fn = getattr(up, name)
        assert callable(fn) and fn.__doc__ and len(fn.__doc__.split()) >= 8, name


def test_readme_example_runs(demo_data_dir, tmp_path):
    """The example as printed in the README, on a copy of the trained demo data dir (so the
    pose cache is warm): install the demo, train, suggest, report, load the run."""
    data = tmp_path / "unposed-data"
    copy_data_dir(demo_data_dir, data)
    code = readme_example()
    assert 'data = "unposed-data"' in code
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.replace('data = "unposed-data"', f"data = {str(data)!r}"), "README.md", "exec"), {})
    printed = out.getvalue()
    assert "reference images" in printed and "pose clusters from blazepose" in printed
    assert "Add a photo like this" in printed          # a hint per missing pose of polo-07
    store = up.open_store(data)
    try:
        assert store.active_run_id() is not None
    finally:
        store.close()


def test_verbs_refuse_bad_input_with_clear_messages(tmp_path):
    with pytest.raises(ValueError, match="either a product_id or images"):
        up.suggest(tmp_path / "empty")
    with pytest.raises(ValueError, match="catalogue is empty"):
        up.train(tmp_path / "empty", k=4)
    with pytest.raises(LookupError, match="no trained run"):
        up.load_run(tmp_path / "empty")
