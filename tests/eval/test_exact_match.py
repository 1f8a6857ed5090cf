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


def _replay(model, tokenizer, temperature, seed, max_new_tokens, backspace, ban_deleted=False):
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
        ban_deleted=ban_deleted,
    )
    texts = []
    for actions in sampled.action_lists():
        texts.append(tokenizer.decode(apply_actions(actions, backspace), skip_special_tokens=True))
    return texts, sampled.finished.tolist()


def _backspace_model(clm_dir, margin: float = 1.0):
    """The tiny model with <bkspc>, its row along the mean state: backspaces get common (the
    argmax in most states for a large margin)."""
    model, tokenizer = load_causal_lm(str(clm_dir))
    token = add_backspace(model, tokenizer)
    with torch.no_grad():
        ids = torch.tensor(prompt_ids(tokenizer, QUESTIONS[:1]))
        hidden = model(ids, output_hidden_states=True).hidden_states[-1].mean(dim=(0, 1))
        logits = model(ids).logits
        model.get_output_embeddings().weight[token] = (
            hidden * (float(logits.max()) + margin) / hidden.square().sum()
        )
    return model, tokenizer, token


def test_right_where_the_final_text_equals_the_answer(clm_dir):
    model, tokenizer, token = _backspace_model(clm_dir)
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


def test_greedy_bans_deleted_tokens_by_default_else_backspaces_loop(clm_dir):
    """Plain greedy decoding: an answer that backspaces once loops `y <bkspc> y ...` to the
    action limit (it never ends and backspaces again and again). The default for greedy bans a
    deleted token in its state, exactly as `generate(ban_deleted=True)`."""
    model, tokenizer, token = _backspace_model(clm_dir, margin=3.0)
    problems = [Problem(q, "x") for q in QUESTIONS]
    settings = dict(max_new_tokens=9, batch_size=4)
    plain = exact_match(
        model, tokenizer, problems, torch.Generator(), ban_deleted=False, **settings
    )
    looping = [b > 0 for b in plain.backspaces]
    assert sum(looping) >= 2  # the dominant backspace made greedy delete
    for loops, ended, count in zip(looping, plain.ended, plain.backspaces, strict=True):
        assert not loops or (not ended and count >= 2)
    default = exact_match(model, tokenizer, problems, torch.Generator(), **settings)
    texts, ended = _replay(model, tokenizer, 0.0, 0, 9, token, ban_deleted=True)
    assert default.ended == ended
    assert ["".join(a.split()) for a in default.answers] == ["".join(t.split()) for t in texts]
    assert default.answers != plain.answers
