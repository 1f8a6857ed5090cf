"""`SampleConfig`: every setting of a sampling run, each field documented.

`textebm sample` generates its flags from these fields (their `help` metadata is the flag's help
text, as for `textebm train`), and `textebm.samplers.sample(config)` runs the same thing from
Python. Errors name the flag (`--top-p`), since field and flag are one-to-one (`top_p`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textebm.data.shards import parse_shard
from textebm.errors import UsageError
from textebm.recipes.config import _check_types, option

if TYPE_CHECKING:  # imported when used: the command line reads this module without torch
    from textebm.samplers.convergence import StopRule
    from textebm.samplers.translate_config import TranslateConfig

SAMPLERS = ("mh", "gibbs", "mask-predict")
# shared with TranslateConfig: the chains of a translation move as a sampling run's do
BLOCK_LAYOUTS = ("contiguous", "scattered")
SCANS = ("random", "systematic")


@dataclass
class SampleConfig:
    """Which energy, where chains start, how they move, and for how long."""

    # energy
    model: str | None = option(
        None,
        "hub id or local folder of a masked LM (of an Electric model for --energy electric; "
        "required)",
        "energy",
        metavar="MODEL",
    )
    energy: str = option(
        "norm",
        "norm: negative pseudo-log-likelihood; raw: negative summed logits; electric: an "
        "Electric model's energy, proposed by --proposal-model (MH only)",
        "energy",
        choices=("norm", "raw", "electric"),
    )
    proposal_model: str | None = option(
        None,
        "a masked LM whose conditionals propose, for a target that cannot propose itself "
        "(--energy electric); it must share the target's vocabulary",
        "energy",
        metavar="MLM",
    )
    batch_tokens: int = option(8192, "token budget of one forward pass", "energy")
    device: str | None = option(
        None, "e.g. cpu, cuda:0 (default: the best one)", "energy", metavar="DEVICE"
    )
    # what to sample
    length: str | None = option(
        None,
        "L tokens (special tokens excluded), or A-B for a length drawn uniformly per chain",
        "what to sample",
        metavar="L",
    )
    init: str | None = option(None, "start every chain from TEXT", "what to sample", metavar="TEXT")
    fixed: bool = option(
        False, "with --init: a template; only its [MASK]s are sampled", "what to sample"
    )
    prefix: str | None = option(
        None,
        "a fixed prefix; needs --length (the length in all, prefix included)",
        "what to sample",
        metavar="TEXT",
    )
    chains: int = option(8, "independent chains", "what to sample")
    # the chains
    sampler: str = option(
        "mh",
        "mh: Metropolis-Hastings; gibbs: degenerate Gibbs; mask-predict: a decoder",
        "chains",
        choices=SAMPLERS,
    )
    sweeps: int = option(100, "sweeps after burn-in (Mask-Predict: iterations)", "chains")
    burn_in: int = option(20, "sweeps discarded first", "chains")
    thin: int = option(10, "keep every N-th sweep after burn-in", "chains")
    until_rhat: float | None = option(
        None,
        "run until the energy's split R-hat over the chains of each length (every sweep past "
        "the burn-in) is at most R in every length group, e.g. 1.05; --sweeps is then the "
        "minimum, and --max-sweeps or --time-budget the cap",
        "convergence",
        metavar="R",
    )
    check_every: int = option(
        10, "with --until-rhat: compute R-hat every N sweeps past the burn-in", "convergence"
    )
    max_sweeps: int | None = option(
        None,
        "with --until-rhat: stop after N sweeps past the burn-in, converged or not",
        "convergence",
        metavar="N",
    )
    time_budget: float | None = option(
        None,
        "with --until-rhat: stop once this many minutes of wall clock have passed (burn-in "
        "included; --sweeps always run), converged or not; the result then depends on speed",
        "convergence",
        metavar="MINUTES",
    )
    temperature: float = option(1.0, "target temperature T: p(x) ~ exp(-E(x)/T)", "chains")
    anneal_to: float | None = option(
        None,
        "lower the target temperature geometrically to T over the run (proposals follow it "
        "unless --proposal-temperature is given)",
        "chains",
        metavar="T",
    )
    block_size: int = option(1, "positions changed per step", "chains")
    block_layout: str = option(
        "contiguous",
        "a block's positions: consecutive, or any k of the free positions",
        "chains",
        choices=BLOCK_LAYOUTS,
    )
    scan: str = option(
        "random",
        "which block a step changes: a random one, or each in turn",
        "chains",
        choices=SCANS,
    )
    seed: int = option(0, "seed of lengths, initial fill, proposals and acceptance", "chains")
    # processes
    shard: str | None = option(
        None,
        "run only shard R (from 0) of W: a contiguous block of the chains (the first chains % W "
        "blocks one longer), numbered as in the whole run, with a generator seeded "
        "shard_seed(--seed, R) (R = 0 keeps --seed); the W shards' outputs concatenated in order "
        "equal one run on W processes under torchrun or accelerate launch, which shard by "
        "themselves",
        "processes",
        metavar="R/W",
    )
    # proposals
    proposal_temperature: float | None = option(
        None,
        "pin the proposals' (Gibbs, Mask-Predict: the conditionals') temperature (default: "
        "follow the target's, annealed or not)",
        "proposals",
    )
    top_k: int = option(0, "truncate proposals to the k most probable tokens (0: off)", "proposals")
    top_p: float = option(1.0, "nucleus truncation of proposals, in (0, 1]", "proposals")
    decode: str = option(
        "argmax",
        "Mask-Predict: argmax (the paper's) or draw from the proposal",
        "proposals",
        choices=("argmax", "sample"),
    )

    def __post_init__(self) -> None:
        _check_types(self)  # and every field's choices
        electric = self.energy == "electric"
        checks = [
            (
                not electric or self.proposal_model is not None,
                "--energy electric needs --proposal-model MLM: an Electric model cannot propose",
            ),
            (
                not electric or self.sampler == "mh",
                f"--energy electric runs with --sampler mh, not {self.sampler}: degenerate Gibbs "
                "and Mask-Predict follow the proposer's conditionals and never see the target",
            ),
            (
                electric or self.proposal_model is None,
                "--proposal-model is for --energy electric; a masked LM proposes for itself",
            ),
            (self.chains >= 1, f"--chains must be >= 1, not {self.chains}"),
            (self.sweeps >= 1, f"--sweeps must be >= 1, not {self.sweeps}"),
            (self.burn_in >= 0, f"--burn-in must be >= 0, not {self.burn_in}"),
            (self.thin >= 1, f"--thin must be >= 1, not {self.thin}"),
            *chain_checks(self),
        ]
        raise_first_failure(checks)
        if self.thin > self.sweeps and self.sampler != "mask-predict":
            raise UsageError(
                f"--thin {self.thin} is more than --sweeps {self.sweeps}: nothing kept"
            )
        self._check_convergence()
        if self.shard is not None:
            parse_shard(self.shard)  # a UsageError naming --shard
        if self.fixed and self.init is None:
            raise UsageError("--fixed needs --init TEXT (a template with [MASK]s)")
        if self.init is not None and (self.length is not None or self.prefix is not None):
            raise UsageError("give --init TEXT alone, without --length or --prefix")
        if self.prefix is not None and self.length is None:
            raise UsageError("--prefix TEXT needs --length L (the length in all, prefix included)")
        if self.init is None and self.length is None:
            raise UsageError(
                "say what to sample: --length L, --init TEXT, or --prefix TEXT --length L"
            )

    def _check_convergence(self) -> None:
        if self.until_rhat is None:
            for name in ("max_sweeps", "time_budget"):
                if getattr(self, name) is not None:
                    raise UsageError(
                        f"{_flag(name)} caps --until-rhat R; without it, --sweeps is the run"
                    )
            return
        checks = [
            (
                self.sampler != "mask-predict",
                "--until-rhat is for chains (--sampler mh or gibbs), not mask-predict",
            ),
            (
                self.until_rhat > 1,
                f"--until-rhat must be more than 1 (e.g. 1.05), not {self.until_rhat}",
            ),
            (self.check_every >= 1, f"--check-every must be >= 1, not {self.check_every}"),
            (
                self.max_sweeps is not None or self.time_budget is not None,
                "--until-rhat needs a cap: --max-sweeps N, --time-budget MINUTES, or both",
            ),
            (
                self.max_sweeps is None or self.max_sweeps >= self.sweeps,
                f"--max-sweeps {self.max_sweeps} is less than --sweeps {self.sweeps}, the "
                "minimum with --until-rhat",
            ),
            (
                self.time_budget is None or self.time_budget > 0,
                f"--time-budget must be positive minutes, not {self.time_budget}",
            ),
        ]
        raise_first_failure(checks)

    def stop_rule(self) -> StopRule | None:
        """The `StopRule` of --until-rhat and its caps, or None for a fixed number of sweeps."""
        if self.until_rhat is None:
            return None
        from textebm.samplers.convergence import StopRule

        return StopRule(self.until_rhat, self.check_every, self.max_sweeps, self.time_budget)


def chain_checks(config: SampleConfig | TranslateConfig) -> list[tuple[bool, str]]:
    """(passed, error) of the chain settings that `SampleConfig` and `TranslateConfig` share,
    field for field and flag for flag: temperatures, proposal truncation, blocks, batch tokens.
    The help texts differ (a translation's chains only run for mh and gibbs), the rules do not."""
    return [
        (config.temperature > 0, f"--temperature must be positive, not {config.temperature}"),
        (
            config.anneal_to is None or config.anneal_to > 0,
            f"--anneal-to must be positive, not {config.anneal_to}",
        ),
        *proposal_checks(config.proposal_temperature, config.top_k, config.top_p),
        (config.block_size >= 1, f"--block-size must be >= 1, not {config.block_size}"),
        (config.batch_tokens >= 1, f"--batch-tokens must be positive, not {config.batch_tokens}"),
    ]


def proposal_checks(
    proposal_temperature: float | None, top_k: int, top_p: float
) -> list[tuple[bool, str]]:
    """(passed, error) of the proposal flags --proposal-temperature, --top-k and --top-p, wherever
    a command offers them (`chain_checks`, `textebm verify`)."""
    return [
        (
            proposal_temperature is None or proposal_temperature > 0,
            f"--proposal-temperature must be positive, not {proposal_temperature}",
        ),
        (top_k >= 0, f"--top-k must be >= 0 (0 turns it off), not {top_k}"),
        (0 < top_p <= 1, f"--top-p must be in (0, 1], not {top_p}"),
    ]


def raise_first_failure(checks: list[tuple[bool, str]]) -> None:
    """Raise a UsageError with the error of the first check that did not pass."""
    for passed, error in checks:
        if not passed:
            raise UsageError(error)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")
