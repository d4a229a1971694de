"""An OpenAI-compatible server over the tiny twins, for the served-model tests and scripts/bench_served.py. It listens
on 127.0.0.1 only (a free port), in a thread of the calling process, and is stopped by the caller.

- GET  /v1/models: the judge and the image model it serves.
- POST /v1/chat/completions: the tiny Qwen3-VL twin answers one question about one image with max_tokens 1, as
  vLLM does: the chat template with the image, one forward pass through stock transformers (no code of
  eclipse-bench's judge), log-softmax of the last position, the top_logprobs best tokens by their decoded text (-1:
  the whole vocabulary).
- POST /v1/images/generations: the tiny Stable Diffusion twin through diffusers' stock StableDiffusionPipeline; n
  images of `size`, each from a generator seeded by the prompt, the request's `seed` (when sent) and its index, so
  a request repeated gives the same bytes (what the fault tests compare).

Faults (`server.faults`: a list consumed one per request of the given path): "429" (with Retry-After), "500",
"slow" (answers after `slow_seconds`), "drop" (closes the connection without an answer), "malformed" (200 with a
body that is not JSON), "not-an-image" (200 with images whose bytes are not an image), "401", "404". `server.counts` counts requests per path; `server.image_requests` counts
image requests per (prompt, seed).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

JUDGE_NAME = "tiny-qwen3-vl"
IMAGE_MODEL = "tiny-sd"


class TwinModels:
    """The twins, loaded once, used under one lock (a forward pass at a time)."""

    def __init__(self, judge: bool = True, images: bool = True):
        import torch
        from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

        from eclipse_bench.bench.core.tiny import resolve

        self.lock = threading.Lock()
        self.torch = torch
        if judge:
            self.judge_dir = resolve("tiny:qwen3-vl")
            self.processor = AutoProcessor.from_pretrained(self.judge_dir)
            self.model = Qwen3VLForConditionalGeneration.from_pretrained(self.judge_dir).eval()
        if images:
            from diffusers import StableDiffusionPipeline

            import eclipse_bench.bench.generation.families.diffusers  # noqa: F401 - registers the twin

            self.pipe = StableDiffusionPipeline.from_pretrained(resolve("tiny:stable-diffusion"))
            self.pipe.set_progress_bar_config(disable=True)

    def top_logprobs(self, image, text: str, k: int) -> tuple[list, int]:
        torch = self.torch
        messages = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": text}]}]
        inputs = self.processor.apply_chat_template(messages, tokenize=True, add_generation_prompt=True,
                                                    return_dict=True, return_tensors="pt")
        with self.lock, torch.no_grad():
            logits = self.model(**inputs).logits[0, -1].float()
        logp = torch.log_softmax(logits, dim=-1)
        k = logp.numel() if k == -1 else min(k, logp.numel())
        values, ids = logp.topk(k)
        tok = self.processor.tokenizer
        return [(tok.decode([int(i)]), float(v)) for v, i in zip(values, ids)], int(inputs["input_ids"].shape[1])

    def images(self, prompt: str, n: int, size: str, seed: Optional[int]) -> list[bytes]:
        torch = self.torch
        w, _, h = size.partition("x")
        out = []
        for i in range(n):
            digest = hashlib.sha256(f"{prompt}|{seed}|{i}".encode()).digest()
            g = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2 ** 63 - 1))
            with self.lock:
                im = self.pipe(prompt, height=int(h), width=int(w), num_inference_steps=2, generator=g,
                               output_type="pil").images[0]
            buf = io.BytesIO()
            im.save(buf, format="PNG")
            out.append(buf.getvalue())
        return out


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, models: TwinModels, max_logprobs: int = 20):
        super().__init__(("127.0.0.1", 0), Handler)
        self.models, self.max_logprobs = models, max_logprobs
        self.faults: list[tuple[str, str]] = []      # (path suffix, fault), consumed in order
        self.slow_seconds = 2.0
        self.latency = 0.0   # seconds added to every answer, outside the model's lock (a remote server's round trip)
        self.counts: Counter = Counter()
        self.image_requests: Counter = Counter()
        self.expected_key: Optional[str] = None
        self.seen_keys: list = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self) -> "Server":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
        self.server_close()

    def fault_for(self, path: str) -> Optional[str]:
        with self.lock:
            for i, (suffix, fault) in enumerate(self.faults):
                if path.endswith(suffix):
                    return self.faults.pop(i)[1]
        return None


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True   # headers and body go out at once (no 40 ms delayed-ACK stall per answer)

    def log_message(self, *args: Any) -> None:   # quiet
        pass

    def _send(self, code: int, doc: Any = None, raw: Optional[bytes] = None, headers: Optional[dict] = None) -> None:
        body = raw if raw is not None else json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _fault(self) -> bool:
        """Apply the next fault for this path; True when the request is answered (or dropped) by it."""
        fault = self.server.fault_for(self.path)
        if fault is None:
            return False
        if fault == "429":
            self._send(429, {"error": {"message": "rate limited (test)"}}, headers={"Retry-After": "0.05"})
        elif fault == "500":
            self._send(500, {"error": {"message": "internal error (test)"}})
        elif fault == "401":
            self._send(401, {"error": {"message": "invalid key (test)"}})
        elif fault == "404":
            self._send(404, {"error": {"message": "no such model (test)"}})
        elif fault == "malformed":
            self._send(200, raw=b'{"choices": [truncated')
        elif fault == "not-an-image":   # as many as any request may ask for (n <= 10)
            self._send(200, {"created": 0, "data": [{"b64_json": base64.b64encode(b"not an image").decode()}] * 10})
        elif fault == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
        elif fault == "slow":
            time.sleep(self.server.slow_seconds)
            return False
        return True

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.counts[self.path] += 1
        self.server.seen_keys.append(self.headers.get("Authorization"))
        if self._fault():
            return
        if self.path.rstrip("/").endswith("/v1/models"):
            self._send(200, {"object": "list", "data": [
                {"id": JUDGE_NAME, "object": "model", "root": "tiny:qwen3-vl", "owned_by": "eclipse-bench-tests"},
                {"id": IMAGE_MODEL, "object": "model", "root": "tiny:stable-diffusion",
                 "owned_by": "eclipse-bench-tests"}]})
        else:
            self._send(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        with self.server.lock:
            self.server.counts[self.path] += 1
        self.server.seen_keys.append(self.headers.get("Authorization"))
        if self.server.expected_key and self.headers.get("Authorization") != f"Bearer {self.server.expected_key}":
            self._send(401, {"error": {"message": "invalid key"}})
            return
        if self._fault():
            return
        if self.server.latency:
            time.sleep(self.server.latency)
        if self.path.endswith("/chat/completions"):
            self._chat(body)
        elif self.path.endswith("/images/generations"):
            self._images(body)
        else:
            self._send(404, {"error": {"message": f"no route {self.path}"}})

    def _chat(self, body: dict) -> None:
        from PIL import Image

        if body.get("model") != JUDGE_NAME:
            self._send(404, {"error": {"message": f"model {body.get('model')!r} not served"}})
            return
        k = int(body.get("top_logprobs") or 0)
        limit = self.server.max_logprobs   # -1: no limit (vLLM's --max-logprobs -1)
        if limit != -1 and (k == -1 or k > limit):
            self._send(400, {"error": {"message": f"top_logprobs {k} exceeds max_logprobs "
                                                  f"{self.server.max_logprobs}"}})
            return
        content = body["messages"][0]["content"]
        url = next(c["image_url"]["url"] for c in content if c["type"] == "image_url")
        text = next(c["text"] for c in content if c["type"] == "text")
        image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
        top, n_prompt = self.server.models.top_logprobs(image, text, k)
        entries = [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in top]
        self._send(200, {"id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                         "model": JUDGE_NAME, "choices": [{
                             "index": 0, "message": {"role": "assistant", "content": top[0][0]},
                             "logprobs": {"content": [{**entries[0], "top_logprobs": entries}]},
                             "finish_reason": "length"}],
                         "usage": {"prompt_tokens": n_prompt, "completion_tokens": 1, "total_tokens": n_prompt + 1}})

    def _images(self, body: dict) -> None:
        if body.get("model") != IMAGE_MODEL:
            self._send(404, {"error": {"message": f"model {body.get('model')!r} not served"}})
            return
        n, size, seed = int(body.get("n") or 1), str(body.get("size") or "64x64"), body.get("seed")
        with self.server.lock:
            self.server.image_requests[(body["prompt"], seed)] += 1
        data = self.server.models.images(body["prompt"], n, size, seed)
        self._send(200, {"created": int(time.time()), "data": [{"b64_json": base64.b64encode(d).decode()}
                                                               for d in data],
                         "usage": {"input_tokens": len(body["prompt"].split()), "output_tokens": 64 * n,
                                   "total_tokens": len(body["prompt"].split()) + 64 * n}})
