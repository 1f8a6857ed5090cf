"""`textebm sample`: draw sequences from a masked LM's energy with MH, degenerate Gibbs, or decode
them with Mask-Predict.

Writes OUT.jsonl (one record per kept sample: chain, sweep, text, token_ids, energy), and next to
it OUT.diagnostics.json and OUT.trace.png (the energy after every sweep). The same seed, settings
and device give the same output.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sample",
        help="sample sequences from a masked-LM energy (MH, degenerate Gibbs, Mask-Predict)",
        description="Run chains that sample p(x) proportional to exp(-E(x)/T) and write the kept "
        'samples as JSON Lines {"chain", "sweep", "text", "token_ids", "energy"}, with '
        "diagnostics in OUT.diagnostics.json and the energy traces in OUT.trace.png.",
    )
    parser.add_argument("--model", required=True, help="hub id or local folder of a masked LM")
    parser.add_argument(
        "--energy",
        choices=["norm", "raw"],
        default="norm",
        help="norm: negative pseudo-log-likelihood; raw: negative summed logits",
    )
    parser.add_argument("--sampler", choices=["mh", "gibbs", "mask-predict"], default="mh")
    start = parser.add_argument_group("what to sample (lengths in tokens, special tokens excluded)")
    start.add_argument("--length", help="L, or A-B for a length drawn uniformly per chain")
    start.add_argument("--init", metavar="TEXT", help="start every chain from TEXT")
    start.add_argument(
        "--fixed", action="store_true", help="with --init: a template; only its [MASK]s are sampled"
    )
    start.add_argument("--prefix", metavar="TEXT", help="a fixed prefix; needs --length (in all)")
    parser.add_argument("--chains", type=int, default=8, help="independent chains (default 8)")
    parser.add_argument(
        "--sweeps",
        type=int,
        default=100,
        help="sweeps after burn-in (Mask-Predict: iterations); default 100",
    )
    parser.add_argument("--burn-in", type=int, default=20, help="sweeps discarded first")
    parser.add_argument("--thin", type=int, default=10, help="keep every K-th sweep (default 10)")
    parser.add_argument("--temperature", type=float, default=1.0, help="target: exp(-E/T)")
    parser.add_argument(
        "--anneal-to",
        type=float,
        default=None,
        metavar="T",
        help="lower the target temperature geometrically to T over the run",
    )
    parser.add_argument(
        "--proposal-temperature",
        type=float,
        default=None,
        help="proposals' temperature (default: follow --temperature)",
    )
    parser.add_argument("--top-k", type=int, default=0, help="truncate proposals (0: off)")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus truncation, (0, 1]")
    parser.add_argument("--block-size", type=int, default=1, help="positions changed per step")
    parser.add_argument("--block-layout", choices=["contiguous", "scattered"], default="contiguous")
    parser.add_argument("--scan", choices=["random", "systematic"], default="random")
    parser.add_argument(
        "--decode",
        choices=["argmax", "sample"],
        default="argmax",
        help="Mask-Predict: argmax (the paper's) or draw from the proposal",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--batch-tokens",
        type=int,
        default=8192,
        help="token budget of one forward pass (default 8192)",
    )
    parser.add_argument("--device", default=None, help="e.g. cpu, cuda:0 (default: best one)")
    parser.add_argument("-o", "--output", required=True, help="OUT.jsonl")
    parser.set_defaults(func=run)


def _check_numbers(args: argparse.Namespace) -> None:
    from textebm.errors import UsageError

    checks = [
        (args.chains >= 1, f"--chains must be >= 1, not {args.chains}"),
        (args.sweeps >= 1, f"--sweeps must be >= 1, not {args.sweeps}"),
        (args.burn_in >= 0, f"--burn-in must be >= 0, not {args.burn_in}"),
        (args.thin >= 1, f"--thin must be >= 1, not {args.thin}"),
        (args.temperature > 0, f"--temperature must be positive, not {args.temperature}"),
        (
            args.anneal_to is None or args.anneal_to > 0,
            f"--anneal-to must be positive, not {args.anneal_to}",
        ),
        (
            args.proposal_temperature is None or args.proposal_temperature > 0,
            f"--proposal-temperature must be positive, not {args.proposal_temperature}",
        ),
        (args.top_k >= 0, f"--top-k must be >= 0 (0 turns it off), not {args.top_k}"),
        (0 < args.top_p <= 1, f"--top-p must be in (0, 1], not {args.top_p}"),
        (args.block_size >= 1, f"--block-size must be >= 1, not {args.block_size}"),
        (args.batch_tokens >= 1, f"--batch-tokens must be positive, not {args.batch_tokens}"),
    ]
    for ok, message in checks:
        if not ok:
            raise UsageError(message)
    if args.thin > args.sweeps and args.sampler != "mask-predict":
        raise UsageError(f"--thin {args.thin} is more than --sweeps {args.sweeps}: nothing kept")
    if args.fixed and args.init is None:
        raise UsageError("--fixed needs --init TEXT (a template with [MASK]s)")
    if args.init is not None and (args.length is not None or args.prefix is not None):
        raise UsageError("give --init TEXT alone, without --length or --prefix")
    if args.prefix is not None and args.length is None:
        raise UsageError("--prefix TEXT needs --length L (the length in all, prefix included)")
    if args.init is None and args.length is None:
        raise UsageError("say what to sample: --length L, --init TEXT, or --prefix TEXT --length L")


def _lengths(spec: str, chains: int, seed: int) -> list[int]:
    """'12' -> [12] * chains; '10-15' -> uniform draws in [10, 15], seeded."""
    import torch

    from textebm.errors import UsageError

    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", spec)
    if not match:
        raise UsageError(f"--length must be a number L or a range A-B, not {spec!r}")
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) else low
    if low < 1 or high < low:
        raise UsageError(f"--length {spec}: lengths must be >= 1 and A <= B")
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(low, high + 1, (chains,), generator=generator).tolist()


def _start(args: argparse.Namespace, energy):
    from textebm.errors import UsageError
    from textebm.samplers import from_lengths, from_text

    tokenizer = energy.tokenizer
    try:
        if args.init is not None:
            start = from_text(tokenizer, args.init, args.chains, fixed=args.fixed)
        else:
            start = from_lengths(
                tokenizer, _lengths(args.length, args.chains, args.seed), args.prefix
            )
    except ValueError as error:
        flag = "--init" if args.init is not None else "--length"
        raise UsageError(f"{flag}: {error}") from None
    width = start.tokens.shape[1]
    if width > energy.max_length:
        what = "--init text" if args.init is not None else f"--length {args.length}"
        raise UsageError(
            f"{what} needs {width} tokens with special tokens; the model takes at most "
            f"{energy.max_length}"
        )
    most = int(start.free.sum(dim=1).max())
    if args.block_size > most and args.sampler != "mask-predict":
        raise UsageError(
            f"--block-size {args.block_size} is more than the {most} positions to sample"
        )
    return start


def run(args: argparse.Namespace) -> int:
    import torch

    from textebm.cli.common import quiet_libraries
    from textebm.energies import MaskedLMEnergy
    from textebm.models.loading import load_masked_lm, pick_device

    _check_numbers(args)
    output = Path(args.output)
    from textebm.errors import UsageError

    if not output.parent.exists():
        raise UsageError(f"output folder does not exist: {output.parent}")
    quiet_libraries()
    device = pick_device(args.device)
    model, tokenizer = load_masked_lm(args.model, device=device)
    energy = MaskedLMEnergy(model, tokenizer, kind=args.energy, batch_tokens=args.batch_tokens)
    start = _start(args, energy).to(device)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    if args.sampler == "mask-predict":
        result = _mask_predict(args, energy, start, generator)
    else:
        result = _chains(args, energy, start, generator)
    records, diagnostics, trace, burn_in = result
    diagnostics = {"settings": _settings(args, device), **diagnostics}
    _write(output, records, diagnostics, trace, burn_in, args)
    return 0


def _settings(args: argparse.Namespace, device) -> dict:
    import torch

    settings = {k: v for k, v in vars(args).items() if k not in ("func", "command")}
    return {**settings, "device": str(device), "torch": torch.__version__}


def _records(energy, tokens, mask, energies, sweeps) -> list[dict]:
    """One record per (kept sweep, chain): tokens without special tokens, untempered energy.

    tokens: (kept, chains, length) on the CPU; mask: (chains, length); energies: (kept, chains).
    """
    import torch

    special = torch.tensor(sorted(set(energy.tokenizer.all_special_ids)))
    records = []
    for k, sweep in enumerate(sweeps):
        keep = mask.bool() & ~torch.isin(tokens[k], special)
        for chain in range(tokens.shape[1]):
            ids = tokens[k, chain][keep[chain]].tolist()
            records.append(
                {
                    "chain": chain,
                    "sweep": sweep,
                    "text": energy.tokenizer.decode(ids),
                    "token_ids": ids,
                    "energy": float(energies[k, chain]),
                }
            )
    return records


def _chains(args, energy, start, generator):
    from textebm.samplers import (
        DegenerateGibbs,
        MetropolisHastings,
        Proposal,
        geometric_schedule,
        run_chains,
    )

    layout = {"block_size": args.block_size, "scan": args.scan, "layout": args.block_layout}
    if args.sampler == "mh":
        proposal = None
        if args.proposal_temperature is not None or args.top_k or args.top_p < 1:
            proposal = Proposal(
                args.proposal_temperature or args.temperature, args.top_k, args.top_p
            )
        kernel = MetropolisHastings(
            energy, temperature=args.temperature, proposal=proposal, **layout
        )
    else:
        kernel = DegenerateGibbs(
            energy, args.proposal_temperature or args.temperature, args.top_k, args.top_p, **layout
        )
    masks_before = int((start.free & (start.tokens == energy.mask_id)).sum())
    state, fill_passes = kernel.init(*start.astuple(), generator)
    schedule = None
    if args.anneal_to is not None:
        schedule = geometric_schedule(args.temperature, args.anneal_to, args.burn_in + args.sweeps)
    samples = run_chains(
        kernel,
        state,
        generator,
        args.sweeps,
        args.burn_in,
        args.thin,
        schedule=schedule,
        progress=True,
    )
    init = {
        "from": "text" if args.init is not None else "all-mask",
        "masks_filled_by_proposals": masks_before,
        "fill_passes": fill_passes,
        "note": "every [MASK] at a free position was filled by drawing from its proposal, "
        "every draw kept, before the chain proper (burn-in included) started",
    }
    diagnostics = {"init": init, **samples.diagnostics}
    mask = start.attention_mask.cpu()
    records = _records(energy, samples.tokens, mask, samples.energies, samples.sweeps)
    return records, diagnostics, samples.trace, args.burn_in


def _mask_predict(args, energy, start, generator):
    import time

    import torch

    from textebm.samplers import Proposal, mask_predict
    from textebm.samplers.mh import untempered

    proposal = Proposal(args.proposal_temperature or args.temperature, args.top_k, args.top_p)
    before = energy.cost.snapshot()
    started = time.perf_counter()
    result = mask_predict(
        energy,
        *start.astuple(),
        iterations=args.sweeps,
        sample_tokens=args.decode == "sample",
        proposal=proposal,
        generator=generator,
    )
    seconds = time.perf_counter() - started
    cost = energy.cost - before
    trace = torch.stack(
        [untempered(energy, energy(tokens, start.attention_mask)) for tokens in result.history]
    ).cpu()
    diagnostics = {
        "iterations": result.iterations,
        "masked_per_iteration": result.masked,
        "decode": args.decode,
        "energy_mean": float(trace[-1].mean()),
        "cost": {"sequences": cost.sequences, "calls": cost.calls, "tokens": cost.tokens},
        "seconds": seconds,
        "note": "Mask-Predict is a decoder, not a chain: no acceptance, ESS or R-hat; "
        "--burn-in and --thin do not apply",
    }
    records = _records(
        energy,
        result.tokens.cpu().unsqueeze(0),
        start.attention_mask.cpu(),
        trace[-1:],
        [result.iterations],
    )
    return records, diagnostics, trace, 0


def _write(output: Path, records, diagnostics, trace, burn_in, args) -> None:
    from textebm.data.files import atomic_write, write_json
    from textebm.eval.plots import energy_trace_png

    title = f"{args.sampler}, {args.energy} energy, T={args.temperature:g}"
    png = energy_trace_png(trace, burn_in=burn_in, title=title)
    with atomic_write(output) as out:
        for record in records:
            out.write(json.dumps(record) + "\n")
    write_json(output.with_suffix(".diagnostics.json"), diagnostics)
    with atomic_write(output.with_suffix(".trace.png"), "wb") as out:
        out.write(png)
