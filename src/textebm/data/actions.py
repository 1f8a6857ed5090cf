"""Action sequences with `<bkspc>` laid out so that ONE forward pass gives every state's logits.

SequenceMatch's MDP (Cundy & Ermon 2024): a state is a token prefix, an action either appends a
token or is `<bkspc>`, which removes the last token. Recomputing every state from scratch costs a
forward pass per action; instead each action becomes one row of a single sequence whose attention
mask and position ids make every row see exactly the tokens of its state:

    live = stack of live rows, initialised with the prompt rows
    token a at row r:  ids[r] = a; pos[r] = len(live); attend[r] = live + {r}; push r
    <bkspc> at row r:  pop j (the deleted row); k = top(live)
                       ids[r] = ids[k]; pos[r] = pos[k]         # re-enter the new last token
                       attend[r] = (live - {k}) + {r}; replace top(live) by r

Why it is exact: by induction over rows, the live stack at row r lists the rows whose tokens are
the state's tokens, at positions 0, 1, ..., and each of those rows attended to the stack below
it, which a backspace never alters (it only touches the top). So every key and value row r sees
equals the one a from-scratch pass over the state would compute at that position, layer by layer,
and the output at a backspace row equals the output at the row k it re-enters. Equivalently each
row has a parent (the row under it on the stack) and attends to its ancestors and itself.

Contract: with P prompt tokens and T actions the layout has P + T rows, and the logits at row
P - 1 + t are l(. | s_t), the state BEFORE action t (t = 0..T; s_T is the final state). In a batch
the prompts are left-padded to the longest (`prompt_width`) and the actions right-padded, so row
`prompt_width - 1 + t` holds s_t for every sequence: `state_logits` slices exactly that.

Example (no prompt shown): actions `A B C <bkspc> D` -> ids `A B C B D`, positions `0 1 2 1 2`;
row 3 attends {0, 3}, row 4 attends {0, 3, 4}.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch


@dataclass
class SequenceRows:
    """One prompt + action sequence as rows (lists of length P + T; `parent` -1 at the root).

    is_backspace / deleted are per action (length T): `deleted[t]` is the index of the token
    action that action t removed (a backspace), or -1 (a token).
    """

    ids: list[int]
    positions: list[int]
    parent: list[int]
    is_backspace: list[bool]
    deleted: list[int]


def sequence_rows(prompt: Sequence[int], actions: Sequence[int], backspace: int) -> SequenceRows:
    """The rows of one sequence (see the module docstring).

    Raises ValueError for an empty prompt (state s_0 needs a row: start prompts with bos), a
    prompt holding `<bkspc>`, or a backspace that would delete a prompt token.
    """
    if not prompt:
        raise ValueError("the prompt is empty: state s_0 needs a row (start prompts with bos)")
    if backspace in prompt:
        raise ValueError(f"the prompt holds the backspace id {backspace}")
    size = len(prompt)
    ids = list(prompt)
    positions = list(range(size))
    parent = list(range(-1, size - 1))
    origin = [-1] * size  # per row: the action that wrote its token (-1: the prompt)
    live = list(range(size))
    is_backspace, deleted = [], []
    for t, action in enumerate(actions):
        row = size + t
        if action == backspace:
            gone = live.pop()
            if origin[gone] < 0:
                raise ValueError(f"action {t} (<bkspc>) would delete a prompt token")
            kept = live[-1]  # never empty: the prompt row(s) stay below
            ids.append(ids[kept])
            positions.append(positions[kept])
            parent.append(parent[kept])
            origin.append(origin[kept])
            live[-1] = row
            is_backspace.append(True)
            deleted.append(origin[gone])
        else:
            ids.append(int(action))
            positions.append(len(live))
            parent.append(live[-1])
            origin.append(t)
            live.append(row)
            is_backspace.append(False)
            deleted.append(-1)
    return SequenceRows(ids, positions, parent, is_backspace, deleted)


def apply_actions(
    actions: Sequence[int], backspace: int | None, prompt: Sequence[int] = ()
) -> list[int]:
    """The final token list: `prompt` followed by the actions, each `<bkspc>` removing the last
    token (`backspace` None: a model without one, every action a token). Raises ValueError
    where a backspace would delete a prompt token (or nothing)."""
    tokens = list(prompt)
    for t, action in enumerate(actions):
        if action == backspace:
            if len(tokens) <= len(prompt):
                raise ValueError(f"action {t} (<bkspc>) would delete a prompt token")
            tokens.pop()
        else:
            tokens.append(int(action))
    return tokens


@dataclass
class ActionLayout:
    """A batch of prompt + action sequences laid out for one forward pass.

    B sequences, L = prompt_width + T columns; T is the longest action sequence.
    input_ids: (B, L) int64; `pad` in the padding.
    position_ids: (B, L) int64; 0 in the padding.
    attend: (B, L, L) bool, True where row i may attend to column j (a padding row attends to
        itself only, so no softmax row is empty and nothing turns into NaN).
    actions: (B, T) int64, the actions as given; `pad` after each sequence's end.
    action_mask: (B, T) bool, True at real actions.
    is_backspace: (B, T) bool.
    deleted: (B, T) int64, the index t' < t of the token action that action t deleted; -1 for
        token actions and padding.
    state_mask: (B, T + 1) bool, True for the states s_0..s_T of each sequence.
    prompt_width: P, the longest prompt; row P - 1 + t holds state s_t.
    """

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    attend: torch.Tensor
    actions: torch.Tensor
    action_mask: torch.Tensor
    is_backspace: torch.Tensor
    deleted: torch.Tensor
    state_mask: torch.Tensor
    prompt_width: int

    def attention_mask(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(B, 1, L, L) additive mask in `dtype`: 0 where attended, the dtype's minimum elsewhere.

        Transformers 5.x passes a 4-D mask to the attention function as it is. The additive float
        form is right for every implementation: "sdpa" also takes a bool mask, but "eager" adds
        the mask to the scores, so a bool mask there would silently mask nothing.
        """
        blocked = torch.finfo(dtype).min
        mask = torch.zeros(self.attend.shape, dtype=dtype, device=self.attend.device)
        return mask.masked_fill_(~self.attend, blocked)[:, None]

    def model_inputs(self, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        """Keyword arguments for a Hugging Face causal LM: input_ids, position_ids, attention_mask
        (in `dtype`, the model's)."""
        return {
            "input_ids": self.input_ids,
            "position_ids": self.position_ids,
            "attention_mask": self.attention_mask(dtype),
        }

    def state_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, T + 1, V) logits of states s_0..s_T from the model's (B, L, V) logits."""
        return logits[:, self.prompt_width - 1 :]

    def to(self, device: torch.device | str) -> ActionLayout:
        moved = {
            field.name: getattr(self, field.name).to(device)
            for field in fields(self)
            if isinstance(getattr(self, field.name), torch.Tensor)
        }
        return ActionLayout(**moved, prompt_width=self.prompt_width)


def _fill_ancestors(attend: np.ndarray, parent: list[int]) -> None:
    """Fill the (n, n) bool block `attend`: row r attends to itself and its ancestors, i.e. to its
    parent's set plus r. In NumPy, where a row copy costs about a microsecond."""
    for row, up in enumerate(parent):
        if up >= 0:
            attend[row] = attend[up]
        attend[row, row] = True


def layout_actions(
    prompts: Sequence[Sequence[int]],
    actions: Sequence[Sequence[int]],
    backspace: int,
    pad: int,
) -> ActionLayout:
    """Lay out B prompt + action sequences for one forward pass (see `ActionLayout`).

    prompts: B non-empty token lists (e.g. bos + prompt text); actions: B lists of token ids and
    `backspace`; pad: the id written into padding slots (any valid id: it is never attended to).
    Raises ValueError as `sequence_rows` does.
    """
    if len(prompts) != len(actions):
        raise ValueError(f"{len(prompts)} prompts but {len(actions)} action sequences")
    rows = [sequence_rows(p, a, backspace) for p, a in zip(prompts, actions, strict=True)]
    width = max(len(p) for p in prompts)
    steps = max((len(a) for a in actions), default=0)
    batch, length = len(rows), width + steps
    # Built in NumPy and converted once: per-row torch indexing costs ten times more.
    input_ids = np.full((batch, length), pad, dtype=np.int64)
    position_ids = np.zeros((batch, length), dtype=np.int64)
    attend = np.zeros((batch, length, length), dtype=bool)
    attend[:, np.arange(length), np.arange(length)] = True  # padding rows: themselves only
    action_ids = np.full((batch, steps), pad, dtype=np.int64)
    is_backspace = np.zeros((batch, steps), dtype=bool)
    deleted = np.full((batch, steps), -1, dtype=np.int64)
    counts = np.array([len(sequence) for sequence in actions], dtype=np.int64)
    for b, (prompt, sequence, laid) in enumerate(zip(prompts, actions, rows, strict=True)):
        start, end = width - len(prompt), width + len(sequence)  # left-padded prompt
        input_ids[b, start:end] = laid.ids
        position_ids[b, start:end] = laid.positions
        _fill_ancestors(attend[b, start:end, start:end], laid.parent)
        action_ids[b, : len(sequence)] = sequence
        is_backspace[b, : len(sequence)] = laid.is_backspace
        deleted[b, : len(sequence)] = laid.deleted
    return ActionLayout(
        input_ids=torch.from_numpy(input_ids),
        position_ids=torch.from_numpy(position_ids),
        attend=torch.from_numpy(attend),
        actions=torch.from_numpy(action_ids),
        action_mask=torch.from_numpy(np.arange(steps) < counts[:, None]),
        is_backspace=torch.from_numpy(is_backspace),
        deleted=torch.from_numpy(deleted),
        state_mask=torch.from_numpy(np.arange(steps + 1) <= counts[:, None]),
        prompt_width=width,
    )
