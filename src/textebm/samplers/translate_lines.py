"""Translating the lines of a file: which lines, in which batches, with which seeds, on how many
processes; what `textebm translate` runs.

    config = TranslateConfig(model="runs/cmlm", sampler="mh", energy="raw", sweeps=4)
    translations = translate_lines(config, lines)       # one Translation per selected line

Lines: [start_line, end_line) of the input, every one checked first (blank lines and, without
--truncate, over-long ones are one-line errors). Shard R of W (`--shard R/W`, or rank R under
torchrun) takes a contiguous block of them (`data.shards.contiguous`). A shard is decoded in
batches of `batch_sentences` lines from its first line; the batch whose first input line is n
draws from a generator seeded `shard_seed(seed, n)`. So a batch's translations depend only on
the seed, its lines and the settings, which gives:
- W processes write what the W one-process `--shard r/W` runs write, concatenated in rank order;
- a resumed run (`done` lines skipped, a multiple of `batch_sentences` when the output was written
  batch by batch) and parts [0, N), [N, M), ... with N, M multiples of `batch_sentences` write
  exactly what one uninterrupted run writes.
Why not one generator per shard seeded `shard_seed(seed, rank)`, as `sample` does: resuming in
the middle of a shard would then need the generator's state at that line; a seed per batch needs
only the line number.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from textebm.data.shards import Processes, Shard, contiguous, shard_seed
from textebm.errors import UsageError
from textebm.samplers.translate import (
    BeamTranslator,
    CMLMTranslator,
    Translation,
    check_sources,
    load_translator,
)
from textebm.samplers.translate_config import TranslateConfig

Translator = CMLMTranslator | BeamTranslator


def selected_lines(total: int, config: TranslateConfig, shard: Shard | None = None) -> range:
    """The input lines (counted from 0) this run decodes: [start_line, end_line) cut to the
    input, then shard `shard`'s contiguous block of them."""
    if config.start_line >= total:
        raise UsageError(f"--start-line {config.start_line} is past the input's {total} lines")
    end = total if config.end_line is None else min(config.end_line, total)
    if shard is None:
        return range(config.start_line, end)
    block = contiguous(end - config.start_line, shard.rank, shard.world)
    return range(config.start_line + block.start, config.start_line + block.stop)


def translate_lines(
    config: TranslateConfig,
    lines: list[str],
    translator: Translator | None = None,
    shard: Shard | None = None,
    done: int = 0,
    on_batch: Callable[[list[Translation]], None] | None = None,
    progress: bool = False,
    name: str = "input",
) -> list[Translation]:
    """Translate this run's lines (see the module notes), in input order.

    translator: a loaded one (default: `load_translator(config)`).
    shard: decode only this shard (default: `config.shard`, or all lines).
    done: lines of this run's selection already translated (a resumed run): skipped.
    on_batch: called with each batch's translations as soon as they are done (to write them).
    name: what error messages call the input.
    """
    from tqdm.auto import tqdm

    if shard is None and config.shard is not None:
        from textebm.data.shards import parse_shard

        shard = parse_shard(config.shard)
    translator = translator or load_translator(config)
    # the whole selection (every shard's lines) is checked on every process, so that all of
    # them fail alike on bad input, before any work
    whole = selected_lines(len(lines), config)
    sources, truncated = check_sources(
        translator.tokenizer,
        lines[whole.start : whole.stop],
        whole.start,
        translator.positions,
        config.truncate,
        name,
    )
    mine = selected_lines(len(lines), config, shard)
    if done > len(mine):
        raise UsageError(f"{done} lines are done already, more than the {len(mine)} to translate")
    device = _device(translator)
    out: list[Translation] = []
    todo = range(mine.start + done, mine.stop)
    bar = tqdm(total=len(todo), unit="line", disable=not progress)
    for first in range(todo.start, todo.stop, config.batch_sentences):
        batch = range(first, min(first + config.batch_sentences, todo.stop))
        generator = torch.Generator(device=device).manual_seed(shard_seed(config.seed, first))
        index = [i - whole.start for i in batch]
        results = translator.decode(
            [sources[i] for i in index], [lines[i] for i in batch], generator
        )
        for line, result, i in zip(batch, results, index, strict=True):
            result.line, result.truncated = line, truncated[i]
        out.extend(results)
        if on_batch is not None:
            on_batch(results)
        bar.update(len(batch))
    bar.close()
    return out


def translate_across(
    config: TranslateConfig, lines: list[str], processes: Processes, name: str = "input"
) -> list[Translation] | None:
    """Every process translates its shard; the main one gets all translations in input order,
    the others None."""
    import dataclasses

    if config.device is None:
        config = dataclasses.replace(config, device=str(processes.device))
    translator = load_translator(config)
    mine = translate_lines(
        config, lines, translator, shard=processes.shard, progress=False, name=name
    )
    parts = processes.gather([mine])
    return [t for part in parts for t in part] if processes.is_main else None


def _device(translator: Translator) -> torch.device:
    model = translator.energy.model if isinstance(translator, CMLMTranslator) else translator.model
    return next(model.parameters()).device
