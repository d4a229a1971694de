"""The package imports one way: core <- prompts <- generation <- ... ; metrics and reports never reach into the
generation stage; the core imports nothing else. Every import counts, also those inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"bench": "eclipse_bench", "prompts": "eclipse_bench.prompts", "metrics": "eclipse_bench.metrics",
           "reports": "eclipse_bench.reports"}

CORE = {"eclipse_bench.errors", "eclipse_bench.registry", "eclipse_bench.store",
        "eclipse_bench.paths", "eclipse_bench.keys", "eclipse_bench.models", "eclipse_bench.models.loaders",
        "eclipse_bench.models.tiny", "eclipse_bench.models.tokenizers"}
GENERATION = {"eclipse_bench.pairings", "eclipse_bench.generation", "eclipse_bench.stage_generate",
              "eclipse_bench.models.eclipse_prior"}
APP = {"eclipse_bench", "eclipse_bench.cli", "eclipse_bench.__main__", "eclipse_bench.runner", "eclipse_bench.run_config",
       "eclipse_bench.scoring", "eclipse_bench.stage_evidence", "eclipse_bench.distributed", "eclipse_bench.preflight",
       "eclipse_bench.prior_run"}
ORDER = ["core", "prompts", "generation", "metrics", "reports", "app"]
# which layers each layer may import (besides itself)
ALLOWED = {"core": set(), "prompts": {"core"}, "generation": {"core", "prompts"}, "metrics": {"core", "prompts"},
           "reports": {"core", "prompts", "metrics"}, "app": set(ORDER)}


def layer(module: str) -> str:
    if module in CORE:
        return "core"
    if module in APP:
        return "app"
    if module in GENERATION or module.startswith("eclipse_bench.families"):
        return "generation"
    for name in ("prompts", "metrics", "reports"):
        if module.startswith(f"eclipse_bench.{name}"):
            return name
    raise AssertionError(f"{module}: not assigned to a layer (add it to one in this test)")


def modules():
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            yield ".".join([package, *parts]) if parts else package, path


def imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in out if m.startswith("eclipse_bench")}


def _resolve(name: str, known: set[str]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def test_every_import_flows_one_way():
    mods = dict(modules())
    known = set(mods)
    bad = []
    for mod, path in mods.items():
        mine = layer(mod)
        for target in {_resolve(t, known) for t in imports(path)} - {None, mod}:
            theirs = layer(target)
            if theirs != mine and theirs not in ALLOWED[mine]:
                bad.append(f"{mod} ({mine}) imports {target} ({theirs})")
    assert not bad, "imports against the flow:\n" + "\n".join(sorted(bad))


@pytest.mark.parametrize("mod, target", [("eclipse_bench.metrics.t2i_spatial", "eclipse_bench.generation"),
                                         ("eclipse_bench.store", "eclipse_bench.prompts.spec"),
                                         ("eclipse_bench.prompts.spec", "eclipse_bench.metrics.registry")])
def test_the_check_catches_a_wrong_import(mod, target):
    """The rule itself: these edges would be reported."""
    assert layer(target) != layer(mod) and layer(target) not in ALLOWED[layer(mod)]


def test_no_module_is_over_400_lines():
    long = [f"{mod}: {n}" for mod, path in modules() if (n := len(path.read_text().splitlines())) > 400]
    assert not long, long


def test_help_imports_no_torch():
    """Registries are discovered lazily: `eclipse-bench --help` loads none of the model stacks."""
    import subprocess
    import sys

    code = ("import sys\nfrom eclipse_bench.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'diffusers', 'transformers', 'open_clip', 'ultralytics') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
