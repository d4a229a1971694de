"""T2I-CompBench suites: the *_val.txt files (300 prompts per category) by default.

Specs follow the reference extraction rules (shared/reference/metrics.md), resolved once at load time.
"""

from __future__ import annotations

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.prompts.extract import attribute_spec, complex_spec, numeracy_spec, phrases_spec, spatial_spec
from eclipse_bench.prompts.fetch import Upstream, read_lines
from eclipse_bench.prompts.registry import SuiteDef, SuiteFamily, register_suite, register_suite_family
from eclipse_bench.prompts.spec import Item, Suite

T2I = Upstream("Karine-Huang/T2I-CompBench", "1b7094991a57f3c22abdd4f6e8ba6c1a15517073", "examples/dataset")
T2I_2023 = Upstream("Karine-Huang/T2I-CompBench", "7728deac05e17903b3145befd9b7207c7c019573", "examples/dataset")
FILES = {  # local relative path -> (upstream, sha256 of the pinned file)
    "t2i_compbench/color_val.txt": (T2I, "1634259756dbc77d13093d907d414480080ec9790a8c97ad09efaea7b2534f2d"),
    "t2i_compbench/shape_val.txt": (T2I, "37e1a276906c7ea9516cbd7ac8501be896006c0c17ca7344f260562834455bae"),
    "t2i_compbench/texture_val.txt": (T2I, "fbb5363515b4a28009e360afaaaf389d2dd2289e50dbb0c6ef4ea0c7fe4f3d4f"),
    "t2i_compbench/spatial_val.txt": (T2I, "8707a1d7e42ce3002d95363cf55f74bd043c843ae27108f5125aaaa7840ca988"),
    "t2i_compbench/non_spatial_val.txt": (T2I, "04c56cc9ac441dc9ea6c5157652058bd1635b5308526dd31bb29a1caab9a758d"),
    "t2i_compbench/complex_val.txt": (T2I, "1b808018b8d9916db3d47d5aa2ef18377a3549a56901a474156f799824cdf3b4"),
    "t2i_compbench/complex_val_action.txt": (T2I, "d49ee4c7f99e3f3379fb8704a54ff5288b83bb412971edf616a4721c2473308e"),
    "t2i_compbench/complex_val_spatial.txt": (T2I, "6c7ac0ab75c7c9080cfc7b421fb059b9b0febb98471707aeedf58771088abc02"),
    "t2i_compbench/complex_val_spatialaction.txt": (T2I, "e02ddc7fed812e6577e7386ec2137ce0a994a5ce19771661f68df7ac349a6ca9"),
    "t2i_compbench/complex_train_action.txt": (T2I, "2bf41d7d857883a7344aed46c45343f5089a71cc394d81c00f4aab5348a81dc8"),
    "t2i_compbench/complex_train_spatial.txt": (T2I, "a7ccfa228a825497db4e6e688332a90f3b53da66a76da324390b597be92a0da0"),
    "t2i_compbench/complex_train_spatialaction.txt": (T2I, "933cdc3e6eeaa6564f762736dd32f5e74c4809381fc2c2787bec434bc6b0c7ea"),
    "t2i_compbench/numeracy_val.txt": (T2I, "dad8df141604b70ba7554bec724e3db0a80023680769b5c514854ea2d2527bbe"),
    "t2i_compbench/new_objects.txt": (T2I, "f39a3d2ff6067d7738673cbf465dc659ccc750776162989a5d9916f1d5f3e231"),
    "t2i_compbench/color_train.txt": (T2I, "db5d3287027d453f8c977f0c7315f8a01a770f02f61fa54ae19406762982393f"),
    "t2i_compbench/color.txt": (T2I, "e3034f86a70c3422dd7157c050dc9c8346a32162a3f1165302c9dba05c4f48f3"),
    "t2i_compbench/shape_train.txt": (T2I, "451bdfccd330d4cf979d45664817be7959e89250b93d5c591cc562b858175a87"),
    "t2i_compbench/shape.txt": (T2I, "571dfc71ecbea33aa4e504acbe0a7519780920012d9ad360aa212e7e4b6eb6df"),
    "t2i_compbench/texture_train.txt": (T2I, "4846315c5972f9e9cc82e4833099e8ec2c28b999ca77269512715f3f56bde54f"),
    "t2i_compbench/texture.txt": (T2I, "9957553c3e653ab54660454615ea5f3c9d4b807eca9c13b44cb9679d3f2c425e"),
    "t2i_compbench/spatial_train.txt": (T2I, "af14cdf2320057d98f94077e6211c2ddfaabfbb9e3842873657baabb17e00de6"),
    "t2i_compbench/spatial.txt": (T2I, "66f6b1dcf335389111a0379357fbf5233498e67ba15251ee0f7de2f1ac620ae1"),
    "t2i_compbench/non_spatial_train.txt": (T2I, "dbac5a9ec83204dcd0c3538a12d3212e2ce66db6f7ba45b49a1d869b2d3f2430"),
    "t2i_compbench/non_spatial.txt": (T2I, "90ae0e995992768d8ddb862d821733103ebf822668a42c857862cc71018a0009"),
    "t2i_compbench/complex_train.txt": (T2I, "d214ac45cb3c5307dd14a144c8c69aa5ffdcc7be74ff71b5dac989f8ca9f924b"),
    "t2i_compbench/complex.txt": (T2I, "58c982554cfe40bedafe3fb495f18196bc0d3905f94b984e0580b24cb624f171"),
    "t2i_compbench/numeracy_train.txt": (T2I, "f66bb8708cb0be23c0406e14d892b25661b2b71e3e72abddc79c38466ab629c6"),
    "t2i_compbench/numeracy.txt": (T2I, "ba97b876f32f6cac34507a085c7e7ecc6079641b5cbd0fc0c1eb5240ac4b64f0"),
    "t2i_compbench/pre_2025-09_color_dedup/color_val.txt": (T2I_2023, "1e37a12c1861bf6b11623eaffb0bf6d6eeea9702caf45b95d040f1721bba7f4f"),
}

CATEGORIES = {
    # category: (default metric, spec builder)
    "color": "blip-vqa",
    "shape": "blip-vqa",
    "texture": "blip-vqa",
    "spatial": "t2i-spatial",
    "non_spatial": "clip-score",
    "complex": "three-in-one",
    "numeracy": "t2i-numeracy",
}
SPLITS = {"val": "_val", "train": "_train", "all": ""}
COMPLEX_PARTS = ("action", "spatial", "spatialaction")


def _complex_parts(split: str = "val") -> dict[str, str]:
    """prompt -> sub-category, from the reference's own part files (complex_{val,train}_{action,spatial,
    spatialaction}.txt): the 3-in-1 metric picks its formula by them. `all` (complex.txt) uses both splits' files;
    2 of its 1000 prompts are in none of them (they differ from their train/val twins by a word) and are reported
    unscorable, named before any image is made."""
    splits = {"val": ("val",), "train": ("train",), "all": ("val", "train")}[split]
    part_of: dict[str, str] = {}
    for s in splits:
        for part in COMPLEX_PARTS:
            for line in read_lines(f"t2i_compbench/complex_{s}_{part}.txt"):
                part_of.setdefault(line, part)
    return part_of


def _spec(category: str, prompt: str, part_of: dict[str, str]):
    if category in ("color", "shape", "texture"):
        return attribute_spec(prompt, category)
    if category == "spatial":
        return spatial_spec(prompt)
    if category == "numeracy":
        return numeracy_spec(prompt)
    if category == "complex":
        return complex_spec(prompt, part_of.get(prompt))
    return phrases_spec(prompt)


def load(category: str, variant: str = "", split: str = "val") -> Suite:
    if split not in SPLITS:
        raise UserError(f"unknown --split {split!r}; use one of {', '.join(SPLITS)}")
    rel = f"t2i_compbench/{category}{SPLITS[split]}.txt"
    if variant == "2023":
        if split != "val":
            raise UserError("color@2023 exists only for the val split")
        rel = f"t2i_compbench/pre_2025-09_color_dedup/{category}_val.txt"
    up = FILES[rel][0]
    part_of = _complex_parts(split) if category == "complex" else {}
    prefix = category if split == "val" else f"{category}-{split}"
    items = [Item(id=f"{prefix}-{i:04d}" if split != "val" else f"{prefix}-{i:03d}", prompt=p, category=category,
                  spec=_spec(category, p, part_of))
             for i, p in enumerate(read_lines(rel))]
    name = f"t2i-compbench/{category}" + (f"@{variant}" if variant else "") + ("" if split == "val" else f":{split}")
    return Suite(name=name, source=f"{up.repo}@{up.commit[:10]}/{up.path}/{rel.split('/')[-1]}",
                 default_metric=CATEGORIES[category], items=items, images_per_prompt=10, extracted=True)


# -- registration -------------------------------------------------------------------------------------------

HELP = {
    "color": "attribute binding: color (BLIP-VQA)", "shape": "attribute binding: shape (BLIP-VQA)",
    "texture": "attribute binding: texture (BLIP-VQA)", "spatial": "2-D spatial relations (detection)",
    "non_spatial": "non-spatial relations (CLIPScore)", "complex": "complex compositions (3-in-1)",
    "numeracy": "counts, T2I-CompBench++ (detection)",
}
register_suite_family(SuiteFamily("t2i-compbench", FILES, "T2I-CompBench (Huang et al.), val files, 10 images per prompt",
                                  category_metrics=CATEGORIES))
for _cat, _help in HELP.items():
    register_suite(f"t2i-compbench/{_cat}", SuiteDef(
        "eclipse_bench.prompts.suites.t2i_compbench:load", (_cat,), f"T2I-CompBench val, 300 prompts: {_help}", True,
        files=tuple(f for f in FILES if f.startswith(f"t2i_compbench/{_cat}") or (_cat == "numeracy" and "new_objects" in f))),
        aliases=(_cat,))
register_suite("t2i-compbench/color@2023", SuiteDef(
    "eclipse_bench.prompts.suites.t2i_compbench:load", ("color", "2023"),
    "T2I-CompBench color val before the Sept 2025 dedup, as used by ECLIPSE and other 2023-24 papers", True,
    files=("t2i_compbench/pre_2025-09_color_dedup/color_val.txt",)), aliases=("color@2023",))
