"""The layout shows the architecture, and every tool can read it.

- Import path = file path: eclipse_bench.<path> is eclipse_bench/<path>.py, a plain package (no import hook, no
  __path__ change, no package-dir mapping), so editors, type checkers and every other tool resolve each import
  without running code (checked statically here, and by pyright where it runs). The layer folders are also shown at
  the repository's top level as relative links (bench -> eclipse_bench/bench, ...).
- The layers are folders (their order is eclipse_bench.LAYERS) and imports flow one way: a module imports its own
  layer and lower ones, never one beside it or above. Every import counts, also those inside functions.
- No import cycle, within a layer either (imports inside functions included).
- Imports sit at the top of each module; an import inside a function is lazy for a reason named in one word
  (`# lazy: torch`), and the reason must be true: the module it imports loads that package at import.
Each rule is shown to catch a planted violation.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import eclipse_bench

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "eclipse_bench"
LAYER_FOLDERS = ("bench", "prompts", "metrics", "reports")
# The packages an import may be made lazy for: the model stacks and the few others that cost a noticeable start-up
# (or are optional); everything else is imported at the top.
HEAVY = {"torch", "torchvision", "transformers", "diffusers", "ultralytics", "open_clip", "huggingface_hub",
         "accelerate", "pandas", "pyarrow", "scipy", "cv2", "spacy", "safetensors", "tokenizers", "matplotlib",
         "wandb", "trackio", "tensorboard", "modelscope"}   # optional: experiment trackers, DPG-Bench's judge
LAZY = re.compile(r"#\s*lazy:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")


def modules(root: Path = ROOT) -> dict[str, Path]:
    """import path -> file, by the layout rule: eclipse_bench.<path> is eclipse_bench/<path>.py."""
    out = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def layer_of(module: str) -> tuple[str, int]:
    """The layer of a module from its folder (eclipse_bench.LAYERS); the root package is the public API on top."""
    rel = module[len("eclipse_bench."):] if module.startswith("eclipse_bench.") else ""
    for folder in sorted(eclipse_bench.LAYERS, key=len, reverse=True):
        if rel == folder or rel.startswith(folder + "."):
            return eclipse_bench.LAYERS[folder]
    if rel in ("", "__main__", "bench", "callbacks"):   # the public API: the package, `python -m`, training hooks
        return ("api", 99)
    raise AssertionError(f"{module}: its folder is no layer of eclipse_bench.LAYERS")


def import_nodes(path: Path) -> list[tuple[ast.AST, bool]]:
    """(import statement, inside a function) of every import in a file."""
    tree = ast.parse(path.read_text())
    inner = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    return [(n, id(n) in inner) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def _resolve(name: str, known: set[str]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def targets(node: ast.AST, known: set[str]) -> set[str]:
    """The modules of ours an import statement loads."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names if a.name.startswith("eclipse_bench")]
        return {t for n in names if (t := _resolve(n, known))}
    if not (node.module and node.level == 0 and node.module.startswith("eclipse_bench")):
        return set()
    return {t for t in {_resolve(node.module, known), *(_resolve(f"{node.module}.{a.name}", known)
                                                         for a in node.names)} if t}


def graph(root: Path = ROOT) -> tuple[dict[str, Path], dict[str, set[str]]]:
    mods = modules(root)
    known = set(mods)
    edges = {m: set() for m in mods}
    for mod, path in mods.items():
        for node, _ in import_nodes(path):
            edges[mod] |= {t for t in targets(node, known) if t != mod and t != "eclipse_bench"}
    return mods, edges


def violations(root: Path = ROOT) -> list[str]:
    """Every import against the flow in the tree under `root`."""
    mods, edges = graph(root)
    bad = []
    for mod, path in mods.items():
        mine = layer_of(mod)
        for node, _ in import_nodes(path):
            for target in targets(node, set(mods)):
                if target == mod:
                    continue
                if target == "eclipse_bench":
                    if isinstance(node, ast.ImportFrom) and node.module == "eclipse_bench" and mod != "eclipse_bench":
                        bad.append(f"{mod} ({mine[0]}) imports the public API eclipse_bench")
                    continue
                theirs = layer_of(target)
                if theirs != mine and theirs[1] >= mine[1]:
                    bad.append(f"{mod} ({mine[0]}) imports {target} ({theirs[0]})")
    return sorted(set(bad))


def cycles(root: Path = ROOT) -> list[list[str]]:
    """The import cycles among our modules (strongly connected components), imports inside functions included."""
    _, edges = graph(root)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def top_level_packages(path: Path, mods: dict[str, Path], seen: set | None = None) -> set[str]:
    """Every package a module of ours loads when it is imported (its top-level imports, followed through ours)."""
    seen = set() if seen is None else seen
    out: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            out.add(name.split(".")[0])
        for t in targets(node, set(mods)):
            if t not in seen:
                seen.add(t)
                out |= top_level_packages(mods[t], mods, seen)
    return out


def lazy_problems(root: Path = ROOT) -> list[str]:
    """Imports inside functions without a true one-word reason."""
    mods = modules(root)
    bad = []
    for mod, path in mods.items():
        lines = path.read_text().splitlines()
        for node, inner in import_nodes(path):
            if not inner:
                continue
            m = LAZY.search(lines[node.end_lineno - 1])
            where = f"{path.relative_to(root)}:{node.lineno}"
            if m is None:
                bad.append(f"{where}: an import inside a function without '# lazy: <reason>'")
                continue
            word = m.group(1)
            ours = targets(node, set(mods))
            if ours:
                loads = set().union(*(top_level_packages(mods[t], mods) for t in ours))
            else:
                loads = {(node.names[0].name if isinstance(node, ast.Import) else node.module).split(".")[0]}
            if word not in HEAVY or word not in loads:
                bad.append(f"{where}: lazy for {word!r}, but it loads {sorted(loads & HEAVY) or 'none of ' + str(sorted(HEAVY))}")
    return bad


def _tree_copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / PACKAGE, tmp_path / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_every_import_flows_one_way():
    bad = violations()
    assert not bad, "imports against the flow:\n" + "\n".join(bad)


@pytest.mark.parametrize("folder, planted", [
    ("prompts", "from eclipse_bench.metrics.registry import METRICS\n"),         # up a layer
    ("metrics", "import eclipse_bench.bench.generation.generator\n"),             # beside it
    ("bench/core", "def f():\n    from eclipse_bench.prompts.spec import Spec  # lazy: torch\n"),  # inside a function
])
def test_the_scanner_catches_a_planted_upstream_import(tmp_path, folder, planted):
    root = _tree_copy(tmp_path)
    (root / PACKAGE / folder / "planted.py").write_text(f'"""a module that imports against the flow"""\n{planted}')
    found = violations(root)
    module = "eclipse_bench." + folder.replace("/", ".") + ".planted"
    assert len(found) == 1 and found[0].startswith(f"{module} ("), found


def test_no_import_cycle():
    assert cycles() == []


def test_a_planted_cycle_inside_a_layer_is_caught(tmp_path):
    """Two modules of one layer importing each other, one of them inside a function, as the hidden cycles were."""
    root = _tree_copy(tmp_path)
    (root / PACKAGE / "prompts" / "planted_a.py").write_text("from eclipse_bench.prompts import planted_b\n")
    (root / PACKAGE / "prompts" / "planted_b.py").write_text("def f():\n    from eclipse_bench.prompts import planted_a\n")
    assert cycles(root) == [["eclipse_bench.prompts.planted_a", "eclipse_bench.prompts.planted_b"]]


def test_imports_inside_functions_are_lazy_for_a_true_reason():
    bad = lazy_problems()
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("planted, why", [
    ("def f():\n    import json\n", "without '# lazy"),                                            # no reason
    ("def f():\n    from eclipse_bench.prompts.spec import Spec  # lazy: torch\n", "loads none"),  # a false one
    ("def f():\n    import torch  # lazy: quick\n", "lazy for 'quick'"),                           # not a word we take
])
def test_the_lazy_rule_catches_a_planted_import(tmp_path, planted, why):
    root = _tree_copy(tmp_path)
    (root / PACKAGE / "metrics" / "planted.py").write_text(planted)
    found = lazy_problems(root)
    assert len(found) == 1 and "eclipse_bench/metrics/planted.py:2" in found[0] and why in found[0], found


def test_the_layer_folders_are_shown_at_the_top_level():
    """bench -> eclipse_bench/bench, ...: relative links, so a clone anywhere resolves them; the files themselves live
    in the package (a checkout without links still imports)."""
    for layer in LAYER_FOLDERS:
        link = ROOT / layer
        assert link.is_symlink() and os.readlink(link) == f"{PACKAGE}/{layer}", link
        assert not (ROOT / PACKAGE / layer).is_symlink()


def _static_target(name: str, root: Path) -> Path | None:
    """Where a static tool finds the module `name` under `root` (links followed, nothing imported)."""
    base = root.joinpath(*name.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def unresolved_imports(root: Path = ROOT) -> list[str]:
    """Every `eclipse_bench...` import of every module, test and script that names no file under `root` (a name
    imported from a package may be a module or an attribute of the package)."""
    bad = []
    files = [p for f in (PACKAGE, "tests", "scripts") for p in sorted((root / f).rglob("*.py"))]
    for path in files:
        for node, _ in import_nodes(path):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("eclipse_bench")]
            elif node.module and node.level == 0 and node.module.startswith("eclipse_bench"):
                names = [node.module]
            else:
                continue
            for name in names:
                if _static_target(name, root) is None:
                    bad.append(f"{path.relative_to(root)}:{node.lineno}: {name}")
    return bad


def test_every_eclipse_bench_import_resolves_statically():
    """The check an editor makes: each import names a file under eclipse_bench/, without running any code, so
    go-to-definition, find-references and type checking work on a fresh clone."""
    assert unresolved_imports() == []


def test_pyright_resolves_every_import_on_a_copy_of_the_tracked_files(tmp_path):
    """pyright (VS Code's engine) on the tracked files, with an interpreter that has no eclipse-bench installed:
    0 unresolved eclipse_bench imports."""
    beside = Path(sys.executable).parent / "pyright"
    pyright = str(beside) if beside.is_file() else shutil.which("pyright")
    if pyright is None:
        pytest.skip("pyright is not installed (the test extra installs it)")
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True).stdout.split()
    if not files:
        pytest.skip("not a git checkout")
    for f in files:
        src, dst = ROOT / f, tmp_path / f
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        elif f.endswith(".py"):
            shutil.copy(src, dst)
    (tmp_path / "pyrightconfig.json").write_text(json.dumps({
        "include": [PACKAGE, "tests", "scripts"], "extraPaths": ["tests"],
        "typeCheckingMode": "off", "reportMissingImports": "error", "reportMissingModuleSource": "none"}))
    base = getattr(sys, "_base_executable", sys.executable)
    try:
        proc = subprocess.run([pyright, "--outputjson", "--pythonpath", base], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"pyright could not run here: {exc}")
    start = proc.stdout.find("{")
    if start < 0:
        pytest.skip(f"pyright could not run here: {(proc.stdout + proc.stderr).strip()[:300]}")
    report = json.loads(proc.stdout[start:])
    ours = [f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']}" for d in report["generalDiagnostics"]
            if d.get("rule") == "reportMissingImports" and "eclipse_bench" in d["message"]]
    assert report["summary"]["filesAnalyzed"] >= len(modules()), report["summary"]
    assert ours == []


def test_every_module_imports_as_its_path():
    """eclipse_bench.a.b is the file a/b.py (a/b/__init__.py for a package): the module imported under that name is
    this checkout's file, whether it is imported from the source tree, an editable install or the installed wheel."""
    for mod, path in modules().items():
        if mod == "eclipse_bench.__main__":
            continue
        got = Path(importlib.import_module(mod).__file__)
        parts = mod.split(".")[1:]
        tail = (*parts, "__init__.py") if path.name == "__init__.py" else (*parts[:-1], parts[-1] + ".py")
        assert got.parts[-len(tail):] == tail, (mod, got)
        assert got.read_bytes() == path.read_bytes(), (mod, f"{got} is not this checkout's {path}")


def test_package_discovery_finds_every_package():
    """What the wheel is built from: setuptools' discovery (pyproject's packages.find) finds each package, and the
    top-level links are not packages of their own."""
    from setuptools import find_packages

    found = set(find_packages(str(ROOT), include=["eclipse_bench*"]))
    assert found == {m for m, p in modules().items() if p.name == "__init__.py"}


def test_no_private_name_is_imported_across_modules():
    found = []
    for root in (ROOT / f for f in (PACKAGE, "tests", "scripts")):
        for path in root.rglob("*.py"):
            for node, _ in import_nodes(path):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("eclipse_bench"):
                    found += [f"{path.relative_to(ROOT)}: from {node.module} import {a.name}" for a in node.names
                              if a.name.startswith("_") and not a.name.startswith("__")]
    assert not found, found


def test_every_package_says_what_it_holds():
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


def test_help_imports_no_model_stack():
    """`eclipse-bench --help` loads none of the model stacks (registries are discovered without them)."""
    code = ("import sys\nfrom eclipse_bench.bench.app.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n"
            "    pass\nprint(sorted(m for m in ('torch', 'diffusers', 'transformers', 'open_clip', 'ultralytics') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_the_source_tree_imports_without_installing():
    """From a checkout, with nothing installed (-S: no site-packages, so no editable hook): a plain package."""
    code = ("import sys; sys.path[:0] = [p for p in sys.argv[1:]]\n"
            "import eclipse_bench.bench.core.store as s, eclipse_bench.prompts.spec as p\n"
            "print(s.__file__); print(p.__file__)")
    site = [p for p in sys.path if p.endswith("site-packages")]
    out = subprocess.run([sys.executable, "-S", "-c", code, str(ROOT), *site], capture_output=True, text=True,
                         timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(ROOT / "eclipse_bench" / "bench" / "core" / "store.py"),
                                  str(ROOT / "eclipse_bench" / "prompts" / "spec.py")]
