"""Generation with a backspace action: rollback exact against a from-scratch replay, the prompt
never deleted, seeded, on GPT-2- and Llama-shaped tiny models."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import torch

from tests.samplers.backspace_models import with_backspace
from textebm.data.actions import apply_actions
from textebm.models.backspace import BKSPC_TOKEN, backspace_id
from textebm.models.tiny import tiny_llama, wordlevel_tokenizer
from textebm.samplers.generate import generate, generate_texts, prompt_ids

PROMPTS = ["the cat", "", "we saw them yesterday near", "dogs"]


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def bk_model(request, clm_dir):
    from textebm.models.loading import load_causal_lm

    if request.param == "gpt2":
        model, tokenizer = load_causal_lm(str(clm_dir), device="cpu")
    else:
        tokenizer = wordlevel_tokenizer()
        # 2 heads sharing 1 key/value head at 5x the initialiser range: the model these tests
        # were tuned on (enough backspaces drawn to exercise every path)
        model = tiny_llama(tokenizer, init_scale=5.0, num_attention_heads=2, num_key_value_heads=1)
    return with_backspace(model, tokenizer, logit=4.0)


def _run(bk_model, seed=0, prompts=PROMPTS, **settings):
    model, tokenizer, bk = bk_model
    settings.setdefault("max_new_tokens", 16)
    return generate(
        model,
        prompt_ids(tokenizer, prompts),
        torch.Generator().manual_seed(seed),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        backspace_token_id=bk,
        **settings,
    )


def test_apply_actions_without_a_backspace_token_keeps_every_action():
    a, b, bk = 5, 6, 99
    assert apply_actions([a, bk, b], None) == [a, bk, b]


@torch.no_grad()
@pytest.mark.parametrize("use_cache", [True, False])
def test_rolled_back_logits_equal_a_from_scratch_replay(bk_model, use_cache):
    """Replay every row's actions naively: one full forward pass over the live sequence per
    state, <bkspc> masked when only the prompt is live. The log-probs the generator recorded
    must be those of the replayed states, after backspaces too."""
    model, tokenizer, bk = bk_model
    out = _run(bk_model, seed=3, max_new_tokens=24, use_cache=use_cache)
    to_prompt = 0  # backspaces that deleted the only new token, back to the bare prompt
    for row, text in enumerate(PROMPTS):
        prompt = prompt_ids(tokenizer, [text])[0]
        live = list(prompt)
        for step, action in enumerate(out.tokens[row, : out.lengths[row]].tolist()):
            logits = model(input_ids=torch.tensor([live])).logits[0, -1].double()
            if len(live) == len(prompt):
                assert action != bk, "a backspace was drawn with only the prompt live"
                logits[bk] = float("-inf")
            expected = float(torch.log_softmax(logits, -1)[action])
            assert float(out.model_log_probs[row, step]) == pytest.approx(expected, abs=1e-4)
            if action == bk:
                live.pop()
                to_prompt += len(live) == len(prompt)
            else:
                live.append(action)
        final = live[len(prompt) :]
        assert out.token_lists(drop_eos=False)[row] == final
    assert int(out.n_backspaces.sum()) >= 8 and to_prompt >= 1  # the paths were exercised
    counted = [row.count(bk) for row in out.action_lists(drop_eos=False)]
    assert out.n_backspaces.tolist() == counted


def test_cache_equals_no_cache_and_seeds_repeat(bk_model):
    settings = dict(seed=5, temperature=0.9, top_k=30, top_p=0.95, max_new_tokens=20)
    cached, again = _run(bk_model, **settings), _run(bk_model, **settings)
    uncached = _run(bk_model, use_cache=False, **settings)
    assert torch.equal(cached.tokens, again.tokens)
    assert torch.equal(cached.tokens, uncached.tokens)
    assert torch.allclose(cached.log_probs, uncached.log_probs, atol=1e-5)
    assert (cached.lengths <= 20).all()  # max_new_tokens counts actions, backspaces included
    assert not torch.equal(cached.tokens, _run(bk_model, **{**settings, "seed": 6}).tokens)


def test_greedy_with_a_dominant_backspace_alternates_token_and_backspace(bk_model):
    """With <bkspc> the argmax everywhere it is allowed, greedy decoding writes the prompt's
    best token A, deletes it, and is back at the prompt: A <bkspc> A <bkspc> ... The second A is
    drawn from the rolled-back state, so its log-prob equals the first one's."""
    model, _, bk = bk_model
    weight = model.get_output_embeddings().weight
    saved = weight[bk].clone()
    with torch.no_grad():
        weight[bk] *= 50.0
    try:
        out = _run(bk_model, temperature=0, max_new_tokens=7)
    finally:
        with torch.no_grad():
            weight[bk] = saved
    for row in range(len(PROMPTS)):
        actions = out.tokens[row].tolist()
        first = actions[0]
        assert first != bk and actions == [first, bk] * 3 + [first]
        assert out.token_lists()[row] == [first]
        logp = out.model_log_probs[row]
        assert torch.allclose(logp[[2, 4, 6]], logp[0].expand(3), atol=1e-5)
    assert out.n_backspaces.tolist() == [3] * len(PROMPTS)


def test_generate_texts_decodes_the_final_tokens(bk_model):
    model, tokenizer, bk = bk_model
    texts, out = generate_texts(
        model,
        tokenizer,
        PROMPTS,
        torch.Generator().manual_seed(1),
        max_new_tokens=12,
        backspace_token_id=bk,
    )
    assert int(out.n_backspaces.sum()) > 0
    assert texts == [tokenizer.decode(ids) for ids in out.token_lists()]
    assert all(BKSPC_TOKEN not in text for text in texts)


def test_backspace_id_lookup_and_range(clm, bk_model):
    assert backspace_id(clm[1]) is None  # the plain tiny model has no <bkspc>
    model, tokenizer, bk = bk_model
    assert bk == len(tokenizer) - 1
    with pytest.raises(ValueError, match="not among the model's"):
        _run((model, tokenizer, len(tokenizer) + 5), max_new_tokens=2)


def test_banned_tokens_are_never_drawn(bk_model):
    model, tokenizer, bk = bk_model
    out = _run((model, tokenizer, None), seed=2, banned_token_ids=[bk], max_new_tokens=24)
    assert int(out.n_backspaces.sum()) == 0 and not (out.tokens == bk).any()
    assert (out.model_log_probs > -1e9).all()  # the drawn tokens keep finite probabilities


@contextmanager
def boosted_backspace(bk_model, factor: float):
    """The model with its <bkspc> output row scaled by `factor` (restored afterwards)."""
    model, _, bk = bk_model
    weight = model.get_output_embeddings().weight
    saved = weight[bk].clone()
    with torch.no_grad():
        weight[bk] *= factor
    try:
        yield
    finally:
        with torch.no_grad():
            weight[bk] = saved


def _replay_bans(actions: list[int], bk: int, eos: int) -> tuple[list, int]:
    """(state, action) pairs of an action list (states as the live new tokens) and how many
    actions were drawn under a ban; asserts that no action redraws a token a backspace deleted
    from the same state."""
    live: list[int] = []
    deleted: dict[tuple[int, ...], set[int]] = {}
    pairs, under_ban = [], 0
    for action in actions:
        state = tuple(live)
        assert action not in deleted.get(state, set()), (state, action)
        under_ban += bool(deleted.get(state))
        pairs.append((state, action))
        if action == bk:
            gone = live.pop()
            deleted.setdefault(tuple(live), set()).add(gone)
        elif action != eos:
            live.append(action)
    return pairs, under_ban


def test_greedy_with_ban_deleted_never_revisits_a_state_action_pair(bk_model):
    """The dominant-backspace model of the test above: plain greedy decoding repeats its first
    (state, action) pairs forever; with ban_deleted each return to the prompt tries a new token
    (the next in the model's ranking), so no pair repeats. The recorded p stays the model's own
    policy (the ban acts on the draw only)."""
    _, tokenizer, bk = bk_model
    eos = tokenizer.eos_token_id
    with boosted_backspace(bk_model, 50.0):
        banned = _run(bk_model, temperature=0, max_new_tokens=9, ban_deleted=True)
        plain = _run(bk_model, temperature=0, max_new_tokens=9)
    for row in range(len(PROMPTS)):
        loop, _ = _replay_bans(plain.tokens[row, :2].tolist(), bk, eos)
        actions = plain.tokens[row, : plain.lengths[row]].tolist()
        assert actions == [loop[0][1], bk] * 4 + [loop[0][1]]  # the loop
        actions = banned.tokens[row, : banned.lengths[row]].tolist()
        pairs, under_ban = _replay_bans(actions, bk, eos)
        assert len(set(pairs)) == len(pairs) and under_ban >= 1
        assert actions[:2] == [loop[0][1], bk]
        # Tokens written at the prompt: distinct, in the model's order (p falls at each one).
        at_prompt = [t for t, (state, action) in enumerate(pairs) if not state]
        assert len(at_prompt) >= 2
        assert (banned.model_log_probs[row, at_prompt].diff() < 0).all()


def test_sampling_with_ban_deleted_never_redraws_a_deleted_token(bk_model):
    _, tokenizer, bk = bk_model
    with boosted_backspace(bk_model, 1.5):
        out = _run(bk_model, seed=4, max_new_tokens=30, ban_deleted=True)
    under_ban = 0
    for row in range(len(PROMPTS)):
        actions = out.tokens[row, : out.lengths[row]].tolist()
        under_ban += _replay_bans(actions, bk, tokenizer.eos_token_id)[1]
    assert under_ban >= 10  # the rule was exercised
