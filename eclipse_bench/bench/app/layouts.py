"""The image layouts the benchmarks' own tools write, read back as (suite item, image n, file, seed) matches.

- t2i-compbench: `samples/{prompt}_{index:06d}.png`, the index a running counter over the category (prompt k's
  image n is ipp * k + n); the prompt is the file name before the index. Beside samples/, the grids the sampling
  script also writes (GORS_finetune/inference_eval.py: `{prompt}-grid-{count:05}.png`) are not scored, as the
  evaluation scripts do not score them.
- geneval: `<NNNNN>/metadata.jsonl` (line N of evaluation_metadata.jsonl) + `<NNNNN>/samples/<MMMMM>.png` (5 digits,
  as GenEval's generation/diffusers_generate.py names them: f"{index:0>5}" and f"{sample_count:05}.png"; 4 accepted
  too) and its optional `grid.png`.
- geneval2: a JSON object {prompt: image path}, one image per prompt.
- manifest: JSONL lines {"prompt" or "prompt_id", "image" (relative to the manifest), "n"?, "seed"?}.
- dpg-bench: `<item_id>.<ext>`, each a 2x2 grid of `--resolution` px cells (the README's four images per prompt); the
  first `--pic-num` cells (top-left, top-right, bottom-left, bottom-right) are its images 0..pic_num-1, cropped as
  DPG-Bench's script crops them. The item id is the file name before its first dot, as the script reads it.

Matching is explicit: every file must match a prompt of the suite and every prompt must have its images, and nothing
the layout does not use is passed over in silence (a sub-folder, an image beside samples/: Matches.extra); what does
not fit is collected (Matches.unmatched, .extra, .missing, .problems) and reported by the importer in one error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from PIL import Image

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.prompts.suites.geneval import spec_from_metadata

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
LAYOUTS = ("t2i-compbench", "geneval", "geneval2", "manifest", "dpg-bench")
_T2I_NAME = re.compile(r"^(?P<prompt>.*)_(?P<index>\d{6})$")
_T2I_GRID = re.compile(r"^(?P<prompt>.*)-grid-(?P<count>\d{5})$")


@dataclass
class Match:
    item: Any
    n: int
    path: Path
    seed: Optional[int] = None
    crop: Optional[tuple] = None   # (left, top, right, bottom) of a grid cell; None: the whole file


@dataclass
class Matches:
    layout: str
    matches: list[Match] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)    # files that match no prompt of the suite
    problems: list[str] = field(default_factory=list)     # a metadata line that disagrees, a bad manifest line, ...
    extra: list[str] = field(default_factory=list)        # files and folders the layout does not use
    grids: int = 0                                        # the sampling script's grid images, not scored
    seeds_known: bool = False

    def missing(self, suite) -> list:
        """The suite's items without any image."""
        have = {m.item.id for m in self.matches}
        return [i for i in suite.items if i.id not in have]


def detect(images: Path) -> str:
    """The layout of a folder or file, recognised from what the benchmarks' tools write."""
    if images.is_file():
        if images.suffix == ".json":
            return "geneval2"
        if images.suffix == ".jsonl":
            return "manifest"
        raise UserError(f"{images}: a file of unknown layout; give the folder of images, a GenEval 2 .json or a "
                        f".jsonl manifest (--layout {'|'.join(LAYOUTS)})")
    if not images.is_dir():
        raise UserError(f"{images}: no such folder or file")
    if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in images.rglob("*")):
        raise UserError(f"{images}: no image at all (an empty folder); give the folder the images were written to "
                        f"(nothing was imported)")
    if any(p.is_dir() and re.fullmatch(r"\d{5}", p.name) and (p / "metadata.jsonl").is_file() for p in images.iterdir()):
        return "geneval"
    folder = images / "samples" if (images / "samples").is_dir() else images
    if any(p.suffix.lower() in IMAGE_SUFFIXES and _T2I_NAME.match(p.stem) for p in folder.iterdir()):
        return "t2i-compbench"
    raise UserError(f"{images}: the layout is none the benchmarks' tools write (T2I-CompBench prompt_000000.png files, "
                    f"GenEval NNNNN/ folders); pass --layout {'|'.join(LAYOUTS)} or write a .jsonl manifest")


def _by_prompt(suite) -> dict[str, list]:
    out: dict[str, list] = {}
    for item in suite.items:
        out.setdefault(item.prompt, []).append(item)
    return out


def read_t2i_compbench(images: Path, suite) -> Matches:
    folder = images / "samples" if (images / "samples").is_dir() else images
    found = Matches("t2i-compbench")
    if folder != images:   # the scripts read samples/ only: anything beside it but their grids would be passed over
        prompts = {i.prompt for i in suite.items}
        for p in sorted(images.iterdir()):
            grid = _T2I_GRID.match(p.stem) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES else None
            if grid and grid.group("prompt") in prompts:
                found.grids += 1
            elif p.name != "samples" and not p.name.startswith("."):
                found.extra.append(p.name + ("/" if p.is_dir() else ""))
    found.extra += [f"{folder.name}/{p.name}/" if folder != images else f"{p.name}/" for p in sorted(folder.iterdir())
                    if p.is_dir() and not p.name.startswith(".")]
    per_prompt: dict[str, list[tuple[int, Path]]] = {}
    for p in sorted(folder.iterdir()):
        m = _T2I_NAME.match(p.stem) if p.suffix.lower() in IMAGE_SUFFIXES else None
        if m is None:
            if p.is_file() and not p.name.startswith("."):
                found.unmatched.append(p.name)
            continue
        per_prompt.setdefault(m.group("prompt"), []).append((int(m.group("index")), p))
    items_of = _by_prompt(suite)
    for prompt, files in per_prompt.items():
        items = items_of.get(prompt)
        if not items:
            found.unmatched += [p.name for _, p in files]
            continue
        files.sort()
        # a prompt the file lists twice (older color_val.txt) owns the lower running indices first
        share = -(-len(files) // len(items))
        for j, (index, path) in enumerate(files):
            found.matches.append(Match(items[min(j // share, len(items) - 1)], j % share, path))
    return found


def read_geneval(images: Path, suite) -> Matches:
    found = Matches("geneval")
    by_line = {}
    for item in suite.items:
        m = re.search(r"-(\d+)$", item.id)
        if m:
            by_line[int(m.group(1))] = item
    found.extra += [p.name for p in sorted(images.iterdir()) if p.is_file() and not p.name.startswith(".")]
    for folder in sorted(p for p in images.iterdir() if p.is_dir()):
        found.extra += [f"{folder.name}/{p.name}" + ("/" if p.is_dir() else "") for p in sorted(folder.iterdir())
                        if p.name not in ("metadata.jsonl", "grid.png", "samples") and not p.name.startswith(".")]
        if (folder / "samples").is_dir():
            found.extra += [f"{folder.name}/samples/{p.name}" + ("/" if p.is_dir() else "")
                            for p in sorted((folder / "samples").iterdir())
                            if (p.is_dir() or p.suffix.lower() not in IMAGE_SUFFIXES) and not p.name.startswith(".")]
        if not re.fullmatch(r"\d{5}", folder.name):
            found.unmatched.append(folder.name + "/")
            continue
        item = by_line.get(int(folder.name))
        meta_path = folder / "metadata.jsonl"
        samples = sorted(p for p in (folder / "samples").glob("*") if p.suffix.lower() in IMAGE_SUFFIXES) \
            if (folder / "samples").is_dir() else []
        if item is None:
            found.unmatched += [f"{folder.name}/samples/{p.name}" for p in samples] or [folder.name + "/"]
            continue
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8").splitlines()[0])
            agrees = meta.get("prompt") == item.prompt and spec_from_metadata(meta) == item.spec
        except (OSError, IndexError, ValueError, KeyError, TypeError, AttributeError):
            agrees = False
        if not agrees:
            found.problems.append(f"{folder.name}/metadata.jsonl is not line {int(folder.name)} of the suite's "
                                  f"evaluation_metadata.jsonl ({item.prompt!r})")
            continue
        for p in samples:
            if not re.fullmatch(r"\d{4,5}", p.stem):
                found.unmatched.append(f"{folder.name}/samples/{p.name}")
                continue
            found.matches.append(Match(item, int(p.stem), p))
    return found


def read_geneval2(images: Path, suite) -> Matches:
    found = Matches("geneval2")
    twice: list[str] = []

    def pairs(items: list) -> dict:
        seen: dict = {}
        for k, v in items:
            if k in seen:
                twice.append(k)
            seen[k] = v
        return seen

    try:
        doc = json.loads(images.read_text(encoding="utf-8-sig"), object_pairs_hook=pairs)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{images}: not a GenEval 2 image file ({{prompt: image path}} JSON): {exc}") from None
    found.problems += [f"{images.name} names the prompt {k!r} twice (one image per prompt)" for k in twice]
    if not isinstance(doc, dict):
        raise UserError(f"{images}: a GenEval 2 image file is one JSON object {{prompt: image path}}")
    items_of = _by_prompt(suite)
    for prompt, rel in doc.items():
        if prompt not in items_of:
            found.unmatched.append(f"{rel} ({prompt!r} is no prompt of {suite.name})")
            continue
        if not isinstance(rel, str):
            found.problems.append(f"the image of {prompt!r} is not a path ({rel!r})")
            continue
        found.matches.append(Match(items_of[prompt][0], 0, (images.parent / rel).resolve()))
    return found


def read_manifest(images: Path, suite) -> Matches:
    found = Matches("manifest", seeds_known=True)
    by_id = {i.id: i for i in suite.items}
    items_of = _by_prompt(suite)
    counts: dict[str, int] = {}
    for lineno, raw in enumerate(images.read_bytes().split(b"\n"), 1):
        try:
            line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
        except UnicodeDecodeError:
            raise UserError(f"{images}:{lineno}: not UTF-8 text; write the manifest in UTF-8") from None
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            found.problems.append(f"{images.name}:{lineno}: not a JSON object")
            continue
        if not isinstance(row, dict) or not isinstance(row.get("image"), str):
            found.problems.append(f"{images.name}:{lineno}: needs \"image\" (a path) and \"prompt\" or \"prompt_id\"")
            continue
        item = by_id.get(row.get("prompt_id")) or (items_of.get(row.get("prompt")) or [None])[0]
        if item is not None and row.get("prompt") is not None and row.get("prompt_id") is not None \
                and item.prompt != row["prompt"]:
            found.problems.append(f"{images.name}:{lineno}: prompt_id {row['prompt_id']!r} is the prompt "
                                  f"{item.prompt!r}, not {row['prompt']!r}; give one of them, or both as the suite has "
                                  f"them")
            continue
        if item is None:
            found.unmatched.append(f"{row['image']} (line {lineno}: {row.get('prompt_id') or row.get('prompt')!r} is "
                                   f"no prompt of {suite.name})")
            continue
        n, seed = row.get("n"), row.get("seed")
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 0):
            found.problems.append(f"{images.name}:{lineno}: \"n\" must be an integer >= 0")
            continue
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
            found.problems.append(f"{images.name}:{lineno}: \"seed\" must be an integer >= 0")
            continue
        found.seeds_known &= seed is not None
        if n is None:
            n = counts.get(item.id, 0)
        counts[item.id] = max(counts.get(item.id, 0), n + 1)
        found.matches.append(Match(item, n, (images.parent / row["image"]).resolve(), seed))
    return found


def read_dpg_bench(images: Path, suite, pic_num: int = 4, resolution: Optional[int] = None) -> Matches:
    """DPG-Bench's 2x2 grids: `<item_id>.<ext>`, the first pic_num cells its images (the script's crop boxes)."""
    if not 1 <= pic_num <= 4:
        raise UserError(f"--pic-num {pic_num}: a 2x2 grid holds 1 to 4 images")
    found = Matches("dpg-bench")
    items = {i.id: i for i in suite.items}
    for p in sorted(images.iterdir()):
        if p.name.startswith("."):
            continue
        if p.is_dir() or p.suffix.lower() not in IMAGE_SUFFIXES:
            found.extra.append(p.name + ("/" if p.is_dir() else ""))
            continue
        item = items.get(p.name.split(".")[0])
        if item is None:
            found.unmatched.append(p.name)
            continue
        try:
            with Image.open(p) as im:
                width, height = im.size
        except OSError:
            width = height = 0   # unreadable: reported by the importer with the others
        r = resolution or width // 2
        if width and (width < 2 * r or height < 2 * r):
            found.problems.append(f"{p.name} is {width}x{height}, too small for a 2x2 grid of {r} px cells "
                                  f"(--resolution)")
            continue
        boxes = [(0, 0, r, r), (r, 0, 2 * r, r), (0, r, r, 2 * r), (r, r, 2 * r, 2 * r)]
        found.matches += [Match(item, n, p, crop=box) for n, box in enumerate(boxes[:pic_num])]
    return found


READERS = {"t2i-compbench": read_t2i_compbench, "geneval": read_geneval, "geneval2": read_geneval2,
           "manifest": read_manifest, "dpg-bench": read_dpg_bench}


def read(images: Path, suite, layout: str = "auto", pic_num: int = 4, resolution: Optional[int] = None) -> Matches:
    images = Path(images)
    if not images.exists():
        raise UserError(f"{images}: no such folder or file of images")
    if layout == "auto" and suite.name == "dpg-bench" and images.is_dir():
        layout = "dpg-bench"   # DPG-Bench's own tools write its grids; other layouts are named with --layout
    layout = detect(images) if layout == "auto" else layout
    if layout not in READERS:
        raise UserError(f"--layout {layout!r}: use auto, {', '.join(LAYOUTS)}")
    if layout in ("geneval2", "manifest") and not images.is_file():
        raise UserError(f"{images}: layout {layout} is a file ({'.json' if layout == 'geneval2' else '.jsonl'})")
    if layout in ("t2i-compbench", "geneval", "dpg-bench") and not images.is_dir():
        raise UserError(f"{images}: layout {layout} is a folder of images")
    found = read_dpg_bench(images, suite, pic_num, resolution) if layout == "dpg-bench" else \
        READERS[layout](images, suite)
    seen: dict[tuple, Path] = {}
    for m in found.matches:
        if (m.item.id, m.n) in seen:
            found.problems.append(f"{m.path.name} and {seen[(m.item.id, m.n)].name} are both image {m.n} of "
                                  f"{m.item.id}")
        seen[(m.item.id, m.n)] = m.path
    return found
