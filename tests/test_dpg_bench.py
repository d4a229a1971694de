"""DPG-Bench: the suite from a question file in the official CSV format (rows written here: the file itself could
not be retrieved, only its git blob id is known), the real prompts from ../shared/benchmarks/dpg_bench/prompts, and
the rule checked on hand-derived cases from ELLA's compute_dpg_bench.py (../shared/reference/dpg-bench.md):
dependency chains, a parent answered no, a parent the prompt lacks, the shipped script's quirks."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import pytest

from eclipse_bench.bench.app.cli import main
from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.metrics.dpg import analysis, dpg_qwen_rule, dpg_rule, zero_dependencies
from eclipse_bench.prompts.fetch import GIT_BLOB, digest_of
from eclipse_bench.prompts.spec import Proposition, Spec
from eclipse_bench.prompts.suites.dpg_bench import COLUMNS, items_from_csv

PROMPTS = Path(os.environ.get("ECLIPSE_BENCH_DATA", "")) / "dpg_bench" / "prompts"

# (item_id, proposition_id, dependency, tuple, question): 0 and 10 hold a chain 1 <- 2 <- 3 and a two-parent child
ROWS = [
    ("0", 1, "0", "entity - whole (cabbages)", "Are there cabbages?"),
    ("0", 2, "1", "other - count (cabbages, ==8)", "Are there eight cabbages?"),
    ("0", 3, "1", "attribute - color (cabbages, green)", "Are the cabbages green?"),
    ("0", 4, "0", "entity - whole (field)", "Is there a field?"),
    ("0", 5, "1,4", "relation - spatial (cabbages, field, in)", "Are the cabbages in the field?"),
    ("1", 1, "0", "entity - whole (pickup truck)", "Is there a pickup truck?"),
    ("1", 2, "1", "attribute - color (pickup truck, red)", "Is the pickup truck red?"),
    ("1", 3, "0", "global - ()", "Is it dusk?"),
    ("10", 1, "0", "entity - whole (eggplants)", "Are there eggplants?"),
    ("10", 2, "1", "other - count (eggplants, ==3)", "Are there three eggplants?"),
    ("10", 3, "2", "attribute - color (eggplants, purple)", "Are the eggplants purple?"),
    ("10", 4, "0", "entity - whole (table)", "Is there a table?"),
]


def write_csv(folder: Path, rows=ROWS) -> Path:
    if not PROMPTS.is_dir():
        pytest.skip("DPG-Bench's prompts absent (../shared/benchmarks/dpg_bench/prompts)")
    path = folder / "dpg_bench" / "dpg_bench.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for item, pid, dep, tup, q in rows:
            text = (PROMPTS / f"{item}.txt").read_text(encoding="utf-8")
            w.writerow([item, text, "kw", pid, dep, tup.split(" - ")[0], tup.split("(")[0].strip(), tup, q])
    return path


def _spec(props):
    from eclipse_bench.prompts.spec import Question

    return Spec(questions=tuple(Question(f"q{p.id}?", "yes", p.l1) for p in props), propositions=tuple(props))


def _evidence(ps):
    return {"judge": {"questions": [{"kind": "tifa", "question": f"q{i}?", "answer": "yes", "p": p,
                                     "variants": [["yes", "yes"]], "probs": {"yes": p}} for i, p in enumerate(ps)]
                      + [{"kind": "vqascore", "question": "prompt", "answer": "Yes", "variants": [["Yes", "Yes"]],
                          "probs": {"Yes": 0.5}}]}}


def test_the_question_file_is_parsed_as_the_reference_parses_it(tmp_path):
    items = items_from_csv(write_csv(tmp_path))
    assert [i.id for i in items] == ["0", "1", "10"]
    first = items[0]
    assert first.prompt == (PROMPTS / "0.txt").read_text(encoding="utf-8")   # the prompt is the CSV's text column
    assert [q.question for q in first.spec.questions] == [r[4] for r in ROWS[:5]]
    assert first.spec.propositions[4] == Proposition(5, (1, 4), "relation - spatial (cabbages, field, in)", 4)
    assert (first.spec.propositions[1].l1, first.spec.propositions[1].l2) == ("other", "other - count")
    assert all(q.answer == "yes" for q in first.spec.questions) and first.spec.questions[2].skill == "attribute"
    # the spec round-trips through JSON (samples store it)
    assert Spec.from_json(json.loads(json.dumps(first.spec.to_json()))) == first.spec


@pytest.mark.parametrize("bad, needle", [
    ([("0", 1, "0, x", "entity - whole (a)", "q?")], "is not a comma-separated list"),
    ([("0", 1, "0", "entity - whole (a)", "q?"), ("0", 1, "0", "entity - whole (a)", "q?")], "proposition 1 twice"),
    ([("0", 1, "0", "entity - whole (a)", "q?"), ("1", 1, "0", "entity - whole (a)", "q?"),
      ("0", 2, "1", "entity - whole (a)", "q?")], "not consecutive"),
])
def test_a_malformed_question_file_is_one_error_naming_the_line(tmp_path, bad, needle):
    with pytest.raises(UserError, match=needle) as e:
        items_from_csv(write_csv(tmp_path, bad))
    assert "dpg_bench.csv:" in str(e.value)


def test_the_pin_is_the_git_blob_id():
    payload = b"item_id,text\n"
    # git hash-object computes SHA-1 over "blob <size>\0" + the bytes
    assert digest_of(payload, GIT_BLOB + "x") == GIT_BLOB + hashlib.sha1(b"blob 13\0" + payload).hexdigest()


# -- the rule, hand-derived --------------------------------------------------------------------------------------

def test_a_parent_answered_no_zeroes_its_whole_chain():
    # 1 <- 2 <- 3 (a chain), 4 free: 1 says no, so 2 and 3 score 0 although answered yes
    scores, missing = zero_dependencies({1: 0.0, 2: 1.0, 3: 1.0, 4: 1.0}, {1: (0,), 2: (1,), 3: (2,), 4: (0,)})
    assert scores == {1: 0.0, 2: 0.0, 3: 0.0, 4: 1.0} and missing == []


def test_zeroing_reads_parents_in_file_order():
    # the child comes before its parent in the file: it reads the parent's score before the parent is zeroed
    scores, _ = zero_dependencies({1: 0.0, 2: 1.0, 3: 1.0}, {3: (2,), 2: (1,), 1: (0,)})
    assert scores == {1: 0.0, 2: 0.0, 3: 1.0}


def test_two_parents_and_soft_scores():
    # hard: any parent 0 zeroes; soft: the child is scaled by its lowest parent (the same rule at 0 and 1)
    assert zero_dependencies({1: 1.0, 4: 0.0, 5: 1.0}, {1: (0,), 4: (0,), 5: (1, 4)})[0][5] == 0.0
    assert zero_dependencies({1: 1.0, 4: 1.0, 5: 1.0}, {1: (0,), 4: (0,), 5: (1, 4)})[0][5] == 1.0
    assert zero_dependencies({1: 0.8, 4: 0.5, 5: 0.9}, {1: (0,), 4: (0,), 5: (1, 4)})[0][5] == pytest.approx(0.45)


def test_image_score_is_the_mean_after_zeroing():
    props = [Proposition(1, (0,), "entity - whole (a)", 0), Proposition(2, (1,), "attribute - color (a, red)", 1),
             Proposition(3, (0,), "entity - whole (b)", 2)]
    v = dpg_qwen_rule(_evidence([0.0, 1.0, 1.0]), _spec(props))
    assert v.score == pytest.approx((0 + 0 + 1) / 3)
    assert v.details["orig"] == {"1": 0.0, "2": 1.0, "3": 1.0}       # categories read the scores before zeroing
    assert "[2 <- 1]" in v.reason and "1.000 -> 0.000" in v.reason


def test_the_reference_judge_counts_only_an_exact_yes():
    props = [Proposition(i, (0,), "entity - whole (a)", i) for i in range(1, 5)]
    ev = {"mplug": {"questions": [{"question": f"q{i}?", "answer": a, "p_yes": 0.5}
                                  for i, a in enumerate(["yes", "Yes", "yes yes", "no"])]}}
    assert dpg_rule(ev, _spec(props)).score == 0.25   # answer == 'yes', as compute_dpg_bench.py compares


def test_a_parent_the_prompt_lacks_is_ignored_by_default_and_skips_the_image_in_compat():
    props = [Proposition(1, (0,), "entity - whole (a)", 7), Proposition(2, (9,), "attribute - color (a, red)", 8)]
    v = dpg_qwen_rule(_evidence([1.0, 1.0]), _spec(props))
    assert v.score == 1.0 and v.details["missing_parents"] == [(2, 9)] and "ignored" in v.reason
    v = dpg_qwen_rule(_evidence([1.0, 1.0]), _spec(props), reference_compat=True)
    assert v.score is None and "KeyError" in v.reason


def test_compat_drops_the_files_first_row_and_its_dependants_break():
    props = [Proposition(1, (0,), "entity - whole (a)", 0), Proposition(2, (1,), "attribute - color (a, red)", 1)]
    assert dpg_qwen_rule(_evidence([1.0, 1.0]), _spec(props)).score == 1.0
    v = dpg_qwen_rule(_evidence([1.0, 1.0]), _spec(props), reference_compat=True)
    assert v.score is None and "first row" in v.reason
    # without dependants the first row is just missing from the mean
    props = [Proposition(1, (0,), "entity - whole (a)", 0), Proposition(2, (0,), "entity - whole (b)", 1)]
    assert dpg_qwen_rule(_evidence([0.0, 1.0]), _spec(props), reference_compat=True).score == 1.0


def test_category_tables_pool_every_image_or_the_last_in_compat():
    props = [Proposition(1, (0,), "entity - whole (a)", 3), Proposition(2, (1,), "attribute - color (a, red)", 4)]
    rows = []
    for n, ps in enumerate(([1.0, 1.0], [0.0, 1.0])):   # image 1: the entity missed, the colour still said yes
        for compat in (False, True):
            v = dpg_qwen_rule(_evidence(ps), _spec(props), reference_compat=compat)
            rows.append({"prompt_id": "p", "n": n, "score": v.score, "details": v.details, "compat": compat})
    default = analysis([r for r in rows if not r["compat"]])
    assert default["L1 categories"] == {"entity": 50.0, "attribute": 100.0}   # before zeroing, both images
    assert default["L2 categories"] == {"attribute - color": 100.0, "entity - whole": 50.0}
    compat = analysis([r for r in rows if r["compat"]])
    assert compat["L1 categories"] == {"entity": 0.0, "attribute": 100.0}     # the last image only


# -- end to end ----------------------------------------------------------------------------------------------

def test_a_tiny_run_on_dpg_bench(tmp_path, monkeypatch):
    write_csv(tmp_path / "data")
    monkeypatch.setenv("ECLIPSE_BENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ECLIPSE_BENCH_VERIFY", "0")   # hand-written rows: not the pinned file
    out = tmp_path / "run"
    assert main(["run", "--prior", "tiny-eclipse-kandinsky", "--suite", "dpg-bench", "--limit", "2",
                 "--out", str(out), "--no-progress"]) == 0   # four images per prompt, DPG-Bench's default
    r = json.loads((out / "results.json").read_text())
    assert r["metric"] == "dpg-bench" and r["scale"] == "0-100" and r["n_images"] == 8
    assert r["equivalence"] == "reference" and "mPLUG-large" in r["reference_models"]
    assert set(r["breakdowns"]) == {"L1 categories", "L2 categories"}
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    answers = set()
    for s in samples:   # the score is the rule on the stored evidence: answers, and what each depends on
        spec = Spec.from_json(s["spec"])
        assert dpg_rule(s["evidence"], spec).score == pytest.approx(s["score"])
        answers |= {q["answer"] for q in s["evidence"]["mplug"]["questions"]}
    assert len(answers) > 1   # the twin judge listens
    html = (out / "report.html").read_text()
    assert "Are there cabbages?" in html and "[2 &lt;- 1]" in html    # each question, its answer and dependencies
    qwen = tmp_path / "qwen"
    assert main(["run", "--prior", "tiny-eclipse-kandinsky", "--suite", "dpg-bench", "--limit", "2", "--metric",
                 "dpg-bench-qwen", "--images-per-prompt", "1", "--out", str(qwen), "--no-progress"]) == 0
    rq = json.loads((qwen / "results.json").read_text())
    assert rq["equivalence"] == "proxy" and "judge: Qwen3-VL, not the reference" in rq["reference_models"]
    assert main(["rescore", str(out), "--reference-compat"]) == 0
    compat = json.loads((out / "results.compat.json").read_text())
    assert compat["n_unscorable"] == 4   # prompt 0 holds the file's first row; its dependants break: skipped

    # the same images as DPG-Bench's tools write them: one 2x2 grid per prompt, <item_id>.png, scored per cell
    from PIL import Image

    grids = tmp_path / "grids"
    grids.mkdir()
    by_prompt: dict = {}
    for s in samples:
        by_prompt.setdefault(s["prompt_id"], {})[s["n"]] = Image.open(out / s["image"]).convert("RGB")
    for pid, ims in by_prompt.items():
        r_ = ims[0].size[0]
        grid = Image.new("RGB", (2 * r_, 2 * r_))
        for n, (x, y) in enumerate([(0, 0), (r_, 0), (0, r_), (r_, r_)]):
            grid.paste(ims[n], (x, y))
        grid.save(grids / f"{pid}.png")
    assert main(["score", str(grids), "--suite", "dpg-bench", "--limit", "2", "--name", "grids", "--scorers", "tiny",
                 "--out", str(tmp_path / "scored"), "--no-progress"]) == 0
    scored = {(s["prompt_id"], s["n"]): s["score"] for s in map(json.loads, (tmp_path / "scored" / "samples.jsonl")
                                                                   .read_text().splitlines())}
    assert scored == {(s["prompt_id"], s["n"]): pytest.approx(s["score"], abs=1e-6) for s in samples}
    assert main(["score", str(grids), "--suite", "dpg-bench", "--limit", "2", "--pic-num", "1", "--name", "one",
                 "--scorers", "tiny",
                 "--out", str(tmp_path / "one"), "--no-progress"]) == 0
    assert json.loads((tmp_path / "one" / "results.json").read_text())["n_images"] == 2
