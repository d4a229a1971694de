"""How tests/data/keys_v0.2.json was made (once, by eclipse-bench 0.2.0 at 7622eec, before the #25 layout change):
sample and evidence keys of real pairings and real scorers whose checkpoint identities are recorded (hub id @ a
made-up commit), so they hash no twin code and no library version. Run from a checkout of that commit:
    python tests/data/make_v02_keys.py OUT.json
"""
import hashlib, json, sys
from eclipse_bench.bench.core.keys import Identities, plan_samples
from eclipse_bench.bench.generation.pairings import get_pairing
from eclipse_bench.bench.app.preflight import pairing_checkpoints
from eclipse_bench.metrics.registry import METRICS, PROVIDERS
from eclipse_bench.metrics.stage import assign_evidence_keys
from eclipse_bench.prompts.registry import load_suite

COMMIT = "0123456789abcdef0123456789abcdef01234567"
CASES = [  # (pairing, suite, metric, dtype, channels_last, choices)
    ("eclipse-karlo", "builtin/color", "blip-vqa", "fp32", False, {}),
    ("karlo", "builtin/spatial", "t2i-spatial", "fp32", False, {}),
    ("eclipse-kandinsky", "builtin/complex", "three-in-one", "bf16", False, {}),
    ("kandinsky", "builtin/numeracy", "t2i-numeracy", "fp32", True, {}),
    ("text-embed-karlo", "builtin/non_spatial", "clip-score", "fp32", False, {}),
    ("sd-1.4", "builtin/counting", "hrs-counting", "fp16", False, {}),
    ("eclipse-karlo", "builtin/position", "geneval", "fp32", False, {"detect": "mask2former"}),
    ("eclipse-kandinsky", "builtin/color", "soft-tifa-gm", "fp32", False, {}),
    ("eclipse-karlo", "builtin/color", "geneval", "fp32", False, {}),
]
out = {}
for pairing, suite_name, metric_name, dtype, cl, choices in CASES:
    spec = get_pairing(pairing)
    suite = load_suite(suite_name, "val").limit(3, "first")
    metric = METRICS.get(metric_name)
    ids_needed = [c for c in pairing_checkpoints(spec)]
    for p in metric.providers:
        ids_needed += PROVIDERS.get(p).checkpoints("real", choices.get(p))
    recorded = {c.id: (c.id if c.kind == "open_clip" else f"file:{hashlib.sha256(c.id.encode()).hexdigest()[:16]}"
                       if c.kind == "detector" else f"{c.id}@{COMMIT}") for c in ids_needed}
    ids = Identities(recorded)
    samples = plan_samples(suite, spec, 2, 42, ids, dtype, cl)
    for s in samples:
        s["sha256"] = hashlib.sha256(s["key"].encode()).hexdigest()
    idents = {p: PROVIDERS.get(p).identity("real", ids, choices.get(p)) for p in metric.providers}
    assign_evidence_keys(samples, metric, idents)
    name = f"{pairing}|{suite_name}|{metric_name}|{dtype}|{'cl' if cl else 'contig'}|{json.dumps(choices, sort_keys=True)}"
    out[name] = {"recorded": recorded, "sample_keys": [s["key"] for s in samples],
                 "evidence_keys": [s["evidence_keys"] for s in samples]}
json.dump(out, open(sys.argv[1], "w"), indent=1, sort_keys=True)
print(len(out), "cases")
