"""How tests/data/v0.2-run/ was made (once, by eclipse-bench 0.2.0 at commit 7622eec, before the #25 layout change):
a run of the REAL pairing eclipse-karlo with REAL scorer ids (BLIP VQA) on builtin/color, 2 prompts x 1 image, whose
hub checkpoints were served from a throw-away Hugging Face cache holding the tiny twins' weights under the real
ids at a made-up commit. Its keys therefore hash hub ids and commits only (never a twin's code or library
versions), exactly as a run made with the real weights does, and the manifest records those identities.

tests/test_keys_unchanged.py reruns the same command on a copy with an empty model cache: every key must come out
the same, so nothing can be recomputed (any model load would fail offline) and the results must be identical.

Run from a checkout of that commit:  python tests/data/make_v02_run.py OUT_DIR
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"
TWINS = {"kakaobrain/karlo-v1-alpha": "karlo", "ECLIPSE-Community/ECLIPSE_Karlo_Prior": "eclipse-karlo-prior",
         "Salesforce/blip-vqa-capfilt-large": "blip-vqa"}


def main(out: str) -> int:
    hub = Path(tempfile.mkdtemp(prefix="fake-hub-"))
    os.environ["HF_HUB_CACHE"] = str(hub)
    os.environ["HF_HUB_OFFLINE"] = "1"
    from eclipse_bench.bench.core import tiny
    from eclipse_bench.bench.app.cli import main as cli
    from eclipse_bench.metrics.registry import PROVIDERS
    from eclipse_bench.bench.generation.pairings import PAIRINGS

    PROVIDERS.names(), PAIRINGS.names()   # the twins register with their modules
    for hub_id, twin in TWINS.items():
        repo = hub / f"models--{hub_id.replace('/', '--')}"
        shutil.copytree(tiny.materialise(twin), repo / "snapshots" / COMMIT)
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(COMMIT)
    rc = cli(["run", "--prior", "eclipse-karlo", "--suite", "builtin/color", "--limit", "2", "--images-per-prompt",
              "1", "--scorers", "real", "--device", "cpu", "--out", out, "--no-progress"])
    shutil.rmtree(hub)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
