"""`textebm sample`: draw sequences from a masked LM's energy with MH, degenerate Gibbs, or decode
them with Mask-Predict.

Writes OUT.jsonl (one record per kept sample: chain, sweep, text, token_ids, energy), and next to
it OUT.diagnostics.json and OUT.trace.png (the energy after every sweep). The same seed, settings
and device give the same output. The flags are `SampleConfig`'s fields and the work is
`textebm.samplers.sample(config)`: this module only parses and writes.

Started by `torchrun` or `accelerate launch`, every process runs a contiguous shard of the chains
with its own seed and the main process writes them all (`textebm.samplers.sharded`); `--shard R/W`
runs one of those shards on one process, so that a W-process run equals the concatenation of its
W shards run one at a time.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from textebm.cli.train import add_config_file_and_arguments, config_from_args
from textebm.samplers.config import SampleConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sample",
        help="sample sequences from a masked-LM energy (MH, degenerate Gibbs, Mask-Predict)",
        description="Run chains that sample p(x) proportional to exp(-E(x)/T) and write the kept "
        'samples as JSON Lines {"chain", "sweep", "text", "token_ids", "energy"}, with '
        "diagnostics in OUT.diagnostics.json and the energy traces in OUT.trace.png.",
    )
    add_config_file_and_arguments(parser, SampleConfig)
    parser.add_argument("-o", "--output", required=True, help="OUT.jsonl")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from textebm.cli.common import quiet_libraries
    from textebm.data.files import check_output
    from textebm.errors import UsageError

    config = config_from_args(args, SampleConfig)
    if args.output == "-":
        raise UsageError(
            "sample writes OUT.jsonl, OUT.diagnostics.json and OUT.trace.png: give -o a file name"
        )
    output = Path(args.output)
    for path in _outputs(output):  # all of them before the work, not after it
        check_output(path)
    quiet_libraries()
    result = _run(config)
    if result is None:  # a process other than the main one: the main one writes
        return 0
    result.diagnostics["settings"]["output"] = args.output
    _write(output, result, config)
    stopping = result.diagnostics.get("stopping")
    if stopping is not None:
        print(f"textebm sample: {_stopping_line(stopping, result.diagnostics)}", file=sys.stderr)
    unknown = result.diagnostics.get("init", {}).get("unknown_tokens", 0)
    if unknown:
        print(
            f"textebm sample: note: --init holds {unknown} token(s) unknown to the tokenizer "
            "([UNK]); a free one starts as [MASK], a fixed one stays [UNK]",
            file=sys.stderr,
        )
    return 0


def _run(config: SampleConfig):
    """The result: of this process alone (all chains or `--shard`'s), or of every process merged
    (None on the processes that are not the main one)."""
    import torch

    from textebm.data.shards import Processes
    from textebm.errors import UsageError
    from textebm.samplers import sample
    from textebm.samplers.sharded import sample_across

    processes = Processes(cpu=config.device == "cpu" or not torch.accelerator.is_available())
    if processes.world == 1:
        return sample(config, progress=True)
    if config.shard is not None:
        raise UsageError(
            f"--shard {config.shard} runs one shard on one process; under torchrun or accelerate "
            f"launch ({processes.world} processes) each process takes its shard: drop --shard"
        )
    return sample_across(config, processes, progress=True)


def _stopping_line(stopping: dict, diagnostics: dict) -> str:
    """How an --until-rhat run ended: converged after N sweeps, or which cap came first."""
    worst = diagnostics.get("energy_worst_length") or {}
    where = (
        f"worst split R-hat {worst['split_rhat']:.3f} (length {worst['length']})"
        if worst
        else "no R-hat yet"
    )
    if stopping["converged"]:
        return (
            f"converged after {stopping['sweeps']} sweeps past the burn-in: split R-hat <= "
            f"{stopping['until_rhat']:g} in every length group, {where}"
        )
    cap = {"max_sweeps": "--max-sweeps", "time_budget": "--time-budget"}[stopping["stopped_by"]]
    return (
        f"not converged: {cap} came first, after {stopping['sweeps']} sweeps past the burn-in; "
        f"{where} at the end, threshold {stopping['until_rhat']:g}"
    )


def _outputs(output: Path) -> tuple[Path, Path, Path]:
    """The samples, their diagnostics and the energy-trace plot."""
    return output, output.with_suffix(".diagnostics.json"), output.with_suffix(".trace.png")


def _write(output: Path, result, config: SampleConfig) -> None:
    from textebm.data.files import atomic_write, write_json
    from textebm.eval.plots import energy_trace_png

    title = f"{config.sampler}, {config.energy} energy, T={config.temperature:g}"
    png = energy_trace_png(result.trace, burn_in=result.burn_in, title=title)
    samples, diagnostics, trace = _outputs(output)
    with atomic_write(samples) as out:
        for record in result.records:
            out.write(json.dumps(record) + "\n")
    write_json(diagnostics, result.diagnostics)
    with atomic_write(trace, "wb") as out:
        out.write(png)
