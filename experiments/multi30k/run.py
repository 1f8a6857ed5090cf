"""Multi30k De-En (issue 14): an autoregressive encoder-decoder, sequence-level distillation, a
conditional masked LM on the distilled targets, and the CMLM decoded six ways; BLEU, wall seconds
and model passes per sentence.

Parts (`--part`, repeatable; default all, in this order; finished work is skipped):
  tokenizer     joint WordPiece vocabulary on both sides of the lower-cased tokenized train files
  train-ar      `textebm train seq2seq` (the autoregressive model and the distillation teacher)
  distill       beam-translate the 29,000 training sources with it (`samplers.distill`, resumable
                in chunks of 1,000 lines: run the part again to continue)
  train-cmlm    `textebm train cmlm` on the training sources and the distilled targets
  decode-M[:FROM-TO]  decode test_2016_flickr with method M (greedy, gibbs, mask-predict, mh-norm,
                mh-raw, beam; mh-raw-T0.5 etc.: colder starts, see tune_on_val.py) through
                `textebm translate --start-line FROM --end-line TO --records ... --resume`;
                without a range, every range of M in turn (RANGES below)
  table         BLEU (sacrebleu, tokenize='none', signature recorded) against
                tok/test_2016_flickr.lc.norm.tok.en.gz, seconds and passes per sentence

    python experiments/multi30k/run.py [--tiny] [--part P ...]
    python experiments/multi30k/run.py --part decode-mh-norm:0-200   # one part of <= 2 hours
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # experiments/electric_parts.py

from electric_parts import Experiment, experiment_folders, finished, load_average

MULTI30K = Path("/work/shared/data/multi30k/tok")
TEST_LINES = 1000
FIXED_PARTS = ["tokenizer", "train-ar", "distill", "train-cmlm"]
MH_NORM = ["--sampler", "mh", "--energy", "norm", "--sweeps", "4", "--temperature", "1",
           "--anneal-to", "0.1"]  # fmt: skip
MH_RAW = [*MH_NORM[:2], "--energy", "raw", *MH_NORM[4:]]
# method: the flags of `textebm translate` beyond the model, input and line range
METHODS = {
    "greedy": ["--sampler", "greedy"],
    "gibbs": ["--sampler", "gibbs", "--sweeps", "4", "--temperature", "1", "--anneal-to", "0.1"],
    "mask-predict": ["--sampler", "mask-predict", "--iterations", "10"],
    "mh-norm": MH_NORM,
    "mh-raw": MH_RAW,
    # colder annealing, chosen on validation lines (tune_on_val.py), not on the test set
    **{f"{mh}-T{t}": [*flags[:-4], "--temperature", t, "--anneal-to", f"{float(t) / 10:g}"]
       for mh, flags in (("mh-norm", MH_NORM), ("mh-raw", MH_RAW)) for t in ("0.5", "0.25")},
    "beam": ["--sampler", "beam", "--beam", "5"],
}  # fmt: skip
COMMON_DECODING = ["--length-beam", "3", "--batch-sentences", "25", "--seed", "0"]
# Lines per decode part, so that each part takes at most about two hours on 2 CPU cores (see the
# README for the speeds these come from). Multiples of --batch-sentences: the parts then
# concatenate to exactly what one run would write.
PART_LINES = {"greedy": 1000, "mask-predict": 1000, "beam": 1000, "gibbs": 500,
              "mh-norm": 200, "mh-raw": 200, "mh-norm-T0.5": 250, "mh-raw-T0.5": 250,
              "mh-norm-T0.25": 250, "mh-raw-T0.25": 250}  # fmt: skip
TINY_LINES, TINY_PART_LINES = 10, 5
# --tiny: an untrained length predictor picks 40-60 tokens and MH costs O(T^2) passes a sweep, so
# one sweep of one length (a check of the wiring, not of the decoders).
TINY_DECODING = ["--sweeps", "1", "--length-beam", "1", "--batch-sentences", "5"]

# Both models 3 + 3 layers x 256 (the CMLM's encoder and decoder alike), one joint vocabulary.
BODY = ["--layers", "3", "--hidden-size", "256", "--heads", "4", "--intermediate-size", "1024"]
OPTIMISATION = [
    "--context-length", "64", "--batch-size", "64", "--group-by-length", "--dropout", "0.1",
    "--weight-decay", "0.01", "--lr", "1e-3", "--warmup-fraction", "0.05", "--schedule",
    "linear", "--mixed-precision", "auto", "--max-steps", "1000000", "--eval-every", "1000",
    "--log-every", "100", "--checkpoint-every", "1000",
]  # fmt: skip
TINY_BODY = ["--layers", "1", "--hidden-size", "32", "--heads", "2", "--intermediate-size", "64"]
TINY_OPTIMISATION = [
    "--context-length", "64", "--batch-size", "32", "--group-by-length", "--lr", "2e-3",
    "--max-steps", "30", "--eval-every", "0", "--log-every", "10", "--checkpoint-every", "30",
    "--mixed-precision", "no",
]  # fmt: skip


def parse_decode(part: str, total: int, part_lines: dict[str, int]) -> list[tuple[str, int, int]]:
    """`decode-M` or `decode-M:FROM-TO` -> [(method, from, to), ...]."""
    spec = part.removeprefix("decode-")
    method, _, span = spec.partition(":")
    if method not in METHODS:
        raise SystemExit(f"--part {part}: unknown method {method!r}; choose from {list(METHODS)}")
    if not span:
        step = part_lines[method]
        return [(method, a, min(a + step, total)) for a in range(0, total, step)]
    try:
        first, last = (int(x) for x in span.split("-"))
    except ValueError:
        raise SystemExit(f"--part {part}: the range is FROM-TO, e.g. 0-200") from None
    if not 0 <= first < last <= total:
        raise SystemExit(f"--part {part}: need 0 <= FROM < TO <= {total}")
    return [(method, first, last)]


def read_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def decoded_records(results: Path, method: str) -> dict[int, dict]:
    """{test line: its record} from every part METHOD has decoded under RESULTS/decode/."""
    folder = results / "decode" / method
    parts = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    return {r["line"]: r for p in parts for r in read_records(p)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", action="append", default=[], help="tokenizer, train-ar, "
                        "distill, train-cmlm, decode-M[:FROM-TO], table")  # fmt: skip
    parser.add_argument("--tiny", action="store_true", help="smoke check: minutes, not results")
    parser.add_argument("--run", help="models and data (default experiments/multi30k/runs/full)")
    parser.add_argument("--out", help="results (default experiments/multi30k/results)")
    parser.add_argument("--minutes-ar", type=float, default=60)
    parser.add_argument("--minutes-cmlm", type=float, default=60)
    parser.add_argument("--distill-stop-after", type=int, help="distill: stop once this many "
                        "lines are done (continue later)")  # fmt: skip
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    mode, run, out = experiment_folders("multi30k", args)  # in the repository root
    total = TINY_LINES if args.tiny else TEST_LINES
    part_lines = {m: TINY_PART_LINES for m in METHODS} if args.tiny else PART_LINES
    decode_parts = [p for p in args.part if p.startswith("decode-")]
    jobs = [job for p in decode_parts for job in parse_decode(p, total, part_lines)]
    fixed = [p for p in args.part if not p.startswith("decode-")]
    if not args.part:
        fixed = [*FIXED_PARTS, "table"]
        jobs = [job for m in METHODS for job in parse_decode(f"decode-{m}", total, part_lines)]
    exp = Experiment("multi30k", run, out, fixed, [*FIXED_PARTS, "table"])
    if not fixed:
        exp.parts = []
    exp.say(f"== multi30k ({mode}) parts {exp.parts} decode {jobs}; {time.strftime('%F %T %Z')}; "
            f"load average {load_average()}")  # fmt: skip
    if args.tiny:
        exp.say("SMOKE CHECK (--tiny): 1 x 32 models, 30 steps, 2,000 training pairs, the first "
                f"{total} test lines, 1 sweep of 1 length; not results")  # fmt: skip

    data = run / "data"
    files = {
        "train.de": MULTI30K / "train.lc.norm.tok.de.gz",
        "train.en": MULTI30K / "train.lc.norm.tok.en.gz",
        "val.de": MULTI30K / "val.lc.norm.tok.de.gz",
        "val.en": MULTI30K / "val.lc.norm.tok.en.gz",
        "test.de": MULTI30K / "test_2016_flickr.lc.norm.tok.de.gz",
        "test.en": MULTI30K / "test_2016_flickr.lc.norm.tok.en.gz",
    }
    if args.tiny:  # the first lines of each file, written once
        from textebm.data.files import atomic_write, read_lines

        data.mkdir(parents=True, exist_ok=True)
        firsts = {"train": 2000, "val": 100, "test": total}
        for name, full in list(files.items()):
            small = data / f"{name}.txt"
            if not small.is_file():
                with atomic_write(small) as handle:
                    lines = read_lines(full)[: firsts[name.split(".")[0]]]
                    handle.writelines(line + "\n" for line in lines)
            files[name] = small
    tokenizer, ar, cmlm = run / "tokenizer", run / "ar", run / "cmlm"
    distilled = run / "distill" / "train.distilled.en"
    body, optimisation = (TINY_BODY, TINY_OPTIMISATION) if args.tiny else (BODY, OPTIMISATION)

    def budget(minutes: float) -> list[str]:
        return ["--time-budget", "1" if args.tiny else str(minutes)]

    if exp.wants("tokenizer"):
        if (tokenizer / "tokenizer.json").is_file():
            exp.say(f"[tokenizer] {tokenizer}: done before, skipped")
        else:
            exp.textebm("train", "tokenizer", "--corpus", str(files["train.de"]), "--corpus",
                        str(files["train.en"]), "--kind", "wordpiece", "--vocab-size",
                        "1000" if args.tiny else "10000", "--output", str(tokenizer))  # fmt: skip
    pairs = ["--tokenizer", str(tokenizer), "--source", str(files["train.de"]),
             "--validation-source", str(files["val.de"]), "--validation-target",
             str(files["val.en"])]  # fmt: skip
    if exp.wants("train-ar"):
        # BART's post-norm layout from scratch at lr 1e-3 collapsed to an unconditional LM (its
        # encoder's states the same for every source: README); a lower LR and longer warm-up.
        stable = [] if args.tiny else ["--lr", "3e-4", "--warmup-fraction", "0.1"]
        exp.train("ar", ar, ["seq2seq", *pairs, "--target", str(files["train.en"]), *body,
                  *optimisation, *stable, "--label-smoothing", "0.1",
                  *budget(args.minutes_ar)])  # fmt: skip
    if exp.wants("distill"):
        distill(exp, ar, files["train.de"], distilled, args)
    if exp.wants("train-cmlm"):
        if not distilled.is_file():
            raise SystemExit("train-cmlm needs the distilled targets: run --part distill first")
        exp.train("cmlm", cmlm, ["cmlm", *pairs, "--target", str(distilled), *body,
                  *optimisation, *budget(args.minutes_cmlm)])  # fmt: skip
    for method, first, last in jobs:
        decode(exp, method, first, last, ar if method == "beam" else cmlm, files["test.de"], args)
    if exp.wants("table"):
        table(exp, files["test.en"], total, args.tiny)
    exp.say(f"== done {time.strftime('%F %T %Z')}; load average {load_average()}")


def distill(exp: Experiment, ar: Path, source: Path, output: Path, args) -> None:
    """Beam-translate every training source with the AR model (resumable, see the module)."""
    from textebm.models.seq2seq import load_seq2seq
    from textebm.samplers.distill import BeamSettings, distill_file

    if output.is_file():
        exp.say(f"[distill] {output}: done before, skipped")
        return
    if not finished(ar):
        raise SystemExit("distill needs the AR model: run --part train-ar first")
    output.parent.mkdir(parents=True, exist_ok=True)
    model, tokenizer = load_seq2seq(str(ar), device=args.device)
    chunk = 500 if args.tiny else 1000
    report = distill_file(model, tokenizer, source, output, BeamSettings(beam=5),
                          batch_size=64, chunk_lines=chunk,
                          stop_after=args.distill_stop_after, progress=False)  # fmt: skip
    per_line = report.seconds / max(1, report.translated)
    exp.say(f"[distill] {report.translated} lines translated ({report.resumed} resumed) of "
            f"{report.lines} in {report.seconds:.0f} s: {per_line:.3f} s a line, "
            f"{report.passes / max(1, report.translated):.1f} passes a line; "
            f"{'complete' if output.is_file() else 'partial: run the part again'}")  # fmt: skip
    done = exp.results().get("distill", {})
    runs = [*done.get("runs", []), {"translated": report.translated, "seconds": report.seconds,
                                    "passes": report.passes}]  # fmt: skip
    exp.record("distill", {"lines": report.lines, "complete": output.is_file(), "runs": runs})


def decode(exp: Experiment, method: str, first: int, last: int, model: Path, test: Path,
           args) -> None:  # fmt: skip
    """`textebm translate` of lines [first, last) into OUT/decode/METHOD/FIRST-LAST.{txt,jsonl},
    resumed if a part was interrupted; skipped when complete."""
    folder = exp.out / "decode" / method
    folder.mkdir(parents=True, exist_ok=True)
    text, records = folder / f"{first:04d}-{last:04d}.txt", folder / f"{first:04d}-{last:04d}.jsonl"
    have = len(text.read_text().splitlines()) if text.is_file() else 0
    if have == last - first:
        exp.say(f"[decode] {method} {first}-{last}: done before, skipped")
        return
    if not finished(model):
        raise SystemExit(f"decode-{method} needs {model}: train it first")
    extra = [] if method == "beam" else COMMON_DECODING
    if args.tiny and method != "beam":
        extra = [*extra, *TINY_DECODING]  # later flags win
    resume = ["--resume"] if text.is_file() else []
    exp.textebm("translate", "--model", str(model), "--device", args.device,
                *METHODS[method], *extra, "--start-line", str(first), "--end-line", str(last),
                "-o", str(text), "--records", str(records), *resume, str(test))  # fmt: skip
    rows = read_records(records)
    exp.say(f"[decode] {method} {first}-{last}: "
            f"{sum(r['seconds'] for r in rows) / len(rows):.3f} s and "
            f"{sum(r['passes'] for r in rows) / len(rows):.1f} passes a sentence")  # fmt: skip


def table(exp: Experiment, reference: Path, total: int, tiny: bool) -> None:
    """BLEU, seconds and passes per sentence for every method whose parts cover all lines; when
    some method covers only part of them, a second table compares every decoded method on the
    lines they all decoded (BLEU on a subset is not comparable with BLEU on the whole set)."""
    from textebm.data.files import atomic_write, read_lines

    references = read_lines(reference)[:total]
    decoded = {method: decoded_records(exp.out, method) for method in METHODS}
    complete = {m: rows for m, rows in decoded.items() if sorted(rows) == list(range(total))}
    for method, rows in decoded.items():
        if method not in complete:
            exp.say(f"[table] {method}: {len(rows)} of {total} lines decoded")
        else:  # the whole test set in one file
            with atomic_write(exp.out / "decode" / method / "all.txt") as handle:
                handle.writelines(rows[line]["text"] + "\n" for line in range(total))
    figures, rows, signature = _scores(complete, range(total), references)
    exp.record("table", figures)
    lines = [f"Multi30k test_2016_flickr De-En, {total} sentences; BLEU against "
             f"{reference.name}; sacrebleu {signature}", "", *rows]  # fmt: skip
    bleus = {m: f["bleu"]["score"] for m, f in figures.items()}
    lines += _goals(bleus)
    partial = {m: r for m, r in decoded.items() if r and m not in complete}
    if partial:
        started = {m: r for m, r in decoded.items() if r}
        common = sorted(set.intersection(*(set(r) for r in started.values())))
        subset, rows, _ = _scores(started, common, references)
        exp.record("table_common_lines", {"lines": _ranges(common), **subset})
        lines += ["", f"On the {len(common)} test lines every decoded method has "
                  f"({', '.join(f'{m} {len(r)}' for m, r in partial.items())} of {total} "
                  f"decoded; lines {_ranges(common)}):", "", *rows]  # fmt: skip
        lines += _goals({m: f["bleu"]["score"] for m, f in subset.items()})
    exp.say("\n".join(lines))
    smoke = "SMOKE CHECK, not results: 1 x 32 models, 30 steps, 2,000 training pairs\n\n"
    (exp.out / "multi30k.md").write_text((smoke if tiny else "") + "\n".join(lines) + "\n")


def _scores(decoded: dict[str, dict[int, dict]], lines, references: list[str]):
    """({method: figures}, markdown rows, sacrebleu signature) on the given test lines."""
    from textebm.eval.bleu import corpus_bleu

    lines = list(lines)
    figures, signature = {}, None
    rows = ["| method | BLEU | wall s / sentence | model passes / sentence |",
            "| --- | --- | --- | --- |"]  # fmt: skip
    for method, records in decoded.items():
        chosen = [records[line] for line in lines]
        bleu = corpus_bleu([r["text"] for r in chosen], [[references[line] for line in lines]])
        signature = bleu.signature
        seconds = sum(r["seconds"] for r in chosen) / len(lines)
        passes = sum(r["passes"] for r in chosen) / len(lines)
        figures[method] = {"bleu": bleu.as_dict(), "seconds_per_sentence": seconds,
                           "passes_per_sentence": passes}  # fmt: skip
        rows.append(f"| {method} | {bleu.score:.2f} | {seconds:.3f} | {passes:.1f} |")
    return figures, rows, signature


def _goals(bleus: dict[str, float]) -> list[str]:
    """The issue's two goals for each MH row present."""
    lines = []
    for mh in ("mh-norm", "mh-raw"):
        if mh in bleus and "mask-predict" in bleus:
            lines.append(f"\n{mh} - mask-predict: {bleus[mh] - bleus['mask-predict']:+.2f} BLEU "
                         "(goal: above 0)")  # fmt: skip
        if mh in bleus and "beam" in bleus:
            lines.append(f"{mh} - AR beam: {bleus[mh] - bleus['beam']:+.2f} BLEU "
                         "(goal: within 1)")  # fmt: skip
    return lines


def _ranges(lines: list[int]) -> str:
    """[0, 1, 2, 5, 6] -> '0-3, 5-7' (half-open, as --start-line/--end-line)."""
    spans: list[list[int]] = []
    for line in lines:
        if spans and spans[-1][1] == line:
            spans[-1][1] += 1
        else:
            spans.append([line, line + 1])
    return ", ".join(f"{a}-{b}" for a, b in spans) or "none"


if __name__ == "__main__":
    main()
