"""The suite registry: names -> declarative loader entries. Listing names imports nothing heavy."""

from __future__ import annotations

from dataclasses import dataclass

from eclipse_bench.registry import Registry, import_string


@dataclass(frozen=True)
class SuiteDef:
    loader: str          # "module:function", imported only when the suite is loaded
    args: tuple = ()
    help: str = ""

    def load(self):
        return import_string(self.loader)(*self.args)


SUITES: Registry[SuiteDef] = Registry("suite")
ALIASES: dict[str, str] = {}

for _cat in ("color", "shape", "texture"):
    SUITES.register(f"t2i-compbench/{_cat}", SuiteDef(
        "eclipse_bench.prompts.t2i_compbench:attribute_suite", (_cat,),
        f"T2I-CompBench {_cat} binding, 300 val prompts (BLIP-VQA)"))
    ALIASES[_cat] = f"t2i-compbench/{_cat}"
    SUITES.register(f"builtin/{_cat}", SuiteDef(
        "eclipse_bench.prompts.builtin:attribute_suite", (_cat,),
        f"our own {_cat} prompts, 48, offline (BLIP-VQA)"))

SUITES.register("t2i-compbench/color@2023", SuiteDef(
    "eclipse_bench.prompts.t2i_compbench:attribute_suite", ("color", "2023"),
    "T2I-CompBench color val before the Sept 2025 dedup, as used by ECLIPSE and other 2023-24 papers"))
ALIASES["color@2023"] = "t2i-compbench/color@2023"


def canonical(name: str) -> str:
    return ALIASES.get(name, name)


def get_suite_def(name: str) -> SuiteDef:
    from eclipse_bench.errors import unknown_name

    name = canonical(name)
    if name not in SUITES:
        raise unknown_name("suite", name, suite_names())
    return SUITES.get(name)


def load_suite(name: str):
    return get_suite_def(name).load()


def suite_names() -> list[str]:
    return SUITES.names() + sorted(ALIASES)
