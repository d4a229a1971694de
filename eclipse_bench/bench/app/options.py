"""Run options, each defined once: a dataclass field whose metadata gives its flags, help, type, default, checks and
its YAML key. argparse (`eclipse-bench run`, `prior-eval`), `--config FILE` checking, the manifest's settings and
the Python API all derive from these fields; prior-eval shares the fields it has in common with run.

Adding a run option is one field (docs/extending.md shows one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Optional


from eclipse_bench.bench.app.trackers import check_trackers, log_to_trackers
from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import BASE_SEED
from eclipse_bench.metrics.judge import REAL_JUDGE
from eclipse_bench.metrics.registry import provider_option as provider_option_def
from eclipse_bench.metrics.served_judge import served_choice
from eclipse_bench.prompts.spec import check_name

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


def _top_logprobs(value: Any, name: str) -> None:
    if str(value) != "all" and not (str(value).isdigit() and int(value) >= 1):
        raise UserError(f"{name} {value!r}: a positive integer (hosted APIs allow up to 20; vLLM up to its "
                        f"--max-logprobs) or 'all' (vLLM started with --max-logprobs -1)")


def check_device(device: Optional[str], name: str = "--device") -> None:
    """A device string torch understands and this machine has; else a one-line error."""
    if device is None:
        return
    import torch  # lazy: torch

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


# -- the options ---------------------------------------------------------------------------------------------------

def provider_option(option: str) -> Any:
    """The run option that picks an evidence provider's model (--judge, --detector): its help and the values it takes
    are the provider definition's (eclipse_bench.metrics.registry.ProviderDef.option_help, option_choices)."""
    return field(default=None, metadata={"flags": (f"--{option}",), "help": "", "kind": "str", "choices": (),
                                         "metavar": "", "check": None, "yaml_key": "", "provider_option": option})


class Options:
    """What every options dataclass does: check each field (its own check, its choices, text paths) and the
    required ones (each group's REQUIRED: field -> the message), and list itself for the manifest."""

    REQUIRED: dict = {}

    @classmethod
    def required(cls) -> dict:
        out: dict = {}
        for klass in cls.__mro__:   # the command's own first (IMAGES, --prior), then --suite
            out.update({k: v for k, v in klass.__dict__.get("REQUIRED", {}).items() if k not in out})
        return out

    def validate(self) -> None:
        """Every field's own check (flags name the value), plus the choices."""
        for f in fields(self):
            value, meta = getattr(self, f.name), f.metadata
            name = meta["flags"][0] if meta.get("flags") else f.name
            choices = meta.get("choices") or ()
            if meta.get("provider_option") and value is not None:
                choices = provider_option_def(meta["provider_option"]).option_choices()
            if choices and value not in choices:
                raise UserError(f"{name} {value!r}: use one of {', '.join(str(c) for c in choices if c is not None)}")
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
        for name, message in self.required().items():
            if not getattr(self, name):
                raise UserError(message)

    def settings(self) -> dict:
        """Every option as the manifest records it (paths as text)."""
        return {f.name: (str(v) if isinstance(v := getattr(self, f.name), Path) else v) for f in fields(self)}


@dataclass
class CommonOptions(Options):
    """What every command that loads models takes."""
    device: Optional[str] = option(None, "--device", check=check_device,
                                   help="torch device (default: cuda if available, else cpu)")
    progress: bool = option(True, "--no-progress", kind="negated", yaml_key="no_progress", help="no progress bars")


@dataclass
class SuiteOptions(CommonOptions):
    """Which prompts, and where the run directory is."""
    REQUIRED = {"suite": "--suite is required (see `eclipse-bench list suites`)"}

    suite: Optional[str] = option(None, "--suite", help="suite name (color, builtin/color, hrs/spatial, geneval, ...) "
                                                        "or a JSONL file")
    split: str = option("val", "--split", choices=("val", "train", "all"),
                        help="T2I-CompBench file to use (default val, the 300 scored prompts)")
    limit: Optional[int] = option(None, "--limit", kind="int", check=_at_least_one,
                                  help="only N prompts (a stratified sample: every category, tag and level)")
    limit_mode: str = option("stratified", "--limit-mode", choices=("stratified", "first"),
                             help="how --limit picks prompts (default stratified; 'first' takes the first N)")
    out: Optional[Path] = option(None, "--out", kind="path",
                                 help="run directory (default runs/<pairing or --name>/<suite>)")


@dataclass
class ScoringOptions(Options):
    """How images are scored: the metric, its models and its rules."""
    metric: Optional[str] = option(None, "--metric", help="override the suite's default metric; see `list metrics`")
    scorers: Optional[str] = option(None, "--scorers", choices=(None, "real", "tiny"),
                                    help="scorer models (default real; tiny with tiny-* pairings)")
    reference_compat: bool = option(False, "--reference-compat", kind="bool",
                                    help="reproduce the reference tools' rules exactly (bugs included)")
    judge: Optional[str] = provider_option("judge")
    detector: Optional[str] = provider_option("detector")
    judge_endpoint: Optional[str] = option(None, "--judge-endpoint", metavar="URL",
                                           help="ask the judge served behind an OpenAI-compatible API (vLLM, SGLang, "
                                                "LMDeploy, a hosted API) at this base URL, e.g. "
                                                "http://127.0.0.1:8000/v1; the key is read from $ECLIPSE_BENCH_API_KEY "
                                                "(else $OPENAI_API_KEY) and never stored")
    judge_model: Optional[str] = option(None, "--judge-model", metavar="NAME",
                                        help="the served judge's model name (default Qwen/Qwen3-VL-8B-Instruct)")
    judge_top_logprobs: str = option("20", "--judge-top-logprobs", metavar="K", check=_top_logprobs,
                                     help="alternatives of the answer token a served judge returns (default 20; "
                                          "'all' with vLLM --max-logprobs -1: the full distribution)")
    judge_tokenizer: Optional[str] = option(None, "--judge-tokenizer", metavar="ID",
                                            help="the tokenizer that tells a served judge's answer tokens (default: "
                                                 "the --judge-model's own, a hub id; 'none': match answers whole)")
    concurrency: int = option(8, "--concurrency", kind="int", check=_at_least_one,
                              help="requests in flight to a served model (default 8)")
    max_requests: Optional[int] = option(None, "--max-requests", kind="int", check=_at_least_one,
                                         help="refuse, before any work, a run that needs more requests to served "
                                              "models than this")

    def validate(self) -> None:
        super().validate()
        if self.judge_endpoint and not str(self.judge or "").startswith("served:"):
            if self.judge:
                raise UserError(f"--judge {self.judge} and --judge-endpoint: choose one (a served judge's model is "
                                f"--judge-model)")
            self.judge = served_choice(self.judge_endpoint, self.judge_model or REAL_JUDGE, self.judge_top_logprobs,
                                       self.concurrency, self.judge_tokenizer)
        elif self.judge_model and not self.judge_endpoint:
            raise UserError("--judge-model names a served judge: give its --judge-endpoint URL too (a local "
                            "checkpoint is --judge ID)")

    def scorers_for(self, tiny_pairing: bool = False) -> str:
        """The scorer models: as chosen, else the twins' with a twin pairing (also with a checkpoint of the user's
        swapped in), else the real ones."""
        return self.scorers or ("tiny" if tiny_pairing else "real")


@dataclass
class TrackingOptions(Options):
    """Where the numbers go besides the run directory: experiment trackers (accelerate's tracking API)."""
    log_to: Optional[str] = option(None, "--log-to", metavar="TRACKERS", check=check_trackers,
                                   help="send the results to these trackers, comma-separated: wandb, tensorboard, "
                                        "trackio, mlflow, comet_ml, aim, clearml, dvclive, swanlab (never changes "
                                        "a key or a result; a tracker that fails is a warning)")
    log_dir: Optional[Path] = option(None, "--log-dir", kind="path",
                                     help="where file-based trackers write (default: eclipse-bench-logs beside the "
                                          "run directory, never inside it)")
    log_project: str = option("eclipse-bench", "--log-project", help="the trackers' project (default eclipse-bench)")
    log_run_name: Optional[str] = option(None, "--log-run-name",
                                         help="the trackers' run name (default PAIRING/SUITE)")
    log_step: Optional[int] = option(None, "--log-step", kind="int",
                                     help="the step the numbers are logged at (a training step, for sweeps)")

    def log(self, run_dir: Path, suffix: str = "") -> dict:
        """Send the run's committed results to the trackers asked for (nothing when none was)."""
        return log_to_trackers(run_dir, self.log_to or "", self.log_dir, self.log_project, self.log_run_name,
                               self.log_step, suffix)


@dataclass
class GenerationOptions(Options):
    """Which pairing, which seeds, which precision."""
    REQUIRED = {"pairing": "--prior is required (a pairing name; see `eclipse-bench list priors`)"}

    pairing: Optional[str] = option(None, "--prior", "--pairing", yaml_key="prior",
                                    help="pairing name (eclipse-karlo, eclipse-kandinsky, karlo, kandinsky, tiny-*); "
                                         "see `list priors`")
    images_per_prompt: Optional[int] = option(None, "--images-per-prompt", kind="int", check=_images_per_prompt,
                                              help="images (prior-eval: seeds) per prompt (default: the benchmark's "
                                                   "protocol, e.g. 10 for T2I-CompBench)")
    seed: int = option(BASE_SEED, "--seed", kind="int", check=_seed,
                       help="base seed; image n uses seed + n (default 42: seeds 42..51 for 10 images)")
    dtype: str = option("fp32", "--dtype", choices=("fp32", "fp16", "bf16"), help="model precision (default fp32)")
    prior_checkpoint: Optional[str] = option(None, "--prior-checkpoint",
                                             help="another prior checkpoint (directory or hub id) for the pairing")


@dataclass
class RunOptions(GenerationOptions, ScoringOptions, TrackingOptions, SuiteOptions):
    """`eclipse-bench run`."""
    batch_size: Any = option(4, "--batch-size", kind="batch", check=_batch_size,
                             help="images per generation batch, or 'auto' (default 4)")
    channels_last: bool = option(False, "--channels-last", kind="bool",
                                 help="UNets and MoVQ in channels_last memory format: faster convolutions, float "
                                      "rounding may differ (the images get their own cache keys)")
    overrides: dict = option(None, "--set", kind="set", metavar="KEY=VALUE", yaml_key="set",
                             help="override a pairing setting (e.g. decoder_steps=50); repeatable")
    decoder_checkpoint: Optional[str] = option(None, "--decoder-checkpoint",
                                               help="another decoder checkpoint (directory or hub id) for the pairing")
    pairings: Optional[Path] = option(None, "--pairings", kind="path", help="YAML file declaring more pairings")
    shard: Optional[tuple] = option(None, "--shard", kind="shard", check=_shard,
                                    help="I/N: do the I-th of N parts (job arrays); run once more without it to merge")

    def __post_init__(self) -> None:
        if self.overrides is None:
            self.overrides = {}


@dataclass
class ScoreOptions(ScoringOptions, TrackingOptions, SuiteOptions):
    """`eclipse-bench score IMAGES --suite S`: images made anywhere, imported and scored as a generated run is."""
    REQUIRED = {"images": "IMAGES is required: a folder of images, a GenEval 2 .json or a .jsonl manifest"}

    images: Optional[Path] = option(None, "images", kind="path",
                                    help="the images: a T2I-CompBench samples/ folder, a GenEval output folder, a GenEval "
                                         "2 {prompt: image} .json, or a .jsonl manifest")
    layout: str = option("auto", "--layout", choices=("auto", "t2i-compbench", "geneval", "geneval2", "manifest",
                                                      "dpg-bench"),
                         help="how the images are laid out (default auto: recognised, and said)")
    name: Optional[str] = option(None, "--name", check=check_name,
                                 help="the model's name on reports and leaderboards (default: the folder's name)")
    allow_missing: bool = option(False, "--allow-missing", kind="bool",
                                 help="score the prompts that have images; the others are recorded as missing (the "
                                      "compare gate counts them)")
    allow_extra: bool = option(False, "--allow-extra", kind="bool",
                               help="import although the folder holds files or folders the layout does not use "
                                    "(they are listed, and left out)")
    pic_num: int = option(4, "--pic-num", kind="int", check=_at_least_one,
                          help="dpg-bench layout: the images in each 2x2 grid, read in the script's order (default 4)")
    resolution: Optional[int] = option(None, "--resolution", kind="int", check=_at_least_one,
                                       help="dpg-bench layout: each grid cell's size in px (default: half the grid)")


@dataclass
class PriorEvalOptions(GenerationOptions, TrackingOptions, SuiteOptions):
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
