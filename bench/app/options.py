"""Run options, each defined once: a dataclass field whose metadata gives its flags, help, type, default, checks and
its YAML key. argparse (`eclipse-bench run`, `prior-eval`), `--config FILE` checking, the manifest's settings and
the Python API all derive from these fields; prior-eval shares the fields it has in common with run.

Adding a run option is one field (docs/extending.md shows one).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Optional

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import BASE_SEED

MAX_SEED = 2 ** 63 - 1 - 10_000   # torch generators take 64-bit seeds; image n adds n
MAX_IMAGES_PER_PROMPT = 1000      # a machine-sized bound, checked before any work (#19)


def option(default: Any, *flags: str, help: str, kind: str = "str", choices: tuple = (), metavar: str = "",
           check: Optional[Callable[[Any, str], None]] = None, yaml_key: str = "") -> Any:
    """A run option. kind: str | int | path | bool (a switch: --flag) | negated (--no-X sets False) | batch (an
    integer or 'auto') | set (KEY=VALUE, repeatable) | shard (I/N). check(value, name) raises a UserError."""
    return field(default=default, metadata={"flags": flags, "help": help, "kind": kind, "choices": choices,
                                            "metavar": metavar, "check": check, "yaml_key": yaml_key})


# -- checks and parsers (value, the flag naming it) ------------------------------------------------------------

def _at_least_one(value: Any, name: str) -> None:
    if value is not None and value < 1:
        raise UserError(f"{name} must be at least 1 (got {value})")


def _images_per_prompt(value: Any, name: str) -> None:
    _at_least_one(value, name)
    if value is not None and value > MAX_IMAGES_PER_PROMPT:
        raise UserError(f"{name} {value}: at most {MAX_IMAGES_PER_PROMPT} images per prompt (the protocols use 1-10)")


def _seed(value: Any, name: str) -> None:
    if not 0 <= value <= MAX_SEED:
        raise UserError(f"{name} {value}: must be between 0 and {MAX_SEED} (image n uses seed + n)")


def _batch_size(value: Any, name: str) -> None:
    if value != "auto" and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise UserError(f"{name} must be a positive integer or 'auto' (got {value!r})")


def check_device(device: Optional[str], name: str = "--device") -> None:
    """A device string torch understands and this machine has; else a one-line error."""
    if device is None:
        return
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise UserError(f"{name} {device!r}: not a torch device; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"{name} {device}: no CUDA device is available here; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(f"{name} {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise UserError(f"{name} {device}: Apple MPS is not available here; use --device cpu")
    elif dev.type != "cpu":
        raise UserError(f"{name} {device}: eclipse-bench runs on cpu, cuda or mps")


def _shard(value: Any, name: str) -> None:
    i, n = value
    if not (isinstance(i, int) and isinstance(n, int) and n >= 1 and 0 <= i < n):
        raise UserError(f"{name} {value!r}: expected (index, count) with 0 <= index < count")


def parse_shard(text: str) -> tuple[int, int]:
    """'2/4' (1-based, as job arrays count) -> (1, 4)."""
    i, sep, n = str(text).partition("/")
    try:
        i_, n_ = int(i), int(n)
    except ValueError:
        raise UserError(f"--shard {text!r}: expected I/N, e.g. --shard 1/4") from None
    if not sep or not (1 <= i_ <= n_):
        raise UserError(f"--shard {text!r}: expected I/N with 1 <= I <= N")
    return i_ - 1, n_


def parse_set(values: Any) -> dict:
    """--set KEY=VALUE (repeatable; in a config file also a mapping or a list of KEY=VALUE) -> {key: value}."""
    if isinstance(values, dict):
        return dict(values)
    out = {}
    for v in [values] if isinstance(values, str) else list(values or ()):
        key, sep, raw = str(v).partition("=")
        if not sep or not key:
            raise UserError(f"--set {v!r}: expected key=value, e.g. --set decoder_steps=50")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


# -- the options -------------------------------------------------------------------------------------------------

def judge_option() -> Any:
    return option(None, "--judge", metavar="ID",
                  help="the VQA judge of the soft-tifa, tifa and vqascore metrics: another Qwen3-VL checkpoint (hub id "
                       "or directory) in place of Qwen/Qwen3-VL-8B-Instruct; recorded in the evidence keys")


def detector_option() -> Any:
    return option(None, "--detector", choices=(None, "yolo", "mask2former"),
                  help="the detector family of detection metrics: yolo (default) or mask2former (GenEval's "
                       "architecture, Mask2Former Swin-S COCO instance weights from transformers)")


class Options:
    """What every options dataclass does: check each field (its own check, its choices, text paths) and the
    required ones (REQUIRED: field -> the message), and list itself for the manifest."""

    REQUIRED: dict = {}

    def validate(self) -> None:
        """Every field's own check (flags name the value), plus the choices."""
        for f in fields(self):
            value, meta = getattr(self, f.name), f.metadata
            name = meta["flags"][0] if meta.get("flags") else f.name
            if meta.get("choices") and value not in meta["choices"]:
                raise UserError(f"{name} {value!r}: use one of {', '.join(map(str, meta['choices']))}")
            if meta.get("check") is not None and value is not None:
                meta["check"](value, name)
        for f in fields(self):   # paths and names go into JSON files and logs: they must be text
            value = getattr(self, f.name)
            if isinstance(value, (str, Path)):
                try:
                    str(value).encode("utf-8")
                except UnicodeEncodeError as exc:
                    bad = str(value)[exc.start:exc.end].encode("utf-8", "surrogateescape")
                    raise UserError(f"{f.metadata['flags'][0]}: {str(value).encode('utf-8', 'backslashreplace').decode()}"
                                    f" holds the byte {bad!r}, which is not UTF-8 text; use a name in UTF-8") from None
        for name, message in self.REQUIRED.items():
            if not getattr(self, name):
                raise UserError(message)

    def settings(self) -> dict:
        """Every option as the manifest records it (paths as text)."""
        return {f.name: (str(v) if isinstance(v := getattr(self, f.name), Path) else v) for f in fields(self)}


@dataclass
class CommonOptions(Options):
    """The options run and prior-eval share."""

    REQUIRED = {"pairing": "--prior is required (a pairing name; see `eclipse-bench list priors`)",
                "suite": "--suite is required (see `eclipse-bench list suites`)"}

    pairing: Optional[str] = option(None, "--prior", "--pairing", yaml_key="prior",
                                    help="pairing name (eclipse-karlo, eclipse-kandinsky, karlo, kandinsky, tiny-*); "
                                         "see `list priors`")
    suite: Optional[str] = option(None, "--suite", help="suite name (color, builtin/color, hrs/spatial, geneval, ...) "
                                                        "or a JSONL file")
    split: str = option("val", "--split", choices=("val", "train", "all"),
                        help="T2I-CompBench file to use (default val, the 300 scored prompts)")
    out: Optional[Path] = option(None, "--out", kind="path", help="run directory (default runs/<pairing>/<suite>)")
    limit: Optional[int] = option(None, "--limit", kind="int", check=_at_least_one,
                                  help="only N prompts (a stratified sample: every category, tag and level)")
    images_per_prompt: Optional[int] = option(None, "--images-per-prompt", kind="int", check=_images_per_prompt,
                                              help="images (prior-eval: seeds) per prompt (default: the benchmark's "
                                                   "protocol, e.g. 10 for T2I-CompBench)")
    seed: int = option(BASE_SEED, "--seed", kind="int", check=_seed,
                       help="base seed; image n uses seed + n (default 42: seeds 42..51 for 10 images)")
    device: Optional[str] = option(None, "--device", check=check_device,
                                   help="torch device (default: cuda if available, else cpu)")
    dtype: str = option("fp32", "--dtype", choices=("fp32", "fp16", "bf16"), help="model precision (default fp32)")
    prior_checkpoint: Optional[str] = option(None, "--prior-checkpoint",
                                             help="another prior checkpoint (directory or hub id) for the pairing")


@dataclass
class RunOptions(CommonOptions):
    """`eclipse-bench run`."""
    limit_mode: str = option("stratified", "--limit-mode", choices=("stratified", "first"),
                             help="how --limit picks prompts (default stratified; 'first' takes the first N)")
    batch_size: Any = option(4, "--batch-size", kind="batch", check=_batch_size,
                             help="images per generation batch, or 'auto' (default 4)")
    channels_last: bool = option(False, "--channels-last", kind="bool",
                                 help="UNets and MoVQ in channels_last memory format: faster convolutions, float "
                                      "rounding may differ (the images get their own cache keys)")
    metric: Optional[str] = option(None, "--metric", help="override the suite's default metric; see `list metrics`")
    scorers: Optional[str] = option(None, "--scorers", choices=(None, "real", "tiny"),
                                    help="scorer models (default: tiny with tiny-* pairings)")
    reference_compat: bool = option(False, "--reference-compat", kind="bool",
                                    help="reproduce the reference tools' rules exactly (bugs included)")
    judge: Optional[str] = judge_option()
    detector: Optional[str] = detector_option()
    overrides: dict = option(None, "--set", kind="set", metavar="KEY=VALUE", yaml_key="set",
                             help="override a pairing setting (e.g. decoder_steps=50); repeatable")
    decoder_checkpoint: Optional[str] = option(None, "--decoder-checkpoint",
                                               help="another decoder checkpoint (directory or hub id) for the pairing")
    pairings: Optional[Path] = option(None, "--pairings", kind="path", help="YAML file declaring more pairings")
    shard: Optional[tuple] = option(None, "--shard", kind="shard", check=_shard,
                                    help="I/N: do the I-th of N parts (job arrays); run once more without it to merge")
    progress: bool = option(True, "--no-progress", kind="negated", yaml_key="no_progress", help="no progress bars")

    def __post_init__(self) -> None:
        if self.overrides is None:
            self.overrides = {}


@dataclass
class PriorEvalOptions(CommonOptions):
    """`eclipse-bench prior-eval`."""
    batch_size: int = option(64, "--batch-size", kind="int", check=_at_least_one,
                             help="predictions per prior call (default 64)")
    baselines: str = option("text,diffusion", "--baselines",
                            help="comma-separated: text (the prompt's text embedding), diffusion (the decoder's "
                                 "diffusion prior, where the pairing has one); 'none' for neither")

    def baseline_list(self) -> tuple[str, ...]:
        chosen = tuple(b for b in self.baselines.split(",") if b and b != "none")
        unknown = [b for b in chosen if b not in ("text", "diffusion")]
        if unknown:
            raise UserError(f"--baselines {unknown[0]!r}: use text, diffusion or none")
        return chosen


@dataclass
class ScoreOptions(Options):
    """`eclipse-bench score IMAGES --suite S`: images made anywhere, imported and scored as a generated run is."""

    REQUIRED = {"images": "IMAGES is required: a folder of images, a GenEval 2 .json or a .jsonl manifest",
                "suite": "--suite is required (see `eclipse-bench list suites`)"}

    images: Optional[Path] = option(None, "images", kind="path",
                                    help="the images: a T2I-CompBench samples/ folder, a GenEval output folder, a GenEval "
                                         "2 {prompt: image} .json, or a .jsonl manifest")
    suite: Optional[str] = option(None, "--suite", help="the suite the images were made for (name or JSONL file)")
    split: str = option("val", "--split", choices=("val", "train", "all"), help="T2I-CompBench file (default val)")
    limit: Optional[int] = option(None, "--limit", kind="int", check=_at_least_one,
                                  help="the images are of N prompts of the suite, picked as `run --limit N` picks them")
    limit_mode: str = option("stratified", "--limit-mode", choices=("stratified", "first"),
                             help="how --limit picks prompts (default stratified, as run)")
    layout: str = option("auto", "--layout", choices=("auto", "t2i-compbench", "geneval", "geneval2", "manifest"),
                         help="how the images are laid out (default auto: recognised, and said)")
    name: Optional[str] = option(None, "--name", help="the model's name on reports and leaderboards (default: the "
                                                      "folder's name)")
    out: Optional[Path] = option(None, "--out", kind="path", help="run directory (default runs/<name>/<suite>)")
    metric: Optional[str] = option(None, "--metric", help="override the suite's default metric; see `list metrics`")
    scorers: str = option("real", "--scorers", choices=("real", "tiny"), help="scorer models (default real)")
    reference_compat: bool = option(False, "--reference-compat", kind="bool",
                                    help="reproduce the reference tools' rules exactly (bugs included)")
    judge: Optional[str] = judge_option()
    detector: Optional[str] = detector_option()
    allow_missing: bool = option(False, "--allow-missing", kind="bool",
                                 help="score the prompts that have images; the others are recorded as missing (the "
                                      "compare gate counts them)")
    device: Optional[str] = option(None, "--device", check=check_device,
                                   help="torch device for the scorers (default: cuda if available, else cpu)")
    progress: bool = option(True, "--no-progress", kind="negated", yaml_key="no_progress", help="no progress bars")


# -- deriving argparse and --config from the fields --------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser, cls: type, config: bool = True) -> None:
    """One argument per field of `cls` (default None: unset, so a config file can fill it)."""
    if config:
        parser.add_argument("--config", type=Path, help="YAML file of these options (keys as the long flags, "
                                                        "'-' or '_'); flags override it")
    for f in fields(cls):
        meta = f.metadata
        if not meta["flags"][0].startswith("-"):   # a positional argument
            parser.add_argument(f.name, type=Path if meta["kind"] == "path" else str, help=meta["help"])
            continue
        kw: dict[str, Any] = {"dest": f.name, "help": meta["help"], "default": None}
        kind = meta["kind"]
        if kind == "bool":
            kw["action"] = "store_true"
        elif kind == "negated":
            kw["action"] = "store_false"
        elif kind == "set":
            kw.update(action="append", metavar=meta["metavar"] or None)
        elif kind == "int":
            kw["type"] = int
        elif kind == "path":
            kw["type"] = Path
        if meta["choices"]:
            kw["choices"] = [c for c in meta["choices"] if c is not None]
        parser.add_argument(*meta["flags"], **kw)


def _yaml_key(f) -> str:
    return f.metadata.get("yaml_key") or f.metadata["flags"][0].lstrip("-")


def load_config(path: Optional[Path], cls: type) -> dict:
    """`--config FILE`: options keyed like the long flags ('-' or '_'), each checked for its kind; field name ->
    value."""
    if path is None:
        return {}
    import yaml

    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8-sig")) or {}
    except FileNotFoundError:
        raise UserError(f"--config {path}: file not found") from None
    except IsADirectoryError:
        raise UserError(f"--config {path}: is a directory; pass a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--config {path}: cannot read it ({exc})") from None
    except yaml.YAMLError as exc:
        raise UserError(f"--config {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict):
        raise UserError(f"--config {path}: expected a mapping of option: value")
    by_key = {}
    for f in fields(cls):
        for key in {_yaml_key(f), *(fl.lstrip("-") for fl in f.metadata["flags"]), f.name}:
            by_key[key.replace("-", "_")] = f
    out = {}
    for k, v in doc.items():
        f = by_key.get(str(k).replace("-", "_"))
        if f is None:
            raise UserError(f"--config {path}: unknown option {k!r}")
        kind = f.metadata["kind"]
        ok = {"int": isinstance(v, int) and not isinstance(v, bool), "bool": isinstance(v, bool),
              "negated": isinstance(v, bool), "batch": v == "auto" or (isinstance(v, int) and not isinstance(v, bool)),
              "set": isinstance(v, (dict, list, str)), "path": isinstance(v, str), "shard": isinstance(v, str),
              }.get(kind, isinstance(v, str)) or v is None
        if not ok:
            want = {"int": "an integer", "bool": "true or false", "negated": "true or false",
                    "batch": "an integer or 'auto'"}.get(kind, "a string")
            raise UserError(f"--config {path}: option {k!r} must be {want} (got {v!r})")
        if kind == "negated" and v is not None:
            v = not v   # no_progress: true -> progress False
        out[f.name] = v
    return out


def from_namespace(cls: type, a: argparse.Namespace) -> Any:
    """Options from parsed flags over the --config file over the defaults, converted and validated."""
    conf = load_config(getattr(a, "config", None), cls)
    values = {}
    for f in fields(cls):
        flag_value = getattr(a, f.name, None)
        value = flag_value if flag_value is not None else conf.get(f.name)
        kind = f.metadata["kind"]
        if kind == "set":
            value = {**parse_set(conf.get(f.name)), **parse_set(flag_value)}
        elif value is None:
            continue
        elif kind == "batch" and value != "auto":
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise UserError(f"--batch-size {value!r}: expected a positive integer or 'auto'") from None
        elif kind == "shard":
            value = parse_shard(value)
        elif kind == "path":
            value = Path(value)
        values[f.name] = value
    opts = cls(**values)
    opts.validate()
    return opts
