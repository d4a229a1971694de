"""Loading models from hub ids, local directories or `tiny:` twins, with offline-friendly errors."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Optional

from eclipse_bench.bench.core import tiny
from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.paths import is_local


def default_device() -> str:
    """cuda where there is one, else cpu."""
    import torch  # lazy: torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def quiet() -> None:
    """No per-file loading bars: eclipse-bench shows its own progress per stage."""
    import diffusers.utils.logging as dlog  # lazy: diffusers
    import transformers.utils.logging as tlog  # lazy: transformers

    tlog.disable_progress_bar()
    tlog.set_verbosity_error()
    dlog.disable_progress_bar()
    dlog.set_verbosity_error()


def load(cls: Any, model_id: str, subfolder: Optional[str] = None, revision: Optional[str] = None,
         **kwargs: Any) -> Any:
    """cls.from_pretrained(model_id, subfolder=...) with a one-line UserError when weights are missing. `revision`
    pins a hub id to the commit its cache keys name (eclipse_bench.bench.core.keys.Identities.revision)."""
    quiet()
    path = tiny.resolve(model_id)
    if revision and not is_local(path):
        kwargs["revision"] = revision
    where = f"{model_id}" + (f" (subfolder {subfolder})" if subfolder else "")
    if is_local(path) and not Path(os.path.expanduser(path)).exists():
        raise UserError(f"checkpoint directory {path} does not exist; pass an existing directory or a hub id")
    try:
        with warnings.catch_warnings():  # `torch_dtype` is being renamed `dtype`; older releases know only the former
            warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
            if subfolder:
                return cls.from_pretrained(os.path.expanduser(path), subfolder=subfolder, **kwargs)
            return cls.from_pretrained(os.path.expanduser(path), **kwargs)
    except RuntimeError as exc:  # e.g. weights whose shapes do not match the checkpoint's config
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot load {cls.__name__} from {where}: its weights do not fit its config ({first[:200]}); "
                        f"check that the checkpoint is complete and of the right model") from None
    except (OSError, ValueError) as exc:  # hub errors derive from these (LocalEntryNotFoundError, HTTP errors)
        if is_local(path):
            raise UserError(f"cannot load {cls.__name__} from {where}: {str(exc).splitlines()[0]}") from None
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
        why = "HF_HUB_OFFLINE is set" if offline else "the Hugging Face hub is unreachable or the id is wrong"
        raise UserError(
            f"cannot load {where}: its weights are not in the Hugging Face cache and {why}. Pre-download it on a "
            f"connected machine with `hf download {model_id}` (huggingface_hub) and copy the cache "
            f"(~/.cache/huggingface or $HF_HOME) here, or pass a local directory"
        ) from None
