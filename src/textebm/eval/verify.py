"""`textebm verify`: proof on enumerable toys that MH samples the masked LM's energy and degenerate
Gibbs does not.

1. Exact: on every sequence of `enum_length` tokens over `enum_words` words (6^4 = 1,296 states),
   the target by enumeration (norm and raw, tau = 1 and tau != 1), the transition matrices of
   single-site MH (random and systematic scan), block MH (k = 2, contiguous and scattered) and
   degenerate Gibbs, built from the kernels' own proposal and acceptance functions; TV distance of
   each stationary distribution from the target: MH <= 1e-6, Gibbs > 0.03.
2. Sampled: the actual kernels and driver on `sample_words`^`sample_length` (4^3 = 64) states,
   `chains` x `sweeps` kept states (25,600 or 51,200) after an all-mask start and a burn-in; TV
   distance of the empirical distribution from the target: MH <= 0.03, Gibbs > 0.03. Fewer
   samples than that show more TV by chance alone, so the bound is max(0.03, 1.5 x the TV that
   ESS(E) independent draws from the target show on average, `exact.sampling_noise_tv`): with
   too few samples an exact MH is not failed, and a biased Gibbs is not called biased.

With proposal options (top-k, top-p, a proposal temperature; Gibbs draws from the same proposal)
a chain may not reach every state: it splits into closed communicating classes. Then each
class's stationary distribution is compared with the target restricted to that class (the
largest TV over the classes is the row's), the sampled states with the target restricted to each
class the chains sit in, weighted by how many samples each class holds; and every MH step's
matrix (each block's) is checked for detailed balance with the target on every pair of states,
which needs no solve (`exact.detailed_balance_violation`, <= 1e-6). Truncated single-site MH
can mix slowly (a metastable set held for hundreds of sweeps), so MH's burn-in there lasts until
the chains' exact law, given their start states, is within 0.005 of where they go
(`burn_in_to_mix`). Degenerate Gibbs is reported, not judged, there: a class of one state is
matched trivially.

3. Electric-shaped target: the exact check of (1) with the target an Electric model's one-pass
   energy (`energies.ElectricEnergy`; its encoder copied from the toy BERT, a fresh energy head)
   and the toy BERT only proposing: MH's stationary distribution is still the target.
4. Conditional toy: the exact check of (1) on a random conditional masked LM (`exact.toy_cmlm`),
   every target sequence given one fixed source, which is the chains' condition: MH's stationary
   distribution is exp(-E(y | x) / tau) / Z(x) for `norm` and `raw`; Gibbs's is not.

The toy BERT's initialisation is scaled by `init_scale` (10x BERT's 0.02), so that its masked
conditionals are far from consistent: at the default scale Gibbs would be off by only ~1e-4.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from textebm.energies import ElectricEnergy, MaskedLMEnergy
from textebm.eval.exact import (
    ExactSpace,
    block_matrices,
    class_stationaries,
    closed_classes,
    combine,
    detailed_balance_violation,
    empirical,
    restricted,
    toy_masked_lm,
    transition_matrix,
    tv_distance,
)

# The table's formatting lives beside the checks; imported from here by earlier callers.
from textebm.eval.sampled_check import (
    SAMPLED_TOLERANCE,
    burn_in_to_mix,
    sampled_tolerance,
    sampled_tv,
)
from textebm.eval.verify_table import format_table as format_table
from textebm.samplers import (
    DegenerateGibbs,
    MetropolisHastings,
    Proposal,
    from_lengths,
    run_chains,
)
from textebm.samplers.state import steps_per_sweep

EXACT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class VerifyConfig:
    """Sizes and seeds of the checks (the defaults are what the CI test and the table use)."""

    model_seed: int = 2
    init_scale: float = 10.0
    enum_words: int = 6
    enum_length: int = 4
    targets: tuple[tuple[str, float], ...] = (("norm", 1.0), ("raw", 1.0), ("norm", 0.5))
    electric_targets: tuple[float, ...] = (1.0,)  # tau of the Electric-target exact rows
    # (energy, tau) of the conditional-toy exact rows (a CMLM, targets given a fixed source)
    conditional_targets: tuple[tuple[str, float], ...] = (("norm", 1.0), ("raw", 1.0))
    sample_words: int = 4
    sample_length: int = 3
    # (energy, tau, kept sweeps): the peaked raw/0.5 target mixes slower, so it runs longer;
    # both reach an energy ESS of about 10^4.
    sample_targets: tuple[tuple[str, float, int], ...] = (("norm", 1.0, 100), ("raw", 0.5, 200))
    chains: int = 256
    sweeps: int | None = None  # overrides every target's sweeps when set
    burn_in: int = 30  # block MH on the peaked raw/0.5 target needs ~30 sweeps from all-mask
    seed: int = 0
    top_k: int = 0  # proposal truncation, as `Proposal` (0: off)
    top_p: float = 1.0
    proposal_temperature: float | None = None  # None: the target's tau

    @property
    def proposal_options(self) -> bool:
        return self.top_k > 0 or self.top_p < 1 or self.proposal_temperature is not None

    def proposal(self, tau: float) -> Proposal | None:
        """MH's proposal at target temperature tau; None (the kernel's default) without options."""
        if not self.proposal_options:
            return None
        return Proposal(self.proposal_temperature or tau, self.top_k, self.top_p)


@dataclass(frozen=True)
class Row:
    """One line of the table: `tv` of `sampler`'s distribution from the target, and the verdict.

    classes: the chain's closed communicating classes (1: it reaches every state); tv is then
    from the target restricted to them (see the module docstring). balance: the largest
    detailed-balance violation of an exact MH row's step matrices. judged: False for Gibbs under
    proposal options, whose row is reported only. burn_in: sweeps dropped before the samples.
    """

    check: str
    energy: str
    tau: float
    sampler: str
    states: int
    samples: int | None
    ess: float | None
    tv: float
    passed: bool
    classes: int = 1
    balance: float | None = None
    judged: bool = True
    burn_in: int | None = None
    tolerance: float = SAMPLED_TOLERANCE  # a sampled row's bound (`sampled_tolerance`)

    @property
    def expected(self) -> str:
        if not self.judged:
            return "any"
        if "Gibbs" in self.sampler:
            return f"> {self.tolerance:.3g}"
        return f"<= {EXACT_TOLERANCE:g}" if self.check == "exact" else f"<= {self.tolerance:.3g}"

    @property
    def widened(self) -> bool:
        """Whether too few samples widened this row's bound past 0.03."""
        return self.tolerance > SAMPLED_TOLERANCE


def _kernels(energy, tau: float, config: VerifyConfig) -> list[tuple[str, object, bool]]:
    proposal = config.proposal(tau)
    gibbs = Proposal(tau) if proposal is None else proposal  # Gibbs draws from the same proposal

    def mh(**layout):
        return MetropolisHastings(energy, temperature=tau, proposal=proposal, **layout)

    return [
        ("MH single-site, random scan", mh(), False),
        ("MH single-site, systematic", mh(), True),
        ("MH block k=2, contiguous", mh(block_size=2), False),
        ("MH block k=2, scattered", mh(block_size=2, layout="scattered"), False),
        (
            "degenerate Gibbs",
            DegenerateGibbs(energy, gibbs.temperature, gibbs.top_k, gibbs.top_p),
            False,
        ),
    ]


def _verdict(
    sampler: str, tv: float, tolerance: float, judged: bool = True, biased: float | None = None
) -> bool:
    """MH within `tolerance`; Gibbs beyond `biased` (default: the sampled tolerance)."""
    if not judged:
        return True
    return tv > (biased or SAMPLED_TOLERANCE) if "Gibbs" in sampler else tv <= tolerance


def exact_check(
    space: ExactSpace, target: torch.Tensor, kernel, systematic: bool
) -> tuple[float, int, float | None]:
    """(largest TV of a closed class's stationary distribution from the target restricted to
    it, number of closed classes, largest detailed-balance violation of an MH step's matrix or
    None for Gibbs)."""
    matrices = block_matrices(space, kernel, systematic)
    matrix = combine(matrices, systematic)
    classes = closed_classes(matrix)
    tv = max(
        tv_distance(pi, restricted(target, states))
        for pi, states in zip(class_stationaries(matrix, classes), classes, strict=True)
    )
    balance = None
    if isinstance(kernel, MetropolisHastings):  # every block's step: a systematic sweep is not
        balance = max(detailed_balance_violation(m, target) for m in matrices)  # reversible
    return tv, len(classes), balance


def _exact_row(
    energy: str, tau: float, sampler: str, states: int, check: tuple, judged: bool = True
) -> Row:
    """The row of one `exact_check` result (tv, classes, balance): MH must also hold detailed
    balance on every block's step matrix."""
    tv, classes, balance = check
    passed = _verdict(sampler, tv, EXACT_TOLERANCE, judged)
    if balance is not None:
        passed = passed and balance <= EXACT_TOLERANCE
    return Row(
        "exact", energy, tau, sampler, states, None, None, tv, passed, classes, balance, judged
    )


def exact_rows(config: VerifyConfig) -> list[Row]:
    model, tokenizer = toy_masked_lm(config.enum_words, config.model_seed, config.init_scale)
    judged = not config.proposal_options
    rows = []
    for kind, tau in config.targets:
        energy = MaskedLMEnergy(model, tokenizer, kind=kind)
        space = ExactSpace(energy, config.enum_length)
        target = space.target(tau)
        for name, kernel, systematic in _kernels(energy, tau, config):
            check = exact_check(space, target, kernel, systematic)
            judged_row = judged or "Gibbs" not in name
            rows.append(_exact_row(kind, tau, name, space.n, check, judged_row))
    return rows


def electric_rows(config: VerifyConfig) -> list[Row]:
    """Exact rows with an Electric model as MH's target and the toy BERT proposing (single-site
    and block k=2, random scan): any energy is a valid target, not only the proposer's own."""
    from textebm.models.electric import ElectricModel

    model, tokenizer = toy_masked_lm(config.enum_words, config.model_seed, config.init_scale)
    with torch.random.fork_rng():  # the head's initialiser draws from the global RNG
        torch.manual_seed(config.model_seed)
        electric = ElectricModel.from_encoder(model).eval()
    source = MaskedLMEnergy(model, tokenizer)
    target_energy = ElectricEnergy(electric, tokenizer)
    space = ExactSpace(source, config.enum_length)
    with torch.no_grad():
        energies = target_energy(space.tokens, space.attention_mask).energy.double()
    rows = []
    for tau in config.electric_targets:
        target = torch.softmax(-energies / tau, dim=0)
        for name, block in (("MH single-site, random scan", 1), ("MH block k=2, contiguous", 2)):
            kernel = MetropolisHastings(
                target_energy,
                source=source,
                temperature=tau,
                proposal=config.proposal(tau),
                block_size=block,
            )
            check = exact_check(space, target, kernel, False)
            rows.append(_exact_row("electric", tau, name, space.n, check))
    return rows


def sampled_rows(config: VerifyConfig, progress: bool = False) -> list[Row]:
    """The sampled checks. With proposal options, MH's burn-in is `burn_in_to_mix` (at least
    config.burn_in); without, config.burn_in as always."""
    model, tokenizer = toy_masked_lm(config.sample_words, config.model_seed, config.init_scale)
    judged = not config.proposal_options
    rows = []
    for kind, tau, sweeps in config.sample_targets:
        sweeps = config.sweeps or sweeps
        energy = MaskedLMEnergy(model, tokenizer, kind=kind)
        space = ExactSpace(energy, config.sample_length)
        target = space.target(tau)
        kernels = [item for item in _kernels(energy, tau, config) if not item[2]]
        for number, (name, kernel, _) in enumerate(kernels):
            if "scattered" in name:
                continue
            generator = torch.Generator().manual_seed(config.seed + number)
            start = from_lengths(tokenizer, [config.sample_length] * config.chains)
            state, _ = kernel.init(*start.astuple(), generator)
            matrix = transition_matrix(space, kernel)  # random scan, as run_chains runs it
            classes = closed_classes(matrix)
            burn_in = config.burn_in
            if config.proposal_options and isinstance(kernel, MetropolisHastings):
                per_sweep = steps_per_sweep(state.free, kernel.block_size)
                sweep = torch.linalg.matrix_power(matrix, per_sweep)
                law = empirical(space, state.tokens)  # where the chains start, exactly
                burn_in = burn_in_to_mix(law, target, sweep, classes, burn_in)
            samples = run_chains(kernel, state, generator, sweeps, burn_in, progress=progress)
            tv, limit = sampled_tv(space, target, classes, samples.tokens)
            kept, ess = samples.tokens.shape[0], samples.diagnostics["energy_ess_bulk"]
            count = kept * config.chains
            tolerance = sampled_tolerance(limit, ess, config.chains, kept)
            row_judged = judged or "Gibbs" not in name
            rows.append(
                Row(
                    "sampled",
                    kind,
                    tau,
                    name,
                    space.n,
                    count,
                    ess,
                    tv,
                    _verdict(name, tv, tolerance, row_judged, biased=tolerance),
                    len(classes),
                    None,
                    row_judged,
                    burn_in,
                    tolerance,
                )
            )
    return rows


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run on one CPU thread: the toy model's matrices (hidden size 32) are far too small to gain
    from more, and on a shared machine extra threads make it several times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def conditional_rows(config: VerifyConfig) -> list[Row]:
    """Exact rows on a conditional toy: a random CMLM (`exact.toy_cmlm`) and its `norm` / `raw`
    energy of every target of `enum_length` words given one fixed source sentence, which the
    kernels carry as their condition. MH's stationary distribution is exp(-E(y | x) / tau) / Z(x);
    degenerate Gibbs's is not."""
    from textebm.energies import Condition, ConditionalMaskedLMEnergy
    from textebm.eval.exact import TOY_WORDS, toy_cmlm

    model, tokenizer = toy_cmlm(config.enum_words, config.model_seed, config.init_scale)
    words = TOY_WORDS[: config.enum_words]
    source = " ".join(words[i % len(words)] for i in range(config.enum_length + 1))
    condition = Condition(input_ids=torch.tensor([tokenizer(source)["input_ids"]]))
    rows = []
    for kind, tau in config.conditional_targets:
        energy = ConditionalMaskedLMEnergy(model, tokenizer, kind=kind)
        space = ExactSpace(energy, config.enum_length, condition)
        target = space.target(tau)
        kernels = [k for k in _kernels(energy, tau, config) if "systematic" not in k[0]]
        for name, kernel, systematic in kernels:
            check = exact_check(space, target, kernel, systematic)
            judged = not config.proposal_options or "Gibbs" not in name
            rows.append(_exact_row(f"cmlm-{kind}", tau, name, space.n, check, judged))  # given x
    return rows


def verify(config: VerifyConfig | None = None, progress: bool = False) -> list[Row]:
    """Every row of the table: the exact checks, then the sampled ones."""
    config = config or VerifyConfig()
    with one_thread():
        rows = exact_rows(config) + electric_rows(config) + conditional_rows(config)
        return rows + sampled_rows(config, progress=progress)
