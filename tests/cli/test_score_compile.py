"""`textebm score --compile`: the compiled forward pass gives the eager command's scores."""

from __future__ import annotations

import json

import pytest
import torch

from textebm.cli.main import main


@pytest.mark.slow
def test_compile_flag_gives_the_eager_scores(wordlevel_dir, sentences, tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_text("\n".join(sentences) + "\n")
    records = {}
    for name, flags in {"eager": [], "compiled": ["--compile"]}.items():
        out = tmp_path / f"{name}.jsonl"
        torch._dynamo.reset()
        code = main(["score", "--model", str(wordlevel_dir), str(source), "-o", str(out), *flags])
        assert code == 0, capsys.readouterr().err
        records[name] = [json.loads(line) for line in out.read_text().splitlines()]
    for eager, compiled in zip(records["eager"], records["compiled"], strict=True):
        assert compiled["tokens"] == eager["tokens"]
        assert compiled["energy"] == pytest.approx(eager["energy"], abs=1e-4)
        assert compiled["token_energies"] == pytest.approx(eager["token_energies"], abs=1e-4)
