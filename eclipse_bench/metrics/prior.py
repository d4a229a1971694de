"""Prior-only metrics, in the decoder's CLIP space (pure numpy; no model here).

For one prompt with S predicted image embeddings (one per seed), its text embedding and the text embeddings
of its counterfactual prompts (eclipse_bench.prompts.counterfactuals), all from the CLIP text tower that
defines the decoder's space:

- alignment: the mean cosine of a prediction with the prompt's text embedding;
- contrast: the share of (counterfactual, seed) pairs whose counterfactual text is at least as close to the
  prediction as the true prompt's (ties count half). 0: every compositional change is told apart; 0.5: a
  prediction that ignores its text; lower is better. margin: the mean of cos(true) - cos(counterfactual);
- diversity: the mean pairwise cosine of one prompt's predictions across seeds (1 = no diversity).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(n > 0, n, 1.0)


def prompt_scores(preds: np.ndarray, text: np.ndarray, cfs: Sequence[tuple[str, np.ndarray]]) -> dict:
    """Scores of one prompt: preds (S, D), text (D,), counterfactuals [(kind, (D,))]."""
    p, t = unit(preds), unit(text)
    cos_true = p @ t                                              # (S,)
    out: dict = {"alignment": float(cos_true.mean()), "kinds": {}}
    closer_all, margins_all = [], []
    for kind, emb in cfs:
        cos_cf = p @ unit(emb)                                    # (S,)
        closer = np.where(cos_cf > cos_true, 1.0, np.where(cos_cf == cos_true, 0.5, 0.0))
        k = out["kinds"].setdefault(kind, {"closer": [], "margin": []})
        k["closer"] += closer.tolist()
        k["margin"] += (cos_true - cos_cf).tolist()
        closer_all += closer.tolist()
        margins_all += (cos_true - cos_cf).tolist()
    out["contrast"] = float(np.mean(closer_all)) if closer_all else None
    out["margin"] = float(np.mean(margins_all)) if margins_all else None
    out["kinds"] = {k: {"contrast": float(np.mean(v["closer"])), "margin": float(np.mean(v["margin"]))}
                    for k, v in out["kinds"].items()}
    if len(p) > 1:
        sims = p @ p.T
        out["diversity"] = float(sims[np.triu_indices(len(p), 1)].mean())
    else:
        out["diversity"] = None
    return out


def _mean(values: list) -> Optional[float]:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def summarise(rows: list[dict]) -> dict:
    """Means over prompts, overall, per category and per counterfactual kind (each prompt weighs the same)."""
    def block(rs: list[dict]) -> dict:
        return {"alignment": _mean([r["alignment"] for r in rs]), "contrast": _mean([r["contrast"] for r in rs]),
                "margin": _mean([r["margin"] for r in rs]), "diversity": _mean([r["diversity"] for r in rs]),
                "n_prompts": len(rs)}

    out = block(rows)
    cats = sorted({r.get("category") or "" for r in rows})
    if len(cats) > 1:
        out["by_category"] = {c: block([r for r in rows if (r.get("category") or "") == c]) for c in cats}
    kinds = sorted({k for r in rows for k in r["kinds"]})
    out["by_kind"] = {k: {"contrast": _mean([r["kinds"][k]["contrast"] for r in rows if k in r["kinds"]]),
                          "margin": _mean([r["kinds"][k]["margin"] for r in rows if k in r["kinds"]]),
                          "n_prompts": sum(1 for r in rows if k in r["kinds"])} for k in kinds}
    return out
