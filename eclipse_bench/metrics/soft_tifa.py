"""GenEval 2's judge metrics over stored judge evidence: Soft-TIFA (GM, the suite's default; AM), TIFA and VQAScore,
and the reference's analysis tables (per skill: Soft-TIFA AM; per atom count: Soft-TIFA GM).

Per prompt the reference takes, over its questions, the mean (AM) or scipy.stats.gmean (GM; one P of 0 gives 0) of
P(answer); TIFA the share of questions whose argmax token is an answer variant; VQAScore P(Yes) of the one
whole-prompt question. The benchmark score is 100 x the mean over prompts (several images of a prompt average).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from eclipse_bench.metrics.base import Verdict, unscorable
from eclipse_bench.metrics.judge import REAL_JUDGE, answered, probability
from eclipse_bench.metrics.registry import MetricDef, register_metric
from eclipse_bench.metrics.served_judge import PREFIX, describe
from eclipse_bench.prompts.questions import SOURCE_BENCHMARK, questions_for
from eclipse_bench.prompts.spec import Spec
from eclipse_bench.prompts.suites.geneval2 import CATEGORY as GENEVAL2


def gmean(values: list[float]) -> float:
    """scipy.stats.gmean, a zero giving 0 (without its divide-by-zero warning)."""
    from scipy.stats import gmean as scipy_gmean  # lazy: scipy

    with np.errstate(divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(scipy_gmean(values))


def _tifa_questions(evidence: dict[str, Any]) -> tuple[list[dict], Verdict | None]:
    judge = evidence.get("judge")
    if judge is None:
        return [], unscorable("no judge evidence")
    qs = [q for q in judge["questions"] if q["kind"] == "tifa"]
    if not qs:
        return [], unscorable("no question to ask about this prompt (the spec names no object)")
    return qs, None


def _details(qs: list[dict], ps: list[float], source: str) -> dict:
    return {"p": ps, "skills": [q["skill"] for q in qs], "source": source, "am": sum(ps) / len(ps), "gm": gmean(ps)}


def _listing(qs: list[dict], values: list) -> str:
    return "; ".join(f"{q['question']} {q['answer']}: {v:.4f}" if isinstance(v, float) else f"{q['question']} {v}"
                     for q, v in zip(qs, values))


def _soft_tifa(evidence: dict[str, Any], reference_compat: bool, mean: str) -> Verdict:
    qs, bad = _tifa_questions(evidence)
    if bad:
        return bad
    ps = [probability(q, reference_compat) for q in qs]
    d = _details(qs, ps, evidence["judge"].get("source", ""))
    return Verdict(d[mean], f"{mean.upper()} of P(answer): {_listing(qs, ps)}", d)


def soft_tifa_gm(evidence: dict[str, Any], spec: Spec, reference_compat: bool = False) -> Verdict:
    """Geometric mean over the prompt's questions of P(answer)."""
    return _soft_tifa(evidence, reference_compat, "gm")


def soft_tifa_am(evidence: dict[str, Any], spec: Spec, reference_compat: bool = False) -> Verdict:
    """Arithmetic mean over the prompt's questions of P(answer)."""
    return _soft_tifa(evidence, reference_compat, "am")


def tifa(evidence: dict[str, Any], spec: Spec, reference_compat: bool = False) -> Verdict:
    """The share of questions whose argmax token, lower-cased, is one of the answer's variants."""
    qs, bad = _tifa_questions(evidence)
    if bad:
        return bad
    hits = [1.0 if answered(q, reference_compat) else 0.0 for q in qs]
    ps = [probability(q, reference_compat) for q in qs]
    d = {**_details(qs, ps, evidence["judge"].get("source", "")), "correct": hits}
    shown = [f"-> {q['argmax']['token']!r} ({'right' if h else 'wrong'})" for q, h in zip(qs, hits)]
    return Verdict(sum(hits) / len(hits), f"argmax answers: {_listing(qs, shown)}", d)


def vqascore(evidence: dict[str, Any], spec: Spec, reference_compat: bool = False) -> Verdict:
    """P(Yes) of 'Does this image show "<prompt>"?'."""
    judge = evidence.get("judge")
    if judge is None:
        return unscorable("no judge evidence")
    (q,) = [q for q in judge["questions"] if q["kind"] == "vqascore"]
    p = probability(q, reference_compat)
    return Verdict(p, f"{q['text']} P(Yes) {p:.4f}", {"p": [p], "skills": ["prompt"]})


# -- the reference's analysis ------------------------------------------------------------------------------------

def analysis(rows: list[dict]) -> dict:
    """GenEval 2's analysis tables from scored samples: per skill, 100 x the sum of P over that skill's questions /
    their count (over the whole run: Soft-TIFA AM); per atom count (the item's level), 100 x the mean over prompts of
    the prompt's GM (several images of a prompt average first). Both from each sample's stored P list."""
    sums: dict[str, list[float]] = {}
    per_prompt: dict[str, list[float]] = {}
    level_of: dict[str, str] = {}
    for r in rows:
        d = r.get("details") or {}
        if r.get("score") is None or "skills" not in d or d.get("skills") == ["prompt"]:
            continue
        for skill, p in zip(d["skills"], d["p"]):
            acc = sums.setdefault(skill, [0.0, 0.0])
            acc[0] += float(p)
            acc[1] += 1
        per_prompt.setdefault(r["prompt_id"], []).append(float(d["gm"]))
        level_of[r["prompt_id"]] = str(r.get("level") or "")
    out: dict[str, dict] = {}
    if sums:
        order = ["object", "attribute", "count", "position", "verb"]   # as the reference prints them
        skills = [s for s in order if s in sums] + sorted(s for s in sums if s not in order)
        out["per skill (Soft-TIFA AM)"] = {s: 100 * sums[s][0] / sums[s][1] for s in skills}
    levels: dict[str, list[float]] = {}
    for pid, gms in per_prompt.items():
        if level_of[pid]:
            levels.setdefault(level_of[pid], []).append(sum(gms) / len(gms))
    if levels:
        key = (lambda v: (0, int(v)) if v.isdigit() else (1, v))
        out["per atom count (Soft-TIFA GM)"] = {k: 100 * sum(v) / len(v) for k, v in sorted(levels.items(),
                                                                                        key=lambda kv: key(kv[0]))}
    return out


def label(base: dict, choices: dict, items: list, what: str = "") -> dict:
    """Reference-equivalent on GenEval 2 with its own judge; another judge is a stand-in (proxy); elsewhere (questions
    generated from the spec, or a user suite's own) the numbers are eclipse-bench's, never a reference number."""
    judge = choices.get("judge") or REAL_JUDGE
    served = None
    if judge.startswith(PREFIX):   # a served judge: its model, and how its P(answer) is read
        judge, served, full = describe(judge)
    geneval2 = bool(items) and all(i.category == GENEVAL2 and questions_for(i.spec)[1] == SOURCE_BENCHMARK
                                   for i in items)
    out = dict(base)
    if not geneval2:
        generated = any(questions_for(i.spec)[1] != SOURCE_BENCHMARK for i in items)
        what = what or ("eclipse-bench questions from each prompt's spec" if generated else "the suite's own questions")
        out["equivalence"] = "own-questions"
        out["reference_models"] = f"{what}, asked as GenEval 2 asks ({judge})"
    elif judge != REAL_JUDGE:
        out["equivalence"] = "proxy"
        out["reference_models"] = f"{REAL_JUDGE} (judged here by {judge})"
    elif served and not full:
        out["equivalence"] = "proxy"
    if served:
        out["reference_models"] += f"; {served}"
    return out


def fits_questions(spec: Spec, category: str) -> bool:
    return bool(questions_for(spec)[0])


COMMON = dict(providers=("judge",), aggregate="mean x100", reference_models=REAL_JUDGE, equivalence="reference",
              label_for=label, breakdown=analysis,
              compat_note="count answers outside one..ten get the reference's 'other' digit variants")
for _name, _rule, _help in (
        ("soft-tifa-gm", soft_tifa_gm, "GenEval 2's Soft-TIFA GM: geometric mean of the judge's P(answer) per prompt"),
        ("soft-tifa-am", soft_tifa_am, "GenEval 2's Soft-TIFA AM: arithmetic mean of the judge's P(answer) per prompt"),
        ("tifa", tifa, "TIFA as GenEval 2 computes it: share of questions whose argmax token is the answer")):
    register_metric(MetricDef(_name, rule=_rule, help=_help, fits=("questions to ask (objects in the spec, or the "
                                                                   "benchmark's own)", fits_questions), **COMMON))
register_metric(MetricDef("vqascore", rule=vqascore, help="VQAScore as GenEval 2 computes it: the judge's P(Yes) that "
                          "the image shows the prompt", fits=("a prompt", lambda spec, cat: True),
                          **{**COMMON, "breakdown": None, "compat_note": "",
                             "label_for": lambda base, choices, items: label(
                                 base, choices, items, "GenEval 2's VQAScore question on this suite's prompts")}))
