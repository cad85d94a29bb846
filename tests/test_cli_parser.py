"""The command line's shape, read from its parser: every default is its config class's (so a
default changed in one place changes the CLI too), the help shows it, and the README lists
every command `unposed --help` does."""
from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

import pytest

from unpose_core import config
from unpose_core.cli import build_parser
from unpose_core.config import PoseOptions, SelectionConfig, SuggestConfig, TrainConfig
from unpose_core.evaluation.protocol import EvalOptions

ROOT = Path(__file__).resolve().parents[1]

# which config classes hold the defaults of each command's options (by the option's dest)
CONFIGS = {
    "demo": (TrainConfig, SelectionConfig), "train": (TrainConfig, SelectionConfig),
    "extract": (PoseOptions,), "views show": (PoseOptions,), "views evaluate": (PoseOptions,),
    "suggest": (SuggestConfig,), "report": (SuggestConfig,), "sheet": (SuggestConfig,),
    "evaluate": (EvalOptions,),
}
# defaults that are module settings, not dataclass fields: the constant each must equal
CONSTANTS = {"references": config.N_REFERENCES, "rating_scale": config.RATING_SCALE, "engine": config.ENGINES[0]}
# how many lines of problems a command prints: the CLI's own display settings
DISPLAY = {("import", "show_problems"), ("import-deepfashion", "show_problems"), ("audit", "format")}


def unset(default) -> bool:
    """No default of its own: None, a flag's False, or SUPPRESS (not 0 or 0.0, which are values)."""
    return default is None or default is False or default == argparse.SUPPRESS


def commands(parser: argparse.ArgumentParser, prefix: str = ""):
    """(command name, its parser) for every command and subcommand."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                full = f"{prefix} {name}".strip()
                yield full, sub
                yield from commands(sub, full)


def field_default(cls, name):
    f = cls.__dataclass_fields__[name]
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


ALL = list(commands(build_parser()))


def test_every_command_is_read():
    names = {n for n, _ in ALL}
    assert {"demo", "train", "suggest", "report", "sheet", "evaluate", "groups merge", "views show",
            "models list", "hints set", "status"} <= names


@pytest.mark.parametrize("name,parser", ALL, ids=[n for n, _ in ALL])
def test_every_default_is_its_config_default(name, parser):
    """An option named as a field of its command's config class has that field's default; any
    other option with a default is one of the named module constants or a display setting."""
    classes = CONFIGS.get(name, ())
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        dest = action.dest
        owner = next((c for c in classes if dest in c.__dataclass_fields__), None)
        if owner is not None:
            assert action.default == field_default(owner, dest), (name, action.option_strings, owner.__name__)
        elif dest in CONSTANTS:
            assert action.default == CONSTANTS[dest], (name, action.option_strings)
        else:
            assert unset(action.default) or (name, dest) in DISPLAY, \
                f"`unposed {name} {'/'.join(action.option_strings)}` has a default of its own: {action.default!r}"


def test_the_settings_that_matter_are_read_from_their_classes():
    """Not vacuous: the options of the rule, training and evaluation are matched to fields."""
    by_name = dict(ALL)

    def dests(name, cls):
        return {a.dest for a in by_name[name]._actions if a.dest in cls.__dataclass_fields__}

    assert {"k", "backend", "seed", "autoencoder", "views", "rating_weight", "count_weight",
            "min_cohort_share"} <= dests("train", TrainConfig)
    assert {"top_k", "min_images", "subject_max_images"} <= dests("train", SelectionConfig)
    assert {"expect", "min_share", "coverage_percentile", "min_confidence", "by_score", "score_ranks",
            "view_share", "also_below"} <= dests("suggest", SuggestConfig)
    assert {"seeds", "first_seed", "holdout", "keep_min", "keep_max", "draws", "answer_min", "k",
            "expect"} <= dests("evaluate", EvalOptions)


def test_options_give_the_config_they_name():
    """Parsing no option gives the config classes' defaults; each option lands in its field."""
    from unpose_core.cli.suggest import suggest_config
    from unpose_core.cli.train import train_config

    parser = build_parser()
    assert train_config(parser.parse_args(["train"])) == TrainConfig()
    assert suggest_config(parser.parse_args(["suggest", "P"])) == SuggestConfig()
    cfg = train_config(parser.parse_args(["train", "--k", "7", "--no-views", "--min-share", "0.2", "--top-k", "9"]))
    assert (cfg.k, cfg.views, cfg.min_cohort_share, cfg.selection.top_k) == (7, False, 0.2, 9)
    cfg = suggest_config(parser.parse_args(["suggest", "P", "--coverage", "0", "--support-only", "--expect", "1"]))
    assert (cfg.coverage_percentile, cfg.by_score, cfg.expect) == (0, False, 1)


def test_help_shows_the_defaults():
    by_name = dict(ALL)
    text = by_name["suggest"].format_help()
    assert f"(default {SuggestConfig.expect:g})" in text
    assert f"(default {TrainConfig.k})" in by_name["train"].format_help()


def test_readme_lists_every_command():
    section = (ROOT / "README.md").read_text().split("## Command line", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^unposed ([a-z-]+)", section, re.M))
    top = {n for n, _ in ALL if " " not in n}
    assert listed == top, f"README's command list: missing {top - listed}, not a command {listed - top}"
