"""`textebm generate` and `textebm eval generations` end to end on tiny models."""

from __future__ import annotations

import json

import pytest

from tests.cli.faults import assert_one_line_error, run_main
from tests.samplers.backspace_models import build_backspace_clm
from textebm.models.backspace import BKSPC_TOKEN
from textebm.models.loading import load_causal_lm

pytestmark = pytest.mark.usefixtures("_one_thread")


@pytest.fixture(scope="module")
def bk_dir(tmp_path_factory):
    return build_backspace_clm(tmp_path_factory.mktemp("bkclm"))


@pytest.fixture
def prompts(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text("the cat\nwe saw them\n")
    return path


def _generate(model_dir, prompts, out, capsys, *extra):
    args = ["generate", "--model", str(model_dir), "--prompts", str(prompts), "-o", str(out)]
    args += ["--max-new-tokens", "12", "--samples-per-prompt", "3", "--seed", "4", *extra]
    code, stdout, err = run_main(args, capsys)
    assert code == 0, err
    return [json.loads(line) for line in out.read_text().splitlines()], stdout


def test_records_hold_prompt_final_text_and_actions(bk_dir, prompts, tmp_path, capsys):
    records, stdout = _generate(bk_dir, prompts, tmp_path / "g.jsonl", capsys)
    assert [(r["prompt"], r["sample"]) for r in records] == [
        (p, s) for p in ("the cat", "we saw them") for s in range(3)
    ]
    _, tokenizer = load_causal_lm(str(bk_dir), device="cpu")
    for record in records:
        kept = []
        for action in record["actions"]:
            if action == BKSPC_TOKEN:
                kept.pop()
            else:
                kept.append(action)
        if record["finished"]:
            assert kept.pop() == tokenizer.eos_token
        assert record["text"] == tokenizer.convert_tokens_to_string(kept)
        assert record["n_backspaces"] == record["actions"].count(BKSPC_TOKEN)
        assert record["n_actions"] == len(record["actions"]) <= 12
        assert record["seed"] == 4
    total = sum(r["n_backspaces"] for r in records)
    assert total > 0 and f"{total} backspaces" in stdout


def test_backspace_off_and_a_model_without_one(bk_dir, clm_dir, prompts, tmp_path, capsys):
    off, _ = _generate(bk_dir, prompts, tmp_path / "off.jsonl", capsys, "--backspace", "off")
    assert all(r["n_backspaces"] == 0 and BKSPC_TOKEN not in r["actions"] for r in off)
    plain, stdout = _generate(clm_dir, prompts, tmp_path / "plain.jsonl", capsys)
    assert all(r["n_backspaces"] == 0 for r in plain) and "backspaces" not in stdout


def test_greedy_ban_deleted_flag(bk_dir, prompts, tmp_path, capsys):
    """--temperature 0: plain greedy repeats a deleted token in the state it left; with
    --ban-deleted no token is written again where a backspace deleted it."""
    greedy = ("--temperature", "0", "--samples-per-prompt", "1")
    plain, _ = _generate(bk_dir, prompts, tmp_path / "plain.jsonl", capsys, *greedy)
    banned, _ = _generate(bk_dir, prompts, tmp_path / "ban.jsonl", capsys, *greedy, "--ban-deleted")

    def redraws(actions: list[str]) -> int:
        live, deleted, count = [], {}, 0
        for action in actions:
            count += action in deleted.get(tuple(live), ())
            if action == BKSPC_TOKEN:
                gone = live.pop()
                deleted.setdefault(tuple(live), set()).add(gone)
            else:
                live.append(action)
        return count

    assert sum(redraws(r["actions"]) for r in plain) > 0  # the loop
    assert sum(redraws(r["actions"]) for r in banned) == 0
    assert sum(r["n_backspaces"] for r in banned) > 0


def test_ban_deleted_without_backspaces_is_one_line_exit_2(
    bk_dir, clm_dir, prompts, tmp_path, capsys
):
    """Not a silent no-op: on a model without <bkspc>, or with --backspace off."""
    out = tmp_path / "out.jsonl"
    base = ["generate", "--prompts", str(prompts), "-o", str(out), "--ban-deleted"]
    code, _, err = run_main([*base, "--model", str(clm_dir)], capsys)
    assert_one_line_error(code, err, "--ban-deleted needs backspaces", "has no <bkspc> token")
    code, _, err = run_main([*base, "--model", str(bk_dir), "--backspace", "off"], capsys)
    assert_one_line_error(code, err, "--ban-deleted", "--backspace off draws none")
    assert not out.exists()


def test_one_prompt_to_standard_output(clm_dir, capsys):
    args = ["generate", "--model", str(clm_dir), "--prompt", "", "--max-new-tokens", "3"]
    code, stdout, err = run_main(args, capsys)
    assert code == 0 and "wrote 1 generations" in err
    (record,) = [json.loads(line) for line in stdout.splitlines()]
    assert record["prompt"] == "" and record["n_actions"] <= 3


@pytest.mark.slow  # generate, then a report with a reference LM and MAUVE
def test_eval_generations_report(bk_dir, wordlevel_dir, prompts, tmp_path, capsys):
    pytest.importorskip("mauve")
    records, _ = _generate(bk_dir, prompts, tmp_path / "g.jsonl", capsys)
    references = tmp_path / "refs.txt"
    references.write_text("the cat sat on the mat .\nwe saw them near the river\n" * 5)
    report = tmp_path / "report"
    args = ["eval", "generations", "--generations", str(tmp_path / "g.jsonl")]
    args += ["--references", str(references), "--reference-model", str(bk_dir)]
    args += ["--features-model", str(wordlevel_dir), "-o", str(report)]
    code, stdout, err = run_main(args, capsys)
    assert code == 0, err
    summary = json.loads((report / "summary.json").read_text())
    generated = summary["generations"]
    actions = sum(r["n_actions"] for r in records)
    assert generated["backspace_rate"] == sum(r["n_backspaces"] for r in records) / actions
    assert generated["backspaces_scored"] == sum(r["n_backspaces"] for r in records)
    assert 0 <= generated["undo_unlikely_rate"] <= 1 and 0 < generated["mauve"] <= 1
    assert generated["reference_perplexity"] > 1
    assert summary["references"]["distinct_1_per_ngram"] == pytest.approx(11 / 65)
    table = (report / "table.md").read_text()
    assert "| distinct_2_per_token |" in table and "| mauve |" in table
    assert "MAUVE" in stdout and sorted(p.name for p in report.iterdir()) == [
        "summary.json",
        "table.md",
    ]
