"""Prior-only evaluation: counterfactuals from specs, the metrics' sanity bounds, the CLI offline, the in-memory API."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from eclipse_bench.bench.app.cli import main
from eclipse_bench.bench.core.store import read_jsonl
from eclipse_bench.prompts.counterfactuals import counterfactuals
from eclipse_bench.prompts.spec import ObjectSpec, Relation, Spec


def _cfs(prompt, spec, category=""):
    return {c.kind: c.prompt for c in counterfactuals(prompt, spec, category)}


@pytest.mark.parametrize("prompt, spec, category, expected", [
    ("a red car and a blue bench",
     Spec(objects=(ObjectSpec("car", ("red",)), ObjectSpec("bench", ("blue",)))), "color",
     {"attribute-swap": "a blue car and a red bench"}),
    ("a brown orange next to an orange cup",
     Spec(objects=(ObjectSpec("orange", ("brown",)), ObjectSpec("cup", ("orange",)))), "color",
     {"attribute-swap": "an orange orange next to a brown cup"}),
    ("a cat on the left of a dog",
     Spec(objects=(ObjectSpec("cat"), ObjectSpec("dog")), relation=Relation("on the left of", 0, 1)), "spatial",
     {"objects-swapped": "a dog on the left of a cat", "relation-reversed": "a cat on the right of a dog"}),
    ("a person and a horse, the person is larger than the horse.",
     Spec(objects=(ObjectSpec("person"), ObjectSpec("horse")), relation=Relation("bigger", 0, 1)), "size",
     {"objects-swapped": "a horse and a person, the horse is larger than the person.",
      "relation-reversed": "a person and a horse, the person is smaller than the horse."}),
    ("a dog in front of a desk",
     Spec(objects=(ObjectSpec("dog"), ObjectSpec("desk")), relation=Relation("in front of", 0, 1)), "3d_spatial",
     {"relation-reversed": "a dog behind a desk"}),
    ("two dogs and one cat", Spec(objects=(ObjectSpec("dog", (), 2), ObjectSpec("cat", (), 1))), "numeracy",
     {"count-changed": "three dogs and one cat"}),
    ("a bus", Spec(objects=(ObjectSpec("bus", (), 1),)), "numeracy", {"count-changed": "two buses"}),
])
def test_counterfactuals_of_hand_written_specs(prompt, spec, category, expected):
    got = _cfs(prompt, spec, category)
    for kind, cf in expected.items():
        assert got[kind] == cf
    assert "object-replaced" in got and got["object-replaced"] != prompt
    assert all(cf != prompt for cf in got.values())
    assert got == _cfs(prompt, spec, category)   # deterministic


def test_counts_change_only_where_counts_are_the_point():
    spec = Spec(objects=(ObjectSpec("car", ("red",), 1), ObjectSpec("bench", ("blue",), 1)))
    assert "count-changed" not in _cfs("a red car and a blue bench", spec, "color")
    assert "relation-reversed" not in _cfs("a red car and a blue bench", spec, "color")  # no relation


class TextEcho(torch.nn.Module):
    """A 'prior' that returns the text embedding: it must score exactly as the text baseline."""
    config = {"embedding_dim": 32}

    def forward(self, noise, text_embeds, hidden, mask):
        return text_embeds


class Deaf(torch.nn.Module):
    """A 'prior' that ignores its text (returns its noise): contrast ~0.5."""
    config = {"embedding_dim": 32}

    def forward(self, noise, text_embeds, hidden, mask):
        return noise


@pytest.fixture(scope="module")
def text_tower():
    from transformers import CLIPTextModelWithProjection, CLIPTokenizer

    import eclipse_bench.bench.generation.families.kandinsky  # noqa: F401 - registers the tiny CLIP bigG twin
    from eclipse_bench.bench.core.tiny import resolve

    root = resolve("tiny:clip-text")
    return CLIPTextModelWithProjection.from_pretrained(root, projection_dim=32).eval(), CLIPTokenizer.from_pretrained(root)


def test_a_prior_returning_the_text_scores_as_the_text_baseline(text_tower):
    from eclipse_bench import prior_eval

    model, tok = text_tower
    r = prior_eval(TextEcho(), model, tok, suite="builtin/color", seeds=(42, 43))
    assert r["prior"]["alignment"] == pytest.approx(1.0) and r["prior"]["contrast"] == 0.0
    for key in ("alignment", "contrast", "margin", "diversity"):
        assert r["prior"][key] == pytest.approx(r["text-embedding baseline"][key], abs=1e-9)


def test_a_prior_that_ignores_its_text_scores_about_half(text_tower):
    from eclipse_bench import prior_eval

    model, tok = text_tower
    r = prior_eval(Deaf(), model, tok, suite="builtin/spatial", seeds=(42, 43, 44, 45))
    # 48 prompts x 4 seeds x ~3 counterfactuals of random predictions: 0.5 within 0.1 on this fixed seed set
    assert r["prior"]["contrast"] == pytest.approx(0.5, abs=0.1)
    assert abs(r["prior"]["alignment"]) < 0.3 and r["prior"]["diversity"] < 0.5


def test_text_embeddings_padded_to_the_longest_equal_77_token_ones(text_tower):
    from eclipse_bench.bench.generation.generator import ClipTextEncoder

    model, tok = text_tower
    enc = ClipTextEncoder(tok, model, "cpu")
    texts = ["a red car", "a photo of a blue pizza and a yellow baseball glove", "dog"]
    assert torch.allclose(enc.embeds_only(texts), enc(texts).embeds, atol=1e-5)


def test_cli_offline_end_to_end_and_cached(session_tmp, capsys):
    out = session_tmp / "prior-eval-karlo"
    args = ["prior-eval", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color", "--images-per-prompt", "2",
            "--out", str(out)]
    assert main(args) == 0
    r = json.loads((out / "prior_eval" / "results.json").read_text())
    assert list(r["models"]) == ["tiny-eclipse-karlo (eclipse prior)", "text-embedding baseline",
                                 "tiny-karlo (diffusion prior baseline)"]
    assert r["seeds"] == [42, 43] and r["n_prompts"] == 48
    assert set(r["models"]["tiny-eclipse-karlo (eclipse prior)"]["by_kind"]) == {"attribute-swap", "object-replaced"}
    assert "report:" in capsys.readouterr().out
    html = (out / "prior_eval" / "report.html").read_text()
    assert "attribute-swap" in html and "text-embedding baseline" in html
    assert main(args) == 0   # a re-run embeds nothing again
    again = json.loads((out / "prior_eval" / "results.json").read_text())
    for name in ("tiny-eclipse-karlo (eclipse prior)", "tiny-karlo (diffusion prior baseline)"):
        assert r["models"][name]["embedded"] == 48 * 2 and again["models"][name]["embedded"] == 0, name
    assert again["models"]["tiny-eclipse-karlo (eclipse prior)"]["contrast"] == \
        r["models"]["tiny-eclipse-karlo (eclipse prior)"]["contrast"]


def test_in_memory_api_equals_the_cli_on_the_saved_checkpoint(session_tmp, text_tower):
    from eclipse_bench import prior_eval
    from eclipse_bench.bench.generation.eclipse_prior import EclipsePriorTransformer
    from eclipse_bench.bench.core.tiny import resolve

    out = session_tmp / "prior-eval-kandinsky"
    assert main(["prior-eval", "--prior", "tiny-eclipse-kandinsky", "--suite", "builtin/spatial", "--limit", "12",
                 "--images-per-prompt", "3", "--baselines", "text", "--out", str(out)]) == 0
    cli = json.loads((out / "prior_eval" / "results.json").read_text())["models"]
    model, tok = text_tower
    prior = EclipsePriorTransformer.from_pretrained(resolve("tiny:eclipse-kandinsky-prior"))
    prior.train()   # as in a training loop: evaluated in eval mode, handed back in train mode
    mem = prior_eval(prior, model, tok, suite="builtin/spatial", seeds=(42, 43, 44), limit=12)
    assert prior.training
    ours = cli["tiny-eclipse-kandinsky (eclipse prior)"]
    for key in ("alignment", "contrast", "margin", "diversity"):
        assert mem["prior"][key] == pytest.approx(ours[key], abs=1e-6)
    assert mem["prior"]["by_kind"].keys() == ours["by_kind"].keys()


def test_prior_eval_errors_are_one_line(capsys, tmp_path):
    for args, needle in ((["--prior", "tiny-text-embed-karlo"], "has no prior"),
                         (["--prior", "tiny-eclipse-karlo", "--baselines", "foo"], "--baselines 'foo'")):
        capsys.readouterr()
        assert main(["prior-eval", *args, "--suite", "builtin/color", "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("eclipse-bench: error: ") and needle in err, err
    assert not (tmp_path / "x").exists()   # refused before anything was written


def test_leaderboard_shows_prior_eval_beside_images_with_rank_correlation(session_tmp, tiny_runs, run_copy):
    from scipy.stats import spearmanr

    from eclipse_bench.reports.html import leaderboard_data

    run = run_copy(tiny_runs["tiny-eclipse-karlo"])   # builtin/color, 4 prompts x 2 images
    assert main(["prior-eval", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color", "--limit", "4",
                 "--images-per-prompt", "2", "--out", str(run)]) == 0
    data = leaderboard_data([run])
    (p,) = data["prior"]
    assert p["pairing"] == "tiny-eclipse-karlo" and p["spearman"]["n"] == 4
    # the correlation the leaderboard shows, computed here from the two files: prior contrast vs mean image score
    prior_name = json.loads((run / "prior_eval" / "results.json").read_text())["prior"]
    contrast = {r["prompt_id"]: r["models"][prior_name]["contrast"] for r in read_jsonl(run / "prior_eval" / "prompts.jsonl")}
    scores: dict = {}
    for s in read_jsonl(run / "samples.jsonl"):
        scores.setdefault(s["prompt_id"], []).append(s["score"])
    ids = sorted(scores)
    expected = spearmanr([contrast[i] for i in ids], [np.mean(scores[i]) for i in ids]).statistic
    assert p["spearman"]["rho"] == pytest.approx(expected, abs=1e-12)
    from eclipse_bench.reports.html import render_leaderboard

    html = render_leaderboard([run], session_tmp / "board-prior.html").read_text()
    assert 'id="prior-eval"' in html and "text-embedding baseline" in html and "Spearman" in html
