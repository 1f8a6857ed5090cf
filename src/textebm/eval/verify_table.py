"""The table of `textebm verify`: one line per check, aligned columns, and the largest
detailed-balance violation under it (the rows come from `textebm.eval.verify`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textebm.eval.verify import Row


def format_table(rows: list[Row]) -> str:
    """The rows as a plain-text table, ready to print."""
    header = (
        "check",
        "energy",
        "tau",
        "sampler",
        "states",
        "classes",
        "burn-in",
        "samples",
        "ESS(E)",
        "TV",
        "expected",
        "ok",
    )
    lines = [header]
    for row in rows:
        lines.append(
            (
                row.check,
                row.energy,
                f"{row.tau:g}",
                row.sampler,
                str(row.states),
                str(row.classes),
                "-" if row.burn_in is None else str(row.burn_in),
                "-" if row.samples is None else str(row.samples),
                "-" if row.ess is None else f"{row.ess:.0f}",
                f"{row.tv:.2e}",
                row.expected,
                "yes" if row.passed else "NO",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]
    text.insert(1, "-" * len(text[0]))
    if any(row.widened for row in rows):
        text.append(
            "\nsome sampled rows had too few effective samples for a 0.03 bound: it was widened "
            "to what chance alone allows, so an exact MH is not failed and a biased Gibbs may "
            "not be told apart (more --chains or --sweeps tighten it)"
        )
    balances = [row.balance for row in rows if row.balance is not None]
    if balances:
        text.append(f"\nlargest detailed-balance violation: {max(balances):.2e}")
    return "\n".join(text)
