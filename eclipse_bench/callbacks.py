"""Training-loop hooks: prior-eval every N steps (eclipse_bench.bench.app.callbacks).

    from eclipse_bench.callbacks import PriorEvalCallback, prior_eval_every
    trainer.add_callback(PriorEvalCallback(500, text_encoder, tokenizer, out="runs/train", log_to="tensorboard"))
    evaluate = prior_eval_every(500, prior, text_encoder, tokenizer, out="runs/train", accelerator=accelerator)
"""

from __future__ import annotations

from typing import Any as _Any

from eclipse_bench.bench.app import callbacks as _callbacks
from eclipse_bench.bench.app.callbacks import PriorEvalEvery, prior_eval_every, read_curve

__all__ = ["PriorEvalCallback", "PriorEvalEvery", "prior_eval_every", "read_curve"]  # noqa: F822 - see __getattr__


def __getattr__(name: str) -> _Any:
    return getattr(_callbacks, name)   # PriorEvalCallback: built when first asked for (it imports transformers)
