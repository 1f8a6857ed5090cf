"""`textebm score` end to end: output format, bad input, atomic output, many processes."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import pytest

from tests.two_processes import torchrun_two
from textebm.cli.main import main
from textebm.energies import CausalLMEnergy, ElectricEnergy, MaskedLMEnergy
from textebm.energies.reference import naive_masked_lm_energies


def _score(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(["score", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_writes_one_record_per_line_in_order(wordlevel_dir, wordlevel, sentences, tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_text("\n".join(sentences) + "\n")
    out = tmp_path / "out.jsonl"
    code, _, err = _score(["--model", str(wordlevel_dir), str(source), "-o", str(out)], capsys)
    assert code == 0, err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in records] == sentences
    assert set(records[0]) == {"text", "energy", "n_tokens", "n_unk", "tokens", "token_energies"}
    expected = MaskedLMEnergy(*wordlevel).score_texts(sentences)
    for record, item in zip(records, expected, strict=True):
        assert record["energy"] == pytest.approx(item.energy, abs=1e-5)
        assert record["tokens"] == item.tokens
        assert record["n_tokens"] == len(record["token_energies"]) == len(item.tokens)
        assert sum(record["token_energies"]) == pytest.approx(record["energy"], abs=1e-4)


def test_reads_gzip_and_stdin(wordlevel_dir, tmp_path, capsys, monkeypatch):
    plain = tmp_path / "in.txt"
    plain.write_text("the cat sat .\na dog ran .\n")
    zipped = tmp_path / "in.txt.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    _, from_plain, _ = _score(["--model", str(wordlevel_dir), str(plain)], capsys)
    _, from_gzip, _ = _score(["--model", str(wordlevel_dir), str(zipped)], capsys)
    monkeypatch.setattr(sys, "stdin", open(plain, encoding="utf-8"))  # noqa: SIM115
    _, from_stdin, _ = _score(["--model", str(wordlevel_dir), "-"], capsys)
    assert from_plain == from_gzip == from_stdin
    assert len(from_plain.splitlines()) == 2


def test_energy_options_reach_the_scorer(wordpiece_dir, wordpiece, tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_text("the unhappily gardeners sat .\n")
    args = ["--model", str(wordpiece_dir), "--energy", "raw", "--whole-word", "--temperature", "2"]
    _, out, _ = _score([*args, str(source)], capsys)
    expected = MaskedLMEnergy(*wordpiece, kind="raw", whole_word=True, temperature=2.0)
    assert json.loads(out)["energy"] == pytest.approx(
        expected.score_texts(["the unhappily gardeners sat ."])[0].energy, abs=1e-5
    )


def test_unknown_words_are_scored_and_counted(wordlevel_dir, wordlevel, tmp_path, capsys):
    """Each [UNK] gets a term equal to the naive loop's, records count them, and a line of
    nothing but unknown words scores instead of stopping the file."""
    lines = ["the zebra sat on the xylophone .", "zebra xylophone", "the cat sat ."]
    source = tmp_path / "in.txt"
    source.write_text("\n".join(lines) + "\n")
    code, out, err = _score(["--model", str(wordlevel_dir), str(source)], capsys)
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["n_unk"] for r in records] == [2, 2, 0]
    assert [r["n_tokens"] for r in records] == [7, 2, 4]
    for record, terms in zip(records, naive_masked_lm_energies(*wordlevel, lines), strict=True):
        assert record["token_energies"] == pytest.approx(terms, abs=1e-4)
        assert record["energy"] == pytest.approx(sum(terms), abs=1e-4)


def test_whole_word_with_a_slow_tokenizer_is_a_usage_error(
    slow_wordlevel, tmp_path, capsys, monkeypatch
):
    import textebm.models.loading

    monkeypatch.setattr(textebm.models.loading, "load_masked_lm", lambda *a, **k: slow_wordlevel)
    source = tmp_path / "in.txt"
    source.write_text("the cat sat .\n")
    code, _, err = _score(["--model", "slow", "--whole-word", str(source)], capsys)
    assert code == 2
    assert "whole-word masking needs word boundaries" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    code, out, err = _score(["--model", "slow", str(source)], capsys)  # plain masking works
    assert code == 0 and json.loads(out)["n_tokens"] == 4, err


LONG = " ".join(["the cat sat on the mat ."] * 30)  # 210 tokens, the tiny model takes 128


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"the cat\n\nthe dog\n", "line 2 is empty"),
        (b"the cat\n   \n", "line 2 is empty"),
        (b"the cat\nthe \xff dog\n", "line 2 is not valid UTF-8"),
        (f"the cat\n{LONG}\n".encode(), "line 2: 212 tokens, more than the model's maximum of 128"),
        (b"", "no sentences"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    wordlevel_dir, tmp_path, capsys, content, message
):
    source = tmp_path / "in.txt"
    source.write_bytes(content)
    out = tmp_path / "out.jsonl"
    out.write_text("precious earlier result\n")
    code, _, err = _score(["--model", str(wordlevel_dir), str(source), "-o", str(out)], capsys)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert out.read_text() == "precious earlier result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.jsonl"]


def test_truncate_cuts_long_lines(wordlevel_dir, tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_text(LONG + "\n")
    code, out, _ = _score(["--model", str(wordlevel_dir), "--truncate", str(source)], capsys)
    assert code == 0
    assert json.loads(out)["n_tokens"] == 126  # 128 minus [CLS] and [SEP]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "/no/such/model"], "model folder not found: /no/such/model"),
        (["--model", "{tmp}"], "is not a model folder"),
        (["--model", "{model}", "/no/such/file.txt"], "input file not found"),
        (["--model", "{model}", "--batch-tokens", "0"], "--batch-tokens must be positive"),
    ],
)
def test_missing_model_or_file(wordlevel_dir, tmp_path, capsys, args, message):
    source = tmp_path / "in.txt"
    source.write_text("the cat\n")
    args = [a.format(tmp=tmp_path, model=wordlevel_dir) for a in args]
    if not any(a.endswith(".txt") for a in args):
        args.append(str(source))
    code, _, err = _score(args, capsys)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["score", "--energy", "nope", "x"])
    assert exit_info.value.code == 2


@pytest.mark.slow
def test_two_processes_write_what_one_writes(wordlevel_dir, sentences, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("\n".join(sentences * 7) + "\n")  # 35 lines: uneven shards
    env = {**os.environ, "CI": "1", "OMP_NUM_THREADS": "1"}
    common = ["--model", str(wordlevel_dir), "--device", "cpu", str(source)]
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    subprocess.run(
        [sys.executable, "-m", "textebm", "score", *common, "-o", str(one)], check=True, env=env
    )
    result = torchrun_two("-m", "textebm", "score", *common, "-o", str(two))
    assert result.returncode == 0, result.stderr[-2000:]
    # Same records in the same order; energies agree to float precision, not bitwise, since
    # each process packs different copies together and BLAS blocks matrices by their shape.
    records_one = [json.loads(line) for line in one.read_text().splitlines()]
    records_two = [json.loads(line) for line in two.read_text().splitlines()]
    assert len(records_two) == 35
    for a, b in zip(records_one, records_two, strict=True):
        assert (a["text"], a["tokens"], a["n_tokens"]) == (b["text"], b["tokens"], b["n_tokens"])
        assert a["energy"] == pytest.approx(b["energy"], abs=1e-5)
        assert a["token_energies"] == pytest.approx(b["token_energies"], abs=1e-5)


def test_clm_energy_writes_the_causal_lm_records(clm_dir, clm, sentences, tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_text("\n".join(sentences) + "\n")
    args = ["--model", str(clm_dir), "--energy", "clm", "--batch-tokens", "16"]
    code, out, err = _score([*args, "--temperature", "2", str(source)], capsys)
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    expected = CausalLMEnergy(*clm, temperature=2.0).score_texts(sentences)
    assert [r["text"] for r in records] == sentences
    assert set(records[0]) == {"text", "energy", "n_tokens", "n_unk", "tokens", "token_energies"}
    for record, item in zip(records, expected, strict=True):
        assert record["energy"] == pytest.approx(item.energy, abs=1e-5)
        assert record["tokens"] == item.tokens and record["tokens"][-1] == "[SEP]"
        assert record["n_tokens"] == len(record["token_energies"]) == len(item.tokens)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--whole-word"], "--whole-word is for masked LMs"),
        (["--batch-tokens", "0"], "--batch-tokens must be positive"),
        (["{long}"], "line 2: 212 tokens, more than the model's maximum of 128; pass --truncate"),
        (["--model", "{tmp}"], "is not a model folder"),
    ],
)
def test_clm_bad_input_is_one_line_exit_2(clm_dir, tmp_path, capsys, args, message):
    source = tmp_path / "in.txt"
    source.write_text("the cat\n")
    long = tmp_path / "long.txt"
    long.write_text(f"the cat\n{LONG}\n")
    args = [a.format(tmp=tmp_path, long=long) for a in args]
    if not any(a.endswith(".txt") for a in args):
        args.append(str(source))
    code, _, err = _score(["--model", str(clm_dir), "--energy", "clm", *args], capsys)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_clm_truncate_keeps_bos_and_eos(clm_dir, tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_text(LONG + "\n")
    args = ["--model", str(clm_dir), "--energy", "clm", "--truncate", str(source)]
    code, out, _ = _score(args, capsys)
    assert code == 0
    assert json.loads(out)["n_tokens"] == 127  # 128 minus bos; eos kept and scored


def test_clm_records_count_unknown_words(clm_dir, tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_text("the zebra sat .\n")
    code, out, err = _score(["--model", str(clm_dir), "--energy", "clm", str(source)], capsys)
    assert code == 0, err
    record = json.loads(out)
    assert record["n_unk"] == record["tokens"].count("[UNK]") == 1


def test_electric_energy_writes_one_pass_records(
    electric_dir, electric, sentences, tmp_path, capsys
):
    source = tmp_path / "in.txt"
    source.write_text("\n".join([*sentences, "the zebra sat ."]) + "\n")
    args = ["--model", str(electric_dir), "--energy", "electric", "--batch-tokens", "16"]
    code, out, err = _score([*args, "--temperature", "2", str(source)], capsys)
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    expected = ElectricEnergy(*electric, temperature=2.0).score_texts(
        [*sentences, "the zebra sat ."]
    )
    assert [r["text"] for r in records] == [*sentences, "the zebra sat ."]
    assert set(records[0]) == {"text", "energy", "n_tokens", "n_unk", "tokens", "token_energies"}
    for record, item in zip(records, expected, strict=True):
        assert record["energy"] == pytest.approx(item.energy, abs=1e-5)
        assert record["tokens"] == item.tokens and "[CLS]" not in record["tokens"]
        assert record["n_tokens"] == len(record["token_energies"]) == len(item.tokens)
        assert sum(record["token_energies"]) == pytest.approx(record["energy"], abs=1e-4)
    assert records[-1]["n_unk"] == 1 and records[-1]["tokens"][1] == "[UNK]"
    assert "1 of 6 lines hold tokens unknown" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--whole-word"], "--whole-word is for masked LMs, not --energy electric"),
        (["--batch-tokens", "0"], "--batch-tokens must be positive"),
        (["{long}"], "line 2: 212 tokens, more than the model's maximum of 128; pass --truncate"),
        (["{empty}"], "line 2: no tokens to score"),
        (["--model", "{tmp}"], "is not a model folder"),
        (["--model", "{mlm}"], "is a 'bert' model, not an Electric one; for a masked LM use"),
    ],
)
def test_electric_bad_input_is_one_line_exit_2(
    electric_dir, wordlevel_dir, tmp_path, capsys, args, message
):
    source = tmp_path / "in.txt"
    source.write_text("the cat\n")
    long = tmp_path / "long.txt"
    long.write_text(f"the cat\n{LONG}\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("the cat\n[CLS] [SEP]\n")  # words only of special tokens: nothing to score
    names = dict(tmp=tmp_path, long=long, empty=empty, mlm=wordlevel_dir)
    args = [a.format(**names) for a in args]
    if not any(a.endswith(".txt") for a in args):
        args.append(str(source))
    code, _, err = _score(["--model", str(electric_dir), "--energy", "electric", *args], capsys)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_electric_truncate_marks_the_record(electric_dir, tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_text(LONG + "\n")
    args = ["--model", str(electric_dir), "--energy", "electric", "--truncate", str(source)]
    code, out, _ = _score(args, capsys)
    assert code == 0
    record = json.loads(out)
    assert record["n_tokens"] == 126  # 128 minus [CLS] and [SEP]
    assert record["truncated"] is True
    assert record["scored_text"] == " ".join(record["tokens"])
