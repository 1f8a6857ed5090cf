"""`TranslateConfig`: every setting of a translation run, each field documented.

`textebm translate` generates its flags from these fields (their `help` is the flag's help), and
`textebm.samplers.translate.translate_lines(config, lines)` runs the same thing from Python.
Errors name the flag (`--length-beam`), since field and flag are one-to-one (`length_beam`).
"""

from __future__ import annotations

from dataclasses import dataclass

from textebm.data.shards import parse_shard
from textebm.recipes.config import _check_types, option
from textebm.samplers.config import BLOCK_LAYOUTS, SCANS, chain_checks, raise_first_failure

CMLM_DECODERS = ("mh", "gibbs", "mask-predict", "greedy")
DECODERS = (*CMLM_DECODERS, "beam")
CHAIN_DECODERS = ("mh", "gibbs")


@dataclass
class TranslateConfig:
    """Which model, which decoder, how long, and which input lines."""

    # model
    model: str | None = option(
        None,
        "local folder (or hub id) of a conditional masked LM (`textebm train cmlm`) or, for "
        "--sampler beam, of an encoder-decoder (`textebm train seq2seq`); required",
        "model",
        metavar="MODEL",
    )
    # fingerprint=False: where and in what chunks the passes run, not which passes; a --resume
    # may change them (textebm.cli.translate_resume)
    device: str | None = option(
        None,
        "e.g. cpu, cuda:0 (default: the best one)",
        "model",
        metavar="DEVICE",
        fingerprint=False,
    )
    batch_tokens: int = option(8192, "token budget of one forward pass", "model", fingerprint=False)
    # decoder
    sampler: str = option(
        "mh",
        "CMLM: mh (Metropolis-Hastings), gibbs (degenerate Gibbs), mask-predict, greedy (the "
        "warm start alone); encoder-decoder: beam (beam search)",
        "decoder",
        choices=DECODERS,
    )
    energy: str = option(
        "norm",
        "mh and gibbs: the energy E(y | x) the chains target and the candidates are ranked by "
        "(per target token): norm, the conditional pseudo-NLL; raw, the negative summed logits",
        "decoder",
        choices=("norm", "raw"),
    )
    length_beam: int = option(
        3,
        "CMLM: decode the L most probable target lengths of the length predictor (lengths >= 1) "
        "and keep the best candidate",
        "decoder",
        metavar="L",
    )
    sweeps: int = option(5, "mh and gibbs: sweeps per chain after the greedy warm start", "decoder")
    iterations: int = option(
        10, "mask-predict: iterations (the first is the warm start)", "decoder"
    )
    temperature: float = option(
        1.0, "mh and gibbs: target temperature T at the first sweep, p(y|x) ~ exp(-E/T)", "decoder"
    )
    anneal_to: float | None = option(
        None,
        "mh and gibbs: lower the target temperature geometrically to T at the last sweep "
        "(proposals follow it unless --proposal-temperature is given); default: no annealing",
        "decoder",
        metavar="T",
    )
    block_size: int = option(1, "mh and gibbs: positions changed per step", "decoder")
    block_layout: str = option(
        "contiguous",
        "a block's positions: consecutive, or any k of the target's positions",
        "decoder",
        choices=BLOCK_LAYOUTS,
    )
    scan: str = option(
        "random",
        "which block a step changes: a random one, or each in turn",
        "decoder",
        choices=SCANS,
    )
    proposal_temperature: float | None = option(
        None,
        "mh and gibbs: pin the proposals' temperature (default: follow the target's)",
        "decoder",
    )
    top_k: int = option(0, "mh and gibbs: truncate proposals to k tokens (0: off)", "decoder")
    top_p: float = option(
        1.0, "mh and gibbs: nucleus truncation of proposals, in (0, 1]", "decoder"
    )
    seed: int = option(
        0,
        "seed of the chains; each batch of lines draws from a generator seeded "
        "shard_seed(SEED, its first line's number)",
        "decoder",
    )
    # beam search (encoder-decoder)
    beam: int = option(5, "beam: hypotheses kept per sentence (1: greedy)", "beam search")
    max_length_ratio: float = option(
        2.0, "beam: at most floor(ratio x source tokens) + extra target tokens", "beam search"
    )
    max_length_extra: int = option(10, "beam: see --max-length-ratio", "beam search")
    length_penalty: float = option(
        1.0, "beam: scores are log p / tokens ** penalty (1: per-token mean)", "beam search"
    )
    # input lines
    batch_sentences: int = option(
        16,
        "sentences decoded together (a CMLM's candidates of one length share one batch of "
        "chains); part of what a seed reproduces",
        "input",
    )
    truncate: bool = option(
        False,
        "cut sources longer than the model's positions instead of failing",
        "input",
    )
    start_line: int = option(
        0,
        "decode from this input line on, counted from 0 (the number of lines skipped); the "
        "output then starts with that line's translation",
        "input",
        metavar="N",
    )
    end_line: int | None = option(
        None,
        "stop before this input line, counted from 0 (default: the end); parts "
        "[0, N), [N, M), ... concatenate to the whole run when N, M, ... are multiples of "
        "--batch-sentences",
        "input",
        metavar="M",
    )
    shard: str | None = option(
        None,
        "decode only shard R (from 0) of W: a contiguous block of the selected lines (the first "
        "lines % W blocks one longer); the W shards' outputs concatenated in order equal one "
        "run on W processes under torchrun or accelerate launch, which shard by themselves",
        "processes",
        metavar="R/W",
    )

    def __post_init__(self) -> None:
        _check_types(self)  # and every field's choices
        checks = [
            (self.length_beam >= 1, f"--length-beam must be >= 1, not {self.length_beam}"),
            (self.sweeps >= 1, f"--sweeps must be >= 1, not {self.sweeps}"),
            (self.iterations >= 1, f"--iterations must be >= 1, not {self.iterations}"),
            *chain_checks(self),
            (
                self.batch_sentences >= 1,
                f"--batch-sentences must be >= 1, not {self.batch_sentences}",
            ),
            (self.beam >= 1, f"--beam must be >= 1, not {self.beam}"),
            (
                self.max_length_ratio >= 0,
                f"--max-length-ratio must be >= 0, not {self.max_length_ratio}",
            ),
            (
                self.max_length_extra >= 1,
                f"--max-length-extra must be >= 1, not {self.max_length_extra}",
            ),
            (self.start_line >= 0, f"--start-line must be >= 0, not {self.start_line}"),
            (
                self.end_line is None or self.end_line > self.start_line,
                f"--end-line {self.end_line} must be more than --start-line {self.start_line}",
            ),
        ]
        raise_first_failure(checks)
        if self.shard is not None:
            parse_shard(self.shard)  # a UsageError naming --shard
