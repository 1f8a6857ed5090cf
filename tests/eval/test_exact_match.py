"""Exact match on question/answer problems, against answers read off a naive sampling replay."""

from __future__ import annotations

import torch

from textebm.data.actions import apply_actions
from textebm.data.arithmetic import Problem
from textebm.eval.exact_match import exact_match
from textebm.models.backspace import add_backspace
from textebm.models.loading import load_causal_lm
from textebm.samplers.generate import generate, prompt_ids

QUESTIONS = ["the cat", "a dog sat", "one bird", "the man ran on"]


def _replay(model, tokenizer, temperature, seed, max_new_tokens, backspace):
    """Each question's answer drawn by `generate` without the KV cache, backspaces applied by
    hand: (texts, ended)."""
    sampled = generate(
        model,
        prompt_ids(tokenizer, QUESTIONS),
        torch.Generator().manual_seed(seed),
        eos_token_id=tokenizer.sep_token_id,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        pad_token_id=tokenizer.pad_token_id,
        use_cache=False,
        backspace_token_id=backspace,
    )
    texts = []
    for actions in sampled.action_lists():
        texts.append(tokenizer.decode(apply_actions(actions, backspace), skip_special_tokens=True))
    return texts, sampled.finished.tolist()


def test_right_where_the_final_text_equals_the_answer(clm_dir):
    model, tokenizer = load_causal_lm(str(clm_dir))
    token = add_backspace(model, tokenizer)
    with torch.no_grad():  # point <bkspc>'s row along the mean state: backspaces get common
        ids = torch.tensor(prompt_ids(tokenizer, QUESTIONS[:1]))
        hidden = model(ids, output_hidden_states=True).hidden_states[-1].mean(dim=(0, 1))
        logits = model(ids).logits
        model.get_output_embeddings().weight[token] = (
            hidden * (float(logits.max()) + 1) / hidden.square().sum()
        )
    texts, ended = _replay(model, tokenizer, 1.0, seed=5, max_new_tokens=12, backspace=token)
    # Answers: the replayed text where it ended (right), a wrong one for the first question.
    problems = [Problem(q, t) for q, t in zip(QUESTIONS, texts, strict=True)]
    problems[0] = Problem(QUESTIONS[0], texts[0] + " cat")
    got = exact_match(
        model,
        tokenizer,
        problems,
        torch.Generator().manual_seed(5),
        temperature=1.0,
        max_new_tokens=12,
        batch_size=4,
    )
    expected = [False] + [e for e in ended[1:]]
    assert got.right == expected
    assert got.accuracy == sum(expected) / 4
    assert ["".join(a.split()) for a in got.answers] == ["".join(t.split()) for t in texts]
    assert sum(got.backspaces) > 0  # the test exercised backspaces


def test_greedy_and_banned_backspace(clm_dir):
    model, tokenizer = load_causal_lm(str(clm_dir))
    add_backspace(model, tokenizer)
    texts, ended = _replay(model, tokenizer, 0.0, seed=0, max_new_tokens=6, backspace=None)
    problems = [Problem(q, t) for q, t in zip(QUESTIONS, texts, strict=True)]
    got = exact_match(
        model, tokenizer, problems, torch.Generator(), max_new_tokens=6, backspace=False
    )
    assert got.right == ended and got.backspaces == [0] * 4
