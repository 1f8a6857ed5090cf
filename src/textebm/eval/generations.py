"""Judging generated continuations (`textebm eval generations`): diversity, repetition, reference
perplexity, backspace use, and MAUVE against reference continuations.

Definitions (every one is in the report under the name given here):
- distinct_n_per_ngram / distinct_n_per_token, n = 1..4: `eval.diversity.distinct_n` with each
  denominator, over all generated texts (and, for comparison, over the references).
- repetition_4: within-text repeated 4-grams over all 4-grams (`eval.diversity.repetition_rate`).
- reference_perplexity: exp of the mean -log p_ref per scored token, where p_ref is a separate
  causal LM (its `clm` energy) reading `bos prompt text`: only the continuation's tokens are
  scored, given the prompt, plus the eos where the generation ended with one (a continuation cut
  at max_new_tokens has no end to score).
- backspace_rate: backspaces over all actions, pooled; with_backspace: the share of generations
  with at least one.
- undo_unlikely_rate: over the backspaces, the fraction whose deleted token d has a reference
  log-prob log p_ref(d | state where d was written) below the median reference log-prob of the
  kept generated tokens (each given its final prefix), pooled over the file. Backspaces that
  deleted tokens no likelier or unlikelier than the kept ones give about 0.5; a model that
  deletes its mistakes gives more. It needs the actions in the reference LM's vocabulary (the
  same tokenizer, <bkspc> aside); otherwise it is reported as null with the reason.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from typing import Any

import torch

from textebm.data.files import read_lines
from textebm.data.padding import right_pad
from textebm.errors import UsageError
from textebm.models.backspace import BKSPC_TOKEN
from textebm.samplers.generate import prompt_ids


@dataclass
class GeneratedText:
    """One record of a `textebm generate` file (only `text` is required)."""

    text: str
    prompt: str = ""
    actions: list[str] | None = None
    n_backspaces: int = 0
    finished: bool = False

    @property
    def n_actions(self) -> int:
        return len(self.actions) if self.actions is not None else len(self.text.split())


def read_generations(path: str) -> list[GeneratedText]:
    """The records of a generations file; one-line errors name the bad line."""
    records = []
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        where = f"{path}: line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise UsageError(f"{where} is not JSON ({error.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise UsageError(f'{where} has no "text" string; give records of textebm generate')
        actions = record.get("actions")
        if actions is not None and not (
            isinstance(actions, list) and all(isinstance(a, str) for a in actions)
        ):
            raise UsageError(f'{where}: "actions" must be a list of token strings')
        records.append(
            GeneratedText(
                text=record["text"],
                prompt=str(record.get("prompt", "")),
                actions=actions,
                n_backspaces=int(record.get("n_backspaces", 0)),
                finished=bool(record.get("finished", False)),
            )
        )
    if not records:
        raise UsageError(f"{path}: no generations to evaluate")
    return records


def read_references(path: str) -> list[str]:
    """Reference continuations, one a line; blank lines are skipped."""
    references = [line for line in read_lines(path) if line.strip()]
    if not references:
        raise UsageError(f"{path}: no references; give one reference continuation a line")
    return references


def diversity(texts: list[str]) -> dict[str, float]:
    """distinct-n (n = 1..4, both denominators, labelled) and repetition_4 of a set of texts."""
    from textebm.eval.diversity import distinct_n, repetition_rate

    result = {}
    for n in range(1, 5):
        result[f"distinct_{n}_per_ngram"] = distinct_n(texts, n, "ngrams")
        result[f"distinct_{n}_per_token"] = distinct_n(texts, n, "tokens")
    result["repetition_4"] = repetition_rate(texts, 4)
    return result


def backspace_use(records: list[GeneratedText]) -> dict[str, float]:
    """Pooled backspace rate and the share of generations that used one."""
    actions = sum(record.n_actions for record in records)
    backspaces = sum(record.n_backspaces for record in records)
    return {
        "backspaces": backspaces,
        "actions": actions,
        "backspace_rate": backspaces / actions if actions else 0.0,
        "with_backspace": sum(r.n_backspaces > 0 for r in records) / len(records),
    }


def _token_log_probs(energy: Any, sequences: list[list[int]], batch: int = 64) -> list[list[float]]:
    """log p_ref(ids[i] | ids[<i]) for i >= 1 of each sequence (index 0 is context only)."""
    out: list[list[float]] = []
    for start in range(0, len(sequences), batch):
        chunk = sequences[start : start + batch]
        scored = energy(*right_pad(chunk, energy.pad_id)).token_energies.cpu()
        out += [(-scored[row, 1 : len(ids)]).tolist() for row, ids in enumerate(chunk)]
    return out


def _join(prompt: str, text: str) -> str:
    """The prompt and its continuation as one text (a space between, unless one is there)."""
    if not prompt or not text or text[0].isspace() or prompt[-1].isspace():
        return prompt + text
    return prompt + " " + text


def reference_perplexity(energy: Any, records: list[GeneratedText]) -> dict[str, float]:
    """Perplexity of the continuations under the reference LM, given their prompts (see the
    module notes). Raises UsageError for a text longer than the reference LM's context."""
    tokenizer = energy.tokenizer
    sequences, firsts = [], []
    for number, record in enumerate(records, start=1):
        ids = prompt_ids(tokenizer, [_join(record.prompt, record.text)])[0]
        n_prompt = len(prompt_ids(tokenizer, [record.prompt])[0])
        if record.finished:
            ids = [*ids, energy.eos_id]
        if len(ids) > energy.max_length:
            raise UsageError(
                f"generation {number} is {len(ids)} tokens, more than the reference model's "
                f"maximum of {energy.max_length}"
            )
        sequences.append(ids)
        firsts.append(n_prompt - 1)  # index into the log-probs of ids[1:]
    nll, tokens = 0.0, 0
    for log_probs, first in zip(_token_log_probs(energy, sequences), firsts, strict=True):
        nll -= sum(log_probs[first:])
        tokens += len(log_probs) - first
    return {
        "reference_perplexity": float(torch.tensor(nll / max(tokens, 1)).exp()),
        "reference_nll_per_token": nll / max(tokens, 1),
        "reference_scored_tokens": tokens,
    }


def backspace_undo(energy: Any, records: list[GeneratedText]) -> dict[str, Any]:
    """How often a backspace deletes a token the reference LM finds unlikely (module notes)."""
    tokenizer = energy.tokenizer
    vocab = tokenizer.get_vocab()
    deleted_seqs, final_seqs, prompt_lengths = [], [], []
    for record in records:
        if record.actions is None:
            return {"undo_unlikely_rate": None, "undo_reason": "the records have no actions"}
        actions = record.actions[:-1] if record.finished else record.actions  # drop the eos
        missing = [a for a in actions if a != BKSPC_TOKEN and a not in vocab]
        if missing:
            return {
                "undo_unlikely_rate": None,
                "undo_reason": f"action {missing[0]!r} is not in the reference model's "
                "vocabulary: it needs the generator's tokenizer",
            }
        prompt = prompt_ids(tokenizer, [record.prompt])[0]
        live: list[int] = []
        for action in actions:
            if action == BKSPC_TOKEN:
                if not live:
                    return {"undo_unlikely_rate": None, "undo_reason": "a backspace on nothing"}
                deleted_seqs.append(prompt + live)  # its last token is the one deleted
                live.pop()
            else:
                live.append(vocab[action])
        final_seqs.append(prompt + live)
        prompt_lengths.append(len(prompt))
    kept = [
        lp
        for log_probs, n in zip(_token_log_probs(energy, final_seqs), prompt_lengths, strict=True)
        for lp in log_probs[n - 1 :]
    ]
    deleted = [log_probs[-1] for log_probs in _token_log_probs(energy, deleted_seqs)]
    if not deleted or not kept:
        return {"undo_unlikely_rate": None, "undo_reason": "no backspaces (or no kept tokens)"}
    median = statistics.median(kept)
    return {
        "undo_unlikely_rate": sum(lp < median for lp in deleted) / len(deleted),
        "backspaces_scored": len(deleted),
        "median_kept_log_prob": median,
        "mean_deleted_log_prob": sum(deleted) / len(deleted),
        "mean_kept_log_prob": sum(kept) / len(kept),
    }
