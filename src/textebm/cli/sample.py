"""`textebm sample`: draw sequences from a masked LM's energy with MH, degenerate Gibbs, or decode
them with Mask-Predict.

Writes OUT.jsonl (one record per kept sample: chain, sweep, text, token_ids, energy), and next to
it OUT.diagnostics.json and OUT.trace.png (the energy after every sweep). The same seed, settings
and device give the same output. The flags are `SampleConfig`'s fields and the work is
`textebm.samplers.sample(config)`: this module only parses and writes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from textebm.cli.train import add_config_arguments
from textebm.samplers.config import SampleConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sample",
        help="sample sequences from a masked-LM energy (MH, degenerate Gibbs, Mask-Predict)",
        description="Run chains that sample p(x) proportional to exp(-E(x)/T) and write the kept "
        'samples as JSON Lines {"chain", "sweep", "text", "token_ids", "energy"}, with '
        "diagnostics in OUT.diagnostics.json and the energy traces in OUT.trace.png.",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="JSON object of the fields below (snake_case names); flags given override it",
    )
    add_config_arguments(parser, SampleConfig)
    parser.add_argument("-o", "--output", required=True, help="OUT.jsonl")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from textebm.cli.common import quiet_libraries
    from textebm.errors import UsageError
    from textebm.recipes.config import load_config
    from textebm.samplers import sample

    names = {f.name for f in dataclasses.fields(SampleConfig)}
    config = load_config(
        SampleConfig, {k: v for k, v in vars(args).items() if k in names}, args.config
    )
    output = Path(args.output)
    if not output.parent.exists():
        raise UsageError(f"output folder does not exist: {output.parent}")
    quiet_libraries()
    result = sample(config, progress=True)
    result.diagnostics["settings"]["output"] = args.output
    _write(output, result, config)
    return 0


def _write(output: Path, result, config: SampleConfig) -> None:
    from textebm.data.files import atomic_write, write_json
    from textebm.eval.plots import energy_trace_png

    title = f"{config.sampler}, {config.energy} energy, T={config.temperature:g}"
    png = energy_trace_png(result.trace, burn_in=result.burn_in, title=title)
    with atomic_write(output) as out:
        for record in result.records:
            out.write(json.dumps(record) + "\n")
    write_json(output.with_suffix(".diagnostics.json"), result.diagnostics)
    with atomic_write(output.with_suffix(".trace.png"), "wb") as out:
        out.write(png)
