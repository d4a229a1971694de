"""Prior-only evaluation: a prior judged in its decoder's CLIP space, without decoding a single image.

`eclipse-bench prior-eval --prior NAME --suite S` loads the pairing's text encoder and prior only (no decoder,
no scorer), predicts the image embedding of every (prompt, seed) with the same seeded noise as `run`, and
scores alignment, compositional contrast against counterfactual prompts and diversity across seeds
(eclipse_bench.metrics.prior), beside two baselines: the prompt's own text embedding used as the prediction,
and, where the pairing has one, the diffusion prior of the same decoder. Embeddings are stored under content
keys in RUN_DIR/prior_eval/, so a re-run computes nothing twice.

`eclipse_bench.prior_eval(prior, text_encoder, tokenizer, suite=...)` does the same on in-memory modules, for a
training loop.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from eclipse_bench.bench.app.options import PriorEvalOptions
from eclipse_bench.bench.app.preflight import pairing_checkpoints, preflight
from eclipse_bench.bench.app.rundir import check_owner, default_out
from eclipse_bench.bench.app.trackers import log_dir_for, log_prior_to_trackers
from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import CHECKPOINT_FIELDS, Identities, digest, image_seed, pairing_identity
from eclipse_bench.bench.core.loaders import default_device
from eclipse_bench.bench.core.schema import PriorResults, read_prior_results
from eclipse_bench.bench.core.store import RunLock, append_jsonl, atomic_write_json, atomic_write_jsonl, read_jsonl
from eclipse_bench.bench.generation.pairings import PAIRINGS, get_pairing
from eclipse_bench.metrics.prior import prompt_scores, summarise
from eclipse_bench.prompts.counterfactuals import counterfactuals
from eclipse_bench.prompts.load import load_suite
from eclipse_bench.reports.prior import render_prior

DEFAULT_SEEDS = (42, 43, 44, 45)


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.asarray(a, dtype=np.float32).tobytes()).decode()


def _unb64(s: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(s), dtype=np.float32)


@dataclass
class PriorModel:
    """What prior-eval needs of a model: embed(prompts, seeds) -> (text, predicted) and text(texts) -> embeddings."""
    name: str
    embed: Callable[[Sequence[str], Sequence[int]], tuple[Any, Any]]
    text: Callable[[Sequence[str]], Any]
    identity: Optional[dict] = None       # for cache keys (None: in memory, not cached)
    echo_text: bool = False               # the text baseline: predicts the text embedding the first model saw


def _np(t: Any) -> np.ndarray:
    return t.detach().float().cpu().numpy() if hasattr(t, "detach") else np.asarray(t, dtype=np.float32)


def evaluate(models: Sequence[PriorModel], items: Sequence[Any], seeds: Sequence[int], batch_size: int = 64,
             store: Optional["EmbeddingStore"] = None) -> dict:
    """Scores of each model on the items: {"models": {name: summary}, "prompts": [per-prompt rows]}."""
    cfs = {i.id: counterfactuals(i.prompt, i.spec, i.category) for i in items}
    cf_texts = list(dict.fromkeys(c.prompt for cs in cfs.values() for c in cs))
    pairs = [(i, n, s) for i in items for n, s in enumerate(seeds)]
    text_model = models[0]   # every model of one evaluation shares the decoder's text tower
    t0 = time.perf_counter()
    cf_emb = dict(zip(cf_texts, _np(text_model.text(cf_texts)))) if cf_texts else {}
    seconds = {"counterfactual_texts": time.perf_counter() - t0}
    out_models, rows = {}, {i.id: {"prompt_id": i.id, "prompt": i.prompt, "category": i.category,
                                   "counterfactuals": [{"kind": c.kind, "prompt": c.prompt} for c in cfs[i.id]],
                                   "models": {}} for i in items}
    first_texts: dict[str, np.ndarray] = {}
    for model in models:
        t0 = time.perf_counter()
        preds: dict[str, list] = {i.id: [None] * len(seeds) for i in items}
        texts: dict[str, np.ndarray] = {}
        todo = []
        if model.echo_text:  # no model work: each prediction is the prompt's text embedding
            for item in items:
                texts[item.id] = first_texts[item.id]
                preds[item.id] = [first_texts[item.id]] * len(seeds)
            pairs_todo = []
        else:
            pairs_todo = pairs
        for item, n, seed in pairs_todo:
            hit = store.get(model, item.prompt, seed) if store else None
            if hit is None:
                todo.append((item, n, seed))
            else:
                texts[item.id], preds[item.id][n] = hit
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            text, pred = model.embed([b[0].prompt for b in batch], [b[2] for b in batch])
            text, pred = _np(text), _np(pred)
            for (item, n, seed), t, p in zip(batch, text, pred):
                texts[item.id], preds[item.id][n] = t, p
            if store:
                store.put(model, [(b[0], b[2]) for b in batch], text, pred)
        if not first_texts:
            first_texts = dict(texts)
        scored = []
        for item in items:
            r = prompt_scores(np.stack(preds[item.id]), texts[item.id],
                              [(c.kind, cf_emb[c.prompt]) for c in cfs[item.id]])
            rows[item.id]["models"][model.name] = r
            scored.append({**r, "category": item.category})
        out_models[model.name] = {**summarise(scored), "seconds": round(time.perf_counter() - t0, 3),
                                  "embedded": len(todo)}
    return {"models": out_models, "prompts": list(rows.values()), "seconds": seconds, "seeds": list(seeds)}


class EmbeddingStore:
    """RUN_DIR/prior_eval/embeddings.jsonl: one record per (model identity, prompt, seed), appended."""

    def __init__(self, path: Path):
        self.path = path
        self.records = {r["key"]: r for r in read_jsonl(path)}

    @staticmethod
    def key(model: PriorModel, prompt: str, seed: int) -> str:
        return digest({"model": model.identity, "prompt": prompt, "seed": seed})

    def get(self, model: PriorModel, prompt: str, seed: int):
        if model.identity is None:
            return None
        r = self.records.get(self.key(model, prompt, seed))
        return None if r is None else (_unb64(r["text"]), _unb64(r["embedding"]))

    def put(self, model: PriorModel, batch: list, text: np.ndarray, pred: np.ndarray) -> None:
        if model.identity is None:
            return
        recs = [{"key": self.key(model, item.prompt, seed), "model": model.name, "prompt_id": item.id, "seed": seed,
                 "text": _b64(t), "embedding": _b64(p)} for (item, seed), t, p in zip(batch, text, pred)]
        append_jsonl(self.path, recs)
        self.records.update({r["key"]: r for r in recs})


def _generator_model(name: str, spec: Any, device: str, dtype: str, identities: Any) -> PriorModel:
    """A pairing's text encoder and prior (prior_only: no decoder is loaded), keyed by the checkpoints it loads."""
    from eclipse_bench.bench.generation.generator import load_generator  # lazy: torch

    loaded = pairing_checkpoints(spec, prior_only=True)
    ids = {c.id for c in loaded}
    for c in loaded:
        identities(c.id, c.kind)   # here or recorded: pinned below; else the load downloads it
    gen = load_generator(spec, device, dtype, prior_only=True,
                         revisions={i: r for i in ids if (r := identities.revision(i))})
    for c in loaded:
        if identities(c.id, c.kind) is None:
            raise UserError(f"{c.role} checkpoint {c.id}: loaded, but not found in the cache afterwards")
    fields = [f for f in CHECKPOINT_FIELDS if getattr(spec, f) in ids]
    return PriorModel(name, gen.embed, gen.text_embeddings,
                      {"prior-eval": pairing_identity(spec, dtype, identities, fields=fields), "model": name})


def _text_baseline(base: PriorModel) -> PriorModel:
    """The prompt's own text embedding as the prediction (the one the evaluated prior was given)."""
    return PriorModel("text-embedding baseline", base.embed, base.text, None, echo_text=True)


def _recorded(folder: Path) -> dict:
    """The checkpoint identities an earlier prior-eval of this directory recorded (its embeddings are keyed by them)."""
    if not (folder / "results.json").is_file():
        return {}
    return read_prior_results(folder).identities.get("checkpoints") or {}


def diffusion_counterpart(spec: Any) -> Optional[Any]:
    """The registered diffusion prior for the same decoder (same family, decoder and prior pipeline), if any."""
    if spec.prior == "diffusion":
        return None
    for name in PAIRINGS.names():
        other = PAIRINGS.get(name)
        if (other.family, other.prior, other.decoder_id, other.prior_pipeline_id) == \
                (spec.family, "diffusion", spec.decoder_id, spec.prior_pipeline_id):
            return other
    return None


def run_prior_eval(opts: PriorEvalOptions) -> PriorResults:
    """`eclipse-bench prior-eval`: the pairing's text encoder and prior only, its predictions for every (prompt, seed)
    and the baselines, scored in the decoder's CLIP space; writes RUN_DIR/prior_eval/."""
    opts.validate()
    baselines = opts.baseline_list()
    spec = get_pairing(opts.pairing)
    if spec.prior == "text":
        raise UserError(f"pairing {opts.pairing!r} has no prior (it feeds the text embedding); prior-eval shows that "
                        f"baseline beside every prior: evaluate a pairing with a prior")
    if spec.prior == "none":
        raise UserError(f"pairing {opts.pairing!r} is a text-to-image pipeline without a separate prior; prior-eval "
                        f"judges the prior of an unCLIP pairing (eclipse-karlo, eclipse-kandinsky, karlo, kandinsky)")
    spec = spec.with_checkpoints(opts.prior_checkpoint, None)
    device, dtype, limit, batch_size = opts.device or default_device(), opts.dtype, opts.limit, opts.batch_size
    suite = load_suite(opts.suite, opts.split).limit(limit, opts.limit_mode)
    ipp = opts.images_per_prompt or suite.images_per_prompt
    seeds = [image_seed(opts.seed, n) for n in range(ipp)]
    run_dir = Path(opts.out) if opts.out else default_out(spec.name, suite)
    check_owner(run_dir, spec.name, suite.name)
    counterpart = diffusion_counterpart(spec) if "diffusion" in baselines else None
    # only what prior-eval loads: the text encoders and priors, never a decoder
    preflight(pairing_checkpoints(spec, prior_only=True) +
              (pairing_checkpoints(counterpart, prior_only=True) if counterpart is not None else []))
    identities = Identities(_recorded(run_dir / "prior_eval"))
    folder = run_dir / "prior_eval"
    with RunLock(run_dir):
        models = [_generator_model(f"{spec.name} ({spec.prior} prior)", spec, device, dtype, identities)]
        if "text" in baselines:
            models.append(_text_baseline(models[0]))
        if counterpart is not None:
            models.append(_generator_model(f"{counterpart.name} (diffusion prior baseline)", counterpart, device,
                                           dtype, identities))
        t0 = time.perf_counter()
        res = evaluate(models, suite.items, seeds, batch_size, EmbeddingStore(folder / "embeddings.jsonl"))

        results = PriorResults(pairing=spec.name, suite=suite.name, n_prompts=len(suite.items), seeds=seeds,
                               limit=limit, device=device, dtype=dtype, prior=models[0].name, run_dir=str(run_dir),
                               identities={"checkpoints": identities.record()}, models=res["models"],
                               seconds={**res["seconds"], "total": time.perf_counter() - t0})
        atomic_write_jsonl(folder / "prompts.jsonl", res["prompts"])
        atomic_write_json(folder / "results.json", results.to_json())

        render_prior(folder, folder / "report.html")
    if opts.log_to:
        log_prior_to_trackers(results.to_json(), opts.log_to, log_dir_for(run_dir, opts.log_dir), opts.log_project,
                              opts.log_run_name, opts.log_step)
    return results


def prior_eval(prior: Any, text_encoder: Any, tokenizer: Any, suite: str = "color",
               seeds: Sequence[int] = DEFAULT_SEEDS, device: str = "cpu", limit: Optional[int] = None,
               split: str = "val", batch_size: int = 64) -> dict:
    """Prior-only metrics of an in-memory ECLIPSE-style prior (prior(noise, text_embeds, hidden, mask) -> image
    embeddings) with its CLIP text encoder (CLIPTextModelWithProjection) and tokenizer: no files written.
    Returns {model name: {"alignment", "contrast", "margin", "diversity", "by_category", "by_kind", ...}} for
    the prior and the text-embedding baseline; deterministic for fixed seeds."""
    import torch  # lazy: torch

    from eclipse_bench.bench.generation.generator import ClipTextEncoder, seeded_randn  # lazy: torch

    enc = ClipTextEncoder(tokenizer, text_encoder, device)
    params = list(prior.parameters()) if hasattr(prior, "parameters") else []
    dtype = params[0].dtype if params else torch.float32
    was_training = getattr(prior, "training", False)

    @torch.no_grad()
    def embed(prompts, seeds_):
        gens = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds_]
        cond = enc.encode_batch(list(prompts), compact=True)
        noise = seeded_randn((len(prompts), prior.config["embedding_dim"]), gens, device, dtype)
        return cond.embeds, prior(noise, cond.embeds, cond.hidden, cond.mask)

    items = load_suite(suite, split).limit(limit).items
    if hasattr(prior, "eval"):
        prior.eval()
    try:
        model = PriorModel("prior", embed, enc.embeds_only)
        res = evaluate([model, _text_baseline(model)], items, list(seeds), batch_size)
    finally:
        if was_training:
            prior.train()
    return res["models"]


def print_prior_results(r: PriorResults) -> None:
    """What `eclipse-bench prior-eval` prints: each model's scores, then the report's path."""
    f = lambda x: "n/a" if x is None else f"{x:.4f}"  # noqa: E731
    print(f"prior-eval {r.pairing} on {r.suite}: {r.n_prompts} prompts x {len(r.seeds)} seeds, "
          f"{r.seconds['total']:.1f} s")
    for name, m in r.models.items():
        print(f"  {name:48s} alignment {f(m['alignment'])}  contrast {f(m['contrast'])}  margin {f(m['margin'])}  "
              f"diversity {f(m['diversity'])}")
    print(f"report: {(Path(r.run_dir) / 'prior_eval' / 'report.html').resolve()}")
