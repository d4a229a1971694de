"""The suite model: Suite -> Items, each with a Spec of what a metric must check.

The JSON form of an item is public (README, "User suites"):
{"id", "prompt", "category", "level", "spec": {"phrases", "objects": [{"noun", "attributes", "count"}],
 "relation": {"name", "subject", "object"} | null, "subcategory", "exclude": [{"noun", "count"}],
 "questions": [{"question", "answer", "skill"}] (optional), "atoms": N (optional),
 "propositions": [{"id", "dependencies", "tuple", "row"}] (optional: DPG-Bench's, one per question)}}
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Optional

from eclipse_bench.bench.core.errors import UserError


@dataclass(frozen=True)
class ObjectSpec:
    noun: str
    attributes: tuple[str, ...] = ()
    count: Optional[int] = None


@dataclass(frozen=True)
class Relation:
    name: str
    subject: int  # index into Spec.objects
    object: int
    object2: Optional[int] = None  # the second reference object of "between"

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "subject": self.subject, "object": self.object}
        if self.object2 is not None:
            d["object2"] = self.object2
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Relation":
        o2 = d.get("object2")
        return cls(str(d["name"]), int(d["subject"]), int(d["object"]), None if o2 is None else int(o2))


@dataclass(frozen=True)
class Exclusion:
    noun: str
    count: int


@dataclass(frozen=True)
class Question:
    """A question a VQA judge is asked about the image, with the answer the prompt implies and the skill it tests
    (GenEval 2: object, count, attribute, position, verb)."""
    question: str
    answer: str
    skill: str

    def to_json(self) -> dict[str, str]:
        return {"question": self.question, "answer": self.answer, "skill": self.skill}

    @classmethod
    def from_json(cls, d: Any) -> "Question":
        if isinstance(d, (list, tuple)):   # [question, answer, skill]
            return cls(str(d[0]), str(d[1]), str(d[2]))
        return cls(str(d["question"]), str(d["answer"]), str(d["skill"]))


@dataclass(frozen=True)
class Proposition:
    """DPG-Bench's structure behind a question (one per Spec.questions entry, same order): its proposition id, the
    ids it depends on (0: none), its tuple ("attribute - color (car, red)": L2 category "attribute - color", L1
    "attribute") and its row in the question file (the reference script drops row 0)."""
    id: int
    dependencies: tuple[int, ...]
    tuple: str
    row: int

    @property
    def l2(self) -> str:
        return self.tuple.split("(")[0].strip()

    @property
    def l1(self) -> str:
        return self.l2.split("-")[0].strip()

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "dependencies": list(self.dependencies), "tuple": self.tuple, "row": self.row}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Proposition":
        return cls(int(d["id"]), tuple(int(x) for x in d.get("dependencies") or ()), str(d["tuple"]), int(d["row"]))


@dataclass(frozen=True)
class Spec:
    phrases: tuple[str, ...] = ()
    objects: tuple[ObjectSpec, ...] = ()
    relation: Optional[Relation] = None
    subcategory: Optional[str] = None
    exclude: tuple[Exclusion, ...] = ()
    # Prompts with several relations (HRS-Bench medium/hard) list them all; `relation` is the first.
    extra_relations: tuple[Relation, ...] = ()
    clip_text: Optional[str] = None   # the text CLIPScore compares (complex: the prompt without adjectives)
    # The benchmark's own questions for a VQA judge (GenEval 2's vqa_list with its skills), and its atom count;
    # suites without them get questions generated from the spec (eclipse_bench.prompts.questions)
    questions: tuple[Question, ...] = ()
    atoms: Optional[int] = None
    propositions: tuple[Proposition, ...] = ()

    @property
    def relations(self) -> tuple[Relation, ...]:
        return ((self.relation,) if self.relation else ()) + self.extra_relations

    def to_json(self) -> dict[str, Any]:
        d = {
            "phrases": list(self.phrases),
            "objects": [{"noun": o.noun, "attributes": list(o.attributes), "count": o.count} for o in self.objects],
            "relation": self.relation.to_json() if self.relation else None,
            "subcategory": self.subcategory,
            "exclude": [asdict(e) for e in self.exclude],
        }
        if self.extra_relations:
            d["extra_relations"] = [r.to_json() for r in self.extra_relations]
        if self.clip_text is not None:
            d["clip_text"] = self.clip_text
        if self.questions:   # only when set: the hashes of suites without them stay as they were
            d["questions"] = [q.to_json() for q in self.questions]
        if self.atoms is not None:
            d["atoms"] = self.atoms
        if self.propositions:
            d["propositions"] = [p.to_json() for p in self.propositions]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Spec":
        rel = d.get("relation")
        return cls(
            phrases=tuple(d.get("phrases") or ()),
            objects=tuple(
                ObjectSpec(o["noun"], tuple(o.get("attributes") or ()), o.get("count")) for o in d.get("objects") or ()
            ),
            relation=Relation.from_json(rel) if rel else None,
            subcategory=d.get("subcategory"),
            exclude=tuple(Exclusion(e["noun"], int(e["count"])) for e in d.get("exclude") or ()),
            extra_relations=tuple(Relation.from_json(r) for r in d.get("extra_relations") or ()),
            clip_text=d.get("clip_text"),
            questions=tuple(Question.from_json(q) for q in d.get("questions") or ()),
            atoms=None if d.get("atoms") is None else int(d["atoms"]),
            propositions=tuple(Proposition.from_json(p) for p in d.get("propositions") or ()),
        )


_SAFE_ID = re.compile(r"[^A-Za-z0-9.-]+")


def check_name(value: Any, name: str) -> None:
    """A name that becomes part of a path (--name, a pairing's name): never empty, '.' or '..', no folder separator."""
    text = str(value)
    if not text.strip() or text in (".", "..") or any(c in text for c in "/\\\0"):
        raise UserError(f"{name} {text!r}: a name becomes a folder of runs/, so it cannot be empty, '.' or '..' or "
                        f"hold a '/' or '\\'; use letters, digits and - _ .")


def safe_id(text: str) -> str:
    """An id usable in file names: no '/', '_' or spaces survive."""
    return _SAFE_ID.sub("-", text).strip("-.") or "item"


@dataclass(frozen=True)
class Item:
    id: str
    prompt: str
    category: str
    spec: Spec
    level: Optional[str] = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "prompt": self.prompt, "category": self.category, "level": self.level,
                "spec": self.spec.to_json()}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Item":
        return cls(id=d["id"], prompt=d["prompt"], category=d.get("category") or "", level=d.get("level"),
                   spec=Spec.from_json(d.get("spec") or {}))


@dataclass
class Suite:
    name: str
    source: str                 # where the prompts came from (file, upstream commit, "built-in")
    default_metric: str
    items: list[Item] = field(default_factory=list)
    images_per_prompt: int = 10           # the benchmark's protocol (T2I-CompBench 10, GenEval 4, HRS 3)
    extracted: bool = False               # specs parsed from the prompt text (T2I-CompBench, user files)
    # "module:function" (prompt_id, n) -> (prompt_id, n) | reason: the image this suite's own reference scripts
    # score for a sample, used by --reference-compat (HRS-Bench's level offset and image 00); "" for none
    reference_images: str = ""

    @property
    def hash(self) -> str:
        """Changes when and only when the prompt list or the specs change."""
        h = hashlib.sha256()
        for item in self.items:
            h.update(json.dumps(item.to_json(), sort_keys=True, ensure_ascii=False).encode("utf-8"))
            h.update(b"\n")
        return h.hexdigest()

    def limit(self, n: Optional[int], mode: str = "stratified") -> "Suite":
        """At most n items. "stratified" (default): the first n of stratified_order(), kept in suite order, so every
        category, tag and level is represented and "overall" means the same thing; deterministic. "first": the first
        n items."""
        if n is None or n >= len(self.items):
            return self
        if mode == "first":
            return replace(self, items=self.items[:n])
        chosen = {id(item) for item in self.stratified_order()[:n]}
        return replace(self, items=[item for item in self.items if id(item) in chosen])

    def stratified_order(self) -> list:
        """Every item, round-robin over the (category, level) groups in suite order: --limit n takes the first n, so
        a smaller --limit is always a prefix of a larger one (generation batches follow this order, keys.py)."""
        groups: dict[tuple, list] = {}
        for item in self.items:
            groups.setdefault((item.category, item.level), []).append(item)
        queues = list(groups.values())
        return [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]
