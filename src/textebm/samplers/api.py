"""One call from a `SampleConfig` to samples: the energy, the start, the kernel and the driver.

    config = SampleConfig(model="my-mlm", length="12", chains=4, sweeps=50)
    result = sample(config)                   # what `textebm sample` runs, then writes
    result.records[0]["text"], result.diagnostics["acceptance_rate"]

The same config and seed give the same samples as the command line. Python callers may hand in
their own energy (it proposes too, so it must be a masked-LM energy), a separate target that the
masked LM proposes for (any `Energy`, e.g. Electric), and a `Condition`, one row per chain, that
every call of the target receives.

Sharded (`shard=Shard(r, W)`): only chains `contiguous(chains, r, W)` run, numbered as in the whole
run, from the whole run's start (lengths drawn for all chains, then cut), with a generator seeded
`shard_seed(seed, r)`: shard 0 of 1 is the unsharded run. `textebm.samplers.sharded` runs every
shard on its own process and merges them.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, field

import torch

from textebm.data.shards import Shard, parse_shard
from textebm.energies.base import Condition, Energy
from textebm.errors import UsageError
from textebm.samplers.config import SampleConfig
from textebm.samplers.convergence import single_chain_lengths
from textebm.samplers.driver import Pool, geometric_schedule, run_chains
from textebm.samplers.gibbs import DegenerateGibbs
from textebm.samplers.mask_predict import mask_predict
from textebm.samplers.mh import MetropolisHastings, call_energy, untempered
from textebm.samplers.proposals import Proposal, ProposalSource
from textebm.samplers.start import (
    Start,
    chain_lengths,
    cut_start,
    from_lengths,
    from_text,
    structural_ids,
)


@dataclass
class SampleResult:
    """What `sample` returns.

    records: one per kept sample, in (sweep, chain) order: {"chain", "sweep", "text",
        "token_ids", "energy"}; text and token_ids without structural tokens (see `records`).
    tokens: (kept, chains, length) int64 kept states, special tokens included, on the CPU.
    energies: (kept, chains) their untempered energies.
    trace: (burn_in + sweeps, chains) energy after every sweep (Mask-Predict: every iteration);
        with --until-rhat, sweeps is the number run (`diagnostics["stopping"]`).
    burn_in: sweeps of `trace` before the first that may be kept.
    diagnostics: JSON-ready settings, acceptance, ESS, R-hat, cost, time.
    lengths: (chains,) the length each chain is grouped by (special tokens excluded).
    first_chain: the number of chain 0 of `tokens` in the whole run (a shard's first chain).
    pad_id: the id that right-pads `tokens`.
    """

    records: list[dict]
    tokens: torch.Tensor
    energies: torch.Tensor
    trace: torch.Tensor
    burn_in: int
    diagnostics: dict = field(default_factory=dict)
    lengths: list[int] = field(default_factory=list)
    first_chain: int = 0
    pad_id: int = 0


def load_energy(config: SampleConfig) -> ProposalSource:
    """The masked-LM energy that proposes: `config.model` with `config.energy`, or, for a target
    that cannot propose (`electric`), `config.proposal_model`; on `config.device`."""
    from textebm.energies import MaskedLMEnergy
    from textebm.models.loading import load_masked_lm, pick_device

    if config.model is None:
        raise UsageError("pass --model, a hub id or local folder of a masked LM")
    name = config.proposal_model if config.energy == "electric" else config.model
    kind = "norm" if config.energy == "electric" else config.energy  # the proposer's own kind
    model, tokenizer = load_masked_lm(name, device=pick_device(config.device))
    return MaskedLMEnergy(model, tokenizer, kind=kind, batch_tokens=config.batch_tokens)


def load_target(config: SampleConfig, proposer: ProposalSource) -> Energy | None:
    """The target when it is not the proposer itself (`electric`), else None. Chains are built
    with the proposer's tokenizer, so the two must share one vocabulary."""
    if config.energy != "electric":
        return None
    from textebm.energies import ElectricEnergy
    from textebm.models.loading import load_electric

    model, tokenizer = load_electric(config.model, device=proposer.device)
    if tokenizer.get_vocab() != proposer.tokenizer.get_vocab():
        raise UsageError(
            f"--model {config.model} and --proposal-model {config.proposal_model} have different "
            "vocabularies; the proposer must share the target's tokenizer"
        )
    return ElectricEnergy(model, tokenizer, batch_tokens=config.batch_tokens)


def lengths(spec: str, chains: int, seed: int) -> list[int]:
    """'12' -> [12] * chains; '10-15' -> uniform draws in [10, 15], from their own seeded
    generator (so the lengths do not shift the chains' random numbers)."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", spec)
    if not match:
        raise UsageError(f"--length must be a number L or a range A-B, not {spec!r}")
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) else low
    if low < 1 or high < low:
        raise UsageError(f"--length {spec}: lengths must be >= 1 and A <= B")
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(low, high + 1, (chains,), generator=generator).tolist()


def build_start(config: SampleConfig, energy: ProposalSource) -> Start:
    """Where the chains start (on the CPU), checked against the model's length and block size."""
    tokenizer = energy.tokenizer
    try:
        if config.init is not None:
            start = from_text(tokenizer, config.init, config.chains, fixed=config.fixed)
        else:
            drawn = lengths(config.length, config.chains, config.seed)
            start = from_lengths(tokenizer, drawn, config.prefix)
    except ValueError as error:
        flag = "--init" if config.init is not None else "--length"
        raise UsageError(f"{flag}: {error}") from None
    width = start.tokens.shape[1]
    max_length = getattr(energy, "max_length", None)
    if max_length is not None and width > max_length:
        what = "--init text" if config.init is not None else f"--length {config.length}"
        raise UsageError(
            f"{what} needs {width} tokens with special tokens; the model takes at most {max_length}"
        )
    most = int(start.free.sum(dim=1).max())
    if config.block_size > most and config.sampler != "mask-predict":
        raise UsageError(
            f"--block-size {config.block_size} is more than the {most} positions to sample"
        )
    return start


def build_kernel(
    config: SampleConfig, energy: ProposalSource, target: Energy | None = None
) -> MetropolisHastings | DegenerateGibbs:
    """The chain kernel of `config.sampler` ("mh" or "gibbs").

    energy: the masked-LM energy that proposes, and the target unless `target` is given (MH).
    Proposals (Gibbs: its conditionals) are drawn at the target temperature, which annealing
    lowers, unless `proposal_temperature` pins them: the same rule with or without truncation.
    """
    layout = {"block_size": config.block_size, "scan": config.scan, "layout": config.block_layout}
    if config.sampler == "mh":
        proposal = Proposal(config.proposal_temperature, config.top_k, config.top_p)
        if target is not None:
            return MetropolisHastings(
                target,
                temperature=config.temperature,
                proposal=proposal,
                source=energy,
                **layout,
            )
        return MetropolisHastings(
            energy, temperature=config.temperature, proposal=proposal, **layout
        )
    if target is not None:
        raise UsageError(f"a separate target needs --sampler mh, not {config.sampler}")
    if config.sampler == "gibbs":
        return DegenerateGibbs(
            energy,
            config.temperature,
            config.top_k,
            config.top_p,
            proposal_temperature=config.proposal_temperature,
            **layout,
        )
    raise ValueError(f"{config.sampler!r} is a decoder, not a chain kernel")


def sample(
    config: SampleConfig,
    energy: ProposalSource | None = None,
    condition: Condition | None = None,
    progress: bool = True,
    target: Energy | None = None,
    shard: Shard | None = None,
    pool: Pool | None = None,
) -> SampleResult:
    """Run `config`: load the energy (unless given), build the start and the kernel, run it.

    energy: a masked-LM energy to use instead of loading `config.model` (its own kind,
        temperature and device then apply; `config.energy`, `batch_tokens` and `device` do not).
    target: an energy the masked LM proposes for (MH only), instead of the one `config` names.
    condition: what the target is conditioned on, one row per chain (`Condition`), or None.
    progress: a progress bar over sweeps (never when the CI variable is set).
    shard: run only this shard of the chains, with its own seed (see the module's docstring);
        None: `config.shard`, if any.
    pool: with --until-rhat on a shard, the other shards' chains (on other processes), so that
        the rule judges all chains and every shard stops after the same sweep; without it a
        shard judges its own chains.
    """
    if energy is None:
        energy = load_energy(config)
        target = target or load_target(config, energy)
    if target is not None and config.sampler != "mh":
        raise UsageError(f"a separate target needs --sampler mh, not {config.sampler}")
    if config.shard is not None:
        if shard is not None and shard != parse_shard(config.shard):
            raise UsageError(f"--shard {config.shard} disagrees with this process's {shard}")
        shard = parse_shard(config.shard)
    device = energy.device
    start = build_start(config, energy)
    if condition is not None and len(condition) != config.chains:
        raise UsageError(
            f"the condition has {len(condition)} rows; give one per chain ({config.chains})"
        )
    whole = chain_lengths(start, energy.tokenizer)
    mine = range(config.chains) if shard is None else shard.items(config.chains)
    if not mine:
        raise UsageError(
            f"--chains {config.chains} leaves shard {shard} without a chain: run at least "
            f"{shard.world} chains on {shard.world} shards"
        )
    # the stopping rule judges the chains it sees: all of them (one process or a pool), or a
    # shard's own; each of its lengths needs 2 or more chains
    own = shard is not None and pool is None
    judged = whole[mine.start : mine.stop] if own else whole
    alone = single_chain_lengths(judged) if config.stop_rule() is not None else []
    if alone:
        raise UsageError(
            f"--until-rhat needs 2 or more chains of every length; length(s) "
            f"{', '.join(map(str, alone))} have one{' in this shard' if own else ''}"
            ": raise --chains or narrow --length"
        )
    start = cut_start(start, mine).to(device)
    if condition is not None:
        condition = condition.select(torch.tensor(list(mine))).to(device)
    seed = config.seed if shard is None else shard.seed(config.seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    parts = (config, energy, start, generator, condition, mine.start)
    if config.sampler == "mask-predict":
        result = _mask_predict(*parts)
    else:
        result = _chains(*parts, whole[mine.start : mine.stop], progress, target, pool)
    result.lengths, result.first_chain = whole[mine.start : mine.stop], mine.start
    result.pad_id = energy.tokenizer.pad_token_id or 0
    settings = {**dataclasses.asdict(config), "device": str(device), "torch": torch.__version__}
    result.diagnostics = {"settings": settings, **result.diagnostics}
    if shard is not None:
        result.diagnostics["shard"] = {
            "shard": str(shard),
            "chains": [mine.start, mine.stop],
            "seed": seed,
            "note": "this shard's chains (numbered as in the whole run) from the whole run's "
            "start, with a generator seeded shard_seed(seed, rank); its diagnostics describe "
            "its chains alone",
        }
    if config.init is not None:  # words the tokenizer does not know, for the command to report
        ids = energy.tokenizer(config.init, add_special_tokens=False)["input_ids"]
        unknown = sum(token == energy.tokenizer.unk_token_id for token in ids)
        result.diagnostics.setdefault("init", {})["unknown_tokens"] = unknown
    return result


def records(
    tokenizer,
    tokens: torch.Tensor,
    mask: torch.Tensor,
    energies: torch.Tensor,
    sweeps: list[int],
    first_chain: int = 0,
) -> list[dict]:
    """One record per (kept sweep, chain): tokens without structural ones, untempered energy.

    tokens: (kept, chains, length) on the CPU; mask: (chains, length); energies: (kept, chains).
    first_chain: the number of the first chain (a shard's place in the whole run).
    """
    structural = torch.tensor(sorted(structural_ids(tokenizer)), dtype=torch.long)
    out = []
    for k, sweep in enumerate(sweeps):
        keep = mask.bool() & ~torch.isin(tokens[k], structural)
        for chain in range(tokens.shape[1]):
            ids = tokens[k, chain][keep[chain]].tolist()
            out.append(
                {
                    "chain": first_chain + chain,
                    "sweep": sweep,
                    "text": tokenizer.decode(ids),
                    "token_ids": ids,
                    "energy": float(energies[k, chain]),
                }
            )
    return out


def _chains(
    config, energy, start, generator, condition, first_chain, lengths_here, progress, target, pool
) -> SampleResult:
    """lengths_here: each chain's length (`chain_lengths`), which `sample` has checked."""
    kernel = build_kernel(config, energy, target)
    masks_before = int((start.free & (start.tokens == energy.mask_id)).sum())
    state, fill_passes = kernel.init(*start.astuple(), generator, condition=condition)
    schedule = None
    if config.anneal_to is not None:
        total = config.burn_in + config.sweeps
        schedule = geometric_schedule(config.temperature, config.anneal_to, total)
    samples = run_chains(
        kernel,
        state,
        generator,
        config.sweeps,
        config.burn_in,
        config.thin,
        schedule=schedule,
        progress=progress,
        stop=config.stop_rule(),
        lengths=lengths_here,
        pool=pool,
    )
    init = {
        "from": "text" if config.init is not None else "all-mask",
        "masks_filled_by_proposals": masks_before,
        "fill_passes": fill_passes,
        "note": "every [MASK] at a free position was filled by drawing from its proposal, "
        "every draw kept, before the chain proper (burn-in included) started",
    }
    mask = start.attention_mask.cpu()
    return SampleResult(
        records=records(
            energy.tokenizer, samples.tokens, mask, samples.energies, samples.sweeps, first_chain
        ),
        tokens=samples.tokens,
        energies=samples.energies,
        trace=samples.trace,
        burn_in=config.burn_in,
        diagnostics={"init": init, **samples.diagnostics},
    )


def _mask_predict(config, energy, start, generator, condition, first_chain) -> SampleResult:
    proposal = Proposal(config.proposal_temperature, config.top_k, config.top_p)
    proposal = proposal.at(config.temperature)
    before = energy.cost.snapshot()
    started = time.perf_counter()
    result = mask_predict(
        energy,
        *start.astuple(),
        iterations=config.sweeps,
        sample_tokens=config.decode == "sample",
        proposal=proposal,
        generator=generator,
        condition=condition,
    )
    seconds = time.perf_counter() - started
    cost = energy.cost - before
    trace = torch.stack(
        [
            untempered(energy, call_energy(energy, tokens, start.attention_mask, condition))
            for tokens in result.history
        ]
    ).cpu()
    diagnostics = {
        "iterations": result.iterations,
        "masked_per_iteration": result.masked,
        "decode": config.decode,
        "energy_mean": float(trace[-1].mean()),
        "cost": {"sequences": cost.sequences, "calls": cost.calls, "tokens": cost.tokens},
        "seconds": seconds,
        "note": "Mask-Predict is a decoder, not a chain: no acceptance, ESS or R-hat; "
        "--burn-in and --thin do not apply",
    }
    tokens = result.tokens.cpu().unsqueeze(0)
    mask = start.attention_mask.cpu()
    return SampleResult(
        records=records(
            energy.tokenizer, tokens, mask, trace[-1:], [result.iterations], first_chain
        ),
        tokens=tokens,
        energies=trace[-1:],
        trace=trace,
        burn_in=0,
        diagnostics=diagnostics,
    )
