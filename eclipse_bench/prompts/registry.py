"""The suite registry: names -> declarative loader entries, registered by the suite family modules in
eclipse_bench.prompts.suites, and the families' own tables (pinned files, category -> metric). Listing names imports
nothing heavy. A suite name or a user's file is loaded by eclipse_bench.prompts.load."""

from __future__ import annotations

from dataclasses import dataclass, field

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.registry import Registry, import_string


@dataclass(frozen=True)
class SuiteDef:
    loader: str          # "module:function", imported only when the suite is loaded
    args: tuple = ()
    help: str = ""
    splits: bool = False  # accepts --split train|val|all
    files: tuple = ()     # the official files it reads (for `suites fetch NAME`)

    def load(self, split: str = "val"):
        fn = import_string(self.loader)
        if self.splits:
            return fn(*self.args, split=split)
        if split != "val":
            raise UserError("--split applies to T2I-CompBench suites only")
        return fn(*self.args)


@dataclass(frozen=True)
class SuiteFamily:
    """A benchmark (or our built-ins): where its official files come from, pinned."""
    name: str
    files: dict = field(default_factory=dict)   # local relpath -> (Upstream, sha256)
    help: str = ""
    category_metrics: dict = field(default_factory=dict)  # category -> the metric the benchmark scores it with


# Suite families register themselves in their own modules (eclipse_bench.prompts.suites.*), found lazily.
SUITE_FAMILIES: Registry[SuiteFamily] = Registry("suite family", packages=("eclipse_bench.prompts.suites",))
SUITES: Registry[SuiteDef] = Registry("suite", packages=("eclipse_bench.prompts.suites",))
ALIASES: dict[str, str] = {}


def register_suite_family(fam: SuiteFamily) -> SuiteFamily:
    SUITE_FAMILIES.register(fam.name, fam, help=fam.help)
    return fam


def register_suite(name: str, d: SuiteDef, aliases: tuple = ()) -> SuiteDef:
    SUITES.register(name, d, help=d.help)
    for a in aliases:
        ALIASES[a] = name
    return d


def pinned_files() -> dict:
    """Every official file of every suite family: local relpath -> (Upstream, sha256)."""
    out: dict = {}
    for name in SUITE_FAMILIES.names():
        out.update(SUITE_FAMILIES.get(name).files)
    return out


def canonical(name: str) -> str:
    SUITES.names()  # discovery registers the aliases
    return ALIASES.get(name, name)


def known_categories() -> frozenset:
    """Every category a suite family scores (their category -> metric tables)."""
    return frozenset(c for name in SUITE_FAMILIES.names() for c in SUITE_FAMILIES.get(name).category_metrics)


def metric_for_category(category: str) -> str:
    """The metric a benchmark scores a category with: T2I-CompBench's table first (its categories are the common
    ones), then the other families'; no category: BLIP-VQA over the noun phrases."""
    names = sorted(SUITE_FAMILIES.names(), key=lambda n: n != "t2i-compbench")
    for name in names:
        table = SUITE_FAMILIES.get(name).category_metrics
        if category in table:
            return table[category]
    return "blip-vqa"
