"""The suite registry: names -> declarative loader entries. Listing names imports nothing heavy."""

from __future__ import annotations

from dataclasses import dataclass

from eclipse_bench.registry import Registry, import_string


@dataclass(frozen=True)
class SuiteDef:
    loader: str          # "module:function", imported only when the suite is loaded
    args: tuple = ()
    help: str = ""
    splits: bool = False  # accepts --split train|val|all

    def load(self, split: str = "val"):
        fn = import_string(self.loader)
        if self.splits:
            return fn(*self.args, split=split)
        if split != "val":
            from eclipse_bench.errors import UserError

            raise UserError("--split applies to T2I-CompBench suites only")
        return fn(*self.args)


SUITES: Registry[SuiteDef] = Registry("suite")
ALIASES: dict[str, str] = {}
_T2I = "eclipse_bench.prompts.t2i_compbench:load"
_B = "eclipse_bench.prompts.builtin:"

T2I_HELP = {
    "color": "attribute binding: color (BLIP-VQA)", "shape": "attribute binding: shape (BLIP-VQA)",
    "texture": "attribute binding: texture (BLIP-VQA)", "spatial": "2-D spatial relations (detection)",
    "non_spatial": "non-spatial relations (CLIPScore)", "complex": "complex compositions (3-in-1)",
    "numeracy": "counts, T2I-CompBench++ (detection)",
}
for _cat, _help in T2I_HELP.items():
    SUITES.register(f"t2i-compbench/{_cat}", SuiteDef(_T2I, (_cat,), f"T2I-CompBench val, 300 prompts: {_help}", True))
    ALIASES[_cat] = f"t2i-compbench/{_cat}"
SUITES.register("t2i-compbench/color@2023", SuiteDef(
    _T2I, ("color", "2023"),
    "T2I-CompBench color val before the Sept 2025 dedup, as used by ECLIPSE and other 2023-24 papers", True))
ALIASES["color@2023"] = "t2i-compbench/color@2023"

for _skill, _n in (("counting", 3000), ("spatial", 1002), ("size", 501), ("color", 501)):
    SUITES.register(f"hrs/{_skill}", SuiteDef("eclipse_bench.prompts.hrs:load", (_skill,),
                                              f"HRS-Bench {_skill}, {_n} prompts in easy/medium/hard thirds"))

SUITES.register("geneval", SuiteDef("eclipse_bench.prompts.geneval:load", (), "GenEval, 553 prompts in 6 tags"))
for _tag in ("single_object", "two_object", "counting", "colors", "position", "color_attr"):
    SUITES.register(f"geneval/{_tag}", SuiteDef("eclipse_bench.prompts.geneval:load", (_tag,), f"GenEval {_tag}"))

for _cat in ("color", "shape", "texture"):
    SUITES.register(f"builtin/{_cat}", SuiteDef(_B + "attribute_suite", (_cat,), f"our own {_cat} prompts, 48, offline"))
for _cat, _fn, _help in (
        ("spatial", "spatial_suite", "2-D relations between COCO objects, 48"),
        ("non_spatial", "non_spatial_suite", "actions and interactions, 16"),
        ("complex", "complex_suite", "attributes + relations/actions in 3 sub-categories, 36"),
        ("numeracy", "numeracy_suite", "counts with number words, 48"),
        ("counting", "counting_suite", "HRS-style counting with easy/medium/hard levels, 48"),
        ("size", "size_suite", "HRS-style bigger/smaller, 48"),
        ("position", "position_suite", "GenEval-style relative position, 40")):
    SUITES.register(f"builtin/{_cat}", SuiteDef(_B + _fn, (), f"our own {_help}, offline"))


def canonical(name: str) -> str:
    return ALIASES.get(name, name)


def get_suite_def(name: str) -> SuiteDef | None:
    """The registry entry of `name`; None for a user suite file; an error listing valid names otherwise."""
    from eclipse_bench.errors import unknown_name
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
