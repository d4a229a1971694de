"""Finding the official benchmark files: $ECLIPSE_BENCH_DATA, the user cache, or a pinned download.

Files are never shipped with eclipse-bench. Each is pinned to an upstream commit and a sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.state import file_sha256
from eclipse_bench.bench.core.paths import cache_dir
from eclipse_bench.prompts.registry import pinned_files


@dataclass(frozen=True)
class Upstream:
    repo: str
    commit: str
    path: str  # folder inside the upstream repository ("" for its root)



def pinned() -> dict[str, tuple[Upstream, str]]:
    """local relative path -> (upstream, sha256), from every suite family's own table."""
    return pinned_files()




def upstream_url(relpath: str) -> str:
    up, _ = pinned()[relpath]
    name = relpath.split("/")[-1]
    inside_repo = f"{up.path.strip('/')}/{name}" if up.path.strip("/") else name   # "" = the repository's root
    return f"https://raw.githubusercontent.com/{up.repo}/{up.commit}/{inside_repo}"


GIT_BLOB = "gitblob:"   # a pin by git's blob id (the SHA-1 of "blob <size>\0<bytes>"): all that is known of a file


def digest_of(payload: bytes, pin: str) -> str:
    """The payload's digest in the pin's kind: a git blob id for "gitblob:..." pins, else its sha256."""
    if pin.startswith(GIT_BLOB):
        return GIT_BLOB + hashlib.sha1(b"blob %d\0" % len(payload) + payload).hexdigest()
    return hashlib.sha256(payload).hexdigest()


def _check(path: Path, relpath: str, where: str) -> Path:
    up, expected = pinned()[relpath]
    if os.environ.get("ECLIPSE_BENCH_VERIFY", "1") != "0" and (
            digest_of(path.read_bytes(), expected) if expected.startswith(GIT_BLOB) else file_sha256(path)) != expected:
        raise UserError(
            f"{path} ({where}) does not match the pinned {up.repo}@{up.commit[:10]} file "
            f"({'git blob id' if expected.startswith(GIT_BLOB) else 'sha256'} differs); "
            f"replace it with the pinned file, or set ECLIPSE_BENCH_VERIFY=0 to use it anyway"
        )
    recorded = path.with_name(path.name + ".sha256")
    if os.environ.get("ECLIPSE_BENCH_VERIFY", "1") != "0" and recorded.is_file() and \
            recorded.read_text().strip() != file_sha256(path):
        raise UserError(f"{path} ({where}) changed since it was downloaded (its sha256 differs from {recorded}); "
                        f"delete both and fetch it again")
    return path


def locate(relpath: str, download: bool = True) -> Path:
    """Path of an official benchmark file, downloading and verifying it if needed."""
    if relpath not in pinned():
        raise KeyError(relpath)
    data = os.environ.get("ECLIPSE_BENCH_DATA")
    if data:
        candidate = Path(data).expanduser() / relpath
        if candidate.is_file():
            return _check(candidate, relpath, "from $ECLIPSE_BENCH_DATA")
    cached = cache_dir() / "benchmarks" / relpath
    if cached.is_file():
        return _check(cached, relpath, "in the user cache")
    if not download:
        raise _missing(relpath, cached, "downloads disabled")
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("ECLIPSE_BENCH_OFFLINE") == "1":
        raise _missing(relpath, cached, "offline: HF_HUB_OFFLINE or ECLIPSE_BENCH_OFFLINE is set, nothing is downloaded")
    url = upstream_url(relpath)
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            payload = resp.read()
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise _missing(relpath, cached, f"download failed: {getattr(exc, 'reason', exc)}") from None
    got = digest_of(payload, pinned()[relpath][1])
    if got != pinned()[relpath][1]:
        raise UserError(f"downloaded {url} but its digest {got[:20]}... is not the pinned one; try again later")
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cached.parent, delete=False) as tmp:
        tmp.write(payload)
    os.replace(tmp.name, cached)
    if pinned()[relpath][1].startswith(GIT_BLOB):   # pinned by a git blob id: its sha256 recorded at first download
        cached.with_name(cached.name + ".sha256").write_text(hashlib.sha256(payload).hexdigest() + "\n")
    return cached


def _missing(relpath: str, cached: Path, why: str) -> UserError:
    return UserError(
        f"benchmark file {relpath} not found ({why}); put the official files under $ECLIPSE_BENCH_DATA "
        f"(e.g. ECLIPSE_BENCH_DATA=/path/to/benchmarks with {relpath} inside), or copy it to {cached}, "
        f"or run `eclipse-bench suites fetch` on a machine with internet access"
    )


def read_lines(relpath: str) -> list[str]:
    """The non-empty lines of an official text file (located and verified)."""
    path = locate(relpath)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def jsonl_objects(path: Path) -> list[tuple[int, dict]]:
    """(line number, object) of each non-empty line of an official JSONL file; a line that is not JSON is an error
    naming it."""
    out = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        try:
            out.append((i + 1, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{i + 1}: not JSON ({exc.msg})") from None
    return out
