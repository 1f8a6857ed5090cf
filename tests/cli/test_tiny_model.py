"""`textebm tiny-model --kind mlm|clm|electric`: each kind loads and scores as its energy."""

from __future__ import annotations

import json

import pytest
from transformers import AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM

from tests.cli.faults import assert_one_line_error, run_main
from textebm.models.electric import ElectricModel


@pytest.mark.parametrize(
    ("kind", "energy", "loader", "tokenizer"),
    [
        ("mlm", "norm", AutoModelForMaskedLM, "wordpiece"),
        ("clm", "clm", AutoModelForCausalLM, "wordlevel"),
        ("electric", "electric", AutoModel, "wordpiece"),
    ],
)
def test_each_kind_builds_a_model_its_energy_scores(
    kind, energy, loader, tokenizer, tmp_path, capsys
):
    folder = tmp_path / kind
    code, out, err = run_main(
        ["tiny-model", str(folder), "--kind", kind, "--tokenizer", tokenizer], capsys
    )
    assert code == 0, err
    assert kind in out or "LM" in out
    model = loader.from_pretrained(folder)
    assert isinstance(model, ElectricModel) == (kind == "electric")
    source = tmp_path / "in.txt"
    source.write_text("the cat sat on the mat .\nthe dog ran .\n")
    scores = tmp_path / "scores.jsonl"
    args = ["score", "--model", str(folder), "--energy", energy, str(source), "-o", str(scores)]
    code, _, err = run_main(args, capsys)
    assert code == 0, err
    records = [json.loads(line) for line in scores.read_text().splitlines()]
    assert len(records) == 2 and all(r["n_tokens"] > 0 for r in records)


def test_the_same_seed_builds_the_same_electric_model(tmp_path, capsys):
    for name in ("a", "b"):
        code, _, err = run_main(["tiny-model", str(tmp_path / name), "--kind", "electric"], capsys)
        assert code == 0, err
    a = (tmp_path / "a" / "model.safetensors").read_bytes()
    assert a == (tmp_path / "b" / "model.safetensors").read_bytes()


def test_a_wordpiece_causal_lm_is_a_one_line_error(tmp_path, capsys):
    args = ["tiny-model", str(tmp_path / "m"), "--kind", "clm", "--tokenizer", "wordpiece"]
    code, _, err = run_main(args, capsys)
    assert_one_line_error(code, err, "--kind clm", "word-level")
    assert not (tmp_path / "m").exists()
