"""Generation from a causal LM: seeded, cache-exact, truncations by hand, log-probs recomputed."""

from __future__ import annotations

import math

import pytest
import torch

from textebm.samplers.generate import generate, generate_texts, prompt_ids, truncate_logits

PROMPTS = ["the cat", "", "we saw them yesterday near"]


def _run(clm, prompts=PROMPTS, seed=0, **settings):
    model, tokenizer = clm
    settings.setdefault("max_new_tokens", 8)
    return generate(
        model,
        prompt_ids(tokenizer, prompts),
        torch.Generator().manual_seed(seed),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **settings,
    )


def test_prompts_are_bos_then_prompt_without_eos(clm):
    tokenizer = clm[1]
    bos, cat = tokenizer.bos_token_id, tokenizer.convert_tokens_to_ids("cat")
    assert prompt_ids(tokenizer, ["cat", ""]) == [[bos, cat], [bos]]


def test_same_seed_same_output_and_the_global_rng_is_untouched(clm):
    before = torch.get_rng_state()
    first = _run(clm, seed=3, temperature=1.3, top_p=0.95)
    second = _run(clm, seed=3, temperature=1.3, top_p=0.95)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(first.tokens, second.tokens)
    assert torch.equal(first.log_probs, second.log_probs)
    assert not torch.equal(first.tokens, _run(clm, seed=4, temperature=1.3, top_p=0.95).tokens)


@pytest.mark.parametrize(
    "settings",
    [dict(temperature=0), dict(temperature=1.0), dict(temperature=0.7, top_k=10, top_p=0.9)],
)
def test_kv_cache_equals_recomputing_every_prefix(clm, settings):
    cached = _run(clm, seed=1, **settings)
    uncached = _run(clm, seed=1, use_cache=False, **settings)
    assert torch.equal(cached.tokens, uncached.tokens)
    assert torch.allclose(cached.log_probs, uncached.log_probs, atol=1e-5)
    assert torch.allclose(cached.model_log_probs, uncached.model_log_probs, atol=1e-5)


@torch.no_grad()
def test_greedy_equals_a_naive_argmax_loop_prompt_by_prompt(clm):
    model, tokenizer = clm
    batched = _run(clm, temperature=0, max_new_tokens=6)
    for i, text in enumerate(PROMPTS):
        ids = [tokenizer.bos_token_id, *tokenizer.encode(text, add_special_tokens=False)]
        for _ in range(6):  # one full forward pass per step, no padding, no cache
            ids.append(int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax()))
        assert batched.tokens[i].tolist() == ids[-6:]


def test_top_k_1_is_greedy_with_log_q_zero(clm):
    greedy = _run(clm, temperature=0)
    for temperature in (1.0, 0.7):
        top1 = _run(clm, seed=5, temperature=temperature, top_k=1)
        assert torch.equal(top1.tokens, greedy.tokens)
        assert (top1.log_probs == 0).all() and (greedy.log_probs == 0).all()
        assert torch.allclose(top1.model_log_probs, greedy.model_log_probs, atol=1e-6)


def test_truncations_by_hand():
    probs = torch.tensor([[0.10, 0.50, 0.15, 0.25]])
    logits = probs.log()

    def kept(**settings):
        return torch.isfinite(truncate_logits(logits, **settings))[0].nonzero()[:, 0].tolist()

    # Sorted: 0.50 (1), 0.25 (3), 0.15 (2), 0.10 (0); cumulative 0.50, 0.75, 0.90, 1.00.
    assert kept(top_p=0.4) == [1]  # 0.50 >= 0.4 already
    assert kept(top_p=0.7) == [1, 3]  # 0.75 is the first mass >= 0.7
    assert kept(top_p=0.8) == [1, 2, 3]  # 0.90
    assert kept(top_p=0.95) == [0, 1, 2, 3]
    assert kept(top_p=1.0) == kept() == [0, 1, 2, 3]
    assert kept(top_k=2) == [1, 3]
    assert kept(top_k=3, top_p=0.7) == [1, 3]
    assert kept(top_k=1, top_p=0.99) == [1]
    # Rows are truncated independently; kept logits are untouched.
    two = truncate_logits(torch.stack([logits[0], logits[0].flip(0)]), top_p=0.7)
    assert torch.isfinite(two).tolist() == [[False, True, False, True], [True, False, True, False]]
    assert torch.equal(two[0, [1, 3]], logits[0, [1, 3]])


@torch.no_grad()
@pytest.mark.parametrize(
    "settings", [dict(temperature=1.0), dict(temperature=0.8, top_k=20, top_p=0.9)]
)
def test_log_probs_match_a_recomputation(clm, settings):
    model, tokenizer = clm
    out = _run(clm, seed=2, max_new_tokens=10, **settings)
    for i, text in enumerate(PROMPTS):
        prompt = [tokenizer.bos_token_id, *tokenizer.encode(text, add_special_tokens=False)]
        new = out.tokens[i, : out.lengths[i]].tolist()
        logits = model(input_ids=torch.tensor([prompt + new])).logits[0].double()
        steps = logits[len(prompt) - 1 : -1]  # the logits that predict each new token
        log_p = torch.log_softmax(steps, -1)[torch.arange(len(new)), new]
        tempered = truncate_logits(steps / settings["temperature"], settings.get("top_k"))
        # The nucleus by hand: sorted probabilities, keep until the mass reaches top_p.
        log_q = torch.log_softmax(tempered, -1)
        if "top_p" in settings:
            for row in range(len(new)):
                mass, keep = 0.0, []
                for token in torch.argsort(log_q[row], descending=True).tolist():
                    if mass >= settings["top_p"]:
                        break
                    keep.append(token)
                    mass += math.exp(float(log_q[row, token]))
                assert new[row] in keep
                log_q[row] = log_q[row] - math.log(mass)
        log_q = log_q[torch.arange(len(new)), new]
        n = len(new)
        assert out.model_log_probs[i, :n].tolist() == pytest.approx(log_p.tolist(), abs=1e-4)
        assert out.log_probs[i, :n].tolist() == pytest.approx(log_q.tolist(), abs=1e-4)
        assert (out.log_probs[i, len(new) :] == 0).all()


def test_draws_follow_the_truncated_tempered_distribution(clm):
    model, tokenizer = clm
    n, settings = 4000, dict(temperature=0.5, top_k=4)
    out = _run(clm, prompts=[""] * n, seed=7, max_new_tokens=1, **settings)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[tokenizer.bos_token_id]])).logits[0, -1]
    q = torch.softmax(truncate_logits(logits[None] / 0.5, top_k=4), -1)[0]
    counts = torch.bincount(out.tokens[:, 0], minlength=len(q)).float() / n
    assert set(out.tokens[:, 0].tolist()) <= set(q.nonzero()[:, 0].tolist())
    assert torch.allclose(counts, q, atol=0.03)  # about 4 standard errors at worst


def test_each_sequence_stops_at_its_eos(clm):
    model, tokenizer = clm
    greedy = _run(clm, temperature=0)  # "the cat" -> eat eat ..., "" -> your and read read ...
    stop = int(greedy.tokens[1, 2])
    out = generate(
        model,
        prompt_ids(tokenizer, PROMPTS),
        torch.Generator().manual_seed(0),
        eos_token_id=stop,
        pad_token_id=tokenizer.pad_token_id,
        max_new_tokens=8,
        temperature=0,
    )
    ends = [row.index(stop) + 1 if stop in row else 8 for row in greedy.tokens.tolist()]
    assert out.lengths.tolist() == ends and ends[1] == 3
    assert out.finished.tolist() == [stop in row for row in greedy.tokens.tolist()]
    for i, end in enumerate(ends):
        assert out.tokens[i, :end].tolist() == greedy.tokens[i, :end].tolist()
        assert (out.tokens[i, end:] == tokenizer.pad_token_id).all()
    assert out.token_lists()[1] == greedy.tokens[1, :2].tolist()
    assert out.token_lists(drop_eos=False)[1] == greedy.tokens[1, :3].tolist()


def test_generate_texts_decodes_the_continuations(clm):
    texts, out = generate_texts(*clm, PROMPTS, torch.Generator().manual_seed(0), max_new_tokens=5)
    assert texts == [clm[1].decode(ids) for ids in out.token_lists()]
    assert all(len(text.split()) == 5 for text in texts)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(max_new_tokens=0), "max_new_tokens must be positive"),
        (dict(temperature=-1), "temperature must be >= 0"),
        (dict(top_k=0), "top_k must be positive"),
        (dict(top_p=0.0), r"top_p must lie in \(0, 1\]"),
        (dict(max_new_tokens=126), "is 129 tokens, more than the model's maximum of 128"),
    ],
)
def test_bad_settings(clm, settings, message):
    with pytest.raises(ValueError, match=message):
        _run(clm, prompts=["the cat"], **settings)
    with pytest.raises(ValueError, match="at least one token"):
        generate(clm[0], [[]], torch.Generator(), eos_token_id=3, max_new_tokens=1)
