"""The run directory's schema: typed, versioned records for manifest.json, results.json and the JSONL records
(images, evidence, samples). Every reader and writer goes through it: the runner, scoring and rescore, compare,
reports, export, prior-eval and the tests' fixtures.

Version 2 (eclipse-bench 0.2) writes `schema_version`; a file without it is version 1 (eclipse-bench 0.1), read by
migrating it in memory (the fields 0.2 added get their defaults; its evidence keys cannot be rebuilt, so `rescore`
refuses it with one line). A file of a newer version than this one is refused with one line naming the version.
Anything that does not match is a UserError naming the file (and line), the field and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.record import Record, SchemaError
from eclipse_bench.bench.core.store import jsonl_lines, loads, shard_files

SCHEMA_VERSION = 3
MIGRATABLE = (1, 2)   # older versions read as they are (2: the same files, the older finished marker) or migrated (1)


# -- the records ---------------------------------------------------------------------------------------------

@dataclass
class SuiteInfo(Record):
    name: str
    source: str
    hash: str
    n_prompts: int
    reference_images: Optional[str] = None   # "module:function" the suite's reference scripts score by (HRS)
    extra: dict = field(default_factory=dict)


@dataclass
class MetricInfo(Record):
    name: str
    version: str
    scorers: str
    models: dict
    identities: dict = field(default_factory=dict)     # provider -> identity (what its evidence keys hash)
    reference_compat: bool = False
    equivalence: str = "reference"
    reference_models: str = ""
    thresholds: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


@dataclass
class Manifest(Record):
    """manifest.json: what a run is (pairing, suite, metric, settings) and how to key it (identities)."""
    pairing: dict
    suite: SuiteInfo
    metric: MetricInfo
    settings: dict
    schema_version: int = SCHEMA_VERSION
    tool: str = "eclipse-bench"
    version: str = ""
    git_revision: Optional[str] = None
    created: str = ""
    identities: dict = field(default_factory=dict)     # checkpoints: {id: identity}; providers: {scorers: {...}}
    specs: dict = field(default_factory=dict)
    source: dict = field(default_factory=lambda: {"kind": "generated"})
    versions: dict = field(default_factory=dict)
    platform: str = ""
    command: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def pairing_name(self) -> str:
        return str(self.pairing.get("name", ""))

    @property
    def images_per_prompt(self) -> int:
        return int(self.settings.get("images_per_prompt") or 0)


@dataclass
class Results(Record):
    """results.json: the aggregate of one metric over a run."""
    pairing: str
    suite: str
    metric: str
    score: Optional[float]
    ci95: list
    n_prompts: int
    n_images: int
    n_unscorable: int = 0
    schema_version: int = SCHEMA_VERSION
    aggregate: str = "mean"
    scale: str = "0-1"
    metric_version: str = ""
    reference_compat: bool = False
    evidence_models: dict = field(default_factory=dict)
    equivalence: str = "reference"
    reference_models: str = ""
    thresholds: dict = field(default_factory=dict)
    specs: dict = field(default_factory=dict)
    suite_hash: str = ""
    scorers: str = "real"
    images_per_prompt: int = 0
    seed: Optional[int] = None
    limit: Optional[int] = None
    timings: dict = field(default_factory=dict)
    pooled: Optional[float] = field(default=None, metadata={"omit_none": True})       # HRS: one pooled figure
    by_level: Optional[dict] = field(default=None, metadata={"omit_none": True})
    by_category: Optional[dict] = field(default=None, metadata={"omit_none": True})
    # imported runs scored with --allow-missing: {"n_prompts": the suite's, "missing_prompts": [ids without images]}
    coverage: Optional[dict] = field(default=None, metadata={"omit_none": True})
    # the benchmark's own analysis tables (GenEval 2: per skill, per atom count): {title: {group: value}}
    breakdowns: Optional[dict] = field(default=None, metadata={"omit_none": True})
    # generated runs: how the images were made and what that guarantees (scoring.generation_label)
    generation: Optional[dict] = field(default=None, metadata={"omit_none": True})
    extra: dict = field(default_factory=dict)


@dataclass
class ImageRecord(Record):
    """images.jsonl: one generated (or imported) image, stored at `image` under its sample key, with the sha256 of
    its bytes (checked whenever it is reused or scored; evidence keys hash it)."""
    key: str
    prompt_id: str
    n: int
    image: str
    seed: Optional[int] = None
    sha256: Optional[str] = None    # None only in run schema 1 (eclipse-bench 0.1)
    # generated by a batch plan (keys.batch_plan) of this batch size, where (generator.environment); absent: imported,
    # or made before batch plans (eclipse-bench 0.2)
    batch_size: Optional[int] = field(default=None, metadata={"omit_none": True})
    environment: Optional[str] = field(default=None, metadata={"omit_none": True})
    extra: dict = field(default_factory=dict)

    @property
    def orientation(self) -> Optional[int]:
        """An imported image's EXIF orientation (2-8: scored upright), recorded at import; None: as stored."""
        o = self.extra.get("exif_orientation")
        return o if isinstance(o, int) and not isinstance(o, bool) and 2 <= o <= 8 else None


@dataclass
class EvidenceRecord(Record):
    """evidence/<provider>.jsonl: one provider's model outputs for one image, under its evidence key."""
    key: str
    evidence: dict
    sample: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class Sample(Record):
    """samples.jsonl: one scored image (score null: unscorable, `reason` says why)."""
    key: str
    prompt_id: str
    prompt: str
    n: int
    image: str
    score: Optional[float]
    seed: Optional[int] = None
    category: str = ""
    level: Optional[str] = None
    spec: dict = field(default_factory=dict)
    reason: str = ""
    details: dict = field(default_factory=dict)
    evidence: dict = field(default_factory=dict)
    evidence_keys: dict = field(default_factory=dict)
    batch_size: Optional[int] = field(default=None, metadata={"omit_none": True})    # as in its ImageRecord
    environment: Optional[str] = field(default=None, metadata={"omit_none": True})
    extra: dict = field(default_factory=dict)


@dataclass
class PriorResults(Record):
    """prior_eval/results.json: prior-only metrics of a pairing's prior and its baselines on a suite."""
    pairing: str
    suite: str
    n_prompts: int
    seeds: list
    models: dict                     # model name -> summary (alignment, contrast, margin, diversity, ...)
    prior: str = ""                  # the name of the evaluated prior among `models`
    schema_version: int = SCHEMA_VERSION
    limit: Optional[int] = None
    device: str = ""
    dtype: str = "fp32"
    run_dir: str = ""
    identities: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


# -- reading ---------------------------------------------------------------------------------------------------

def check_version(d: dict, path: Path) -> int:
    """The run schema version of a run file; a newer or unknown one is refused naming the file."""
    return _version_of(d, path)


def _version_of(d: dict, path: Path) -> int:
    v = d.get("schema_version", 1)
    if not isinstance(v, int) or isinstance(v, bool):
        raise SchemaError(f"{path}: schema_version must be an integer (got {v!r}); the file is damaged")
    if v > SCHEMA_VERSION:
        raise SchemaError(f"{path} was written with run schema {v} by a newer eclipse-bench (this one reads up to "
                          f"{SCHEMA_VERSION}); upgrade eclipse-bench to read it")
    if v != SCHEMA_VERSION and v not in MIGRATABLE:
        raise SchemaError(f"{path}: run schema {v} is not supported; re-run `eclipse-bench run` into a new directory")
    return v


def load_json(path: Path, what: str) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path} not found: is {path.parent} a run directory written by `eclipse-bench run`?") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a directory, not the run's {what}; the run directory is damaged") from None
    except UnicodeDecodeError:
        raise SchemaError(f"{path}: {what} is not UTF-8 text (damaged)") \
            from None
    try:
        doc = loads(text)
    except (ValueError, RecursionError) as exc:
        line = getattr(exc, "lineno", "?")
        why = str(exc) if "not a number" in str(exc) else "not valid JSON"
        raise SchemaError(f"{path}:{line}: {what} is {why} (damaged)") from None
    if not isinstance(doc, dict):
        raise SchemaError(f"{path}: {what} must be a JSON object (got {type(doc).__name__})")
    return doc


def _checked(cls: Any, doc: dict, path: Path, what: str) -> Any:
    try:
        return cls.from_json(doc, "")
    except SchemaError as exc:
        raise SchemaError(f"{path}: {what}: {exc}") from None


def migrate_manifest(doc: dict) -> dict:
    """Version 1 (eclipse-bench 0.1) -> 2, in memory: the fields 0.2 added, with the values 0.1 implied."""
    doc = dict(doc)
    suite = dict(doc.get("suite") or {})
    if isinstance(suite.get("name"), str) and suite["name"].startswith("hrs/"):
        suite.setdefault("reference_images", "eclipse_bench.prompts.suites.hrs:reference_image")
    doc["suite"] = suite
    doc.setdefault("identities", {})
    doc["schema_version"] = SCHEMA_VERSION
    doc["migrated_from"] = 1
    return doc


def read_manifest(run_dir: Path, name: str = "manifest.json") -> Manifest:
    path = Path(run_dir) / name
    doc = load_json(path, "manifest")
    if _version_of(doc, path) == 1:
        doc = migrate_manifest(doc)
    return _checked(Manifest, doc, path, "manifest")


def read_results(run_dir: Path, name: str = "results.json") -> Results:
    path = Path(run_dir) / name
    doc = load_json(path, "results")
    if _version_of(doc, path) == 1:
        doc = {**doc, "schema_version": SCHEMA_VERSION, "migrated_from": 1}
    return _checked(Results, doc, path, "results")


def read_prior_results(folder: Path) -> PriorResults:
    path = Path(folder) / "results.json"
    doc = load_json(path, "prior-eval results")
    if _version_of(doc, path) == 1:
        doc = {**doc, "schema_version": SCHEMA_VERSION, "migrated_from": 1}
    return _checked(PriorResults, doc, path, "prior-eval results")


def migrated(record: Record) -> Optional[int]:
    """The version a record was migrated from in memory, or None."""
    return getattr(record, "extra", {}).get("migrated_from")


def read_records(path: Path, cls: Any) -> Iterator[Any]:
    """Typed records of one JSONL run file (store.read_jsonl: a torn last line is skipped, any other damage is an
    error naming file:line)."""
    return parse_jsonl(path, cls)


def parse_jsonl(path: Path, cls: Any, limit: Optional[int] = None) -> Iterator[Any]:
    """Typed records of one JSONL run file, of its first `limit` bytes (a state's sealed prefix) where given."""
    for lineno, doc in jsonl_lines(path, limit):
        try:
            yield cls.from_json(doc, "")
        except SchemaError as exc:
            raise SchemaError(f"{path}:{lineno}: {exc}; restore the file, or delete the line to have that work redone "
                              f"by the next run") from None


def read_all(folder: Path, stem: str, cls: Any) -> Iterator[Any]:
    """Typed records of `stem`.jsonl and of every shard's `stem`.shard-I-of-N.jsonl in `folder`."""
    for path in shard_files(folder, stem):
        yield from read_records(path, cls)
