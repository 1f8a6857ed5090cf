"""The one-pass layout of action sequences with backspaces, against recomputing every state."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from textebm.data.actions import apply_actions, layout_actions, sequence_rows
from textebm.models.backspace import add_backspace
from textebm.models.tiny import build_tiny_clm, build_tiny_llama

A, B, C, D, E, K = 10, 11, 12, 13, 14, 99  # K: the backspace id in the hand-worked cases


def test_reference_note_example_by_hand():
    """Actions `A B C <bkspc> D` after a one-token prompt (row 0): ids `p A B C B D`, positions
    0 1 2 3 2 3; the backspace (row 4) re-enters B and attends {p, A, itself}; D (row 5) attends
    {p, A, row 4, itself}."""
    layout = layout_actions([[1]], [[A, B, C, K, D]], K, pad=0)
    assert layout.input_ids.tolist() == [[1, A, B, C, B, D]]
    assert layout.position_ids.tolist() == [[0, 1, 2, 3, 2, 3]]
    expected = [
        [1, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0],
        [1, 1, 1, 1, 0, 0],
        [1, 1, 0, 0, 1, 0],
        [1, 1, 0, 0, 1, 1],
    ]
    assert layout.attend[0].int().tolist() == expected
    assert layout.is_backspace.tolist() == [[False, False, False, True, False]]
    assert layout.deleted.tolist() == [[-1, -1, -1, 2, -1]]
    assert layout.prompt_width == 1 and layout.state_mask.tolist() == [[True] * 6]


def test_consecutive_backspaces_by_hand():
    """Prompt `p q`, actions `A B <bk> <bk> C <bk> D`: states p q | A | A B | A | (empty) | C |
    (empty) | D. The second backspace deletes A (action 0), through the row that re-entered A."""
    rows = sequence_rows([1, 2], [A, B, K, K, C, K, D], K)
    assert rows.ids == [1, 2, A, B, A, 2, C, 2, D]
    assert rows.positions == [0, 1, 2, 3, 2, 1, 2, 1, 2]
    assert rows.parent == [-1, 0, 1, 2, 1, 0, 5, 0, 7]
    assert rows.deleted == [-1, -1, 1, 0, -1, 4, -1]
    assert rows.is_backspace == [False, False, True, True, False, True, False]
    assert apply_actions([A, B, K, K, C, K, D], K, prompt=[1, 2]) == [1, 2, D]


def test_backspace_into_the_prompt_is_refused():
    with pytest.raises(ValueError, match="action 0"):
        sequence_rows([1, 2], [K], K)
    with pytest.raises(ValueError, match="action 4"):
        layout_actions([[1], [1]], [[A], [A, K, B, K, K]], K, pad=0)
    with pytest.raises(ValueError, match="action 2"):
        apply_actions([A, K, K], K, prompt=[1])
    with pytest.raises(ValueError, match="empty"):
        sequence_rows([], [A], K)
    with pytest.raises(ValueError, match="backspace id"):
        sequence_rows([1, K], [A], K)


def test_apply_actions_without_prompt():
    assert apply_actions([A, B, K, C, K, K, D, E], K) == [D, E]
    assert apply_actions([], K, prompt=[1]) == [1]


def random_actions(count: int, vocab: int, backspace: int, generator: torch.Generator) -> list[int]:
    """`count` actions: ordinary ids, or (with probability 0.4, when a token is there to delete)
    a backspace; runs of consecutive backspaces are common at this rate."""
    actions, live = [], 0
    for _ in range(count):
        if live and torch.rand((), generator=generator) < 0.4:
            actions.append(backspace)
            live -= 1
        else:
            actions.append(int(torch.randint(5, vocab, (), generator=generator)))
            live += 1
    return actions


BUILDERS = {"gpt2": build_tiny_clm, "llama": build_tiny_llama}


@pytest.fixture(
    scope="module", params=[(n, a) for n in sorted(BUILDERS) for a in ("eager", "sdpa")]
)
def model_and_backspace(request, tmp_path_factory):
    name, attention = request.param
    folder = BUILDERS[name](tmp_path_factory.mktemp(name), init_scale=5.0)
    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation=attention).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return model, add_backspace(model, tokenizer)


def each_state_alone(model, states: list[list[int]]) -> torch.Tensor:
    """(len(states), vocab): the last logits of a pass over each state's tokens alone.

    The states are right-padded into one batch without an attention mask: under causal attention
    position n - 1 never sees later positions, so its output is that of the state alone.
    """
    width = max(map(len, states))
    ids = torch.tensor([state + [0] * (width - len(state)) for state in states])
    logits = model(input_ids=ids).logits
    return logits[torch.arange(len(states)), torch.tensor([len(s) - 1 for s in states])]


@torch.no_grad()
def test_one_pass_equals_recomputing_every_state(model_and_backspace):
    """Random prompts and action sequences of different lengths (one without actions), one batch:
    the logits of each state s_t equal those of a pass over s_t's tokens alone."""
    model, backspace = model_and_backspace
    generator = torch.Generator().manual_seed(0)
    vocab = backspace  # ordinary ids below it
    prompts = [[2, *torch.randint(5, vocab, (n,), generator=generator).tolist()] for n in (0, 3, 1)]
    actions = [random_actions(n, vocab, backspace, generator) for n in (11, 0, 14)]
    actions[0] = [7, 8, 9, *[backspace] * 3, *actions[0]]  # three in a row, back to the prompt
    layout = layout_actions(prompts, actions, backspace, pad=0)
    assert bool(layout.is_backspace.any())
    logits = model(**layout.model_inputs(torch.float32)).logits
    states = layout.state_logits(logits)  # (batch, T + 1, vocab)
    assert states.shape[:2] == (3, 18)
    for b, (prompt, sequence) in enumerate(zip(prompts, actions, strict=True)):
        assert layout.state_mask[b].sum() == len(sequence) + 1
        tokens = [apply_actions(sequence[:t], backspace, prompt) for t in range(len(sequence) + 1)]
        expected = each_state_alone(model, tokens)
        torch.testing.assert_close(states[b, : len(tokens)], expected, atol=1e-4, rtol=1e-4)
        # And literally alone, for the final state:
        alone = model(input_ids=torch.tensor([tokens[-1]])).logits[0, -1]
        torch.testing.assert_close(states[b, len(sequence)], alone, atol=1e-4, rtol=1e-4)


@torch.no_grad()
def test_layout_agrees_with_apply_actions_on_random_sequences():
    """At every row the attended tokens, in position order, are the state's tokens."""
    generator = torch.Generator().manual_seed(1)
    for _ in range(20):
        prompt = [2, *torch.randint(5, 50, (2,), generator=generator).tolist()]
        actions = random_actions(25, 50, K, generator)
        layout = layout_actions([prompt], [actions], K, pad=0)
        ids, positions, attend = layout.input_ids[0], layout.position_ids[0], layout.attend[0]
        for t in range(len(actions) + 1):
            row = len(prompt) - 1 + t
            seen = attend[row].nonzero().flatten()
            order = positions[seen].argsort()
            assert positions[seen][order].tolist() == list(range(len(seen)))
            assert ids[seen][order].tolist() == apply_actions(actions[:t], K, prompt)
        deleted = layout.deleted[0]
        for t in layout.is_backspace[0].nonzero().flatten().tolist():
            assert actions[int(deleted[t])] != K and int(deleted[t]) < t


def test_padding_rows_attend_to_themselves_only():
    layout = layout_actions([[1, 2, 3], [1]], [[A], [A, B, K]], K, pad=0)
    assert layout.input_ids.tolist() == [[1, 2, 3, A, 0, 0], [0, 0, 1, A, B, A]]
    assert layout.prompt_width == 3
    for b, pads in ((0, [4, 5]), (1, [0, 1])):
        for row in pads:
            assert layout.attend[b, row].nonzero().flatten().tolist() == [row]
            assert not bool(layout.attend[b, :, row].sum() > 1)
    assert layout.action_mask.tolist() == [[True, False, False], [True, True, True]]
    mask = layout.attention_mask(torch.float16)
    assert mask.shape == (2, 1, 6, 6) and mask.dtype == torch.float16
    assert float(mask.min()) == torch.finfo(torch.float16).min and float(mask.max()) == 0


@torch.no_grad()
def test_a_backspace_is_rewarded_against_the_value_of_the_state_after_deletion(
    model_and_backspace,
):
    """Prompt `p q`, actions `A B <bk> C eos`: s_2 = p q A B, and the backspace (action 2) leads
    to s_3 = p q A, NOT to s_2 + <bk>. Through the layout and `read_steps`, its reward is
    r_2 = l(<bk> | p q A B) - g V(p q A) and its V-term V(p q A B) - g V(p q A), with every
    logit computed by a pass over that state's tokens alone; s_3's logits are s_1's."""
    from textebm.objectives.sequencematch import implicit_reward, read_steps

    model, bk = model_and_backspace
    eos, gamma = 3, 0.9
    prompt, actions = [2, 5], [7, 8, bk, 9, eos]
    layout = layout_actions([prompt], [actions], bk, pad=0)
    states = layout.state_logits(model(**layout.model_inputs(torch.float32)).logits).float()
    states[:, 0, bk] = -torch.inf  # nothing to delete in s_0 (as the recipe masks it)
    steps = read_steps(states, layout.actions, layout.action_mask, torch.tensor([True]), eos)
    alone = each_state_alone(model, [[2, 5, 7, 8], [2, 5, 7], [2, 5, 7, 8, bk]]).float()
    v_after = float(alone[1].logsumexp(0))
    expected_r = float(alone[0, bk]) - gamma * v_after
    assert float(implicit_reward(steps, gamma)[0, 2]) == pytest.approx(expected_r, abs=1e-4)
    assert float(steps.next_value[0, 2]) == pytest.approx(v_after, abs=1e-4)
    assert float(steps.value[0, 2]) == pytest.approx(float(alone[0].logsumexp(0)), abs=1e-4)
    torch.testing.assert_close(states[0, 3], states[0, 1], atol=1e-4, rtol=1e-4)
    # The next state is not "s_2 followed by a <bk> token" (what a plain causal pass would read).
    wrong = float(alone[2].logsumexp(0))
    assert abs(wrong - v_after) > 1e-2
