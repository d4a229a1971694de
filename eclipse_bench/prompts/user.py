"""User suites: a JSONL file, one item per line (the public item format in the README).

Only "prompt" is required; a missing spec is filled by the extractor. Every problem is reported as
a UserError naming the file and the line.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.prompts.extract import auto_spec
from eclipse_bench.prompts.registry import known_categories, metric_for_category
from eclipse_bench.prompts.spec import Item, Spec, Suite, safe_id

MAX_LINE = 1 << 20      # 1 MiB: longer lines are rejected before being parsed
MAX_PROMPT = 4000       # characters



# every relation name a rule checks: T2I-CompBench 2D and 3D, HRS-Bench, GenEval
KNOWN_RELATIONS = frozenset({
    "on side of", "next to", "near", "on the left of", "on the right of", "on the bottom of", "on the top of",
    "on top of", "in front of", "behind", "hidden", "left", "right", "above", "below", "between", "bigger",
    "smaller", "left of", "right of"})


def is_user_suite(name: str) -> bool:
    """A file path (anything ending in .jsonl, or an existing path with a folder part), not a registered name."""
    return name.endswith(".jsonl") or ("/" in name and Path(name).expanduser().exists())


def _fail(path: Path, lineno: int, msg: str) -> UserError:
    return UserError(f"{path}:{lineno}: {msg}")


ITEM_KEYS = ("id", "prompt", "category", "level", "spec")
SPEC_KEYS = ("phrases", "objects", "relation", "extra_relations", "subcategory", "exclude", "clip_text", "questions",
             "atoms")
OBJECT_KEYS = ("noun", "attributes", "count")
RELATION_KEYS = ("name", "subject", "object", "object2")
EXCLUDE_KEYS = ("noun", "count")
QUESTION_KEYS = ("question", "answer", "skill")


def check_keys(path: Path, lineno: int, where: str, obj: dict, allowed: tuple) -> None:
    """A key the format does not have is an error (a typo would otherwise change what is scored in silence)."""
    for key in obj:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _fail(path, lineno, f"{where}: unknown key {key!r}{hint}; the keys are {', '.join(allowed)}")


def check_spec(path: Path, lineno: int, raw: Any) -> Spec:
    if not isinstance(raw, dict):
        raise _fail(path, lineno, "'spec' must be an object")
    check_keys(path, lineno, "spec", raw, SPEC_KEYS)
    for j, o in enumerate(raw.get("objects") or []):
        if isinstance(o, dict):
            check_keys(path, lineno, f"spec.objects[{j}]", o, OBJECT_KEYS)
    for j, e in enumerate(raw.get("exclude") or []):
        if isinstance(e, dict):
            check_keys(path, lineno, f"spec.exclude[{j}]", e, EXCLUDE_KEYS)
    for j, q in enumerate(raw.get("questions") or []):
        if isinstance(q, dict):
            check_keys(path, lineno, f"spec.questions[{j}]", q, QUESTION_KEYS)
    for where, rel in [("spec.relation", raw.get("relation"))] + [(f"spec.extra_relations[{j}]", r) for j, r in
                                                                  enumerate(raw.get("extra_relations") or [])
                                                                  if isinstance(raw.get("extra_relations"), list)]:
        if isinstance(rel, dict):
            check_keys(path, lineno, where, rel, RELATION_KEYS)
    for key in ("phrases", "objects", "exclude"):
        if key in raw and raw[key] is not None and not isinstance(raw[key], list):
            raise _fail(path, lineno, f"spec.{key} must be a list")
    for j, o in enumerate(raw.get("objects") or []):
        if not isinstance(o, dict) or not isinstance(o.get("noun"), str) or not o["noun"].strip():
            raise _fail(path, lineno, f"spec.objects[{j}] needs a non-empty 'noun'")
        if o.get("count") is not None and (not isinstance(o["count"], int) or isinstance(o["count"], bool)
                                           or o["count"] < 0):
            raise _fail(path, lineno, f"spec.objects[{j}].count must be a non-negative integer or null")
        if not isinstance(o.get("attributes", []) or [], list) or not all(
                isinstance(a, str) for a in o.get("attributes") or []):
            raise _fail(path, lineno, f"spec.objects[{j}].attributes must be a list of strings")
    if not all(isinstance(p, str) for p in raw.get("phrases") or []):
        raise _fail(path, lineno, "spec.phrases must be strings")
    n = len(raw.get("objects") or [])
    if raw.get("extra_relations") is not None and not isinstance(raw["extra_relations"], list):
        raise _fail(path, lineno, "spec.extra_relations must be a list")
    rels = [("spec.relation", raw.get("relation"))] + [(f"spec.extra_relations[{j}]", r) for j, r in
                                                         enumerate(raw.get("extra_relations") or [])]
    for where, rel in rels:
        if rel is None:
            continue
        if not isinstance(rel, dict) or not isinstance(rel.get("name"), str):
            raise _fail(path, lineno, f"{where} must be {{\"name\": str, \"subject\": int, \"object\": int}}")
        if rel["name"] not in KNOWN_RELATIONS:
            raise _fail(path, lineno, f"{where}.name {rel['name']!r} is not a relation any metric checks; use one "
                                      f"of: {', '.join(sorted(KNOWN_RELATIONS))}")
        keys = ("subject", "object") + (("object2",) if rel.get("object2") is not None or rel["name"] == "between"
                                        else ())
        for key in keys:
            v = rel.get(key)
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < n:
                raise _fail(path, lineno, f"{where}.{key} must index spec.objects (0..{n - 1}), got {v!r}")
    if raw.get("subcategory") is not None and not isinstance(raw["subcategory"], str):
        raise _fail(path, lineno, "spec.subcategory must be a string or null")
    if raw.get("clip_text") is not None and not isinstance(raw["clip_text"], str):
        raise _fail(path, lineno, "spec.clip_text must be a string or null")
    for j, e in enumerate(raw.get("exclude") or []):
        if not isinstance(e, dict) or not isinstance(e.get("noun"), str) or not e["noun"].strip() or \
                not isinstance(e.get("count"), int) or isinstance(e.get("count"), bool) or e["count"] < 0:
            raise _fail(path, lineno, f"spec.exclude[{j}] must be {{\"noun\": str, \"count\": int >= 0}}")
    if raw.get("questions") is not None and not isinstance(raw["questions"], list):
        raise _fail(path, lineno, "spec.questions must be a list")
    for j, q in enumerate(raw.get("questions") or []):
        if not isinstance(q, dict) or not all(isinstance(q.get(k), str) and q[k].strip()
                                              for k in ("question", "answer", "skill")):
            raise _fail(path, lineno, f"spec.questions[{j}] must be {{\"question\": str, \"answer\": str, "
                                      f"\"skill\": str}} (e.g. \"How many cats are in the image?\", \"two\", \"count\")")
    if raw.get("atoms") is not None and (not isinstance(raw["atoms"], int) or isinstance(raw["atoms"], bool)
                                         or raw["atoms"] < 1):
        raise _fail(path, lineno, "spec.atoms must be a positive integer or null")
    if not (raw.get("objects") or raw.get("phrases") or raw.get("questions")):
        raise _fail(path, lineno, "the spec names no objects, phrases or questions: nothing could be checked; "
                                  "give spec.objects or spec.phrases, or leave the spec out to have it extracted")
    try:
        return Spec.from_json(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(path, lineno, f"invalid spec ({exc})") from None


def parse_line(path: Path, lineno: int, line: str) -> Item | None:
    if not line.strip():
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _fail(path, lineno, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise _fail(path, lineno, "JSON nested too deeply; each line is one flat item object") from None
    if not isinstance(obj, dict):
        raise _fail(path, lineno, "each line must be a JSON object like {\"prompt\": \"a red car\"}")
    check_keys(path, lineno, "the line", obj, ITEM_KEYS)
    prompt = obj.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _fail(path, lineno, "missing 'prompt' (a non-empty string)")
    if len(prompt) > MAX_PROMPT:
        raise _fail(path, lineno, f"prompt is {len(prompt)} characters; at most {MAX_PROMPT} are accepted")
    category = obj.get("category") or ""
    if not isinstance(category, str):
        raise _fail(path, lineno, "'category' must be a string")
    if category and category not in known_categories():
        close = difflib.get_close_matches(category, sorted(known_categories()), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise _fail(path, lineno, f"unknown category {category!r}{hint}; use one of "
                                  f"{', '.join(sorted(known_categories()))}, or leave it out")
    level = obj.get("level")
    if level is not None and not isinstance(level, str):
        raise _fail(path, lineno, "'level' must be a string or null")
    raw_id = obj.get("id")
    if raw_id is not None and not isinstance(raw_id, (str, int)):
        raise _fail(path, lineno, "'id' must be a string")
    spec = check_spec(path, lineno, obj["spec"]) if obj.get("spec") is not None else auto_spec(prompt, category)
    item_id = safe_id(str(raw_id)) if raw_id is not None else f"item-{lineno:05d}"
    return Item(id=item_id, prompt=prompt.strip(), category=category, level=level, spec=spec)


def load(path_str: str) -> Suite:
    path = Path(path_str).expanduser()
    if path.is_dir():
        raise UserError(f"suite file {path} is a directory; give a JSONL file of {{\"prompt\": ...}} lines")
    if path.exists() and not path.is_file():
        raise UserError(f"suite file {path} is not a regular file (a pipe or a device); give a JSONL file")
    if not path.is_file():
        raise UserError(f"suite file {path} not found; give a JSONL file of {{\"prompt\": ...}} lines or a suite "
                        f"name from `eclipse-bench list suites`")
    items: list[Item] = []
    seen: dict[str, int] = {}
    with open(path, "rb") as fh:
        lineno = 0
        while True:
            raw = fh.readline(MAX_LINE + 1)
            if not raw:
                break
            lineno += 1
            if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
                raise _fail(path, lineno, f"line longer than {MAX_LINE} bytes; is this a JSONL suite file?")
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")   # a UTF-8 BOM is accepted
            except UnicodeDecodeError:
                raise _fail(path, lineno, "not UTF-8 text") from None
            item = parse_line(path, lineno, line)
            if item is None:
                continue
            if item.id in seen:
                raise _fail(path, lineno, f"id {item.id!r} repeats line {seen[item.id]}; ids must be unique")
            seen[item.id] = lineno
            items.append(item)
    if not items:
        raise UserError(f"{path}: no prompts (empty file)")
    cats = {i.category for i in items}
    if len(cats) == 1:
        metric = metric_for_category(cats.pop())
    else:
        metric = "per-category"   # each prompt with its own category's metric (others: unscorable, with why)
    return Suite(name=f"file:{path.name}", source=str(path.resolve()), default_metric=metric, items=items,
                 images_per_prompt=4, extracted=True)
