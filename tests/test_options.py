"""Each run option is defined once: a field of one option group, from which every command that uses the group gets
its flag, its --config key and its manifest setting; the options that pick a provider's model come from the
provider definitions."""

from __future__ import annotations

import argparse
from dataclasses import fields

import pytest

from eclipse_bench.bench.app import options as opts
from eclipse_bench.bench.app.cli import build_parser
from eclipse_bench.metrics.registry import provider_option, provider_options

COMMANDS = {"run": opts.RunOptions, "score": opts.ScoreOptions, "prior-eval": opts.PriorEvalOptions}
GROUPS = (opts.CommonOptions, opts.SuiteOptions, opts.ScoringOptions, opts.GenerationOptions)


def _own_fields(cls) -> set[str]:
    return set(cls.__dict__.get("__annotations__", {}))


def _flags(command: str) -> set[str]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {s for a in sub.choices[command]._actions for s in a.option_strings}


def test_no_option_is_declared_twice():
    """Across every options class, a field name is annotated in one class only (run and score share theirs)."""
    owners: dict[str, list[str]] = {}
    for cls in {c for cmd in COMMANDS.values() for c in cmd.__mro__ if c.__dict__.get("__annotations__")}:
        for name in _own_fields(cls):
            owners.setdefault(name, []).append(cls.__name__)
    # the one name two commands declare apart means two things: images per generation batch, predictions per call
    assert {n: sorted(o) for n, o in owners.items() if len(o) > 1} == {"batch_size": ["PriorEvalOptions", "RunOptions"]}


def test_run_and_score_share_their_common_options_through_the_groups():
    common = {f.name for f in fields(opts.RunOptions)} & {f.name for f in fields(opts.ScoreOptions)}
    grouped = _own_fields(opts.CommonOptions) | _own_fields(opts.SuiteOptions) | _own_fields(opts.ScoringOptions) | \
        _own_fields(opts.TrackingOptions)
    assert common == grouped and len(common) >= 12


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_field_of_a_command_is_its_flag(command):
    """The flags derive from the fields: a field added to a group is a flag of every command that uses the group."""
    flags = _flags(command)
    for f in fields(COMMANDS[command]):
        if f.metadata["flags"][0].startswith("-"):
            assert f.metadata["flags"][0] in flags, (command, f.name)


def test_provider_options_are_the_providers():
    """--judge and --detector: named once in ScoringOptions, their help and values from the provider definitions."""
    named = {f.metadata["provider_option"] for f in fields(opts.ScoringOptions) if f.metadata.get("provider_option")}
    assert named == set(provider_options()) == {"judge", "detector"}
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command in ("run", "score"):
        actions = {s: a for a in sub.choices[command]._actions for s in a.option_strings}
        for option in named:
            pdef, action = provider_option(option), actions[f"--{option}"]
            assert action.help == pdef.option_help and pdef.option_help
            assert tuple(action.choices or ()) == pdef.option_choices()
    assert provider_option("detector").option_choices() == ("yolo", "mask2former")


def test_an_unknown_provider_choice_is_refused_with_the_providers_values():
    from eclipse_bench.bench.core.errors import UserError

    with pytest.raises(UserError, match="--detector 'dino': use one of yolo, mask2former"):
        opts.ScoreOptions(images="x", suite="builtin/color", detector="dino").validate()
