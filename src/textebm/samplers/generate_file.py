"""`textebm generate`: continuations of prompts from any causal LM, written as JSON Lines, or
`generate_file(GenerateConfig(...))`.

Each prompt is read as `bos prompt` (no eos) and continued by `samplers.generate.generate`, with
one `torch.Generator` seeded once per run: the same config (batch size included) gives the same
file. With a model that has a `<bkspc>` token and `backspace` "auto" or "on", the model may delete
its own last token as it samples (never a prompt token). One record per line:

    prompt        the prompt text
    sample        0-based index of this sample of the prompt (--samples-per-prompt)
    text          the final continuation, backspaces applied, eos dropped
    actions       every action as a token string: tokens, "<bkspc>", and the eos if reached
    n_actions     len(actions) (at most max_new_tokens)
    n_backspaces  how many actions were backspaces
    finished      whether the continuation ended with eos (else it hit max_new_tokens)
    seed          the run's seed
"""

from __future__ import annotations

import json

import torch

from textebm.data.files import atomic_write, read_lines
from textebm.errors import UsageError
from textebm.models.backspace import backspace_id
from textebm.samplers.generate import generate, prompt_ids
from textebm.samplers.generate_config import GenerateConfig, check_settings


def read_prompts(config: GenerateConfig) -> list[str]:
    """The prompts: --prompt's text, or --prompts' lines (none may be blank, the file not empty)."""
    if config.prompt is not None:
        return [config.prompt]
    lines = read_lines(config.prompts)
    if not lines:
        raise UsageError(f"{config.prompts}: no prompts; give one prompt a line")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise UsageError(
                f"{config.prompts}: line {number} is empty; give one prompt a line "
                '(--prompt "" samples from scratch)'
            )
    return lines


def choose_backspace(mode: str, tokenizer, model_name: str) -> int | None:
    """The `<bkspc>` id to sample with, or None; "on" with a model without one is an error."""
    found = backspace_id(tokenizer)
    if mode == "on" and found is None:
        raise UsageError(
            f"--backspace on: model {model_name} has no <bkspc> token; train one with backspace "
            "(SequenceMatch) or use --backspace off"
        )
    return found if mode != "off" else None


def banned_backspace(tokenizer, sampled_with: int | None) -> list[int] | None:
    """`[<bkspc> id]` when the model has the token but the run does not sample with it
    (--backspace off), so that it is never drawn as a word; else None. (Id 0 is an id.)"""
    found = backspace_id(tokenizer)
    return [found] if sampled_with is None and found is not None else None


def check_ban_deleted(ban_deleted: bool, sampled_with: int | None, model_name: str) -> None:
    """--ban-deleted bans what backspaces delete: without backspaces it would do nothing, which
    a user asking for it should hear rather than find in the output."""
    if not ban_deleted or sampled_with is not None:
        return
    raise UsageError(
        f"--ban-deleted needs backspaces, but model {model_name} has no <bkspc> token; drop "
        "--ban-deleted, or use a model trained with backspace (SequenceMatch)"
    )


def context_limit(model) -> int | None:
    """The model's largest number of positions, as `generate` reads it (None: no limit)."""
    config = model.config
    return getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)


def generate_file(config: GenerateConfig, progress: bool = False) -> dict:
    """Generate and write config.output atomically; returns counts for the caller to print."""
    from tqdm.auto import tqdm

    from textebm.energies.causal_lm import causal_specials
    from textebm.models.loading import load_causal_lm

    check_settings(config)
    texts = read_prompts(config)
    model, tokenizer = load_causal_lm(config.model, device=config.device)
    bkspc = choose_backspace(config.backspace, tokenizer, config.model)
    check_ban_deleted(config.ban_deleted, bkspc, config.model)
    banned = banned_backspace(tokenizer, bkspc)
    _, eos = causal_specials(tokenizer)
    encoded = prompt_ids(tokenizer, texts)
    limit = context_limit(model)
    for number, ids in enumerate(encoded, start=1):
        if limit is not None and len(ids) + config.max_new_tokens > limit:
            where = f"{config.prompts}: line {number}" if config.prompts else "--prompt"
            raise UsageError(
                f"{where}: {len(ids)} prompt tokens plus --max-new-tokens "
                f"{config.max_new_tokens} is more than the model's context of {limit}; shorten "
                "the prompt or lower --max-new-tokens"
            )
    jobs = [(p, s) for p in range(len(texts)) for s in range(config.samples_per_prompt)]
    generator = torch.Generator().manual_seed(config.seed)
    counts = {"records": 0, "backspaces": 0, "actions": 0, "backspace_used": bkspc is not None}
    bar = tqdm(total=len(jobs), disable=not progress or len(jobs) < 64)
    with atomic_write(config.output) as out, bar:
        for start in range(0, len(jobs), config.batch_size):
            batch = jobs[start : start + config.batch_size]
            generation = generate(
                model,
                [encoded[p] for p, _ in batch],
                generator,
                eos_token_id=eos,
                pad_token_id=tokenizer.pad_token_id,
                max_new_tokens=config.max_new_tokens,
                temperature=config.temperature,
                top_k=config.top_k,
                top_p=config.top_p,
                backspace_token_id=bkspc,
                banned_token_ids=banned,
                ban_deleted=config.ban_deleted,
            )
            finals = generation.token_lists()
            actions = generation.action_lists(drop_eos=False)
            for row, (p, s) in enumerate(batch):
                record = {
                    "prompt": texts[p],
                    "sample": s,
                    "text": tokenizer.decode(finals[row]),
                    "actions": tokenizer.convert_ids_to_tokens(actions[row]),
                    "n_actions": len(actions[row]),
                    "n_backspaces": int(generation.n_backspaces[row]),
                    "finished": bool(generation.finished[row]),
                    "seed": config.seed,
                }
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                counts["backspaces"] += record["n_backspaces"]
                counts["actions"] += record["n_actions"]
            counts["records"] += len(batch)
            bar.update(len(batch))
    return counts
