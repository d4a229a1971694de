"""DPG-Bench's rule (ELLA's compute_dpg_bench.py), a pure function of a judge's answers and the prompt's
propositions:

- every question of the prompt is asked of every image; its score is the judge's answer (1 for "yes");
- dependency zeroing: in the file's order, a question with a parent (id != 0) whose score, as zeroed so far, is 0
  scores 0; with a soft judge (P(yes)) the child is scaled by its parents' lowest score, which is the same rule
  whenever scores are 0 or 1;
- image score = mean over the prompt's questions; DPG-Bench = 100 x the mean (over images: the reference's mean over
  prompts of the mean over their images whenever every image of a prompt is scored);
- L1 and L2 category tables: 100 x the mean of per-question scores BEFORE zeroing, pooled over every question of the
  category, over every image.

`--reference-compat` reproduces the shipped script: the file's first row is dropped (`if i == 0: continue`), so a
question depending on it raises KeyError; a prompt whose dependencies break is skipped (unscorable here, said so);
category tables take only each prompt's last image (the script overwrites them per crop).

`dpg-bench` scores mPLUG-large's answers (the reference's judge, eclipse_bench.metrics.mplug); `dpg-bench-qwen`
scores the Qwen3-VL judge's P(yes) on the same questions (soft), labelled "judge: Qwen3-VL, not the reference".
"""

from __future__ import annotations

from typing import Any

from eclipse_bench.metrics.base import Verdict, unscorable
from eclipse_bench.metrics.judge import probability
from eclipse_bench.metrics.registry import MetricDef, register_metric
from eclipse_bench.metrics.served_judge import PREFIX, describe
from eclipse_bench.prompts.spec import Spec

REFERENCE_JUDGE = "ModelScope mPLUG-large (damo/mplug_visual-question-answering_coco_large_en), answer == 'yes'"
L1_ORDER = ("entity", "attribute", "relation", "global", "other")


class BrokenDependency(Exception):
    """A question depends on an id the prompt does not have (the reference script raises KeyError)."""


def zero_dependencies(scores: dict[int, float], dependencies: dict[int, tuple], strict: bool = False
                      ) -> tuple[dict[int, float], list[tuple[int, int]]]:
    """Scores after DPG-Bench's dependency zeroing, in the order of `dependencies` (the file's), each question reading
    its parents' scores as zeroed so far; (scores, [(question, missing parent)]). strict: a missing parent raises
    BrokenDependency, as the script's KeyError (parents are read in order; the first parent scored 0 ends the scan)."""
    out = dict(scores)
    missing = []
    for qid, parents in dependencies.items():
        lowest = 1.0
        for parent in parents:
            if parent == 0:
                continue
            if parent not in out:
                if strict:
                    raise BrokenDependency(f"question {qid} depends on {parent}, which the prompt does not have")
                missing.append((qid, parent))
                continue
            lowest = min(lowest, out[parent])
            if out[parent] == 0:
                break
        if lowest < 1.0:
            out[qid] = out[qid] * lowest
    return out, missing


def dpg_rule(evidence: dict[str, Any], spec: Spec, reference_compat: bool = False) -> Verdict:
    """DPG-Bench with its own judge: a question scores 1 when mPLUG's answer is exactly "yes"."""
    mplug = evidence.get("mplug")
    if mplug is None:
        return unscorable("no mPLUG evidence")
    asked = mplug["questions"]
    return _score(asked, [1.0 if q["answer"] == "yes" else 0.0 for q in asked], spec, reference_compat)


def dpg_qwen_rule(evidence: dict[str, Any], spec: Spec, reference_compat: bool = False) -> Verdict:
    """DPG-Bench's rule on the Qwen3-VL judge's P(yes) for each question (soft)."""
    judge = evidence.get("judge")
    if judge is None:
        return unscorable("no judge evidence")
    asked = [q for q in judge["questions"] if q["kind"] == "tifa"]
    return _score(asked, [probability(q, reference_compat) for q in asked], spec, reference_compat)


def _score(asked: list, p: list[float], spec: Spec, reference_compat: bool) -> Verdict:
    props = spec.propositions
    if not props or len(asked) != len(props):
        return unscorable(f"the judge answered {len(asked)} questions for {len(props)} DPG-Bench propositions")
    kept = [(prop, s, q) for prop, s, q in zip(props, p, asked) if not (reference_compat and prop.row == 0)]
    scores = {prop.id: s for prop, s, _ in kept}
    dependencies = {prop.id: prop.dependencies for prop, _, _ in kept}
    try:
        zeroed, missing = zero_dependencies(scores, dependencies, strict=reference_compat)
    except BrokenDependency as exc:
        return unscorable(f"reference-compat: {exc}; the reference script raises KeyError here and skips the image"
                          + (" (its first row, this prompt's, is dropped)" if len(kept) < len(props) else ""))
    score = sum(zeroed.values()) / len(zeroed)
    details = {"p": p, "orig": {str(k): v for k, v in scores.items()}, "zeroed": {str(k): v for k, v in zeroed.items()},
               "l1": {str(prop.id): prop.l1 for prop, _, _ in kept}, "l2": {str(prop.id): prop.l2 for prop, _, _ in kept},
               "compat": reference_compat, "missing_parents": missing}
    lines = "; ".join(f"[{prop.id}{' <- ' + ','.join(map(str, prop.dependencies)) if prop.dependencies != (0,) else ''}]"
                      f" {q['question']}{' ' + repr(q['answer']) if 'p_yes' in q else ''} {s:.3f}"
                      + (f" -> {zeroed[prop.id]:.3f}" if zeroed[prop.id] != s else "") for prop, s, q in kept)
    note = f"; dependencies on missing ids ignored: {missing}" if missing else ""
    return Verdict(score, f"mean over {len(zeroed)} questions after dependency zeroing: {lines}{note}", details)


def analysis(rows: list[dict]) -> dict:
    """The L1 and L2 category tables: 100 x the mean per-question score before zeroing, pooled over every image
    (reference-compat: each prompt's last image only, as the script keeps them)."""
    scored = [r for r in rows if r.get("score") is not None and "orig" in (r.get("details") or {})]
    if any(r["details"].get("compat") for r in scored):
        last: dict[str, dict] = {}
        for r in scored:
            if r["prompt_id"] not in last or (r.get("n") or 0) >= (last[r["prompt_id"]].get("n") or 0):
                last[r["prompt_id"]] = r
        scored = list(last.values())
    l1: dict[str, list[float]] = {}
    l2: dict[str, list[float]] = {}
    for r in scored:
        d = r["details"]
        for qid, s in d["orig"].items():
            l1.setdefault(d["l1"][qid], []).append(float(s))
            l2.setdefault(d["l2"][qid], []).append(float(s))
    if not l1:
        return {}
    order = [c for c in L1_ORDER if c in l1] + sorted(c for c in l1 if c not in L1_ORDER)
    return {"L1 categories": {c: 100 * sum(l1[c]) / len(l1[c]) for c in order},
            "L2 categories": {c: 100 * sum(v) / len(v) for c, v in sorted(l2.items())}}


def label(base: dict, choices: dict, items: list) -> dict:
    """The judge is not the reference's: say which it is."""
    judge = choices.get("judge") or "Qwen/Qwen3-VL-8B-Instruct"
    how = ""
    if judge.startswith(PREFIX):
        judge, how, _ = describe(judge)
    out = dict(base)
    out["equivalence"] = "proxy"
    out["reference_models"] = f"{REFERENCE_JUDGE} (judge: Qwen3-VL, not the reference: {judge}, P(yes) per " \
                              f"question{'; ' + how if how else ''})"
    return out


COMPAT_NOTE = ("the shipped script's quirks: its first row dropped (dependants then break and the prompt is skipped), "
               "category tables from each prompt's last image")
FITS = ("DPG-Bench propositions", lambda spec, category: bool(spec.propositions))
register_metric(MetricDef(
    "dpg-bench", providers=("mplug",), rule=dpg_rule, aggregate="mean x100", reference_models=REFERENCE_JUDGE,
    breakdown=analysis, compat_note=COMPAT_NOTE, fits=FITS,
    help="DPG-Bench: mPLUG-large answers each question, dependency zeroing, mean over questions, x100; L1/L2 tables"))
register_metric(MetricDef(
    "dpg-bench-qwen", providers=("judge",), rule=dpg_qwen_rule, aggregate="mean x100", equivalence="proxy",
    reference_models=REFERENCE_JUDGE, label_for=label, breakdown=analysis,
    help="DPG-Bench's rule (dependency zeroing, mean over questions, x100, L1/L2 tables) on the Qwen3-VL judge's "
         "P(yes) for DPG-Bench's own questions (a stand-in for mPLUG-large)",
    compat_note=COMPAT_NOTE, fits=FITS))
