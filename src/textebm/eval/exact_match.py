"""Exact-match accuracy of a causal LM on question/answer problems (the arithmetic task,
`textebm.data.arithmetic`).

Each question is continued from `bos question` (as `textebm generate` does), greedily by default,
with the model's `<bkspc>` applied as it samples; a problem is right when the model ended its
answer (eos) and the final text, backspaces applied, equals the answer with spaces ignored.

Greedy decoding bans, by default, a token in the state a backspace deleted it from
(`generate`'s `ban_deleted`): without it any greedy backspace returns to a state that greedy
leaves the same way, and the answer loops `y <bkspc> y <bkspc> ...` until the action limit.
`ended` counts the answers that reached eos, so loops show up as answers that did not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.data.arithmetic import Problem
from textebm.energies.causal_lm import causal_specials
from textebm.models.backspace import backspace_id
from textebm.samplers.generate import generate, prompt_ids


@dataclass
class ExactMatch:
    """accuracy: share of problems right; right, answers, backspaces, ended (reached eos): per
    problem."""

    accuracy: float
    right: list[bool]
    answers: list[str]
    backspaces: list[int]
    ended: list[bool]


def _squash(text: str) -> str:
    return "".join(text.split())


@torch.no_grad()
def exact_match(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    problems: Sequence[Problem],
    generator: torch.Generator,
    *,
    temperature: float = 0.0,
    max_new_tokens: int | None = None,
    backspace: bool = True,
    batch_size: int = 64,
    ban_deleted: bool | None = None,
) -> ExactMatch:
    """Answer each question with `model` and compare with the answer (see the module notes).

    temperature: 0 decodes greedily; max_new_tokens: actions per answer, by default three times
    the longest answer's tokens plus two (room for backspaces and eos); backspace: let a model
    with `<bkspc>` use it (False bans it); ban_deleted: never redraw a token in the state a
    backspace deleted it from (default: with greedy decoding only; module notes).
    """
    if ban_deleted is None:
        ban_deleted = temperature == 0
    _, eos = causal_specials(tokenizer)
    token = backspace_id(tokenizer)
    answers = tokenizer([p.answer for p in problems], add_special_tokens=False)["input_ids"]
    if max_new_tokens is None:
        max_new_tokens = 3 * max(map(len, answers)) + 2
    prompts = prompt_ids(tokenizer, [p.question for p in problems])
    right, texts, backspaces, ended_all = [], [], [], []
    model.eval()
    for start in range(0, len(problems), batch_size):
        chunk = slice(start, start + batch_size)
        sampled = generate(
            model,
            prompts[chunk],
            generator,
            eos_token_id=eos,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            pad_token_id=tokenizer.pad_token_id,
            backspace_token_id=token if backspace else None,
            banned_token_ids=[token] if token is not None and not backspace else None,
            ban_deleted=ban_deleted,
        )
        decoded = [tokenizer.decode(ids, skip_special_tokens=True) for ids in sampled.token_lists()]
        for problem, text, ended in zip(
            problems[chunk], decoded, sampled.finished.tolist(), strict=True
        ):
            right.append(ended and _squash(text) == _squash(problem.answer))
            texts.append(text)
        backspaces += sampled.n_backspaces.tolist()
        ended_all += sampled.finished.tolist()
    return ExactMatch(sum(right) / len(right), right, texts, backspaces, ended_all)
