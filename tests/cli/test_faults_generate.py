"""Fault injection for `textebm generate` and `textebm eval generations`: one line, exit 2, no
output file or report left behind."""

from __future__ import annotations

import json
import sys

import pytest

from tests.cli.faults import assert_one_line_error, run_main


@pytest.fixture
def prompts(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text("the cat\n")
    return path


def _generate(model_dir, capsys, tmp_path, *args):
    out = tmp_path / "out.jsonl"
    code, _, err = run_main(["generate", "--model", str(model_dir), *args, "-o", str(out)], capsys)
    assert not out.exists()
    return code, err


def test_empty_prompt_file(clm_dir, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    code, err = _generate(clm_dir, capsys, tmp_path, "--prompts", str(empty))
    assert_one_line_error(code, err, "no prompts")
    empty.write_text("the cat\n\n")
    code, err = _generate(clm_dir, capsys, tmp_path, "--prompts", str(empty))
    assert_one_line_error(code, err, "line 2 is empty")


def test_backspace_on_with_a_model_without_one(clm_dir, prompts, tmp_path, capsys):
    code, err = _generate(clm_dir, capsys, tmp_path, "--prompts", str(prompts), "--backspace", "on")
    assert_one_line_error(code, err, "has no <bkspc> token", "--backspace off")


def test_prompt_longer_than_the_context(clm_dir, tmp_path, capsys):
    long = tmp_path / "long.txt"
    long.write_text("the cat\n" + "the " * 120 + "\n")
    args = ("--prompts", str(long), "--max-new-tokens", "10")
    code, err = _generate(clm_dir, capsys, tmp_path, *args)
    assert_one_line_error(code, err, "line 2", "121 prompt tokens", "context of 128")


@pytest.mark.parametrize(
    ("flag", "value", "needle"),
    [
        ("--max-new-tokens", "0", "--max-new-tokens must be a positive integer"),
        ("--temperature", "-1", "--temperature must be >= 0"),
        ("--temperature", "nan", "--temperature must be >= 0"),
        ("--top-k", "0", "--top-k must be a positive integer"),
        ("--top-p", "1.5", "--top-p must lie in (0, 1]"),
        ("--samples-per-prompt", "0", "--samples-per-prompt must be a positive integer"),
        ("--batch-size", "-2", "--batch-size must be a positive integer"),
        ("--max-new-tokens", "ten", "invalid int value"),
    ],
)
def test_bad_numbers(clm_dir, prompts, tmp_path, capsys, flag, value, needle):
    code, err = _generate(clm_dir, capsys, tmp_path, "--prompts", str(prompts), flag, value)
    assert_one_line_error(code, err, needle)


def test_prompt_and_prompts_together_or_neither(clm_dir, prompts, tmp_path, capsys):
    code, err = _generate(clm_dir, capsys, tmp_path, "--prompt", "a", "--prompts", str(prompts))
    assert_one_line_error(code, err, "exactly one of --prompt TEXT or --prompts FILE")
    code, err = _generate(clm_dir, capsys, tmp_path)
    assert_one_line_error(code, err, "exactly one of --prompt TEXT or --prompts FILE")


def test_output_in_a_missing_folder(clm_dir, tmp_path, capsys):
    args = ["generate", "--model", str(clm_dir), "--prompt", "a", "-o", str(tmp_path / "no/x")]
    code, _, err = run_main(args, capsys)
    assert_one_line_error(code, err, "output folder does not exist")


@pytest.fixture
def files(tmp_path):
    generations = tmp_path / "g.jsonl"
    generations.write_text(json.dumps({"text": "the cat sat", "prompt": ""}) + "\n")
    references = tmp_path / "refs.txt"
    references.write_text("a dog ran .\n")
    return generations, references


def _evaluate(capsys, generations, references, report, *extra):
    args = ["eval", "generations", "--generations", str(generations)]
    args += ["--references", str(references), "-o", str(report), *extra]
    code, _, err = run_main(args, capsys)
    return code, err


def test_eval_bad_generations_and_references(files, tmp_path, capsys):
    generations, references = files
    report = tmp_path / "report"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"prompt": "x"}\n')
    assert_one_line_error(*_evaluate(capsys, bad, references, report), 'line 2 has no "text"')
    bad.write_text("")
    assert_one_line_error(*_evaluate(capsys, bad, references, report), "no generations")
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n")
    assert_one_line_error(*_evaluate(capsys, generations, blank, report), "no references")
    assert not report.exists()


def test_eval_without_mauve_installed_names_the_extra(
    files, wordlevel_dir, tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, "mauve", None)
    report = tmp_path / "report"
    code, err = _evaluate(capsys, *files, report, "--features-model", str(wordlevel_dir))
    assert_one_line_error(code, err, "pip install 'textebm[mauve]'")
    assert not report.exists()


def test_eval_report_folder_that_is_a_file_or_holds_other_files(files, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("x")
    assert_one_line_error(*_evaluate(capsys, *files, taken), "is a file")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    assert_one_line_error(*_evaluate(capsys, *files, busy), "holds other files")
    assert (busy / "notes.txt").read_text() == "mine"
