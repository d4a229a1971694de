"""prior-eval inside a training loop: every N steps the prior in memory is judged on a fixed prompt set (eval mode,
no gradients, its training mode and the random number generators' states restored afterwards), the numbers are
appended to a small JSONL curve, and sent to experiment trackers.

- `prior_eval_every(n_steps, prior, text_encoder, tokenizer, ...)` for plain or accelerate loops: call the returned
  object with the step after each optimiser step; with `accelerator=` it logs through the accelerator's own trackers
  (`accelerator.log`), else through `log_to=` trackers of its own (closed by `.close()`).
- `PriorEvalCallback(...)` for transformers' Trainer (the prior is the Trainer's model, or `prior=` / a
  `get_prior(model)` for a model that holds it); exported as `eclipse_bench.callbacks.PriorEvalCallback`.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import random
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from eclipse_bench.bench.app.prior_eval import DEFAULT_SEEDS, prior_eval
from eclipse_bench.bench.app.trackers import open_tracker, prior_scalars, trackers_of
from eclipse_bench.bench.core.store import append_jsonl

CURVE = "prior_eval_curve.jsonl"


class _RandomState:
    """Python's, numpy's and torch's (CPU and every CUDA device) generator states, put back on exit."""

    def __enter__(self) -> "_RandomState":
        import torch  # lazy: torch

        self.torch = torch
        self.py, self.np, self.cpu = random.getstate(), np.random.get_state(), torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        return self

    def __exit__(self, *exc: Any) -> None:
        random.setstate(self.py)
        np.random.set_state(self.np)
        self.torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            self.torch.cuda.set_rng_state_all(self.cuda)


class PriorEvalEvery:
    """The callable `prior_eval_every` returns: `self(step)` evaluates at every n-th step (and returns the numbers),
    else returns None."""

    def __init__(self, n_steps: int, prior: Any, text_encoder: Any, tokenizer: Any, suite: str = "color",
                 limit: Optional[int] = 32, seeds: Sequence[int] = DEFAULT_SEEDS, device: Optional[str] = None,
                 out: Optional[Path] = None, accelerator: Any = None, log_to: Optional[str] = None,
                 log_dir: Optional[Path] = None, project: str = "eclipse-bench", run_name: Optional[str] = None):
        if n_steps < 1:
            raise ValueError(f"n_steps must be at least 1 (got {n_steps})")
        self.n_steps, self.prior, self.text_encoder, self.tokenizer = n_steps, prior, text_encoder, tokenizer
        self.suite, self.limit, self.seeds, self.device = suite, limit, tuple(seeds), device
        self.out = Path(out) if out is not None else None
        self.accelerator, self.log_to = accelerator, trackers_of(log_to)
        self.log_dir = Path(log_dir) if log_dir else (self.out or Path(".")) / "eclipse-bench-logs"
        self.project, self.run_name = project, run_name or f"prior-eval/{suite}"
        self.trackers: dict = {}
        self.seconds: list[float] = []

    def __call__(self, step: int, prior: Any = None) -> Optional[dict]:
        if step % self.n_steps:
            return None
        return self.evaluate(step, prior)

    def evaluate(self, step: int, prior: Any = None) -> dict:
        prior = prior if prior is not None else self.prior
        device = self.device or _device_of(prior)
        t0 = time.perf_counter()
        with _RandomState():
            models = prior_eval(prior, self.text_encoder, self.tokenizer, suite=self.suite, seeds=self.seeds,
                                device=device, limit=self.limit)
        seconds = time.perf_counter() - t0
        self.seconds.append(seconds)
        scalars = prior_scalars({"suite": self.suite, "models": models})
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
            append_jsonl(self.out / CURVE, [{"step": step, "seconds": round(seconds, 4), "suite": self.suite,
                                             "limit": self.limit, "seeds": list(self.seeds), **scalars}])
        if self.accelerator is not None:
            self.accelerator.log(scalars, step=step)
        for name in self.log_to:
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    if name not in self.trackers:
                        self.log_dir.mkdir(parents=True, exist_ok=True)
                        self.trackers[name] = open_tracker(name, self.run_name, self.project, self.log_dir)
                    self.trackers[name].log(scalars, step=step)
            except Exception as exc:  # noqa: BLE001 - a tracker never stops training
                print(f"warning: prior-eval could not log to {name} ({type(exc).__name__}: {exc}); the curve is in "
                      f"{self.out / CURVE if self.out else 'the returned numbers'}")
        return models

    def close(self) -> None:
        for t in self.trackers.values():
            with contextlib.redirect_stdout(io.StringIO()):
                t.finish()
        self.trackers.clear()


def prior_eval_every(n_steps: int, prior: Any, text_encoder: Any, tokenizer: Any, **kwargs: Any) -> PriorEvalEvery:
    """prior-eval every `n_steps` steps of a plain or accelerate training loop (see PriorEvalEvery)."""
    return PriorEvalEvery(n_steps, prior, text_encoder, tokenizer, **kwargs)


def _device_of(model: Any) -> str:
    try:
        return str(next(model.parameters()).device)
    except (AttributeError, StopIteration):
        return "cpu"


def read_curve(out: Path) -> list[dict]:
    """The curve a PriorEvalEvery wrote: one dict per evaluation."""
    path = Path(out) / CURVE
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def __getattr__(name: str) -> Any:
    if name == "PriorEvalCallback":   # a transformers class: transformers is imported when it is first asked for
        return _callback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _callback_class() -> type:
    from transformers import TrainerCallback  # lazy: transformers

    class PriorEvalCallback(TrainerCallback):
        """prior-eval every `every` global steps of a transformers Trainer; the numbers also go to the Trainer's log
        history (trainer_state.json). The prior is `prior`, else `get_prior(model)`, else the Trainer's model."""

        def __init__(self, every: int, text_encoder: Any, tokenizer: Any, prior: Any = None,
                     get_prior: Optional[Callable[[Any], Any]] = None, **kwargs: Any) -> None:
            self.every, self.prior, self.get_prior = every, prior, get_prior
            self.runner = PriorEvalEvery(every, prior, text_encoder, tokenizer, **kwargs)

        def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> Any:
            if state.global_step % self.every == 0 and state.is_world_process_zero:
                target = self.prior if self.prior is not None else (
                    self.get_prior(model) if self.get_prior else model)
                models = self.runner.evaluate(state.global_step, target)
                state.log_history.append({"step": state.global_step,
                                          **prior_scalars({"suite": self.runner.suite, "models": models})})
            return control

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> Any:
            self.runner.close()
            return control

    return PriorEvalCallback
