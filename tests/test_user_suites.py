"""User suites (JSONL): validation errors name the file and line; a fuzzer never gets a traceback."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eclipse_bench.bench.app.cli import main
from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.prompts.load import load_suite
from eclipse_bench.prompts.user import load


def _write(tmp_path, text, name="suite.jsonl"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_minimal_file_gets_extracted_specs(tmp_path):
    p = _write(tmp_path, '{"prompt": "a red car and a blue bench", "category": "color"}\n\n{"prompt": "two cats"}\n')
    suite = load_suite(str(p))
    assert [i.prompt for i in suite.items] == ["a red car and a blue bench", "two cats"]
    assert suite.items[0].spec.phrases == ("a red car", "a blue bench")
    assert suite.items[1].id == "item-00003"  # ids follow line numbers; blank lines are skipped


def test_full_item_round_trips(tmp_path):
    item = {"id": "x1", "prompt": "a cat left of a dog", "category": "spatial", "level": "easy",
            "spec": {"phrases": ["a cat", "a dog"], "objects": [{"noun": "cat", "attributes": [], "count": 1},
                                                                {"noun": "dog", "attributes": [], "count": 1}],
                     "relation": {"name": "left of", "subject": 0, "object": 1}, "subcategory": None,
                     "exclude": [{"noun": "dog", "count": 2}]}}
    p = _write(tmp_path, json.dumps(item) + "\n")
    assert load(str(p)).items[0].to_json() == item


def test_show_jsonl_output_is_a_valid_user_suite(tmp_path, capsys):
    assert main(["suites", "show", "builtin/spatial", "--limit", "5", "--format", "jsonl"]) == 0
    p = _write(tmp_path, capsys.readouterr().out)
    assert [i.to_json() for i in load(str(p)).items] == [i.to_json() for i in load_suite("builtin/spatial").items[:5]]


@pytest.mark.parametrize("text, needle", [
    ('{"prompt": "ok"}\nnot json\n', ":2: not valid JSON"),
    ('["a list"]\n', ":1: each line must be a JSON object"),
    ('{"prompt": ""}\n', ":1: missing 'prompt'"),
    ('{"text": "a cat"}\n', ":1: the line: unknown key 'text'"),
    ('{"id": "a"}\n', ":1: missing 'prompt'"),
    ('{"prompt": "a cat", "spec": {"objects": [], "phrases": []}}\n', ":1: the spec names no objects"),
    ('{"prompt": "a cat", "spec": {"objects": [{"noun": "cat"}], "relation": {"name": "left of", "subject": 0, '
     '"object": 3}}}\n', "spec.relation.object must index spec.objects"),
    ('{"prompt": "a cat", "spec": {"objects": [{"noun": "cat", "count": -1}]}}\n', "count must be a non-negative"),
    ('{"prompt": "a", "id": "same"}\n{"prompt": "b", "id": "same"}\n', ":2: id 'same' repeats line 1"),
    ('', "no prompts"),
    ('\n\n  \n', "no prompts"),
])
def test_malformed_input_names_file_and_line(tmp_path, text, needle):
    p = _write(tmp_path, text)
    with pytest.raises(UserError) as exc:
        load(str(p))
    assert needle in str(exc.value) and str(p) in str(exc.value)


def test_ids_with_slashes_and_underscores_become_safe_file_names(tmp_path):
    p = _write(tmp_path, '{"prompt": "a cat", "id": "../etc/pass_wd"}\n')
    item_id = load(str(p)).items[0].id
    assert "/" not in item_id and "_" not in item_id and not item_id.startswith(".")


def test_a_10_mb_line_is_rejected_with_its_line_number(tmp_path):
    p = tmp_path / "huge.jsonl"
    p.write_text('{"prompt": "a cat"}\n{"prompt": "' + "x" * (10 << 20) + '"}\n')
    with pytest.raises(UserError, match=r":2: line longer than"):
        load(str(p))


def test_not_utf8(tmp_path):
    p = tmp_path / "latin1.jsonl"
    p.write_bytes('{"prompt": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(UserError, match=":1: not UTF-8"):
        load(str(p))


def test_validate_command(tmp_path, capsys):
    good = _write(tmp_path, '{"prompt": "a red car"}\n')
    assert main(["suites", "validate", str(good)]) == 0
    assert "1 prompts OK" in capsys.readouterr().out
    bad = _write(tmp_path, '{"prompt": 3}\n', "bad.jsonl")
    assert main(["suites", "validate", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bad.jsonl:1" in err


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)
_items = st.fixed_dictionaries({}, optional={
    "prompt": st.text(max_size=60) | _json_values, "id": st.text(max_size=12) | _json_values,
    "category": st.sampled_from(["color", "spatial", "numeracy", ""]) | _json_values,
    "level": _json_values,
    "spec": _json_values | st.fixed_dictionaries({}, optional={
        "phrases": _json_values, "objects": st.lists(st.fixed_dictionaries({}, optional={
            "noun": st.text(max_size=10) | _json_values, "count": _json_values, "attributes": _json_values}),
            max_size=3) | _json_values,
        "relation": _json_values, "exclude": _json_values})})
_lines = st.lists(st.one_of(_items.map(json.dumps), st.text(max_size=40)), min_size=0, max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=_lines)
def test_fuzzed_files_load_or_fail_cleanly(tmp_path, lines):
    p = tmp_path / "fuzz.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        suite = load(str(p))
    except UserError as exc:
        msg = str(exc)
        assert "\n" not in msg and str(p) in msg
        return
    assert suite.items and all(i.prompt.strip() for i in suite.items)
    assert len({i.id for i in suite.items}) == len(suite.items)
    for item in suite.items:
        assert "/" not in item.id
        json.dumps(item.to_json())


def test_a_mixed_category_suite_scores_each_prompt_with_its_category_metric(tmp_path, session_tmp):
    import json

    from eclipse_bench.bench.app.cli import main
    from eclipse_bench.bench.core.store import read_jsonl

    p = tmp_path / "mixed.jsonl"
    p.write_text('{"id": "c", "prompt": "a red car and a blue bench", "category": "color"}\n'
                 '{"id": "s", "prompt": "a cat on the left of a dog", "category": "spatial"}\n'
                 '{"id": "n", "prompt": "a dog running in a park", "category": "non_spatial"}\n')
    out = session_tmp / "mixed-run"
    assert main(["run", "--prior", "tiny-eclipse-karlo", "--suite", str(p), "--images-per-prompt", "1",
                 "--out", str(out), "--no-progress"]) == 0
    rows = {r["prompt_id"]: r for r in read_jsonl(out / "samples.jsonl")}
    assert rows["c"]["details"]["metric"] == "blip-vqa" and rows["c"]["reason"].startswith("blip-vqa")
    assert rows["s"]["details"]["metric"] == "t2i-spatial"
    assert rows["n"]["details"]["metric"] == "clip-score"
    results = json.loads((out / "results.json").read_text())
    assert results["metric"] == "per-category" and set(results["by_category"]) == {"color", "spatial", "non_spatial"}
    scored = [v for v in results["by_category"].values() if v is not None]
    assert results["score"] == pytest.approx(sum(scored) / len(scored))   # mean of the category means
