"""The SST-2 calibration table (issue 12): per-seed reports -> mean and spread per variant, the
goal's verdict, and its Markdown rendering. Used by run_sst2.py's `--part table`."""

from __future__ import annotations

import statistics

VARIANTS = ("plain", "label-smoothing", "scalar", "hidden", "sharp-hidden")
METRICS = ("accuracy", "ece", "mce", "brier", "nll")


def rows_of(seed_record: dict) -> dict[str, dict[str, dict]]:
    """{row name: {protocol: summary metrics + intervals + ood}} for one seed; temperature
    scaling is the plain model's scaled metrics (the same model, T fitted on held-out data)."""
    out: dict[str, dict[str, dict]] = {}
    for variant, entry in seed_record["models"].items():
        for protocol in ("test", "dev-half"):
            summary = entry[protocol]
            names = [(variant, "raw")] + (
                [("temperature-scaling", "scaled")] if variant == "plain" else []
            )
            for name, which in names:
                row = dict(summary[which])
                row["interval"] = summary["intervals"][which]
                row["temperature"] = summary["temperature"] if which == "scaled" else 1.0
                if "ood_auroc" in summary:
                    row["ood_auroc"] = summary["ood_auroc"]["auroc"]
                out.setdefault(name, {})[protocol] = row
    return out


def build_table(seed_records: list[dict]) -> dict:
    per_seed = [rows_of(r) for r in seed_records]
    names = [n for n in (*VARIANTS[:2], "temperature-scaling", *VARIANTS[2:]) if n in per_seed[0]]
    table: dict = {"seeds": [r["seed"] for r in seed_records], "rows": {}}
    for name in names:
        table["rows"][name] = {}
        for protocol in ("test", "dev-half"):
            rows = [seed[name][protocol] for seed in per_seed if name in seed]
            cell = {}
            for metric in METRICS:
                values = [row[metric] for row in rows]
                cell[metric] = {
                    "mean": statistics.fmean(values),
                    "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                    "values": values,
                    "bootstrap_95": [row["interval"][metric] for row in rows],
                }
            if "ood_auroc" in rows[0]:
                cell["ood_auroc"] = {
                    score: statistics.fmean(row["ood_auroc"][score] for row in rows)
                    for score in rows[0]["ood_auroc"]
                }
            table["rows"][name][protocol] = cell
    table["goal"] = goal(table)
    return table


def goal(table: dict) -> dict:
    """Best energy variant (lowest mean test ECE) against plain fine-tuning: ECE cut >= 30% with
    <= 0.5 points less accuracy; and its standing against temperature scaling."""
    rows = table["rows"]
    energies = [n for n in ("scalar", "hidden", "sharp-hidden") if n in rows]
    if "plain" not in rows or not energies:
        return {}
    result = {}
    for protocol in ("test", "dev-half"):
        plain = rows["plain"][protocol]
        best = min(energies, key=lambda n: rows[n][protocol]["ece"]["mean"])
        cell = rows[best][protocol]
        cut = 1 - cell["ece"]["mean"] / plain["ece"]["mean"]
        drop = 100 * (plain["accuracy"]["mean"] - cell["accuracy"]["mean"])
        scaled = rows["temperature-scaling"][protocol]["ece"]["mean"]
        result[protocol] = {
            "best_energy": best,
            "ece_cut_vs_plain": cut,
            "accuracy_drop_points": drop,
            "met": cut >= 0.30 and drop <= 0.5,
            "ece_vs_temperature_scaling": cell["ece"]["mean"] - scaled,
            # every energy's own standing: the lowest ECE may miss the accuracy bound another meets
            "each": {name: _standing(rows[name][protocol], plain) for name in energies},
        }
    return result


def _standing(cell: dict, plain: dict) -> dict:
    cut = 1 - cell["ece"]["mean"] / plain["ece"]["mean"]
    drop = 100 * (plain["accuracy"]["mean"] - cell["accuracy"]["mean"])
    return {
        "ece_cut_vs_plain": cut,
        "accuracy_drop_points": drop,
        "met": cut >= 0.30 and drop <= 0.5,
    }


def render(table: dict) -> str:
    lines = [f"Seeds {table['seeds']}: mean (sd over seeds); ECE, MCE in %, accuracy in %.", ""]
    for protocol, title in (
        ("test", "test_labeled.tsv (T fitted on all of dev)"),
        ("dev-half", "dev half-split (T fitted on the first half)"),
    ):
        lines += [
            f"### {title}",
            "",
            "| variant | accuracy | ECE | MCE | Brier | NLL | AUROC msp | hidden | "
            "sharp-hidden | scalar |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, cells in table["rows"].items():
            c = cells[protocol]

            def fmt(metric: str, scale: float = 1.0, digits: int = 3, c: dict = c) -> str:
                m = c[metric]  # a row only some seeds trained says so instead of an sd of 0
                spread = f"{scale * m['sd']:.{digits}f}" if len(m["values"]) > 1 else "1 seed"
                return f"{scale * m['mean']:.{digits}f} ({spread})"

            auroc = c.get("ood_auroc", {})
            ood = [
                f"{auroc[k]:.3f}" if k in auroc else "-"
                for k in ("msp", "hidden", "sharp-hidden", "scalar")
            ]
            lines.append(
                f"| {name} | {fmt('accuracy', 100, 2)} | {fmt('ece', 100, 2)} | "
                f"{fmt('mce', 100, 1)} | {fmt('brier')} | {fmt('nll')} | {' | '.join(ood)} |"
            )
        lines.append("")
    for protocol, g in table.get("goal", {}).items():
        lines.append(
            f"Goal ({protocol}): best energy {g['best_energy']}: ECE cut "
            f"{100 * g['ece_cut_vs_plain']:.1f}% vs plain, accuracy drop "
            f"{g['accuracy_drop_points']:.2f} points -> {'MET' if g['met'] else 'NOT met'}; "
            f"ECE minus temperature scaling's: {100 * g['ece_vs_temperature_scaling']:+.2f} points"
        )
        each = [
            f"{name} {100 * e['ece_cut_vs_plain']:.1f}% / {e['accuracy_drop_points']:.2f} points "
            f"({'met' if e['met'] else 'not met'})"
            for name, e in g.get("each", {}).items()
        ]
        if each:
            lines.append(f"  each energy ({protocol}; ECE cut / accuracy drop): {'; '.join(each)}")
    return "\n".join(lines) + "\n"
