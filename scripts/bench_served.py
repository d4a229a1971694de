"""The served judge against the in-process judge, and the served judge's throughput, on the tiny Qwen3-VL twin behind
the OpenAI-compatible test server (tests/served_server.py: stock transformers on 127.0.0.1, one forward pass at a
time), measured in one run:

- the gap: every question's P(answer) from the server's top-20 logprobs and from the whole distribution
  (`--judge-top-logprobs all`, vLLM's --max-logprobs -1) against eclipse-bench's in-process judge on the same images
  and questions: max and mean |dP|, the largest probability mass left outside the top k, and the Soft-TIFA (GM)
  difference per prompt;
- requests/s of the served judge at --concurrency 1, 4 and 16 (wall time of the evidence call, every request
  counted): against the test server as it is (one forward pass at a time on this machine's cores: the client's own
  cost shows) and with --latency seconds added to each answer outside the model (a remote server's round trip and
  queue: what concurrency is for).

    python scripts/bench_served.py [--suite geneval2] [--prompts 16] [--repeat 2]

The suite is GenEval 2 where its data is present ($ECLIPSE_BENCH_DATA or ../shared/benchmarks; questions from the
benchmark), else builtin/color (questions from the spec). Images are the tiny Stable Diffusion twin's, 64 px. The
tiny judge's vocabulary is 614 tokens, so the top 20 leave more mass out than a 151k-token Qwen3-VL-8B, whose answer
tokens dominate; the gap a real server shows is for its own model and is printed by the same script pointed at it
(--endpoint URL --model NAME --tokenizer HUB_ID, with --in-process-model HUB_ID for the oracle).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "benchmarks"
if "ECLIPSE_BENCH_DATA" not in os.environ and SHARED.is_dir():
    os.environ["ECLIPSE_BENCH_DATA"] = str(SHARED)
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", default=None, help="default: geneval2 when its data is present, else builtin/color")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=2, help="timed passes per concurrency (the best is reported)")
    ap.add_argument("--latency", type=float, default=0.05,
                    help="seconds the test server adds to each answer in the second throughput table (a remote "
                         "server's round trip and queue)")
    ap.add_argument("--endpoint", default=None, help="a real server instead of the tiny test server")
    ap.add_argument("--model", default=None)
    ap.add_argument("--tokenizer", default=None)
    ap.add_argument("--in-process-model", default=None)
    args = ap.parse_args()

    import torch
    from PIL import Image

    from eclipse_bench.bench.core.errors import UserError
    from eclipse_bench.metrics.judge import QwenJudge
    from eclipse_bench.metrics.served_judge import ServedJudge, served_choice
    from eclipse_bench.metrics.soft_tifa import soft_tifa_gm
    from eclipse_bench.prompts.load import load_suite
    from served_server import JUDGE_NAME, Server, TwinModels

    suite_name = args.suite
    if suite_name is None:
        try:
            load_suite("geneval2")
            suite_name = "geneval2"
        except UserError:
            suite_name = "builtin/color"
    items = list(load_suite(suite_name).items)[:args.prompts]

    twins = TwinModels(judge=args.endpoint is None, images=True)
    images = [Image.open(io.BytesIO(twins.images(it.prompt, 1, "64x64", 0)[0])).convert("RGB") for it in items]
    server = Server(twins, max_logprobs=-1) if args.endpoint is None else None
    url = server.url if server else args.endpoint
    model = args.model or JUDGE_NAME
    tokenizer = args.tokenizer or "tiny:qwen3-vl"

    print(f"# served judge vs in-process judge: {platform.processor() or platform.machine()}, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads; suite {suite_name}, {len(items)} prompts, "
          f"{'tiny Qwen3-VL twin behind tests/served_server.py' if server else url}")
    try:
        if server:
            server.__enter__()
        t0 = time.perf_counter()
        local = QwenJudge(args.in_process_model or "tiny:qwen3-vl").evidence(images, items)
        local_s = time.perf_counter() - t0
        n_questions = sum(len(r["questions"]) for r in local)
        print(f"in-process judge: {n_questions} questions in {local_s:.2f} s ({n_questions / local_s:.1f} "
              f"questions/s)")

        print("\n| served top-k | max abs dP | mean abs dP | max mass outside top k | max abs dSoft-TIFA (GM) per "
              "prompt | mean abs dSoft-TIFA |")
        print("|---|---|---|---|---|---|")
        for k in (20, "all"):
            judge = ServedJudge(served_choice(url, model, k, 8, tokenizer))
            served = judge.evidence(images, items)
            dp = [abs(a["p"] - b["p"]) for s, r in zip(served, local) for a, b in zip(s["questions"], r["questions"])]
            outside = max(q["outside_mass"] for s in served for q in s["questions"])
            dst = []
            for s, r, it in zip(served, local, items):
                a, b = soft_tifa_gm({"judge": s}, it.spec).score, soft_tifa_gm({"judge": r}, it.spec).score
                if a is not None and b is not None:
                    dst.append(abs(a - b))
            print(f"| {k} | {max(dp):.2e} | {statistics.mean(dp):.2e} | {outside:.3f} | {max(dst):.2e} | "
                  f"{statistics.mean(dst):.2e} |")
            judge.client.close()

        print("\n| server | concurrency | requests | seconds | requests/s |")
        print("|---|---|---|---|---|")
        for latency, c in [(lat, c) for lat in ((0.0, args.latency) if server else (0.0,)) for c in (1, 4, 16)]:
            if server:
                server.latency = latency
            best = None
            for _ in range(args.repeat):
                judge = ServedJudge(served_choice(url, model, 20, c, tokenizer))
                t0 = time.perf_counter()
                judge.evidence(images, items)
                s = time.perf_counter() - t0
                n = judge.client.summary()["requests"]
                judge.client.close()
                best = min(best or (s, n), (s, n))
            s, n = best
            where = (f"test server + {latency * 1000:.0f} ms per answer" if latency else "test server") if server \
                else url
            print(f"| {where} | {c} | {n} | {s:.2f} | {n / s:.1f} |")
    finally:
        if server:
            server.__exit__(None, None, None)


if __name__ == "__main__":
    main()
