"""A suite by name (a registered suite or alias) or a user's JSONL file: the one way the layers above load prompts."""

from __future__ import annotations

from eclipse_bench.bench.core.errors import unknown_name
from eclipse_bench.prompts import user
from eclipse_bench.prompts.registry import ALIASES, SUITES, SuiteDef, canonical
from eclipse_bench.prompts.spec import Suite


def get_suite_def(name: str) -> SuiteDef | None:
    """The registry entry of `name`; None for a user suite file; an error listing valid names otherwise."""
    if user.is_user_suite(name):
        return None
    name = canonical(name)
    if name not in SUITES:
        raise unknown_name("suite", name, suite_names())
    return SUITES.get(name)


def load_suite(name: str, split: str = "val") -> Suite:
    d = get_suite_def(name)
    if d is None:
        return user.load(name)
    return d.load(split)


def suite_names() -> list[str]:
    return SUITES.names() + sorted(ALIASES)


def expand_suites(value: str) -> list[str]:
    """`--suite` as a list of suites: comma-separated names, and a benchmark's name standing for all its suites
    (t2i-compbench: its eight categories; hrs: its four skills; builtin: every built-in category); a name that is a
    suite itself (geneval, geneval2) is that suite. Pinned variants (color@2023) are named, never implied."""
    out: list[str] = []
    for part in (p.strip() for p in str(value).split(",")):
        if not part:
            continue
        if user.is_user_suite(part) or canonical(part) in SUITES:
            out.append(part)
            continue
        members = [n for n in SUITES.names() if n.startswith(part.rstrip("/") + "/") and "@" not in n]
        if not members:
            raise unknown_name("suite", part, suite_names())
        out += members
    return list(dict.fromkeys(out))
