"""The suite registry: names -> declarative loader entries, registered by the suite family modules in
eclipse_bench.prompts.suites. Listing names imports nothing heavy."""

from __future__ import annotations

from dataclasses import dataclass, field

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
            from eclipse_bench.bench.core.errors import UserError

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


def get_suite_def(name: str) -> SuiteDef | None:
    """The registry entry of `name`; None for a user suite file; an error listing valid names otherwise."""
    from eclipse_bench.bench.core.errors import unknown_name
    from eclipse_bench.prompts.user import is_user_suite

    if is_user_suite(name):
        return None
    name = canonical(name)
    if name not in SUITES:
        raise unknown_name("suite", name, suite_names())
    return SUITES.get(name)


def load_suite(name: str, split: str = "val"):
    d = get_suite_def(name)
    if d is None:
        from eclipse_bench.prompts.user import load

        return load(name)
    return d.load(split)


def suite_names() -> list[str]:
    return SUITES.names() + sorted(ALIASES)
