"""Open vocabulary: MiniLM's WordPiece tokenizer, a masked LM and Electric both started from the
MiniLM encoder, a two-tower cloze noise model from scratch; minimal pairs by kind from PTB test
sentences and from held-out TinyStories text (issue 11's second experiment).

Training text (RUN/data/train.txt): the TinyStories subset's first 3,870 of 4,300 documents (the
split of experiments/tinystories/prepare.sh, ~140k words) and the 19,067 PTB training sentences
without `<unk>` (347k words; PTB's `N` for numbers stays): ~490k words, ~0.6M WordPiece tokens.
Validation: the first 300 held-out TinyStories lines and 300 PTB validation sentences without
`<unk>`.

Parts (`--part`, repeatable; default all, in this order; a finished part is skipped):
  data            the text above; pairs (`textebm.data.minimal_pairs`) from the first
                  --pair-sentences PTB test sentences without `<unk>` (PTB training counts for
                  the buckets) and from --story-sentences held-out TinyStories sentences
                  (lower-cased, punctuation split off; TinyStories training counts; punctuation
                  is swapped but never replaced); a replacement has the same number of WordPiece
                  tokens as the word it replaces, so every pair is equal length in model tokens
  train-noise     two-tower cloze model, towers 3 x 192 (a quarter of MiniLM's 6 x 384), scratch
  train-mlm       masked LM: MiniLM's encoder + a fresh MLM head (tied to the embeddings)
  train-electric  Electric: MiniLM's encoder + a fresh energy head, against the frozen noise
  eval            `textebm eval pairs` on both pair sets and `textebm score` on the PTB pair
                  sentences (Spearman of per-token means), for every scorer

    python experiments/open_vocab/run.py [--tiny] [--part P ...] [--noise-uniform 0.2]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # experiments/electric_parts.py

from electric_parts import (
    accuracy_rows,
    electric_label,
    eval_pairs,
    finished,
    load_average,
    score_file,
    spearman_table,
    start_experiment,
    write_pairs,
)

PARTS = ["data", "train-noise", "train-mlm", "train-electric", "eval"]
DATA = Path("/work/shared/data")
STORY_TRAIN_DOCUMENTS = 3870  # experiments/tinystories/prepare.sh's split

# Fine-tuning MiniLM (6 x 384): a small LR, sentences batched by length.
FINE_TUNE = [
    "--context-length", "128", "--batch-size", "32", "--group-by-length", "--dropout", "0.1",
    "--weight-decay", "0.01", "--lr", "1e-4", "--warmup-fraction", "0.05", "--schedule", "linear",
    "--mixed-precision", "auto", "--max-steps", "1000000", "--eval-every", "1000",
    "--eval-examples", "300", "--log-every", "50", "--checkpoint-every", "500",
]  # fmt: skip
CLOZE = [
    "--layers", "3", "--hidden-size", "192", "--heads", "3", "--intermediate-size", "768",
    "--context-length", "128", "--batch-size", "32", "--group-by-length", "--dropout", "0.1",
    "--weight-decay", "0.01", "--lr", "1e-3", "--warmup-fraction", "0.05", "--schedule", "linear",
    "--mixed-precision", "auto", "--max-steps", "1000000", "--eval-every", "1000",
    "--eval-examples", "300", "--log-every", "50", "--checkpoint-every", "1000",
]  # fmt: skip
TINY = [  # a smoke check of the wiring: 4 steps of MiniLM, a 1 x 32 cloze model
    "--context-length", "64", "--batch-size", "8", "--lr", "1e-4", "--max-steps", "4",
    "--eval-every", "0", "--eval-examples", "20", "--log-every", "2", "--checkpoint-every", "4",
    "--mixed-precision", "no",
]  # fmt: skip
TINY_CLOZE = ["--layers", "1", "--hidden-size", "32", "--heads", "2", "--intermediate-size", "64"]


def story_documents() -> list[list[str]]:
    from textebm.data.corpus import split_documents
    from textebm.data.files import read_lines

    return split_documents(read_lines(DATA / "tinystories" / "tinystories_val_subset.txt.gz"))


def words_of(text: str) -> list[str]:
    """Lower-cased words with punctuation split off: the units the story pairs swap and replace
    (MiniLM's uncased WordPiece splits punctuation off too, so spacing does not change tokens)."""
    return re.findall(r"\w+|[^\w\s]", text.lower())


def story_sentences(documents: list[list[str]]) -> list[str]:
    sentences = []
    for document in documents:
        for line in document:
            for sentence in re.split(r"(?<=[.!?])\s+", line.strip()):
                words = words_of(sentence)
                if len(words) >= 4:
                    sentences.append(" ".join(words))
    return sentences


def describe(label: str) -> str:
    if label == "norm":
        return "MiniLM + MLM head, `norm` (PLL, n passes)"
    return f"Electric from MiniLM, `--noise-uniform {label.removeprefix('electric-u')}` (1 pass)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", action="append", default=[], choices=PARTS)
    parser.add_argument("--tiny", action="store_true", help="smoke check: minutes, not results")
    parser.add_argument("--run", help="default experiments/open_vocab/runs/{full,tiny}")
    parser.add_argument("--out", help="default experiments/open_vocab/results[/tiny]")
    parser.add_argument("--noise-uniform", type=float, nargs="+", default=[0.2],
                        help="one Electric model per value (default: 0.2)")  # fmt: skip
    parser.add_argument("--minutes-noise", type=float, default=60)
    parser.add_argument("--minutes-mlm", type=float, default=120)
    parser.add_argument("--minutes-electric", type=float, default=120)
    parser.add_argument("--pair-sentences", type=int, default=1000)
    parser.add_argument("--story-sentences", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    exp, _ = start_experiment("open_vocab", args, PARTS)  # in the repository root
    run, out = exp.run, exp.out
    from textebm.data.files import atomic_write, read_lines
    from textebm.models.minilm import minilm_path

    if args.tiny:
        exp.say("SMOKE CHECK (--tiny): 4 steps a model, 40 pairs; the figures are not results")
        args.pair_sentences, args.story_sentences = 20, 20
    minilm = minilm_path()
    data = run / "data"
    train_file, valid_file = data / "train.txt", data / "valid.txt"
    ptb_pairs, story_pairs = data / "pairs-ptb.jsonl", data / "pairs-stories.jsonl"
    ptb_text = data / "ptb-test.txt"  # the good sentences of the PTB pairs, for `score`

    if exp.wants("data"):
        from transformers import AutoTokenizer

        from textebm.data.minimal_pairs import build_minimal_pairs, word_counts

        data.mkdir(parents=True, exist_ok=True)
        documents = story_documents()
        stories_train = documents[:STORY_TRAIN_DOCUMENTS]
        stories_held_out = documents[STORY_TRAIN_DOCUMENTS:]

        def no_unk(path: Path) -> list[str]:
            return [" ".join(x.split()) for x in read_lines(path) if "<unk>" not in x]

        ptb_train = no_unk(DATA / "ptb" / "ptb.train.txt.gz")
        ptb_valid = no_unk(DATA / "ptb" / "ptb.valid.txt")
        if args.tiny:
            stories_train, ptb_train = stories_train[:60], ptb_train[:300]
        with atomic_write(train_file) as handle:
            handle.writelines("\n".join(d) + "\n\n" for d in stories_train)
            handle.writelines(line + "\n" for line in ptb_train)
        held_out_lines = [line for d in stories_held_out for line in d]
        with atomic_write(valid_file) as handle:
            handle.writelines(line + "\n" for line in held_out_lines[:300] + ptb_valid[:300])
        words = sum(len(line.split()) for d in stories_train for line in d) + sum(
            len(line.split()) for line in ptb_train
        )
        exp.say(f"[data] training text: {len(stories_train)} TinyStories documents + "
                f"{len(ptb_train)} PTB sentences without <unk>: {words} words")  # fmt: skip
        tokenizer = AutoTokenizer.from_pretrained(minilm)

        def pieces(word: str) -> int:
            return len(tokenizer.tokenize(word))

        ptb_test = no_unk(DATA / "ptb" / "ptb.test.txt")[: args.pair_sentences]
        ptb_counts = word_counts(read_lines(DATA / "ptb" / "ptb.train.txt.gz"))
        pairs = build_minimal_pairs(ptb_test, ptb_counts, seed=args.seed, length_of=pieces)
        counts = {"ptb": write_pairs(ptb_pairs, pairs)}
        with atomic_write(ptb_text) as handle:
            handle.writelines(line + "\n" for line in ptb_test)
        story_counts = word_counts(" ".join(words_of(line)) for d in stories_train for line in d)
        punctuation = {w for w in story_counts if not re.fullmatch(r"\w+", w)}
        sentences = story_sentences(stories_held_out)[: args.story_sentences]
        pairs = build_minimal_pairs(sentences, story_counts, seed=args.seed,
                                    exclude=punctuation, length_of=pieces)  # fmt: skip
        counts["stories"] = write_pairs(story_pairs, pairs)
        exp.say(f"[data] pairs: PTB test {counts['ptb']} from {len(ptb_test)} sentences, "
                f"TinyStories {counts['stories']} from {len(sentences)}; e.g.")  # fmt: skip
        for pair in pairs[:2]:
            exp.say(f"  {pair['group']}: {pair['sentence_good']}  ->  {pair['sentence_bad']}")
        exp.record("data", {"training_words": words, "stories_documents": len(stories_train),
                            "ptb_sentences": len(ptb_train), "pairs": counts})  # fmt: skip

    data_flags = ["--corpus", str(train_file), "--validation", str(valid_file)]
    fine_tune = TINY if args.tiny else FINE_TUNE

    def budget(minutes: float) -> list[str]:
        return ["--time-budget", "2" if args.tiny else str(minutes)]

    if exp.wants("train-noise"):
        body = [*TINY_CLOZE, *TINY] if args.tiny else CLOZE
        exp.train("noise", run / "cloze", ["cloze", *data_flags, "--tokenizer", minilm, *body,
                  *budget(args.minutes_noise)])  # fmt: skip
    if exp.wants("train-mlm"):
        pll = ["--pll-examples", "20" if args.tiny else "100"]
        exp.train("mlm", run / "mlm", ["mlm", *data_flags, "--init-from", minilm, *fine_tune,
                  *pll, *budget(args.minutes_mlm)])  # fmt: skip
    if exp.wants("train-electric"):
        if not finished(run / "cloze"):
            raise SystemExit("train-electric needs the noise model: run --part train-noise first")
        for u in args.noise_uniform:
            label = electric_label(u)
            exp.train(label, run / label, ["electric", *data_flags, "--init-from", minilm,
                      *fine_tune, "--noise", str(run / "cloze"), "--noise-uniform", str(u),
                      *budget(args.minutes_electric)])  # fmt: skip

    if exp.wants("eval"):
        scorers = {"norm": ("norm", run / "mlm")}
        for u in args.noise_uniform:
            scorers[electric_label(u)] = ("electric", run / electric_label(u))
        accuracy: dict[str, dict] = {"ptb-test": {}, "stories": {}}
        per_token, speed = {}, {}
        for label, (energy, model) in scorers.items():
            for name, pairs_file in (("ptb-test", ptb_pairs), ("stories", story_pairs)):
                accuracy[name][label] = eval_pairs(exp, label, energy, model, pairs_file, name)
            scored = score_file(exp, label, energy, model, ptb_text)
            per_token[label], speed[label] = scored["per_token"], scored["sentences_per_second"]
        matrix, spearman_rows = spearman_table(per_token)
        exp.record("accuracy", accuracy)
        exp.record("spearman_per_token_mean", matrix)
        exp.record("score_sentences_per_second", speed)
        table = []
        for name, title in (("ptb-test", "PTB test sentences without <unk>"),
                            ("stories", "held-out TinyStories sentences")):  # fmt: skip
            rows = accuracy_rows(accuracy[name], describe)
            table += [f"Minimal pairs from {title}:", "", *rows, ""]
        table += [f"Spearman of per-token mean energies on {len(per_token['norm'])} PTB test "
                  "sentences:", "", *spearman_rows, "",
                  "`score` sentences/s (load included): "
                  + ", ".join(f"{k} {v:.1f}" for k, v in speed.items())]  # fmt: skip
        exp.say("\n".join(table))
        (out / "open_vocab.md").write_text(("SMOKE CHECK, not results\n\n" if args.tiny else "")
                                           + "\n".join(table) + "\n")  # fmt: skip
    exp.say(f"== done {time.strftime('%F %T %Z')}; load average {load_average()}")


if __name__ == "__main__":
    main()
