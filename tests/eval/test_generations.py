"""Metrics of generations: backspace use by hand; reference perplexity and the backspace-undo
rate against a naive replay with one full forward pass per state."""

from __future__ import annotations

import json
import statistics

import pytest
import torch

from textebm.energies.causal_lm import CausalLMEnergy
from textebm.errors import UsageError
from textebm.eval.generations import (
    GeneratedText,
    backspace_undo,
    backspace_use,
    diversity,
    read_generations,
    reference_perplexity,
)

BK = "<bkspc>"


@pytest.fixture(scope="module")
def energy(clm):
    return CausalLMEnergy(*clm)


@torch.no_grad()
def naive_log_prob(model, ids: list[int], token: int) -> float:
    """log p(token | ids) from one full forward pass, no cache, no padding."""
    logits = model(input_ids=torch.tensor([ids])).logits[0, -1].double()
    return float(torch.log_softmax(logits, -1)[token])


def test_backspace_use_and_diversity_by_hand():
    records = [
        GeneratedText("a b", actions=["a", "x", BK, "b"], n_backspaces=1),
        GeneratedText("c", actions=["c", "[SEP]"], finished=True),
    ]
    use = backspace_use(records)
    assert (use["backspaces"], use["actions"]) == (1, 6)
    assert use["backspace_rate"] == pytest.approx(1 / 6) and use["with_backspace"] == 0.5
    metrics = diversity(["a b a b", "c"])
    assert metrics["distinct_1_per_ngram"] == pytest.approx(3 / 5)
    assert metrics["distinct_2_per_ngram"] == pytest.approx(2 / 3)
    assert metrics["distinct_2_per_token"] == pytest.approx(2 / 5)
    assert metrics["repetition_4"] == 0.0


def test_reference_perplexity_equals_a_naive_sum(clm, energy):
    model, tokenizer = clm
    records = [
        GeneratedText("sat on the mat", prompt="the cat", finished=True),
        GeneratedText("dogs ran", prompt="", finished=False),
        GeneratedText("", prompt="we saw", finished=True),  # only the eos is scored
    ]
    nll, count = 0.0, 0
    for record in records:
        ids = [tokenizer.bos_token_id, *tokenizer.encode(record.prompt, add_special_tokens=False)]
        continuation = tokenizer.encode(record.text, add_special_tokens=False)
        if record.finished:
            continuation.append(tokenizer.eos_token_id)
        for token in continuation:
            nll -= naive_log_prob(model, ids, token)
            ids.append(token)
            count += 1
    result = reference_perplexity(energy, records)
    assert result["reference_scored_tokens"] == count == (4 + 1) + 2 + 1  # eos where finished
    assert result["reference_nll_per_token"] == pytest.approx(nll / count, abs=1e-4)
    assert result["reference_perplexity"] == pytest.approx(torch.tensor(nll / count).exp().item())


def test_backspace_undo_equals_a_naive_replay(clm, energy):
    model, tokenizer = clm
    records = [
        GeneratedText("", prompt="the cat", actions=["sat", "dog", BK, "on", BK, BK, "ran"]),
        GeneratedText(
            "", prompt="", actions=["we", "saw", "them", BK, "her", "[SEP]"], finished=True
        ),
        GeneratedText("", prompt="a dog", actions=["ran", "quickly"]),
    ]
    deleted, kept = [], []
    for record in records:
        prompt = [tokenizer.bos_token_id]
        prompt += tokenizer.encode(record.prompt, add_special_tokens=False)
        live, written = [], []  # written: log p of each live token when it was written
        actions = record.actions[:-1] if record.finished else record.actions
        for action in actions:
            if action == BK:
                live.pop()
                deleted.append(written.pop())
            else:
                token = tokenizer.convert_tokens_to_ids(action)
                written.append(naive_log_prob(model, prompt + live, token))
                live.append(token)
        kept += written
    median = statistics.median(kept)
    result = backspace_undo(energy, records)
    assert result["backspaces_scored"] == len(deleted) == 4
    assert result["median_kept_log_prob"] == pytest.approx(median, abs=1e-4)
    assert result["mean_deleted_log_prob"] == pytest.approx(sum(deleted) / 4, abs=1e-4)
    assert result["undo_unlikely_rate"] == sum(lp < median for lp in deleted) / 4


def test_backspace_undo_needs_actions_in_the_reference_vocabulary(energy):
    foreign = [GeneratedText("", actions=["Ġthe", BK])]
    result = backspace_undo(energy, foreign)
    assert result["undo_unlikely_rate"] is None and "vocabulary" in result["undo_reason"]
    bare = backspace_undo(energy, [GeneratedText("the cat")])
    assert bare["undo_unlikely_rate"] is None and "no actions" in bare["undo_reason"]


def test_read_generations_errors_name_the_line(tmp_path):
    path = tmp_path / "g.jsonl"
    good = json.dumps({"text": "a b", "prompt": "p", "actions": ["a", "b"]})
    path.write_text(good + "\n\n" + "{not json\n")
    with pytest.raises(UsageError, match="line 3 is not JSON"):
        read_generations(str(path))
    path.write_text(good + "\n" + json.dumps({"prompt": "p"}) + "\n")
    with pytest.raises(UsageError, match='line 2 has no "text"'):
        read_generations(str(path))
    path.write_text("")
    with pytest.raises(UsageError, match="no generations"):
        read_generations(str(path))
