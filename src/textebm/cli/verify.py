"""`textebm verify`: print the exactness table (MH samples the energy; degenerate Gibbs does not).

Exit code 0 when every row is as expected, 1 otherwise. Builds its toy model in memory: offline.
With --top-k, --top-p or --proposal-temperature it certifies MH with that proposal: per closed
communicating class, plus detailed balance on every pair of states (`eval.verify`).
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="check on enumerable toys that MH samples the energy exactly and Gibbs does not",
        description="Enumerate every sequence of a toy masked LM (6 words, length 4: 1,296 "
        "states), build the exact transition matrices of MH, block MH and degenerate Gibbs "
        "from the kernels' own functions, compare their stationary distributions with the "
        "target (also for an Electric target, and for a conditional masked LM's targets given "
        "a fixed source); then run the samplers on 64 states and compare what they drew. "
        "Prints a table and the largest detailed-balance violation of an MH step, "
        "max |pi_i P_ij - pi_j P_ji| / max(pi_i P_ij, pi_j P_ji) over every pair of states. "
        "A truncated proposal splits the space into closed classes: each is compared with the "
        "target restricted to it.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="exact checks on the 64-state space and one sampled target only",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled checks")
    parser.add_argument("--chains", type=int, default=256)
    parser.add_argument(
        "--sweeps",
        type=int,
        default=None,
        help="kept sweeps per chain (default: 100, 200 for the raw/0.5 target)",
    )
    parser.add_argument(
        "--top-k", type=int, default=0, help="truncate MH's and Gibbs' proposals (0: off)"
    )
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus truncation, (0, 1]")
    parser.add_argument(
        "--proposal-temperature",
        type=float,
        default=None,
        help="proposals' temperature (default: each target's tau)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from textebm.cli.common import quiet_libraries
    from textebm.errors import UsageError
    from textebm.eval.verify import VerifyConfig, verify
    from textebm.eval.verify_table import format_table
    from textebm.samplers.config import proposal_checks, raise_first_failure

    if args.chains < 1 or (args.sweeps is not None and args.sweeps < 4):
        raise UsageError("--chains must be >= 1 and --sweeps >= 4")
    raise_first_failure(proposal_checks(args.proposal_temperature, args.top_k, args.top_p))
    quiet_libraries()
    config = VerifyConfig(
        seed=args.seed,
        chains=args.chains,
        sweeps=args.sweeps,
        top_k=args.top_k,
        top_p=args.top_p,
        proposal_temperature=args.proposal_temperature,
    )
    if args.quick:
        config = replace(
            config, enum_words=4, enum_length=3, sample_targets=config.sample_targets[:1]
        )
    rows = verify(config, progress=True)
    print(format_table(rows))
    failed = [row for row in rows if not row.passed]
    print(f"\n{len(rows) - len(failed)} of {len(rows)} checks as expected.")
    return 1 if failed else 0
