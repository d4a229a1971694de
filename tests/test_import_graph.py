"""The layout shows the architecture: every module imports as eclipse_bench.<its path>, the layers are folders (their
order is eclipse_bench.LAYERS), and imports flow one way: a module imports its own layer and lower ones, never one
beside it or above. Every import counts, also those inside functions. The scanner is shown to catch a planted
upstream import; private names are never imported across modules; every package says what it holds (__all__)."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

import eclipse_bench

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("eclipse_bench", "bench", "prompts", "metrics", "reports")


def modules(root: Path = ROOT) -> dict[str, Path]:
    """import path -> file, by the layout rule: eclipse_bench.<path> is <path>.py under the root (the public API
    package in eclipse_bench/)."""
    out = {}
    for folder in FOLDERS:
        for path in sorted((root / folder).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[0] == "eclipse_bench":
                parts = parts[1:]
            if parts and parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(["eclipse_bench", *parts])] = path
    return out


def layer_of(module: str) -> tuple[str, int]:
    """The layer of a module from its folder (eclipse_bench.LAYERS); the root package is the public API on top."""
    rel = module[len("eclipse_bench."):] if module.startswith("eclipse_bench.") else ""
    for folder in sorted(eclipse_bench.LAYERS, key=len, reverse=True):
        if rel == folder or rel.startswith(folder + "."):
            return eclipse_bench.LAYERS[folder]
    if rel in ("", "__main__", "bench"):
        return ("api", 99)
    raise AssertionError(f"{module}: its folder is no layer of eclipse_bench.LAYERS")


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every `import` / `from ... import` in a file (absolute imports of ours)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, [a.name for a in node.names]))
    return [(m, names) for m, names in out if m == "eclipse_bench" or m.startswith("eclipse_bench.")]


def _resolve(name: str, known: set[str]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def violations(root: Path = ROOT) -> list[str]:
    """Every import against the flow in the tree under `root`."""
    mods = modules(root)
    known = set(mods)
    bad = []
    for mod, path in mods.items():
        mine = layer_of(mod)
        for target_mod, names in imports(path):
            for target in {_resolve(target_mod, known), *(_resolve(f"{target_mod}.{n}", known) for n in names)}:
                if target in (None, mod) or target == "eclipse_bench" and not names:
                    continue
                if target == "eclipse_bench":   # `from eclipse_bench import X`: the public API, for outside users
                    theirs = ("api", 99)
                else:
                    theirs = layer_of(target)
                if theirs != mine and theirs[1] >= mine[1]:
                    bad.append(f"{mod} ({mine[0]}) imports {target} ({theirs[0]})")
    return sorted(set(bad))


def test_every_import_flows_one_way():
    bad = violations()
    assert not bad, "imports against the flow:\n" + "\n".join(bad)


@pytest.mark.parametrize("folder, planted", [
    ("prompts", "from eclipse_bench.metrics.registry import METRICS\n"),         # up a layer
    ("metrics", "import eclipse_bench.bench.generation.generator\n"),             # beside it
    ("bench/core", "def f():\n    from eclipse_bench.prompts.spec import Spec\n"),  # inside a function
])
def test_the_scanner_catches_a_planted_upstream_import(tmp_path, folder, planted):
    for name in FOLDERS:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / folder / "planted.py").write_text(f'"""a module that imports against the flow"""\n{planted}')
    found = violations(tmp_path)
    module = "eclipse_bench." + folder.replace("/", ".") + ".planted"
    assert len(found) == 1 and found[0].startswith(f"{module} ("), found


def test_every_module_imports_as_its_path():
    """eclipse_bench.a.b is the file a/b.py (a/b/__init__.py for a package): the module imported under that name is
    this checkout's file, whether it is imported from the source tree, an editable install or the installed wheel
    (tox), where the layer folders sit inside the eclipse_bench package."""
    import importlib

    for mod, path in modules().items():
        if mod == "eclipse_bench.__main__":
            continue
        got = Path(importlib.import_module(mod).__file__).resolve()
        parts = mod.split(".")[1:]
        tail = (*parts, "__init__.py") if path.name == "__init__.py" else (*parts[:-1], parts[-1] + ".py")
        assert got.parts[-len(tail):] == tail, (mod, got)
        assert got.read_bytes() == path.read_bytes(), (mod, f"{got} is not this checkout's {path}")


def test_the_wheel_lists_every_package():
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {m for m, p in modules().items() if p.name == "__init__.py"}
    assert listed == packages


def test_no_private_name_is_imported_across_modules():
    found = []
    for root in (ROOT / f for f in (*FOLDERS, "tests", "scripts")):
        for path in root.rglob("*.py"):
            for mod, names in imports(path):
                found += [f"{path.relative_to(ROOT)}: from {mod} import {n}" for n in names
                          if n.startswith("_") and not n.startswith("__")]
    assert not found, found


def test_every_package_says_what_it_holds():
    import importlib

    for mod, path in modules().items():
        if path.name == "__init__.py" and mod != "eclipse_bench":
            package = importlib.import_module(mod)
            holds = sorted(p.stem if p.is_file() else p.name for p in path.parent.iterdir()
                           if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file())
            assert set(holds) <= set(package.__all__), (mod, sorted(set(holds) - set(package.__all__)))
            assert all(n in holds or hasattr(package, n) for n in package.__all__), mod


def test_no_module_is_over_400_lines():
    long = [f"{mod}: {n}" for mod, path in modules().items() if (n := len(path.read_text().splitlines())) > 400]
    assert not long, long


def test_help_imports_no_torch():
    """Registries are discovered lazily: `eclipse-bench --help` loads none of the model stacks."""
    import subprocess
    import sys

    code = ("import sys\nfrom eclipse_bench.bench.app.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n"
            "    pass\nprint(sorted(m for m in ('torch', 'diffusers', 'transformers', 'open_clip', 'ultralytics') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_the_source_tree_imports_without_installing(tmp_path):
    """From a checkout, with nothing installed: the root package finds its layers beside it."""
    import subprocess
    import sys

    code = ("import eclipse_bench.bench.core.store as s, eclipse_bench.prompts.spec as p\n"
            "print(s.__file__); print(p.__file__)")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(ROOT / "bench" / "core" / "store.py"), str(ROOT / "prompts" / "spec.py")]
