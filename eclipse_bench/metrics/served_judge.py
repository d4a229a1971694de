"""The VQA judge behind an OpenAI-compatible server (vLLM, SGLang, LMDeploy, a hosted API): `--judge-endpoint URL`
(`--judge-model NAME`, `--judge-top-logprobs K|all`, `--concurrency N`).

Each question is one chat completion, as GenEval 2's protocol asks it: one user turn holding the image (a PNG of the
image's pixels, base64, inline) and the question's text, max_tokens=1, temperature 0, logprobs with the top K
alternatives of the first token. P(answer) sums, over the answer variants, the probability of the returned token
whose text is the variant (the reference sums the first tokens of the variants, and a chat model's vocabulary holds
"Yes", " yes", "three", " 3" as single tokens); a variant outside the top K counts 0, and the probability mass
outside the top K is recorded per question (`outside_mass`): the served P(answer) is the reference's full-softmax
value minus at most that. With `--judge-top-logprobs all` (vLLM started with --max-logprobs -1) the whole
distribution comes back and the numbers equal the in-process judge's up to the server's float precision.

Evidence keys name the protocol, the model name, K and the model the server reports for it (its `root`, and a
`revision` where the server gives one), never the URL or the key: the same model served elsewhere reuses the
evidence.
"""

from __future__ import annotations

import base64
import io
import math
import threading
from typing import Any, Optional, Sequence

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import Checkpoint
from eclipse_bench.bench.core.loaders import load
from eclipse_bench.bench.core.served import ServedClient, check_base_url, run_concurrently
from eclipse_bench.metrics.judge import TIFA_TEXT, VQASCORE_TEXT, YES_VARIANTS, answer_variants, probability
from eclipse_bench.prompts.questions import questions_for

PREFIX = "served:"
DEFAULT_TOP_LOGPROBS = 20
_SERVERS: dict = {}          # (url, model) -> the server's entry for the model (one GET per process)
_LOCK = threading.Lock()


def served_choice(endpoint: str, model: str, top_logprobs: Any = DEFAULT_TOP_LOGPROBS, concurrency: int = 8,
                  tokenizer: Optional[str] = None) -> str:
    """The judge option's value for a served judge: served:MODEL@URL#top_logprobs=K,concurrency=N,tokenizer=ID."""
    return f"{PREFIX}{model}@{check_base_url(endpoint, '--judge-endpoint')}#top_logprobs={top_logprobs}," \
           f"concurrency={concurrency},tokenizer={tokenizer or model}"


def parse_choice(choice: str) -> dict:
    """{"model", "url", "top_logprobs" (an int, or -1 for all), "concurrency"} of a served judge's option value."""
    body, _, opts = choice[len(PREFIX):].partition("#")
    model, sep, url = body.rpartition("@")
    if not sep or not model or not url:
        raise UserError(f"--judge {choice!r}: a served judge is served:MODEL@URL (use --judge-endpoint URL "
                        f"--judge-model MODEL)")
    out: dict[str, Any] = {"model": model, "url": url, "top_logprobs": DEFAULT_TOP_LOGPROBS, "concurrency": 8,
                           "tokenizer": model}
    for part in filter(None, opts.split(",")):
        k, _, v = part.partition("=")
        if k == "top_logprobs":
            out[k] = -1 if v == "all" else int(v)
        elif k == "concurrency":
            out[k] = int(v)
        elif k == "tokenizer":
            out[k] = None if v == "none" else v
    return out


def describe(choice: str) -> tuple[str, str, bool]:
    """(the served model's name, how it is asked, whether that is the full distribution) for labels."""
    cfg = parse_choice(choice)
    full = cfg["top_logprobs"] == -1
    how = (f"served judge, full distribution ({cfg['model']} at {cfg['url']})" if full else
           f"served judge, top-{cfg['top_logprobs']} logprobs ({cfg['model']} at {cfg['url']}): P(answer) misses "
           f"the probability of answer tokens outside the top {cfg['top_logprobs']}")
    return cfg["model"], how, full


def server_entry(url: str, model: str) -> dict:
    """The server's /models entry for the model (a one-line error when the server is down or does not list it)."""
    with _LOCK:
        if (url, model) not in _SERVERS:
            client = ServedClient(url, "--judge-endpoint", max_retries=2)
            try:
                _SERVERS[(url, model)] = client.model(model)
            finally:
                client.close()
        return _SERVERS[(url, model)]


def _png_b64(image: Any) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


class ServedJudge:
    """GenEval 2's judge questions sent to a served chat model; records shaped as the in-process judge's (variants
    keyed by their token text), plus the top-K bookkeeping."""

    def __init__(self, model_id: str, device: str = "cpu", batch_size: int = 64, revision: Optional[str] = None):
        cfg = parse_choice(model_id)
        self.model, self.url, self.k, self.concurrency = cfg["model"], cfg["url"], cfg["top_logprobs"], cfg["concurrency"]
        self.entry = server_entry(self.url, self.model)
        self.client = ServedClient(self.url, "--judge-endpoint")
        self.tokenizer = None
        if cfg["tokenizer"]:
            from transformers import AutoTokenizer  # lazy: transformers

            self.tokenizer = load(AutoTokenizer, cfg["tokenizer"], revision=revision)
        self.calls = 0

    @staticmethod
    def checkpoints(model_id: str) -> list:
        """The model's tokenizer only (the server holds the weights): it tells each answer variant's first token, the
        token the reference reads (" 1" starts with " " in Qwen's vocabulary); none: variants matched whole."""
        tok = parse_choice(model_id)["tokenizer"]
        return [Checkpoint("served judge's tokenizer", tok, expect=("tokenizer_config.json",))] if tok else []

    def first_token(self, variant: str) -> str:
        """The text of the variant's first token (the reference's answer token), or the variant itself without a
        tokenizer."""
        if self.tokenizer is None:
            return variant
        return self.tokenizer.decode([self.tokenizer.encode(variant, add_special_tokens=False)[0]])

    @staticmethod
    def requests_for(item: Any) -> int:
        """Requests an image of this prompt costs: one per question, and the VQAScore question."""
        return len(questions_for(item.spec)[0]) + 1

    @staticmethod
    def key_model(model_id: str) -> str:
        return PREFIX + parse_choice(model_id)["model"]

    @staticmethod
    def settings_for(model_id: str) -> dict:
        cfg = parse_choice(model_id)
        entry = server_entry(cfg["url"], cfg["model"])
        reported = {k: entry[k] for k in ("id", "root", "parent", "revision", "owned_by") if entry.get(k) is not None}
        return {"protocol": "served chat completion: image then text in one user turn, max_tokens 1, temperature 0, "
                            "P(answer) from the top-k logprobs of the first token",
                "top_logprobs": "all" if cfg["top_logprobs"] == -1 else cfg["top_logprobs"],
                "server_model": reported, "tifa_text": TIFA_TEXT, "vqascore_text": VQASCORE_TEXT,
                "variants": (f"the first token of each answer variant by the tokenizer of {cfg['tokenizer']}, matched by "
                             f"its text" if cfg["tokenizer"] else "each answer variant matched whole by token text") +
                            "; default and reference-compat digit sets"}

    def ask(self, job: tuple) -> dict:
        """One question: {"probs": {token text: probability} of the top-k first tokens of the answer, "returned": the
        probability they hold together}."""
        image_b64, text = job
        body = {"model": self.model, "max_tokens": 1, "temperature": 0, "logprobs": True, "top_logprobs": self.k,
                "messages": [{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image_b64}"}},
                    {"type": "text", "text": text}]}]}
        doc = self.client.request("POST", "chat/completions", body, check=_has_top_logprobs)
        top = doc["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        probs: dict[str, float] = {}
        returned = 0.0
        for t in top:
            p = math.exp(float(t["logprob"]))
            returned += p
            probs[t["token"]] = max(probs.get(t["token"], 0.0), p)   # a text two ids decode to: the likelier one
        return {"probs": probs, "returned": returned}

    def evidence(self, images: Sequence[Any], items: Sequence[Any],
                 previous: Sequence[dict] | None = None) -> list[dict[str, Any]]:
        plans, jobs = [], []
        for im, item in zip(images, items):
            questions, source = questions_for(item.spec)
            asked = [("tifa", q.question, q.answer, q.skill, TIFA_TEXT.format(question=q.question)) for q in questions]
            asked.append(("vqascore", item.prompt, "Yes", "prompt", VQASCORE_TEXT.format(prompt=item.prompt)))
            b64 = _png_b64(im)
            plans.append((im, source, asked, len(jobs)))
            jobs += [(b64, a[-1]) for a in asked]
        answers = run_concurrently(self.ask, jobs, self.concurrency)
        self.calls += 1
        records = []
        for im, source, asked, first in plans:
            rows = []
            for j, (kind, question, answer, skill, text) in enumerate(asked):
                answer_ = answers[first + j]
                got = answer_["probs"]
                if kind == "vqascore":
                    default = compat = list(YES_VARIANTS)
                else:
                    default, compat = answer_variants(question, answer), answer_variants(question, answer, True)
                top_token = max(got, key=got.get) if got else ""
                tokens = {v: self.first_token(v) for v in dict.fromkeys(default + compat)}
                row = {"kind": kind, "question": question, "answer": answer, "skill": skill, "text": text,
                       "variants": [[v, tokens[v]] for v in default],
                       "probs": {t: got.get(t, 0.0) for t in dict.fromkeys(tokens.values())},
                       "argmax": {"id": -1, "token": top_token, "p": got.get(top_token, 0.0)},
                       "outside_mass": max(0.0, 1.0 - answer_["returned"]),
                       "unmatched": [t for t in dict.fromkeys(tokens.values()) if t not in got]}
                if compat != default:
                    row["compat_variants"] = [[v, tokens[v]] for v in compat]
                row["p"] = probability(row)
                rows.append(row)
            records.append({"model": PREFIX + self.model, "source": source, "image_size": list(im.size),
                            "served": {"top_logprobs": "all" if self.k == -1 else self.k,
                                       "server_model": self.entry.get("root") or self.entry["id"]},
                            "questions": rows})
        return records


def _has_top_logprobs(doc: dict) -> bool:
    top = doc["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    return isinstance(top, list) and bool(top) and all(isinstance(t["token"], str) and
                                                        isinstance(t["logprob"], (int, float)) for t in top)
