"""Translation with a CMLM: the length beam, the per-token selection rule, each decoder, the
conditioning on the source, seeds per batch (shards and resumed runs), and the beam path."""

from __future__ import annotations

import pytest
import torch

from tests.samplers.translate_models import LONGEST, build_short_cmlm
from textebm.errors import UsageError
from textebm.models.loading import load_cmlm
from textebm.models.seq2seq import load_seq2seq
from textebm.models.tiny import build_tiny_seq2seq
from textebm.samplers.beam import translate_beam
from textebm.samplers.mh import MetropolisHastings
from textebm.samplers.translate import best_candidates, length_beam, load_translator
from textebm.samplers.translate_config import TranslateConfig
from textebm.samplers.translate_lines import selected_lines, translate_lines

LINES = ["the cat sat", "dogs", "she reads a book today in the park", "a bird sang .", "we ran"]


@pytest.fixture(scope="module")
def short_dir(tmp_path_factory):
    return build_short_cmlm(tmp_path_factory.mktemp("short_cmlm"))


def _config(folder, **changes) -> TranslateConfig:
    settings = dict(model=str(folder), device="cpu", sweeps=2, batch_sentences=2, seed=3)
    return TranslateConfig(**{**settings, **changes})


def _run(folder, lines=LINES, translator=None, **changes):
    config = _config(folder, **changes)
    return translate_lines(config, lines, translator or load_translator(config))


def test_length_beam_by_hand():
    # log p over L = 0..4; L = 0 is never a candidate; the tie at -0.5 goes to the shorter
    log_probs = torch.tensor([[0.0, -1.0, -0.5, -3.0, -0.5]])
    assert length_beam(log_probs, 3).tolist() == [[2, 4, 1]]
    assert length_beam(log_probs, 9).tolist() == [[2, 4, 1, 3]]  # only 4 lengths exist


def test_length_beam_takes_the_predictors_top_lengths(short_dir):
    """The candidates' lengths are the 3 most probable lengths >= 1 of the model's own length
    predictor, called directly (one source at a time, no cache, no batching)."""
    model, tokenizer = load_cmlm(str(short_dir), device="cpu")
    out = _run(short_dir, sampler="greedy")
    for line, translation in zip(LINES, out, strict=True):
        with torch.no_grad():
            ids = tokenizer(line, return_tensors="pt")["input_ids"]
            log_probs = model.predict_length(model.encode(ids))[0].tolist()
        ranked = sorted(range(1, len(log_probs)), key=lambda n: (-log_probs[n], n))[:3]
        assert [c["length"] for c in translation.details["candidates"]] == ranked
        assert all(1 <= n <= LONGEST for n in ranked)


def test_selection_is_per_target_token_by_hand():
    # energies 10, 12, 9 over lengths 4, 6, 3: per token 2.5, 2.0, 3.0 -> the 6-token one,
    # though the 3-token one has the lowest total
    energies = torch.tensor([[10.0, 12.0, 9.0]])
    lengths = torch.tensor([[4.0, 6.0, 3.0]])
    assert best_candidates(energies / lengths, lower=True).tolist() == [1]
    assert best_candidates(torch.tensor([[-2.0, -1.5, -1.5]]), lower=False).tolist() == [1]


@pytest.mark.parametrize("sampler", ["mh", "gibbs", "mask-predict", "greedy"])
def test_each_decoder_translates_every_line(short_dir, sampler):
    out = _run(short_dir, sampler=sampler, energy="raw")
    assert [t.line for t in out] == list(range(len(LINES)))
    for t in out:
        candidates = t.details["candidates"]
        assert len(candidates) == 3 and t.passes > 0 and t.seconds > 0
        assert len(t.text.split()) == t.length  # word-level: one word per target token
        if sampler in ("mh", "gibbs"):
            per_token = [c["energy"] / c["length"] for c in candidates]
            assert [c["energy_per_token"] for c in candidates] == pytest.approx(per_token)
            best = min(range(3), key=lambda i: (per_token[i], i))
            assert 0 <= t.details["novel_transition_rate"] <= t.details["acceptance_rate"] <= 1
        else:
            scores = [c["mean_log_prob"] for c in candidates]
            best = max(range(3), key=lambda i: (scores[i], -i))
        assert (t.text, t.length) == (candidates[best]["text"], candidates[best]["length"])
    if sampler == "gibbs":
        assert all(t.details["acceptance_rate"] == 1 for t in out)


@pytest.mark.parametrize("energy", ["norm", "raw"])
def test_recorded_energies_are_those_of_the_source(short_dir, energy):
    """Every candidate's energy equals E(candidate | its own source) scored afresh: the chains
    were conditioned on the right source throughout, and the encoder ran once per source."""
    config = _config(short_dir, sampler="mh", energy=energy)
    translator = load_translator(config)
    seen = []
    inner = translator.energy._context

    def watch(condition, batch):
        seen.extend(tuple(row[row != 0].tolist()) for row in condition.input_ids)
        return inner(condition, batch)

    translator.energy._context = watch
    out = translate_lines(config, LINES, translator)
    sources = {tuple(translator.tokenizer(line)["input_ids"]) for line in LINES}
    assert set(seen) <= sources  # no pass ever saw anything but one of the sources
    assert translator.energy.encoder_cost.sequences == len(LINES)
    pairs = [(line, c) for line, t in zip(LINES, out, strict=True) for c in t.details["candidates"]]
    scored = translator.energy.score_pairs([s for s, _ in pairs], [c["text"] for _, c in pairs])
    assert scored == pytest.approx([c["energy"] for _, c in pairs], rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("sampler", ["mask-predict", "greedy"])
def test_deterministic_decoders_do_not_depend_on_the_batch(short_dir, sampler):
    together = _run(short_dir, sampler=sampler, batch_sentences=5)
    alone = _run(short_dir, sampler=sampler, batch_sentences=1)
    assert [t.text for t in together] == [t.text for t in alone]


def test_seeds_repeat_and_differ(short_dir):
    config = _config(short_dir, sampler="mh")
    translator = load_translator(config)
    first = [t.text for t in translate_lines(config, LINES, translator)]
    again = [t.text for t in translate_lines(config, LINES, translator)]
    other = _config(short_dir, sampler="mh", seed=4)
    assert first == again
    assert first != [t.text for t in translate_lines(other, LINES, translator)]


def test_a_shard_is_the_run_of_its_lines_and_a_resumed_run_its_tail(short_dir):
    """Shard 1/2 of 5 lines is lines 3-4; it writes what a run of those lines writes. A run
    resumed after 2 done lines (one batch) writes the last 3 lines of the whole run."""
    config = _config(short_dir, sampler="mh")
    translator = load_translator(config)
    whole = [t.text for t in translate_lines(config, LINES, translator)]
    assert selected_lines(5, config, _shard(1, 2)) == range(3, 5)
    shard = translate_lines(config, LINES, translator, shard=_shard(1, 2))
    part = _config(short_dir, sampler="mh", start_line=3)
    assert [t.text for t in shard] == [t.text for t in translate_lines(part, LINES, translator)]
    resumed = translate_lines(config, LINES, translator, done=2)
    assert [t.line for t in resumed] == [2, 3, 4]
    assert [t.text for t in resumed] == whole[2:]


def _shard(rank, world):
    from textebm.data.shards import Shard

    return Shard(rank, world)


@pytest.mark.parametrize("block", [1, 2])
def test_each_chain_sweeps_its_own_length(short_dir, monkeypatch, block):
    """Chains of different lengths run in one batch, yet each sweep of chain i changes
    ceil(L_i / block) blocks of min(block, L_i) sites: sweeps x that many sites in all."""
    from textebm.samplers.gibbs import DegenerateGibbs

    sites, original = [], DegenerateGibbs.step

    def record(self, generator, state):
        state, info = original(self, generator, state)
        sites.append(info.sites.sum(dim=1))
        return state, info

    monkeypatch.setattr(DegenerateGibbs, "step", record)
    out = _run(short_dir, sampler="gibbs", sweeps=3, block_size=block, batch_sentences=5)
    lengths = [c["length"] for t in out for c in t.details["candidates"]]
    assert len(set(lengths)) > 1
    expected = [3 * -(-n // block) * min(block, n) for n in lengths]
    assert torch.stack(sites).sum(dim=0).tolist() == expected


def test_annealing_lowers_the_temperature_geometrically(short_dir, monkeypatch):
    temperatures = []
    original = MetropolisHastings.at_temperature

    def record(self, temperature):
        temperatures.append(temperature)
        return original(self, temperature)

    monkeypatch.setattr(MetropolisHastings, "at_temperature", record)
    _run(short_dir, lines=LINES[:1], sampler="mh", sweeps=3, temperature=2.0, anneal_to=0.5)
    assert temperatures == pytest.approx([2.0, 1.0, 0.5])  # one per sweep


def test_bad_lines_and_wrong_decoders_are_usage_errors(short_dir, tmp_path):
    with pytest.raises(UsageError, match="line 2 is empty"):
        _run(short_dir, lines=["dogs", " ", "cats"])
    with pytest.raises(UsageError, match=r"line 1: .* more than the model's maximum of 64"):
        _run(short_dir, lines=["dogs " * 70])
    cut = _run(short_dir, lines=["dogs " * 70], sampler="greedy", truncate=True)
    assert cut[0].truncated
    with pytest.raises(UsageError, match="--sampler beam decodes an encoder-decoder"):
        load_translator(_config(short_dir, sampler="beam"))
    with pytest.raises(UsageError, match="--start-line 9 is past"):
        _run(short_dir, start_line=9)
    with pytest.raises(UsageError, match="--end-line 1 must be more than --start-line 2"):
        _config(short_dir, start_line=2, end_line=1)


def test_the_seq2seq_path_is_translate_beam(tmp_path):
    folder = build_tiny_seq2seq(tmp_path / "s2s", init_scale=5.0)
    config = TranslateConfig(model=str(folder), device="cpu", sampler="beam", beam=2)
    out = translate_lines(config, LINES)
    model, tokenizer = load_seq2seq(str(folder), device="cpu")
    reference = translate_beam(model, tokenizer, LINES, beam=2)
    assert [t.text for t in out] == reference.texts
    assert [t.details["beam_score"] for t in out] == pytest.approx(reference.scores)
    with pytest.raises(UsageError, match="is an encoder-decoder: use --sampler beam"):
        load_translator(TranslateConfig(model=str(folder), sampler="mh"))
