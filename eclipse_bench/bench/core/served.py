"""A client for models served behind OpenAI-compatible HTTP APIs (vLLM, SGLang, LMDeploy, hosted APIs): the judge's
chat completions and the images API. httpx does the HTTP; this module adds what served evaluation needs:

- retries with exponential backoff on 429, 5xx, timeouts, dropped connections and malformed bodies, honouring
  Retry-After; a one-line error (UserError, exit 2) on 401/403 (the key), 404 (the endpoint or model) and 400 (the
  request, with the server's own message);
- counters (requests, retries, tokens and the cost where the server reports usage), thread-safe, so a pool of
  --concurrency threads shares one client;
- a request timeout of 300 s (ECLIPSE_BENCH_REQUEST_TIMEOUT overrides it);
- the API key read from an environment variable (ECLIPSE_BENCH_API_KEY, else OPENAI_API_KEY), sent as a bearer
  token and never written anywhere: not in the run directory, the manifest, keys or messages.
"""

from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

import httpx

from eclipse_bench.bench.core.errors import UserError

API_KEY_VARIABLES = ("ECLIPSE_BENCH_API_KEY", "OPENAI_API_KEY")
RETRY_STATUS = (408, 409, 425, 429, 500, 502, 503, 504)


class Malformed(ValueError):
    """A response body that is not what the endpoint promises (retried like a transient failure)."""


def api_key() -> tuple[Optional[str], Optional[str]]:
    """(the key, the variable it was read from), or (None, None)."""
    for name in API_KEY_VARIABLES:
        value = os.environ.get(name)
        if value:
            return value, name
    return None, None


def check_base_url(url: str, what: str) -> str:
    """An http(s) base URL without credentials in it (a key belongs in $ECLIPSE_BENCH_API_KEY), without a trailing
    slash."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(f"{what} {url!r}: expected an http(s) base URL such as http://127.0.0.1:8000/v1")
    if parts.username or parts.password:
        raise UserError(f"{what}: put the API key in ${API_KEY_VARIABLES[0]}, not in the URL (it would be recorded "
                        f"in the run's manifest)")
    return url.rstrip("/")


class ServedClient:
    """One server: `base_url` ends with the API root (".../v1"). `max_retries` transient failures per request, waits
    of backoff * 2**attempt seconds (jittered, capped at max_wait) unless the server says Retry-After."""

    def __init__(self, base_url: str, what: str, timeout: Optional[float] = None, max_retries: int = 6,
                 backoff: float = 0.5, max_wait: float = 60.0, sleep: Callable[[float], None] = time.sleep):
        self.base_url, self.what = check_base_url(base_url, what), what
        timeout = timeout or float(os.environ.get("ECLIPSE_BENCH_REQUEST_TIMEOUT") or 300)
        key, self.key_variable = api_key()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.Client(base_url=self.base_url + "/", timeout=timeout, headers=headers)
        self.max_retries, self.backoff, self.max_wait, self.sleep = max_retries, backoff, max_wait, sleep
        self.lock = threading.Lock()
        self.counters = {"requests": 0, "retries": 0, "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0,
                         "cost": 0.0}
        self.started = time.perf_counter()

    def close(self) -> None:
        self.http.close()

    def _count(self, **kw: float) -> None:
        with self.lock:
            for k, v in kw.items():
                self.counters[k] = self.counters.get(k, 0) + v

    def usage(self, doc: dict) -> None:
        """Add the response's reported usage (tokens; a `cost` where the server reports one) to the counters."""
        u = doc.get("usage") if isinstance(doc, dict) else None
        if not isinstance(u, dict):
            return
        self._count(**{k: float(u[k]) for k in ("prompt_tokens", "completion_tokens", "total_tokens", "cost",
                                                  "input_tokens", "output_tokens")
                       if isinstance(u.get(k), (int, float)) and not isinstance(u.get(k), bool)})

    def models(self) -> list[dict]:
        """The models the server lists (GET /models)."""
        doc = self.request("GET", "models", check=lambda d: isinstance(d.get("data"), list))
        return [m for m in doc["data"] if isinstance(m, dict) and isinstance(m.get("id"), str)]

    def model(self, name: str) -> dict:
        """The server's entry for `name`; a model it does not list is a one-line error naming those it does."""
        listed = self.models()
        for m in listed:
            if m["id"] == name:
                return m
        names = ", ".join(m["id"] for m in listed) or "none"
        raise UserError(f"{self.what} {self.base_url}: the server does not list model {name!r} (it lists: {names}); "
                        f"pass one of those")

    def request(self, method: str, path: str, body: Optional[dict] = None,
                check: Callable[[dict], bool] = lambda d: True, parse: Callable[[dict], Any] = lambda d: d) -> Any:
        """`parse` of the JSON response of one request (the response itself by default), retried on transient
        failures; `check` says whether a body has the promised shape, and a body that `check` refuses or `parse`
        cannot read (ValueError) is retried as malformed."""
        last = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                self._count(retries=1)
            self._count(requests=1)
            try:
                r = self.http.request(method, path, json=body)
            except httpx.TimeoutException:
                last = "timed out"
                self._wait(attempt, None)
                continue
            except httpx.TransportError as exc:   # refused, dropped connection, protocol error
                last = f"{type(exc).__name__}: {str(exc) or 'connection failed'}"
                self._wait(attempt, None)
                continue
            if r.status_code in (401, 403):
                how = f"the key in ${self.key_variable}" if self.key_variable else \
                    f"no key was sent: set ${API_KEY_VARIABLES[0]}"
                raise UserError(f"{self.what} {self.base_url}: {r.status_code} {r.reason_phrase} ({how}); fix the key "
                                f"and rerun (what was received is kept)")
            if r.status_code == 404:
                raise UserError(f"{self.what} {self.base_url}/{path}: 404 Not Found ({_message(r)}); check the URL "
                                f"(it ends with the API root, such as /v1) and the model name")
            if r.status_code in RETRY_STATUS:
                last = f"{r.status_code} {r.reason_phrase}"
                self._wait(attempt, r.headers.get("retry-after"))
                continue
            if r.status_code >= 400:
                raise UserError(f"{self.what} {self.base_url}/{path}: {r.status_code} {r.reason_phrase}: {_message(r)}")
            try:
                doc = r.json()
                if not isinstance(doc, dict) or not check(doc):
                    raise Malformed("unexpected shape")
                value = parse(doc)
            except (ValueError, KeyError, TypeError, IndexError):
                last = "a malformed response body"
                self._wait(attempt, None)
                continue
            self.usage(doc)
            return value
        raise UserError(f"{self.what} {self.base_url}/{path}: no answer after {self.max_retries + 1} tries (last: "
                        f"{last}); rerun when the server is back (what was received is kept)")

    def _wait(self, attempt: int, retry_after: Optional[str]) -> None:
        if attempt >= self.max_retries:
            return
        wait = None
        if retry_after:
            try:
                wait = float(retry_after)
            except ValueError:
                wait = None
        if wait is None:
            wait = self.backoff * 2 ** attempt * (0.5 + random.random() / 2)
        self.sleep(min(max(wait, 0.0), self.max_wait))

    def summary(self) -> dict:
        """The counters, with requests per second since the client was made."""
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        with self.lock:
            out = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.counters.items() if v}
        out["requests_per_second"] = round(self.counters["requests"] / elapsed, 3)
        return out


def _message(r: httpx.Response) -> str:
    """The server's error message, short."""
    try:
        doc = r.json()
        err = doc.get("error") if isinstance(doc, dict) else None
        msg = err.get("message") if isinstance(err, dict) else (err or doc.get("message") or doc.get("detail"))
        return str(msg)[:300] if msg else r.text[:300]
    except ValueError:
        return r.text[:300] or "no message"


def run_concurrently(fn: Callable[[Any], Any], items: list, concurrency: int,
                     on_done: Optional[Callable[[Any, Any], None]] = None) -> list:
    """fn over items with at most `concurrency` in flight; results in item order. `on_done(item, result)` is called
    on the calling thread as each finishes (so what arrived is stored even when a later item fails); the first error
    is raised after the items in flight have finished."""
    results: list = [None] * len(items)
    error: Optional[BaseException] = None
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="eclipse-bench-served") as pool:
        pending: dict = {}
        it = iter(enumerate(items))
        while True:
            while error is None and len(pending) < max(1, concurrency):
                nxt = next(it, None)
                if nxt is None:
                    break
                pending[pool.submit(fn, nxt[1])] = nxt
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                i, item = pending.pop(fut)
                try:
                    results[i] = fut.result()
                except BaseException as exc:  # noqa: BLE001 - the first is raised once the others finished
                    error = error or exc
                    continue
                if on_done is not None:
                    on_done(item, results[i])
    if error is not None:
        raise error
    return results
