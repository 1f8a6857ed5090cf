"""`textebm sample` end to end: outputs, conditioning, determinism, one-line errors."""

from __future__ import annotations

import json

import pytest
import torch

from textebm.cli.main import main
from textebm.energies import MaskedLMEnergy

pytestmark = pytest.mark.usefixtures("_quiet_and_one_thread")


def _sample(args: list[str], capsys) -> tuple[int, str]:
    code = main(["sample", *args])
    return code, capsys.readouterr().err


def _records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_writes_samples_diagnostics_and_trace(wordlevel_dir, wordlevel, tmp_path, capsys):
    out = tmp_path / "run.jsonl"
    args = [
        "--model",
        str(wordlevel_dir),
        "--energy",
        "raw",
        "--length",
        "5",
        "--chains",
        "3",
        "--sweeps",
        "6",
        "--burn-in",
        "2",
        "--thin",
        "3",
        "-o",
        str(out),
    ]
    code, err = _sample(args, capsys)
    assert code == 0, err
    records = _records(out)
    assert [(r["sweep"], r["chain"]) for r in records] == [(s, c) for s in (5, 8) for c in range(3)]
    assert set(records[0]) == {"chain", "sweep", "text", "token_ids", "energy"}
    model, tokenizer = wordlevel
    energy = MaskedLMEnergy(model, tokenizer, kind="raw")
    special = set(tokenizer.all_special_ids)
    for record in records:
        assert len(record["token_ids"]) == 5 and not special & set(record["token_ids"])
        assert record["text"] == tokenizer.decode(record["token_ids"])
        assert record["energy"] == pytest.approx(
            energy.score_texts([record["text"]])[0].energy, abs=1e-4
        )
    diagnostics = json.loads((tmp_path / "run.diagnostics.json").read_text())
    assert diagnostics["init"]["from"] == "all-mask"
    assert diagnostics["init"]["masks_filled_by_proposals"] == 15
    for key in ("acceptance_rate", "novel_transition_rate", "energy_ess_bulk", "energy_rhat"):
        assert key in diagnostics
    assert diagnostics["settings"]["seed"] == 0
    assert (tmp_path / "run.trace.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_output(wordlevel_dir, tmp_path, capsys):
    outputs = []
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        out = tmp_path / f"{name}.jsonl"
        args = [
            "--model",
            str(wordlevel_dir),
            "--length",
            "4-6",
            "--chains",
            "3",
            "--sweeps",
            "4",
            "--burn-in",
            "0",
            "--thin",
            "2",
            "--seed",
            seed,
            "-o",
            str(out),
        ]
        assert _sample(args, capsys)[0] == 0
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1] != outputs[2]
    assert len({len(r["token_ids"]) for r in _records(tmp_path / "a.jsonl")}) >= 1


@pytest.mark.parametrize(
    ("extra", "check"),
    [
        (
            ["--init", "the [MASK] sat on the [MASK] .", "--fixed"],
            lambda texts: all(t.startswith("the ") and " sat on the " in t for t in texts),
        ),
        (
            ["--prefix", "the cat", "--length", "5"],
            lambda texts: all(t.startswith("the cat ") and len(t.split()) == 5 for t in texts),
        ),
        (
            ["--init", "the cat sat on the mat"],
            lambda texts: all(len(t.split()) == 6 for t in texts),
        ),
        (
            ["--length", "5", "--sampler", "gibbs", "--block-size", "2", "--top-k", "5"],
            lambda texts: all(len(t.split()) == 5 for t in texts),
        ),
        (
            [
                "--length",
                "5",
                "--block-size",
                "2",
                "--block-layout",
                "scattered",
                "--scan",
                "systematic",
                "--top-p",
                "0.9",
                "--proposal-temperature",
                "1.5",
                "--anneal-to",
                "0.5",
            ],
            lambda texts: all(len(t.split()) == 5 for t in texts),
        ),
    ],
)
def test_conditioning_and_samplers(wordlevel_dir, tmp_path, capsys, extra, check):
    out = tmp_path / "out.jsonl"
    args = [
        "--model",
        str(wordlevel_dir),
        "--chains",
        "2",
        "--sweeps",
        "3",
        "--burn-in",
        "1",
        "--thin",
        "1",
        *extra,
        "-o",
        str(out),
    ]
    code, err = _sample(args, capsys)
    assert code == 0, err
    texts = [r["text"] for r in _records(out)]
    assert len(texts) == 6 and check(texts)


@pytest.mark.parametrize("decode", ["argmax", "sample"])
def test_mask_predict(wordlevel_dir, tmp_path, capsys, decode):
    out = tmp_path / "mp.jsonl"
    args = [
        "--model",
        str(wordlevel_dir),
        "--sampler",
        "mask-predict",
        "--length",
        "6",
        "--chains",
        "3",
        "--sweeps",
        "4",
        "--decode",
        decode,
        "-o",
        str(out),
    ]
    assert _sample(args, capsys)[0] == 0
    records = _records(out)
    assert [r["sweep"] for r in records] == [4, 4, 4]
    distinct = len({r["text"] for r in records})
    assert distinct == 1 if decode == "argmax" else distinct > 1
    diagnostics = json.loads((tmp_path / "mp.diagnostics.json").read_text())
    assert diagnostics["iterations"] == 4 and diagnostics["masked_per_iteration"][0] == 18


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--length", "200"],
            "--length 200 needs 202 tokens with special tokens; the model takes at most 128",
        ),
        (["--init", "the cat sat", "--fixed"], "--init: a fixed template needs at least one"),
        (["--length", "5", "--top-p", "0"], "--top-p must be in (0, 1], not 0.0"),
        (["--length", "5", "--top-p", "1.5"], "--top-p must be in (0, 1]"),
        (["--length", "5", "--temperature", "0"], "--temperature must be positive"),
        (["--length", "5", "--top-k", "-1"], "--top-k must be >= 0"),
        (["--length", "5", "--chains", "0"], "--chains must be >= 1"),
        (["--length", "5", "--thin", "0"], "--thin must be >= 1"),
        (["--length", "5", "--sweeps", "3", "--thin", "4"], "--thin 4 is more than --sweeps 3"),
        (["--length", "3", "--block-size", "4"], "--block-size 4 is more than the 3 positions"),
        (["--length", "x"], "--length must be a number L or a range A-B"),
        (["--length", "6-4"], "A <= B"),
        (["--fixed", "--length", "4"], "--fixed needs --init"),
        (["--prefix", "the cat"], "--prefix TEXT needs --length"),
        (["--prefix", "the cat", "--length", "2"], "nothing to sample after a prefix"),
        (["--init", "the cat", "--length", "4"], "give --init TEXT alone"),
        ([], "say what to sample"),
    ],
)
def test_bad_arguments_are_one_line_exit_2(wordlevel_dir, tmp_path, capsys, args, message):
    out = tmp_path / "out.jsonl"
    code, err = _sample(["--model", str(wordlevel_dir), *args, "-o", str(out)], capsys)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def _run(wordlevel_dir, tmp_path, capsys, name: str, extra: list[str]) -> list[dict]:
    out = tmp_path / f"{name}.jsonl"
    args = ["--model", str(wordlevel_dir), "--chains", "3", "--sweeps", "4", "--burn-in", "2"]
    code, err = _sample([*args, "--thin", "2", *extra, "-o", str(out)], capsys)
    assert code == 0, err
    return _records(out)


@pytest.mark.parametrize(
    "extra",
    [
        ["--length", "3-6", "--seed", "4", "--top-p", "0.9", "--anneal-to", "0.3"],
        ["--length", "5", "--sampler", "gibbs", "--block-size", "2", "--proposal-temperature", "2"],
        ["--init", "the [MASK] sat on the [MASK] .", "--fixed", "--energy", "raw"],
        ["--length", "5", "--sampler", "mask-predict", "--decode", "sample", "--top-k", "9"],
    ],
)
def test_command_and_library_give_the_same_samples(wordlevel_dir, tmp_path, capsys, extra):
    from textebm.cli.main import build_parser
    from textebm.samplers import SampleConfig, sample

    records = _run(wordlevel_dir, tmp_path, capsys, "cli", extra)
    args = vars(
        build_parser().parse_args(["sample", "--model", str(wordlevel_dir), *extra, "-o", "x"])
    )
    fields = {k: v for k, v in args.items() if k not in ("func", "command", "output", "config")}
    config = SampleConfig(**{**fields, "chains": 3, "sweeps": 4, "burn_in": 2, "thin": 2})
    result = sample(config, progress=False)
    assert result.records == records
    assert result.diagnostics["settings"]["top_k"] == config.top_k


def test_proposals_follow_the_annealed_target_with_truncation_too(
    wordlevel_dir, wordlevel, tmp_path, capsys
):
    """A top-k that keeps the whole vocabulary truncates nothing, so it must not change the
    samples: it did when --top-k pinned the proposals to --temperature while annealing."""
    _, tokenizer = wordlevel
    anneal = ["--length", "5", "--temperature", "2", "--anneal-to", "0.2", "--seed", "1"]
    plain = _run(wordlevel_dir, tmp_path, capsys, "plain", anneal)
    top_k = _run(
        wordlevel_dir, tmp_path, capsys, "top_k", [*anneal, "--top-k", str(len(tokenizer))]
    )
    assert top_k == plain
    pinned = ["--proposal-temperature", "2"]
    assert _run(wordlevel_dir, tmp_path, capsys, "pinned", [*anneal, *pinned]) != plain


def test_unknown_words_stay_visible(wordlevel_dir, wordlevel, tmp_path, capsys):
    _, tokenizer = wordlevel
    records = _run(
        wordlevel_dir, tmp_path, capsys, "unk", ["--init", "the [MASK] zzqx .", "--fixed"]
    )
    for record in records:
        assert tokenizer.unk_token_id in record["token_ids"] and "[UNK]" in record["text"]
        assert not {tokenizer.cls_token_id, tokenizer.sep_token_id} & set(record["token_ids"])


def test_config_file_and_flags(wordlevel_dir, tmp_path, capsys):
    config = tmp_path / "sample.json"
    config.write_text(json.dumps({"length": "4", "sampler": "gibbs", "seed": 3}))
    from_file = _run(wordlevel_dir, tmp_path, capsys, "file", ["--config", str(config)])
    flags = ["--length", "4", "--sampler", "gibbs", "--seed", "3"]
    assert from_file == _run(wordlevel_dir, tmp_path, capsys, "flags", flags)
    config.write_text(json.dumps({"length": "4", "chains": "many"}))
    code, err = _sample(["--model", str(wordlevel_dir), "--config", str(config), "-o", "x"], capsys)
    assert code == 2 and "chains must be int" in err and len(err.strip().splitlines()) == 1


def test_every_flag_has_help():
    import dataclasses

    from textebm.samplers import SampleConfig

    for f in dataclasses.fields(SampleConfig):
        assert len(f.metadata.get("help", "")) > 10, f.name


def test_an_electric_target_proposed_by_a_masked_lm(
    wordlevel_dir, electric_dir, electric, tmp_path, capsys
):
    """`--energy electric --proposal-model MLM`: MH with Electric as the target; the records'
    energies are Electric's, and the command equals the library."""
    from textebm.energies import ElectricEnergy
    from textebm.samplers import SampleConfig, sample

    out = tmp_path / "electric.jsonl"
    settings = ["--length", "4", "--chains", "3", "--sweeps", "4", "--burn-in", "1", "--thin", "1"]
    args = ["--model", str(electric_dir), "--energy", "electric"]
    args += ["--proposal-model", str(wordlevel_dir), *settings, "-o", str(out)]
    code, err = _sample(args, capsys)
    assert code == 0, err
    records = _records(out)
    target = ElectricEnergy(*electric)
    ids = [
        [target.tokenizer.cls_token_id, *r["token_ids"], target.tokenizer.sep_token_id]
        for r in records
    ]
    with torch.no_grad():
        expected = target(torch.tensor(ids), torch.ones(len(ids), 6, dtype=torch.long)).energy
    assert [r["energy"] for r in records] == pytest.approx(expected.tolist(), abs=1e-4)
    config = SampleConfig(
        model=str(electric_dir),
        energy="electric",
        proposal_model=str(wordlevel_dir),
        length="4",
        chains=3,
        sweeps=4,
        burn_in=1,
        thin=1,
    )
    assert sample(config, progress=False).records == records


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--energy", "electric"], "--energy electric needs --proposal-model"),
        (
            ["--energy", "electric", "--proposal-model", "{mlm}", "--sampler", "gibbs"],
            "--energy electric runs with --sampler mh",
        ),
        (["--proposal-model", "{mlm}"], "--proposal-model is for --energy electric"),
        (["--energy", "electric", "--proposal-model", "{wordpiece}"], "different vocabularies"),
    ],
)
def test_electric_target_errors(
    wordlevel_dir, wordpiece_dir, electric_dir, tmp_path, capsys, extra, message
):
    extra = [
        a.replace("{mlm}", str(wordlevel_dir)).replace("{wordpiece}", str(wordpiece_dir))
        for a in extra
    ]
    args = ["--model", str(electric_dir), "--length", "4", "--chains", "2", "--sweeps", "2"]
    code, err = _sample([*args, "--thin", "1", *extra, "-o", str(tmp_path / "o.jsonl")], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
