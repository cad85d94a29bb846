"""The engine's shape: stage packages in layers, no import from a layer above, no cycles,
and SQL only in the store. Read from the source (every import, also those inside functions)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "unpose_core"

# Lowest first. A module may import from its own stage and from stages in lower layers only.
# The README's "How it is built" lists the same stages in the same order.
LAYERS: list[set[str]] = [
    {"_version", "progress", "records", "config", "images", "exports", "diskspace",
     "identity"},   # identity: who acts and what their role allows (stdlib only)
    {"views"},   # what an image shows: rules and the learned reader over measured signals (no pose model, no store)
    {"store"},
    {"catalog", "pose"},
    {"embed", "cluster"},
    {"rank", "ranker_file"},   # the ranker; its file format (the LightGBM text check)
    {"runs"},
    {"descriptions", "projection", "coverage"},
    {"lineage"},   # the active run and what a person wrote following it
    {"groups", "listing", "operating", "changes"},   # + a cohort's settings; who changed a label, undo
    {"training", "suggestions", "reading"},
    {"reviews"},   # reviews per pose group (an "I have it" writes a view label through reading)
    {"evaluation", "outputs"},
    {"api", "app_tables"},   # the public API, and the read-only tables the app shows
    {"jobs", "cli"},         # the app's background jobs and the command line: clients of the API
    {"__init__"},   # the package root re-exports the API
]
LAYER_OF = {stage: i for i, layer in enumerate(LAYERS) for stage in layer}
# SQL keywords in capitals (how this project writes SQL), so prose like "Select a row" is no hit
SQL = re.compile(r"\b(SELECT\s+[\w*(]|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM"
                 r"|CREATE\s+(TABLE|INDEX)|\.execute\(|\.executemany\(|\.query_df\(|read_sql|sqlite3)")


def stage_of(module: str) -> str:
    """'unpose_core.catalog.manifest' -> 'catalog'; 'unpose_core' -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every unpose_core module this file imports (absolute or relative, at any depth)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "unpose_core"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "unpose_core":
                continue
            out.add(mod)
            for a in node.names:   # `from . import weights` names a module
                if (PKG.parent / (mod.replace(".", "/") + f"/{a.name}.py")).is_file() or \
                        (PKG.parent / (mod.replace(".", "/") + f"/{a.name}")).is_dir():
                    out.add(f"{mod}.{a.name}")
    return out


ENGINE_FILES = sorted(PKG.rglob("*.py"))


def test_every_stage_has_a_layer():
    stages = {p.relative_to(PKG).parts[0].removesuffix(".py") for p in ENGINE_FILES}
    assert stages - set(LAYER_OF) == set(), "add new stages to LAYERS (and to the README's tree)"


@pytest.mark.parametrize("path", ENGINE_FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_no_import_from_a_layer_above_or_beside(path):
    here = stage_of(module_name(path))
    bad = []
    for mod in imports_of(path):
        there = stage_of(mod)
        if there == here:
            continue
        if there == "__init__":
            # `from unpose_core import X` reaches the public API: only the API's own layer may
            bad.append(f"{mod} (the package root is the public API, import the stage module instead)")
        elif LAYER_OF[there] >= LAYER_OF[here]:
            bad.append(f"{mod} (layer {LAYER_OF[there]}) from {here} (layer {LAYER_OF[here]})")
    assert not bad, "\n".join(bad)


def test_no_cycle_between_modules():
    graph = {module_name(p): {m for m in imports_of(p) if m != module_name(p)} for p in ENGINE_FILES}
    known = set(graph)
    # a package's __init__ re-exports its modules: edges into a package mean edges into its __init__
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if m not in known:
                continue
            if state.get(m) == 1:
                cycle = stack[stack.index(m):] + [m]
                # a package importing its own submodules in __init__ is not a cycle of logic
                if not all(x.startswith(cycle[0]) for x in cycle):
                    raise AssertionError("import cycle: " + " -> ".join(cycle))
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)


def sql_lines(paths) -> list[str]:
    hits = []
    for p in paths:
        for i, line in enumerate(p.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if SQL.search(code):
                hits.append(f"{p.relative_to(ROOT)}:{i}: {line.strip()}")
    return hits


def test_only_the_store_speaks_sql():
    others = [p for p in ENGINE_FILES if p.relative_to(PKG).parts[0] != "store"]
    app = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "ui").glob("*.py"))]
    assert sql_lines(others + app) == []


def test_pages_and_widgets_hold_no_engine_internals():
    """Pages and ui/ lay out widgets and call the library: no SQL, no backend loading, no job
    definitions, no Streamlit internals."""
    app = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "ui").glob("*.py"))]
    banned = re.compile(r"create_backend\(|jobs\.start\(|PagesManager|streamlit\.runtime|_REGISTRY")
    hits = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}" for p in app
            for i, line in enumerate(p.read_text().splitlines(), 1) if banned.search(line.split("#")[0])]
    assert hits == []
