"""Ancestral sampling from a causal LM: the one generation routine.

Calibration noise (samples of a causal LM to contrast with data) and SequenceMatch's rollouts
both draw from here. It lives in `samplers/` because it is a sampler over token sequences, though
an exact one (no Markov chain), so it has no `ChainState`: one call draws whole sequences.

At each step the next token is drawn from the model's next-token distribution after, in order,
dividing the logits by the temperature, keeping the `top_k` most probable tokens, and keeping the
smallest set of most probable tokens whose mass reaches `top_p` (nucleus sampling); the kept
logits are renormalised. That truncated, tempered distribution is q; `log_probs` holds log q of
each drawn token, and `model_log_probs` log p under the model itself (temperature 1, no
truncation), so a caller can weigh samples by p / q or train on them.

Prompts are `bos prompt`, without eos (see `prompt_ids`); a batch of prompts of different lengths
is left-padded, with position ids that skip the padding, so every prompt continues exactly as it
would alone. Each sequence stops at its eos (kept in its tokens) or after `max_new_tokens`.
Randomness comes only from the `torch.Generator` passed in, never from the global RNG.

Backspace (SequenceMatch, Cundy & Ermon 2024): given `backspace_token_id`, the model's `<bkspc>`
is an action like any token, drawn from the same truncated, tempered distribution. It deletes the
last generated token; it never deletes a prompt token, so its logit is -inf (and its probability
0, in q and in p) while only the prompt is live. `tokens` then holds the actions, backspaces
included, and `max_new_tokens` counts actions; `token_lists` applies the backspaces.
The KV cache is rolled back per sequence, as in the one-pass layout of the reference note: every
step feeds one slot per sequence; a backspace re-enters the new last token at its own position
and masks both the deleted token's slot and that token's old slot out of attention, so the new
slot sees exactly the keys and values the old one saw and its logits are those of the state after
the deletion. (`DynamicCache.crop` cuts every row of a batch to one length, while rows backspace
at different steps; masking is the per-row rollback, and costs one forward step like a token.)

Greedy decoding with backspace loops: the policy is Markov in the live tokens, so a `<bkspc>`
from s + y returns to s exactly (same logits), where the argmax was y, so it writes y again, is
back in s + y, deletes it again, ... until `max_new_tokens` (`y <bkspc> y <bkspc> ...`): under
greedy decoding EVERY backspace starts an endless loop, however rarely it is the argmax.
`ban_deleted` is the decoding rule that follows the model's own correction instead: a token that
a backspace deleted from state s is banned in s (in q, the distribution drawn from; p stays the
model's policy) until s itself changes (a token is written at or below its position), so every
return to s tries a new action and greedy decoding cannot cycle (it can only run out of
`max_new_tokens`). It never bans eos (which is never deleted) and, with temperature 0, picks
the argmax among the actions not yet undone in that state.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
from transformers import DynamicCache, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.data.actions import apply_actions
from textebm.data.padding import left_pad
from textebm.energies.causal_lm import causal_specials, frame


@dataclass
class Generation:
    """What `generate` drew, for a batch of prompts.

    tokens: (batch, steps) int64 new tokens, eos included where reached; `pad` after the end.
    lengths: (batch,) int64 new tokens per sequence, eos included.
    finished: (batch,) bool, True where the sequence ended with eos.
    log_probs: (batch, steps) float32, log q(token | prefix) under the sampling distribution
        (tempered and truncated; 0 for greedy decoding, a point mass); 0 after the end.
    model_log_probs: (batch, steps) float32, log p(token | prefix) under the model; 0 after the end.
        With a backspace token, p is the model's policy: <bkspc> masked while only the prompt
        is live (as the one-pass training layout masks it).
    backspace_token_id: the `<bkspc>` id when backspaces were allowed, else None; `tokens` are
        then actions: a backspace deletes the last live new token.
    """

    tokens: torch.Tensor
    lengths: torch.Tensor
    finished: torch.Tensor
    log_probs: torch.Tensor
    model_log_probs: torch.Tensor
    backspace_token_id: int | None = None

    def action_lists(self, drop_eos: bool = True) -> list[list[int]]:
        """Each sequence's actions (new tokens and backspaces), without padding (and its eos)."""
        lists = []
        for row, length, finished in zip(self.tokens, self.lengths, self.finished, strict=True):
            lists.append(row[: int(length) - int(drop_eos and bool(finished))].tolist())
        return lists

    def token_lists(self, drop_eos: bool = True) -> list[list[int]]:
        """Each sequence's final new tokens: its actions with the backspaces applied."""
        return [
            apply_actions(actions, self.backspace_token_id)
            for actions in self.action_lists(drop_eos)
        ]

    @property
    def n_backspaces(self) -> torch.Tensor:
        """(batch,) int64 backspaces each sequence used (0 without a backspace token)."""
        if self.backspace_token_id is None:
            return torch.zeros_like(self.lengths)
        steps = torch.arange(self.tokens.shape[1], device=self.tokens.device)
        within = steps[None, :] < self.lengths[:, None]
        return ((self.tokens == self.backspace_token_id) & within).sum(dim=1)


def truncate_logits(
    logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """Logits with every token outside the top-k and the top-p nucleus set to -inf.

    logits: (batch, vocab) float. The nucleus is the smallest set of most probable tokens whose
    probability (under softmax(logits)) sums to at least top_p; the most probable token is
    always kept. Ties at the cut-off are broken by the sort's order.
    """
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # Drop a token when the tokens before it already hold mass >= top_p.
        drop = (torch.cumsum(probs, dim=-1) - probs) >= top_p
        drop[..., 0] = False
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


def prompt_ids(tokenizer: PreTrainedTokenizerBase, prompts: list[str]) -> list[list[int]]:
    """Each prompt as a causal LM continues it: `bos prompt`, no eos ("" samples from scratch)."""
    return frame(tokenizer, prompts, end=False)


def _check(prompts, max_new_tokens, temperature, top_k, top_p, limit) -> None:
    if not prompts or any(len(prompt) == 0 for prompt in prompts):
        raise ValueError("every prompt needs at least one token (bos): see prompt_ids")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be positive, not {max_new_tokens}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), not {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be positive, not {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must lie in (0, 1], not {top_p}")
    longest = max(len(prompt) for prompt in prompts) + max_new_tokens
    if limit is not None and longest > limit:
        raise ValueError(
            f"the longest prompt plus max_new_tokens is {longest} tokens, more than the "
            f"model's maximum of {limit}"
        )


@torch.no_grad()
def generate(
    model: PreTrainedModel,
    prompts: list[list[int]],
    generator: torch.Generator,
    *,
    eos_token_id: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    pad_token_id: int | None = None,
    use_cache: bool = True,
    backspace_token_id: int | None = None,
    banned_token_ids: list[int] | None = None,
    ban_deleted: bool = False,
) -> Generation:
    """Continue each prompt until its eos or `max_new_tokens` actions (see the module notes).

    prompts: token ids, each `bos prompt` (`prompt_ids` makes them from text).
    generator: the only source of randomness; it may live on another device than the model
        (the next-token probabilities are moved to it), so a CPU generator gives the same
        draws whatever device the model runs on.
    temperature: 0 decodes greedily (argmax); otherwise logits are divided by it.
    top_k, top_p: truncations of the tempered distribution; None keeps every token.
    use_cache: reuse keys and values across steps (KV cache); False recomputes the whole
        prefix at every step, which gives the same result, slower.
    backspace_token_id: the model's `<bkspc>` id (`models.backspace.backspace_id(tokenizer)`),
        to let the model delete its last token; None (default) samples tokens only.
    banned_token_ids: tokens never drawn (logit -inf in p and q), e.g. a backspace model's
        `<bkspc>` when generating without backspaces.
    ban_deleted: with a backspace token, never redraw a token in the state a backspace deleted
        it from (module notes; in q only). Recommended for greedy decoding, which loops
        otherwise.
    """
    config = model.config
    limit = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
    _check(prompts, max_new_tokens, temperature, top_k, top_p, limit)
    vocab = model.get_output_embeddings().weight.shape[0]
    if backspace_token_id is not None and not 0 <= backspace_token_id < vocab:
        raise ValueError(
            f"backspace_token_id {backspace_token_id} is not among the model's {vocab} outputs"
        )
    device = next(model.parameters()).device
    pad = pad_token_id if pad_token_id is not None else eos_token_id
    input_ids, attention_mask = (t.to(device) for t in left_pad(prompts, pad))
    batch = len(prompts)
    parameters = inspect.signature(model.forward).parameters
    # Transformers 5 renames `past_key_values` to `cache`; the cache object is updated in place.
    cache_name = "cache" if "cache" in parameters else "past_key_values"
    keep_last = {"logits_to_keep": 1} if "logits_to_keep" in parameters else {}
    cache = DynamicCache(config=config) if use_cache else None

    tokens = torch.full((batch, max_new_tokens), pad, dtype=torch.long, device=device)
    log_q = torch.zeros((batch, max_new_tokens), dtype=torch.float32, device=device)
    log_p = torch.zeros_like(log_q)
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch, dtype=torch.long, device=device)
    # Backspace bookkeeping: the slots of each row's live new tokens, and the slot that holds
    # its last prompt token (it moves when a backspace re-enters that token).
    live_slots: list[list[int]] = [[] for _ in range(batch)]
    prompt_end = [input_ids.shape[1] - 1] * batch
    # ban_deleted: per row, {live new tokens d: tokens deleted from the state with d of them}.
    deleted_at: list[dict[int, set[int]]] = [{} for _ in range(batch)]
    new_ids = input_ids  # what the next forward pass must read
    for step in range(max_new_tokens):
        # Padding and deleted slots are masked; position ids count the live tokens only.
        positions = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)
        kwargs = {cache_name: cache, "use_cache": use_cache, **keep_last}
        logits = (
            model(
                input_ids=new_ids if use_cache else input_ids,
                attention_mask=attention_mask,
                position_ids=positions[:, -new_ids.shape[1] :] if use_cache else positions,
                **kwargs,
            )
            .logits[:, -1]
            .float()
        )
        if banned_token_ids:
            logits[:, banned_token_ids] = float("-inf")
        if backspace_token_id is not None:  # nothing to delete while only the prompt is live
            empty = torch.tensor([not slots for slots in live_slots], device=device)
            logits[:, backspace_token_id] = logits[:, backspace_token_id].masked_fill(
                empty, float("-inf")
            )
        model_log_probs = torch.log_softmax(logits, dim=-1)
        drawn_from = _ban(logits, deleted_at, live_slots) if ban_deleted else logits
        if temperature == 0:
            token = drawn_from.argmax(dim=-1)
            sample_log_probs = torch.zeros(batch, device=device)
        else:
            scaled = truncate_logits(drawn_from / temperature, top_k, top_p)
            truncated = torch.log_softmax(scaled, -1)
            token = torch.multinomial(
                truncated.exp().to(generator.device), 1, generator=generator
            ).squeeze(1)
            token = token.to(device)
            sample_log_probs = truncated.gather(1, token[:, None]).squeeze(1)
        live = ~done
        tokens[:, step] = torch.where(live, token, pad)
        log_q[:, step] = torch.where(live, sample_log_probs, 0.0)
        log_p[:, step] = torch.where(live, model_log_probs.gather(1, token[:, None])[:, 0], 0.0)
        lengths += live.long()
        done |= live & (token == eos_token_id)
        if bool(done.all()):
            break
        new_ids = tokens[:, step : step + 1].clone()
        new_slot = input_ids.shape[1]
        attention_mask = torch.cat([attention_mask, torch.ones_like(new_ids)], dim=1)
        for row in range(batch) if backspace_token_id is not None else ():
            if not live[row]:
                continue
            if int(token[row]) != backspace_token_id:
                depth = len(live_slots[row])  # the state changes at this depth: old bans go
                deleted_at[row] = {d: ban for d, ban in deleted_at[row].items() if d <= depth}
                live_slots[row].append(new_slot)
                continue
            deleted = live_slots[row].pop()
            gone = int(input_ids[row, deleted])
            deleted_at[row].setdefault(len(live_slots[row]), set()).add(gone)
            last = live_slots[row][-1] if live_slots[row] else prompt_end[row]
            attention_mask[row, [deleted, last]] = 0
            new_ids[row, 0] = input_ids[row, last]  # re-entered, at its own position
            if live_slots[row]:
                live_slots[row][-1] = new_slot
            else:
                prompt_end[row] = new_slot
        input_ids = torch.cat([input_ids, new_ids], dim=1)
    steps = int(lengths.max())
    return Generation(
        tokens=tokens[:, :steps],
        lengths=lengths,
        finished=done,
        log_probs=log_q[:, :steps],
        model_log_probs=log_p[:, :steps],
        backspace_token_id=backspace_token_id,
    )


def _ban(
    logits: torch.Tensor, deleted_at: list[dict[int, set[int]]], live_slots: list[list[int]]
) -> torch.Tensor:
    """(batch, vocab) logits with -inf at the tokens deleted from each row's current state."""
    rows, columns = [], []
    for row, slots in enumerate(live_slots):
        for token in deleted_at[row].get(len(slots), ()):
            rows.append(row)
            columns.append(token)
    if not rows:
        return logits
    where = (torch.tensor(rows, device=logits.device), torch.tensor(columns, device=logits.device))
    return logits.index_put(where, torch.tensor(-torch.inf, device=logits.device))


def generate_texts(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    generator: torch.Generator,
    **settings,
) -> tuple[list[str], Generation]:
    """Generate from text prompts; returns each continuation decoded (eos dropped, unknown and
    other special tokens kept visible) and the `Generation`. settings: as `generate`'s."""
    _, eos = causal_specials(tokenizer)
    generation = generate(
        model,
        prompt_ids(tokenizer, prompts),
        generator,
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id,
        **settings,
    )
    texts = [tokenizer.decode(ids) for ids in generation.token_lists()]
    return texts, generation
